"""The courier: delivery in a thread of its own, beside the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cocmail.app import App
from cocmail.daemon import Daemon
from cocmail.delivery import courier as courier_module
from cocmail.delivery.courier import Courier, CourierDied
from cocmail.delivery.outbox import Outbox
from testsupport.helpers import mail, spool


def report(n: int) -> bytes:
    return mail(f"Reporter {n} <r{n}@attendee.example>", f"Report {n}", "It happened.\n",
                message_id=f"<courier-{n}@attendee.example>")


def process(app: App, n: int) -> None:
    inbound_id = app.add_inbound(report(n), "test")
    assert inbound_id is not None
    assert app.pipeline.process(inbound_id) == "done"


def test_mail_committed_while_the_courier_runs_is_delivered_once(app: App) -> None:
    courier = Courier(app.delivery_outbox, fail_fast=True).start()
    for n in range(1, 6):
        process(app, n)
        courier.poke()
    assert courier.finish() == 15  # an ack and two staff notifications per report
    out = spool(app.cfg)
    assert len(out) == 15 and len({m["Message-ID"] for m in out}) == 15
    assert app.store.scalar("SELECT count(*) FROM outbox WHERE state='sent'") == 15


def test_run_once_courier_stops_at_the_first_error_and_finish_raises_it(app: App) -> None:
    process(app, 1)

    def broken_outbox() -> Outbox:
        outbox = app.delivery_outbox()

        def broken(**_: object) -> None:
            raise RuntimeError("disk full")

        outbox.deliver_due = broken  # type: ignore[method-assign]
        return outbox

    courier = Courier(broken_outbox, fail_fast=True).start()
    courier.poke()
    deadline = time.monotonic() + 5
    while not courier.failed() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert courier.failed()
    with pytest.raises(RuntimeError, match="disk full"):
        courier.finish()
    assert spool(app.cfg) == []


def test_daemon_courier_tries_again_after_an_error(app: App,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(courier_module, "ERROR_PAUSE_SECONDS", 0.01)
    process(app, 1)

    def flaky_outbox() -> Outbox:
        outbox = app.delivery_outbox()
        real = outbox.deliver_due
        calls = []

        def flaky(**kwargs: object):  # type: ignore[no-untyped-def]
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("database is locked")
            return real(**kwargs)  # type: ignore[arg-type]

        outbox.deliver_due = flaky  # type: ignore[method-assign]
        return outbox

    courier = Courier(flaky_outbox, fail_fast=False).start()
    courier.poke()
    deadline = time.monotonic() + 10  # the retry comes by itself, with no second poke
    while len(spool(app.cfg)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not courier.failed()
    assert courier.finish() == 3
    assert len(spool(app.cfg)) == 3


def test_a_courier_that_dies_is_reported(app: App) -> None:
    process(app, 1)

    def dying_outbox() -> Outbox:
        os._exit(3)

    courier = Courier(dying_outbox, fail_fast=True).start()
    with pytest.raises(CourierDied, match="exit code 3"):
        courier.finish()


def test_the_courier_dies_with_the_daemon(app: App, tmp_path: Path) -> None:
    """A daemon killed with SIGKILL takes its courier along: no orphan may deliver beside
    the restarted daemon's courier (the same mail twice)."""
    script = tmp_path / "daemon.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
        from cocmail.config import load_config
        from cocmail.app import open_app
        from cocmail.delivery.courier import Courier
        from pathlib import Path
        app = open_app(load_config(Path({str(tmp_path / "cocmail.toml")!r})))
        courier = Courier(app.delivery_outbox, fail_fast=False).start()
        print(courier._process.pid, flush=True)
        time.sleep(60)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        status = Path(f"/proc/{child}/status").read_text(errors="replace")
        if "State:\tZ" in status:
            break
        time.sleep(0.02)
    else:
        assert not Path(f"/proc/{child}").exists(), "the courier outlived the daemon"


def test_the_daemon_stops_with_an_error_when_its_courier_died(app: App) -> None:
    """A killed courier ends the daemon (for systemd to restart it whole) instead of
    leaving mail to pile up unseen in the outbox."""
    daemon = Daemon(app)
    courier = daemon._start_courier(fail_fast=False)
    os.kill(courier._process.pid, signal.SIGKILL)
    courier._process.join(5)
    with pytest.raises(CourierDied, match="exit code -9"):
        daemon._check_courier(courier)


def test_a_killed_courier_never_blocks_the_daemon(app: App) -> None:
    """Pokes and stop requests to a dead courier return at once (a multiprocessing
    Event would wait for its dead sleeper for ever)."""
    courier = Courier(app.delivery_outbox, fail_fast=False).start()
    time.sleep(0.2)  # idle, waiting for a poke
    os.kill(courier._process.pid, signal.SIGKILL)
    courier._process.join(5)
    started = time.monotonic()
    for _ in range(1000):
        courier.poke()
    courier.request_stop()
    assert courier.failed()
    with pytest.raises(CourierDied):
        courier.finish()
    assert time.monotonic() - started < 2
