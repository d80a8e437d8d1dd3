"""Sanctions with an end (issue 25, item 7): `#until`, whether a sanction is in force,
and the reminder when one ends.

Pure: the shell passes the time in. A suspension or a ban may end on a date (`#until`,
stored with each reported person); the attendee check and the repeat-offender warnings
say whether it is still in force on the day they are read, because "banned" alone sends
a team to turn away someone whose ban ended a year ago. The date is the first day the
sanction no longer applies ("banned until 2027-06-01": welcome again on 1 June).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from .case import Case
from .env import Env
from .mail_contexts import SanctionEndedContext
from .reminders import Reminder, _handlers, _mails
from .vocabulary import Outcome

# The outcomes that can have an end date: the others are done once said (a warning) or
# have no duration (the talk was ended).
ENDING_OUTCOMES: tuple[Outcome, ...] = (Outcome.SUSPENSION, Outcome.BAN)
# How each reads before "until <date>" and before "ended <date>".
_IN_FORCE = {Outcome.SUSPENSION: "suspended", Outcome.BAN: "banned"}
_ENDED = {Outcome.SUSPENSION: "suspension", Outcome.BAN: "ban"}
# The reminder's key: one per case and end date, so a changed date reminds again.
REMINDER_KEY = "sanction-ended-"

_MONTHS = {m: i for i, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
     ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
     ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")), start=1) for m in names}
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DAY_MONTH = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\.?\s+([a-z]+)\.?,?\s+(\d{4})")
_MONTH_DAY = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_AMBIGUOUS = re.compile(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
FORMAT_HINT = "write the date as YYYY-MM-DD, e.g. #until 2027-06-01"


class UntilError(ValueError):
    """A date `#until` cannot use; the message is the transcript's reason."""


def parse_date(text: str) -> date:
    """The date staff typed: 2027-06-01 (also 2027/6/1, 2027.06.01), 1 June 2027 or
    June 1, 2027. 01/06/2027 is refused: a team spread over countries reads it two ways,
    and a ban that ends in January instead of June is a real harm."""
    t = " ".join(text.strip().lower().split())
    try:
        if m := _ISO.fullmatch(t):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if (m := _DAY_MONTH.fullmatch(t)) and m[2] in _MONTHS:
            return date(int(m[3]), _MONTHS[m[2]], int(m[1]))
        if (m := _MONTH_DAY.fullmatch(t)) and m[1] in _MONTHS:
            return date(int(m[3]), _MONTHS[m[1]], int(m[2]))
    except ValueError:
        raise UntilError(f"'{text.strip()[:40]}' is not a date in the calendar; "
                         f"{FORMAT_HINT}") from None
    if _AMBIGUOUS.fullmatch(t):
        raise UntilError(f"'{text.strip()[:40]}' can be read as two different dates; "
                         f"{FORMAT_HINT}")
    raise UntilError(f"cannot read '{text.strip()[:40]}' as a date; {FORMAT_HINT}")


def split_until(value: str) -> tuple[str, str]:
    """`#until`'s value -> (the date as typed, the person named after it or "").

    The date is the first word, or the first three words when they spell one out
    ("1 June 2027", "June 1, 2027"), or "none"."""
    words = value.split()
    for n in (3, 1):
        head = " ".join(words[:n])
        if n == 1 and head.lower() == "none":
            return head, " ".join(words[1:])
        try:
            parse_date(head)
        except UntilError:
            continue
        return head, " ".join(words[n:])
    return (" ".join(words[:1]), " ".join(words[1:]))


def today(env: Env) -> date:
    """The event's calendar day at `env.now`: a sanction ends at local midnight."""
    return env.now.astimezone(env.tz).date()


def state_words(outcome: str | None, until: date | None, on: date) -> str:
    """What a list of earlier sanctions says of one: "banned until 2027-06-01, still in
    force", "suspension ended 2026-01-01", or the plain outcome when it has no end."""
    if outcome not in ENDING_OUTCOMES or until is None:
        return outcome or ""
    if on < until:
        return f"{_IN_FORCE[Outcome(outcome)]} until {until.isoformat()}, still in force"
    return f"{_ENDED[Outcome(outcome)]} ended {until.isoformat()}"


def as_date(value: date | str | None) -> date | None:
    """A stored end date (ISO text from the store, or a date) as a date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def with_state(entries: Iterable[dict[str, Any]], on: date) -> list[dict[str, Any]]:
    """Earlier-case warnings (env.History's entries) whose outcome says whether an ended
    sanction is still in force `on` that day; entries without an end are unchanged."""
    out = []
    for e in entries:
        until = as_date(e.get("until"))
        out.append({**e, "outcome": state_words(e.get("outcome"), until, on)}
                   if until is not None else e)
    return out


def sanction_reminders(cases: Iterable[Case], env: Env,
                       sent: frozenset[tuple[int, str]]) -> list[Reminder]:
    """One reminder per case and end date that has come (open or closed cases alike: a
    ban is decided and the case closed long before it ends), to the case's handlers who
    may still see it, else to the team; never to an excluded member. `sent`: the
    (case, key) pairs already queued, so a restart never sends one twice."""
    on, out = today(env), []
    for case in cases:
        if case.outcome not in ENDING_OUTCOMES:
            continue
        ends = sorted({p.until for p in case.accused if p.until is not None and p.until <= on})
        for until in ends:
            key = REMINDER_KEY + until.isoformat()
            if (case.number, key) in sent:
                continue
            to, handling = _handlers(case, env)
            if not to:
                continue
            several = sum(1 for p in case.accused if p.until == until) < len(case.accused)
            out.append(Reminder(case.number, key, _mails(
                SanctionEndedContext, case, to, None,
                sanction=_ENDED[Outcome(case.outcome)], ended=until.isoformat(),
                days_ago=(on - until).days, some_only=several, handling=handling)))
    return out


def first_day_after(at: datetime, env: Env) -> date:
    """The day after `at`, in the event's zone: the earliest date `#until` accepts."""
    return at.astimezone(env.tz).date() + timedelta(days=1)
