"""Mail from the wild (issue 23): machine mail recognised, every sender found, every
charset read.

Each mail in tests/data/wild/ (written for these tests by make.py there) goes through
the real `cocmail ingest` command; MANIFEST.toml says what the team must see: machine
mail kept aside and never answered, reports acknowledged to the address their From
holds whatever its display name, and every word readable in the staff notification.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cocmail.app import open_app
from cocmail.cli import main
from cocmail.clock import utcnow
from cocmail.config import Config
from cocmail.core.message import parse_message
from cocmail.core.screening import SIGNALS, screen
from cocmail.retention import purge_due
from testsupport.helpers import body_of, mail, make_config, spool

WILD = Path(__file__).parent / "data" / "wild"
MANIFEST: dict[str, dict[str, str]] = tomllib.loads((WILD / "MANIFEST.toml").read_text())
STAFF = {"ana@example.org", "ben@example.org"}
Cli = Callable[..., Result]


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = CliRunner()
    config = str(tmp_path / "cocmail.toml")

    def invoke(*args: str, input: bytes | None = None) -> Result:
        return runner.invoke(main, ["--config", config, *args], input=input,
                             catch_exceptions=False)

    return invoke


def flat(text: str) -> str:
    """A notification's text without quote marks and line wrapping."""
    lines = [re.sub(r"^\s*>\s?", "", line) for line in text.splitlines()]
    return re.sub(r"\s+", " ", " ".join(lines))


def rows(cfg: Config, sql: str, params: tuple = ()) -> list[dict]:
    app = open_app(cfg)
    try:
        return app.store.query(sql, params)
    finally:
        app.close()


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_wild_mail_through_cocmail_ingest(cli: Cli, cfg: Config, name: str) -> None:
    expected = MANIFEST[name]
    result = cli("ingest", str(WILD / name))
    assert result.exit_code == 0, result.output
    [inbound] = rows(cfg, "SELECT * FROM inbound")
    sent = spool(cfg)
    outbox = rows(cfg, "SELECT kind, recipients, state FROM outbox")
    if expected["outcome"] == "machine":
        assert inbound["state"] == "machine" and inbound["case_number"] is None
        assert expected["reason"] in inbound["error"]
        assert inbound["raw"], "machine mail is kept, never dropped"
        assert outbox == [] and sent == [], "machine mail is never answered nor relayed"
        assert rows(cfg, "SELECT number FROM cases") == []
        listing = cli("inbound", "list", "--machine").output
        assert f"{inbound['id']:>6}" in listing and expected["reason"] in listing
        return
    if expected["outcome"] == "ignored":  # a bounce of no case mail: nobody hears of it
        assert inbound["state"] == "ignored" and inbound["case_number"] is None
        assert outbox == [] and sent == [] and rows(cfg, "SELECT number FROM cases") == []
        return
    assert inbound["state"] == "done", inbound["error"]
    case = inbound["case_number"]
    notices = [m for m in sent if "We have received" not in str(m["Subject"])]
    assert {m["To"].addresses[0].addr_spec for m in notices} == STAFF
    acks = [r for r in outbox if r["kind"] == "ack"]
    if expected["outcome"] == "case":
        assert [json.loads(r["recipients"]) for r in acks] == [[expected["ack_to"]]]
        if "greet" in expected:
            [ack] = [m for m in sent if "We have received" in str(m["Subject"])]
            hello = f"Hello {expected['greet']}," if expected["greet"] else "Hello,"
            assert body_of(ack).splitlines()[0] == hello
    else:
        assert acks == []
    note = flat(body_of(notices[0]))
    for key in ("text", "reporter", "why", "attached", "shown"):
        if key in expected:
            assert flat(expected[key]) in note, (key, note)
    if "reason" in expected:
        audit = rows(cfg, "SELECT detail FROM audit WHERE case_number=? AND"
                          " action='no acknowledgement'", (case,))
        assert expected["reason"] in audit[0]["detail"]
    shown = json.loads(cli("cases", "show", str(case), "--json").output)
    if expected["outcome"] == "case":
        assert shown["reporter"]["email"] == expected["ack_to"]
    elif "why" in expected:
        assert shown["reporter"] is None


def test_machine_mail_is_counted_in_the_digest_and_a_report_still_opens(
        cli: Cli, cfg: Config) -> None:
    machine = [n for n, e in MANIFEST.items() if e["outcome"] == "machine"]
    for name in machine:
        assert cli("ingest", str(WILD / name)).exit_code == 0
    report = mail("Eve <eve@attendee.example>", "Something happened",
                  "Someone grabbed my arm at the bar.\n", message_id="<r1@attendee.example>")
    assert cli("ingest", "-", input=report).exit_code == 0
    digest = flat(cli("digest", "--print").output)
    assert f"Set aside as machine mail: {len(machine)} messages" in digest
    assert "cocmail inbound list --machine" in digest
    listing = cli("inbound", "list", "--machine").output
    assert listing.count("why:") == len(machine)
    summary = cli("inbound", "list").output
    assert re.search(rf"machine\s+{len(machine)}\b", summary)
    assert re.search(r"done\s+1\b", summary)
    assert [r["number"] for r in rows(cfg, "SELECT number FROM cases")] == [1]

    # The same out-of-office reply, answering the acknowledgement, is shown to staff on
    # the case (marked automatic) and answered by nobody: only mail matching no case is
    # set aside.
    ack = next(m for m in spool(cfg) if "We have received" in str(m["Subject"]))
    oof = (WILD / "oof_exchange_no_auto_submitted.eml").read_bytes().replace(
        b"Message-ID: <oof-1", b"Message-ID: <oof-2").replace(
        b"Thread-Topic:", f"In-Reply-To: {ack['Message-ID']}\r\nThread-Topic:".encode())
    before = len(spool(cfg))
    assert cli("ingest", "-", input=oof).exit_code == 0
    new = spool(cfg)[before:]
    assert {m["To"].addresses[0].addr_spec for m in new} == STAFF
    assert all("automatic" in body_of(m) for m in new)
    [row] = rows(cfg, "SELECT state, case_number FROM inbound ORDER BY id DESC LIMIT 1")
    assert row == {"state": "done", "case_number": 1}


# ------------------------------------------------------------------ the pure rules

def headers_mail(*headers: str, sender: str = "Jane Doe <jane@mail.example>",
                 subject: str = "Something happened") -> bytes:
    head = [f"From: {sender}", "To: conduct@example.org", f"Subject: {subject}",
            "Message-ID: <h-1@mail.example>", *headers]
    return ("\r\n".join(head) + "\r\n\r\nSomeone grabbed my arm at the bar.\r\n").encode()


WEAK = [("X-Auto-Response-Suppress: All",), ("X-Auto-Response-Suppress: OOF",),
        ("X-Loop: conduct@example.org",),
        ("List-Id: <events.lists.example>", "List-Post: <mailto:events@lists.example>",
         "Precedence: list"),
        ("X-MS-Exchange-Inbox-Rules-Loop: jane@mail.example",)]


@pytest.mark.parametrize("headers", WEAK)
def test_one_weak_signal_stops_the_answer_but_never_the_case(headers: tuple[str, ...]) -> None:
    verdict = screen(parse_message(headers_mail(*headers)), "conduct@example.org")
    assert verdict.automatic and not verdict.machine


def test_list_mail_is_told_apart_from_bulk_mail_and_from_our_own_group() -> None:
    """A discussion list (people post to it) is a weak signal; List-Id or
    List-Unsubscribe without List-Post is a newsletter; and the conduct address run as a
    group, handing reports on to cocmail, is no signal at all: they are acknowledged."""
    bulk = screen(parse_message(headers_mail("List-Unsubscribe: <https://news.example/u>",
                                             "List-Id: <news.example>")), "conduct@example.org")
    assert bulk.machine and bulk.signals == ("bulk-mail",)
    group = ["List-Id: <conduct.example.org>", "List-Post: <mailto:conduct@example.org>",
             "List-Unsubscribe: <mailto:conduct+unsubscribe@example.org>",
             "Precedence: list"]
    ours = screen(parse_message(headers_mail(*group)), "conduct@example.org")
    assert not ours.automatic, ours.reason


@pytest.mark.parametrize("sender", ["Forms <noreply@site.example>",
                                    "<no-reply@site.example>", "<do-not-reply@site.example>",
                                    "<donotreply@site.example>",
                                    "<calendar-noreply@site.example>",
                                    "<no_reply.billing@site.example>"])
def test_no_reply_senders_are_recognised_but_alone_stay_reports(sender: str) -> None:
    verdict = screen(parse_message(headers_mail(sender=sender)), "conduct@example.org")
    assert verdict.signals == ("no-reply-sender",) and not verdict.machine
    with_list = screen(parse_message(headers_mail("List-Unsubscribe: <https://x.example>",
                                                  sender=sender)), "conduct@example.org")
    assert with_list.machine
    # People whose address merely holds "reply" are people.
    person = sender.replace("no", "o").replace("do-not-", "").replace("dont", "")
    for lookalike in (person, "Nora Reply <nora.reply@site.example>", "<noreen@site.example>",
                      "<knoreply@site.example>"):
        assert not screen(parse_message(headers_mail(sender=lookalike)),
                          "conduct@example.org").automatic, lookalike


@pytest.mark.parametrize("header", ["X-AutoReply-From: jane@mail.example",
                                    "X-Mail-Autoreply: jane@mail.example",
                                    "X-Autogenerated: Reply", "X-FC-MachineGenerated: true",
                                    "X-Autoresponder: yes", "X-Autoresponse: on",
                                    "X-Auto-Reply: yes", "X-Vacation: yes",
                                    "Delivered-To: Autoresponder",
                                    "X-POST-MessageClass: 9; Autoresponder"])
def test_other_autoresponders_headers_make_machine_mail(header: str) -> None:
    assert screen(parse_message(headers_mail(header)), "conduct@example.org").machine


@pytest.mark.parametrize("subject", ["Automatic reply: your mail", "Out of Office: back Monday",
                                     "Abwesenheitsnotiz", "Réponse automatique : absent"])
def test_out_of_office_subject_with_suppress_header_is_machine(subject: str) -> None:
    verdict = screen(parse_message(headers_mail("X-Auto-Response-Suppress: All",
                                                subject=subject)), "conduct@example.org")
    assert verdict.machine
    # A subject that only mentions an automatic reply is a person's.
    assert not screen(parse_message(headers_mail(
        subject="He kept sending me an automatic reply bot")), "conduct@example.org").automatic


def test_every_signal_has_a_weight_and_every_mail_an_outcome() -> None:
    assert {p.name for p in WILD.glob("*.eml")} == set(MANIFEST)
    names = set()
    for name in MANIFEST:
        raw = (WILD / name).read_bytes()
        names |= set(screen(parse_message(raw), "conduct@example.org").signals)
    assert names <= set(SIGNALS)
    assert {"feedback-report", "read-receipt", "no-reply-sender", "x-loop",
            "suppress-auto-response"} <= names


def test_machine_mail_is_emptied_by_the_purge_after_90_days(cli: Cli, cfg: Config) -> None:
    assert cli("ingest", str(WILD / "oof_outlook_german.eml")).exit_code == 0
    app = open_app(cfg)
    try:
        purge_due(app, utcnow() + timedelta(days=89))
        [kept] = app.store.query("SELECT raw, sender, subject FROM inbound")
        assert kept["raw"] and kept["sender"] == "jana.krause@firma.example"
        purge_due(app, utcnow() + timedelta(days=91))
        [row] = app.store.query("SELECT state, raw, sender, subject, error FROM inbound")
        assert row == {"state": "machine", "raw": None, "sender": None, "subject": None,
                       "error": None}
        audit = app.store.query("SELECT actor, detail FROM audit")
        assert all("jana" not in str(a) and "Antwort" not in str(a) for a in audit)
    finally:
        app.close()
    assert "Jana" not in cli("inbound", "list", "--machine").output


def test_an_outlook_that_asks_for_no_auto_replies_gets_none_but_is_heard(
        cli: Cli, cfg: Config) -> None:
    """X-Auto-Response-Suppress alone: the report opens a case without acknowledgement,
    the reporter's next mail is relayed as hers, and staff commands in it still run."""
    suppress = {"X-Auto-Response-Suppress": "All"}
    report = mail("Priya Raman <priya@corp.example>", "Something happened",
                  "Someone grabbed my arm at the bar.\n", message_id="<p1@corp.example>",
                  extra=suppress)
    assert cli("ingest", "-", input=report).exit_code == 0
    assert not [m for m in spool(cfg) if "We have received" in str(m["Subject"])]
    more = mail("Priya Raman <priya@corp.example>", "Re: Something happened",
                "He was wearing a red lanyard.\n", message_id="<p2@corp.example>",
                in_reply_to="<p1@corp.example>", extra=suppress)
    before = len(spool(cfg))
    assert cli("ingest", "-", input=more).exit_code == 0
    relays = spool(cfg)[before:]
    assert {m["To"].addresses[0].addr_spec for m in relays} == STAFF
    assert all("red lanyard" in body_of(m) and "automatic" not in str(m["Subject"]).lower()
               for m in relays)
    note = next(m for m in relays if m["To"].addresses[0].addr_spec == "ana@example.org")
    reply = mail("Ana Lima <ana@example.org>", "Re: " + str(note["Subject"]),
                 "#when Friday 22:00\n#where the bar\n", message_id="<ana1@example.org>",
                 in_reply_to=str(note["Message-ID"]),
                 to=note["Reply-To"].addresses[0].addr_spec, extra=suppress)
    assert cli("ingest", "-", input=reply).exit_code == 0
    shown = json.loads(cli("cases", "show", "1", "--json").output)
    assert (shown["when"], shown["where"]) == ("Friday 22:00", "the bar")


def test_a_digest_a_person_forwards_is_still_a_report() -> None:
    """Mutt forwards several mails as one multipart/digest: a reporter's evidence. The
    digest alone is one weak signal; a list's digest also has its list headers and its
    -request sender, and is machine mail."""
    forwarded = (b"From: Kim Sato <kim@attendee.example>\r\nTo: conduct@example.org\r\n"
                 b"Subject: The messages he sent me\r\nMessage-ID: <fwd-9@attendee.example>\r\n"
                 b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
                 b"--m\r\nContent-Type: text/plain\r\n\r\nHe kept writing to me, see below.\r\n"
                 b"--m\r\nContent-Type: multipart/digest; boundary=\"d\"\r\n\r\n--d\r\n\r\n"
                 b"From: Max <max@attendee.example>\r\nSubject: hey\r\n\r\nanswer me\r\n"
                 b"--d--\r\n--m--\r\n")
    verdict = screen(parse_message(forwarded), "conduct@example.org")
    assert verdict.signals == ("list-digest",) and not verdict.machine
    digest = screen(parse_message((WILD / "mailman_mime_digest.eml").read_bytes()),
                    "conduct@example.org")
    assert {"list-digest", "list-server-sender", "mailing-list"} <= set(digest.signals)


@pytest.mark.parametrize("sender", ["events-request@lists.example",
                                    "events-bounces+kim=attendee.example@lists.example",
                                    "owner-events@lists.example"])
def test_list_server_senders_are_a_weak_signal(sender: str) -> None:
    verdict = screen(parse_message(headers_mail(sender=f"<{sender}>")), "conduct@example.org")
    assert verdict.signals == ("list-server-sender",) and not verdict.machine
    for person in ("<request@site.example>", "<owner@site.example>", "<kim.owner@site.example>"):
        assert not screen(parse_message(headers_mail(sender=person)),
                          "conduct@example.org").automatic, person


def test_a_name_that_holds_an_address_is_quoted_wherever_staff_read_it(
        cli: Cli, cfg: Config) -> None:
    """'"eve.adams@example.com" <mallory@elsewhere.example>': the notification, `cases
    show` and its JSON never let the name pass for the sender's address."""
    assert cli("ingest", str(WILD / "from_name_is_an_address.eml")).exit_code == 0
    shown = '"eve.adams@example.com" <mallory@elsewhere.example>'
    text = cli("cases", "show", "1").output
    assert f"reporter:  {shown}" in text
    assert "eve.adams@example.com <mallory" not in text
    data = json.loads(cli("cases", "show", "1", "--json").output)
    assert data["reporter"] == {"name": "eve.adams@example.com",
                                "email": "mallory@elsewhere.example"}


def test_a_delivered_to_that_names_a_mailbox_is_no_autoresponder() -> None:
    verdict = screen(parse_message(headers_mail("Delivered-To: conduct@example.org",
                                                "Delivered-To: responder.team@example.org")),
                     "conduct@example.org")
    assert not verdict.automatic, verdict.reason


def test_re_splitting_broken_multiparts_is_bounded() -> None:
    """Each multipart body that would not split costs one more parse: a mail of nested
    ones is re-split MAX_REPAIRS times at most, the rest read as text."""
    from cocmail.core.message import MAX_REPAIRS
    inner = b"Someone followed me.\r\n"
    for n in range(MAX_REPAIRS + 3):
        inner = (f"--x{n}\r\nContent-Type: multipart/mixed; boundary=\"nope{n}\"\r\n\r\n"
                 .encode() + inner + f"--x{n}--\r\n".encode())
    raw = (b"From: Kim <kim@attendee.example>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"top\"\r\n\r\n" + inner)
    msg = parse_message(raw)
    assert msg.text.count("--x") >= 1  # past the cap, the body is shown as it came


@pytest.mark.parametrize("sender", [
    "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.example>",
    "<MAILER_DAEMON@mx.example>", "Mail Administrator <Postmaster@corp.example>"])
def test_delivery_systems_are_known_by_their_sender(sender: str) -> None:
    verdict = screen(parse_message(headers_mail(sender=sender,
                                                subject="Undeliverable: Report")),
                     "conduct@example.org")
    assert verdict.bounce and verdict.machine


def test_an_invitation_reads_as_its_fields_and_runs_nothing() -> None:
    from cocmail.core.calendar_text import calendar_text
    ics = ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Talk about Friday\r\n"
           "DTSTART;TZID=Europe/Berlin:20270611T140000\r\nLOCATION:Room B\\, 2nd floor\r\n"
           "ORGANIZER;CN=Ravi:mailto:ravi@corp.example\r\nDESCRIPTION:#close\\nwhat hap\r\n"
           " pened\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert calendar_text(ics).splitlines()[1:] == [
        "Title: Talk about Friday", "Starts: 20270611T140000", "Where: Room B, 2nd floor",
        "Organizer: ravi@corp.example", "Description: #close", "what happened"]
    assert calendar_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR") == ""
    raw = (b"From: Ravi Patel <ravi@corp.example>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/calendar; method=REQUEST\r\n\r\n" + ics.encode())
    msg = parse_message(raw)
    assert msg.text == "" and "#close" in msg.attached_text  # read by staff, never run
