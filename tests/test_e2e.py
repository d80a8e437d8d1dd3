"""End to end: the real `cocmail` command against a real Dovecot and a real SMTP sink.

Everything goes through `python -m cocmail` in a subprocess with a config file, exactly
as an operator runs it, so these tests catch what unit tests cannot: wiring, exit
codes, JSON on stdout, signals, and what actually arrives at the people's mailboxes.
Mail goes in the way it does in production (IMAP APPEND into Dovecot, SMTP to the
embedded listener, a pipe into `ingest`) and comes out at an aiosmtpd sink.
"""

from __future__ import annotations

import re
import signal
import smtplib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from testsupport.helpers import SEND_AT_ONCE, body_of, mail, make_config
from testsupport.process import cocmail, cocmail_argv, cocmail_env
from testsupport.servers import Dovecot, ImapUser, Received, SmtpSink, free_port, wait_until

INBOX = "conduct@example.org"
STAFF = ("ana@example.org", "ben@example.org")
TEAM = "Example Conf 2027 Code of Conduct team"
ACK_BUDGET_SECONDS = 5.0  # "the reporter hears back at once": a few seconds, not a minute


# ------------------------------------------------------------------ running cocmail
def run_once(config: Path) -> None:
    result = cocmail(config, "run", "--once")
    assert result.code == 0, result.err


@dataclass
class Daemon:
    """A `cocmail run` in the background; its log is kept for failure messages."""

    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> float:
        """SIGTERM, as systemd sends it; returns how long the daemon took to exit."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        return time.monotonic() - start


@pytest.fixture
def start_daemon() -> Iterator[Callable[[Path], Daemon]]:
    started: list[Daemon] = []

    def start(config: Path) -> Daemon:
        log = config.parent / "daemon.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(cocmail_argv(config, "run"), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    cwd=config.parent, env=cocmail_env())
        daemon = Daemon(proc, log)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:  # a failed test must not leave a daemon behind
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(timeout=5)


def write_config(tmp: Path, *, imap: str = "", smtp: str = "", extra: str = "") -> Path:
    """A cocmail.toml in `tmp` (two staff: Ana, a lead, and Ben); returns its path."""
    make_config(tmp, SEND_AT_ONCE + extra, imap=imap, smtp=smtp)
    return tmp / "cocmail.toml"


# ------------------------------------------------------------------ what arrives
def to(messages: list[Received], address: str) -> list[Received]:
    """The mails delivered to `address` (by envelope, which is what a mailbox sees)."""
    return [m for m in messages if address.lower() in (r.lower() for r in m.rcpt_tos)]


def case_number(received: Received) -> int:
    match = re.search(r"\[CoC #(\d+)\]", received.message["Subject"])
    assert match, f"no case tag in {received.message['Subject']!r}"
    return int(match.group(1))


def wait_for_mail_to(sink: SmtpSink, address: str, timeout: float) -> list[Received]:
    wait_until(lambda: to(sink.messages, address), timeout, interval=0.02)
    return to(sink.messages, address)


def report(name: str, address: str, text: str, n: int = 1) -> bytes:
    return mail(f"{name} <{address}>", "Something happened at the party", text,
                message_id=f"<report{n}.{address}>")


def reply_to(note: Received, frm: str, body: str, *, prefix: str = "Re: ",
             message_id: str) -> bytes:
    """A reply to one of cocmail's mails, threaded the way every client does it."""
    msg = note.message
    reply_to_addr = msg["Reply-To"].addresses[0].addr_spec if msg["Reply-To"] else INBOX
    return mail(frm, prefix + msg["Subject"], body, message_id=message_id,
                in_reply_to=msg["Message-ID"], to=reply_to_addr)


def unseen_on_server(dovecot: Dovecot, user: ImapUser) -> bool:
    """True when no message in the user's INBOX carries \\Seen (cocmail only peeks)."""
    with dovecot.connect(user.name) as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    assert flags, "the INBOX is empty"
    return all(b"\\Seen" not in f for f in flags.values())


def imap_config(tmp: Path, dovecot: Dovecot, user: ImapUser, sink: SmtpSink) -> Path:
    return write_config(tmp, imap=dovecot.imap_toml(user.name), smtp=sink.smtp_toml())


EVE = ("Eve Example", "eve@attendee.example")
REPORT_TEXT = "Dan Doe grabbed my arm near the bar at the party.\n"


# ------------------------------------------------------------------ 1. a report via IMAP
def test_report_is_acknowledged_once_and_reaches_every_staff_member(
        tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser, smtp_sink: SmtpSink) -> None:
    config = imap_config(tmp_path, dovecot, imap_user, smtp_sink)
    dovecot.append(imap_user.name, report(*EVE, REPORT_TEXT))

    run_once(config)

    sent = smtp_sink.messages
    assert len(sent) == 3, [m.rcpt_tos for m in sent]
    [ack] = to(sent, EVE[1])
    assert ack.message["Subject"] == "[CoC #1] We have received your report"
    assert ack.message["In-Reply-To"] == f"<report1.{EVE[1]}>"
    for member in STAFF:
        [note] = to(sent, member)
        assert note.message["Subject"].startswith("[CoC #1]")
        assert "grabbed my arm" in body_of(note.message)

    run_once(config)
    assert len(smtp_sink.messages) == 3, "a second run must not answer the report again"
    assert unseen_on_server(dovecot, imap_user), "cocmail flagged mail on the IMAP server"


# ------------------------------------------------------------------ 2. the reporter follows up
def test_reporter_follow_up_reaches_staff_on_the_same_case(
        tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser, smtp_sink: SmtpSink) -> None:
    config = imap_config(tmp_path, dovecot, imap_user, smtp_sink)
    dovecot.append(imap_user.name, report(*EVE, REPORT_TEXT))
    run_once(config)
    [ack] = to(smtp_sink.messages, EVE[1])
    smtp_sink.clear()

    follow_up = reply_to(ack, f"{EVE[0]} <{EVE[1]}>", "I remembered: it was about 23:00.\n",
                         message_id="<followup@attendee.example>")
    dovecot.append(imap_user.name, follow_up)
    run_once(config)

    sent = smtp_sink.messages
    assert sorted(r for m in sent for r in m.rcpt_tos) == sorted(STAFF), "relayed to staff only"
    for m in sent:
        assert case_number(m) == 1
        assert "about 23:00" in body_of(m.message)

    cases = cocmail(config, "cases", "list", "--json")
    assert cases.code == 0, cases.err
    [case] = cases.json()
    assert {"number", "status", "opened", "summary", "missing_steps"} <= case.keys()
    assert case["number"] == 1 and case["status"] == "open"
    datetime.fromisoformat(case["opened"])
    assert case["summary"] is None or isinstance(case["summary"], str)
    assert isinstance(case["missing_steps"], list) and case["missing_steps"]

    shown = cocmail(config, "cases", "show", "1", "--json")
    assert shown.code == 0, shown.err
    detail = shown.json()
    assert {"number", "status", "opened", "reporter", "victim", "accused", "witnesses", "when",
            "where", "summary", "action", "outcome", "others", "handlers", "steps", "messages",
            "audit"} <= detail.keys()
    assert detail["reporter"] == {"name": EVE[0], "email": EVE[1]}
    assert set(detail["steps"]) >= {"acknowledged", "accused_informed", "decision",
                                    "harasser_informed", "victim_informed", "dsf_reported",
                                    "closed"}
    assert detail["steps"]["acknowledged"] is not None
    assert detail["steps"]["closed"] is None
    for message in detail["messages"]:
        assert {"direction", "from", "to", "subject", "date", "message_id"} <= message.keys()
    assert {m["message_id"].strip("<>") for m in detail["messages"]} >= {
        f"report1.{EVE[1]}", "followup@attendee.example"}
    for entry in detail["audit"]:
        assert {"at", "actor", "action", "detail"} <= entry.keys()


# ------------------------------------------------------------------ 3. staff replies
COMMANDS = "#accused Dan Doe <{dan}>\n#action Warned\n#notify-harasser\n"
NOTE = "Spoke to Dan at 10:15; he accepted the warning."
ATTRIBUTION_TIME = "Fri, Jun 4, 2027 at 10:31 PM"


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def _original(note: Received) -> str:
    """What a client quotes: the notification, here with a `#close` a careless
    staff member might have left at the top of the quoted text."""
    return "#close\n" + body_of(note.message)


def _gmail(cmds: str, note: Received) -> tuple[str, str]:
    return "Re: ", (f"{cmds}\n{NOTE}\n\nOn {ATTRIBUTION_TIME} {TEAM} <{INBOX}> wrote:\n\n"
                    f"{_quoted(_original(note))}\n")


def _outlook_original_message(cmds: str, note: Received) -> tuple[str, str]:
    # No blank line: the separator itself must end the command block.
    return "RE: ", (f"{cmds}-----Original Message-----\nFrom: {TEAM} <{INBOX}>\n"
                    f"Sent: Friday, June 4, 2027 10:31 PM\nTo: Ana Lima <ana@example.org>\n"
                    f"Subject: {note.message['Subject']}\n\n{_original(note)}\n")


def _outlook_from_sent(cmds: str, note: Received) -> tuple[str, str]:
    return "RE: ", (f"{cmds}\n{NOTE}\n\n________________________________\n"
                    f"From: {TEAM} <{INBOX}>\nSent: Friday, June 4, 2027 22:31\n"
                    f"To: Ana Lima <ana@example.org>\nSubject: {note.message['Subject']}\n\n"
                    f"{_original(note)}\n")


def _apple_mail(cmds: str, note: Received) -> tuple[str, str]:
    return "Re: ", (f"{cmds}\n{NOTE}\n\n> On 4 Jun 2027, at 22:31, {TEAM} <{INBOX}> wrote:\n"
                    f">\n{_quoted(_original(note))}\n")


def _iphone(cmds: str, note: Received) -> tuple[str, str]:
    return "Re: ", (f"{cmds}\n{NOTE}\n\nSent from my iPhone\n\n"
                    f"> On Jun 4, 2027, at 22:31, {TEAM} <{INBOX}> wrote:\n>\n"
                    f"{_quoted(_original(note))}\n")


def _german(cmds: str, note: Received) -> tuple[str, str]:
    return "AW: ", (f"{cmds}\n{NOTE}\n\nAm 04.06.2027 um 22:31 schrieb {TEAM} <{INBOX}>:\n\n"
                    f"{_quoted(_original(note))}\n")


def _html_only(cmds: str, note: Received) -> tuple[str, str]:
    lines = "".join(f"<div>{_html_escape(c)}</div>" for c in cmds.splitlines())
    quoted = "<br>".join(_html_escape(line) for line in _original(note).splitlines())
    return "Re: ", (f"<html><body>{lines}<div><br></div><div>{NOTE}</div><div><br></div>"
                    f'<div class="gmail_quote"><div>On {ATTRIBUTION_TIME} {TEAM} '
                    f"&lt;{INBOX}&gt; wrote:<br></div>"
                    f'<blockquote class="gmail_quote">{quoted}</blockquote></div>'
                    "</body></html>")


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# format -> (builder, whether the reply carries NOTE below the commands)
REPLY_FORMATS: dict[str, tuple[Callable[[str, Received], tuple[str, str]], bool]] = {
    "gmail": (_gmail, True),
    "outlook-original-message": (_outlook_original_message, False),
    "outlook-from-sent": (_outlook_from_sent, True),
    "apple-mail": (_apple_mail, True),
    "iphone": (_iphone, True),
    "german": (_german, True),
    "html-only": (_html_only, True),
}
SPOOF = "spoofed"


def reporter_of(fmt: str) -> tuple[str, str]:
    return "Rosa Reporter", f"rosa.{fmt}@attendee.example"


def accused_of(fmt: str) -> str:
    return f"dan.{fmt}@x.example"


def staff_reply(fmt: str, note: Received) -> bytes:
    build, _ = REPLY_FORMATS[fmt]
    prefix, body = build(COMMANDS.format(dan=accused_of(fmt)), note)
    subject = prefix + note.message["Subject"]
    msg = EmailMessage()
    msg["From"] = "Ana Lima <ana@example.org>"
    msg["To"] = note.message["Reply-To"].addresses[0].addr_spec
    msg["Subject"] = subject
    msg["Message-ID"] = f"<reply.{fmt}@example.org>"
    msg["In-Reply-To"] = note.message["Message-ID"]
    msg["References"] = note.message["Message-ID"]
    msg.set_content(body, subtype="html" if fmt == "html-only" else "plain")
    return msg.as_bytes()


def spoofed_staff_mail(case: int) -> bytes:
    """Claims to be Ana, but replies to nothing of hers, and its only
    Authentication-Results comes from a server we do not trust."""
    return mail("Ana Lima <ana@example.org>", f"[CoC #{case}] decided, closing",
                f"#accused Mallory Doe <{accused_of(SPOOF)}>\n#action Banned\n"
                "#notify-harasser\n#close\n",
                message_id="<spoof@evil.example>",
                extra={"Authentication-Results":
                       "mx.evil.example; dmarc=pass header.from=example.org"})


@dataclass(frozen=True)
class StaffRound:
    """One installation after a report per reply format and the staff's answers."""

    sent_after_replies: list[Received]
    case_of: dict[str, int]
    cases: dict[int, dict[str, Any]]


@pytest.fixture(scope="module")
def staff_round(dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[StaffRound]:
    """Every reply format in one installation: two `run --once` passes instead of
    two per format, so the whole matrix costs a couple of seconds."""
    if dovecot.proc is None:
        dovecot.start()
    user = dovecot.add_user()
    tmp = tmp_path_factory.mktemp("staff-replies")
    with SmtpSink() as sink:
        config = imap_config(tmp, dovecot, user, sink)
        formats = [*REPLY_FORMATS, SPOOF]
        dovecot.append(user.name, [report(*reporter_of(f), REPORT_TEXT) for f in formats])
        run_once(config)
        case_of = {f: case_number(_one(to(sink.messages, reporter_of(f)[1]))) for f in formats}
        notes = {case_number(m): m for m in to(sink.messages, STAFF[0])}
        sink.clear()

        mails = [staff_reply(f, notes[case_of[f]]) for f in REPLY_FORMATS]
        dovecot.append(user.name, [*mails, spoofed_staff_mail(case_of[SPOOF])])
        run_once(config)

        cases = {}
        for number in case_of.values():
            shown = cocmail(config, "cases", "show", str(number), "--json")
            assert shown.code == 0, shown.err
            cases[number] = shown.json()
        yield StaffRound(sink.messages, case_of, cases)


def _one(items: list[Received]) -> Received:
    assert len(items) == 1, [m.message["Subject"] for m in items]
    return items[0]


@pytest.mark.parametrize("fmt", list(REPLY_FORMATS))
def test_staff_reply_from_any_client_runs_its_commands(staff_round: StaffRound,
                                                        fmt: str) -> None:
    number = staff_round.case_of[fmt]
    case = staff_round.cases[number]
    assert case["accused"] == [{"name": "Dan Doe", "email": accused_of(fmt), "until": None}]
    assert case["action"] == "Warned"
    assert case["steps"]["harasser_informed"] is not None
    assert case["status"] == "open", "a #close in the quoted text ran"
    assert case["steps"]["closed"] is None

    transcripts = [m for m in to(staff_round.sent_after_replies, STAFF[0])
                   if case_number(m) == number]
    assert transcripts, "Ana got no transcript"
    relayed = [body_of(m.message) for m in to(staff_round.sent_after_replies, STAFF[1])
               if case_number(m) == number]
    assert relayed, "Ben was not told about Ana's reply"
    if REPLY_FORMATS[fmt][1]:
        assert any(NOTE in text for text in relayed), "the note did not reach Ben"
    assert not any("grabbed my arm" in text for text in relayed), \
        "the quoted history was kept as part of the note"


@pytest.mark.parametrize("fmt", list(REPLY_FORMATS))
def test_harasser_gets_one_mail_that_names_no_reporter(staff_round: StaffRound,
                                                        fmt: str) -> None:
    harasser_mail = _one(to(staff_round.sent_after_replies, accused_of(fmt)))
    raw = harasser_mail.raw.decode("utf-8", "replace")
    text = body_of(harasser_mail.message)
    assert "Warned" in text, "the harasser is not told the decision"
    name, address = reporter_of(fmt)
    for leak in (name.split()[0], address, "attendee.example", "grabbed", "10:15",
                 f"report1.{address}"):
        assert leak not in raw and leak not in text, f"{leak!r} reached the harasser"


def test_spoofed_staff_mail_runs_nothing_and_the_real_staff_member_is_warned(
        staff_round: StaffRound) -> None:
    number = staff_round.case_of[SPOOF]
    case = staff_round.cases[number]
    assert case["status"] == "open"
    assert case["accused"] == [] and case["action"] is None
    assert case["steps"]["harasser_informed"] is None
    assert to(staff_round.sent_after_replies, accused_of(SPOOF)) == []

    held = [m for m in to(staff_round.sent_after_replies, STAFF[0])
            if case_number(m) == number and "held" in m.message["Subject"].lower()]
    assert held, "Ana was not told that commands in her name were held"
    assert "forged" in body_of(held[0].message).lower()


def test_held_transcript_claims_no_note_when_there_was_none(staff_round: StaffRound) -> None:
    number = staff_round.case_of[SPOOF]
    [held] = [m for m in to(staff_round.sent_after_replies, STAFF[0])
              if case_number(m) == number and "held" in m.message["Subject"].lower()]
    assert "kept as an internal note" not in body_of(held.message)


# ------------------------------------------------------------------ 4. the daemon
def test_daemon_answers_within_seconds_survives_a_dovecot_restart_and_stops_on_sigterm(
        tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser, smtp_sink: SmtpSink,
        start_daemon: Callable[[Path], Daemon]) -> None:
    daemon = start_daemon(imap_config(tmp_path, dovecot, imap_user, smtp_sink))
    # Time the answer from a watching daemon, not the interpreter's start-up.
    assert wait_until(lambda: "logged in to" in daemon.output(), 10.0, interval=0.02), \
        daemon.output()

    started = time.monotonic()
    dovecot.append(imap_user.name, report(*EVE, REPORT_TEXT))
    assert wait_for_mail_to(smtp_sink, EVE[1], ACK_BUDGET_SECONDS), daemon.output()
    assert time.monotonic() - started < ACK_BUDGET_SECONDS

    dovecot.restart()
    bea = ("Bea Example", "bea@attendee.example")
    dovecot.append(imap_user.name, report(*bea, "Someone shouted at me.\n", n=2))
    acks = wait_for_mail_to(smtp_sink, bea[1], 15.0)
    assert acks and acks[0].message["Subject"].startswith("[CoC #2]"), daemon.output()

    took = daemon.terminate()
    assert daemon.proc.returncode == 0, daemon.output()
    assert took < 5.0, f"SIGTERM took {took:.1f}s"
    assert len(to(smtp_sink.messages, EVE[1])) == 1, "acknowledged twice"


# ------------------------------------------------------------------ 5. the embedded listener
def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_embedded_listener_takes_reports_for_the_inbox_only(
        tmp_path: Path, smtp_sink: SmtpSink, start_daemon: Callable[[Path], Daemon]) -> None:
    port = free_port()
    config = write_config(tmp_path, smtp=smtp_sink.smtp_toml(),
                          extra=f'[listen]\nhost = "127.0.0.1"\nport = {port}\n')
    daemon = start_daemon(config)
    assert wait_until(lambda: _listening(port), 10.0, interval=0.05), daemon.output()

    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.mail(EVE[1])[0] == 250
        assert smtp.rcpt(INBOX)[0] == 250
        code, answer = smtp.data(report(*EVE, REPORT_TEXT))
    assert code == 250, answer
    acks = wait_for_mail_to(smtp_sink, EVE[1], ACK_BUDGET_SECONDS)
    assert len(acks) == 1, daemon.output()
    assert acks[0].message["Subject"] == "[CoC #1] We have received your report"

    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("spammer@elsewhere.example")
        assert smtp.rcpt("victim@elsewhere.example")[0] == 550, "an open relay"
        assert smtp.rcpt("conduct@other.example")[0] == 550
        assert smtp.rcpt("conduct+anything@example.org")[0] == 250

    assert daemon.terminate() < 5.0
    assert daemon.proc.returncode == 0, daemon.output()


# ------------------------------------------------------------------ 6. ingest (MTA pipe)
def test_ingest_from_a_file_and_from_stdin_opens_cases(tmp_path: Path,
                                                       smtp_sink: SmtpSink) -> None:
    config = write_config(tmp_path, smtp=smtp_sink.smtp_toml())
    saved = tmp_path / "report.eml"
    saved.write_bytes(report(*EVE, REPORT_TEXT))

    assert cocmail(config, "ingest", str(saved)).code == 0
    bea = ("Bea Example", "bea@attendee.example")
    piped = cocmail(config, "ingest", "-", stdin=report(*bea, "Someone shouted at me.\n"))
    assert piped.code == 0, piped.err
    again = cocmail(config, "ingest", str(saved))  # the MTA retries after a timeout
    assert again.code == 0, again.err

    cases = cocmail(config, "cases", "list", "--json").json()
    assert [c["number"] for c in cases] == [1, 2]
    assert len(to(smtp_sink.messages, EVE[1])) == 1
    assert len(to(smtp_sink.messages, bea[1])) == 1


def test_ingest_exits_75_when_the_message_cannot_be_stored(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    # A file where the storage directory should be: nobody, root included, can store there
    # (a read-only directory would not stop root, who runs the test suite in CI).
    (tmp_path / "data").write_text("not a directory\n")

    result = cocmail(config, "ingest", "-", stdin=report(*EVE, REPORT_TEXT))
    assert result.code == 75, result.err
    assert "Traceback" not in result.err
    assert "could not store" in result.err

