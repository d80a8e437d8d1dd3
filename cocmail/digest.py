"""The weekly digest to the conference leads: numbers, states, ages, missing steps, no names.

Due once a week at `digest.weekday`/`digest.time` in the event's time zone (so it follows
daylight saving time). The week is recorded in the same transaction that queues the
mail, so a restart never sends it twice, and after downtime the current week's digest
goes out once (missed weeks are not sent late, one after the other). A new installation
records its first week without mailing: its first digest is the next scheduled one.

This is the shell half: it loads the cases, asks cocmail/core/digest.py what is due and
what the digest says, and commits. Each lead gets a digest without the cases they are
recused from, counts included; staff who are not leads get none.
"""

from __future__ import annotations

from datetime import datetime

from .app import App
from .clock import iso
from .config import WEEKDAYS
from .core.case import Case
from .core.digest import (
    BASELINE,
    WEEK,
    digest_context,
    lead_context,
    previous_slot,
    slot_for,
    visible_to,
    week_key,
)
from .core.effects import OutMail
from .core.vocabulary import Recipient, staff_role
from .machine_mail import machine_mail_count
from .store import cases as cases_db
from .store import proposals as proposals_db

__all__ = ["build_digest", "digest_context", "queue_digest", "send_due_digest", "slot_for",
           "visible_to", "week_key"]


def _cases(app: App, since: datetime, events: list[str] | None = None) -> list[Case]:
    """The live cases a digest of the period from `since` can show (open ones, those
    opened, closed or decided since, those still due for the DSF); of these events only
    (None: all, as the weekly digest has it, so that an open case of last year's event
    is never out of the leads' sight)."""
    return app.store.read(cases_db.load_cases, events=events, since=since)


def build_digest(app: App, now: datetime, events: list[str] | None = None) -> str:
    """The digest as text (what `cocmail digest --print` shows), for these events' cases."""
    env = app.pipeline.env()
    start = now - WEEK
    mail = OutMail(to=app.cfg.inbox_address, role=Recipient.OTHER, case=None,
                   context=digest_context(_cases(app, start, events), env, start, now,
                                          app.store.read(proposals_db.awaiting_approval),
                                          machine_mail=machine_mail_count(app.store, start, now)))
    composer = app.pipeline.composer
    return f"Subject: {composer.subject(mail)}\n\n{composer.body(mail)}"


def queue_digest(app: App, now: datetime, *, record_week: str | bool = False,
                 period_start: datetime | None = None,
                 events: list[str] | None = None) -> int:
    """Queue one digest per lead (each without the cases they are recused from).

    With `record_week`, the week is claimed in the same transaction; a week already
    claimed queues nothing and returns 0. Returns the number of digests queued.
    """
    env = app.pipeline.env()
    start = period_start or now - WEEK
    cases = _cases(app, start, events)
    awaiting = app.store.read(proposals_db.awaiting_approval)
    machine = machine_mail_count(app.store, start, now)
    leads = [m for m in app.pipeline.roster.members if m.lead]
    with app.store.tx() as c:
        if isinstance(record_week, str) and not proposals_db.claim_digest_week(
                c, record_week, iso(now) or ""):
            return 0
        for lead in leads:
            ctx = lead_context(lead, cases, env, start, now, awaiting, machine)
            app.pipeline.enqueue(
                c, OutMail(to=lead.address, role=staff_role(lead.sid), case=None, context=ctx),
                env)
    return len(leads)


def send_due_digest(app: App, now: datetime) -> bool:
    """Queue this week's digest if its time has come and it was not queued yet."""
    env = app.pipeline.env()
    at = app.cfg.digest.time
    slot = slot_for(now, env, WEEKDAYS.index(app.cfg.digest.weekday), at)
    key = week_key(slot)
    if app.store.read(proposals_db.digest_recorded, key):
        return False
    if not app.store.read(proposals_db.any_digest_recorded):
        # A new installation starts counting at the next slot instead of mailing at once.
        with app.store.tx() as c:
            proposals_db.claim_digest_week(c, key, BASELINE)
        return False
    return queue_digest(app, now, record_week=key,
                        period_start=previous_slot(slot, at, env)) > 0
