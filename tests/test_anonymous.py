"""Anonymous means "not named outside the team" (issue 21): the team keeps the reporter's
name and address and can answer them; the DSF report, its attachments and public texts
name no one; the name checks keep knowing the name. Through real mail (Desk)."""

from __future__ import annotations

import json
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from cocmail.app import App
from cocmail.store import cases as cases_db
from testsupport.apps import Desk
from testsupport.helpers import SEND_AT_ONCE, body_of, mail, spool

ANOUK = "Anouk Müller <anouk.mueller@attendee.example>"
REPORT = "Dan followed me from the venue to my hotel last night.\n\nThank you,\nAnouk\n"
DSF = "conduct@djangoproject.com"
HIDDEN = ("Anouk", "Müller", "Mueller", "anouk.mueller", "attendee.example")


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk("[dsf]\nattach_correspondence = true\n")


def _anonymous_case(desk: Desk) -> int:
    n = desk.report(ANOUK, REPORT)
    desk.staff("ana@example.org", n,
               "#reporter anonymous\n#accused Dan Doe <dan@speaker.example>\n")
    return n


def _dsf_mail(desk: Desk) -> EmailMessage:
    (dsf,) = [m for m in desk.sent() if DSF in str(m["To"])]
    return dsf


def test_the_team_can_still_reply_to_an_anonymous_reporter(desk: Desk) -> None:
    n = _anonymous_case(desk)
    desk.staff("ana@example.org", n, "#reply\n\nWe have talked to the person you reported.\n")
    reply = desk.last_to("anouk.mueller@attendee.example", n)
    assert "We have talked to the person you reported." in body_of(reply)
    assert "reply sent to the reporter" in body_of(desk.last_to("ana@example.org", n))


def test_an_anonymous_reporter_s_next_mail_is_relayed_as_the_reporter_s(desk: Desk) -> None:
    n = _anonymous_case(desk)
    ack = desk.last_to("anouk.mueller@attendee.example", n)
    desk.receive(mail(ANOUK, "Re: " + str(ack["Subject"]), "He was at the party again.\n",
                      message_id="<later@attendee.example>", in_reply_to=ack["Message-ID"]))
    relay = body_of(desk.last_to("ben@example.org", n))
    assert "The reporter wrote again on case" in relay
    assert "not on the case" not in relay


def test_name_checks_keep_knowing_an_anonymous_reporter_s_name(desk: Desk) -> None:
    n = _anonymous_case(desk)
    desk.staff("ana@example.org", n,
               "#public-summary Anouk was followed from the venue to her hotel\n")
    assert "'Anouk'" in body_of(desk.last_to("ana@example.org", n))
    desk.staff("ana@example.org", n, "#action A warning\n#response Keep away from Anouk.\n")
    assert "the response names Anouk (the reporter" in body_of(desk.last_to("ana@example.org", n))
    case = desk.app.store.read(cases_db.load_case, n)
    assert case is not None and case.public_summary is None and case.action is None


def test_the_dsf_gets_nothing_that_names_an_anonymous_reporter(desk: Desk) -> None:
    n = _anonymous_case(desk)
    desk.staff("ana@example.org", n, "#reply\n\nThank you, we are on it.\n")
    desk.staff("ana@example.org", n,
               "#when Thursday night\n#where From the venue to a hotel\n#action A warning\n"
               "#outcome warning\n#notify-victim\n#report-dsf now "
               "An attendee was followed from the venue to their hotel; we warned him.\n")
    dsf = _dsf_mail(desk)
    whole = dsf.as_bytes().decode("utf-8", "replace")
    for word in HIDDEN:
        assert word.lower() not in whole.lower(), word
    assert "Reported by: anonymous" in body_of(dsf)
    names = [p.get_filename() or "" for p in dsf.iter_attachments()]
    assert names and not any("@" in name for name in names)
    assert any("from-the-reporter" in name for name in names)
    # Numbered as attached, no gaps where internal mail was (the DSF would ask for it).
    assert [name[:2] for name in names] == [f"{k:02d}" for k in range(1, len(names) + 1)]
    texts = [p.get_content() for p in dsf.iter_attachments()]
    assert any("Dan followed me from the venue" in t for t in texts)  # what happened stays
    assert any("Thank you, we are on it." in t for t in texts)  # what the team wrote
    assert all("not to be named outside" in t for t in texts)


def test_a_dsf_report_that_names_an_anonymous_reporter_is_refused(desk: Desk) -> None:
    n = _anonymous_case(desk)
    desk.staff("ana@example.org", n, "#when Thursday\n#where Hotel\n#report-dsf now "
                                     "Anouk was followed to her hotel.\n")
    transcript = body_of(desk.last_to("ana@example.org", n))
    assert "the reporter is anonymous, but the DSF report names them: 'Anouk'" in transcript
    assert not [m for m in desk.sent() if DSF in str(m["To"])]


def test_the_team_still_sees_who_an_anonymous_reporter_is(desk: Desk) -> None:
    n = _anonymous_case(desk)
    shown = json.loads(desk.cli("cases", "show", str(n), "--json"))
    assert shown["reporter_anonymous"] is True
    assert shown["reporter"]["email"] == "anouk.mueller@attendee.example"
    assert "never named outside the team" in desk.cli("cases", "show", str(n))


def test_a_held_dsf_report_written_before_anonymity_never_goes_out(
        make_desk: Callable[..., Desk]) -> None:
    """#report-dsf waits until after the event; the reporter asks for anonymity in the
    meantime: the queued report (which names them) is withdrawn, and the new one does not."""
    desk = make_desk("[dsf]\nattach_correspondence = true\n", ends="2027-06-05")
    n = desk.report(ANOUK, REPORT)
    desk.staff("ana@example.org", n, "#accused Dan Doe <dan@speaker.example>\n#when Thursday\n"
               "#where Hotel\n#action A warning\n#report-dsf An attendee was followed.\n")
    desk.staff("ana@example.org", n, "#reporter anonymous\n")
    transcript = body_of(desk.last_to("ana@example.org", n))
    assert "withdrawn; send #report-dsf again" in transcript
    desk.staff("ana@example.org", n, "#report-dsf Someone was followed to a hotel.\n")
    desk.clock.set(desk.clock.now.replace(year=2027, month=6, day=7))
    desk.app.outbox.deliver_due()
    dsf = _dsf_mail(desk)  # exactly one
    whole = dsf.as_bytes().decode("utf-8", "replace")
    for word in HIDDEN:
        assert word.lower() not in whole.lower(), word
    assert "Reported by: anonymous" in body_of(dsf)


def test_an_anonymous_reporter_named_again_as_the_person_affected_stays_anonymous(
        desk: Desk) -> None:
    n = _anonymous_case(desk)
    desk.staff("ana@example.org", n, "#victim Anouk Müller <anouk.mueller@attendee.example>\n"
               "#when Thursday\n#where Hotel\n#report-dsf now Someone was followed.\n")
    dsf = _dsf_mail(desk)
    assert "Person affected: the reporter (anonymous)" in body_of(dsf)
    whole = dsf.as_bytes().decode("utf-8", "replace")
    for word in HIDDEN:
        assert word.lower() not in whole.lower(), word



def test_the_dsf_preview_names_what_goes_along(desk: Desk) -> None:
    """"Previews show the exact mail": with attach_correspondence, its files too."""
    n = _anonymous_case(desk)
    desk.staff("ana@example.org", n, "#when Thursday night\n#where From the venue to a hotel\n"
               "#summary Followed to a hotel\n#action A warning\n#preview dsf\n")
    preview = body_of([m for m in desk.sent() if "Preview" in str(m["Subject"])][-1]
                      ).replace("\r\n", "\n")
    desk.staff("ana@example.org", n, "#report-dsf now An attendee was followed; warned.\n")
    names = [p.get_filename() for p in _dsf_mail(desk).iter_attachments()]
    assert names and f"Attached: {', '.join(names)}\n" in preview


def test_the_dsf_proposal_names_what_goes_along(make_app: Callable[..., App]) -> None:
    """With a second approval (as shipped), the members asked to approve see the files."""
    app = make_app("[dsf]\nattach_correspondence = true\n")
    app.receive(mail(ANOUK, "Something happened", REPORT, message_id="<a1@attendee.example>"),
                "test")
    _answer(app, "ana@example.org", "#reporter anonymous\n#accused Dan Doe <dan@x.example>\n"
            "#when Thursday night\n#where From the venue to a hotel\n#action A warning\n"
            "#report-dsf now An attendee was followed; warned.\n")
    (proposal,) = [m for m in spool(app.cfg) if "ben@" in str(m["To"])
                   and "Approval needed" in str(m["Subject"])]
    said = body_of(proposal).replace("\r\n", "\n")
    _answer(app, "ben@example.org", "#approve\n")
    (dsf,) = [m for m in spool(app.cfg) if DSF in str(m["To"])]
    names = [p.get_filename() for p in dsf.iter_attachments()]
    assert names and f"Attached: {', '.join(names)}\n" in said


def _answer(app: App, who: str, body: str) -> None:
    """`who` replies to the newest mail cocmail sent them."""
    last = [m for m in spool(app.cfg) if who in str(m["To"])][-1]
    app.receive(mail(f"Staff <{who}>", "Re: " + str(last["Subject"]), body,
                     message_id=f"<{who}.{len(spool(app.cfg))}@example.org>",
                     in_reply_to=last["Message-ID"]), "test")


def test_anonymous_and_the_dsf_report_in_one_mail_name_no_one(
        make_app: Callable[..., App]) -> None:
    """The DSF report's files follow the case as that very mail leaves it: before, with
    mail sent at once, they were made from the case as stored (the reporter still named),
    so the DSF got her address in the file names and her own mail whole."""
    app = make_app(SEND_AT_ONCE + "[dsf]\nattach_correspondence = true\n")
    app.receive(mail(ANOUK, "Something happened", REPORT, message_id="<a1@attendee.example>"),
                "test")
    _answer(app, "ana@example.org", "#reporter anonymous\n#accused Dan Doe <dan@x.example>\n"
            "#when Thursday night\n#where From the venue to a hotel\n#action A warning\n"
            "#report-dsf now An attendee was followed; warned.\n")
    (dsf,) = [m for m in spool(app.cfg) if DSF in str(m["To"])]
    whole = dsf.as_bytes().decode("utf-8", "replace")
    for word in HIDDEN:
        assert word.lower() not in whole.lower(), word
    assert [p.get_filename() for p in dsf.iter_attachments()] == [
        "01-to-the-reporter.txt", "02-from-the-reporter.txt"]
