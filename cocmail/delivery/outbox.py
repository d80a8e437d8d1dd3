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
import logging
import os
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ..clock import utcnow
from ..config import OAuth2Config, SmtpConfig
from ..redact import redact_addresses
from ..store import Store
from ..store import outbox as outbox_db
from .retry import (
    CLAIM_BATCH,
    ERROR_CHARS,
    MAX_TEMP_FAILURES,
    backoff,
    claim_lease_seconds,
    process_alive,
)
from .transports import (
    CONFIG_ERROR_PREFIX,
    PermanentFailure,
    ServerUnavailable,
    SetupError,
    Transport,
    error_text,
    transport_for,
)

log = logging.getLogger("cocmail.outbox")


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # due, but another process was already sending it


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
        self.transport: Transport = transport_for(smtp, spool, oauth2)
        self.on_failed = on_failed
        self.clock = clock
        # Claims this process holds can only be left by an earlier outbox of this same
        # process that stopped mid-send (a test's simulated crash): due again now.
        me = os.getpid()
        self._release_dead_claims(lambda pid: pid != me)

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

    def _release_dead_claims(self, alive: Callable[[int], bool]) -> None:
        """Rows claimed by processes that no longer run (`alive(pid)` is False) are due
        again now; the write lock is taken only when there are some."""
        dead = [pid for pid in self.store.read(outbox_db.claimants) if not alive(pid)]
        if dead:
            self.store.write(outbox_db.release_claims_of, dead, self.clock())

    def _release(self, rows: list[dict[str, Any]]) -> None:
        """Hand back claimed rows this process did not send: due again at once."""
        if rows:
            self.store.write(outbox_db.release_claims, [r["id"] for r in rows], self.clock())

    def _deliver_rounds(self, report: DeliveryReport, stop: Stoppable | None) -> None:
        # Failure notices queued while delivering are due at once: keep going until a
        # round delivers nothing new.
        self._release_dead_claims(process_alive)
        while rows := self.store.read(outbox_db.due_outbox, self.clock()):
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
        mine = self.store.write(outbox_db.claim_outbox, [r["id"] for r in chunk], now, until,
                                os.getpid())
        report.skipped += len(chunk) - len(mine)  # another process is sending those
        todo = [r for r in chunk if r["id"] in mine]
        progressed, outcome = False, ""
        for k, row in enumerate(todo):
            if stop is not None and stop.is_set():
                outcome = "stop"
            elif self.clock() > until - timedelta(seconds=lease / 2):
                outcome = "late"  # the claim would run out mid-send: take it again later
            if outcome:
                self._release(todo[k:])
                return "stop" if outcome == "stop" else "progressed"
            if not self.store.read(outbox_db.still_claimed, row["id"], os.getpid()):
                # Cancelled (#recuse), purged or taken over since the chunk was claimed.
                report.skipped += 1
                continue
            state = self._deliver(row)
            if state == "unavailable":
                report.retrying += 1
                self._release(todo[k + 1:])
                return "stop"
            setattr(report, state, getattr(report, state) + 1)
            progressed = progressed or state != "retrying"
        return "progressed" if progressed else ""

    def _deliver(self, row: dict[str, Any]) -> str:
        """Send one row this process has claimed."""
        if getattr(self.transport, "writes_as_stored", False):
            row = {**row, "stored_raw": self.store.read(outbox_db.stored_raw, row["id"])}
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
            return self._retry(row, error_text(e))
        except Exception as e:  # noqa: BLE001 - one unsendable mail must not block the queue
            log.error("outbox %s (%s, case %s) cannot be sent: %s", row["id"],
                      row["message_id"], row["case_number"], type(e).__name__)
            self._fail(row, f"cannot be sent: {error_text(e)}")
            return "failed"
        self.store.write(outbox_db.outbox_sent, row["id"], self.clock())
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
        self.store.write(outbox_db.outbox_retry, row["id"], error[:ERROR_CHARS],
                         self.clock() + timedelta(seconds=delay))
        return "retrying"

    def _fail(self, row: dict[str, Any], error: str) -> None:
        with self.store.tx() as c:
            outbox_db.outbox_failed(c, row["id"], error[:ERROR_CHARS])
            if self.on_failed is not None:  # who is told: core/failed_delivery.py
                self.on_failed(c, row, error)
