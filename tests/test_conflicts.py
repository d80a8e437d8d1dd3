"""Conflicts by construction (issue 21): a case that names a team member never reaches
them, through the real flow (App.receive, replies to the mails cocmail sent, the CLI).

Ana Lima (lead), Ben Okafor and Cy Park are the team.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cocmail.app import App
from cocmail.cli import main
from cocmail.core.case import Person
from cocmail.core.model import Roster, StaffMember
from cocmail.digest import queue_digest
from cocmail.nonces import new_nonce
from cocmail.reminders_due import send_due_reminders
from cocmail.store import cases as cases_db
from testsupport.apps import Desk
from testsupport.helpers import body_of, mail, spool

CY = '[[staff]]\nname = "Cy Park"\nemail = "cy@example.org"\n'
# Desk's config opens [process] just before the extra text: a key on top lands in it.
BOARD = 'conflict_contacts = ["board@example.org"]\n'
TEAM = ("ana@example.org", "ben@example.org", "cy@example.org")


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk(CY)


def to(desk: Desk, who: str) -> list:
    return [m for m in desk.sent() if who in str(m["To"])]


def show(cfg_source: str, number: int = 1) -> dict:
    result = CliRunner().invoke(main, ["--config", cfg_source, "cases", "show", str(number),
                                       "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# ------------------------------------------------------------------ the report names them
@pytest.mark.parametrize(("subject", "text", "named"), [
    ("Something happened", "Ben Okafor (ben@example.org) kept touching me.", "ben"),
    ("Something happened", "It was Okafor, Ben, at the party.", "ben"),
    ("Something happened", "ben kept following me around the venue.", "ben"),
    ("About Cy", "I would rather not say more here.", "cy"),
    ("Something happened", "Write to ana.lima@gmail.example, she saw it.", "ana"),
    ("Something happened", "Zoë's friend was rude, Ana Lima saw it.", "ana"),
])
def test_a_report_naming_a_member_never_reaches_them_and_the_others_are_told_on_top(
        desk: Desk, subject: str, text: str, named: str) -> None:
    desk.report("Eve Example <eve@attendee.example>", text + "\n", subject=subject)
    assert to(desk, f"{named}@example.org") == []
    # The reporter is told the member was not sent it (the others handle it).
    assert "It names a member of our team, so it has not been sent to them" in " ".join(
        body_of(to(desk, "eve@attendee.example")[0]).split())
    others = [a for a in TEAM if not a.startswith(named)]
    for who in others:
        (note,) = to(desk, who)
        body = body_of(note)
        top = body[:body.index("A new report has arrived")]
        assert "THIS REPORT NAMES A MEMBER OF THE TEAM" in top
        assert f"<{named}@example.org>\r\n  named by" in top
        assert "cocmail did not send this to them" in top
    data = show(desk.cfg.source)
    assert [(e["email"], e["why"]) for e in data["excluded"]] == [(f"{named}@example.org",
                                                                  "named")]


def test_a_report_naming_nobody_reaches_everyone_without_a_notice(desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "Dan Doe touched my arm.\n")
    for who in TEAM:
        assert "NAMES A MEMBER" not in body_of(to(desk, who)[0])
    assert show(desk.cfg.source)["excluded"] == []
    assert "names a member of our team" not in body_of(to(desk, "eve@attendee.example")[0])


def test_the_member_who_took_the_report_is_not_excluded_by_their_own_signature(
        desk: Desk) -> None:
    desk.enter("ben@example.org", "Dan Doe grabbed an attendee; Cy Park saw it.\n\n"
                                  "-- \nBen Okafor, CoC team\n")
    assert show(desk.cfg.source)["excluded"] == [
        {"email": "cy@example.org", "name": "Cy Park", "why": "named"}]
    assert to(desk, "cy@example.org") == []
    assert 'Cy Park <cy@example.org>\r\n  named by their name "Cy Park"' in body_of(
        to(desk, "ana@example.org")[0])


# ------------------------------------------------------------------ later in the case
def test_accused_command_excludes_the_member_who_then_cannot_decide_anything(
        desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "The speaker was rude to me.\n")
    desk.new()
    desk.staff("ana@example.org", 1, "#accused Ben Okafor <ben@example.org>\n#urgent\n")
    fresh = desk.new()
    assert not [m for m in fresh if "ben@" in str(m["To"])]  # not the relay, not the urgent
    transcript = body_of([m for m in fresh if "ana@" in str(m["To"])
                          and "Commands" in str(m["Subject"])][0])
    assert "Ben Okafor is on the team: now excluded from this case" in transcript
    # Ben still holds his first notification: his commands are refused as a whole.
    desk.staff("ben@example.org", 1, "#action No action\n#outcome not-a-violation\n#close\n")
    case = desk.app.store.read(cases_db.load_case, 1)
    assert case is not None and case.action is None and case.outcome is None
    assert case.status == "open"
    fresh = desk.new()
    assert not [m for m in fresh if "ben@" in str(m["To"])]  # never answered
    relay = body_of([m for m in fresh if "cy@" in str(m["To"])][0])
    said = " ".join(relay.split())
    assert ("A team member excluded from this case, and the reported person on it, wrote on"
            " case 1. Their commands were not run.") in said
    assert "Please answer nothing from the case: it is kept from them." in said
    assert [e["why"] for e in show(desk.cfg.source)["excluded"]] == ["named"]


def test_a_member_cannot_put_themselves_on_the_case(desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "The speaker was rude to me.\n")
    desk.staff("cy@example.org", 1, "#witness Cy Park <cy@example.org>\n#action done\n")
    case = desk.app.store.read(cases_db.load_case, 1)
    assert case is not None and case.witnesses == () and case.action is None
    assert "this names you" in body_of(desk.last_to("cy@example.org", 1))


def test_a_later_message_naming_a_member_excludes_them_before_it_is_relayed(
        desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "The speaker was rude to me.\n")
    ack = desk.last_to("eve@attendee.example", 1)
    desk.new()
    desk.receive(mail("Eve Example <eve@attendee.example>", "Re: " + ack["Subject"],
                      "I forgot: Cy was there and laughed.\n", message_id="<f1@attendee.example>",
                      in_reply_to=ack["Message-ID"]))
    fresh = desk.new()
    assert not [m for m in fresh if "cy@" in str(m["To"])]
    relay = body_of([m for m in fresh if "ana@" in str(m["To"])][0])
    assert relay.index("THIS MESSAGE NAMES A MEMBER") < relay.index("The reporter wrote")
    assert 'Cy Park <cy@example.org>\r\n  named by "Cy", a name only they' in relay


# ------------------------------------------------------------------ proposals
@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    a = make_app(CY)
    a.receive(mail("Eve Example <eve@attendee.example>", "Something happened",
                   "Dan Doe touched my arm at the party.\n", message_id="<r1@attendee.example>"),
              "test")
    return a


_n = [0]


def reply(app: App, who: str, subject_has: str, body: str) -> None:
    _n[0] += 1
    note = [m for m in spool(app.cfg) if who in str(m["To"]) and subject_has in
            str(m["Subject"])][-1]
    app.receive(mail(f"Staff <{who}>", "Re: " + str(note["Subject"]), body,
                     message_id=f"<c{_n[0]}@example.org>", in_reply_to=note["Message-ID"]),
                "test")


def test_a_recusal_is_proposed_only_to_members_who_can_decide_it(app: App) -> None:
    reply(app, "ana@example.org", "New report", "#recuse ben@example.org\n")
    assert not [m for m in spool(app.cfg) if "ben@" in str(m["To"])
                and "Approval needed" in str(m["Subject"])]
    # Ben cannot drop it: his whole mail is refused.
    reply(app, "ben@example.org", "New report", "#reject not me\n")
    assert "a proposal about you is waiting" in body_of(
        [m for m in spool(app.cfg) if "ben@" in str(m["To"])][-1])
    assert [p["state"] for p in show(app.cfg.source)["proposals"]] == ["waiting"]
    reply(app, "cy@example.org", "Approval needed", "#approve\n")
    assert show(app.cfg.source)["excluded"] == [
        {"email": "ben@example.org", "name": "Ben Okafor", "why": "recused"}]


def test_include_brings_a_named_member_back_only_with_another_members_approval(
        make_app: Callable[..., App]) -> None:
    app = make_app(CY)
    app.receive(mail("Eve Example <eve@attendee.example>", "Something happened",
                     "Ben from the registration desk can confirm.\n",
                     message_id="<r2@attendee.example>"), "test")
    assert not [m for m in spool(app.cfg) if "ben@" in str(m["To"])]
    reply(app, "ana@example.org", "New report", "#include ben@example.org\n")
    assert [m for m in spool(app.cfg) if "cy@" in str(m["To"])
            and "Approval needed" in str(m["Subject"])]
    assert not [m for m in spool(app.cfg) if "ben@" in str(m["To"])]
    reply(app, "ana@example.org", "Commands", "#approve\n")  # never their own
    assert show(app.cfg.source)["excluded"] != []
    reply(app, "cy@example.org", "Approval needed", "#approve\n")
    assert show(app.cfg.source)["excluded"] == []
    (back,) = [m for m in spool(app.cfg) if "ben@" in str(m["To"])
               and "back on this case" in str(m["Subject"])]
    assert "Ben from the registration desk" in body_of(back)
    assert "You are back on case 1." in body_of(back)
    # The report as it arrived: its subject and date, and no empty "Sent by:" line.
    text = body_of(back).replace("\r\n", "\n")
    assert "Subject:      Something happened\n" in text
    assert re.search(r"^Date: +\d{4}-\d\d-\d\d \d\d:\d\d$", text, re.M)
    assert "Sent by:" not in text
    # Brought back, he is not excluded again by the reporter's same words.
    reply(app, "ben@example.org", "back on this case", "#note I can confirm\n")
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and "ben@example.org" in case.handlers


def test_a_member_the_case_accuses_cannot_be_brought_back(desk: Desk) -> None:
    """Brought back, a member the case accuses would read the report and who made it, and
    could act on their own case: #include is refused, and nobody is asked to approve it."""
    desk.report("Eve Example <eve@attendee.example>", "Ben Okafor kept following me.\n")
    desk.staff("ana@example.org", 1, "#accused Ben Okafor <ben@example.org>\n")
    desk.new()
    desk.staff("ana@example.org", 1, "#include ben@example.org\n")
    sent = desk.new()
    assert not [m for m in sent if "Approval needed" in str(m["Subject"])]
    assert not [m for m in sent if "ben@" in str(m["To"])]
    (transcript,) = [m for m in sent if "ana@" in str(m["To"])]
    said = " ".join(body_of(transcript).split())
    assert "Ben Okafor is a reported person on this case" in said
    assert [e["email"] for e in show(desk.cfg.source)["excluded"]] == ["ben@example.org"]


def test_an_include_proposal_warns_when_the_member_has_a_role_on_the_case(
        desk: Desk) -> None:
    """Bringing back a member the case has as a witness sends them the reporter's name:
    the members asked to approve it read that first."""
    desk.report("Eve Example <eve@attendee.example>", "Dan Doe kept following me.\n")
    desk.staff("ana@example.org", 1, "#witness Ben Okafor <ben@example.org>\n")
    desk.new()
    desk.staff("ana@example.org", 1, "#include ben@example.org\n")
    (proposal,) = [m for m in desk.new() if "cy@" in str(m["To"])
                   and "Approval needed" in str(m["Subject"])]
    said = " ".join(body_of(proposal).split())
    assert "Please take great care: the case has them as" in said
    assert "Brought back, they get the whole report, with the name of whoever made it." in said
    desk.report("Fay Example <fay@attendee.example>", "Ben from the desk saw it all.\n")
    desk.staff("ana@example.org", 2, "#include ben@example.org\n")
    (plain,) = [m for m in desk.new() if "cy@" in str(m["To"])
                and "Approval needed" in str(m["Subject"])]
    assert "take great care" not in body_of(plain)


def test_a_named_member_gets_no_mail_proposal_to_approve(app: App) -> None:
    reply(app, "ana@example.org", "New report",
          "#witness Ben Okafor <ben@example.org>\n#accused Dan Doe <dan@speaker.example>\n"
          "#notify-accused\n")
    assert not [m for m in spool(app.cfg) if "ben@" in str(m["To"])
                and "New report" not in str(m["Subject"])]
    assert [m for m in spool(app.cfg) if "cy@" in str(m["To"])
            and "Approval needed" in str(m["Subject"])]


# ------------------------------------------------------------------ every member named
def test_a_report_naming_every_member_goes_to_the_conflict_contacts(
        make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(BOARD + CY)
    desk.report("Eve Example <eve@attendee.example>",
                "Ana Lima, Ben Okafor and Cy Park all ignored my report.\n")
    for who in TEAM:
        assert to(desk, who) == []
    (board,) = to(desk, "board@example.org")
    assert "names every member of the team" in " ".join(body_of(board).split())
    assert "Ana Lima, Ben Okafor and Cy Park all ignored" in body_of(board)
    assert "Eve Example <eve@attendee.example>" in body_of(board)
    assert "The person who wrote got an automatic acknowledgement" in " ".join(
        body_of(board).split())  # so the board knows what she was told
    ack = to(desk, "eve@attendee.example")[0]  # acknowledged, and told the truth:
    said = " ".join(body_of(ack).split())  # the team she named does not read it
    assert "it has not gone to the team" in said
    assert "Your reply goes to those same people, not to the team" in said
    assert "A member of the team will read it" not in said
    desk.receive(mail("Eve Example <eve@attendee.example>", "Re: " + ack["Subject"],
                      "One more thing.\n", message_id="<f2@attendee.example>",
                      in_reply_to=ack["Message-ID"]))
    assert len(to(desk, "board@example.org")) == 2
    for who in TEAM:
        assert to(desk, who) == []
    # The board's own answer on the case is kept, never mailed back to it.
    mine = to(desk, "board@example.org")[-1]
    desk.receive(mail("Board <board@example.org>", "Re: " + mine["Subject"], "We are on it.\n",
                      message_id="<b1@example.org>", in_reply_to=mine["Message-ID"]))
    assert len(to(desk, "board@example.org")) == 2


def test_without_conflict_contacts_such_a_report_reaches_the_team_with_a_warning(
        desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>",
                "Ana Lima, Ben Okafor and Cy Park all ignored my report.\n")
    for who in TEAM:
        body = body_of(to(desk, who)[0])
        assert body.index("NAMES EVERY MEMBER WHO COULD SEE IT") < body.index("A new report")
    # The team does read it, so the acknowledgement says so, as usual.
    assert "A member of the team will read it" in body_of(to(desk, "eve@attendee.example")[0])
    assert show(desk.cfg.source)["excluded"] == []


def test_check_warns_when_no_conflict_contacts_are_set(tmp_path: Path,
                                                      make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(CY)
    warning = "warning: no [process] conflict_contacts"
    result = CliRunner().invoke(main, ["--config", desk.cfg.source, "check"])
    assert warning in result.output
    with_board = make_desk(BOARD + CY)
    result = CliRunner().invoke(main, ["--config", with_board.cfg.source, "check"])
    assert warning not in result.output


# ------------------------------------------------------------------ digest and reminders
def test_an_excluded_lead_hears_of_the_case_nowhere(desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "Ana Lima shouted at me.\n")
    desk.clock.advance(minutes=60 * 24 * 3)
    send_due_reminders(desk.app, desk.clock.now)
    queue_digest(desk.app, desk.clock.now)
    desk.app.outbox.deliver_due()
    assert to(desk, "ana@example.org") and all(
        "CoC #" not in str(m["Subject"]) for m in to(desk, "ana@example.org"))
    (digest,) = to(desk, "ana@example.org")
    text = body_of(digest)
    assert "case 1" not in text.lower() and "excluded" not in text and "Not shown" not in text
    assert "There are no open cases." in text
    assert [m for m in to(desk, "ben@example.org") if "still unanswered" in str(m["Subject"])]


# ------------------------------------------------------------------ the matching rule
ROSTER = Roster((StaffMember(1, "Ana Lima", "ana@example.org", ("ana.lima@gmail.example",)),
                 StaffMember(2, "Ben Okafor", "ben@example.org"),
                 StaffMember(3, "Ana Zoë Kraus", "zoe@example.org")))


def names(text: str) -> list[str]:
    from cocmail.core.conflicts import named_in_text  # new in issue 21

    return [n.member.email for n in named_in_text(text, ROSTER)]


def test_a_name_part_two_members_share_names_neither_but_a_full_name_does() -> None:
    assert names("ana said hello") == []
    assert names("ANA LIMA said hello") == ["ana@example.org"]
    assert names("Zoe was there") == ["zoe@example.org"]  # accents folded
    assert names("lima beans") == ["ana@example.org"]  # errs on the side of exclusion
    assert names("benefit of the doubt") == []  # whole words only
    assert names("mail Ana.Lima@Gmail.example") == ["ana@example.org"]
    assert names("O\u200bkafor and \uff2b\uff52\uff41\uff55\uff53") == ["ben@example.org",
                                                                 "zoe@example.org"]


def test_an_address_made_from_a_name_names_its_member_but_a_word_holding_it_does_not(
        ) -> None:
    from cocmail.core.conflicts import named_in_text

    roster = Roster((StaffMember(1, "Mark Okafor", "marketing@example.org",
                                 ("bokafor@mail.example",)),
                     StaffMember(2, "Ana Lima", "ana@example.org")))
    assert [n.member.name for n in named_in_text("Ask bokafor, he knows.", roster)] \
        == ["Mark Okafor"]
    assert named_in_text("I work in marketing.", roster) == []


def test_a_person_with_an_address_of_their_own_and_another_name_is_someone_else() -> None:
    from cocmail.core.conflicts import member_for  # new in issue 21

    assert member_for(Person("accused", "Ben Smith", "ben@smith.example"), ROSTER) is None
    assert member_for(Person("accused", "Ben", None), ROSTER).email == "ben@example.org"  # type: ignore[union-attr]
    assert member_for(Person("accused", "", "BEN@example.org"), ROSTER).email == "ben@example.org"  # type: ignore[union-attr]
    assert member_for(Person("accused", "Dr Ben Okafor", "b@x.example"), ROSTER) is not None
    assert member_for(Person("accused", "Ben", "b@x.example"), ROSTER) is not None
    assert member_for(Person("accused", "", "ben.okafor@gmail.example"), ROSTER) is not None
    assert member_for(Person("accused", "Dan Doe", "dan@x.example"), ROSTER) is None



def test_a_report_taken_in_person_that_accuses_a_member_is_kept_from_them(desk: Desk) -> None:
    desk.enter("ana@example.org", "#accused Ben Okafor <ben@example.org>\n#when today\n\n"
                                  "An attendee told me at the desk what happened.\n")
    assert to(desk, "ben@example.org") == []
    body = body_of(to(desk, "cy@example.org")[0])
    assert body.index("THIS REPORT NAMES A MEMBER") < body.index("took a report")
    assert "Ben Okafor <ben@example.org>\r\n  named by a command" in body
    assert show(desk.cfg.source)["excluded"][0]["why"] == "named"



def test_a_quarantine_notice_does_not_go_to_the_member_its_subject_names() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from cocmail.core.decide import quarantine
    from cocmail.core.env import Env, NoHistory

    env = Env(event="Conf", event_ends=None, tz=ZoneInfo("UTC"), inbox="conduct@example.org",
              dsf="dsf@example.org", appeal=None, roster=ROSTER,
              now=datetime(2027, 1, 1, tzinfo=UTC), history=NoHistory(), nonce=new_nonce)
    told = {m.to.email for m in quarantine(7, "failed 3 times", env, "What Ben Okafor did",
                                           "Eve <eve@attendee.example>").mails}
    assert told == {"ana@example.org", "zoe@example.org"}


def test_cases_show_says_who_is_excluded_and_why(desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "Ben Okafor was rude to me.\n")
    assert "excluded:  ben@example.org (named)" in desk.cli("cases", "show", "1")


def test_conflict_contacts_must_be_outside_the_team(tmp_path: Path) -> None:
    from cocmail.config import ConfigError
    from testsupport.helpers import make_config

    with pytest.raises(ConfigError, match="conflict_contacts"):
        make_config(tmp_path, '[process]\nconflict_contacts = ["ana.lima@gmail.example"]\n')
    with pytest.raises(ConfigError, match="conflict_contacts"):
        make_config(tmp_path, '[process]\nconflict_contacts = ["not an address"]\n')
    cfg = make_config(tmp_path, '[process]\nconflict_contacts = ["Board@Example.org"]\n')
    assert cfg.process.conflict_contacts == ("board@example.org",)


def test_a_later_message_naming_everyone_left_warns_and_hides_the_case_from_nobody(
        desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "Ben Okafor was rude to me.\n")
    ack = desk.last_to("eve@attendee.example", 1)
    desk.new()
    desk.receive(mail("Eve Example <eve@attendee.example>", "Re: " + ack["Subject"],
                      "Ana Lima and Cy Park saw it.\n", message_id="<f3@attendee.example>",
                      in_reply_to=ack["Message-ID"]))
    fresh = desk.new()
    assert {m["To"].addresses[0].addr_spec for m in fresh} == {"ana@example.org",
                                                               "cy@example.org"}
    assert "NAMES EVERY MEMBER WHO COULD SEE IT" in body_of(fresh[0])
    assert [e["email"] for e in show(desk.cfg.source)["excluded"]] == ["ben@example.org"]


# ------------------------------------------------------------------ a name, not a word
WILL = ('[[staff]]\nname = "Will Grace"\nemail = "will@example.org"\n'
        'aliases = ["wgrace@mail.example"]\n')
MAY = '[[staff]]\nname = "May Chen"\nemail = "may@example.org"\n'


@pytest.mark.parametrize(("subject", "text", "named"), [
    # Ordinary words that are also names, in lower case: nobody is excluded.
    ("Something happened", "I will come back tomorrow; we met in the park and it may be "
     "nothing, but by the grace of luck I left.", []),
    # The same words written as names are names.
    ("Something happened", "Will kept following me out of the venue.", ["will"]),
    ("Something happened", "We were in the hall. Park would not let me leave.", ["cy"]),
    ("Something happened", "I asked GRACE to stop and she laughed.", ["will"]),
    # A month next to a number is a date; the same word alone, capitalised, is a name.
    ("Something happened", "On 3 May, and again on May 4th, he shouted at me.", []),
    ("Something happened", "On 3 May I told May what he did.", ["may"]),
    # A text with no capital at all cannot tell a name from a word: it errs on exclusion.
    ("what happened", "i will never forget it", ["will"]),
    # Nor can a writer who begins sentences in lower case, whatever their subject line
    # or their phone's footer capitalises.
    ("Something happened", "will followed me to the hotel.\n\nSent from my iPhone",
     ["will"]),
    ("Something happened", "It was bad. will followed me to the hotel.", ["will"]),
    # A name part that is no ordinary word counts however it is written.
    ("Something happened", "okafor was there when it happened.", ["ben"]),
    # Look-alike letters, invisible marks and the name in an address do not hide a member.
    ("Something happened", "B\u0435n kept touching me (that e is Cyrillic).", ["ben"]),
    ("Something happened", "Ok\u200eafor kept touching me.", ["ben"]),
    ("Something happened", "A\u034fna and her friend laughed at me.", ["ana"]),
    ("Something happened", "Cy\u2062Park laughed at me.", ["cy"]),
    ("Something happened", "Ask wgrace, he saw me leave.", ["will"]),
    # A plus-address reaches the member's own mailbox.
    ("Something happened", "He writes from will+talks@example.org.", ["will"]),
    # An address spelt out, or with a full-width "＠", is an address.
    ("Something happened", "Write to will (at) example (dot) org about it.", ["will"]),
    ("Something happened", "Write to will at example dot org about it.", ["will"]),
    ("Something happened", "Write to will\uff20example.org about it.", ["will"]),
])
def test_a_name_part_counts_where_it_is_written_as_a_name(
        make_desk: Callable[..., Desk], subject: str, text: str, named: list[str]) -> None:
    desk = make_desk(CY + WILL + MAY)
    desk.report("Eve Example <eve@attendee.example>", text + "\n", subject=subject)
    team = (*TEAM, "will@example.org", "may@example.org")
    for who in team:
        if who.split("@")[0] in named:
            assert to(desk, who) == [], who
        else:
            (note,) = to(desk, who)
            assert ("NAMES A MEMBER" in body_of(note)) == bool(named), who
    assert sorted(e["email"].split("@")[0] for e in show(desk.cfg.source)["excluded"]) \
        == named


@pytest.mark.parametrize(("filename", "content", "named"), [
    ("statement.txt", "Ben Okafor grabbed me at the party.\n", "ben"),
    ("statement.html", "<p>It was <b>Ben Okafor</b>, at the party.</p>", "ben"),
    ("About Cy Park.pdf", b"%PDF-1.4 (not read)", "cy"),
])
def test_a_report_in_an_attached_file_naming_a_member_never_reaches_them(
        desk: Desk, filename: str, content: str | bytes, named: str) -> None:
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"] = "Eve Example <eve@attendee.example>"
    m["To"] = "conduct@example.org"
    m["Subject"] = "My statement"
    m["Message-ID"] = "<statement@attendee.example>"
    m.set_content("Please read my statement, attached.\n")
    if isinstance(content, bytes):
        m.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    else:
        m.add_attachment(content, subtype=filename.rpartition(".")[2].replace("txt", "plain"),
                         filename=filename)
    assert desk.receive(bytes(m)) == "done"
    assert to(desk, f"{named}@example.org") == []
    for who in (a for a in TEAM if not a.startswith(named)):
        assert "THIS REPORT NAMES A MEMBER OF THE TEAM" in body_of(to(desk, who)[0])


def test_a_reporter_quoting_the_acknowledgement_does_not_exclude_a_member_called_will(
        make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(CY + WILL)
    desk.report("Eve Example <eve@attendee.example>", "The speaker was rude to me.\n")
    ack = desk.last_to("eve@attendee.example", 1)
    assert " will " in body_of(ack)  # "we will ...": the words a reply quotes
    desk.new()
    quoted = "".join(f"> {line}\n" for line in body_of(ack).splitlines())
    desk.receive(mail("Eve Example <eve@attendee.example>", "Re: " + ack["Subject"],
                      f"Thank you. It happened again today.\n\n{quoted}",
                      message_id="<f1@attendee.example>", in_reply_to=ack["Message-ID"]))
    (relay,) = [m for m in desk.new() if "will@" in str(m["To"])]
    assert "NAMES A MEMBER" not in body_of(relay)
    assert show(desk.cfg.source)["excluded"] == []


def test_a_reporter_quoting_a_members_signed_reply_does_not_exclude_that_member(
        desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "The speaker was rude to me.\n")
    desk.new()
    desk.staff("ana@example.org", 1, "#reply\nDear Eve,\n\nThank you for telling us. Could "
                                     "we talk tomorrow at ten?\n\nAna Lima\n")
    reply = [m for m in desk.new() if "eve@" in str(m["To"])][-1]
    assert "Ana Lima" in body_of(reply)
    quoted = "".join(f"> {line}\n" for line in body_of(reply).splitlines())
    desk.receive(mail("Eve Example <eve@attendee.example>", "Re: " + reply["Subject"],
                      f"Yes, ten is fine.\n\nOn Monday the team wrote:\n{quoted}"
                      "> > Cy Park was there too.\n",
                      message_id="<f1@attendee.example>", in_reply_to=reply["Message-ID"]))
    fresh = desk.new()
    relay = body_of([m for m in fresh if "ana@" in str(m["To"])][0])
    # Ana handles the case: her own quoted signature does not exclude her. Cy, named in
    # a quote too, does not handle it: excluded.
    assert "Ten is fine" in relay or "ten is fine" in relay
    assert not [m for m in fresh if "cy@" in str(m["To"])]
    assert [e["email"] for e in show(desk.cfg.source)["excluded"]] == ["cy@example.org"]


def test_an_outlook_answer_under_a_header_block_does_not_exclude_the_member_it_quotes(
        desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "The speaker was rude to me.\n")
    desk.new()
    desk.staff("ana@example.org", 1, "#reply\nDear Eve, could we talk tomorrow?\n\nAna\n")
    reply = [m for m in desk.new() if "eve@" in str(m["To"])][-1]
    desk.receive(mail("Eve Example <eve@attendee.example>", "RE: " + reply["Subject"],
                      "Yes, tomorrow is fine. Ben Okafor saw it too.\n\n"
                      "From: Example Conf Code of Conduct team <conduct@example.org>\n"
                      "Sent: Monday, 3 May 2027 10:00\nTo: Eve Example\n"
                      f"Subject: {reply['Subject']}\n\n{body_of(reply)}",
                      message_id="<f1@attendee.example>", in_reply_to=reply["Message-ID"]))
    fresh = desk.new()
    assert [m for m in fresh if "ana@" in str(m["To"])]
    assert not [m for m in fresh if "ben@" in str(m["To"])]
    assert [e["email"] for e in show(desk.cfg.source)["excluded"]] == ["ben@example.org"]


def test_a_command_naming_a_member_by_a_plus_address_excludes_them(desk: Desk) -> None:
    desk.report("Eve Example <eve@attendee.example>", "The speaker was rude to me.\n")
    desk.new()
    desk.staff("ana@example.org", 1, "#witness The sound desk <ben+av@example.org>\n")
    assert not [m for m in desk.new() if "ben@" in str(m["To"])]
    assert [e["email"] for e in show(desk.cfg.source)["excluded"]] == ["ben@example.org"]


@pytest.mark.parametrize(("text", "named"), [
    ("昨日のパーティーで山田さんに嫌がらせを受けました。\n", True),  # Japanese: no spaces
    ("王芳在派对上骚扰了我。\n", True),  # Chinese: the whole name inside a sentence
    ("会場で知らない人に嫌がらせを受けました。\n", False),
])
def test_a_name_in_a_script_without_spaces_is_found_inside_a_sentence(
        make_desk: Callable[..., Desk], text: str, named: bool) -> None:
    desk = make_desk('[[staff]]\nname = "山田 太郎"\nemail = "yamada@example.org"\n'
                     '[[staff]]\nname = "王芳"\nemail = "wang@example.org"\n')
    desk.report("Eve Example <eve@attendee.example>", text, subject="報告")
    excluded = [e["email"] for e in show(desk.cfg.source)["excluded"]]
    assert bool(excluded) == named
    for who in excluded:
        assert to(desk, who) == []
