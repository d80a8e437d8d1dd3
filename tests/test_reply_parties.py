"""Talking to every party of a case (issue 25, item 1), through real mail in and out.

`#reply` writes to the reporter by default, and to the person affected, a reported
person, a witness or the committee when named; mail from each of them reaches staff
saying who wrote, and a reported person's mail after the response also reaches the
appeal contact. Each test reads what the people's mailboxes would get.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from cocmail.app import App
from cocmail.demo import run_demo
from cocmail.store import cases as cases_db
from testsupport.apps import Desk
from testsupport.helpers import SEND_AT_ONCE, approve_as, body_of, mail, make_config, spool
from testsupport.process import cocmail
from testsupport.servers import SmtpSink

ANA, BEN = "ana@example.org", "ben@example.org"
EVE = "Eve Example <eve@attendee.example>"
PEOPLE = ("#victim Sam Okafor <sam@attendee.example>\n"
          "#accused Dan Doe <dan@speaker.example>\n"
          "#witness Kim Park <kim@attendee.example>\n")
DSF = "conduct@djangoproject.com"  # the [dsf] address by default


def to(desk: Desk, address: str) -> list[EmailMessage]:
    return [m for m in desk.sent() if address in str(m["To"])]


def transcript(desk: Desk) -> str:
    return body_of(desk.last_to(ANA))


@pytest.fixture
def case(desk: Desk) -> int:
    number = desk.report(EVE, "Dan Doe grabbed Sam's arm at the party; Kim saw it.\n")
    desk.staff(ANA, number, PEOPLE)
    return number


# ------------------------------------------------------------------ #reply <party>
def test_reply_reaches_the_person_affected_in_words_for_them(desk: Desk, case: int) -> None:
    desk.staff(ANA, case, "#reply victim\n\nWe are thinking of you. Ana\n")
    [sent] = to(desk, "sam@attendee.example")
    assert sent["Subject"] == f"[CoC #{case}] A message from the Example Conf 2027 Code of " \
                              "Conduct team"
    text = body_of(sent)
    assert text.startswith("Hello Sam Okafor,") and "We are thinking of you." in text
    assert "stays confidential" in text
    assert to(desk, "eve@attendee.example")[-1]["Subject"].endswith("received your report")
    assert "reply sent to the person affected" in transcript(desk)


def test_reply_to_a_witness_by_name_or_address(desk: Desk, case: int) -> None:
    desk.staff(ANA, case, "#reply witness Kim Park\n\nCould you tell us what you saw?\n")
    desk.staff(ANA, case, "#reply witness kim@attendee.example\n\nThank you, Kim.\n")
    first, second = to(desk, "kim@attendee.example")
    assert "what you saw" in body_of(first) and "Thank you, Kim." in body_of(second)
    assert "do not discuss" in body_of(first)


def test_reply_to_the_committee_goes_to_the_dsf_address(desk: Desk, case: int) -> None:
    desk.staff(ANA, case, "#reply dsf\n\nThe person concerned left the event.\n")
    [sent] = to(desk, DSF)
    assert "The person concerned left the event." in body_of(sent)
    assert "Eve" not in str(sent["Subject"])
    assert "reply sent to the DSF Code of Conduct committee" in transcript(desk)


def test_plain_reply_still_goes_to_the_reporter(desk: Desk, case: int) -> None:
    desk.staff(ANA, case, "#reply\n\nWe spoke with him.\n")
    assert "We spoke with him." in body_of(to(desk, "eve@attendee.example")[-1])
    assert not to(desk, "sam@attendee.example") and not to(desk, "dan@speaker.example")


def test_reply_to_the_reported_person_passes_the_identity_guard(desk: Desk, case: int) -> None:
    desk.staff(ANA, case, "#reply accused\n\nSam Okafor told us you apologised.\n")
    assert not to(desk, "dan@speaker.example")
    assert "names Sam and Okafor (the person affected)" in transcript(desk)
    desk.staff(ANA, case, "#reply accused Dan Doe\n\nPlease come to the CoC desk at 14:00.\n")
    [sent] = to(desk, "dan@speaker.example")
    assert "come to the CoC desk" in body_of(sent)
    assert sent["Subject"] == f"[CoC #{case}] A Code of Conduct matter at Example Conf 2027"


@pytest.mark.parametrize(("value", "said"), [
    ("accused", "2 people are on the case as accused"),
    ("accused Zed Zero", "no accused on the case is Zed Zero"),
    ("accused Max Mute", "has no email address on the case"),
    ("witness", "no witness on the case"),
    ("someone", "#reply does not know 'someone'"),
])
def test_a_reply_that_cannot_go_says_why_and_sends_nothing(
        make_desk: Callable[..., Desk], value: str, said: str) -> None:
    desk = make_desk()
    n = desk.report(EVE, "Two of them followed me.\n")
    desk.staff(ANA, n, "#accused Dan Doe <dan@speaker.example>\n#accused Max Mute\n")
    before = len(desk.sent())
    desk.staff(ANA, n, f"#reply {value}\n\nHello.\n")
    after = desk.sent()[before:]
    assert [str(m["To"]) for m in after if "example.org" not in str(m["To"])] == []
    assert said in " ".join(transcript(desk).split())


def test_the_reporter_is_the_person_affected_so_reply_victim_is_refused(desk: Desk) -> None:
    n = desk.report(EVE, "He grabbed my arm.\n")
    desk.staff(ANA, n, "#reply victim\n\nHello.\n")
    assert "the person affected is the reporter" in " ".join(transcript(desk).split())


def test_an_anonymous_reporter_is_never_named_to_a_witness(desk: Desk) -> None:
    n = desk.report(EVE, "He grabbed my arm; Kim saw it.\n")
    desk.staff(ANA, n, "#reporter anonymous\n#witness Kim Park <kim@attendee.example>\n")
    desk.staff(ANA, n, "#reply witness\n\nEve Example told us you saw it.\n")
    assert not to(desk, "kim@attendee.example")
    assert "the reporter is anonymous" in " ".join(transcript(desk).split())


def test_preview_reply_shows_the_mail_to_that_party_and_sends_nothing(
        desk: Desk, case: int) -> None:
    desk.staff(ANA, case, "#preview reply witness kim@attendee.example\n\nWhat did you see?\n")
    assert not to(desk, "kim@attendee.example")
    [mail_to_ana] = [m for m in to(desk, ANA) if "Preview" in str(m["Subject"])]
    preview = body_of(mail_to_ana)
    assert "kim@attendee.example" in preview and "What did you see?" in preview


def test_a_reply_to_the_reported_person_waits_for_a_second_member(
        make_app: Callable[..., App]) -> None:
    app = make_app()
    app.receive(mail(EVE, "Something happened", "Dan Doe grabbed my arm.\n",
                     message_id="<r1@attendee.example>"), "test")
    note = [m for m in spool(app.cfg) if ANA in str(m["To"])][-1]
    app.receive(mail(f"Ana <{ANA}>", "Re: " + str(note["Subject"]),
                     "#accused Dan Doe <dan@speaker.example>\n#reply accused\n\n"
                     "Please come to the CoC desk at 14:00.\n",
                     message_id="<a1@example.org>", in_reply_to=note["Message-ID"]), "test")
    dan = [m for m in spool(app.cfg) if "dan@speaker.example" in str(m["To"])]
    assert dan == []
    [proposal] = [m for m in spool(app.cfg) if BEN in str(m["To"])
                  and "approval needed" in str(m["Subject"]).lower()]
    assert "come to the CoC desk" in body_of(proposal)
    assert approve_as(app, BEN) == 1
    [sent] = [m for m in spool(app.cfg) if "dan@speaker.example" in str(m["To"])]
    assert "come to the CoC desk" in body_of(sent)
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.step("harasser_informed") is None  # a reply, no step


# ------------------------------------------------------------------ who wrote
def _answer(desk: Desk, frm: str, to_mail: EmailMessage | None, case: int, text: str) -> None:
    subject = "Re: " + str(to_mail["Subject"]) if to_mail is not None else f"[CoC #{case}] hi"
    desk.receive(mail(frm, subject, text, message_id=desk._mid(frm.rpartition("<")[2]),
                      in_reply_to=to_mail["Message-ID"] if to_mail is not None else None))


@pytest.mark.parametrize(("frm", "subject", "first_line", "reply_line"), [
    (EVE, "The reporter wrote again", "The reporter wrote again on case", "#reply as the"),
    ("Sam <sam@attendee.example>", "The person affected wrote",
     "The person affected wrote on case", "#reply victim"),
    ("Dan <dan@speaker.example>", "The reported person wrote",
     "The reported person wrote on case", "#reply accused dan@speaker.example"),
    ("Kim <kim@attendee.example>", "A witness wrote", "A witness wrote on case",
     "#reply witness kim@attendee.example"),
    (f"DSF <{DSF}>", "The committee wrote", "The committee (the DSF Code of Conduct "
     "committee) wrote", "#reply dsf"),
])
def test_mail_from_each_party_is_relayed_saying_who_wrote(
        desk: Desk, case: int, frm: str, subject: str, first_line: str,
        reply_line: str | None) -> None:
    if frm.startswith("DSF"):  # not on the case: it answers our mail to the committee
        desk.staff(ANA, case, "#reply dsf\n\nA question for you.\n")
    desk.new()
    _answer(desk, frm, to(desk, DSF)[-1] if frm.startswith("DSF") else None, case,
            "I have something to add about Thursday.\n")
    relays = [m for m in desk.new() if BEN in str(m["To"])]
    [relay] = relays
    assert relay["Subject"] == f"[CoC #{case}] {subject}"
    text = " ".join(body_of(relay).split())
    assert first_line in text and "something to add" in text
    if reply_line:
        assert reply_line in text
    else:
        assert "#reply" not in text


def test_an_answer_to_our_mail_from_another_address_is_named_with_care(
        desk: Desk, case: int) -> None:
    desk.staff(ANA, case, "#reply accused\n\nPlease come to the CoC desk.\n")
    [to_dan] = to(desk, "dan@speaker.example")
    desk.new()
    _answer(desk, "D <dan.private@mail.example>", to_dan, case, "Fine, I will come.\n")
    [relay] = [m for m in desk.new() if BEN in str(m["To"])]
    assert relay["Subject"] == f"[CoC #{case}] The reported person wrote"
    text = " ".join(body_of(relay).split())
    assert "from an address the case does not have" in text


# ------------------------------------------------------------------ appeals
APPEALS = '[appeal]\ncontact = "Appeals Board <appeals@board.example>"\n'


def test_an_appeal_reaches_the_appeal_contact_with_nothing_else_from_the_case(
        make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(APPEALS)
    n = desk.report(EVE, "Dan Doe grabbed Sam's arm at the party.\n")
    desk.staff(ANA, n, PEOPLE + "#action A formal warning\n#outcome warning\n")
    _answer(desk, "Dan <dan@speaker.example>", None, n, "Before any decision: I was not "
                                                        "there.\n")
    assert not to(desk, "appeals@board.example"), "no response sent yet: no appeal"
    desk.staff(ANA, n, "#notify-harasser\n")
    [response] = to(desk, "dan@speaker.example")
    desk.new()
    _answer(desk, "Dan <dan@speaker.example>", response, n, "I appeal this decision.\n")
    fresh = desk.new()
    [relay] = [m for m in fresh if BEN in str(m["To"])]
    assert relay["Subject"] == f"[CoC #{n}] The reported person wrote after the response"
    assert "appeals@board.example" in " ".join(body_of(relay).split())
    [appeal] = [m for m in fresh if "appeals@board.example" in str(m["To"])]
    assert str(appeal["Subject"]) == (f"[CoC #{n}] Possibly an appeal: a Code of Conduct "
                                      "decision at Example Conf 2027")
    text = body_of(appeal)
    assert "I appeal this decision." in text
    for protected in ("Eve", "eve@", "Sam", "Kim", "formal warning", "Ana"):
        assert protected not in text.replace("reported", ""), protected
    # The appeal contact answers: the team hears it from "someone else", on the case.
    _answer(desk, "Board <appeals@board.example>", appeal, n, "We will look at it.\n")
    [relay] = [m for m in desk.new() if BEN in str(m["To"])]
    assert relay["Subject"] == f"[CoC #{n}] Someone not on the case wrote"
    assert "Someone else wrote on case" in body_of(relay)


def test_an_appeal_that_names_the_reporter_stays_with_the_team(
        make_desk: Callable[..., Desk]) -> None:
    """The reported person may have guessed who reported; the appeal contact, outside the
    team, must not learn it from cocmail: the message is not passed on, staff are told
    why (found in a read of the demo's mails as the appeal contact)."""
    desk = make_desk(APPEALS)
    n = desk.report(EVE, "Dan Doe grabbed Sam's arm at the party.\n")
    desk.staff(ANA, n, PEOPLE + "#action A formal warning\n#outcome warning\n"
                             "#notify-harasser\n")
    [response] = to(desk, "dan@speaker.example")
    desk.new()
    _answer(desk, "Dan <dan@speaker.example>", response, n,
            "I know it was Eve who complained, and her friend is lying.\n")
    fresh = desk.new()
    assert not [m for m in fresh if "appeals@board.example" in str(m["To"])]
    [relay] = [m for m in fresh if BEN in str(m["To"])]
    text = " ".join(body_of(relay).split())
    assert "appeal contact was not sent it: it names Eve (the reporter)" in text
    assert "forward it by hand" in text


def test_without_an_appeal_contact_the_relay_says_so(desk: Desk, case: int) -> None:
    desk.staff(ANA, case, "#action A formal warning\n#outcome warning\n#notify-harasser\n")
    desk.new()
    _answer(desk, "Dan <dan@speaker.example>", None, case, "I appeal.\n")
    [relay] = [m for m in desk.new() if BEN in str(m["To"])]
    text = " ".join(body_of(relay).split())
    assert "this may be an appeal" in text and "appeal contact was not sent it" in text


# ------------------------------------------------------------------ the walkthrough
def test_the_demo_shows_an_appeal_answered(tmp_path: Path) -> None:
    lines: list[str] = []
    run_demo(tmp_path / "demo", lines.append)
    out = "\n".join(lines)
    appeal = out.split("3c. Dan answers the response", 1)[1].split("\n4. ", 1)[0]
    assert "| Subject: [CoC #1] The reported person wrote after the response" in appeal
    assert "| To: board@example.org" in appeal
    answered = appeal.split("3d. ", 1)[1]
    assert "| To: Dan Doe <dan@speaker.example>" in answered
    assert "Your appeal has been passed" in answered


# ------------------------------------------------------------------ the real command
def test_an_appeal_and_its_answer_through_the_real_cocmail(tmp_path: Path,
                                                           smtp_sink: SmtpSink) -> None:
    make_config(tmp_path, SEND_AT_ONCE + APPEALS, smtp=smtp_sink.smtp_toml())
    config = tmp_path / "cocmail.toml"

    def ingest(raw: bytes) -> None:
        run = cocmail(config, "ingest", "-", stdin=raw)
        assert run.code == 0, run.err

    def last_to(address: str) -> EmailMessage:
        return [m.message for m in smtp_sink.messages if address in m.rcpt_tos][-1]

    def answer(frm: str, note: EmailMessage, body: str, mid: str) -> bytes:
        return mail(frm, "Re: " + str(note["Subject"]), body, message_id=mid,
                    in_reply_to=note["Message-ID"])

    ingest(mail(EVE, "Something happened", "Dan Doe grabbed my arm at the party.\n",
                message_id="<r1@attendee.example>"))
    ingest(answer(f"Ana <{ANA}>", last_to(ANA), "#accused Dan Doe <dan@speaker.example>\n"
                  "#action A formal warning\n#outcome warning\n#notify-harasser\n",
                  "<a1@example.org>"))
    ingest(answer("Dan Doe <dan@speaker.example>", last_to("dan@speaker.example"),
                  "I would like to appeal.\n", "<d1@speaker.example>"))
    assert "I would like to appeal." in body_of(last_to("appeals@board.example"))
    relay = last_to(BEN)
    assert str(relay["Subject"]) == "[CoC #1] The reported person wrote after the response"
    ingest(answer(f"Ana <{ANA}>", last_to(ANA), "#reply accused\n\nWe have your appeal.\n",
                  "<a2@example.org>"))
    reply = last_to("dan@speaker.example")
    assert "We have your appeal." in body_of(reply)
    shown = cocmail(config, "cases", "show", "1", "--json").json()
    assert any(a["action"] == "appeal" for a in shown["audit"])
