"""The weekly digest to the conference leads: numbers, states, ages, missing steps, no names.

Due once a week at `digest.weekday`/`digest.time` in the event's time zone (so it follows
daylight saving time). The week is recorded in the same transaction that queues the
mail, so a restart never sends it twice, and after downtime the current week's digest
goes out once (missed weeks are not sent late, one after the other). A new installation
records its first week without mailing: its first digest is the next scheduled one.

The context holds case numbers, dates, ages and step names only; nothing a person
wrote and nobody's name or address. Each lead gets a digest without the cases they are
recused from, counts included; staff who are not leads get none.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from .app import App
from .config import WEEKDAYS
from .core.case import STEP_LABELS, Case
from .core.effects import OutMail
from .core.env import Env
from .core.model import StaffMember
from .store import iso

STALE_AFTER = timedelta(hours=24)
WEEK = timedelta(days=7)
BASELINE = "baseline"


def slot_for(now: datetime, env: Env, weekday: str, at: time) -> datetime:
    """The most recent scheduled digest time at or before `now`, in the event's zone.

    Compared as wall-clock time: a slot in the spring-forward gap (02:30 on the night
    the clocks jump from 02:00 to 03:00) is due when the clock shows 03:00; one in the
    autumn overlap is due at its first occurrence (the week is then taken).
    """
    local = now.astimezone(env.tz)
    days_back = (local.weekday() - WEEKDAYS.index(weekday)) % 7
    slot = datetime.combine(local.date() - timedelta(days=days_back), at, env.tz)
    if slot.replace(tzinfo=None) > local.replace(tzinfo=None):
        slot = datetime.combine(slot.date() - WEEK, at, env.tz)
    return slot


def week_key(slot: datetime) -> str:
    """The ISO week of a slot (local date): one digest per key, ever."""
    year, week, _ = slot.date().isocalendar()
    return f"{year}-W{week:02d}"


def _short_step(name: str) -> str:
    return STEP_LABELS[name].split(" (")[0]


def _stale(case: Case, now: datetime) -> bool:
    """Open 24 hours and no staff member has acted (a staff-entered report is an action)."""
    return (case.status == "open" and case.last_staff_action is None
            and case.received_by is None and now - case.opened >= STALE_AFTER)


def digest_context(cases: list[Case], env: Env, period_start: datetime,
                   period_end: datetime, awaiting: frozenset[int] = frozenset(),
                   excluded: int = 0) -> dict[str, Any]:
    """The template's values: numbers, dates, ages and step names, never a person's data.

    `awaiting`: the cases with a proposal waiting for a second member's #approve."""
    now = env.now
    open_cases = [c for c in cases if c.status == "open"]
    return {
        "excluded": excluded,  # cases this lead is recused from: counted, never shown
        "period_start": env.local(period_start)[:10],
        "period_end": env.local(period_end)[:10],
        "opened": [c.number for c in cases if period_start <= c.opened <= period_end],
        "closed": [c.number for c in cases
                   if (t := c.step("closed")) is not None and period_start <= t <= period_end],
        "open_cases": [{"case": c.number, "age_days": max((now - c.opened).days, 0),
                        "last_activity": env.local(c.last_activity or c.opened),
                        "missing_steps": [_short_step(m) for m in c.missing_steps()],
                        "urgent": c.urgent} for c in open_cases],
        "stale": [c.number for c in open_cases if _stale(c, now)],
        "awaiting": [c.number for c in open_cases if c.number in awaiting],
        "dsf_due": [c.number for c in cases
                    if c.step("dsf_reported") is None and c.step("decision") is not None],
    }


def _all_cases(app: App, events: list[str] | None = None) -> list[Case]:
    """Every live case; of these events only (None: all, as the weekly digest has it, so
    that an open case of last year's event is never out of the leads' sight)."""
    cases = []
    for n in app.store.case_numbers(include_closed=True):
        c = app.store.load_case(n)
        if c is not None and (events is None or c.event in events):
            cases.append(c)
    return cases


def _awaiting(app: App) -> frozenset[int]:
    return frozenset(r["case_number"] for r in app.store.query(
        "SELECT DISTINCT case_number FROM proposals WHERE state='waiting'"))


def visible_to(member: StaffMember, cases: list[Case]) -> list[Case]:
    """The cases a staff member may hear of: not those they are recused from."""
    return [k for k in cases if not any(member.owns(r) for r in k.recused)]


def build_digest(app: App, now: datetime, events: list[str] | None = None) -> str:
    """The digest as text (what `cocmail digest --print` shows), for these events' cases."""
    env = app.pipeline.env()
    mail = OutMail("digest", app.cfg.inbox_address, "x", None,
                   digest_context(_all_cases(app, events), env, now - WEEK, now,
                                  _awaiting(app)))
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
    cases = _all_cases(app, events)
    start = period_start or now - WEEK
    leads = [m for m in app.pipeline.roster.members if m.lead]
    with app.store.tx() as c:
        if isinstance(record_week, str):
            if c.execute("SELECT 1 FROM digests WHERE week=?", (record_week,)).fetchone():
                return 0
            c.execute("INSERT INTO digests(week, sent) VALUES (?,?)", (record_week, iso(now)))
        for lead in leads:
            visible = visible_to(lead, cases)
            ctx = digest_context(visible, env, start, now, _awaiting(app),
                                 excluded=len([c for c in cases if c.status == "open"])
                                 - len([c for c in visible if c.status == "open"]))
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
            c.execute("INSERT OR IGNORE INTO digests(week, sent) VALUES (?,?)", (key, BASELINE))
        return False
    previous = datetime.combine(slot.date() - WEEK, app.cfg.digest.time, env.tz)
    return queue_digest(app, now, record_week=key, period_start=previous) > 0
