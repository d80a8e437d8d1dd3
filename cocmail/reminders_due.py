"""The shell around core/reminders.py: load the facts, ask the core, queue what is due.

Called from the daemon's housekeeping (every minute, and in `run --once`). Each reminder's
key is recorded in the transaction that queues its mails, so a crash between the two is
impossible: after a restart a reminder already queued is not queued again, and one that
fell due while cocmail was down goes out once, on the first pass.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from .app import App
from .config import Config
from .core.env import Env
from .core.reminders import CaseFacts, Reminder, ReminderRules, due_reminders, in_quiet_hours
from .core.sanctions import REMINDER_KEY, sanction_reminders, today
from .store import cases as cases_db
from .store import inbound as inbound_db
from .store import people as people_db
from .store import proposals as proposals_db

log = logging.getLogger("cocmail.reminders")


def rules_for(cfg: Config) -> ReminderRules:
    """The reminder rules the configuration sets ([process] and [event])."""
    p = cfg.process
    return ReminderRules(
        first_response=timedelta(minutes=p.first_response_minutes),
        first_response_outside=timedelta(minutes=p.first_response_minutes_outside),
        reporter_update=timedelta(days=p.reporter_update_days),
        quiet_hours=p.quiet_hours, event_starts=cfg.event.starts, event_ends=cfg.event.ends)


def due_now(app: App, now: datetime) -> list[Reminder]:
    """The reminders due at `now` and not sent yet (nothing is queued)."""
    store = app.store
    heard = store.read(proposals_db.reporter_heard)
    # A case a flood opened was listed in the burst's summary, not mailed on its own; its
    # reminders would be the flood again, one per case. Once a member acts on it, it
    # is reminded of like any case.
    flood = store.read(inbound_db.held_reports)
    facts = []
    for number in store.read(cases_db.case_numbers):
        case = store.read(cases_db.load_case, number)
        if case is not None and not (number in flood and case.last_staff_action is None):
            facts.append(CaseFacts(case, heard.get(number)))
    env = replace(app.pipeline.env(), now=now)
    sent = store.read(proposals_db.reminders_sent)
    return due_reminders(facts, rules_for(app.cfg), env, sent) + _sanctions_ended(app, env)


def _sanctions_ended(app: App, env: Env) -> list[Reminder]:
    """A sanction that ended (#until) reminds the team once, on an open or a closed case;
    the store names the few cases with an end reached and not reminded of."""
    if in_quiet_hours(env.now, env, app.cfg.process.quiet_hours):
        return []
    numbers = app.store.read(people_db.sanctions_ended, today(env).isoformat(), REMINDER_KEY)
    cases = [c for c in (app.store.read(cases_db.load_case, n) for n in numbers) if c]
    sent = frozenset((n, k) for n, k in app.store.read(proposals_db.reminder_keys, numbers))
    return sanction_reminders(cases, env, sent)


def send_due_reminders(app: App, now: datetime) -> int:
    """Queue every reminder due at `now`, each with its key; returns how many mails."""
    due = due_now(app, now)
    if not due:
        return 0
    env = replace(app.pipeline.env(), now=now)
    queued = 0
    with app.store.tx() as c:
        for r in due:
            if not proposals_db.record_reminder(c, r.case, r.key, now):
                continue  # another process queued it first
            for mail in r.mails:
                app.pipeline.enqueue(c, mail, env)
            queued += len(r.mails)
            log.info("case #%d: reminder %s queued for %d staff", r.case, r.key, len(r.mails))
    return queued
