"""Hostile mail end to end: forgeries, header injection, loops, and secrets.

A CoC inbox is a target: the people being reported have a motive to forge staff mail,
to slip an extra recipient into what cocmail sends, or to make it answer forever. Every
test here pushes mail through the real pipeline and looks at what a real SMTP server
received (or at the database and the logs), never at internal decisions.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from email.header import Header
from functools import partial
from pathlib import Path

import pytest

from cocmail.app import App, open_app
from cocmail.clock import utcnow
from cocmail.config import Config
from cocmail.core.case import Case
from cocmail.daemon import Daemon
from cocmail.delivery.outbox import Outbox
from cocmail.pipeline import Pipeline, delivery_failed_notice
from cocmail.store import Store
from cocmail.store import cases as cases_db
from testsupport.helpers import FLOOD_OFF, SEND_AT_ONCE, body_of, mail, make_config, spool
from testsupport.servers import Dovecot, ImapUser, Received, SmtpSink

SPOOF = Path(__file__).parent / "data" / "spoof"
AUTO = Path(__file__).parent / "data" / "auto"
SPOOF_SECRET = b"spoof-corpus-secret"  # what the corpus's valid tokens were signed with
STAFF = ("ana@example.org", "ben@example.org")
# The headers cocmail writes; anything else in a sent mail was injected.
OWN_HEADERS = {"from", "to", "reply-to", "subject", "date", "message-id", "in-reply-to",
               "references", "auto-submitted", "x-auto-response-suppress", "x-cocmail-loop",
               "content-type", "content-transfer-encoding", "mime-version"}


def ingest(app: App, raw: bytes) -> str:
    state = app.receive(raw, "test")
    assert state != "already stored"
    return state


def report_mail(n: int, sender: str | None = None) -> bytes:
    sender = sender or f"reporter{n}@attendee.example"
    return mail(f"Reporter {n} <{sender}>", f"Report {n}", f"Something happened ({n}).\n",
                message_id=f"<report-{n}@attendee.example>")


# ================================================================ the spoof corpus

def app_with_secret(cfg: Config, secret: bytes) -> App:
    """open_app's wiring, with the corpus's secret (shorter than a real key may be)."""
    store = Store(cfg.storage.db_path)
    pipeline = Pipeline(cfg, store, secret)
    outbox = Outbox(store, cfg.smtp, cfg.storage.spool_dir,
                    on_failed=partial(delivery_failed_notice, pipeline))
    return App(cfg, store, secret, pipeline, outbox)


def material(case: Case) -> Case:
    """What a forgery must not change: everything but the time of the last activity."""
    return replace(case, last_activity=None)


@dataclass
class Outcome:
    state: str
    changed: list[int]  # cases whose people, facts, steps or status changed
    mails: list[Received]  # what the SMTP server received because of this one mail


@pytest.fixture(scope="module")
def spoofed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Twelve real cases (the corpus aims at #12, one file at #7), then every forgery."""
    with SmtpSink() as sink:
        tmp = tmp_path_factory.mktemp("spoof")
        app = app_with_secret(make_config(tmp, FLOOD_OFF, smtp=sink.smtp_toml()),
                              SPOOF_SECRET)
        try:
            for n in range(1, 13):
                assert ingest(app, report_mail(n)) == "done"
            outcomes = {}
            for path in sorted(SPOOF.glob("*.eml")):
                numbers = app.store.read(cases_db.case_numbers, include_closed=True)
                before = {n: material(app.store.read(cases_db.load_case, n)) for n in numbers}  # type: ignore
                sink.clear()
                state = ingest(app, path.read_bytes())
                changed = [n for n in numbers
                           if material(app.store.read(cases_db.load_case, n)) != before[n]]  # type: ignore
                outcomes[path.name] = Outcome(state, changed, sink.messages)
            yield outcomes
        finally:
            app.close()


SPOOF_FILES = sorted(p.name for p in SPOOF.glob("*.eml"))
# Forgeries whose single From is Ana's real address: she must hear about them.
CLAIM_ANA = sorted(name for name in SPOOF_FILES if name not in {
    "display_name_staff.eml", "encoded_word_from.eml", "from_two_mailboxes.eml",
    "reply_to_and_sender_staff.eml", "two_from_headers.eml", "token_for_another_case.eml"})


def to_staff(mails: list[Received], address: str) -> list[Received]:
    return [m for m in mails if m.rcpt_tos == (address,)]


@pytest.mark.parametrize("name", [n for n in SPOOF_FILES if n != "token_for_another_case.eml"])
def test_forgery_changes_no_case(spoofed: dict[str, Outcome], name: str) -> None:
    outcome = spoofed[name]
    assert outcome.state == "done"  # recorded, not dropped
    assert outcome.changed == []


@pytest.mark.parametrize("name", SPOOF_FILES)
def test_forgery_is_never_answered_with_commands_or_a_transcript(
        spoofed: dict[str, Outcome], name: str) -> None:
    for m in spoofed[name].mails:
        if m.rcpt_tos[0] in STAFF:
            continue
        # A non-staff sender with no case yet is a reporter: an acknowledgement only.
        assert "We have received your report" in str(m.message["Subject"]), m.rcpt_tos
        assert "#close" not in body_of(m.message)


@pytest.mark.parametrize("name", CLAIM_ANA)
def test_the_real_staff_member_is_told_her_name_was_used(spoofed: dict[str, Outcome],
                                                         name: str) -> None:
    mails = spoofed[name].mails
    held = [m for m in to_staff(mails, "ana@example.org")
            if "Commands held" in str(m.message["Subject"])]
    assert len(held) == 1, [str(m.message["Subject"]) for m in mails]
    text = body_of(held[0].message)
    assert "may be forged" in text.lower() and "#close" in text
    assert {m.rcpt_tos[0] for m in mails} <= set(STAFF)  # and nobody else hears of it
    relayed = to_staff(mails, "ben@example.org")
    assert relayed and all("Commands" not in str(m.message["Subject"]) for m in relayed)


@pytest.mark.parametrize("name", sorted(set(SPOOF_FILES) - set(CLAIM_ANA)
                                        - {"token_for_another_case.eml"}))
def test_mail_from_someone_else_reaches_all_staff_as_a_plain_message(
        spoofed: dict[str, Outcome], name: str) -> None:
    mails = spoofed[name].mails
    for address in STAFF:
        got = to_staff(mails, address)
        assert got, address
        assert all("Commands" not in str(m.message["Subject"]) for m in got)


def test_a_genuine_token_works_only_on_its_own_case(spoofed: dict[str, Outcome]) -> None:
    # Ana's valid token for case 7 threads the mail to case 7, whatever its subject says;
    # there it is her reply (docs/mail.md, matching rule 1 and "Who may run commands").
    outcome = spoofed["token_for_another_case.eml"]
    assert outcome.changed == [7]
    transcript = to_staff(outcome.mails, "ana@example.org")
    assert [str(m.message["Subject"]) for m in transcript if "Commands" in
            str(m.message["Subject"])] == ["[CoC #7] Commands done"]


# ================================================================ header injection

@pytest.fixture
def app(make_app: Callable[..., App], smtp_sink: SmtpSink) -> App:
    return make_app(SEND_AT_ONCE, smtp=smtp_sink.smtp_toml())


def assert_nothing_injected(sink: SmtpSink) -> None:
    """Each mail has only the headers cocmail writes, each once, and goes to its To only."""
    assert sink.messages
    for m in sink.messages:
        names = [k.lower() for k in m.message.keys()]
        assert set(names) <= OWN_HEADERS, (m.rcpt_tos, names)
        assert len(names) == len(set(names)), names
        assert "Subject" in m.message and "Message-ID" in m.message, "header block cut short"
        to = m.message["To"].addresses
        assert len(to) == 1 and m.rcpt_tos == (to[0].addr_spec,)
        assert "evil" not in " ".join(m.rcpt_tos)
        head = m.raw.split(b"\r\n\r\n", 1)[0]
        assert b"\nBcc" not in head and b"\nX-Injected" not in head


def double_encoded(text: str) -> str:
    """An encoded-word whose decoded text is itself an encoded-word."""
    return Header(text, "utf-8").encode()


INJECTED_NAMES = {
    "encoded CR/LF": "=?utf-8?q?Eve=0D=0ABcc:_evil@x.org?=",
    "encoded CR/LF, no specials": "=?utf-8?q?Eve=0D=0AX-Injected=3A_yes?=",
    "double-encoded CR/LF": double_encoded("=?utf-8?q?Eve=0D=0ABcc=3A_evil=40x.org?="),
    "double-encoded blank line": double_encoded("=?utf-8?q?Eve=0D=0A=0D=0AFake_body?="),
}


@pytest.mark.parametrize("kind", list(INJECTED_NAMES))
def test_reporter_display_name_cannot_add_a_header_or_recipient(
        app: App, smtp_sink: SmtpSink, kind: str) -> None:
    raw = (f"From: {INJECTED_NAMES[kind]} <eve@attendee.example>\r\n"
           "To: conduct@example.org\r\nSubject: A report\r\n"
           "Message-ID: <injection-1@attendee.example>\r\n\r\nDan was rude to me.\r\n").encode()
    assert ingest(app, raw) == "done"
    assert_nothing_injected(smtp_sink)
    assert {m.rcpt_tos[0] for m in smtp_sink.messages} <= {*STAFF, "eve@attendee.example"}


def test_subject_with_encoded_line_breaks_stays_in_the_body(app: App,
                                                            smtp_sink: SmtpSink) -> None:
    subject = "=?utf-8?q?Help=0D=0ABcc:_evil@x.org=0D=0A=0D=0Afake_body?="
    raw = mail("Eve <eve@attendee.example>", "x", "Dan was rude.\n",
               message_id="<injection-2@attendee.example>").replace(
        b"Subject: x", b"Subject: " + subject.encode())
    assert ingest(app, raw) == "done"
    assert_nothing_injected(smtp_sink)
    note = to_staff(smtp_sink.messages, "ana@example.org")[0]
    assert "Help Bcc: evil@x.org" in body_of(note.message)  # shown to staff, on one line


def staff_reply(app: App, sink: SmtpSink, body: str) -> None:
    note = to_staff(sink.messages, "ana@example.org")[0]
    reply = mail("Ana Lima <ana@example.org>", "Re: " + str(note.message["Subject"]), body,
                 message_id=f"<ana-{secrets.token_hex(4)}@example.org>",
                 in_reply_to=str(note.message["Message-ID"]))
    assert ingest(app, reply) == "done"


def test_names_in_staff_commands_cannot_add_a_header_or_recipient(
        app: App, smtp_sink: SmtpSink) -> None:
    ingest(app, report_mail(1))
    staff_reply(app, smtp_sink,
                "#accused =?utf-8?q?Dan=0D=0ABcc:_evil@x.org?= <dan@x.example>\n"
                "#victim =?utf-8?q?Vic=0A=0D=0A=0DFake_body?= <vic@x.example>\n"
                "#action Warned\n#outcome warning\n"
                "#notify-accused\n#notify-harasser\n#notify-victim\n\nDone.\n")
    got = {m.rcpt_tos[0] for m in smtp_sink.messages}
    assert {"dan@x.example", "vic@x.example"} <= got
    assert_nothing_injected(smtp_sink)


def test_raw_line_breaks_in_a_command_value_never_reach_a_header(
        app: App, smtp_sink: SmtpSink) -> None:
    ingest(app, report_mail(1))
    staff_reply(app, smtp_sink, "#accused Dan\rBcc: evil@x.org <dan@x.example>\n"
                "#notify-accused\n")
    assert_nothing_injected(smtp_sink)
    assert "dan@x.example" not in {m.rcpt_tos[0] for m in smtp_sink.messages}


# ================================================================ loops

@pytest.fixture
def spooled(tmp_path: Path) -> Iterator[App]:
    a = open_app(make_config(tmp_path))
    yield a
    a.close()


def recipients(app: App) -> list[str]:
    return [str(m["To"].addresses[0].addr_spec) for m in spool(app.cfg)]


@pytest.mark.parametrize("name", sorted(p.name for p in AUTO.glob("*.eml")))
def test_automatic_mail_is_never_answered(spooled: App, name: str) -> None:
    ingest(spooled, (AUTO / name).read_bytes())
    assert set(recipients(spooled)) <= set(STAFF)
    assert not spooled.store.query("SELECT id FROM outbox WHERE kind='ack'")


def ack_of(app: App) -> object:
    return next(m for m in spool(app.cfg) if "We have received" in str(m["Subject"]))


def test_vacation_reply_to_an_ack_is_shown_to_staff_and_not_answered(spooled: App) -> None:
    ingest(spooled, report_mail(1, "eve@attendee.example"))
    ack = ack_of(spooled)
    vacation = mail("Eve <eve@attendee.example>", "Out of office: " + str(ack["Subject"]),
                    "I am away until Monday.\n", message_id="<vacation-1@attendee.example>",
                    in_reply_to=str(ack["Message-ID"]),
                    extra={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"})
    before = len(spool(spooled.cfg))
    ingest(spooled, vacation)
    new = spool(spooled.cfg)[before:]
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in new) == list(STAFF)
    assert all("automatic" in body_of(m) and "[CoC #1]" in str(m["Subject"]) for m in new)


def dsn_for(original: object) -> bytes:
    """A Postfix-style bounce quoting the headers of a mail cocmail sent."""
    quoted = (f"From: {original['From']}\r\nTo: {original['To']}\r\n"  # type: ignore[index]
              f"Subject: {original['Subject']}\r\n"  # type: ignore[index]
              f"Message-ID: {original['Message-ID']}\r\n")  # type: ignore[index]
    return (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.attendee.example (Mail Delivery System)\r\n"
        "To: conduct@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.attendee.example>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        " boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "Your message could not be delivered: mailbox full.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; eve@attendee.example\r\nAction: failed\r\n"
        "Status: 5.2.2\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        + quoted + "\r\n--B--\r\n").encode()


def test_bounce_of_a_case_mail_is_shown_to_staff_on_that_case(spooled: App) -> None:
    ingest(spooled, report_mail(1, "eve@attendee.example"))
    ingest(spooled, report_mail(2))
    before = len(spool(spooled.cfg))
    ingest(spooled, dsn_for(ack_of(spooled)))
    new = spool(spooled.cfg)[before:]
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in new) == list(STAFF)
    assert all(str(m["Subject"]).startswith("[CoC #1]") for m in new)
    assert all("mailbox full" in body_of(m) for m in new)
    kinds = spooled.store.query("SELECT kind FROM messages WHERE case_number=1 AND"
                                " direction='in'")
    assert [k["kind"] for k in kinds] == ["report", "bounce"]


def test_our_own_mail_coming_back_is_never_answered(spooled: App) -> None:
    ingest(spooled, report_mail(1, "eve@attendee.example"))
    for sent in list(spool(spooled.cfg)):
        before = len(spool(spooled.cfg))
        ingest(spooled, sent.as_bytes())  # e.g. a reporter's address forwarding to us
        assert set(recipients(spooled)[before:]) <= set(STAFF)
    assert spooled.store.read(cases_db.case_numbers) == [1]
    assert len(spooled.store.query("SELECT id FROM outbox WHERE kind='ack'")) == 1


def test_list_mail_is_never_answered(spooled: App) -> None:
    listed = mail("Conference Announce <announce@lists.example>", "CfP closes Friday",
                  "Submit your talks!\n", message_id="<cfp@lists.example>",
                  extra={"List-Id": "Announcements <announce.lists.example>",
                         "Precedence": "list"})
    ingest(spooled, listed)
    assert set(recipients(spooled)) <= set(STAFF)


def test_sixth_report_in_a_day_from_one_sender_gets_no_acknowledgement(spooled: App) -> None:
    for n in range(1, 7):
        assert ingest(spooled, report_mail(n, "eve@attendee.example")) == "done"
    ingest(spooled, report_mail(7, "zoe@attendee.example"))
    assert spooled.store.read(cases_db.case_numbers) == [1, 2, 3, 4, 5, 6, 7]
    acks = [m for m in spool(spooled.cfg) if "We have received" in str(m["Subject"])]
    assert [str(m["To"].addresses[0].addr_spec) for m in acks] == \
        ["eve@attendee.example"] * 5 + ["zoe@attendee.example"]
    assert "[CoC #6]" not in " ".join(str(m["Subject"]) for m in acks)
    # Staff still hear of the sixth report.
    assert sum("[CoC #6] New report" in str(m["Subject"]) for m in spool(spooled.cfg)) == 2


# ================================================================ secrets and files

PASSWORD_ENV = "COCMAIL_TEST_IMAP_PASSWORD"


def imap_toml(dovecot: Dovecot, user: str) -> str:
    return (f'[imap]\nhost = "{dovecot.host}"\nport = {dovecot.port}\nsecurity = "none"\n'
            f'username = "{user}"\npassword_env = "{PASSWORD_ENV}"\n')


def cocmail(tmp_path: Path, password: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, PASSWORD_ENV: password}
    return subprocess.run([sys.executable, "-m", "cocmail", "--config",
                           str(tmp_path / "cocmail.toml"), *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def stored_bytes(cfg: Config) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(cfg.storage.db_path) + suffix)
        if path.exists():
            data += path.read_bytes()
    return data


@pytest.mark.parametrize("debug", [False, True])
def test_refused_imap_password_is_never_logged_or_stored(
        tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser, debug: bool) -> None:
    cfg = make_config(tmp_path, imap=imap_toml(dovecot, imap_user.name))
    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    result = cocmail(tmp_path, wrong, *(["--debug"] if debug else []), "run", "--once")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "login" in output.lower() or "authentication" in output.lower()
    assert wrong not in output
    assert wrong.encode() not in stored_bytes(cfg)


def test_working_imap_password_is_used_but_never_logged_or_stored(
        tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser) -> None:
    cfg = make_config(tmp_path, imap=imap_toml(dovecot, imap_user.name))
    dovecot.append(imap_user.name, report_mail(1))
    result = cocmail(tmp_path, imap_user.password, "--debug", "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "processed 1 message" in result.stderr
    assert imap_user.password not in result.stdout + result.stderr
    assert imap_user.password.encode() not in stored_bytes(cfg)


def test_refused_login_in_process_logs_no_password(
        tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    caplog.set_level(logging.DEBUG)
    # Even with the protocol library's own logger opened up (cocmail keeps it at WARNING).
    caplog.set_level(logging.DEBUG, logger="imapclient")
    app = open_app(make_config(tmp_path, imap=imap_toml(dovecot, imap_user.name)))
    try:
        with pytest.raises(Exception) as refused:
            Daemon(app).run_once()
        assert wrong not in str(refused.value)
    finally:
        app.close()
    assert "imap" in caplog.text.lower() and wrong not in caplog.text


def test_database_wal_secret_and_spool_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        app = open_app(make_config(tmp_path))
        try:
            ingest(app, report_mail(1))
            data = app.cfg.storage.dir
            files = [app.cfg.storage.db_path, Path(str(app.cfg.storage.db_path) + "-wal"),
                     app.cfg.storage.secret_path, *app.cfg.storage.spool_dir.glob("*.eml")]
            assert len(files) == 6
            for path in files:
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert stat.S_IMODE(data.stat().st_mode) == 0o700
        finally:
            app.close()
    finally:
        os.umask(old)


def test_logs_of_a_report_carry_no_body_subject_or_address(
        tmp_path: Path, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    now = [utcnow() + timedelta(minutes=1)]
    app = open_app(make_config(tmp_path, smtp=smtp_sink.smtp_toml()), clock=lambda: now[0])
    try:
        raw = mail("Quentin Zabriskie <quentin.zabriskie@attendee.example>",
                   "Yolanda Xiong cornered me", "Yolanda Xiong grabbed my wrist at the bar.\n",
                   message_id="<A1B2C3@mail.example>")
        # The server's replies quote the address; they end up in the outbox log lines.
        smtp_sink.fail_next("rcpt", "451 4.2.0 <quentin.zabriskie@attendee.example> busy")
        ingest(app, raw)
        now[0] += timedelta(hours=1)
        smtp_sink.fail_next("rcpt", "550 5.1.1 <quentin.zabriskie@attendee.example> unknown")
        app.outbox.deliver_due()  # -> failed, staff told
        ingest(app, b"From: Quentin Zabriskie <quentin.zabriskie@attendee.example>\r\n\r\n")
        ingest(app, b"")  # quarantined
        assert len(smtp_sink.messages) >= 4
    finally:
        app.close()
    # Everything logged in this process except by the test's own SMTP server (aiosmtpd).
    text = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert "case #1" in text and "A1B2C3@mail.example" in text  # what logs are for
    assert "failed permanently" in text and "quarantined" in text
    for secret_word in ("quentin", "zabriskie", "yolanda", "xiong", "grabbed", "cornered"):
        assert secret_word not in text.lower(), secret_word
