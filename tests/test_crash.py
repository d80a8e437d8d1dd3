"""Crashes: cocmail dies at every commit point, starts again, and nothing is lost or doubled.

Two kinds of evidence, both counted from the outside (at the SMTP server, in the database)
by bench/faults.py:

* In-process: a `Crash` (a BaseException, so no `except Exception` in cocmail can swallow
  it, just as nothing survives a power cut) is raised at each commit point of
  `cocmail run --once` against real Dovecot and aiosmtpd: while storing fetched mail,
  after storing, inside the case transaction, after it, and just before and just after
  the SMTP server takes a mail. Then a fresh process-like restart finishes the work.
* Slow: the real `cocmail run` subprocess, SIGKILLed at random moments while it works
  through a few hundred reports (bench/faults.py, which `make bench` runs with SMTP and
  IMAP faults as well).

The one allowed repetition is a mail the SMTP server took just before the process died:
it is sent again under the *same* Message-ID (at-least-once; counted as a redelivery).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cocmail.app import App, open_app
from cocmail.config import load_config
from cocmail.daemon import Daemon
from cocmail.store import inbound as inbound_db
from testsupport.faults import Figures, Scenario, count_outcome, report, run_scenario, write_config
from testsupport.helpers import make_config
from testsupport.servers import DOVECOT_BINARY, Dovecot, ImapUser, SmtpSink

REPORTS = 5


class Crash(BaseException):
    """The process dies here."""


def crash_on_call(obj: Any, name: str, nth: int = 1, after: bool = False
                  ) -> Callable[[], None]:
    """Make the `nth` call of `obj.name` kill the process, before or after it runs.
    Returns the undo: a store function is patched on its module, which outlives the app."""
    real = getattr(obj, name)
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == nth and not after:
            raise Crash(f"died before {name} #{nth}")
        result = real(*args, **kwargs)
        if calls[0] == nth and after:
            raise Crash(f"died after {name} #{nth}")
        return result

    setattr(obj, name, dying)
    return lambda: setattr(obj, name, real)


# Each commit point: how to die there, given a freshly opened installation.
CRASH_POINTS: dict[str, Callable[[App], Callable[[], None]]] = {
    "while storing fetched mail": lambda app: crash_on_call(inbound_db, "add_inbound_batch"),
    "after storing, before processing": lambda app: crash_on_call(app.pipeline, "process"),
    "inside the third report's transaction": lambda app: crash_on_call(inbound_db,
                                                                       "mark_inbound", 3),
    "after the cases, before any mail is sent": lambda app: crash_on_call(app.outbox,
                                                                          "deliver_due"),
    "just before the server takes a mail": lambda app: crash_on_call(app.outbox.transport,
                                                                     "send", 4),
    "just after the server took a mail": lambda app: crash_on_call(app.outbox.transport,
                                                                   "send", 4, after=True),
}


@pytest.fixture
def installation(tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser
                 ) -> Iterator[tuple[Path, SmtpSink]]:
    """Five reports waiting in Dovecot, a config for them, and an SMTP server."""
    dovecot.append(imap_user.name, [report(n) for n in range(1, REPORTS + 1)])
    with SmtpSink() as sink:
        yield write_config(tmp_path, dovecot, imap_user.name, sink), sink


def run_once(config: Path, die: Callable[[App], Callable[[], None]] | None = None) -> None:
    app = open_app(load_config(config))
    undo = None
    try:
        if die is not None:
            undo = die(app)
        Daemon(app).run_once()
    finally:
        if undo is not None:
            undo()
        app.close()


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_crash_at_a_commit_point_then_restart_loses_and_doubles_nothing(
        installation: tuple[Path, SmtpSink], point: str) -> None:
    config, sink = installation
    with pytest.raises(Crash):
        run_once(config, CRASH_POINTS[point])
    run_once(config)  # the restart
    run_once(config)  # and once more: nothing left to do, nothing done twice

    figures = Figures(reports=REPORTS)
    count_outcome(figures, config.parent / "data" / "cocmail.db", sink.messages)
    assert figures.problems == []
    assert (figures.cases, figures.acks, figures.notifications) == (REPORTS, REPORTS,
                                                                     2 * REPORTS)
    assert (figures.duplicates, figures.lost, figures.quarantined) == (0, 0, 0)
    expected = 1 if point == "just after the server took a mail" else 0
    assert figures.redeliveries == expected  # the same Message-ID, never a new one


needs_dovecot = pytest.mark.skipif(not os.path.exists(DOVECOT_BINARY),
                                   reason=f"{DOVECOT_BINARY} not found (Debian's dovecot-imapd)")


@pytest.mark.slow
@needs_dovecot
def test_sigkilled_daemon_restarted_until_done_loses_and_doubles_nothing() -> None:
    figures = run_scenario(Scenario(reports=1000, kills=12, smtp_faults=False,
                                    imap_faults=True))
    print(figures.line())
    assert figures.problems == [], "\n".join(figures.problems)
    assert figures.kills >= 6, figures.line()  # each one while work was left
    assert figures.cases == figures.acks == 1000, figures.line()
    assert figures.notifications == 2000, figures.line()
    assert figures.duplicates == 0 and figures.lost == 0, figures.line()
    assert figures.quarantined == 0, figures.line()


@pytest.mark.slow
@needs_dovecot
def test_sigkills_with_smtp_and_imap_faults_lose_and_double_nothing() -> None:
    figures = run_scenario(Scenario(reports=200, kills=10, smtp_faults=True,
                                    imap_faults=True))
    print(figures.line())
    assert figures.problems == [], "\n".join(figures.problems)
    assert figures.smtp_faults >= 1 and figures.imap_faults >= 1, figures.line()
    assert figures.cases == figures.acks == 200, figures.line()
    assert figures.notifications == 400, figures.line()
    assert figures.duplicates == 0 and figures.lost == 0, figures.line()


def test_renumbered_folder_and_redelivered_copies_take_effect_once(
        tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser) -> None:
    """A new UIDVALIDITY offers the whole folder again, and an MTA may deliver a report
    twice with different Received lines: neither opens a second case or sends a mail."""
    reports = [report(n) for n in range(1, 4)]
    dovecot.append(imap_user.name, reports, folder="Reports")
    with SmtpSink() as sink:
        make_config(tmp_path, imap=dovecot.imap_toml(imap_user.name, folder="Reports"),
                    smtp=sink.smtp_toml())
        config = tmp_path / "cocmail.toml"
        run_once(config)
        assert len(sink.messages) == 9
        with dovecot.connect(imap_user.name) as client:  # the folder is rebuilt: UIDs anew
            client.delete_folder("Reports")
            client.create_folder("Reports")
        copy = b"Received: from relay2.attendee.example by mx.example.org\r\n" + reports[0]
        dovecot.append(imap_user.name, [*reports, copy], folder="Reports")
        run_once(config)
        run_once(config)
        figures = Figures(reports=3)
        count_outcome(figures, tmp_path / "data" / "cocmail.db", sink.messages)
        app = open_app(load_config(config))
        try:
            seen = app.store.query("SELECT uidvalidity, state FROM inbound ORDER BY id")
        finally:
            app.close()
    assert len({row["uidvalidity"] for row in seen}) == 2  # really renumbered
    assert [row["state"] for row in seen] == ["done"] * 3 + ["duplicate"] * 4
    assert len(sink.messages) == 9
    assert (figures.cases, figures.duplicates, figures.lost) == (3, 0, 0)
