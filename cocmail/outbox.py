"""Delivering queued mail: over SMTP when `[smtp]` is set, else into the spool directory.

The outbox row already holds the final bytes and Message-ID, so a retry re-sends the
same message. 4xx replies and network errors retry with exponential backoff and
jitter; 5xx replies mark the mail failed and staff are told. One SMTP connection is
reused across a run of due mail.

Why the failure cases are kept apart:

* A mail-level refusal (451 greylisting, 550 no such user) concerns that mail only;
  the run goes on with the next one.
* A server-level failure (cannot connect, dropped connection, 421, refused login) would
  hit every mail the same way, so the mail at hand is retried with backoff and the run
  stops: a dead server costs one timeout per pass, not one per queued mail.
* Anything else (say, an address no SMTP server can take) fails that mail alone and
  tells staff, instead of raising on every pass and holding up the whole queue.
* A mistake in cocmail's own set-up (`password_env` not set in the process that sends,
  as in an `ingest` run by Postfix; an unreadable `password_file`; a broken OAuth2
  secret) is no fault of the mail: like a dead server, the mail waits, retried with
  backoff, and is never marked failed, so fixing the config is all it takes. Only the
  server's 5xx fails a mail (and a 4xx for that one mail, after two days of them).

Delivery is at-least-once: if the process dies after the server took a mail and before
the outbox recorded it, the mail goes again after the restart, under the same
Message-ID, so clients show it once. A second copy under a new Message-ID never happens.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import re
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from .clock import utcnow
from .config import OAuth2Config, SmtpConfig
from .core.errors import MessageError, OperationalError, UserError
from .errors import NO_SPACE, is_disk_full
from .oauth import TokenError, TokenSource, source_for
from .store import Store
from .tls import client_context, explain

log = logging.getLogger("cocmail.outbox")

MAX_TEMP_FAILURES = 30  # about two days of backoff capped at two hours
BASE_BACKOFF = 30.0
MAX_BACKOFF = 7200.0
MIN_CLAIM_LEASE = 600.0  # seconds a claimed row stays invisible to other senders
CLAIM_BATCH = 20  # rows claimed in one transaction
ERROR_CHARS = 500  # of a delivery error kept on the outbox row: the server's answer, not a page


def claim_lease_seconds(transport: object) -> float:
    """How long a claim on a chunk lasts: rows are sent only in its first half, and a
    send (connection set-up, STARTTLS, AUTH and DATA, each up to the SMTP timeout, and
    once more after a reconnect) takes less than the other half."""
    cfg = getattr(transport, "cfg", None)
    timeout = float(getattr(cfg, "timeout", 0.0) or 0.0)
    return max(MIN_CLAIM_LEASE, 20 * timeout)


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs on this machine (claims are per process)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    return True


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # due, but another process was already sending it


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1`: doubling from 30 s, capped at 2 h, +-20% jitter."""
    rng = rng or random.Random()
    base = min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    return base * rng.uniform(0.8, 1.2)


class SpoolTransport:
    """Writes each mail as an .eml file (mode 0600) in the spool directory, atomically."""

    def __init__(self, spool: Path):
        self.spool = spool
        spool.mkdir(mode=0o700, parents=True, exist_ok=True)

    def send(self, row: dict[str, Any]) -> None:
        name = f"{row['id']:06d}-{row['kind']}.eml"
        tmp = self.spool / f".{name}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(row["raw"])
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.spool / name)
        except OSError as e:
            if not is_disk_full(e):
                raise
            tmp.unlink(missing_ok=True)  # a half-written copy would only take more room
            raise ServerUnavailable(NO_SPACE) from None  # every mail would hit it: stop

    def close(self) -> None:
        pass


class PermanentFailure(MessageError):
    """The server refused this mail for good (5xx), or it can never be sent as it is."""


class ServerUnavailable(OperationalError):
    """The server cannot take any mail right now (no connection, dropped, 421, bad login).

    Not this mail's fault: it is retried with backoff, and the rest of the run is left
    for the next pass, so an unreachable server costs one timeout per pass, not one per
    queued mail, and incoming reports keep being processed meanwhile.
    """


class SetupError(ServerUnavailable):
    """cocmail's own set-up cannot send now (a password_env not set in this process, an
    unreadable password_file): fixable by the admin, never the mail's fault. The text
    starts with "config:", which is how `outbox list` shows it and how a restart or a
    reload knows the mail waited for a fix (see wake_config_waits)."""


CONFIG_ERROR_PREFIX = "config:"


class SmtpTransport:
    """One SMTP connection, opened on first use and reused across a run of due mail."""

    def __init__(self, cfg: SmtpConfig, oauth2: OAuth2Config | None = None):
        self.cfg = cfg
        self.oauth2 = oauth2
        self.conn: smtplib.SMTP | None = None

    @property
    def tokens(self) -> TokenSource | None:
        """The process's token source, looked up at first use: the courier is a forked
        process and must ask for tokens itself."""
        if self.cfg.auth != "oauth2" or self.oauth2 is None:
            return None
        return source_for(self.oauth2)

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        try:  # before connecting: a missing password costs no connection
            tokens = self.tokens
            password = (cfg.password.resolve() or "") if tokens is None and cfg.username \
                else ""
        except UserError as e:
            raise SetupError(f"{CONFIG_ERROR_PREFIX} {e}") from None
        try:
            if cfg.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                                      context=client_context(cfg.ca_file))
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        except (OSError, smtplib.SMTPException) as e:
            raise ServerUnavailable(f"cannot connect: {explain(cfg.security, cfg.port, e)}"
                                    ) from None
        try:
            if cfg.security == "starttls":
                conn.starttls(context=client_context(cfg.ca_file))
            if tokens is not None:
                xoauth2_auth(conn, cfg.username or "", tokens)
            elif cfg.username:
                conn.login(cfg.username, password)
            conn.ehlo_or_helo_if_needed()
        except TokenError as e:
            _abandon(conn)
            raise ServerUnavailable(f"no OAuth2 token for SMTP: {e}") from None
        except UserError as e:  # an OAuth2 client secret that cannot be read
            _abandon(conn)
            raise SetupError(f"{CONFIG_ERROR_PREFIX} {e}") from None
        except OAuth2Refused as e:
            _abandon(conn)
            raise ServerUnavailable(str(e)) from None
        except (OSError, smtplib.SMTPException) as e:
            _abandon(conn)
            raise ServerUnavailable("connection set-up failed: "
                                    f"{explain(cfg.security, cfg.port, e)}") from None
        return conn

    def send(self, row: dict[str, Any]) -> None:
        """Send one outbox row; raises PermanentFailure, ServerUnavailable or a 4xx error."""
        recipients = json.loads(row["recipients"])
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = self._connect()
            sender, rcpts, options = _envelope(self.conn, row["sender"], recipients)
            try:
                refused = self.conn.sendmail(sender, rcpts, row["raw"], mail_options=options)
            except smtplib.SMTPServerDisconnected as e:
                self.close()
                if reused and attempt == 1:
                    continue  # an idle reused connection may have timed out: reconnect once
                raise ServerUnavailable(f"connection dropped: {_error(e)}") from None
            except smtplib.SMTPRecipientsRefused as e:
                codes = [code for code, _ in e.recipients.values()]
                if all(code >= 500 for code in codes):
                    raise PermanentFailure(_describe(e.recipients)) from None
                raise
            except smtplib.SMTPResponseException as e:
                self.close()
                if e.smtp_code >= 500:
                    raise PermanentFailure(f"{e.smtp_code} {_text(e.smtp_error)}") from None
                if e.smtp_code == 421:  # the server is closing the channel: not this mail
                    raise ServerUnavailable(f"421 {_text(e.smtp_error)}") from None
                raise
            except OSError as e:  # timeouts and resets in the middle of a conversation
                self.close()
                raise ServerUnavailable(f"connection lost: {_error(e)}") from None
            if refused:
                raise PermanentFailure(_describe(refused))
            return

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                _abandon(self.conn)
            self.conn = None


class OAuth2Refused(OperationalError):
    """The server refused AUTH XOAUTH2 with a token fetched just before."""


def xoauth2_auth(conn: smtplib.SMTP, user: str, tokens: TokenSource) -> None:
    """AUTH XOAUTH2; a refused cached token is replaced by a fresh one, on the same
    connection (SMTP allows another AUTH after a 535). Raises OAuth2Refused with the
    server's words, tokens cut out, when a freshly fetched token is refused."""
    conn.ehlo_or_helo_if_needed()
    while True:
        token, fresh = tokens.get()
        raw = f"user={user}\x01auth=Bearer {token}\x01\x01"
        try:
            # On a refusal the server sends a 334 with an error document; the client
            # answers with an empty line to get the final 535 (Google's XOAUTH2 spec).
            conn.auth("XOAUTH2", partial(_xoauth2_response, raw))
            return
        except smtplib.SMTPAuthenticationError as e:
            tokens.invalidate(token)
            said = tokens.redact(f"{e.smtp_code} {_text(e.smtp_error)}")
            if fresh:
                raise OAuth2Refused(f"AUTH XOAUTH2 as {user} refused, also with a freshly "
                                    f"fetched token: {said}") from None
            log.info("SMTP server refused the OAuth2 token (%s); fetching a new one", said)


def _xoauth2_response(initial: str, challenge: bytes | None = None) -> str:
    return initial if challenge is None else ""


def _envelope(conn: smtplib.SMTP, sender: str, recipients: list[str]
              ) -> tuple[str, list[str], list[str]]:
    """Envelope addresses the server can take: ASCII as they are; an internationalised
    domain as IDNA; a non-ASCII local part only over SMTPUTF8 (RFC 6531).

    Without this, smtplib raises UnicodeEncodeError on such an address, which is no
    SMTP error at all, and one reporter with an address like josé@example.org would
    stop every later mail in the queue.
    """
    addresses = [sender, *recipients]
    if all(a.isascii() for a in addresses):
        return sender, recipients, []
    if conn.has_extn("smtputf8"):
        return sender, recipients, ["SMTPUTF8"]
    try:
        converted = [_idna_address(a) for a in addresses]
    except ValueError as e:
        raise PermanentFailure(f"{e}, and the mail server does not offer SMTPUTF8") from None
    return converted[0], converted[1:], []


def _idna_address(address: str) -> str:
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise ValueError(f"the address {address} has a non-ASCII local part")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        raise ValueError(f"the domain of {address} is not a valid internationalised name"
                         ) from None


def _abandon(conn: smtplib.SMTP) -> None:
    """Drop a connection without talking to the server again."""
    try:
        conn.close()
    except OSError:
        pass


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(refused: dict[str, tuple[int, Any]]) -> str:
    return "; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in refused.items())


class Stoppable(Protocol):
    """Anything that says whether to stop between two mails (the courier)."""

    def is_set(self) -> bool: ...


class Outbox:
    """Delivers due rows; `on_failed(conn, row, error)` is called inside the failing transaction.

    `clock` decides what is due and when a retry is due; tests pass one they control.
    """

    def __init__(self, store: Store, smtp: SmtpConfig | None, spool: Path,
                 on_failed: Callable[[Any, dict[str, Any], str], None] | None = None,
                 clock: Callable[[], datetime] = utcnow, oauth2: OAuth2Config | None = None):
        self.store = store
        self.transport: SmtpTransport | SpoolTransport = (
            SmtpTransport(smtp, oauth2) if smtp else SpoolTransport(spool))
        self.on_failed = on_failed
        self.clock = clock
        # Claims this process holds can only be left by an earlier outbox of this same
        # process that stopped mid-send (a test's simulated crash): due again now.
        me = os.getpid()
        store.release_dead_claims(clock(), lambda pid: pid != me)

    def using(self, store: Store, on_failed: Callable[[Any, dict[str, Any], str], None] | None
              ) -> Outbox:
        """This outbox (same transport) over another database connection: for the
        courier process (see courier.py)."""
        other = copy.copy(self)
        other.store, other.on_failed = store, on_failed
        return other

    def deliver_due(self, *, keep_open: bool = False,
                    stop: Stoppable | None = None) -> DeliveryReport:
        """Send everything due now; stops early (leaving the rest due) if the server is
        down or `stop` is set. The SMTP connection is closed at the end unless
        `keep_open` (the courier keeps it across passes and closes it when idle)."""
        report = DeliveryReport()
        try:
            self._deliver_rounds(report, stop)
        finally:
            if not keep_open:
                self.transport.close()
        return report

    def close(self) -> None:
        self.transport.close()

    def _deliver_rounds(self, report: DeliveryReport, stop: Stoppable | None) -> None:
        # Failure notices queued while delivering are due at once: keep going until a
        # round delivers nothing new.
        self.store.release_dead_claims(self.clock(), process_alive)
        while rows := self.store.due_outbox(self.clock()):
            progressed = False
            for start in range(0, len(rows), CLAIM_BATCH):
                chunk = rows[start:start + CLAIM_BATCH]
                outcome = self._deliver_claimed(chunk, report, stop)
                if outcome == "stop":
                    return
                progressed = progressed or outcome == "progressed"
            if not progressed:
                return

    def _deliver_claimed(self, chunk: list[dict[str, Any]], report: DeliveryReport,
                         stop: Stoppable | None) -> str:
        """Claim a chunk of due rows in one transaction, send the ones this process got,
        and hand back (due at once) any it could not get to."""
        now = self.clock()
        lease = claim_lease_seconds(self.transport)
        until = now + timedelta(seconds=lease)
        mine = self.store.claim_outbox([r["id"] for r in chunk], now, until, os.getpid())
        report.skipped += len(chunk) - len(mine)  # another process is sending those
        todo = [r for r in chunk if r["id"] in mine]
        progressed, outcome = False, ""
        for k, row in enumerate(todo):
            if stop is not None and stop.is_set():
                outcome = "stop"
            elif self.clock() > until - timedelta(seconds=lease / 2):
                outcome = "late"  # the claim would run out mid-send: take it again later
            if outcome:
                self.store.release_claims([r["id"] for r in todo[k:]], self.clock())
                return "stop" if outcome == "stop" else "progressed"
            if not self.store.still_claimed(row["id"], os.getpid()):
                # Cancelled (#recuse), purged or taken over since the chunk was claimed.
                report.skipped += 1
                continue
            state = self._deliver(row)
            if state == "unavailable":
                report.retrying += 1
                self.store.release_claims([r["id"] for r in todo[k + 1:]], self.clock())
                return "stop"
            setattr(report, state, getattr(report, state) + 1)
            progressed = progressed or state != "retrying"
        return "progressed" if progressed else ""

    def _deliver(self, row: dict[str, Any]) -> str:
        """Send one row this process has claimed."""
        try:
            self.transport.send(row)
        except PermanentFailure as e:
            log.warning("outbox %s (%s, case %s) failed permanently: %s", row["id"],
                        row["message_id"], row["case_number"], redact_addresses(str(e)))
            self._fail(row, str(e))
            return "failed"
        except SetupError as e:
            self._retry(row, str(e), give_up=False)
            return "unavailable"
        except ServerUnavailable as e:
            self._retry(row, f"server unavailable: {e}", give_up=False)
            return "unavailable"
        except (TimeoutError, smtplib.SMTPException, OSError) as e:
            return self._retry(row, _error(e))
        except Exception as e:  # noqa: BLE001 - one unsendable mail must not block the queue
            log.error("outbox %s (%s, case %s) cannot be sent: %s", row["id"],
                      row["message_id"], row["case_number"], type(e).__name__)
            self._fail(row, f"cannot be sent: {_error(e)}")
            return "failed"
        self.store.outbox_sent(row["id"])
        log.info("outbox %s sent: %s (case %s)", row["id"], row["kind"], row["case_number"])
        return "sent"

    def _retry(self, row: dict[str, Any], error: str, give_up: bool = True) -> str:
        """Due again after a backoff. `give_up`: a 4xx for this one mail, which fails it
        after MAX_TEMP_FAILURES; a server that is down or a config mistake never does
        (it is no fault of the mail, and would fail every mail in the queue)."""
        attempts = row["attempts"] + 1
        if give_up and attempts >= MAX_TEMP_FAILURES:
            self._fail(row, f"gave up after {attempts} attempts: {error}")
            return "failed"
        delay = backoff(attempts)
        level = logging.WARNING if error.startswith(CONFIG_ERROR_PREFIX) else logging.INFO
        log.log(level, "outbox %s (%s) will retry in %.0f s: %s", row["id"],
                row["message_id"], delay, redact_addresses(error))
        self.store.outbox_retry(row["id"], error[:ERROR_CHARS],
                                self.clock() + timedelta(seconds=delay))
        return "retrying"

    def _fail(self, row: dict[str, Any], error: str) -> None:
        with self.store.tx() as c:
            self.store.outbox_failed(c, row["id"], error[:ERROR_CHARS])
            if self.on_failed is not None and row["kind"] not in ("delivery_failed",):
                self.on_failed(c, row, error)


_ADDRESS = re.compile(r"[^\s<>()\[\]@,;:\"']+@[\w-]+(\.[\w-]+)+")


def redact_addresses(text: str) -> str:
    """Logs carry case numbers and Message-IDs, not addresses."""
    return _ADDRESS.sub("<address>", text)
