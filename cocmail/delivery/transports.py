"""The two ways a mail leaves: over SMTP when `[smtp]` is set, else into the spool directory.

A transport sends one outbox row and says, by the error it raises, whose fault a failure
is (see outbox.py for what each means for the queue):

* `PermanentFailure` - the mail's: the server refused it for good (5xx), or it can
  never be sent as it is; it is marked failed and staff are told;
* `ServerUnavailable` - the server's: every mail would hit it, so the run stops;
* `SetupError` - cocmail's own set-up (a password that cannot be read): the mail waits
  for the admin's fix and is never marked failed;
* anything else from smtplib or the network - a 4xx for this mail: retried later.
"""

from __future__ import annotations

import json
import os
import smtplib
from pathlib import Path
from typing import Any

from ..config import OAuth2Config, SmtpConfig
from ..core.errors import MessageError, OperationalError, UserError
from ..errors import NO_SPACE, is_disk_full
from ..oauth import OAuth2Refused, TokenError, TokenSource, source_for, xoauth2_auth
from ..tls import client_context, explain


class SpoolTransport:
    """Writes each mail as an .eml file (mode 0600) in the spool directory, atomically.

    It writes the mail as the store keeps it (`stored_raw`): sealed when the store is
    (issue 27), so the spool holds no more plaintext than the database; `cocmail outbox show
    ID` prints one as sent, and keyring.unsealed opens a file."""

    writes_as_stored = True

    def __init__(self, spool: Path):
        self.spool = spool
        spool.mkdir(mode=0o700, parents=True, exist_ok=True)

    def send(self, row: dict[str, Any]) -> None:
        name = f"{row['id']:06d}-{row['kind']}.eml"
        tmp = self.spool / f".{name}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(row.get("stored_raw") or row["raw"])
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
                raise ServerUnavailable(f"connection dropped: {error_text(e)}") from None
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
                raise ServerUnavailable(f"connection lost: {error_text(e)}") from None
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


Transport = SmtpTransport | SpoolTransport


def transport_for(smtp: SmtpConfig | None, spool: Path,
                  oauth2: OAuth2Config | None = None) -> Transport:
    """SMTP when `[smtp]` is set; else .eml files in the spool directory (the demo's and
    the tests' way to read what would have been sent)."""
    return SmtpTransport(smtp, oauth2) if smtp else SpoolTransport(spool)


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


def error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(refused: dict[str, tuple[int, Any]]) -> str:
    return "; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in refused.items())
