"""Delivering queued mail: over SMTP when `[smtp]` is set, else into the spool directory.

The outbox row already holds the final bytes and Message-ID, so a retry re-sends the
same message. 4xx replies and network errors retry with exponential backoff and
jitter; 5xx replies mark the mail failed and staff are told. One SMTP connection is
reused across a run of due mail.
"""

from __future__ import annotations

import json
import logging
import os
import random
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .config import SmtpConfig
from .store import Store, utcnow

log = logging.getLogger("cocmail.outbox")

MAX_TEMP_FAILURES = 30  # about two days of backoff capped at two hours
BASE_BACKOFF = 30.0
MAX_BACKOFF = 7200.0


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1`: doubling from 30 s, capped at 2 h, +-20% jitter."""
    rng = rng or random.Random()
    base = min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    return base * rng.uniform(0.8, 1.2)


class SpoolTransport:
    """Writes each mail as an .eml file (mode 0600) in the spool directory, atomically."""

    def __init__(self, spool: Path):
        self.spool = spool
        spool.mkdir(parents=True, exist_ok=True)
        os.chmod(spool, 0o700)

    def send(self, row: dict[str, Any]) -> None:
        name = f"{row['id']:06d}-{row['kind']}.eml"
        tmp = self.spool / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(row["raw"])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.spool / name)

    def close(self) -> None:
        pass


class PermanentFailure(Exception):
    pass


class SmtpTransport:
    def __init__(self, cfg: SmtpConfig):
        self.cfg = cfg
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        if cfg.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                                  context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.security == "starttls":
                conn.starttls(context=ssl.create_default_context())
        if cfg.username:
            conn.login(cfg.username, cfg.password.resolve() or "")
        return conn

    def send(self, row: dict[str, Any]) -> None:
        recipients = json.loads(row["recipients"])
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                refused = self.conn.sendmail(row["sender"], recipients, row["raw"])
            except smtplib.SMTPServerDisconnected:
                self.close()
                if attempt == 2:
                    raise
                continue  # a reused connection may have timed out: reconnect once
            except smtplib.SMTPRecipientsRefused as e:
                codes = [code for code, _ in e.recipients.values()]
                if all(code >= 500 for code in codes):
                    raise PermanentFailure(_describe(e.recipients)) from None
                raise
            except smtplib.SMTPResponseException as e:
                if e.smtp_code >= 500:
                    self.close()
                    raise PermanentFailure(f"{e.smtp_code} {_text(e.smtp_error)}") from None
                self.close()
                raise
            if refused:
                raise PermanentFailure(_describe(refused))
            return

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.conn = None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(refused: dict[str, tuple[int, Any]]) -> str:
    return "; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in refused.items())


class Outbox:
    """Delivers due rows; `on_failed(row, error)` is called inside the failing transaction."""

    def __init__(self, store: Store, smtp: SmtpConfig | None, spool: Path,
                 on_failed: Callable[[Any, dict[str, Any], str], None] | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.transport: SmtpTransport | SpoolTransport = (
            SmtpTransport(smtp) if smtp else SpoolTransport(spool))
        self.on_failed = on_failed
        self.clock = clock

    def deliver_due(self) -> DeliveryReport:
        report = DeliveryReport()
        try:
            while True:
                rows = self.store.due_outbox(self.clock())
                if not rows:
                    break
                progressed = False
                for row in rows:
                    state = self._deliver(row)
                    setattr(report, state, getattr(report, state) + 1)
                    progressed = progressed or state != "retrying"
                if not progressed:
                    break
        finally:
            self.transport.close()
        return report

    def _deliver(self, row: dict[str, Any]) -> str:
        try:
            self.transport.send(row)
        except PermanentFailure as e:
            log.warning("outbox %s (%s, case %s) failed permanently: %s", row["id"],
                        row["message_id"], row["case_number"], _redact(str(e)))
            self._fail(row, str(e))
            return "failed"
        except (TimeoutError, smtplib.SMTPException, OSError) as e:
            attempts = row["attempts"] + 1
            error = f"{type(e).__name__}: {e}"
            if attempts >= MAX_TEMP_FAILURES:
                self._fail(row, f"gave up after {attempts} attempts: {error}")
                return "failed"
            delay = backoff(attempts)
            log.info("outbox %s (%s) will retry in %.0f s: %s", row["id"], row["message_id"],
                     delay, _redact(error))
            self.store.outbox_retry(row["id"], error[:500], self.clock() + timedelta(seconds=delay))
            return "retrying"
        self.store.outbox_sent(row["id"])
        log.info("outbox %s sent: %s (case %s)", row["id"], row["kind"], row["case_number"])
        return "sent"

    def _fail(self, row: dict[str, Any], error: str) -> None:
        with self.store.tx() as c:
            self.store.outbox_failed(row["id"], error[:500], c)
            if self.on_failed is not None and row["kind"] not in ("delivery_failed",):
                self.on_failed(c, row, error)


def _redact(text: str) -> str:
    """Logs carry case numbers and Message-IDs, not addresses."""
    import re

    return re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "<address>", text)
