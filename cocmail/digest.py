"""The weekly digest to the conference leads: numbers, states, ages, missing steps, no names.

Due once per ISO week at `digest.weekday`/`digest.time` in the event's time zone. The
week is recorded in the same transaction that queues the mail, so restarts and downtime
give one digest for the current week (a missed week is not sent late, twice over).
Each lead gets a digest without the cases they are recused from.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .app import App
from .case import STEP_LABELS, Case
from .config import WEEKDAYS
from .effects import OutMail
from .env import Env
from .store import iso

STALE_AFTER = timedelta(hours=24)


def slot_for(now: datetime, env: Env, weekday: str, at: Any) -> datetime:
    """The most recent scheduled digest time at or before `now`, in the event's zone."""
    local = now.astimezone(env.tz)
    days_back = (local.weekday() - WEEKDAYS.index(weekday)) % 7
    slot = datetime.combine(local.date() - timedelta(days=days_back), at, env.tz)
    if slot > local:
        slot -= timedelta(days=7)
    return slot


def week_key(slot: datetime) -> str:
    year, week, _ = slot.isocalendar()
    return f"{year}-W{week:02d}"


def _short_step(name: str) -> str:
    return STEP_LABELS[name].split(" (")[0]


def digest_context(cases: list[Case], env: Env, period_end: datetime) -> dict[str, Any]:
    start = period_end - timedelta(days=7)
    now = env.now
    open_cases = [c for c in cases if c.status == "open"]
    return {
        "period_start": env.local(start)[:10],
        "period_end": env.local(period_end)[:10],
        "opened": [c.number for c in cases if start <= c.opened <= period_end],
        "closed": [c.number for c in cases
                   if (t := c.step("closed")) is not None and start <= t <= period_end],
        "open_cases": [{"case": c.number, "age_days": max((now - c.opened).days, 0),
                        "last_activity": env.local(c.last_activity or c.opened),
                        "missing_steps": [_short_step(m) for m in c.missing_steps()],
                        "urgent": c.urgent} for c in open_cases],
        "stale": [c.number for c in open_cases
                  if c.last_staff_action is None and now - c.opened >= STALE_AFTER],
        "dsf_due": [c.number for c in cases
                    if c.step("dsf_reported") is None and c.step("decision") is not None],
    }


def _all_cases(app: App) -> list[Case]:
    cases = []
    for n in app.store.case_numbers(include_closed=True):
        c = app.store.load_case(n)
        if c is not None:
            cases.append(c)
    return cases


def build_digest(app: App, now: datetime) -> str:
    """The digest as text (what `cocmail digest --print` shows), for all cases."""
    env = app.pipeline.env()
    mail = OutMail("digest", app.cfg.inbox_address, "x", None,
                   digest_context(_all_cases(app), env, now))
    composer = app.pipeline.composer
    return f"Subject: {composer.subject(mail)}\n\n{composer.body(mail)}"


def queue_digest(app: App, now: datetime, *, record_week: str | bool = False) -> int:
    """Queue one digest per lead (each without the cases they are recused from)."""
    env = app.pipeline.env()
    cases = _all_cases(app)
    leads = [m for m in app.pipeline.roster.members if m.lead]
    with app.store.tx() as c:
        if isinstance(record_week, str):
            if c.execute("SELECT 1 FROM digests WHERE week=?", (record_week,)).fetchone():
                return 0
            c.execute("INSERT INTO digests(week, sent) VALUES (?,?)", (record_week, iso(now)))
        for lead in leads:
            visible = [k for k in cases if not any(lead.owns(r) for r in k.recused)]
            ctx = digest_context(visible, env, now)
            app.pipeline.enqueue(c, OutMail("digest", lead.address, f"s{lead.sid}", None, ctx),
                                 env)
    return len(leads)


def send_due_digest(app: App, now: datetime) -> bool:
    """Queue this week's digest if its time has come and it was not queued yet."""
    env = app.pipeline.env()
    slot = slot_for(now, env, app.cfg.digest.weekday, app.cfg.digest.time)
    key = week_key(slot)
    if app.store.scalar("SELECT 1 FROM digests WHERE week=?", (key,)):
        return False
    if not app.store.scalar("SELECT count(*) FROM digests"):
        # A new installation starts counting at the next slot instead of mailing at once.
        with app.store.tx() as c:
            c.execute("INSERT INTO digests(week, sent) VALUES (?,?)", (key, "baseline"))
        return False
    return queue_digest(app, now, record_week=key) > 0
