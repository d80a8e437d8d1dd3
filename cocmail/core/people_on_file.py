"""Who is who across cases: `cocmail people` and `cocmail check-attendees` decide here.

Both recognise the same person the way the repeat-offender check does (core/people.py):
the same address, case-insensitively, or the same normalised name. `merge_people`
applies it transitively ("Doe, Dan" without an address and "dan doe <dan@x>" are one
entry); `sanctioned_attendees` applies it to a registration list. The shell reads the
store and the attendee file and prints what these return.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from .people import normalise_name
from .sanctions import as_date, state_words
from .vocabulary import Party


class _Groups:
    """Union-find over people rows: rows sharing an address or a normalised name merge."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, keys: list[str]) -> str:
        roots = [self.find(k) for k in keys]
        for r in roots[1:]:
            self.parent[r] = roots[0]
        return roots[0]


def identity_keys(row: dict[str, Any]) -> list[str]:
    """What a people row may share with another row of the same person: its address
    (lower case) and its normalised name; a row with neither is a person of its own."""
    keys = []
    if row["email"]:
        keys.append("email:" + row["email"].lower())
    if row["norm_name"]:
        keys.append("name:" + row["norm_name"])
    return keys or [f"row:{row['id']}"]


def case_label(role: str, status: str, outcome: str | None) -> str:
    """What `cocmail people` shows per case: the outcome for the accused, else the role."""
    if role != Party.ACCUSED:
        return role
    if outcome:
        return outcome
    return "open" if status == "open" else "closed without outcome"


def merge_people(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per person from the store's people rows (id, role, name, email,
    norm_name, number, status, outcome; by case, then row), most cases first."""
    groups = _Groups()
    for r in rows:
        groups.union(identity_keys(r))
    people: dict[str, dict[str, Any]] = {}
    # Ordered sets (dicts) per person: a list's `in` made a person named in a thousand
    # cases cost a million comparisons.
    seen: dict[str, dict[str, dict[Any, None]]] = {}
    for r in rows:
        key = groups.find(identity_keys(r)[0])
        entry = people.setdefault(key, {
            "name": None, "email": None, "names": [], "emails": [], "roles": [], "cases": 0,
            "outcomes": [], "case_roles": []})
        sets = seen.setdefault(key, {"names": {}, "emails": {}, "roles": {}, "outcomes": {}})
        label = case_label(r["role"], r["status"], r["outcome"])
        for field, value in (("names", r["name"]), ("emails", (r["email"] or "").lower()),
                             ("roles", r["role"]), ("outcomes", (r["number"], label))):
            if value:
                sets[field][value] = None
        entry["case_roles"].append({"case": r["number"], "role": r["role"],
                                    "status": r["status"],
                                    "outcome": r["outcome"] if r["role"] == Party.ACCUSED
                                    else None})
    for key, entry in people.items():
        for field, values in seen[key].items():
            entry[field] = list(values)
        entry["name"] = entry["names"][0] if entry["names"] else None
        entry["email"] = entry["emails"][0] if entry["emails"] else None
        entry["cases"] = len({c["case"] for c in entry["case_roles"]})
    return sorted(people.values(), key=lambda e: (-e["cases"], (e["name"] or "").lower(),
                                                  e["email"] or ""))


def sanctioned_attendees(attendees: Iterable[dict[str, str]],
                         sanctioned: list[dict[str, Any]], on: date) -> list[dict[str, Any]]:
    """The attendees (name, email as registered) who are the accused of a sanctioned
    case (`sanctioned`: store rows email, norm_name, number, outcome, until), each with
    those cases' (number, outcome as of the day `on`: "banned until 2027-06-01, still in
    force", "suspension ended 2026-01-01"), in the attendee list's order. An attendee
    matches by address (any case) or by normalised name, so "Doe, Dan" registered with a
    new address is still found; an attendee without an address can match by name."""
    hits = []
    for a in attendees:
        email, norm = a.get("email", "").lower(), normalise_name(a.get("name"))
        cases = [(s["number"], state_words(s["outcome"], as_date(s.get("until")), on))
                 for s in sanctioned
                 if (email and (s["email"] or "").lower() == email)
                 or (norm and s["norm_name"] == norm)]
        if cases:
            hits.append({"name": a.get("name", ""), "email": a.get("email", ""),
                         "cases": sorted(set(cases))})
    return hits
