"""The error family: what a locked database, a broken template and a bad message each do.

A harassment report must never be quarantined because of the world around it: three
"database is locked" or one broken override template leave it pending, uncounted, and
it is processed once the fault is gone. A genuinely bad message is still quarantined
after the configured attempts, with its staff notice in the same transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import cocmail.core.decide
import cocmail.store.connection
from cocmail.app import App, open_app
from cocmail.cli import cli_error, main
from cocmail.errors import MessageError, OperationalError, UserError
from cocmail.store import MAX_ATTEMPTS
from cocmail.store import cases as cases_db
from cocmail.store import inbound as inbound_db
from testsupport.helpers import mail, make_config

REPORT = mail("Eve Example <eve@attendee.example>", "Something happened",
              "Dan Doe touched my arm at the party.\n", message_id="<r1@attendee.example>")
STAFF = {"ana@example.org", "ben@example.org"}


def outbox(app: App, kind: str) -> list[dict]:
    return app.store.query("SELECT * FROM outbox WHERE kind=? ORDER BY id", (kind,))


def row(app: App, inbound: int) -> dict:
    r = app.store.read(inbound_db.inbound, inbound)
    assert r is not None
    return r


def test_three_locked_database_errors_leave_the_report_pending_then_it_is_processed(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    inbound = app.add_inbound(REPORT, "test")
    assert inbound is not None
    monkeypatch.setattr(cocmail.store.connection, "BUSY_TIMEOUT", 0.05)
    other = sqlite3.connect(str(app.cfg.storage.db_path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writes, and takes its time
    try:
        for _ in range(MAX_ATTEMPTS + 1):
            with pytest.raises(OperationalError, match="database is locked"):
                app.pipeline.process(inbound)
        assert row(app, inbound)["state"] == "pending"
        assert row(app, inbound)["attempts"] == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert app.pipeline.process(inbound) == "done"
    assert [r["recipients"] for r in outbox(app, "ack")] == ['["eve@attendee.example"]']
    assert outbox(app, "quarantined") == []
    assert app.store.read(cases_db.case_numbers) == [1]


def test_ingest_exits_75_when_the_database_is_locked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Postfix keeps the message and retries on 75; the report is not lost."""
    cfg = make_config(tmp_path)
    open_app(cfg).close()
    monkeypatch.setattr(cocmail.store.connection, "BUSY_TIMEOUT", 0.05)
    other = sqlite3.connect(str(cfg.storage.db_path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        result = CliRunner().invoke(main, ["--config", str(tmp_path / "cocmail.toml"),
                                           "ingest", "-"], input=REPORT)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 75, result.output
    assert "could not store" in result.output


def test_a_command_on_a_locked_database_exits_75_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config(tmp_path)
    app = open_app(cfg)
    inbound = app.add_inbound(b"", "test")
    assert inbound is not None
    assert app.pipeline.process(inbound) == "quarantined"
    app.close()
    monkeypatch.setattr(cocmail.store.connection, "BUSY_TIMEOUT", 0.05)
    other = sqlite3.connect(str(cfg.storage.db_path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        result = CliRunner().invoke(main, ["--config", str(tmp_path / "cocmail.toml"),
                                           "quarantine", "release", str(inbound)])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 75, result.output
    assert "database is locked" in result.output and "try again" in result.output
    assert "Traceback" not in result.output


BROKEN_SYNTAX = "Hello {{ reporter_name }\n"
BROKEN_AT_RENDER = "Hello {{ reporter_name.first.letter }}\n"


@pytest.mark.parametrize("template", [BROKEN_SYNTAX, BROKEN_AT_RENDER],
                         ids=["syntax error", "fails when rendered"])
def test_a_broken_override_template_does_not_quarantine_a_good_report(
        tmp_path: Path, template: str) -> None:
    overrides = tmp_path / "mytemplates"
    overrides.mkdir()
    (overrides / "ack.txt").write_text(template)
    cfg = make_config(tmp_path, f'[templates]\ndir = "{overrides}"\n')
    app = open_app(cfg)
    try:
        inbound = app.add_inbound(REPORT, "test")
        assert inbound is not None
        for _ in range(MAX_ATTEMPTS + 1):
            with pytest.raises(OperationalError, match="template 'ack'"):
                app.pipeline.process(inbound)
        assert row(app, inbound)["state"] == "pending"
        assert row(app, inbound)["attempts"] == 0
        assert app.store.read(cases_db.case_numbers) == []  # nothing half-done either
        assert outbox(app, "quarantined") == [] and outbox(app, "staff_new_case") == []
        if template is BROKEN_SYNTAX:
            check = CliRunner().invoke(main, ["--config", str(tmp_path / "cocmail.toml"),
                                              "check"])
            assert "FAIL  templates: template 'ack'" in check.output
        # The team fixes its template and restarts cocmail.
        (overrides / "ack.txt").write_text("Hello {{ reporter_name }}, we have your report.\n")
        app.close()
        app = open_app(cfg)
        assert app.pipeline.process(inbound) == "done"
        assert len(outbox(app, "ack")) == 1 and len(outbox(app, "staff_new_case")) == 2
    finally:
        app.close()


def test_ingest_stores_a_report_it_cannot_process_yet_and_exits_0(tmp_path: Path) -> None:
    """Stored is accepted: exit 75 now would make Postfix deliver a second copy."""
    overrides = tmp_path / "mytemplates"
    overrides.mkdir()
    (overrides / "ack.txt").write_text(BROKEN_SYNTAX)
    make_config(tmp_path, f'[templates]\ndir = "{overrides}"\n')
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "cocmail.toml"),
                                       "ingest", "-"], input=REPORT)
    assert result.exit_code == 0, result.output
    assert "stored, not processed yet" in result.output and "template 'ack'" in result.output
    app = open_app(make_config(tmp_path, f'[templates]\ndir = "{overrides}"\n'))
    try:
        assert app.store.read(inbound_db.pending_inbound) == [1]
    finally:
        app.close()


# ---------------------------------------------------------------- message errors

def _choking(monkeypatch: pytest.MonkeyPatch) -> None:
    def choke(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise MessageError("this message breaks the decision")

    monkeypatch.setattr(cocmail.core.decide, "open_case", choke)


def test_a_bad_message_is_quarantined_after_the_configured_attempts(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    _choking(monkeypatch)
    inbound = app.add_inbound(REPORT, "test")
    assert inbound is not None
    for attempt in range(1, MAX_ATTEMPTS):
        assert app.pipeline.process(inbound) == "pending"
        assert row(app, inbound)["attempts"] == attempt
        assert outbox(app, "quarantined") == []
    assert app.pipeline.process(inbound) == "quarantined"
    assert row(app, inbound)["state"] == "quarantined"
    assert "this message breaks the decision" in row(app, inbound)["error"]
    notices = outbox(app, "quarantined")
    assert {r["recipients"].strip('[]"') for r in notices} == STAFF


def _failing_notice(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies while queuing the quarantine notice."""
    real = app.pipeline.enqueue

    def enqueue(c, mail, env, composed=None):  # type: ignore[no-untyped-def]
        if mail.kind == "quarantined":
            raise KeyboardInterrupt("killed while queuing the notice")
        return real(c, mail, env, composed)

    monkeypatch.setattr(app.pipeline, "enqueue", enqueue)


def test_a_quarantine_after_failures_and_its_notice_commit_together(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    _choking(monkeypatch)
    inbound = app.add_inbound(REPORT, "test")
    assert inbound is not None
    for _ in range(MAX_ATTEMPTS - 1):
        app.pipeline.process(inbound)
    with monkeypatch.context() as m:
        _failing_notice(app, m)
        with pytest.raises(KeyboardInterrupt):
            app.pipeline.process(inbound)
        # Neither happened: not quarantined without telling staff.
        assert row(app, inbound)["state"] == "pending"
        assert row(app, inbound)["attempts"] == MAX_ATTEMPTS - 1
        assert outbox(app, "quarantined") == []
    assert app.pipeline.process(inbound) == "quarantined"
    assert len(outbox(app, "quarantined")) == 2


def test_a_message_over_the_cap_and_its_notice_commit_together(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config(tmp_path)
    app = open_app(replace(cfg, inbox=replace(cfg.inbox, max_message_bytes=100 * 1024)))
    try:
        big = mail("Eve <eve@attendee.example>", "Video", "x" * 200_000,
                   message_id="<big@attendee.example>")
        inbound = app.add_inbound(big, "test")
        assert inbound is not None
        with monkeypatch.context() as m:
            _failing_notice(app, m)
            with pytest.raises(KeyboardInterrupt):
                app.pipeline.process(inbound)
            assert row(app, inbound)["state"] == "pending"
            assert outbox(app, "quarantined") == []
        assert app.pipeline.process(inbound) == "quarantined"
        assert "over the 100 KB cap" in row(app, inbound)["error"]
        assert {r["recipients"].strip('[]"') for r in outbox(app, "quarantined")} == STAFF
    finally:
        app.close()


# ---------------------------------------------------------------- the family

def test_every_error_class_belongs_to_one_family() -> None:
    from cocmail.config import ConfigError
    from cocmail.core.commands import CommandValueError
    from cocmail.core.message import MessageError as ParseError
    from cocmail.core.workflow import Refused
    from cocmail.delivery.courier import CourierDied
    from cocmail.delivery.transports import PermanentFailure, ServerUnavailable
    from cocmail.inbox.imap import AcceptError
    from cocmail.oauth import OAuth2Refused, TokenError
    from cocmail.render import TemplateError
    from cocmail.runlock import AlreadyRunning
    from cocmail.secret_file import SecretKeyError
    from cocmail.store import StoreError
    from cocmail.store.migrations import SchemaError

    family = {UserError: [ConfigError, StoreError, SecretKeyError, SchemaError,
                          TokenError, AlreadyRunning, Refused, CommandValueError],
              OperationalError: [TemplateError, ServerUnavailable, OAuth2Refused,
                                 CourierDied, AcceptError],
              MessageError: [ParseError, PermanentFailure]}
    for base, members in family.items():
        for cls in members:
            others = [b for b in family if b is not base]
            assert issubclass(cls, base) and not any(issubclass(cls, o) for o in others), cls


@pytest.mark.parametrize(("error", "code", "text"), [
    (UserError("no case #9"), 1, "no case #9"),
    (OperationalError("SMTP server unreachable"), 75, "SMTP server unreachable"),
    (sqlite3.OperationalError("database is locked"), 75, "database is locked"),
    (KeyError("bug"), 1, "KeyError"),
])
def test_the_cli_answers_each_family_with_its_exit_code(error: Exception, code: int,
                                                        text: str) -> None:
    answer = cli_error(error)
    assert answer.exit_code == code and text in answer.format_message()


class _QuietCourier:
    """The daemon's courier as the worker loop sees it; delivery is not under test here."""

    def failed(self) -> bool:
        return False

    def poke(self) -> None:
        pass


def test_daemon_backs_off_on_a_locked_database_with_one_line_and_then_processes(
        app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import threading
    import time

    from cocmail.daemon import Daemon

    inbound = app.add_inbound(REPORT, "test")
    monkeypatch.setattr(cocmail.store.connection, "BUSY_TIMEOUT", 0.05)
    other = sqlite3.connect(str(app.cfg.storage.db_path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    daemon = Daemon(app)
    worker = threading.Thread(target=daemon._worker_loop, args=(_QuietCourier(),))
    caplog.set_level("WARNING", logger="cocmail.daemon")
    worker.start()
    try:
        deadline = time.monotonic() + 20
        def failures() -> list:
            return [r for r in caplog.records if "worker pass failed" in r.getMessage()]

        while time.monotonic() < deadline and len(failures()) < 2:
            time.sleep(0.05)
        failures = failures()
        assert len(failures) >= 2
        assert "database is locked" in failures[0].getMessage()
        assert "retrying in 1 s" in failures[0].getMessage()
        assert "retrying in 2 s" in failures[1].getMessage()  # the wait doubles
        assert all(r.exc_info is None for r in failures)  # one line, no traceback
        assert row(app, inbound)["attempts"] == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and row(app, inbound)["state"] == "pending":
        time.sleep(0.05)
    daemon.request_stop()
    worker.join(timeout=10)
    assert row(app, inbound)["state"] == "done"
    assert outbox(app, "quarantined") == []
    assert "eve@attendee.example" not in caplog.text
