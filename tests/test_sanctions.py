"""Sanctions with an end (issue 25, item 7), through real mail and the real `cocmail`.

`#until` gives a suspension or a ban its end: the first day it no longer applies. The
attendee check and the repeat-offender warnings then say whether it is still in force,
and the team is reminded once when it ends. The Desk's clock starts on 2027-05-03 10:00
in Berlin.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cocmail.core.sanctions import UntilError, parse_date, split_until
from cocmail.reminders_due import send_due_reminders
from cocmail.store import cases as cases_db
from testsupport.apps import Desk
from testsupport.helpers import body_of

ANA, BEN = "ana@example.org", "ben@example.org"
DAN = "Dan Doe <dan@speaker.example>"


def decided(desk: Desk, block: str, accused: str = DAN) -> tuple[int, str]:
    """A case whose reported person is `accused`; Ana runs `block` on it. Returns the
    case number and her transcript."""
    n = desk.report("Eve <eve@a.example>", "Something happened to me.\n")
    assert desk.staff(ANA, n, f"#accused {accused}\n") == "done"
    desk.new()
    desk.staff(ANA, n, block)
    return n, body_of(desk.last_to(ANA, n))


def show(desk: Desk, n: int) -> dict:  # type: ignore[type-arg]
    return json.loads(desk.cli("cases", "show", str(n), "--json"))


def test_until_before_outcome_in_one_mail_is_stored_and_shown(desk: Desk) -> None:
    n, transcript = decided(desk, "#until 2027-06-01\n#action Banned from the event\n"
                                  "#outcome ban\n#close\n")
    assert "ends on 2027-06-01" in transcript and "refused" not in transcript.lower()
    assert show(desk, n)["accused"] == [{"name": "Dan Doe", "email": "dan@speaker.example",
                                         "until": "2027-06-01"}]
    assert "Dan Doe <dan@speaker.example> (sanction until 2027-06-01)" in desk.cli(
        "cases", "show", str(n))
    rows = json.loads(desk.cli("report", "--format", "json"))
    assert [r["Outcome"] for r in rows if r["Case"] == str(n)] == ["ban until 2027-06-01"]


@pytest.mark.parametrize(("block", "why"), [
    ("#outcome warning\n#until 2027-06-01\n", "#until is for a suspension or a ban"),
    ("#until 2027-06-01\n", "the outcome is not set"),
    ("#outcome ban\n#until 2027-05-03\n", "2027-05-03 is today"),
    ("#outcome ban\n#until 2026-01-01\n", "2026-01-01 is in the past"),
    ("#outcome ban\n#until 01/06/2027\n", "can be read as two different dates"),
    ("#outcome ban\n#until next summer\n", "cannot read 'next'"),
    ("#outcome ban\n#until 2027-02-30\n", "not a date in the calendar"),
    ("#outcome ban\n#until 2027-06-01 Zed Nobody\n", "no reported person on the case is Zed"),
])
def test_until_is_refused_clearly_and_nothing_is_kept(desk: Desk, block: str,
                                                      why: str) -> None:
    n, transcript = decided(desk, block)
    assert why in " ".join(transcript.split())
    case = desk.app.store.read(cases_db.load_case, n)
    assert case is not None and case.outcome is None and case.accused[0].until is None


def test_with_several_reported_people_until_takes_a_name_or_applies_to_all(desk: Desk
                                                                           ) -> None:
    n, _ = decided(desk, "#accused Bo Bold <bo@x.example>\n#outcome suspension\n"
                         "#until 1 June 2027\n#until 2028-01-15 bo@x.example\n")
    assert {p["email"]: p["until"] for p in show(desk, n)["accused"]} == {
        "dan@speaker.example": "2027-06-01", "bo@x.example": "2028-01-15"}
    # A change of outcome away from a suspension or ban drops the end dates, and says so.
    desk.staff(ANA, n, "#outcome warning\n")
    assert "no longer applies: removed" in body_of(desk.last_to(ANA, n))
    assert [p["until"] for p in show(desk, n)["accused"]] == [None, None]


def test_check_attendees_says_whether_the_sanction_is_still_in_force(desk: Desk,
                                                                     tmp_path: Path) -> None:
    decided(desk, "#outcome ban\n#until 2027-06-01\n#action Banned\n#close\n")
    decided(desk, "#outcome suspension\n#action Suspended\n#close\n",
            accused="Sue Spended <sue@x.example>")
    decided(desk, "#outcome warning\n#action Warned\n#close\n", accused="Walt <w@x.example>")
    attendees = tmp_path / "attendees.csv"
    attendees.write_text("name,email\n\"Doe, Dan\",dan@new.example\nSue Spended,\n"
                         "Walt,w@x.example\n", encoding="utf-8")
    before = desk.cli("check-attendees", str(attendees), "--on", "2027-05-31").splitlines()
    assert before == ["Doe, Dan <dan@new.example>: #1 (banned until 2027-06-01, still in force)",
                      "Sue Spended <->: #2 (suspension)", "Walt <w@x.example>: #3 (warning)"]
    after = desk.cli("check-attendees", str(attendees), "--on", "2027-06-01").splitlines()
    assert after[0] == "Doe, Dan <dan@new.example>: #1 (ban ended 2027-06-01)"


def test_a_new_case_naming_them_warns_whether_the_ban_still_holds(desk: Desk) -> None:
    decided(desk, "#outcome ban\n#until 2027-06-01\n#action Banned\n#close\n")
    n = desk.report("Fay <fay@a.example>", "Someone was rude again.\n")
    desk.staff(ANA, n, f"#accused {DAN}\n")
    transcript = " ".join(body_of(desk.last_to(ANA, n)).split())
    assert "WARNING: named in earlier cases #1 (banned until 2027-06-01, still in force)" \
        in transcript
    assert "case 1, closed, outcome: banned until 2027-06-01, still in force" in transcript
    desk.clock.set(datetime(2027, 6, 2, 8, 0, tzinfo=UTC))
    desk.report("Fay <fay@a.example>", f"It was {DAN} again, at the sprint.\n")
    new_case = [body_of(m) for m in desk.new() if "ana@example.org" in str(m["To"])]
    assert any("outcome: ban ended 2027-06-01" in b for b in new_case)


def test_the_team_is_reminded_once_when_a_sanction_ends_even_on_a_closed_case(
        desk: Desk) -> None:
    n, _ = decided(desk, "#outcome suspension\n#until 2027-06-01\n#action Suspended\n")
    assert desk.staff(BEN, n, "#note seen\n") == "done"  # Ben handles the case too ...
    assert desk.staff(BEN, n, f"#recuse {BEN}\n") == "done"  # ... then steps aside
    desk.staff(ANA, n, "#close\n")
    desk.new()
    desk.clock.set(datetime(2027, 5, 31, 21, 59, tzinfo=UTC))  # 23:59 in Berlin
    assert send_due_reminders(desk.app, desk.clock.now) == 0
    desk.clock.set(datetime(2027, 6, 1, 7, 0, tzinfo=UTC))
    assert send_due_reminders(desk.app, desk.clock.now) == 1
    desk.app.outbox.deliver_due()
    (mail,) = [m for m in desk.new() if "sanction" in str(m["Subject"])]
    assert str(mail["To"]) == "Ana Lima <ana@example.org>"  # not Ben: he is excluded
    assert str(mail["Subject"]) == f"[CoC #{n}] Reminder: a sanction has ended"
    body = " ".join(body_of(mail).split())
    assert f"The suspension decided on case {n} ended on 2027-06-01" in body
    assert "Dan" not in body  # reminders name nobody
    desk.restart()
    desk.clock.set(datetime(2027, 6, 3, 7, 0, tzinfo=UTC))
    assert send_due_reminders(desk.app, desk.clock.now) == 0


def test_dates_as_staff_type_them() -> None:
    assert {parse_date(t) for t in ("2027-06-01", "2027/6/1", "2027.06.01", "1 June 2027",
                                    "June 1, 2027", "1st jun 2027")} == {date(2027, 6, 1)}
    for bad in ("06/01/2027", "2027-13-01", "soon"):
        with pytest.raises(UntilError):
            parse_date(bad)
    assert split_until("June 1, 2027 Dan Doe") == ("June 1, 2027", "Dan Doe")
    assert split_until("2027-06-01 dan@x.example") == ("2027-06-01", "dan@x.example")
    assert split_until("none Dan") == ("none", "Dan")
