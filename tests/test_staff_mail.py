"""Staff mailboxes and staff names in hostile hands (issue 11, items 2, 5, 6 and 8).

A staff mailbox that bounces or answers every mail must not start a loop; mail that only
claims to be from staff must say so wherever it goes; recusal must stop mail already
queued and facts of earlier cases. Everything goes through App.receive and the outbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from cocmail.app import App, open_app
from cocmail.clock import utcnow
from cocmail.store import cases as cases_db
from testsupport.helpers import approve_as, body_of, mail, make_config, parse
from testsupport.servers import SmtpSink

CY = '\n[[staff]]\nname = "Cy Park"\nemail = "cy@example.org"\n'
ROUNDS = 25


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    """Three staff (Ana, Ben, Cy); outgoing mail goes to the spool and the outbox table."""
    return make_app(CY)


def report(n: int = 1, text: str = "Dan Doe was rude to me.\n") -> bytes:
    return mail(f"Eve <eve{n}@attendee.example>", f"Report {n}", text,
                message_id=f"<report-{n}@attendee.example>")


def outbox(app: App, after: int = 0) -> list[dict]:
    return app.store.query("SELECT id, kind, recipients, subject, raw FROM outbox WHERE id>?"
                           " ORDER BY id", (after,))


def to(row: dict) -> str:
    [address] = json.loads(row["recipients"])
    return address


def dsn(original: EmailMessage) -> bytes:
    """What Ben's MX sends back for every mail to him: a DSN quoting its headers."""
    quoted = "".join(f"{k}: {original[k]}\r\n" for k in ("From", "To", "Subject",
                                                          "Message-ID"))
    return ("Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.org\r\n"
            "To: conduct@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: <bounce-{original['Message-ID'].strip('<>')}>\r\n"
            "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n"
            "\r\n--B\r\nContent-Type: text/plain\r\n\r\nMailbox full.\r\n"
            "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n"
            "\r\nFinal-Recipient: rfc822; ben@example.org\r\nAction: failed\r\n"
            "Status: 5.2.2\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            + quoted + "\r\n--B--\r\n").encode()


def vacation(who: str) -> Callable[[EmailMessage], bytes]:
    def reply(original: EmailMessage) -> bytes:
        return mail(f"<{who}>", "Out of office: " + str(original["Subject"]),
                    "I am away until Monday.\n",
                    message_id=f"<away-{original['Message-ID'].strip('<>')}>",
                    in_reply_to=str(original["Message-ID"]),
                    extra={"Auto-Submitted": "auto-replied"})
    return reply


def run_mailboxes(app: App, answer: dict[str, Callable[[EmailMessage], bytes]],
                  rounds: int = ROUNDS) -> list[int]:
    """Each round, every new mail to a mailbox in `answer` is answered through
    App.receive; returns how many mails cocmail queued in each round (stopping early
    once a loop is plain: over 100 mails)."""
    last = max((r["id"] for r in outbox(app)), default=0)
    per_round = []
    pending = outbox(app)
    for _ in range(rounds):
        for row in pending:
            if to(row) in answer:
                app.receive(answer[to(row)](parse(row["raw"])), "test")
        pending = outbox(app, last)
        last = max((r["id"] for r in pending), default=last)
        per_round.append(len(pending))
        if sum(per_round) > 100:
            break
    return per_round


# ------------------------------------------------------------ item 2: no loops

def test_a_bouncing_staff_mailbox_does_not_loop(app: App) -> None:
    app.receive(report(), "test")
    before = len(outbox(app))
    per_round = run_mailboxes(app, {"ben@example.org": dsn})
    assert sum(per_round) <= 2, per_round  # the one bounce, shown to Ana and Cy once
    assert per_round[-1] == 0
    shown = outbox(app, 0)[before:]
    assert sorted(to(r) for r in shown) == ["ana@example.org", "cy@example.org"]
    assert all("Mailbox full" in body_of(parse(r["raw"])) for r in shown)


def test_two_vacation_responders_do_not_answer_each_other(app: App) -> None:
    app.receive(report(), "test")
    per_round = run_mailboxes(app, {"ana@example.org": vacation("ana@example.org"),
                                    "ben@example.org": vacation("ben@example.org")})
    # Each member hears of automatic mail on case 1 at most once today.
    assert sum(per_round) <= 3, per_round
    assert per_round[-1] == 0
    told = [to(r) for r in outbox(app) if "Automatic mail" in r["subject"]]
    assert len(told) == len(set(told))


def test_a_vacation_reply_goes_to_the_others_only(app: App) -> None:
    app.receive(report(), "test")
    notice = next(r for r in outbox(app) if to(r) == "ben@example.org")
    before = len(outbox(app))
    app.receive(vacation("ben@example.org")(parse(notice["raw"])), "test")
    assert sorted(to(r) for r in outbox(app)[before:]) == ["ana@example.org",
                                                           "cy@example.org"]


# ------------------------------------------------------------ item 5: forged staff mail

def forged_from_ana(subject: str, text: str, n: int = 1) -> bytes:
    """Ana's address, no token of hers, no Authentication-Results: anyone can send it."""
    return mail("Ana Lima <ana@example.org>", subject, text,
                message_id=f"<forged-{n}@evil.example>")


def bodies_to(app: App, address: str, after: int = 0) -> list[str]:
    return [body_of(parse(r["raw"])) for r in outbox(app)[after:] if to(r) == address]


def test_forged_staff_note_is_marked_everywhere_and_ana_is_told(app: App) -> None:
    app.receive(report(), "test")
    before = len(outbox(app))
    app.receive(forged_from_ana("Re: [CoC #1] New report", "Dan apologised, all fine.\n"),
                "test")
    for member in ("ben@example.org", "cy@example.org"):
        [relay] = bodies_to(app, member, before)
        assert "NOT authenticated" in relay and "A team member wrote" not in relay
        said = " ".join(relay.split())
        assert "cocmail could not confirm that they sent it" in said
        assert "Do not take it as theirs" in said
    [notice] = [r for r in outbox(app)[before:] if to(r) == "ana@example.org"]
    assert "Mail in your name, not authenticated" in notice["subject"]
    assert "case 1" in body_of(parse(notice["raw"]))
    actors = {r["actor"] for r in app.store.query("SELECT actor FROM audit WHERE"
                                                  " case_number=1 AND action='note'")}
    assert actors == {"ana@example.org (not authenticated)"}


def test_forged_staff_report_is_not_recorded_as_taken_by_her(app: App) -> None:
    app.receive(forged_from_ana("Report from the party", "Dan Doe was rude to Kim.\n"),
                "test")
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.received_by is None and case.handlers == ()
    for member in ("ben@example.org", "cy@example.org"):
        [note] = bodies_to(app, member)
        assert "Ana Lima took a report" not in note and "NOT authenticated" in note
    [notice] = bodies_to(app, "ana@example.org")
    assert "could not confirm that you sent it" in notice
    actors = {r["actor"] for r in app.store.query("SELECT actor FROM audit WHERE"
                                                  " case_number=1")}
    assert actors == {"ana@example.org (not authenticated)"}


def test_a_real_staff_note_is_still_hers(app: App) -> None:
    app.receive(report(), "test")
    notice = next(r for r in outbox(app) if to(r) == "ana@example.org")
    before = len(outbox(app))
    reply = mail("Ana Lima <ana@example.org>", "Re: [CoC #1] New report", "Spoke to Dan.\n",
                 message_id="<ana-1@example.org>",
                 in_reply_to=str(parse(notice["raw"])["Message-ID"]))
    app.receive(reply, "test")
    assert [to(r) for r in outbox(app)[before:]] == ["ben@example.org", "cy@example.org"]
    assert "A team member wrote" in bodies_to(app, "ben@example.org", before)[0]
    actors = {r["actor"] for r in app.store.query("SELECT actor FROM audit WHERE"
                                                  " action='note'")}
    assert actors == {"ana@example.org"}


# ------------------------------------------------------------ item 6: recusal and the queue

def test_recusal_cancels_mail_already_queued_for_the_member(tmp_path: Path) -> None:
    sink = SmtpSink()  # not started yet: every mail waits in the outbox, retrying
    now = [utcnow()]
    app = open_app(make_config(tmp_path, CY, smtp=sink.smtp_toml()), clock=lambda: now[0])
    try:
        app.receive(report(), "test")
        notice = next(r for r in outbox(app) if to(r) == "ana@example.org")
        recusal = mail("Ana Lima <ana@example.org>", "Re: [CoC #1] New report",
                       "#recuse ben@example.org\n\nBen knows Dan well.\n",
                       message_id="<ana-1@example.org>",
                       in_reply_to=str(parse(notice["raw"])["Message-ID"]))
        app.receive(recusal, "test")
        assert approve_as(app, "cy@example.org") == 1  # a second member approves the recusal
        case = app.store.read(cases_db.load_case, 1)
        assert case is not None and case.recused == ("ben@example.org",)
        states = {to(r): r["state"] for r in app.store.query(
            "SELECT recipients, state FROM outbox WHERE kind='staff_new_case'")}
        assert states["ben@example.org"] == "cancelled"
        assert states["cy@example.org"] == "pending"
        with sink:
            now[0] += timedelta(days=1)
            app.outbox.deliver_due()
            got = {r for m in sink.messages for r in m.rcpt_tos}
        assert "ben@example.org" not in got
        assert {"ana@example.org", "cy@example.org", "eve1@attendee.example"} <= got
    finally:
        app.close()


# ------------------------------------------------------------ item 8: recusal and history

def reply_as(app: App, who: str, case: int, text: str, n: int) -> None:
    """`who` answers the newest mail cocmail sent them about `case` (so it is theirs)."""
    notice = [r for r in outbox(app) if to(r) == who and f"[CoC #{case}]" in r["subject"]][-1]
    raw = mail(f"<{who}>", "Re: " + notice["subject"], text,
               message_id=f"<staff-{n}@example.org>",
               in_reply_to=str(parse(notice["raw"])["Message-ID"]))
    assert app.receive(raw, "test") == "done"


def test_a_recused_member_learns_nothing_of_the_case_through_later_cases(app: App) -> None:
    app.receive(report(1, "Dan Doe grabbed my arm.\n"), "test")
    reply_as(app, "ana@example.org", 1, "#recuse ben@example.org\n#accused Dan Doe"
             " <dan@x.example>\n#action Warned\n#outcome warning\n", 1)
    assert approve_as(app, "cy@example.org") == 1  # a second member approves the recusal
    reply_as(app, "ana@example.org", 1, "#close\n", 3)
    before = len(outbox(app))
    app.receive(report(2, "Dan Doe was rude to me at lunch.\n"), "test")
    for member in ("ana@example.org", "cy@example.org"):
        [note] = bodies_to(app, member, before)
        assert "NAMED IN EARLIER CASES" in note and "case 1" in note
    [ben] = bodies_to(app, "ben@example.org", before)
    assert "NAMED IN EARLIER CASES" not in ben and "case 1" not in ben

    before = len(outbox(app))
    reply_as(app, "cy@example.org", 2, "#accused Dan Doe <dan@x.example>\n#urgent\n", 2)
    cy = "\n".join(bodies_to(app, "cy@example.org", before))  # transcript, urgent alert
    assert "named in earlier cases #1 (warning)" in cy
    ana = "\n".join(bodies_to(app, "ana@example.org", before))
    assert "named in earlier cases #1" in ana and "NAMED IN EARLIER CASES" in ana
    ben_mails = bodies_to(app, "ben@example.org", before)
    assert len(ben_mails) == 2  # the relay with its transcript, and the urgent alert
    for text in ben_mails:
        assert "#1" not in text and "case 1" not in text and "EARLIER" not in text
    assert any("accused added: Dan Doe" in text for text in ben_mails)


def test_the_urgent_resend_shows_the_report_as_it_arrived(desk) -> None:  # type: ignore[no-untyped-def]
    """Re-sent with #urgent, the report keeps its subject and date (before: "(no subject)",
    an empty "Date:" and an empty "Sent by:" line under the reporter)."""
    desk.report("Eve Example <eve@attendee.example>", "He followed me to my hotel.\n",
                subject="Followed tonight")
    desk.staff("ana@example.org", 1, "#urgent\n")
    (urgent,) = [m for m in desk.sent() if "ben@" in str(m["To"])
                 and "URGENT" in str(m["Subject"])]
    text = body_of(urgent).replace("\r\n", "\n")
    assert "Subject:      Followed tonight\n" in text
    assert re.search(r"^Date: +\d{4}-\d\d-\d\d \d\d:\d\d$", text, re.M)
    assert "Sent by:" not in text
    assert "Reported by:  Eve Example <eve@attendee.example>" in text
