"""Earlier cases naming the same person: the repeat-offender look-up over the store."""

from __future__ import annotations

from typing import Any

from .case import Person
from .people import normalise_name
from .store import Store


class StoreHistory:
    """`env.History` backed by the people table (address, case-insensitive, or normalised name)."""

    def __init__(self, store: Store):
        self.store = store

    def earlier(self, person: Person, exclude_case: int) -> list[dict[str, Any]]:
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
        rows = self.store.query(
            "SELECT DISTINCT c.number, c.outcome, c.status FROM people p JOIN cases c"
            " ON c.number=p.case_number WHERE p.role='accused' AND c.purged IS NULL"
            f" AND c.number<>? AND ({' OR '.join(clauses)}) ORDER BY c.number",
            (exclude_case, *params))
        return [{"case": r["number"], "person": person.display(), "outcome": r["outcome"],
                 "status": r["status"]} for r in rows]
