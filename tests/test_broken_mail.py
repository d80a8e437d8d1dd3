"""Broken mail: every message becomes a case or is quarantined with a reason, and the
pipeline goes on.

A report written on a phone at 2 a.m. may come from a client that breaks every rule of
MIME; it is still a report. The corpus in tests/data/broken/ was written for these tests
(README.md there says what each file breaks); the deep nesting and the 30 MB message are
generated here. CPython's own email test data is used too, where the interpreter ships it.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import smtplib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cocmail.app import App, open_app
from cocmail.cli import main
from cocmail.config import Config, load_config
from cocmail.core.message import MessageError, parse_message
from cocmail.inbox.listener import size_ceiling, start_listener
from cocmail.store import cases as cases_db
from cocmail.store import inbound as inbound_db
from testsupport.helpers import FLOOD_OFF, body_of, make_config, spool
from testsupport.servers import free_port

BROKEN = Path(__file__).parent / "data" / "broken"
STAFF = {"ana@example.org", "ben@example.org"}
MB = 1024 * 1024

# What a CoC team should see for each file: a case (with or without an acknowledgement
# to a sender we could trust), or a quarantine entry whose reason says why.
CASE_WITH_ACK = "case, acknowledged"
CASE_NO_ACK = "case, no acknowledgement"  # no single trustworthy sender to answer
EXPECTED = {
    "bad_base64.eml": CASE_WITH_ACK,
    "bad_date_and_ids.eml": CASE_WITH_ACK,
    "bad_quoted_printable.eml": CASE_WITH_ACK,
    "duplicate_from.eml": CASE_NO_ACK,
    "eight_bit_headers.eml": CASE_WITH_ACK,  # a Latin-1 name, a plain address: the sender
    "empty.eml": "quarantined: empty message",
    "garbage_headers.eml": CASE_NO_ACK,
    "html_only_broken.eml": CASE_WITH_ACK,
    "missing_from.eml": CASE_NO_ACK,
    "no_message_id.eml": CASE_WITH_ACK,
    "nul_and_bare_cr.eml": CASE_WITH_ACK,
    "only_blank_lines.eml": "quarantined: empty message",
    "truncated_rfc822.eml": CASE_WITH_ACK,
    "unknown_charset.eml": CASE_WITH_ACK,
    "unterminated_boundary.eml": CASE_WITH_ACK,
}
# Words of each report that staff must be able to read in their notification.
READABLE = {
    "bad_base64.eml": "shouted at me in the hallway",
    "bad_quoted_printable.eml": "joke at my expense",
    "duplicate_from.eml": "The report itself is real",
    "eight_bit_headers.eml": "Header bytes without any encoding",
    "html_only_broken.eml": "comments about my",
    "missing_from.eml": "someone was pushed at the party",
    "no_message_id.eml": "Something happened at the workshop",
    "nul_and_bare_cr.eml": "Someone grabbed my badge",
    "truncated_rfc822.eml": "Forwarding the message I got",
    "unknown_charset.eml": "took photos of me without asking",
    "unterminated_boundary.eml": "kept following me between talks",
}
NORMAL_REPORT = (b"From: Nia Normal <nia@attendee.example>\r\nTo: conduct@example.org\r\n"
                 b"Subject: A plain report\r\nMessage-ID: <plain-after-broken@attendee.example>"
                 b"\r\n\r\nA plain report after the broken ones.\r\n")


def ingest(app: App, raw: bytes) -> tuple[int, str]:
    inbound = app.add_inbound(raw, "test")
    assert inbound is not None
    return inbound, app.pipeline.process(inbound)


def outgoing(app: App, **where: object) -> list[dict]:
    sql = "SELECT * FROM outbox" + (" WHERE " + " AND ".join(f"{k}=?" for k in where)
                                    if where else "")
    return app.store.query(sql + " ORDER BY id", tuple(where.values()))


def assert_quarantined_and_staff_told(app: App, inbound: int, reason: str) -> None:
    row = app.store.read(inbound_db.inbound, inbound)
    assert row is not None and row["state"] == "quarantined"
    assert reason in row["error"]
    assert row["raw"] is not None, "quarantined mail is kept, never dropped"
    told = [m for m in spool(app.cfg)
            if re.search(rf"quarantine show {inbound}\b", body_of(m))]
    assert {str(m["To"].addresses[0].addr_spec) for m in told} == STAFF
    assert all(reason in body_of(m) for m in told)


def assert_pipeline_goes_on(app: App) -> None:
    inbound, state = ingest(app, NORMAL_REPORT)
    assert state == "done"
    case = app.store.read(inbound_db.inbound, inbound)["case_number"]
    assert [r["recipients"] for r in outgoing(app, kind="ack", case_number=case)] == [
        '["nia@attendee.example"]']


# ---------------------------------------------------------------- the corpus

def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in BROKEN.glob("*.eml")}
    assert on_disk == set(EXPECTED)
    readme = (BROKEN / "README.md").read_text()
    assert all(name in readme for name in on_disk)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_message_becomes_a_case_or_is_quarantined_with_a_reason(app: App,
                                                                        name: str) -> None:
    raw = (BROKEN / name).read_bytes()
    inbound, state = ingest(app, raw)
    app.outbox.deliver_due()
    expected = EXPECTED[name]
    if expected.startswith("quarantined: "):
        assert state == "quarantined"
        assert_quarantined_and_staff_told(app, inbound, expected.split(": ", 1)[1])
    else:
        assert state == "done"
        case = app.store.read(inbound_db.inbound, inbound)["case_number"]
        assert case is not None and app.store.read(cases_db.load_case, case) is not None
        notices = outgoing(app, kind="staff_new_case", case_number=case)
        assert {r["recipients"].strip('[]"') for r in notices} == STAFF
        acks = outgoing(app, kind="ack", case_number=case)
        assert len(acks) == (1 if expected == CASE_WITH_ACK else 0)
        assert {r["state"] for r in outgoing(app)} == {"sent"}
        if name in READABLE:
            note = next(m for m in spool(app.cfg) if "ana@" in str(m["To"]))
            assert READABLE[name] in body_of(note)
    assert_pipeline_goes_on(app)


def test_eight_bit_headers_are_read_as_utf8_or_latin1() -> None:
    msg = parse_message((BROKEN / "eight_bit_headers.eml").read_bytes())
    assert msg.sender is not None and msg.sender.name == "Rösa Réporter"
    assert msg.subject == "Belästigung am Stand — 8-bit header bytes"


def test_unknown_charset_is_guessed_not_left_encoded() -> None:
    msg = parse_message((BROKEN / "unknown_charset.eml").read_bytes())
    assert msg.sender is not None and msg.sender.name == "Rosa Réporter"
    assert msg.subject == "Report in an unknown charset"


def test_ambiguous_senders_get_no_answer_but_staff_see_the_report(app: App) -> None:
    for name in ("missing_from.eml", "duplicate_from.eml"):
        ingest(app, (BROKEN / name).read_bytes())
    app.outbox.deliver_due()
    recipients = {str(m["To"].addresses[0].addr_spec) for m in spool(app.cfg)}
    assert recipients == STAFF  # neither Rosa nor "Someone Else" is answered


# ---------------------------------------------------------------- generated monsters

def nested(depth: int) -> bytes:
    head = (b"From: Rosa Reporter <rosa@attendee.example>\r\nTo: conduct@example.org\r\n"
            b"Subject: Deeply nested\r\nMessage-ID: <deep@attendee.example>\r\n"
            b"MIME-Version: 1.0\r\n")
    opening = b"".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                       .encode() for i in range(depth))
    closing = b"".join(f"--b{i}--\r\n".encode() for i in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nThe innermost text.\r\n" + closing


def test_thousand_levels_of_nesting_are_quarantined_quickly(app: App) -> None:
    inbound, state = ingest(app, nested(1000))
    app.outbox.deliver_due()
    assert state == "quarantined"
    assert_quarantined_and_staff_told(app, inbound, "nesting too deep")
    assert_pipeline_goes_on(app)


def test_fifty_levels_of_nesting_are_still_a_report(app: App) -> None:
    inbound, state = ingest(app, nested(50))
    assert state == "done"
    case = app.store.read(inbound_db.inbound, inbound)["case_number"]
    assert "The innermost text." in (app.store.read(cases_db.load_case, case).report_text)  # type: ignore


def big_report(size: int) -> bytes:
    """A report with a video attached, `size` bytes or a little more on the wire."""
    blob = base64.encodebytes(os.urandom(size * 3 // 4)).replace(b"\n", b"\r\n")
    return (b"From: Rosa Reporter <rosa@attendee.example>\r\nTo: conduct@example.org\r\n"
            b"Subject: Video of the incident\r\nMessage-ID: <big@attendee.example>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"v\"\r\n\r\n"
            b"--v\r\nContent-Type: text/plain\r\n\r\nThe video is attached.\r\n"
            b"--v\r\nContent-Type: video/mp4; name=\"incident.mp4\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + blob + b"--v--\r\n")


def set_cap(tmp_path: Path, cap: int) -> Config:
    """Edit the config file as an operator would: `max_message_bytes` under [inbox]."""
    toml = tmp_path / "cocmail.toml"
    text = toml.read_text()
    if "max_message_bytes" in text:
        text = "\n".join(line for line in text.splitlines()
                         if not line.startswith("max_message_bytes"))
    toml.write_text(text.replace('address = "conduct@example.org"',
                                 f'address = "conduct@example.org"\nmax_message_bytes = {cap}'))
    return load_config(toml)


def cli(tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "cocmail.toml"), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_thirty_megabytes_over_the_default_cap_is_quarantined_then_released(
        tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    assert cfg.inbox.max_message_bytes == 25 * MB
    eml = tmp_path / "big.eml"
    eml.write_bytes(big_report(30 * MB))
    cli(tmp_path, "ingest", str(eml))

    listing = cli(tmp_path, "quarantine", "list")
    assert len(listing.splitlines()) == 1 and "over the 25 MB cap" in listing
    item = listing.split()[0]
    shown = cli(tmp_path, "quarantine", "show", item)
    assert "reason: message is 30.8 MB, over the 25 MB cap" in shown
    assert "Subject: Video of the incident" in shown and "The video is" not in shown
    notices = [m for m in spool(cfg) if "could not be processed" in str(m["Subject"])]
    assert {str(m["To"].addresses[0].addr_spec) for m in notices} == STAFF

    # The fix: the team raises the cap, then releases the message.
    set_cap(tmp_path, 40 * MB)
    assert "done" in cli(tmp_path, "quarantine", "release", item)
    assert cli(tmp_path, "quarantine", "list").strip() == "quarantine is empty"
    notes = [m for m in spool(cfg) if "New report" in str(m["Subject"])]
    assert len(notes) == 2
    # 22.5 MB: the file itself, not its base64 on the wire (30 MB)
    assert "incident.mp4 (video/mp4, 22.5 MB)" in body_of(notes[0])
    acks = [m for m in spool(cfg) if "rosa@attendee.example" in str(m["To"])]
    assert len(acks) == 1  # and Rosa finally has her acknowledgement


def test_size_cap_is_configurable_and_release_without_a_fix_keeps_it(tmp_path: Path) -> None:
    make_config(tmp_path)
    assert set_cap(tmp_path, 100_000).inbox.max_message_bytes == 100_000
    eml = tmp_path / "report.eml"
    eml.write_bytes(big_report(150_000))
    cli(tmp_path, "ingest", str(eml))
    item = cli(tmp_path, "quarantine", "list").split()[0]
    assert "quarantined" in cli(tmp_path, "quarantine", "release", item)
    assert "over the" in cli(tmp_path, "quarantine", "show", item)
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "cocmail.toml"),
                                       "quarantine", "release", "999"])
    assert result.exit_code != 0 and "no quarantined message 999" in result.output


def test_listener_takes_mail_over_the_cap_and_quarantines_it(tmp_path: Path) -> None:
    make_config(tmp_path)
    cap = 100_000
    cfg = set_cap(tmp_path, cap)
    app = open_app(cfg)
    port = free_port()
    controller = start_listener(app.store, cfg.inbox.address, "127.0.0.1", port, cap,
                                lambda _id: None)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            refused = client.sendmail("rosa@attendee.example", ["conduct@example.org"],
                                      big_report(cap + 50_000))
            assert refused == {}  # 250: stored, not bounced back to the reporter
            with pytest.raises(smtplib.SMTPResponseException) as too_big:
                client.sendmail("rosa@attendee.example", ["conduct@example.org"],
                                big_report(size_ceiling(cap) + 10_000))
            assert too_big.value.smtp_code == 552  # absurd sizes are still refused
        assert app.pipeline.process_pending() == 1
        app.outbox.deliver_due()
        [row] = app.store.query("SELECT id FROM inbound")
        assert_quarantined_and_staff_told(app, row["id"], "over the")
    finally:
        controller.stop()
        app.close()


# ---------------------------------------------------------------- CPython's test mail

def cpython_email_data() -> list[Path]:
    spec = importlib.util.find_spec("test")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(list(spec.submodule_search_locations)[0]) / "test_email" / "data"
    return sorted(data.glob("msg_*.txt"))


@pytest.mark.skipif(not cpython_email_data(), reason="this Python ships no test.test_email data")
def test_cpython_email_test_data_is_all_processed_or_quarantined(
        make_app: Callable[..., App]) -> None:
    app = make_app(FLOOD_OFF)  # dozens of mails in a moment: each one's mail is checked
    outcomes: dict[str, str] = {}
    for path in cpython_email_data():
        inbound, state = ingest(app, path.read_bytes())
        row = app.store.read(inbound_db.inbound, inbound)
        assert row is not None
        if state == "done":
            assert app.store.read(cases_db.load_case, row["case_number"]) is not None, path.name
        elif state == "duplicate":  # several files are the same mail with other headers
            assert row["error"].startswith("copy of #"), path.name
        elif state in ("ignored", "machine"):  # bounces, machine mail without a case
            audit = app.store.query("SELECT detail FROM audit WHERE action IN ('ignored',"
                                    " 'machine mail') AND case_number IS NULL")
            assert audit, path.name
        else:
            assert state == "quarantined" and row["error"], (path.name, state)
        outcomes[path.name] = state
    app.outbox.deliver_due()
    assert len(outcomes) >= 40
    assert list(outcomes.values()).count("done") >= 30
    assert {r["state"] for r in outgoing(app)} == {"sent"}
    assert_pipeline_goes_on(app)


# ---------------------------------------------------------------- arbitrary bytes

HEADER_NAMES = st.sampled_from([
    b"From", b"To", b"Cc", b"Subject", b"Message-ID", b"In-Reply-To", b"References", b"Date",
    b"Content-Type", b"Content-Transfer-Encoding", b"Content-Disposition", b"MIME-Version",
    b"Auto-Submitted", b"Authentication-Results", b"Return-Path", b"List-Id"])
HEADER_VALUES = st.one_of(st.binary(max_size=60), st.sampled_from([
    b"=?utf-8?q?Dan=0D=0ABcc:_evil@x.org?=", b"multipart/mixed; boundary=x", b"base64",
    b"quoted-printable", b"=?x-nope?b?!!?=", b"<a@b>", b"message/rfc822",
    b"attachment; filename*=utf-8''%ff%fe", b"text/plain; charset=x-unknown", b"\xff\xfe",
    b"multipart/report; report-type=delivery-status; boundary=x", b"<>"]))
BODY_LINES = st.one_of(st.binary(max_size=40), st.sampled_from([
    b"--x", b"--x--", b"Content-Type: text/plain", b"", b"=ZZ", b"#close",
    b"Content-Type: multipart/mixed; boundary=x", b"Content-Transfer-Encoding: base64"]))


@st.composite
def mail_like(draw: st.DrawFn) -> bytes:
    """Bytes shaped like mail (headers, MIME parts), so the parser goes deep, not home."""
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=10))
    body = draw(st.lists(BODY_LINES, max_size=12))
    eol = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    return eol.join(k + b": " + v for k, v in headers) + eol + eol + eol.join(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=400), mail_like()))
def test_parser_raises_nothing_but_message_error(raw: bytes) -> None:
    try:
        parse_message(raw)
    except MessageError:
        pass


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One installation for every hypothesis example: mail piles up as in a real inbox."""
    a = open_app(make_config(tmp_path_factory.mktemp("fuzz")))
    yield a
    a.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=300), mail_like()), min_size=1, max_size=4))
def test_pipeline_never_fails_on_arbitrary_bytes(shared_app: App, raws: list[bytes]) -> None:
    for raw in raws:
        _, state = ingest(shared_app, raw)
        # "pending" would mean an exception inside the pipeline (a retry is due)
        assert state in ("done", "ignored", "machine", "duplicate", "quarantined")
    shared_app.outbox.deliver_due()
    assert {r["state"] for r in outgoing(shared_app)} <= {"sent"}


def test_quarantine_reason_gives_readable_sizes_for_a_small_cap(tmp_path: Path) -> None:
    make_config(tmp_path)
    app = open_app(set_cap(tmp_path, 100_000))
    try:
        inbound, state = ingest(app, big_report(150_000))
        assert state == "quarantined"
        assert " 0 MB" not in app.store.read(inbound_db.inbound, inbound)["error"]  # type: ignore[index]
    finally:
        app.close()
