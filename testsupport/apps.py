"""Opened installations for tests and bench scripts: an App on a temp config, a frozen
clock, and `Desk`, an installation driven only through mail.

Fixtures in tests/conftest.py wrap these (`app`, `make_app`, `desk`, `make_desk`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cocmail.app import App, open_app
from cocmail.cli import main
from cocmail.config import Config, parse_config
from cocmail.store import cases as cases_db
from testsupport.helpers import SEND_AT_ONCE, mail, make_config, spool


@contextmanager
def opened_app(tmp: Path, extra: str = "", *, clock: Any = None, **config: str
               ) -> Iterator[App]:
    """An App on `make_config(tmp, extra, **config)` (spool delivery unless `smtp=` says
    otherwise), closed on the way out. `clock` replaces the wall clock."""
    cfg = make_config(tmp, extra, **config)
    app = open_app(cfg) if clock is None else open_app(cfg, clock=clock)
    try:
        yield app
    finally:
        app.close()


# What the trusted MX (security.trusted_authserv_ids) writes on a staff member's own mail.
TRUSTED_AUTHRES = "mx.example.org; dmarc=pass header.from=example.org"


class Clock:
    """A frozen clock the test moves by hand (open_app(cfg, clock=...))."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


class Desk:
    """One cocmail installation (spool delivery), driven only through mail.

    `report` sends a report as an attendee; `staff` replies, as a staff member, to the
    newest mail cocmail sent them about a case (so the reply carries their signed token);
    `enter` is a staff member's own new mail for an in-person report, authenticated by
    the trusted MX's Authentication-Results.
    """

    def __init__(self, tmp: Path, extra: str = "", clock: Clock | None = None,
                 ends: str = "", timezone: str = ""):
        self.cfg: Config = make_config(tmp, SEND_AT_ONCE + extra, ends=ends)
        if timezone:  # make_config always writes Europe/Berlin
            path = Path(self.cfg.source)
            path.write_text(path.read_text().replace('"Europe/Berlin"', f'"{timezone}"'))
            self.cfg = parse_config(path.read_text(), str(path), tmp)
        self.clock = clock or Clock(datetime(2027, 5, 3, 8, 0, tzinfo=UTC))
        self.app: App = open_app(self.cfg, clock=self.clock)
        self._n = 0
        self._seen = 0

    # ---------------------------------------------------------------- mail in
    def _mid(self, who: str) -> str:
        self._n += 1
        return f"<m{self._n}.{self.clock.now.timestamp():.0f}@{who.rpartition('@')[2]}>"

    def receive(self, raw: bytes) -> str:
        state = self.app.receive(raw, "test")
        assert state != "already stored"
        return state

    def report(self, sender: str, body: str, subject: str = "Something happened") -> int:
        """An attendee's report; returns the new case number."""
        before = set(self.app.store.read(cases_db.case_numbers, include_closed=True))
        addr = sender.rpartition("<")[2].rstrip(">")
        assert self.receive(mail(sender, subject, body, message_id=self._mid(addr))) == "done"
        (number,) = set(self.app.store.read(cases_db.case_numbers, include_closed=True)) - before
        return number

    def last_to(self, who: str, case: int | None = None) -> EmailMessage:
        tag = f"#{case}]" if case is not None else ""
        return [m for m in spool(self.cfg)
                if who in str(m["To"]) and tag in str(m["Subject"])][-1]

    def staff(self, who: str, case: int, body: str) -> str:
        """`who` replies to their newest mail about `case` with `body` (commands on top)."""
        note = self.last_to(who, case)
        raw = mail(f"Staff <{who}>", "Re: " + note["Subject"], body,
                   message_id=self._mid(who), in_reply_to=note["Message-ID"])
        return self.receive(raw)

    def enter(self, who: str, body: str, subject: str = "Report taken in person") -> int:
        """A staff member's new mail with an in-person report (and commands on top)."""
        before = set(self.app.store.read(cases_db.case_numbers, include_closed=True))
        raw = mail(f"Staff <{who}>", subject, body, message_id=self._mid(who),
                   extra={"Authentication-Results": TRUSTED_AUTHRES})
        assert self.receive(raw) == "done"
        (number,) = set(self.app.store.read(cases_db.case_numbers, include_closed=True)) - before
        return number

    def staff_new_mail(self, who: str, case: int, body: str, *, trusted: bool = True) -> str:
        """A new mail (not a reply) from `who` about `case`, matched by the subject tag.

        Authenticated by the trusted MX's Authentication-Results when `trusted`; without
        it, its commands are held.
        """
        extra = {"Authentication-Results": TRUSTED_AUTHRES} if trusted else {}
        raw = mail(f"Staff <{who}>", f"[CoC #{case}] update", body, message_id=self._mid(who),
                   extra=extra)
        return self.receive(raw)

    # ---------------------------------------------------------------- mail out
    def sent(self) -> list[EmailMessage]:
        return spool(self.cfg)

    def new(self) -> list[EmailMessage]:
        """Mail delivered since the last call."""
        out = spool(self.cfg)
        fresh, self._seen = out[self._seen:], len(out)
        return fresh

    # ---------------------------------------------------------------- lifecycle
    def restart(self) -> None:
        """Close the database and open the installation again, as a restarted daemon does."""
        self.app.close()
        self.app = open_app(self.cfg, clock=self.clock)

    def close(self) -> None:
        self.app.close()

    def cli(self, *args: str) -> str:
        """Run `cocmail --config <this installation> ARGS` and return its stdout."""
        result = CliRunner().invoke(main, ["--config", str(self.cfg.source), *args],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout
