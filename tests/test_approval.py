"""Second approval (issue 14 part 2, issue 11 item 7), through App.receive and real replies
to the mails cocmail sent: mail to the reported person or the DSF, and excluding another
member, wait for a second authenticated member's #approve."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cocmail.app import App, open_app
from cocmail.cli import main
from cocmail.store import cases as cases_db
from cocmail.store import proposals as proposals_db
from testsupport.helpers import body_of, mail, make_config, spool

CY = """
[[staff]]
name = "Cy Park"
email = "cy@example.org"
"""
REPORT = mail("Eve Example <eve@attendee.example>", "Something happened",
              "Dan Doe touched my arm at the party.\n", message_id="<r1@attendee.example>")
DECIDE = "#accused Dan Doe <dan@speaker.example>\n#action A formal warning\n"
_n = [0]


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    a = make_app(CY)
    a.receive(REPORT, "test")
    return a


def reply_to(app: App, who: str, to: object, body: str) -> str:
    _n[0] += 1
    return app.receive(mail(f"Staff <{who}>", "Re: " + str(to["Subject"]), body,  # type: ignore[index]
                            message_id=f"<s{_n[0]}@example.org>",
                            in_reply_to=to["Message-ID"]), "test")  # type: ignore[index]


def last_to(app: App, who: str, subject: str = "") -> object:
    return [m for m in spool(app.cfg) if who in str(m["To"]) and subject in str(m["Subject"])][-1]


def command(app: App, who: str, body: str) -> str:
    return reply_to(app, who, last_to(app, who), body)


def to_dan(app: App) -> list:
    return [m for m in spool(app.cfg) if "dan@speaker.example" in str(m["To"])]


def proposals(app: App) -> list[dict]:
    result = CliRunner().invoke(main, ["--config", app.cfg.source, "cases", "show", "1",
                                       "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["proposals"]


def test_notify_harasser_waits_and_a_second_member_sends_it_exactly_once(app: App) -> None:
    command(app, "ana@example.org", DECIDE + "#notify-harasser\n")
    assert to_dan(app) == []
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.step("harasser_informed") is None  # not done yet
    transcript = body_of(last_to(app, "ana@example.org", "Commands"))
    assert "Waiting for a second team member's #approve" in transcript
    for who in ("ben@example.org", "cy@example.org"):
        preview = last_to(app, who, "Approval needed")
        text = body_of(preview)
        assert "Ana Lima proposes to send this to the reported person." in text
        assert "Reply #approve to send it, #reject [reason] to drop it." in text
        assert "A formal warning" in text and "Dan Doe <dan@speaker.example>" in text
    assert [(p["kind"], p["proposed_by"], p["state"]) for p in proposals(app)] == [
        ("harasser", "ana@example.org", "waiting")]
    reply_to(app, "ben@example.org", last_to(app, "ben@example.org", "Approval needed"),
             "#approve\n")
    (sent,) = to_dan(app)
    assert "A formal warning" in body_of(sent)
    assert "Eve" not in sent.as_string() and "touched" not in sent.as_string()
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.step("harasser_informed") is not None
    p = app.store.read(proposals_db.proposals, 1)[0]
    assert (p.state, p.decided_by) == ("approved", "ben@example.org")
    # Cy approves the same proposal later: refused, nothing goes out again.
    reply_to(app, "cy@example.org", last_to(app, "cy@example.org", "Approval needed"),
             "#approve\n")
    assert len(to_dan(app)) == 1
    assert "already approved by Ben Okafor" in body_of(last_to(app, "cy@example.org",
                                                               "Commands refused"))


def test_the_proposer_cannot_approve_their_own(app: App) -> None:
    command(app, "ana@example.org", DECIDE + "#notify-accused\n")
    command(app, "ana@example.org", "#approve\n")
    assert to_dan(app) == []
    assert "another team member must approve" in body_of(
        last_to(app, "ana@example.org", "Commands refused"))
    assert app.store.read(proposals_db.proposals, 1)[0].state == "waiting"


def test_unauthenticated_approve_does_nothing(app: App) -> None:
    command(app, "ana@example.org", DECIDE + "#notify-harasser\n")
    forged = mail("Ben Okafor <ben@example.org>", "[CoC #1] ok", "#approve\n",
                  message_id="<forged@evil.example>")
    app.receive(forged, "test")
    assert to_dan(app) == []
    assert app.store.read(proposals_db.proposals, 1)[0].state == "waiting"
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.step("harasser_informed") is None


def test_a_stale_proposal_is_refused_with_the_reason(app: App) -> None:
    command(app, "ana@example.org", DECIDE + "#notify-harasser\n")
    proposal = last_to(app, "ben@example.org", "Approval needed")
    command(app, "cy@example.org", "#action Removed from the event\n")
    reply_to(app, "ben@example.org", proposal, "#approve\n")
    assert to_dan(app) == []
    refused = body_of(last_to(app, "ben@example.org", "Commands refused"))
    assert "out of date: action changed" in refused
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.step("harasser_informed") is None


def test_reject_drops_it_and_tells_the_proposer(app: App) -> None:
    command(app, "ana@example.org", DECIDE + "#notify-harasser\n")
    reply_to(app, "ben@example.org", last_to(app, "ben@example.org", "Approval needed"),
             "#reject Let us talk to the witness first\n")
    told = body_of(last_to(app, "ana@example.org", "rejected"))
    assert "Ben Okafor rejected your proposal" in told and "talk to the witness" in told
    assert app.store.read(proposals_db.proposals, 1)[0].state == "rejected"
    assert proposals(app)[0]["state"] == "rejected"
    reply_to(app, "cy@example.org", last_to(app, "cy@example.org", "Approval needed"),
             "#approve\n")
    assert to_dan(app) == []


def test_status_lists_waiting_proposals(app: App) -> None:
    command(app, "ana@example.org", DECIDE + "#notify-accused\n")
    command(app, "ben@example.org", "#status\n")
    status = body_of(last_to(app, "ben@example.org", "Case status"))
    assert "Ana Lima" in status and "send the complaint notice to the reported person" in status


def test_the_digest_lists_cases_waiting_for_approval(app: App) -> None:
    from cocmail.clock import utcnow
    from cocmail.digest import build_digest

    command(app, "ana@example.org", DECIDE + "#notify-harasser\n")
    assert "Waiting for a second member's #approve: case 1" in build_digest(app, utcnow())
    reply_to(app, "ben@example.org", last_to(app, "ben@example.org", "Approval needed"),
             "#approve\n")
    assert "Waiting for a second member" not in build_digest(app, utcnow())


def test_cases_show_lists_waiting_proposals(app: App) -> None:
    command(app, "ana@example.org", DECIDE + "#notify-harasser\n")
    result = CliRunner().invoke(main, ["--config", app.cfg.source, "cases", "show", "1"])
    assert "Waiting for a second member's #approve:" in result.output
    assert "harasser, proposed by ana@example.org" in result.output


def test_a_one_member_team_is_never_blocked(tmp_path: Path) -> None:
    solo = open_app(make_config(tmp_path))
    try:
        solo.receive(REPORT, "test")
        # Nobody but Ben could decide it, and a proposal about him is never his to decide
        # (issue 21): Ana decides alone, and Ben is never asked.
        command(solo, "ana@example.org", "#recuse ben@example.org\n")
        assert not [m for m in spool(solo.cfg) if "Approval needed" in str(m["Subject"])]
        case = solo.store.read(cases_db.load_case, 1)
        assert case is not None and case.recused == ("ben@example.org",)
        command(solo, "ana@example.org", DECIDE + "#notify-harasser\n")
        assert len(to_dan(solo)) == 1  # nobody else can see the case: sent at once
    finally:
        solo.close()


def test_second_approval_off_sends_at_once(tmp_path: Path) -> None:
    a = open_app(make_config(tmp_path, "[process]\nsecond_approval = []\n"))
    try:
        a.receive(REPORT, "test")
        command(a, "ana@example.org", DECIDE + "#notify-harasser\n")
        assert len(to_dan(a)) == 1
    finally:
        a.close()


def test_recusing_another_member_needs_a_second_member_and_tells_the_leads(app: App) -> None:
    command(app, "ben@example.org", "#recuse cy@example.org\n")
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.recused == ()
    reply_to(app, "ben@example.org", last_to(app, "ben@example.org", "Commands"), "#approve\n")
    assert app.store.read(cases_db.load_case, 1).recused == ()  # type: ignore[union-attr]
    reply_to(app, "ana@example.org", last_to(app, "ana@example.org", "Approval needed"),
             "#approve\n")
    assert app.store.read(cases_db.load_case, 1).recused == ("cy@example.org",)  # type: ignore[union-attr]
    lead = body_of(last_to(app, "ana@example.org", "excluded"))
    assert "Cy Park was excluded from case 1" in lead and "reason is not written" in lead
    assert not [m for m in spool(app.cfg) if "cy@" in str(m["To"]) and "excluded" in
                str(m["Subject"])]


def test_the_last_member_who_can_see_a_case_cannot_be_recused(tmp_path: Path) -> None:
    a = open_app(make_config(tmp_path))
    try:
        a.receive(REPORT, "test")
        command(a, "ana@example.org", "#recuse ana@example.org\n")  # self: at once
        assert a.store.read(cases_db.load_case, 1).recused == ("ana@example.org",)  # type: ignore[union-attr]
        command(a, "ben@example.org", "#recuse ben@example.org\n")
        assert a.store.read(cases_db.load_case, 1).recused == ("ana@example.org",)  # type: ignore[union-attr]
        assert "last team member" in body_of(last_to(a, "ben@example.org", "Commands refused"))
    finally:
        a.close()


def test_dsf_report_waits_for_approval(app: App) -> None:
    command(app, "ana@example.org", DECIDE + "#when Friday\n#where Party\n#report-dsf now "
            "He touched an attendee's arm; we warned him.\n")
    dsf = [m for m in spool(app.cfg) if "djangoproject" in str(m["To"])]
    assert dsf == []
    preview = body_of(last_to(app, "cy@example.org", "Approval needed"))
    assert "send this report to the DSF" in preview and "People involved" in preview
    reply_to(app, "cy@example.org", last_to(app, "cy@example.org", "Approval needed"),
             "#approve\n")
    (sent,) = [m for m in spool(app.cfg) if "djangoproject" in str(m["To"])]
    assert "Reported person: Dan Doe <dan@speaker.example>" in body_of(sent)
    assert app.store.read(cases_db.load_case, 1).step("dsf_reported") is not None  # type: ignore[union-attr]


def test_a_lead_excluded_from_a_case_is_not_told_it_exists(app: App) -> None:
    """Issue 21: the digest shows nothing of what a lead may not see, not even a count."""
    from cocmail.clock import utcnow
    from cocmail.digest import queue_digest

    command(app, "ana@example.org", "#recuse ana@example.org\n")  # Ana, a lead, steps out
    queue_digest(app, utcnow())
    app.outbox.deliver_due()
    digest = body_of(last_to(app, "ana@example.org", "digest"))
    assert "Not shown" not in digest and "excluded" not in digest
    assert "Case 1:" not in digest and "There are no open cases." in digest
