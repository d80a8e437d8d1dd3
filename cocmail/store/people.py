"""People: those named on cases (`people`), the look-ups of earlier cases that name the
same accused person, sanctions on file, and the staff's stable token numbers
(`staff_ids`).

Every function takes the connection first. The history look-ups are indexed only
(migration 7): the cost of a report must not grow with the number of people on file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Set as AbstractSet
from typing import Any

from ..config import StaffConfig
from ..core.model import Roster, StaffMember
from .connection import rows, value
from .sealed import EMAIL, NAME, blind

_IN_CHUNK = 500  # values per IN (...) list: far below SQLite's limit on parameters
# Accused people of live cases other than `?`, with what a repeat-offender warning shows.
_ACCUSED = ("SELECT DISTINCT p.id, c.number, c.outcome, c.status, c.closed, c.recused, p.name,"
            " p.email, p.norm_name, p.until FROM people p JOIN cases c ON c.number=p.case_number"
            " WHERE p.role='accused' AND c.purged IS NULL AND c.number<>?")


def roster(conn: sqlite3.Connection, staff: tuple[StaffConfig, ...]) -> Roster:
    """Staff with stable token numbers: a member keeps their `s<N>` across config edits
    (a write: a member new to the config is given the next number)."""
    members = []
    for s in staff:
        row = conn.execute("SELECT sid FROM staff_ids WHERE email=?", (s.email,)).fetchone()
        if row is None:
            cur = conn.execute("INSERT INTO staff_ids(email) VALUES (?)", (s.email,))
            sid = int(cur.lastrowid or 0)
        else:
            sid = int(row[0])
        members.append(StaffMember(sid, s.name, s.email, s.aliases, s.lead))
    return Roster(tuple(members))


def is_on_case(conn: sqlite3.Connection, number: int, email: str) -> bool:
    """Is `email` one of the people on case `number`? (Without loading the case.)"""
    email = email.lower()
    found = conn.execute("SELECT email FROM people WHERE case_number=? AND email IS NOT"
                         " NULL", (number,)).fetchall()
    return any((r[0] or "").lower() == email for r in found)


def people_on_file(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every person named in a live case with the case's number, status and outcome."""
    return rows(conn,
                "SELECT p.id, p.role, p.name, p.email, p.norm_name, c.number, c.status,"
                " c.outcome FROM people p JOIN cases c ON c.number=p.case_number"
                " WHERE c.purged IS NULL ORDER BY c.number, p.id")


def sanctioned_accused(conn: sqlite3.Connection, outcomes: tuple[str, ...]
                       ) -> list[dict[str, Any]]:
    """Accused people of live cases whose outcome is one of `outcomes`."""
    marks = ",".join("?" for _ in outcomes) or "NULL"
    return rows(conn,
                "SELECT p.email, p.norm_name, c.number, c.outcome, p.until FROM people p"
                " JOIN cases c ON c.number=p.case_number WHERE p.role='accused'"
                f" AND c.outcome IN ({marks}) AND c.purged IS NULL", outcomes)


def sanctions_ended(conn: sqlite3.Connection, on: str, key_prefix: str) -> list[int]:
    """Live cases, open or closed, with a reported person whose sanction ended by `on`
    (ISO date) and no reminder `key_prefix` + that date recorded yet: the few cases the
    sanction-ended reminder must look at, however many cases are on file."""
    return [r["case_number"] for r in rows(
        conn, "SELECT DISTINCT p.case_number FROM people p JOIN cases c"
        " ON c.number=p.case_number WHERE p.role='accused' AND p.until IS NOT NULL"
        " AND p.until<=? AND c.purged IS NULL AND NOT EXISTS (SELECT 1 FROM reminders r"
        " WHERE r.case_number=p.case_number AND r.key=?||p.until) ORDER BY p.case_number",
        (on, key_prefix))]


def accused_matching(conn: sqlite3.Connection, exclude_case: int, email: str | None,
                     norm_name: str | None) -> list[dict[str, Any]]:
    """Accused people of other live cases with this address (case-insensitively) or
    this normalised name, in case order (then people order)."""
    found: list[dict[str, Any]] = []
    if email:
        found += rows(conn, f"{_ACCUSED} AND p.email_bi=?",
                      (exclude_case, blind(conn, EMAIL, email.lower())))
    if norm_name:
        found += rows(conn, f"{_ACCUSED} AND p.name_bi=?",
                      (exclude_case, blind(conn, NAME, norm_name)))
    return _in_case_order(found)


def accused_named(conn: sqlite3.Connection, exclude_case: int, emails: AbstractSet[str],
                  norm_names: AbstractSet[str]) -> list[dict[str, Any]]:
    """Accused people of other live cases whose address is one of `emails`
    (lower-cased) or whose normalised name is one of `norm_names`, by their blind
    indexes (store/sealed.py)."""
    found: list[dict[str, Any]] = []
    for column, values in (("p.email_bi", sorted(str(blind(conn, EMAIL, e)) for e in emails)),
                           ("p.name_bi", sorted(str(blind(conn, NAME, n))
                                                for n in norm_names))):
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start:start + _IN_CHUNK]
            found += rows(conn, f"{_ACCUSED} AND {column} IN ({','.join('?' * len(chunk))})",
                          (exclude_case, *chunk))
    return _in_case_order(found)


def longest_accused_name(conn: sqlite3.Connection) -> int:
    """The most words in an accused person's normalised name (0: nobody on file)."""
    return int(value(conn, "SELECT max(name_words) FROM people WHERE role='accused'") or 0)


def _in_case_order(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """People rows from several look-ups: each once, by case number then people id."""
    unique = {r["id"]: r for r in found}
    return sorted(unique.values(), key=lambda r: (r["number"], r["id"]))
