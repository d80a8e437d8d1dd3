"""The weekly digest's decisions: when it is due, which week it is, what it says.

Pure: the shell (cocmail/digest.py) loads the cases, asks here, and queues the mail in
the transaction that records the week. The context holds case numbers, dates, ages and
step names only; nothing a person wrote and nobody's name or address.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from .case import Case, short_step_label
from .env import Env
from .mail_contexts import DigestContext
from .model import StaffMember

STALE_AFTER = timedelta(hours=24)
WEEK = timedelta(days=7)
BASELINE = "baseline"  # what a new installation records instead of mailing at once


def slot_for(now: datetime, env: Env, weekday: int, at: time) -> datetime:
    """The most recent scheduled digest time at or before `now`, in the event's zone;
    `weekday` counts from Monday (0), as `datetime.weekday()` does.

    Compared as wall-clock time: a slot in the spring-forward gap (02:30 on the night
    the clocks jump from 02:00 to 03:00) is due when the clock shows 03:00; one in the
    autumn overlap is due at its first occurrence (the week is then taken).
    """
    local = now.astimezone(env.tz)
    days_back = (local.weekday() - weekday) % 7
    slot = datetime.combine(local.date() - timedelta(days=days_back), at, env.tz)
    if slot.replace(tzinfo=None) > local.replace(tzinfo=None):
        slot = datetime.combine(slot.date() - WEEK, at, env.tz)
    return slot


def week_key(slot: datetime) -> str:
    """The ISO week of a slot (local date): one digest per key, ever."""
    year, week, _ = slot.date().isocalendar()
    return f"{year}-W{week:02d}"


def previous_slot(slot: datetime, at: time, env: Env) -> datetime:
    """The slot a week before `slot`: where the period a digest covers starts."""
    return datetime.combine(slot.date() - WEEK, at, env.tz)


def _stale(case: Case, now: datetime) -> bool:
    """Open 24 hours and no staff member has acted (a staff-entered report is an action)."""
    return (case.status == "open" and case.last_staff_action is None
            and case.received_by is None and now - case.opened >= STALE_AFTER)


def digest_context(cases: list[Case], env: Env, period_start: datetime,
                   period_end: datetime, awaiting: frozenset[int] = frozenset(),
                   machine_mail: int = 0) -> DigestContext:
    """The template's values: numbers, dates, ages and step names, never a person's data.

    `awaiting`: the cases with a proposal waiting for a second member's #approve;
    `machine_mail`: machine mail kept aside in the period without a case (a count only)."""
    now = env.now
    open_cases = [c for c in cases if c.status == "open"]
    return DigestContext(
        machine_mail=machine_mail,
        period_start=env.local(period_start)[:10],
        period_end=env.local(period_end)[:10],
        opened=[c.number for c in cases if period_start <= c.opened <= period_end],
        closed=[c.number for c in cases
                if (t := c.step("closed")) is not None and period_start <= t <= period_end],
        open_cases=[{"case": c.number, "age_days": max((now - c.opened).days, 0),
                     "last_activity": env.local(c.last_activity or c.opened),
                     "missing_steps": [short_step_label(m) for m in c.missing_steps()],
                     "urgent": c.urgent} for c in open_cases],
        stale=[c.number for c in open_cases if _stale(c, now)],
        awaiting=[c.number for c in open_cases if c.number in awaiting],
        dsf_due=[c.number for c in cases
                 if c.step("dsf_reported") is None and c.step("decision") is not None],
    )


def visible_to(member: StaffMember, cases: list[Case]) -> list[Case]:
    """The cases a staff member may hear of: not those they are recused from."""
    return [k for k in cases if not any(member.owns(r) for r in k.recused)]


def lead_context(lead: StaffMember, cases: list[Case], env: Env, period_start: datetime,
                 period_end: datetime, awaiting: frozenset[int],
                 machine_mail: int = 0) -> DigestContext:
    """One lead's digest: without the cases they are excluded from, not even as a count
    (a count would tell them that a case exists that is hidden from them)."""
    return digest_context(visible_to(lead, cases), env, period_start, period_end, awaiting,
                          machine_mail=machine_mail)
