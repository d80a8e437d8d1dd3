"""The DSF report through the real commands: the people involved, the responses, and the
correspondence attached only when `[dsf] attach_correspondence = true` (issue 14, part 1);
at the end, on stored rows without servers, which mail the committee may read at all."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cocmail.app import App, open_app
from cocmail.core.case import Case, Person
from cocmail.core.compose import Attachment
from cocmail.core.correspondence import (
    carries_correspondence,
    correspondence,
    dsf_attachments,
    with_correspondence,
)
from cocmail.core.effects import OutMail
from cocmail.core.mail_contexts import (
    AckContext,
    DsfReportContext,
    PreviewContext,
    ProposalContext,
)
from cocmail.core.model import Address
from testsupport.helpers import SEND_AT_ONCE, body_of, mail, make_config, spool

REPORT = mail("Eve Example <eve@attendee.example>", "Something happened",
              "Dan Doe touched my friend's arm at the party.\n",
              message_id="<r1@attendee.example>")
COMMANDS = ("#accused Dan Doe <dan@speaker.example>\n"
            "#victim Fay Friend <fay@attendee.example>\n"
            "#witness Kim Park <kim@attendee.example>\n"
            "#when Thursday, 21:30\n#where Conference party\n"
            "#summary unwanted touching after being asked to stop\n"
            "#notified-accused He says he did not notice and apologised\n"
            "#action A formal warning\n#outcome warning\n")
NOTE = "INTERNAL: Ben thinks Dan was drunk.\n"


def _app(tmp_path: Path, extra: str = "") -> App:
    return open_app(make_config(tmp_path, extra))


def _reply(app: App, who: str, body: str, n: int) -> bytes:
    note = [m for m in spool(app.cfg) if who in str(m["To"])][-1]
    return mail(f"Staff <{who}>", "Re: " + str(note["Subject"]), body,
                message_id=f"<staff{n}@example.org>", in_reply_to=note["Message-ID"])


def _to_dsf(app: App) -> list:
    return [m for m in spool(app.cfg) if "conduct@djangoproject.com" in str(m["To"])]


def test_preview_dsf_shows_the_people_involved_and_the_responses(tmp_path: Path) -> None:
    app = _app(tmp_path)
    try:
        app.receive(REPORT, "test")
        app.receive(_reply(app, "ana@example.org", COMMANDS + "#preview dsf\n\n" + NOTE, 1),
                    "test")
        preview = body_of([m for m in spool(app.cfg) if "Preview" in str(m["Subject"])][-1])
        for line in ("People involved", "Reported person: Dan Doe <dan@speaker.example>",
                     "Reported by: Eve Example <eve@attendee.example>",
                     "Person affected: Fay Friend <fay@attendee.example>",
                     "Witness: Kim Park <kim@attendee.example>",
                     "Handled by: Ana Lima <ana@example.org>",
                     "What happened:\nunwanted touching after being asked to stop",
                     "The reported person's side: He says he did not notice and apologised",
                     "The reported person was told of the complaint on",
                     "The person affected has not been told of the decision yet."):
            assert line in preview.replace("\r\n", "\n"), line
        assert "INTERNAL" not in preview and "In brief" not in preview  # said once
        assert not _to_dsf(app)
    finally:
        app.close()


def test_report_taken_in_person_and_anonymous_reporter_are_named_so(tmp_path: Path) -> None:
    app = _app(tmp_path)
    try:
        app.receive(mail("Ana Lima <ana@example.org>", "Report taken at the desk",
                         "#reporter anonymous\n#accused Dan Doe <dan@speaker.example>\n"
                         "#when Friday\n#where Desk\n#summary Someone came to the desk.\n"
                         "#preview dsf\n",
                         message_id="<desk@example.org>",
                         extra={"Authentication-Results":
                                "mx.example.org; dmarc=pass header.from=example.org"}),
                    "imap")
        preview = body_of([m for m in spool(app.cfg) if "Preview" in str(m["Subject"])][-1])
        assert ("Reported by: anonymous; a staff member took the report in person "
                "(Ana Lima <ana@example.org>)") in preview
    finally:
        app.close()


def test_dsf_report_goes_without_attachments_by_default(tmp_path: Path) -> None:
    app = _app(tmp_path, SEND_AT_ONCE)
    try:
        app.receive(REPORT, "test")
        app.receive(_reply(app, "ana@example.org", COMMANDS + "#report-dsf now "
                           "He touched an attendee's arm; we warned him.\n", 1), "test")
        (dsf,) = _to_dsf(app)
        assert not dsf.is_multipart()
        assert "Reported person: Dan Doe <dan@speaker.example>" in body_of(dsf)
        assert "Person affected: Fay Friend <fay@attendee.example>" in body_of(dsf)
        assert "touched my friend" not in dsf.as_string()  # the report is not attached
    finally:
        app.close()


def test_attach_correspondence_sends_the_mail_with_reporter_and_accused(tmp_path: Path) -> None:
    app = _app(tmp_path, SEND_AT_ONCE + "[dsf]\nattach_correspondence = true\n")
    try:
        app.receive(REPORT, "test")
        app.receive(_reply(app, "ana@example.org",
                           "#accused Dan Doe <dan@speaker.example>\n#notify-accused\n\n" + NOTE,
                           1), "test")
        complaint = [m for m in spool(app.cfg) if "dan@speaker" in str(m["To"])][-1]
        app.receive(mail("Dan Doe <dan@speaker.example>", "Re: " + str(complaint["Subject"]),
                         "I am sorry, I did not notice.\n", message_id="<dan1@speaker.example>",
                         in_reply_to=complaint["Message-ID"]), "test")
        app.receive(_reply(app, "ana@example.org",
                           "#when Thursday\n#where Party\n#action A warning\n#report-dsf now "
                           "The person touched an attendee's arm; we warned him.\n", 2), "test")
        (dsf,) = _to_dsf(app)
        assert dsf.is_multipart()
        parts = list(dsf.iter_attachments())
        kinds = [p.get_content_type() for p in parts]
        assert kinds.count("message/rfc822") == 2  # the report and Dan's answer, as they came
        whole = dsf.as_string()
        assert "touched my friend's arm" in whole and "I did not notice" in whole
        assert "A Code of Conduct matter" in whole  # what the team sent Dan
        assert "INTERNAL" not in whole  # never staff notes, relays or transcripts
        assert "Commands done" not in whole
    finally:
        app.close()


def test_mail_people_read_says_reported_person_and_person_affected(tmp_path: Path) -> None:
    """Issue 14, part 4: commands keep their names (#notify-harasser), but no mail says
    "harasser" or "victim" in its own words: transcripts, relays, #status, #help,
    previews, the digest and the DSF report."""
    import re

    from cocmail.clock import utcnow
    from cocmail.digest import build_digest

    app = _app(tmp_path, SEND_AT_ONCE)
    try:
        app.receive(REPORT, "test")
        app.receive(_reply(app, "ana@example.org", COMMANDS + "#preview victim\n"
                           "#preview harasser\n#status\n#help\n", 1), "test")
        app.receive(_reply(app, "ana@example.org", "#notify-harasser\n"
                           "#notified-victim\n#report-dsf now He touched an arm.\n", 2),
                    "test")
        fay = mail("Fay <fay@attendee.example>", "Re: [CoC #1] New report", "Thanks.\n",
                   message_id="<fay1@attendee.example>")
        app.receive(fay, "test")
        texts = [body_of(m) for m in spool(app.cfg)] + [build_digest(app, utcnow())]
        assert any("The person affected wrote on case 1" in t for t in texts)
        assert len(texts) > 10
        for text in texts:
            # Command names and their syntax stay (#preview accused|harasser|victim|...,
            # #reply victim, #language [accused|victim] <code>).
            words = re.sub(r"#(?:preview|reply|language)\s+\S+|#[\w-]+", "", text)
            assert not re.search(r"harass|victim", words, re.IGNORECASE), words
    finally:
        app.close()


# ------------------------------------------------------------------ what goes along
# Decided in core/correspondence.py, on stored rows: no servers, no store.

def _row(direction: str, kind: str, sender: str, recipients: str = "[]") -> dict[str, Any]:
    return {"direction": direction, "kind": kind, "sender": sender, "body": f"{kind} body",
            "date": "2027-06-04T10:00:00+00:00", "recipients": recipients, "raw": None}


CASE = Case(number=3, opened=datetime(2027, 6, 4, tzinfo=UTC),
            reporter=Person("reporter", "Eve Example", "eve@attendee.example"),
            victim=Person("victim", "Fay Friend", "fay@attendee.example"),
            victim_is_reporter=False,
            accused=(Person("accused", "Dan Doe", "dan@speaker.example"),),
            witnesses=(Person("witness", "Kim Park", "kim@attendee.example"),))


def test_the_committee_reads_the_people_of_the_case_and_never_staff_mail() -> None:
    rows = [_row("in", "report", "EVE@attendee.example"),
            _row("in", "staff", "ana@example.org"),
            _row("out", "staff_new_case", "conduct@example.org"),
            _row("out", "ack", "conduct@example.org", '["eve@attendee.example"]'),
            _row("in", "followup", "kim@attendee.example"),  # a witness: not sent
            _row("in", "followup", "dan@speaker.example"),
            _row("in", "followup", "stranger@else.example"),
            _row("out", "accused_complaint", "conduct@example.org", '["dan@speaker.example"]'),
            _row("out", "transcript", "conduct@example.org"),
            _row("in", "relay", "fay@attendee.example"),
            _row("in", "followup", "fay@attendee.example")]
    chosen = correspondence(CASE, rows)
    assert [(r["direction"], r["kind"], r["sender"]) for r in chosen] == [
        ("in", "report", "EVE@attendee.example"),
        ("out", "ack", "conduct@example.org"),
        ("in", "followup", "dan@speaker.example"),
        ("out", "accused_complaint", "conduct@example.org"),
        ("in", "followup", "fay@attendee.example")]
    files = [a.filename for a in dsf_attachments(CASE, rows)]
    assert files == ["01-from-EVE@attendee.example.txt", "02-to-eve@attendee.example.txt",
                     "03-from-dan@speaker.example.txt", "04-to-dan@speaker.example.txt",
                     "05-from-fay@attendee.example.txt"]  # numbered without gaps


def _dsf_mail() -> OutMail:
    return OutMail(to=Address("DSF", "conduct@djangoproject.com"), role="d", case=3,
                   context=DsfReportContext(
                       when="", where="", summary="", what_happened="", action=None,
                       outcome=None, reported=[], reporter="unknown", affected=None,
                       witnesses=[], handled_by=[], accused_side="", accused_told=None,
                       harasser_told=None, victim_told=None, no_harasser_steps=False))


def _staff_mail(context: PreviewContext | ProposalContext) -> OutMail:
    return OutMail(to=Address("Ana", "ana@example.org"), role="s1", case=3, context=context)


def test_only_a_dsf_report_or_its_proposal_or_preview_carries_correspondence() -> None:
    dsf = _dsf_mail()
    preview = _staff_mail(PreviewContext(target="the DSF", inner=dsf, near_misses=[]))
    proposal = _staff_mail(ProposalContext(
        recipient_name="Ana", proposer="Bo", what="send", recuse=False, include=False,
        on_case="", inners=[dsf], near_misses=[]))
    ack = replace(dsf, context=AckContext(reporter_name="", within="", possibly_urgent=False))
    other = _staff_mail(PreviewContext(target="the reporter", inner=ack, near_misses=[]))
    assert [carries_correspondence(m, True) for m in (dsf, preview, proposal, other)] == [
        True, True, True, False]
    assert not carries_correspondence(dsf, False)  # [dsf] attach_correspondence off
    assert not carries_correspondence(replace(dsf, case=None), True)


def test_a_preview_names_the_files_and_only_the_report_carries_them() -> None:
    files = (Attachment("01-from-eve.eml", raw=b"x"), Attachment("02-to-eve.txt", text="y"))
    dsf = _dsf_mail()
    assert with_correspondence(dsf, files) == (dsf, files)
    preview = _staff_mail(PreviewContext(target="the DSF", inner=dsf, near_misses=[]))
    named, carried = with_correspondence(preview, files)
    assert carried == ()
    assert named.context == PreviewContext(target="the DSF", inner=dsf, near_misses=[],
                                           attached=["01-from-eve.eml", "02-to-eve.txt"])
