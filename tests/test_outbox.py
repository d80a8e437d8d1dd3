"""Outgoing mail against a real SMTP server that fails on purpose (testsupport/servers.SmtpSink).

What a CoC team must be able to rely on: a temporary refusal or a dropped connection
delays a mail but never loses it and never sends a second copy under a new Message-ID;
a permanent refusal is marked failed and every staff member is told; one unsendable
mail never blocks the rest of the queue; a crash around the SMTP conversation costs at
most a second copy of the *same* message (at-least-once with a fixed Message-ID is the
documented limit: the server may take a mail and the process die before it can record
that).

Time is a clock the test moves, so backoff is checked without sleeping.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from cocmail.app import App, open_app
from cocmail.cli import main
from cocmail.clock import parse_iso, utcnow
from testsupport.helpers import body_of, mail, make_config
from testsupport.servers import SmtpSink, _SinkHandler

REPORTER = "eve@attendee.example"
STAFF = ("ana@example.org", "ben@example.org")


class Clock:
    """A clock the test moves by hand. Starts a minute ahead of real time, because rows
    are queued with the real time and must already be due at the first delivery."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in cocmail catches it."""


@pytest.fixture
def clock() -> Clock:
    return Clock()


def open_with_sink(tmp_path: Path, sink: SmtpSink, clock: Clock, extra_smtp: str = "") -> App:
    return open_app(make_config(tmp_path, smtp=sink.smtp_toml() + extra_smtp), clock=clock)


@pytest.fixture
def app(make_app: Callable[..., App], smtp_sink: SmtpSink, clock: Clock) -> App:
    return make_app(smtp=smtp_sink.smtp_toml(), clock=clock)


def report(app: App, n: int = 1, sender: str = REPORTER) -> None:
    """A report arrives and is processed: one ack and two staff notifications are queued."""
    raw = mail(f"Eve Example <{sender}>", f"Report {n}", "Someone followed me.\n",
               message_id=f"<report-{n}@attendee.example>")
    inbound = app.add_inbound(raw, "test")
    assert inbound is not None
    assert app.pipeline.process(inbound) == "done"


def outbox(app: App) -> list[dict]:
    return app.store.query("SELECT * FROM outbox ORDER BY id")


def row_of(app: App, kind: str) -> dict:
    return next(r for r in outbox(app) if r["kind"] == kind)


def arrivals(sink: SmtpSink) -> Counter[str]:
    """How many times each Message-ID reached the server."""
    return Counter(str(m.message["Message-ID"]).strip("<>") for m in sink.messages)


def to(sink: SmtpSink, address: str) -> list:
    return [m for m in sink.messages if address in m.rcpt_tos]


def assert_each_sent_exactly_once(app: App, sink: SmtpSink) -> None:
    """Nothing lost, nothing doubled, nothing under a Message-ID cocmail did not queue."""
    rows = outbox(app)
    assert {r["state"] for r in rows} == {"sent"}, [(r["kind"], r["state"]) for r in rows]
    assert arrivals(sink) == Counter({r["message_id"]: 1 for r in rows})


# ---------------------------------------------------------------- temporary failures

TEMPORARY = {
    "451 after DATA": lambda sink: sink.fail_next("data", "451 4.3.0 Try again later"),
    "421 after DATA": lambda sink: sink.fail_next("data", "421 4.3.2 Service shutting down"),
    "451 to RCPT": lambda sink: sink.fail_next("rcpt", "451 4.3.0 Greylisted, retry"),
    "dropped mid-DATA": lambda sink: sink.drop_next_data(),
}


@pytest.mark.parametrize("fault", list(TEMPORARY))
def test_temporary_failure_retries_after_backoff_and_delivers_once(
        app: App, smtp_sink: SmtpSink, clock: Clock, fault: str) -> None:
    report(app)
    ack = row_of(app, "ack")
    TEMPORARY[fault](smtp_sink)

    app.outbox.deliver_due()
    assert not to(smtp_sink, REPORTER)
    row = row_of(app, "ack")
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["last_error"]
    wait = (parse_iso(row["next_attempt"]) - clock()).total_seconds()
    assert 20 <= wait <= 40  # 30 s, give or take the jitter

    clock.advance(wait - 5)
    app.outbox.deliver_due()
    assert not to(smtp_sink, REPORTER), "retried before its backoff was over"

    clock.advance(10)
    app.outbox.deliver_due()
    acks = to(smtp_sink, REPORTER)
    assert len(acks) == 1
    assert acks[0].message["Message-ID"] == f"<{ack['message_id']}>"
    assert_each_sent_exactly_once(app, smtp_sink)


def test_backoff_doubles_while_the_server_keeps_refusing(
        app: App, smtp_sink: SmtpSink, clock: Clock) -> None:
    report(app)
    waits = []
    for _ in range(4):  # refused three times, taken the fourth
        if len(waits) < 3:
            smtp_sink.fail_next("data", "451 4.3.0 Try again later")  # for the next mail
        app.outbox.deliver_due()  # the ack goes first; after that it is the only one due
        if to(smtp_sink, REPORTER):
            break
        row = row_of(app, "ack")
        waits.append((parse_iso(row["next_attempt"]) - clock()).total_seconds())
        clock.advance(waits[-1] + 1)
    assert len(waits) == 3
    for shorter, longer in zip(waits, waits[1:], strict=False):
        assert 1.3 < longer / shorter < 3.1  # doubling, each side jittered by 20 %
    assert row_of(app, "ack")["attempts"] == 4
    assert_each_sent_exactly_once(app, smtp_sink)


def test_pending_mail_shows_its_last_error(app: App, smtp_sink: SmtpSink,
                                           tmp_path: Path) -> None:
    report(app)
    smtp_sink.fail_next("data", "451 4.7.1 Greylisted, come back later")
    app.outbox.deliver_due()
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "cocmail.toml"),
                                       "outbox", "list", "--pending"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and "ack" in lines[0] and "Greylisted" in lines[0]


def test_unreachable_server_delays_mail_without_losing_it(
        tmp_path: Path, clock: Clock) -> None:
    # A server that accepts the TCP connection and then never says a word: every
    # attempt costs a full timeout, so it must cost one per pass, not one per mail.
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    smtp = f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 0.3\n'
    cfg = make_config(tmp_path, smtp=smtp)
    app = open_app(cfg, clock=clock)
    try:
        report(app, 1)
        report(app, 2, sender="zoe@attendee.example")
        app.outbox.deliver_due()
        attempts = [r["attempts"] for r in outbox(app)]
        assert sorted(attempts) == [0, 0, 0, 0, 0, 1]
        assert {r["state"] for r in outbox(app)} == {"pending"}
    finally:
        app.close()
        silent.close()

    with SmtpSink() as sink:  # the server is back, on another port after a repair
        cfg_text = (tmp_path / "cocmail.toml").read_text().replace(smtp, sink.smtp_toml())
        (tmp_path / "cocmail.toml").write_text(cfg_text)
        app = open_with_sink(tmp_path, sink, clock)
        try:
            clock.advance(3600)
            app.outbox.deliver_due()
            assert_each_sent_exactly_once(app, sink)
            assert len(to(sink, REPORTER)) == 1 and len(to(sink, "zoe@attendee.example")) == 1
        finally:
            app.close()


# ---------------------------------------------------------------- permanent failures

PERMANENT = {
    "550": lambda sink: sink.fail_next("rcpt", "550 5.1.1 No such user here"),
    "554": lambda sink: sink.fail_next("data", "554 5.7.1 Message refused"),
}


@pytest.mark.parametrize("fault", list(PERMANENT))
def test_permanent_refusal_is_marked_failed_and_staff_are_told(
        app: App, smtp_sink: SmtpSink, clock: Clock, fault: str) -> None:
    report(app)
    PERMANENT[fault](smtp_sink)
    app.outbox.deliver_due()

    ack = row_of(app, "ack")
    assert ack["state"] == "failed"
    assert fault in ack["last_error"]
    assert not to(smtp_sink, REPORTER)
    for address in STAFF:
        notices = [m for m in to(smtp_sink, address)
                   if "could not be delivered" in str(m.message["Subject"])]
        assert len(notices) == 1, address
        assert notices[0].message["Subject"].startswith("[CoC #1]")
        text = body_of(notices[0].message)
        assert "the reporter" in text and fault in text

    clock.advance(3 * 24 * 3600)  # a failed mail is never tried again
    app.outbox.deliver_due()
    assert not to(smtp_sink, REPORTER)
    states = Counter(r["state"] for r in outbox(app))
    assert states == Counter({"sent": 4, "failed": 1})  # 2 notifications + 2 notices
    assert max(arrivals(smtp_sink).values()) == 1


def test_a_refusal_quoting_the_address_keeps_it_for_staff_and_out_of_the_log(
        app: App, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    """Servers quote the refused address; staff need it (the row's error, the notice),
    the log gets the case and the Message-ID only (delivery's log lines go through
    cocmail/redact.py)."""
    import logging

    caplog.set_level(logging.INFO, "cocmail.outbox")
    report(app)
    smtp_sink.fail_next("rcpt", f"550 5.1.1 <{REPORTER}>: Recipient address rejected")
    app.outbox.deliver_due()

    ack = row_of(app, "ack")
    assert ack["state"] == "failed" and REPORTER in ack["last_error"]
    refused = [r.getMessage() for r in caplog.records if "failed permanently" in r.getMessage()]
    assert len(refused) == 1 and ack["message_id"] in refused[0]
    assert "<address>" in refused[0]
    assert REPORTER not in caplog.text


def test_failure_notices_that_fail_do_not_start_a_loop(app: App, smtp_sink: SmtpSink) -> None:
    report(app)
    smtp_sink.fail_next("rcpt", *["550 5.1.1 Mailbox gone"] * 50)
    app.outbox.deliver_due()
    rows = outbox(app)
    kinds = Counter(r["kind"] for r in rows)
    # 3 failed mails -> 2 notices each; the notices fail too and make no more notices.
    assert kinds == Counter({"ack": 1, "staff_new_case": 2, "delivery_failed": 6})
    assert {r["state"] for r in rows} == {"failed"}
    assert not smtp_sink.messages


# ---------------------------------------------------------------- unsendable mail

class AsciiOnlySink(SmtpSink):
    """The same sink, without the SMTPUTF8 extension (many real servers lack it)."""

    def __init__(self) -> None:
        super().__init__()
        self.controller = Controller(_SinkHandler(self), hostname=self.host, port=self.port,
                                     enable_SMTPUTF8=False)


def eai_report(app: App) -> None:
    raw = ("From: José Núñez <josé@exämple.org>\r\nTo: conduct@example.org\r\n"
           "Subject: Informe\r\nMessage-ID: <eai-1@exämple.org>\r\n\r\n"
           "Alguien me acosó en la fiesta.\r\n").encode()
    inbound = app.add_inbound(raw, "test")
    assert inbound is not None and app.pipeline.process(inbound) == "done"


def test_internationalised_address_is_delivered_over_smtputf8(
        app: App, smtp_sink: SmtpSink) -> None:
    eai_report(app)
    app.outbox.deliver_due()
    assert [m.rcpt_tos for m in to(smtp_sink, "josé@exämple.org")] == [("josé@exämple.org",)]
    assert_each_sent_exactly_once(app, smtp_sink)


def test_address_the_server_cannot_take_fails_alone_and_the_queue_moves_on(
        tmp_path: Path, clock: Clock) -> None:
    with AsciiOnlySink() as sink:
        app = open_with_sink(tmp_path, sink, clock)
        try:
            eai_report(app)
            report(app, 2)
            app.outbox.deliver_due()
            states = {(r["kind"], json.loads(r["recipients"])[0]): r["state"]
                      for r in outbox(app) if r["kind"] != "delivery_failed"}
            assert states[("ack", "josé@exämple.org")] == "failed"
            assert "SMTPUTF8" in row_of(app, "ack")["last_error"]
            assert states[("ack", REPORTER)] == "sent"
            assert all(s == "sent" for (kind, _), s in states.items() if kind != "ack")
            notices = [m for m in sink.messages
                       if "could not be delivered" in str(m.message["Subject"])]
            assert sorted(n.rcpt_tos[0] for n in notices) == list(STAFF)
        finally:
            app.close()


# ---------------------------------------------------------------- crashes around SMTP

def crash_around_send(app: App, when: str) -> None:
    """Make the next SMTP delivery die just before it starts or just after the 250."""
    real_send = app.outbox.transport.send

    def send(row: dict) -> None:
        if when == "before":
            raise Crash(f"killed before sending outbox {row['id']}")
        real_send(row)
        raise Crash(f"killed after the server took outbox {row['id']}")

    app.outbox.transport.send = send  # type: ignore[method-assign]


def restart(app: App, tmp_path: Path, sink: SmtpSink, clock: Clock) -> App:
    app.close()
    return open_with_sink(tmp_path, sink, clock)


def test_crash_before_delivery_then_restart_sends_each_mail_once(
        app: App, smtp_sink: SmtpSink, clock: Clock, tmp_path: Path) -> None:
    report(app)
    crash_around_send(app, "before")
    with pytest.raises(Crash):
        app.outbox.deliver_due()
    assert not smtp_sink.messages
    app = restart(app, tmp_path, smtp_sink, clock)
    try:
        app.outbox.deliver_due()
        assert_each_sent_exactly_once(app, smtp_sink)
    finally:
        app.close()


def test_crash_after_delivery_resends_only_the_same_message(
        app: App, smtp_sink: SmtpSink, clock: Clock, tmp_path: Path) -> None:
    report(app)
    first = row_of(app, "ack")
    crash_around_send(app, "after")
    with pytest.raises(Crash):
        app.outbox.deliver_due()
    assert len(smtp_sink.messages) == 1  # the server has it; the outbox does not know
    app = restart(app, tmp_path, smtp_sink, clock)
    try:
        app.outbox.deliver_due()
        rows = outbox(app)
        assert {r["state"] for r in rows} == {"sent"}
        counts = arrivals(smtp_sink)
        assert set(counts) == {r["message_id"] for r in rows}  # no new Message-ID
        assert counts[first["message_id"]] == 2  # the documented at-least-once copy
        assert sum(counts.values()) == len(rows) + 1
        copies = [m.raw for m in to(smtp_sink, REPORTER)]
        assert copies[0] == copies[1]  # byte for byte the same message
    finally:
        app.close()


def test_internationalised_address_is_readable_in_the_to_header(
        app: App, smtp_sink: SmtpSink) -> None:
    eai_report(app)
    app.outbox.deliver_due()
    [ack] = to(smtp_sink, "josé@exämple.org")
    to_line = next(line for line in ack.raw.split(b"\r\n") if line.startswith(b"To:"))
    # RFC 2047 forbids encoded-words in an address; strict clients show them as-is.
    assert b"=?" not in to_line and "josé@exämple.org".encode() in to_line


# ---------------------------------------------------------------- claimed, then cancelled

def test_mail_cancelled_after_it_was_claimed_is_never_sent(
        app: App, smtp_sink: SmtpSink) -> None:
    """The courier claims due mail 20 rows at a time. A `#recuse` processed while it
    sends the first of them cancels the recused member's queued notification: it must
    not go out from the claimed chunk all the same."""
    report(app)
    ben_note = next(r for r in outbox(app) if json.loads(r["recipients"]) == [STAFF[1]])
    real_send = app.outbox.transport.send
    recused = []

    def send(row: dict) -> None:
        if not recused:  # while the first claimed mail goes out, Ben recuses himself
            # (recusing another member waits for a second member's #approve)
            recused.append(row["id"])
            raw = mail(f"Ben Okafor <{STAFF[1]}>", "Re: " + ben_note["subject"],
                       f"#recuse {STAFF[1]}\n", message_id="<recuse-1@example.org>",
                       in_reply_to=f"<{ben_note['message_id']}>")
            inbound = app.add_inbound(raw, "test")
            assert inbound is not None
            recused.append(app.pipeline.process(inbound))
            recused.append(row_of_id(app, ben_note["id"])["state"])
        real_send(row)

    app.outbox.transport.send = send  # type: ignore[method-assign]
    assert recused == [] and ben_note["id"] > min(r["id"] for r in outbox(app))
    app.outbox.deliver_due()
    assert recused[1:] == ["done", "cancelled"]
    assert ben_note["message_id"] not in arrivals(smtp_sink)  # only his own transcript
    assert row_of_id(app, ben_note["id"])["state"] == "cancelled"


def row_of_id(app: App, outbox_id: int) -> dict:
    return next(r for r in outbox(app) if r["id"] == outbox_id)
