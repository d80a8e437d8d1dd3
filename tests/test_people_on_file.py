"""Who is who across cases (core/people_on_file.py), on plain rows as the store gives them.

tests/test_people.py checks `cocmail people` and `cocmail check-attendees` end to end.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from cocmail.core.people import normalise_name
from cocmail.core.people_on_file import case_label, merge_people, sanctioned_attendees

_ids = iter(range(1, 10_000))


def person(number: int, role: str, name: str | None, email: str | None,
           status: str = "closed", outcome: str | None = None) -> dict[str, Any]:
    return {"id": next(_ids), "role": role, "name": name, "email": email,
            "norm_name": normalise_name(name), "number": number, "status": status,
            "outcome": outcome}


def test_rows_sharing_an_address_or_a_name_are_one_person_transitively() -> None:
    rows = [person(1, "accused", "Dan Doe", "dan@speaker.example", outcome="warning"),
            person(2, "accused", "Doe, Dan", None, status="open"),  # same name
            person(3, "witness", "D. Doe", "DAN@speaker.example"),  # same address
            person(3, "reporter", "Eve", "eve@a.example")]
    dan, eve = merge_people(rows)
    assert dan["cases"] == 3 and eve["cases"] == 1  # most cases first
    assert dan["names"] == ["Dan Doe", "Doe, Dan", "D. Doe"]
    assert dan["emails"] == ["dan@speaker.example"]  # compared and listed in lower case
    assert dan["roles"] == ["accused", "witness"]
    assert dan["outcomes"] == [(1, "warning"), (2, "open"), (3, "witness")]
    assert (dan["name"], dan["email"]) == ("Dan Doe", "dan@speaker.example")


def test_people_with_neither_address_nor_name_stay_apart() -> None:
    rows = [person(1, "witness", None, None), person(2, "witness", None, None)]
    assert [p["cases"] for p in merge_people(rows)] == [1, 1]


def test_two_names_that_differ_are_two_people() -> None:
    rows = [person(1, "accused", "Dan Doe", None), person(2, "accused", "Dana Doe", None)]
    assert len(merge_people(rows)) == 2


def test_one_person_twice_on_a_case_counts_that_case_once() -> None:
    rows = [person(1, "reporter", "Eve", "eve@a.example"),
            person(1, "victim", "Eve", "eve@a.example")]
    [eve] = merge_people(rows)
    assert eve["cases"] == 1 and eve["roles"] == ["reporter", "victim"]
    assert [c["role"] for c in eve["case_roles"]] == ["reporter", "victim"]


def test_equal_counts_are_listed_by_name() -> None:
    rows = [person(1, "witness", "zoe", "z@a.example"), person(2, "witness", "Al", None)]
    assert [p["name"] for p in merge_people(rows)] == ["Al", "zoe"]


def test_only_the_accused_show_an_outcome() -> None:
    assert case_label("accused", "closed", "ban") == "ban"
    assert case_label("accused", "open", None) == "open"
    assert case_label("accused", "closed", None) == "closed without outcome"
    assert case_label("witness", "closed", "ban") == "witness"
    rows = [person(1, "reporter", "Eve", "eve@a.example", outcome="ban")]
    assert merge_people(rows)[0]["case_roles"][0]["outcome"] is None


SANCTIONED = [{"email": "Dan@Speaker.example", "norm_name": "dan doe", "number": 1,
               "outcome": "warning"},
              {"email": None, "norm_name": "dan doe", "number": 4, "outcome": "ban"},
              {"email": "bea@x.example", "norm_name": "bea banned", "number": 2,
               "outcome": "ban"}]


TODAY = date(2027, 5, 3)


def test_attendees_match_by_address_or_by_normalised_name() -> None:
    attendees = [{"name": "Otto Other", "email": "otto@x.example"},
                 {"name": "Beatrice B.", "email": "BEA@X.EXAMPLE"},
                 {"name": "Doe, Dan", "email": "dan.new@other.example"},
                 {"name": "Dan Doe", "email": ""}]
    hits = sanctioned_attendees(attendees, SANCTIONED, TODAY)
    assert hits == [
        {"name": "Beatrice B.", "email": "BEA@X.EXAMPLE", "cases": [(2, "ban")]},
        {"name": "Doe, Dan", "email": "dan.new@other.example",
         "cases": [(1, "warning"), (4, "ban")]},
        {"name": "Dan Doe", "email": "", "cases": [(1, "warning"), (4, "ban")]}]


def test_an_attendee_matching_one_case_twice_lists_it_once() -> None:
    hits = sanctioned_attendees([{"name": "Dan Doe", "email": "dan@speaker.example"}],
                                SANCTIONED, TODAY)
    assert hits[0]["cases"] == [(1, "warning"), (4, "ban")]


def test_an_attendee_without_name_or_address_matches_nobody() -> None:
    nameless = [{"name": "", "email": ""}, {}]
    assert sanctioned_attendees(nameless, [*SANCTIONED, {"email": None, "norm_name": None,
                                                         "number": 9, "outcome": "ban"}],
                                TODAY) == []


def test_a_sanction_with_an_end_says_whether_it_is_in_force_on_the_day_asked() -> None:
    dated = [{"email": "bea@x.example", "norm_name": "bea banned", "number": 2,
              "outcome": "ban", "until": "2027-06-01"},
             {"email": "bea@x.example", "norm_name": "bea banned", "number": 3,
              "outcome": "suspension", "until": "2026-01-01"}]
    bea = [{"name": "Bea Banned", "email": "bea@x.example"}]
    assert sanctioned_attendees(bea, dated, date(2027, 5, 31))[0]["cases"] == [
        (2, "banned until 2027-06-01, still in force"), (3, "suspension ended 2026-01-01")]
    # The end date is the first day it no longer applies.
    assert sanctioned_attendees(bea, dated, date(2027, 6, 1))[0]["cases"][0] == (
        2, "ban ended 2027-06-01")
