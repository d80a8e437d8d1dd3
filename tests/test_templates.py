"""The words cocmail sends: every template against a golden file, plus the promises they keep.

Golden files are the reviewed text of each mail for a realistic case. After an intended
wording change, regenerate them with `COCMAIL_REGEN_GOLDEN=1 pytest tests/test_templates.py`
and read the diff as a reader of the mail would.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.render import TEMPLATE_NAMES, TEMPLATES_DIR, Renderer, TemplateError

GOLDEN_DIR = Path(__file__).parent / "golden"
REGEN = os.environ.get("COCMAIL_REGEN_GOLDEN") == "1"

COMMON: dict[str, Any] = {
    "event": "DjangoCon Europe 2027",
    "case": 12,
    "tag": "[CoC #12]",
    "team": "The DjangoCon Europe 2027 Code of Conduct team",
    "inbox": "conduct@djangocon.example.org",
    # The team's own details (issue 25, item 8): every template gets them.
    "coc_url": "https://djangocon.example.org/coc",
    "emergency_phone": "+49 30 1234 5678",
    "support": "Local support: LARA crisis line, 030 216 88 88 (free, 24h)",
    "committee": "the DSF Code of Conduct committee",
}

COMMANDS: list[tuple[str, str]] = [
    ("#reporter Name <addr>", "set the reporter (or: #reporter anonymous)"),
    ("#victim Name <addr>",
     "set the person affected (default: the reporter; or: #victim reporter)"),
    ("#accused Name <addr>", "add a reported person (repeatable)"),
    ("#witness Name <addr>", "add a witness"),
    ("#when ...", "when the incident took place"),
    ("#where ...", "where the incident took place"),
    ("#summary ...", "brief details, one line"),
    ("#others ...", "who else knows about the incident"),
    ("#handler <staff addr>", "add a handler"),
    ("#recuse <staff addr>", "exclude a staff member from this case"),
    ("#urgent", "mark the case urgent and re-notify all staff"),
    ("#note ...", "internal note"),
    ("#notify-accused", "mail the reported person the complaint notice"),
    ("#notified-accused [their side]", "the reported person was told in person"),
    ("#action ...", "the decision: what is done"),
    ("#outcome <category>", "outcome category, for statistics"),
    ("#notify-harasser", "mail the reported person the response"),
    ("#notified-harasser", "the response was given in person"),
    ("#notify-victim", "mail the person affected the decision"),
    ("#notified-victim", "the person affected was told in person"),
    ("#report-dsf [now]", "report to the DSF (held until after the event unless now)"),
    ("#reported-dsf", "the DSF report was sent by hand"),
    ("#reply", "mail the text below the commands to the reporter"),
    ("#preview <accused|harasser|victim|dsf|reply>", "mail yourself what would go out"),
    ("#status", "mail yourself the case's row and missing steps"),
    ("#close", "close the case (missing steps are listed)"),
    ("#reopen", "reopen the case"),
    ("#confirm", "run commands held from an unauthenticated mail"),
    ("#help", "this list"),
    ("#end", "end of the command block"),
]

EARLIER = [
    {"case": 3, "person": "Dan Doe", "outcome": "Warning", "status": "closed"},
    {"case": 9, "person": "Dan Doe", "outcome": None, "status": "open"},
]

TRANSCRIPT_LINES = [
    {"line": 1, "raw": "#accused Dan Doe <dan@example.com>", "ok": True,
     "result": "Dan Doe <dan@example.com> added as accused"},
    {"line": 2, "raw": "#when Thursday 3 June, around 21:30", "ok": True,
     "result": "when: Thursday 3 June, around 21:30"},
    {"line": 3, "raw": "#notify-accused", "ok": True,
     "result": "complaint notice sent"},
]

MISSING = ["record the decision", "tell the reported person the response",
           "tell the person affected the decision", "report to the DSF"]

SAMPLES: dict[str, dict[str, Any]] = {
    "ack": {"reporter_name": "Alex Rivera", "outside_team": False, "member_kept_out": False,
            "within": "2 hours", "possibly_urgent": False},
    "staff_new_case": {
        "recipient_name": "Ana Lima",
        "reporter": "Alex Rivera <alex@example.net>",
        "received_by": None,
        "report_from": "Alex Rivera <alex@example.net>",
        "report_subject": "Something that happened at the party",
        "report_date": "Thu, 3 Jun 2027 23:12 +0200",
        "report_language": None,
        "report_text": (
            "Hi,\n\nAt the party tonight someone from the sprint table kept touching my\n"
            "friend's arm and making comments about her looks after she asked him\n"
            "to stop. He is tall, wears a green conference hoodie.\n\n"
            "She is OK but shaken; we left early.\n\nAlex\n"
        ),
        "attachments": ["photo-bar.jpg (image/jpeg, 2.1 MB)", "bar.mov (video/quicktime, 48 MB)"],
        "files": {"left": ["bar.mov (video/quicktime, 48 MB): over the 10 MB a mail carries"],
                  "cleaned": True, "command": "cocmail cases attachments 12 -o DIR"},
        "earlier": EARLIER,
        "urgent": False,
        "possibly_urgent": [],
        "forged": None,
        "commands": COMMANDS,
        "sender_unknown": None,
        "ack_withheld": None,
        "conflict": {"named": [{"name": "Cy Park", "email": "cy@djangocon.example.org",
                                "why": 'by "Cy", a name only they have on the team'}],
                     "everyone": False, "contacts": False},
        "back": False,
        "escalated": None,
    },
    "staff_relay": {
        "recipient_name": "Ana Lima",
        "sender": "Alex Rivera <alex@example.net>",
        "sender_role": "reporter",
        "subject": "Re: [CoC #12] Your report",
        "text": "One more thing: a volunteer at the bar saw it too, her name is Kim.\n",
        "automatic_reason": None,
        "transcript": [],
        "forged": None,
        "conflict": None,
        "refused": False,
        "reply_with": "#reply",
        "role_note": "",
        "appeal": False,
        "appeal_to": None,
        "appeal_withheld": "",
        "attachments": [],
        "files": None,
    },
    "transcript": {
        "recipient_name": "Ana Lima",
        "lines": TRANSCRIPT_LINES,
        "rejected": False,
        "reason": None,
        "mailed": ["the reported person (Dan Doe)"],
        "held": False,
        "problems": [],
        "missing_steps": MISSING,
        "earlier": EARLIER,
        "note_recorded": True,
        "held_body": "",
        "proposals": ["Ana Lima, 2027-06-04 16:40: send the response to the reported person"],
        "ignored": [{"line": 6, "raw": "#notify-victim",
                     "reason": "below the command block: a block ends at the first line "
                               "that is not a command (a blank line, text); put all "
                               "commands together at the top of your text"}],
    },
    "accused_complaint": {"accused_name": "Dan Doe"},
    "harasser_response": {
        "accused_name": "Dan Doe",
        "action": "A formal warning. You may attend the rest of the conference, but not "
                  "the social events.",
        "appeal_contact": "board@djangocon.example.org",
    },
    "victim_decision": {
        "victim_name": "Sam Okafor",
        "action": "We gave the person a formal warning and asked them not to attend the "
                  "remaining social events.",
        "outcome": "warning",
        "reported": True,
        "finding": "action",
    },
    "dsf_report": {
        "when": "Thursday 3 June 2027, around 21:30",
        "where": "Conference party, Bar Centrale",
        "what_happened": (
            "An attendee repeatedly touched another attendee's arm and commented on her\n"
            "appearance after being asked to stop. A friend reported it the same evening.\n"
            "Two team members spoke with the person the next morning."
        ),
        "action": "A formal warning; excluded from the remaining social events.",
        "outcome": "warning",
        "summary": "unwanted touching and comments after being asked to stop",
        "reported": ["Dan Doe <dan@example.com>"],
        "reporter": "Alex Rivera <alex@example.net>",
        "affected": "Sam Okafor <sam@example.net>",
        "witnesses": ["Kim Park <kim@example.net>"],
        "handled_by": ["Ana Lima <ana@djangocon.example.org>",
                       "Bo Chen <bo@djangocon.example.org>"],
        "accused_side": "He says he did not notice she wanted him to stop, and apologised.",
        "accused_told": "2027-06-04 09:30",
        "harasser_told": "2027-06-04 17:00",
        "victim_told": "2027-06-04 17:30",
        "victim_declined": False,
        "no_harasser_steps": False,
    },
    "reporter_reply": {
        "reporter_name": "Alex Rivera",
        "text": (
            "Thank you again for telling us. Two of us spoke with the person this\n"
            "morning, and we are keeping an eye on things for the rest of the event.\n\n"
            "Ana"
        ),
    },
    "victim_reply": {
        "victim_name": "Sam Okafor",
        "text": ("We wanted to let you know that we have spoken with the person concerned,\n"
                 "and that we are here for you for the rest of the event.\n\nAna"),
    },
    "witness_reply": {
        "witness_name": "Kim Park",
        "text": ("Thank you for offering to help. Could you tell us, in your own words,\n"
                 "what you saw at the bar on Thursday evening, and at what time?\n\nAna"),
    },
    "accused_reply": {
        "accused_name": "Dan Doe",
        "text": ("Thank you for your message. We have read your appeal and will answer\n"
                 "within a week; the decision stands in the meantime.\n\nAna"),
    },
    "committee_reply": {
        "text": ("Dear committee,\n\nThe event ended on 6 June; the person concerned was "
                 "asked to leave\nthe party and did so.\n\nAna"),
    },
    "appeal_notice": {
        "sender": "Dan Doe <dan@example.com>",
        "subject": "Re: [CoC #12] Outcome of the Code of Conduct process",
        "text": "I would like to appeal this decision. I was not even at the party.\n",
        "told": "2027-06-04 17:00",
    },
    "help": {"commands": COMMANDS},
    "status": {
        "row": [
            ("Case", 12), ("Status", "open"), ("Opened", "2027-06-03 23:12"),
            ("Reporter name", "Alex Rivera"), ("Reporter email", "alex@example.net"),
            ("Received by", ""), ("Handled by", "Ana Lima; Bo Chen"),
            ("When", "Thursday 3 June 2027, around 21:30"),
            ("Where", "Conference party, Bar Centrale"),
            ("Details", "unwanted touching and comments after being asked to stop"),
            ("Action taken", None), ("Outcome", None), ("Others aware", "Kim (volunteer)"),
            ("Reported to DSF", "no"),
        ],
        "missing_steps": MISSING,
        "status": "open",
        "proposals": ["Ana Lima, 2027-06-04 16:40: send the response to the reported person"],
    },
    "preview": {
        "target": "the reported person (the complaint notice)",
        "mail_to": "Dan Doe <dan@example.com>",
        "mail_subject": "[CoC #12] A Code of Conduct complaint",
        "mail_body": "Hello Dan Doe,\n\nWe are writing from the Code of Conduct team.\n",
        "mail_attached": [],
        "near_misses": [],
    },
    "digest": {
        "machine_mail": 3,
        "period_start": "2027-05-31",
        "period_end": "2027-06-06",
        "opened": [12, 13],
        "closed": [11],
        "open_cases": [
            {"case": 12, "age_days": 3, "last_activity": "2027-06-05",
             "missing_steps": MISSING, "urgent": False},
            {"case": 13, "age_days": 1, "last_activity": "2027-06-05",
             "missing_steps": ["accused informed", "decision"], "urgent": True},
        ],
        "stale": [13],
        "dsf_due": [10, 11],
        "awaiting": [12],
    },
    "delivery_failed": {
        "recipient_role": "the reported person",
        "subject": "[CoC #12] A Code of Conduct complaint",
        "error": "550 5.1.1 <dan@example.com>: Recipient address rejected: User unknown",
    },
    "quarantined": {
        "item_id": 4,
        "reason": "message larger than the 25 MB limit",
        "subject": "photos from last night",
        "sender": "Kim Park <kim@example.net>",
    },
    "sent_as_you": {"recipient_name": "Ana Lima", "subject": "Re: [CoC #12] New report"},
    "proposal": {
        "recipient_name": "Bo Chen",
        "proposer": "Ana Lima",
        "what": "send this to the reported person",
        "recuse": False,
        "include": False,
        "on_case": "",
        "mails": [{"to": "Dan Doe <dan@example.com>",
                   "subject": "[CoC #12] Outcome of the Code of Conduct process",
                   "body": "Hello Dan Doe,\n\nThe Code of Conduct team has decided: a formal "
                           "warning.\n", "attached": []}],
        "near_misses": ['"Lenna" looks like "Lena" (the person affected)'],
    },
    "proposal_rejected": {
        "recipient_name": "Ana Lima",
        "rejected_by": "Bo Chen",
        "what": "send the response to the reported person",
        "reason": "Let us wait until we have talked to the witness.",
    },
    "conflict_report": {
        "named": [{"name": "Ana Lima", "email": "ana@djangocon.example.org",
                   "why": 'by their name "Ana Lima"'},
                  {"name": "Bo Chen", "email": "bo@djangocon.example.org",
                   "why": "by their address bo@djangocon.example.org"}],
        "reporter": "Alex Rivera <alex@example.net>",
        "sender": "Alex Rivera <alex@example.net>",
        "subject": "About the CoC team",
        "text": "Ana Lima and bo@djangocon.example.org laughed off what I told them at the "
                "registration desk.\n",
        "date": "Thu, 3 Jun 2027 23:12 +0200",
        "attachments": [],
        "followup": False,
        "acknowledged": True,
    },
    "member_excluded": {
        "recipient_name": "Ana Lima",
        "member": "Cy Park",
        "proposed_by": "Bo Chen",
        "approved_by": "Dee Nowak",
    },
    "still_unanswered": {
        "recipient_name": "Bo Chen",
        "opened": "2027-06-03 23:12",
        "missing_steps": ["record the decision", "tell the person affected the decision",
                          "report to the DSF"],
        "urgent": False,
        "possibly_urgent": [],
        "level": 1,
        "leads": False,
        "waited": "2 hours",
    },
    "reporter_waiting": {
        "recipient_name": "Ana Lima",
        "opened": "2027-06-03 23:12",
        "missing_steps": MISSING,
        "waited": "7 days and 2 hours",
        "last_contact": "2027-06-04 17:30",
        "never_heard": False,
        "handling": True,
    },
    "sanction_ended": {
        "recipient_name": "Ana Lima",
        "opened": "2026-06-03 23:12",
        "missing_steps": [],
        "sanction": "suspension",
        "ended": "2027-06-01",
        "days_ago": 0,
        "some_only": False,
        "handling": True,
    },
    "flood_summary": {
        "tag": "[CoC]",  # a summary is about no one case
        "recipient_name": "Ana Lima",
        "groups": [
            {"kind": "report", "origin": "mail.example.net", "case": None, "count": 54,
             "span": "from 2027-06-03 23:12 to 23:14",
             "why": "more than 10 new reports from the sending domain within 10 minutes",
             "cases": list(range(13, 67)),
             "listed": [{"case": n, "subject": "Report", "urgent": n == 14, "domain": ""}
                        for n in range(13, 16)],
             "unlisted": [16, 17], "senders": []},
            {"kind": "report", "origin": "2 different domains", "case": None, "count": 2,
             "span": "at 2027-06-03 23:15", "why": "more than 30 new reports within 10 minutes",
             "cases": [67, 68], "unlisted": [], "senders": [],
             "listed": [{"case": 67, "subject": "Hello", "urgent": False,
                         "domain": "a.example"},
                        {"case": 68, "subject": "", "urgent": False, "domain": "b.example"}]},
            {"kind": "followup", "origin": "", "case": 12, "count": 40,
             "span": "from 2027-06-03 23:12 to 23:20", "cases": [12],
             "why": "more than 10 messages on this case within 10 minutes",
             "listed": [], "unlisted": [],
             "senders": ["someone not yet on the case (38)", "the reporter (2)"]},
        ],
        "reports": 56,
        "followups": 40,
        "unacknowledged": 56,
    },
}

# Templates whose reader is outside the CoC team and must see only what their variables say.
ACCUSED_TEMPLATES = ("accused_complaint", "harasser_response", "accused_reply")
SENSITIVE = ("ack", "accused_complaint", "harasser_response", "victim_decision",
             "dsf_report", "reporter_reply", "victim_reply", "witness_reply", "accused_reply",
             "committee_reply", "appeal_notice")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def render(renderer: Renderer, name: str, **changes: Any) -> str:
    return renderer.render(name, **{**COMMON, **SAMPLES[name], **changes})


# ------------------------------------------------------------------------ golden files


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_golden(renderer: Renderer, name: str) -> None:
    text = render(renderer, name)
    golden = GOLDEN_DIR / f"{name}.txt"
    if REGEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8", newline="\n")
    assert golden.exists(), f"no golden file for {name}: run with COCMAIL_REGEN_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")


def test_every_template_has_a_golden_file_and_a_sample() -> None:
    for name in TEMPLATE_NAMES:
        assert (GOLDEN_DIR / f"{name}.txt").is_file(), name
        assert name in SAMPLES, name


def test_template_names_match_the_template_files() -> None:
    on_disk = {p.stem for p in TEMPLATES_DIR.glob("*.txt")}
    assert on_disk == set(TEMPLATE_NAMES)


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_bodies_are_tidy(renderer: Renderer, name: str) -> None:
    text = render(renderer, name)
    first = text.split("\n", 1)[0]
    assert first.strip(), "a body starts with its first words, not a blank line"
    assert "\r" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert all(line == line.rstrip() for line in text.split("\n"))
    assert "{{" not in text and "{%" not in text


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_lines_fit_a_plain_text_reader(renderer: Renderer, name: str) -> None:
    """Quoted words are the sender's own; every other line is short enough for plain text."""
    long = [line for line in render(renderer, name).split("\n")
            if len(line) > 78 and not line.startswith(">")]
    assert long == []


@pytest.mark.parametrize("name", ["ack", "staff_new_case", "transcript", "accused_complaint",
                                  "harasser_response", "victim_decision", "reporter_reply"])
def test_a_name_with_line_breaks_stays_on_the_greeting_line(renderer: Renderer, name: str) -> None:
    evil = "Mallory\r\nBcc: everyone@example.org\n"
    key = next(k for k in ("reporter_name", "recipient_name", "accused_name", "victim_name")
               if k in SAMPLES[name])
    text = render(renderer, name, **{key: evil})
    assert text.split("\n", 1)[0] == "Hello Mallory Bcc: everyone@example.org,"
    assert "\r" not in text


def test_line_ends_from_mail_are_normalised(renderer: Renderer) -> None:
    text = render(renderer, "staff_relay", text="line one\r\nline two\rline three\r\n")
    assert "> line one\n> line two\n> line three\n" in text
    assert "\r" not in text


@pytest.mark.parametrize("name", SENSITIVE)
def test_sensitive_mail_is_calm_and_signed(renderer: Renderer, name: str) -> None:
    text = render(renderer, name)
    assert "!" not in text
    assert COMMON["team"] in text


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_mail_is_signed_by_the_team(renderer: Renderer, name: str) -> None:
    assert COMMON["team"] in render(renderer, name)


# ------------------------------------------------------------------ what each mail says


def test_ack_without_a_name_greets_plainly(renderer: Renderer) -> None:
    text = render(renderer, "ack", reporter_name="")
    assert text.startswith("Hello,\n")
    assert "case 12" in text and "[CoC #12]" in text
    assert "emergency" in text and "reply" in text


def test_repeat_offender_warning_comes_before_the_report(renderer: Renderer) -> None:
    text = render(renderer, "staff_new_case")
    warning = text.index("NAMED IN EARLIER CASES")
    assert warning < text.index("> At the party tonight")
    assert "Dan Doe: case 3, closed, outcome: Warning" in text
    assert "Dan Doe: case 9, open, no outcome yet" in text
    assert "NAMED IN EARLIER CASES" not in render(renderer, "staff_new_case", earlier=[])


def test_new_case_cheat_sheet_is_short_and_points_to_help(renderer: Renderer) -> None:
    text = render(renderer, "staff_new_case")
    sheet = [line for line in text.split("\n") if line.startswith("  #")]
    assert 3 <= len(sheet) <= 10
    assert any(line.split()[0] == "#notify-accused" for line in sheet)
    assert "#help" in text
    assert "#confirm" not in text


def test_cheat_sheet_falls_back_to_the_first_commands(renderer: Renderer) -> None:
    text = render(renderer, "staff_new_case", commands=[("#frobnicate", "a renamed command")])
    assert "  #frobnicate  a renamed command" in text


def test_new_case_urgent_and_received_by(renderer: Renderer) -> None:
    text = render(renderer, "staff_new_case", urgent=True, received_by="Bo Chen",
                  report_from="Bo Chen <bo@example.org>", reporter="anonymous")
    assert text.split("\n")[2].startswith("URGENT")
    assert "Bo Chen took a report and entered it as case 12." in text
    assert "Reported by:  anonymous" in text
    assert "Sent by:      Bo Chen <bo@example.org>" in text
    assert "Sent by" not in render(renderer, "staff_new_case")


def test_new_case_with_empty_report_says_so(renderer: Renderer) -> None:
    assert "(The report has no text.)" in render(renderer, "staff_new_case", report_text=" \n")


def test_relay_from_unknown_sender_warns(renderer: Renderer) -> None:
    text = render(renderer, "staff_relay", sender_role="someone not yet on the case",
                  reply_with="")  # as intake gives it: nobody to answer by #reply
    assert "not on the case yet" in text and "from the address alone" in text
    assert "#reply" not in text


def test_relay_of_automatic_mail(renderer: Renderer) -> None:
    text = render(renderer, "staff_relay", sender="MAILER-DAEMON@example.net",
                  sender_role="automatic mail", automatic_reason="a delivery failure report")
    assert "automatic mail arrived on case 12 (a delivery failure report)" in text


def test_relay_of_staff_mail_shows_its_transcript(renderer: Renderer) -> None:
    text = render(renderer, "staff_relay", sender="Bo Chen <bo@example.org>",
                  sender_role="staff member", transcript=TRANSCRIPT_LINES)
    assert "Commands in this mail:" in text
    assert "line 3  #notify-accused" in text
    assert "none of these commands were run" not in text
    failed = [*TRANSCRIPT_LINES[:2], {**TRANSCRIPT_LINES[2], "ok": False, "result": "no accused"}]
    text = render(renderer, "staff_relay", sender="Bo Chen <bo@example.org>",
                  sender_role="staff member", transcript=failed)
    assert "error: no accused\nBecause a line failed, none of these commands were run." in text
    assert "#accused Dan Doe <dan@example.com>\n          not run\n" in text  # never "ok"
    assert "ok:" not in text


def test_held_transcript_warns_and_explains_confirm(renderer: Renderer) -> None:
    lines = [{**line, "result": "held"} for line in TRANSCRIPT_LINES]
    text = render(renderer, "transcript", held=True, lines=lines, mailed=[],
                  note_recorded=False,
                  problems=["no Authentication-Results header from a trusted server",
                            "not a reply to a mail cocmail sent you"])
    head = text[: text.index("#confirm")]
    assert "FORGED" in head and "NOTHING WAS RUN" in head
    assert "#confirm as the only line" in text
    assert "- not a reply to a mail cocmail sent you" in text
    assert "Your commands on case 12 were run" not in text
    assert "done:" not in text
    with_body = render(renderer, "transcript", held=True, lines=lines, mailed=[],
                       note_recorded=True, held_body="Dear Eve, we spoke to him.",
                       problems=["not a reply to a mail cocmail sent you"])
    assert "Read it before you confirm" in with_body  # what #confirm would send
    assert "> Dear Eve, we spoke to him." in with_body
    # As intake words it: said once ("held: held, not run" before).
    lines = [{**line, "result": "held, not run"} for line in TRANSCRIPT_LINES]
    text = render(renderer, "transcript", held=True, lines=lines, mailed=[])
    assert "#notify-accused\n          held, not run\n" in text and "held: held" not in text


def test_rejected_transcript_marks_the_bad_line(renderer: Renderer) -> None:
    lines = [TRANSCRIPT_LINES[0],
             {"line": 2, "raw": "#notifed-victim", "ok": False,
              "result": "unknown command; did you mean #notified-victim?"}]
    text = render(renderer, "transcript", rejected=True, lines=lines, mailed=[],
                  reason="line 2 is not a command", note_recorded=False)
    assert "Nothing was changed on case 12: line 2 is not a command." in text
    assert "  #accused Dan Doe <dan@example.com>\n          not run\n" in text  # not "added"
    text = render(renderer, "transcript", rejected=True, lines=lines, mailed=[],
                  reason="line 2: unknown command; did you mean #notified-victim?",
                  note_recorded=False)
    assert "Nothing was changed on case 12: line 2 could not be run.\n" in text
    assert text.count("did you mean") == 1  # the reason once, at its line
    assert "error: unknown command; did you mean #notified-victim?" in text
    assert "Mail sent" not in text and "Your commands on case 12 were run" not in text


def test_transcript_lists_who_was_mailed(renderer: Renderer) -> None:
    text = render(renderer, "transcript")
    assert "Mail sent:\n- the reported person (Dan Doe)\n" in text
    assert "These commands sent no mail." in render(renderer, "transcript", mailed=[])
    # Two proposals to the same member in one mail: they are named once.
    twice = render(renderer, "transcript", mailed=["for approval: Bo Chen"] * 2)
    assert twice.count("for approval: Bo Chen") == 1


def test_no_echoed_command_line_starts_a_line(renderer: Renderer) -> None:
    """A transcript pasted back unquoted must not read as a block of commands."""
    for name in ("transcript", "staff_relay"):
        text = render(renderer, name, transcript=TRANSCRIPT_LINES) if name == "staff_relay" \
            else render(renderer, name)
        assert not [line for line in text.split("\n") if line.startswith("#accused")]


def test_harasser_response_mentions_appeal_only_when_set(renderer: Renderer) -> None:
    with_appeal = render(renderer, "harasser_response")
    assert "appeal by writing to board@djangocon.example.org." in " ".join(with_appeal.split())
    assert "stands while an appeal is considered" in " ".join(with_appeal.split())
    without = render(renderer, "harasser_response", appeal_contact=None)
    assert "appeal" not in without
    assert "The action applies from now on." in without


def test_victim_decision(renderer: Renderer) -> None:
    text = render(renderer, "victim_decision")
    assert "Thank you for your report, and for your patience" in text
    assert "In short: a warning." in text
    assert "In short" not in render(renderer, "victim_decision", outcome=None)


def test_victim_decision_to_a_person_affected_who_did_not_report(renderer: Renderer) -> None:
    """Someone who never wrote to the team is not thanked "for your report" (issue 25)."""
    text = " ".join(render(renderer, "victim_decision", reported=False).split())
    assert "your report" not in text and "Thank you" not in text
    assert "A report reached us about something that happened to you" in text
    assert "What you told us" not in text


@pytest.mark.parametrize("finding, says", [
    ("not-a-violation", "we did not find that what happened broke our Code of Conduct"),
    ("out-of-scope", "falls outside what our Code of Conduct covers"),
    ("no-action", "we are not taking further action"),
])
def test_victim_decision_reads_right_for_each_finding(renderer: Renderer, finding: str,
                                                       says: str) -> None:
    text = " ".join(render(renderer, "victim_decision", finding=finding,
                           action="No further action.", outcome=None).split())
    assert says in text
    assert "the action we have taken" not in text
    assert "No further action" not in text  # the finding says it; no "action: none"


def test_team_details_appear_only_when_set(renderer: Renderer) -> None:
    ack = " ".join(render(renderer, "ack").split())
    assert "then call us on +49 30 1234 5678" in ack
    assert "Local support: LARA crisis line" in ack
    assert "https://djangocon.example.org/coc" in ack
    assert "LARA" in render(renderer, "victim_decision")
    assert "https://djangocon.example.org/coc" in render(renderer, "accused_complaint")
    bare = {"coc_url": "", "emergency_phone": "", "support": ""}
    for name in SENSITIVE:
        text = render(renderer, name, **bare)
        assert "call us on" not in text and "support, you do not have" not in text
        assert "Code of Conduct:" not in text and "\n\n\n" not in text
    assert "find any conference staff member in person" in " ".join(
        render(renderer, "ack", **bare).split())


def test_ack_promises_the_configured_time(renderer: Renderer) -> None:
    ack = " ".join(render(renderer, "ack", within="a day").split())
    assert "will read it within a day" in ack and "few hours" not in ack
    assert "as soon as they can" in " ".join(render(renderer, "ack", within="").split())


def test_dsf_report_has_the_handbook_shape(renderer: Renderer) -> None:
    text = render(renderer, "dsf_report")
    lines = text.split("\n")
    when = lines.index("When: Thursday 3 June 2027, around 21:30")
    assert lines[when + 1] == "Where: Conference party, Bar Centrale"
    people = lines.index("People involved")
    assert lines[people + 1] == "  Reported person: Dan Doe <dan@example.com>"
    assert "  Reported by: Alex Rivera <alex@example.net>" in lines
    assert "  Person affected: Sam Okafor <sam@example.net>" in lines
    assert "  Witness: Kim Park <kim@example.net>" in lines
    assert lines.index("Responses") > lines.index("What happened:") > people
    what = lines.index("What happened:")
    assert lines[what + 1].startswith("An attendee repeatedly touched")
    assert "The reported person was told of the response on 2027-06-04 17:00." in text
    assert "The person affected was told of the decision on 2027-06-04 17:30." in text
    assert "did not notice" in text
    closing = re.sub(r"\s+", " ", text)
    assert "This report is for your records. No action is expected" in closing
    assert closing.startswith("Hello, Please find below our report to the DSF Code of Conduct"
                              " committee of a Code of Conduct incident")
    assert "acknowledge receipt" in closing
    bare = render(renderer, "dsf_report", action=None, outcome=None)
    assert "Action taken" not in bare and "Outcome" not in bare


def test_reporter_reply_does_not_greet_twice(renderer: Renderer) -> None:
    text = render(renderer, "reporter_reply")
    assert text.startswith("Hello Alex Rivera,\n\nThank you again")
    greeted = render(renderer, "reporter_reply", text="Hi Alex,\n\nQuick update.")
    assert greeted.startswith("Hi Alex,\n\nQuick update.\n")


def test_help_lists_every_command(renderer: Renderer) -> None:
    text = render(renderer, "help")
    for syntax, _ in COMMANDS:
        assert f"\n{syntax}\n" in text


def test_status_shows_every_column_and_missing_steps(renderer: Renderer) -> None:
    text = render(renderer, "status")
    assert "Case 12 is open." in text
    assert "Action taken:     -" in text
    assert "Reporter email:   alex@example.net" in text
    assert "- report to the DSF" in text
    done = render(renderer, "status", missing_steps=[], status="closed")
    assert "Nothing is missing" in done


def test_preview_says_nothing_was_sent_and_shows_the_exact_body(renderer: Renderer) -> None:
    text = render(renderer, "preview")
    assert "Nothing was sent." in text
    body = SAMPLES["preview"]["mail_body"]
    assert f"----- begin preview -----\n{body}----- end preview -----" in text


def test_digest_counts_and_attention(renderer: Renderer) -> None:
    text = render(renderer, "digest")
    assert "Opened this week: cases 12 and 13" in text
    assert "Closed this week: case 11" in text
    assert "24 hours after opening: case 13" in text
    assert "Case 13 (URGENT): open for 1 day" in text
    assert "Waiting for a second member's #approve: case 12" in text
    quiet = render(renderer, "digest", opened=[], closed=[], open_cases=[], stale=[],
                   dsf_due=[], awaiting=[])
    assert "There are no open cases." in quiet and "Needs attention" not in quiet


def test_quarantined_says_how_to_look_and_retry(renderer: Renderer) -> None:
    text = render(renderer, "quarantined")
    assert "cocmail quarantine show 4" in text
    assert "cocmail quarantine release 4" in text


# ------------------------------------------------------------------------- the renderer


def test_missing_variable_names_template_and_variable(renderer: Renderer) -> None:
    context = {**COMMON, **SAMPLES["harasser_response"]}
    del context["appeal_contact"]
    with pytest.raises(TemplateError) as err:
        renderer.render("harasser_response", **context)
    assert "harasser_response" in str(err.value) and "appeal_contact" in str(err.value)


def test_missing_attribute_is_a_template_error(renderer: Renderer) -> None:
    with pytest.raises(TemplateError) as err:
        render(renderer, "digest", open_cases=[
            {"case": 1, "urgent": False, "last_activity": "2027-06-05", "missing_steps": []}])
    assert "digest" in str(err.value) and "age_days" in str(err.value)


def test_unknown_template_is_a_template_error(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="nosuch"):
        renderer.render("nosuch")


def test_override_dir_wins_and_falls_back(tmp_path: Path) -> None:
    (tmp_path / "ack.txt").write_text("Hola {{ reporter_name }}, caso {{ case }}.  \n\n\n")
    r = Renderer(tmp_path)
    assert r.render("ack", **COMMON, reporter_name="Alex") == "Hola Alex, caso 12.\n"
    assert r.render("help", **COMMON, commands=COMMANDS) == Renderer().render(
        "help", **COMMON, commands=COMMANDS)


def test_override_with_a_syntax_error_names_the_template(tmp_path: Path) -> None:
    (tmp_path / "ack.txt").write_text("Hello {% if reporter_name %}\n")
    with pytest.raises(TemplateError, match="ack"):
        Renderer(tmp_path).render("ack", **COMMON, **SAMPLES["ack"])


def test_override_that_is_not_utf8_names_the_template(tmp_path: Path) -> None:
    (tmp_path / "ack.txt").write_bytes(b"Hallo \xff\n")
    with pytest.raises(TemplateError, match="ack"):
        Renderer(tmp_path).render("ack", **COMMON, **SAMPLES["ack"])


# ------------------------------------------------------- confidentiality (property-based)

# Distinctive, realistic-looking names: two capitalised words, possibly accented.
name_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéøñ", min_size=3, max_size=10)
names = st.builds(lambda a, b: f"{a.capitalize()} {b.capitalize()}", name_part, name_part)


def _leaky_context(reporter: str, victim: str, witness: str) -> dict[str, Any]:
    """Everything the code knows about a case, as a careless caller might pass it."""
    return {
        "reporter_name": reporter, "reporter": f"{reporter} <r@example.net>",
        "victim_name": victim, "victim": victim, "witness": witness, "witnesses": [witness],
        "report_text": f"{victim} was harassed; {witness} saw it. Signed, {reporter}",
        "report_from": reporter, "text": f"{reporter} says hi", "what_happened": victim,
        "earlier": [{"case": 1, "person": witness, "outcome": None, "status": "open"}],
    }


@pytest.mark.parametrize("name", [*ACCUSED_TEMPLATES, "dsf_report"])
@settings(max_examples=60, deadline=None)
@given(reporter=names, victim=names, witness=names)
def test_outside_mail_never_shows_names_it_was_not_given(
    renderer: Renderer, name: str, reporter: str, victim: str, witness: str
) -> None:
    own = {**COMMON, **SAMPLES[name]}
    baseline = renderer.render(name, **own)
    text = renderer.render(name, **{**_leaky_context(reporter, victim, witness), **own})
    assert text == baseline
    for person in (reporter, victim, witness):
        if person not in baseline:
            assert person not in text


def test_the_possibly_urgent_words_fit_a_plain_text_reader() -> None:
    renderer = Renderer()
    note = renderer.render("staff_new_case", **{**COMMON, **SAMPLES["staff_new_case"],
                                                "possibly_urgent": ["outside my hotel",
                                                                    "don't feel safe"]})
    assert 'danger now ("outside my hotel", "don\'t feel safe")' in " ".join(note.split())
    reminder = renderer.render("still_unanswered", **{**COMMON, **SAMPLES["still_unanswered"],
                                                      "possibly_urgent": True})
    assert "hotel" not in reminder  # reminders carry nothing a person wrote
    for text in (note, reminder):
        assert all(len(line) <= 78 for line in text.split("\n") if not line.startswith(">"))
