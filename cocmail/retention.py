"""Expunging what the retention policy says is due (process.md, Retention).

Closed cases that ended with a warning or less go after `warning_days`
("not a violation" after `not_a_violation_days`); removals, suspensions and bans are
kept (indefinitely, or `sanction_extra_days` when set). The clock starts when the case
closed and restarts whenever a later case names the same accused person. Expunging
removes names, addresses, bodies and raw mail; the anonymous counts stay in `stats`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from .app import App
from .case import Case
from .people import normalise_name
from .store import iso

log = logging.getLogger("cocmail.retention")

KEPT_OUTCOMES = ("removed-from-event", "suspension", "ban")


def retention_days(app: App, case: Case) -> int | None:
    r = app.cfg.retention
    if case.outcome == "not-a-violation":
        return r.not_a_violation_days
    if case.outcome in KEPT_OUTCOMES:
        return r.sanction_extra_days
    return r.warning_days


def clock_start(app: App, case: Case) -> datetime | None:
    """When the case closed, or later if a later case named the same accused."""
    start = case.step("closed")
    if start is None:
        return None
    for p in case.accused:
        rows = app.store.query(
            "SELECT max(c.opened) AS latest FROM people p JOIN cases c ON c.number=p.case_number"
            " WHERE p.role='accused' AND c.number<>? AND"
            " ((p.email IS NOT NULL AND lower(p.email)=?) OR (p.norm_name IS NOT NULL AND"
            " p.norm_name=?))",
            (case.number, (p.email or "").lower(), normalise_name(p.name)))
        latest = rows[0]["latest"] if rows else None
        if latest and datetime.fromisoformat(latest) > start:
            start = datetime.fromisoformat(latest)
    return start


def due_cases(app: App, now: datetime) -> list[int]:
    due = []
    for n in app.store.case_numbers(include_closed=True):
        case = app.store.load_case(n)
        if case is None or case.status != "closed":
            continue
        days = retention_days(app, case)
        start = clock_start(app, case)
        if days is None or start is None:
            continue
        if now - start >= timedelta(days=days):
            due.append(n)
    return due


def expunge(app: App, number: int, now: datetime) -> None:
    with app.store.tx() as c:
        c.execute("DELETE FROM people WHERE case_number=?", (number,))
        c.execute("DELETE FROM messages WHERE case_number=?", (number,))
        c.execute("DELETE FROM held WHERE case_number=?", (number,))
        c.execute("UPDATE audit SET actor='(expunged)', detail=NULL, message_id=NULL"
                  " WHERE case_number=?", (number,))
        c.execute("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL, message_id=NULL,"
                  " error=NULL WHERE case_number=?", (number,))
        c.execute("UPDATE outbox SET raw=NULL, recipients='[]', subject=NULL, sender='',"
                  " last_error=NULL WHERE case_number=?", (number,))
        c.execute("UPDATE cases SET subject=NULL, when_text=NULL, where_text=NULL, summary=NULL,"
                  " action=NULL, others=NULL, received_by=NULL, handlers='[]', recused='[]',"
                  " report_text=NULL, root_message_id=NULL, purged=? WHERE number=?",
                  (iso(now), number))
    log.info("case #%d expunged", number)


def purge_due(app: App, now: datetime, *, dry_run: bool = False, daily: bool = False) -> list[int]:
    if daily:
        last = app.store.scalar("SELECT value FROM meta WHERE key='last_purge'")
        if last and now - datetime.fromisoformat(last) < timedelta(days=1):
            return []
    numbers = due_cases(app, now)
    if dry_run:
        return numbers
    app.store.refresh_stats()
    for n in numbers:
        expunge(app, n, now)
    if numbers:
        app.store.compact()
    with app.store.tx() as c:
        c.execute("INSERT OR REPLACE INTO meta VALUES ('last_purge', ?)", (iso(now),))
    return numbers
