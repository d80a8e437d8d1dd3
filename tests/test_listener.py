"""The embedded SMTP listener faces whoever can reach its port (issue 11, item 4).

So it must not believe Authentication-Results that anyone can write, unless the operator
says only the MX reaches it, and nobody may hold all of its connections. Every test talks
real SMTP to the real listener (or runs the real `cocmail ingest`).
"""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cocmail.app import App, open_app
from cocmail.checks import run_checks
from cocmail.cli import main
from cocmail.config import Config, ConfigError, parse_config
from cocmail.inbox.listener import MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT, start_listener
from cocmail.store import cases as cases_db
from testsupport.helpers import approve_as, mail, make_config
from testsupport.servers import free_port, wait_until

TRUSTED_AUTHRES = "mx.example.org; dmarc=pass header.from=example.org"


def config_with(tmp_path: Path, security: str = "", listen: str = "") -> Config:
    """make_config's installation, with extra [security] lines and a [listen] table."""
    make_config(tmp_path)
    path = tmp_path / "cocmail.toml"
    text = path.read_text().replace('trusted_authserv_ids = ["mx.example.org"]',
                                    'trusted_authserv_ids = ["mx.example.org"]\n' + security)
    path.write_text(text + ("\n[listen]\n" + listen if listen else ""))
    return parse_config(path.read_text(), str(path), tmp_path)


def forged_recusal() -> bytes:
    """Ana's address and a trusted-looking verdict, written by whoever sends it."""
    return mail("Ana Lima <ana@example.org>", "Re: [CoC #1] New report",
                "#recuse ben@example.org\n", message_id="<forged-1@evil.example>",
                extra={"Authentication-Results": TRUSTED_AUTHRES})


def open_case(app: App) -> None:
    report = mail("Eve <eve@attendee.example>", "Report", "Dan was rude to me.\n",
                  message_id="<report-1@attendee.example>")
    assert app.receive(report, "test") == "done"


@pytest.fixture
def listening(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[App, int]]:
    """An app with case 1 open and its listener on a free port; param = [security] lines."""
    app = open_app(config_with(tmp_path, getattr(request, "param", "")))
    open_case(app)
    port = free_port()
    controller = start_listener(app.store, app.cfg.inbox.address, "127.0.0.1", port,
                                app.cfg.inbox.max_message_bytes, lambda _id: None)
    try:
        yield app, port
    finally:
        controller.stop()
        app.close()


def send(port: int, raw: bytes, source: str = "127.0.0.1") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(source, 0)) as client:
        assert client.sendmail("x@evil.example", ["conduct@example.org"], raw) == {}


# ------------------------------------------------------------ Authentication-Results

def test_authentication_results_over_the_listener_run_no_command(
        listening: tuple[App, int]) -> None:
    app, port = listening
    send(port, forged_recusal())
    assert app.pipeline.process_pending() == 1
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.recused == ()
    held = app.store.query("SELECT staff_email FROM held")
    assert [h["staff_email"] for h in held] == ["ana@example.org"]  # Ana can #confirm


@pytest.mark.parametrize("listening", ['authentication_results_via = ["imap", "listener"]'],
                         indirect=True)
def test_listener_behind_the_mx_trusts_its_authentication_results(
        listening: tuple[App, int]) -> None:
    app, port = listening
    send(port, forged_recusal())
    app.pipeline.process_pending()
    approve_as(app, "ben@example.org")  # excluding another member needs a second one
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.recused == ("ben@example.org",)


def ingest(config: Path, raw: bytes) -> None:
    result = CliRunner().invoke(main, ["--config", str(config), "ingest", "-"], input=raw)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("security", "recused"), [
    ("", ()), ('authentication_results_via = ["ingest"]', ("ben@example.org",))])
def test_ingest_trusts_authentication_results_only_when_configured(
        tmp_path: Path, security: str, recused: tuple[str, ...]) -> None:
    config_with(tmp_path, security)
    config = tmp_path / "cocmail.toml"
    ingest(config, mail("Eve <eve@attendee.example>", "Report", "Dan was rude to me.\n",
                        message_id="<report-1@attendee.example>"))
    ingest(config, forged_recusal())
    app = open_app(parse_config(config.read_text(), str(config), tmp_path))
    try:
        approve_as(app, "ben@example.org")  # excluding another member needs a second one
        case = app.store.read(cases_db.load_case, 1)
        assert case is not None and case.recused == recused
    finally:
        app.close()


def test_unknown_way_in_is_a_config_error_naming_key_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        config_with(tmp_path, 'authentication_results_via = ["imap", "smtp"]')
    lines = (tmp_path / "cocmail.toml").read_text().splitlines()
    line = 1 + next(i for i, text in enumerate(lines) if "results_via" in text)
    assert f"line {line}: security.authentication_results_via" in str(error.value)
    assert "'smtp'" in str(error.value)


@pytest.mark.parametrize(("security", "listen", "warned"), [
    ("", 'host = "0.0.0.0"', True),
    ('authentication_results_via = ["listener"]', 'host = "0.0.0.0"', False),
    ("", 'host = "127.0.0.1"', False),
    ("", 'host = "::1"', False),
])
def test_check_warns_of_an_open_listener_that_ignores_authentication_results(
        tmp_path: Path, security: str, listen: str, warned: bool) -> None:
    cfg = config_with(tmp_path, security, listen)
    lines = [(name, ok, text) for name, ok, text in run_checks(cfg) if name == "listener"]
    assert bool(lines) == warned, lines
    if warned:
        assert lines[0][1] and "authentication_results_via" in lines[0][2]


# ------------------------------------------------------------ connection limits

def idle_connections(port: int, count: int, source: str) -> list[socket.socket]:
    """Open `count` sessions that read the greeting and then say nothing."""
    out = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                     source_address=(source, 0))
        out.append(s)
    for s in out:
        assert s.recv(512).startswith(b"220"), "an admitted session is greeted"
    return out


def refused(port: int, source: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as s:
        return s.recv(512)


def test_one_client_cannot_hold_the_listener(listening: tuple[App, int]) -> None:
    app, port = listening
    held = idle_connections(port, MAX_CONNECTIONS_PER_CLIENT, "127.0.0.1")
    try:
        assert refused(port, "127.0.0.1").startswith(b"421 ")
        send(port, mail("Zoe <zoe@attendee.example>", "Report 2", "It happened again.\n",
                        message_id="<report-2@attendee.example>"), source="127.0.0.2")
        assert app.pipeline.process_pending() == 1
        assert app.store.read(cases_db.case_numbers) == [1, 2]
    finally:
        for s in held:
            s.close()
    # Once the idle sessions are gone, the first client is welcome again.
    assert wait_until(lambda: refused(port, "127.0.0.1").startswith(b"220"), 5)


def test_total_connections_are_capped(listening: tuple[App, int]) -> None:
    _, port = listening
    clients = MAX_CONNECTIONS // MAX_CONNECTIONS_PER_CLIENT
    held = [s for n in range(clients)
            for s in idle_connections(port, MAX_CONNECTIONS_PER_CLIENT, f"127.0.1.{n + 1}")]
    try:
        assert len(held) == MAX_CONNECTIONS
        assert refused(port, "127.0.2.1").startswith(b"421 ")
    finally:
        for s in held:
            s.close()
    assert wait_until(lambda: refused(port, "127.0.2.1").startswith(b"220"), 5)


def test_a_silent_session_is_closed_after_the_command_timeout(tmp_path: Path) -> None:
    app = open_app(make_config(tmp_path))
    port = free_port()
    controller = start_listener(app.store, app.cfg.inbox.address, "127.0.0.1", port,
                                app.cfg.inbox.max_message_bytes, lambda _id: None,
                                timeout=0.5)
    try:
        [s] = idle_connections(port, 1, "127.0.0.1")
        started = time.monotonic()
        s.settimeout(10)
        assert s.recv(512) == b""  # closed by the server
        assert time.monotonic() - started < 5
        s.close()
    finally:
        controller.stop()
        app.close()


def test_dmarc_pass_for_no_named_domain_runs_no_command(tmp_path: Path) -> None:
    # Issue 11, item 12: the trusted MX's "dmarc=pass" with no header.from vouches for
    # no domain in particular, so it cannot vouch for Ana's.
    app = open_app(make_config(tmp_path))
    try:
        open_case(app)
        raw = mail("Ana Lima <ana@example.org>", "Re: [CoC #1] New report",
                   "#recuse ben@example.org\n", message_id="<forged-2@evil.example>",
                   extra={"Authentication-Results": "mx.example.org; dmarc=pass"})
        assert app.receive(raw, "imap") == "done"
        case = app.store.read(cases_db.load_case, 1)
        assert case is not None and case.recused == ()
    finally:
        app.close()
