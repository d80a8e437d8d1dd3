"""Earlier cases naming the same person: the repeat-offender look-up over the store.

Only accused people of live (not expunged) cases count: a warning must point at a case
the team can still read, and an expunged case must not follow anyone around. Every
look-up is an index look-up (store/people.py), so a report costs the same however many
people are on file.
"""

from __future__ import annotations

import json
from typing import Any

from .core.case import Person
from .core.people import names_written, normalise_name
from .store import Store
from .store import cases as cases_db
from .store import people as people_db


def _entry(row: dict[str, Any], person: str) -> dict[str, Any]:
    """One warning; `recused` (staff emails) lets each recipient see only their cases."""
    return {"case": row["number"], "person": person, "outcome": row["outcome"],
            "status": row["status"], "recused": tuple(json.loads(row["recused"] or "[]")),
            "until": row["until"]}  # ISO date: the core says whether it is still in force


def _display(row: dict[str, Any]) -> str:
    return Person("accused", row["name"] or "", row["email"]).display()


def _first_per_case(rows: list[dict[str, Any]], person: str | None) -> list[dict[str, Any]]:
    """One warning per case (rows come in case order): the first person row of each."""
    seen: set[int] = set()
    out = []
    for r in rows:
        if r["number"] not in seen:
            seen.add(r["number"])
            out.append(_entry(r, person if person is not None else _display(r)))
    return out


class StoreHistory:
    """`env.History` backed by the people table (address, case-insensitive, or normalised name)."""

    def __init__(self, store: Store):
        self.store = store

    def earlier(self, person: Person, exclude_case: int) -> list[dict[str, Any]]:
        """Other cases naming `person` as accused: [{"case", "person", "outcome", "status"}]."""
        norm = normalise_name(person.name)
        if not person.email and not norm:
            return []
        rows = self.store.read(people_db.accused_matching, exclude_case, person.email, norm)
        return _first_per_case(rows, person.display())

    def mentioned(self, text: str, exclude_case: int) -> list[dict[str, Any]]:
        """Other cases whose accused person `text` writes out (an address, or a full name).

        For a report whose text names someone before any `#accused`: staff should see the
        earlier cases in the very first notification. The text's addresses and its runs
        of words (as long as the longest name on file) are looked up, not the names on
        file read.
        """
        addresses, runs = names_written(text, self.store.read(people_db.longest_accused_name))
        if not addresses and not runs:
            return []
        return _first_per_case(self.store.read(people_db.accused_named, exclude_case,
                                               addresses, runs), None)

    def staff_text(self, case: int) -> str:
        """Every body cocmail mailed to a staff member on `case`, for outgoing_text."""
        from .core.outgoing_text import staff_text_index

        return staff_text_index(self.store.read(cases_db.staff_mail_bodies, case))
