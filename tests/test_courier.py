"""The courier: delivery in a thread of its own, beside the worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cocmail import courier as courier_module
from cocmail.app import App, open_app
from cocmail.courier import Courier
from tests.helpers import mail, make_config, spool


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = open_app(make_config(tmp_path))
    yield a
    a.close()


def report(n: int) -> bytes:
    return mail(f"Reporter {n} <r{n}@attendee.example>", f"Report {n}", "It happened.\n",
                message_id=f"<courier-{n}@attendee.example>")


def process(app: App, n: int) -> None:
    inbound_id = app.store.add_inbound(report(n), "test")
    assert inbound_id is not None
    assert app.pipeline.process(inbound_id) == "done"


def test_mail_committed_while_the_courier_runs_is_delivered_once(app: App) -> None:
    courier = Courier(app.delivery_outbox(), threading.Event(), fail_fast=True).start()
    for n in range(1, 6):
        process(app, n)
        courier.poke()
    assert courier.finish() == 15  # an ack and two staff notifications per report
    out = spool(app.cfg)
    assert len(out) == 15 and len({m["Message-ID"] for m in out}) == 15
    assert app.store.scalar("SELECT count(*) FROM outbox WHERE state='sent'") == 15


def test_run_once_courier_stops_at_the_first_error_and_finish_raises_it(app: App) -> None:
    process(app, 1)
    outbox = app.delivery_outbox()

    def broken(**_: object) -> None:
        raise RuntimeError("disk full")

    outbox.deliver_due = broken  # type: ignore[method-assign]
    courier = Courier(outbox, threading.Event(), fail_fast=True).start()
    courier.poke()
    assert courier.failed.wait(5)
    with pytest.raises(RuntimeError, match="disk full"):
        courier.finish()
    assert spool(app.cfg) == []


def test_daemon_courier_logs_an_error_and_tries_again(app: App, caplog: pytest.LogCaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(courier_module, "ERROR_PAUSE_SECONDS", 0.01)
    process(app, 1)
    outbox = app.delivery_outbox()
    real = outbox.deliver_due
    calls = []

    def flaky(**kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        return real(**kwargs)  # type: ignore[arg-type]

    outbox.deliver_due = flaky  # type: ignore[method-assign]
    caplog.set_level(logging.ERROR, "cocmail.courier")
    courier = Courier(outbox, threading.Event(), fail_fast=False).start()
    courier.poke()
    assert courier.finish() == 3
    assert not courier.failed.is_set()
    assert "delivery pass failed" in caplog.text
    assert len(spool(app.cfg)) == 3
