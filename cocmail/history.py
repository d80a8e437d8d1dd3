"""Earlier cases naming the same person: the repeat-offender look-up over the store.

Only accused people of live (not expunged) cases count: a warning must point at a case
the team can still read, and an expunged case must not follow anyone around.
"""

from __future__ import annotations

import json
from typing import Any

from .core.case import Person
from .core.people import addresses_in, names_in, normalise_name
from .store import Store

_ACCUSED = ("SELECT DISTINCT c.number, c.outcome, c.status, c.recused, p.name, p.email,"
            " p.norm_name"
            " FROM people p JOIN cases c ON c.number=p.case_number"
            " WHERE p.role='accused' AND c.purged IS NULL AND c.number<>?")


def _entry(row: dict[str, Any], person: str) -> dict[str, Any]:
    """One warning; `recused` (staff emails) lets each recipient see only their cases."""
    return {"case": row["number"], "person": person, "outcome": row["outcome"],
            "status": row["status"], "recused": tuple(json.loads(row["recused"] or "[]"))}


def _display(row: dict[str, Any]) -> str:
    return Person("accused", row["name"] or "", row["email"]).display()


class StoreHistory:
    """`env.History` backed by the people table (address, case-insensitive, or normalised name)."""

    def __init__(self, store: Store):
        self.store = store

    def earlier(self, person: Person, exclude_case: int) -> list[dict[str, Any]]:
        """Other cases naming `person` as accused: [{"case", "person", "outcome", "status"}]."""
        clauses, params = [], []
        if person.email:
            clauses.append("lower(p.email)=?")
            params.append(person.email.lower())
        norm = normalise_name(person.name)
        if norm:
            clauses.append("p.norm_name=?")
            params.append(norm)
        if not clauses:
            return []
        rows = self.store.query(f"{_ACCUSED} AND ({' OR '.join(clauses)}) ORDER BY c.number",
                                (exclude_case, *params))
        seen: set[int] = set()
        out = []
        for r in rows:
            if r["number"] not in seen:
                seen.add(r["number"])
                out.append(_entry(r, person.display()))
        return out

    def mentioned(self, text: str, exclude_case: int) -> list[dict[str, Any]]:
        """Other cases whose accused person `text` writes out (an address, or a full name).

        For a report whose text names someone before any `#accused`: staff should see the
        earlier cases in the very first notification.
        """
        rows = self.store.query(f"{_ACCUSED} ORDER BY c.number", (exclude_case,))
        if not rows:  # no one accused yet: nothing to look for in the text
            return []
        addresses = addresses_in(text)
        named = names_in(text, {r["norm_name"] for r in rows if r["norm_name"]})
        out: list[dict[str, Any]] = []
        for r in rows:
            hit = (r["email"] and r["email"].lower() in addresses) or r["norm_name"] in named
            if hit and all(e["case"] != r["number"] for e in out):
                out.append(_entry(r, _display(r)))
        return out

    def staff_text(self, case: int) -> str:
        """Every body cocmail mailed to a staff member on `case`, for outgoing_text."""
        from .core.outgoing_text import staff_text_index

        return staff_text_index(self.store.staff_mail_bodies(case))
