"""Nobody is left waiting: which reminders are due, to whom, and the keys that make them once.

The handbook asks for an acknowledgement within hours; the Ada Initiative guide for the
other organisers to know within an hour; the PSF for a status mail to the reporter when a
follow-up runs late. A weekly digest is too slow for that, so the daemon asks this module,
every housekeeping pass, what is due now:

* **still unanswered** (`unanswered-1`): a case no staff member has acted on (no command
  run, not entered by staff) once it has waited `first_response` during the event or
  `first_response_outside` at any time, whichever comes first; to every staff member not
  recused from it. At twice those times (`unanswered-2`), to the leads.
* **urgent**: none after `#urgent`. Its alert reaches all staff at once, saying who
  escalated and why, and, like any member's command, it is acting on the case: a
  reminder 15 minutes later that "nobody on the team has acted on it" would be false
  (issue 25, item 4). The keys `urgent-1`, `urgent-2` of earlier versions stay recorded.
* **possibly urgent** (`possibly-urgent-1`, `-2`): the same schedule for a report whose
  subject or opening lines read as urgent (core/urgency.py), until a member acts on it
  (any command) or it was entered by a member. Quiet hours do not hold these back:
  someone may be unsafe. Read again from the report each pass,
  so nothing is stored for it, and a team's added `urgent_words` count at once.
* **the reporter is waiting** (`reporter-<since>-<n>`): an open case whose reporter has
  heard nothing from the team (no mail to their address, not told in person) for
  `reporter_update` reminds the case's handlers (all staff when it has none yet) to send
  a `#reply`; again after each further period without news. The key names the last
  contact and the period, so a restart never repeats it, mail to the reporter starts a
  new count, and after a long downtime one reminder goes out, not one per missed period.

Each key is sent at most once per case; the shell records it in the transaction that
queues the mails. Outside urgent ones, nothing goes out during quiet hours (a local-time
window that may wrap midnight): what falls due then goes out when they end.

Reminders are staff-internal mail and carry only the case number, how long it waited,
the steps still missing and the command to use: nothing a person wrote, no names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from .case import Case, short_step_label
from .effects import OutMail
from .env import Env
from .mail_contexts import MailContext, ReporterWaitingContext, StillUnansweredContext
from .model import Address
from .urgency import urgent_words

URGENT_AFTER = timedelta(minutes=15)  # the Ada Initiative guide: tell the others within 1 h
POSSIBLY_URGENT_SUBJECT = "Reminder: possibly urgent, still unanswered"


@dataclass(frozen=True)
class ReminderRules:
    """The `[process]` and `[event]` values the reminders follow (a zero timedelta: off)."""

    first_response: timedelta = timedelta(minutes=120)
    first_response_outside: timedelta = timedelta(minutes=1440)
    reporter_update: timedelta = timedelta(days=7)
    quiet_hours: tuple[time, time] | None = None
    event_starts: date | None = None
    event_ends: date | None = None


@dataclass(frozen=True)
class CaseFacts:
    """One open case and what the store knows around it."""

    case: Case
    reporter_heard: datetime | None = None  # the last mail queued to the reporter's address


@dataclass(frozen=True)
class Reminder:
    """One reminder: the key to record and the mails to queue with it, in one transaction."""

    case: int
    key: str
    mails: tuple[OutMail, ...]


def in_quiet_hours(now: datetime, env: Env, quiet: tuple[time, time] | None) -> bool:
    """Whether `now` falls in the local window [start, end); it may wrap midnight."""
    if quiet is None:
        return False
    start, end = quiet
    t = now.astimezone(env.tz).time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def _event_window(rules: ReminderRules, env: Env) -> tuple[datetime, datetime] | None:
    """Start of `starts` to the end of `ends`, in the event's zone; None unless both are set."""
    if rules.event_starts is None or rules.event_ends is None:
        return None
    return (datetime.combine(rules.event_starts, time(0, 0), env.tz),
            datetime.combine(rules.event_ends + timedelta(days=1), time(0, 0), env.tz))


def first_response_due(since: datetime, rules: ReminderRules, env: Env,
                       factor: int = 1) -> datetime | None:
    """When a case waiting since `since` is overdue: after `first_response` of waiting while
    the event runs, or `first_response_outside` at any time, whichever comes first.

    A report sent the evening before the event is therefore late once the event has
    begun and it has waited two hours, not a day later. `factor` 2 gives the leads'
    time. None: both are off."""
    candidates = []
    if rules.first_response_outside:
        candidates.append(since + rules.first_response_outside * factor)
    window = _event_window(rules, env)
    if rules.first_response and window is not None:
        at = max(since + rules.first_response * factor, window[0])
        if at < window[1]:
            candidates.append(at)
    return min(candidates) if candidates else None


def promised_within(env: Env) -> str:
    """How soon the acknowledgement of a report arriving now says a member will read it:
    by the time its first reminder falls due ([process] first_response_minutes during
    the event, first_response_minutes_outside at any time), so the promise is the team's
    own schedule ("2 hours", "a day"), never a fixed "few hours". Empty when both are off."""
    rules = ReminderRules(first_response=env.first_response,
                          first_response_outside=env.first_response_outside,
                          event_starts=env.event_starts, event_ends=env.event_ends)
    due = first_response_due(env.now, rules, env)
    return within_words(due - env.now) if due is not None else ""


def promised_minutes(env: Env) -> int:
    """`promised_within` as a number of minutes (0: no promise), for the acknowledgement,
    whose template writes it in the mail's language (render_i18n's `duration`)."""
    rules = ReminderRules(first_response=env.first_response,
                          first_response_outside=env.first_response_outside,
                          event_starts=env.event_starts, event_ends=env.event_ends)
    due = first_response_due(env.now, rules, env)
    return max(-(-int((due - env.now).total_seconds()) // 60), 1) if due is not None else 0


def within_words(delta: timedelta) -> str:
    """A promised time as a person says it, rounded up to the unit: "30 minutes",
    "an hour", "10 hours", "a day", "2 days"."""
    minutes = max(-(-int(delta.total_seconds()) // 60), 1)
    if minutes < 60:
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    if minutes < 24 * 60:
        hours = -(-minutes // 60)
        return "an hour" if hours == 1 else f"{hours} hours"
    days = -(-minutes // (24 * 60))
    return "a day" if days == 1 else f"{days} days"


def waited(delta: timedelta) -> str:
    """A duration as staff would say it: "15 minutes", "2 hours", "3 days and 4 hours"."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if days:
        return unit(days, "day") + (f" and {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour") + (f" and {unit(mins, 'minute')}" if mins else "")
    return unit(mins, "minute")


def _mails(context: type[MailContext], case: Case, recipients: list[tuple[Address, str]],
           subject: str | None, **extra: Any) -> tuple[OutMail, ...]:
    """One reminder of the kind `context` names to each of `recipients`, with `extra`."""
    refs = (case.root_message_id,) if case.root_message_id else ()
    return tuple(OutMail(to=address, role=role, case=case.number,
                         context=context(recipient_name=address.name, **extra),
                         references=refs, subject=subject)
                 for address, role in recipients)


def _missing(case: Case) -> list[str]:
    return [short_step_label(m) for m in case.missing_steps()]


def _handlers(case: Case, env: Env) -> tuple[list[tuple[Address, str]], bool]:
    """The case's handlers who may get mail about it, and True; else all such staff, False."""
    allowed = env.staff_recipients(case.recused)
    mine = {m.sid for m in (env.roster.by_email(h) for h in case.handlers) if m is not None}
    picked = [(a, r) for a, r in allowed if int(r[1:]) in mine]
    return (picked, True) if picked else (allowed, False)


def _escalation(case: Case, env: Env, kind: str, since: datetime, due1: datetime | None,
                due2: datetime | None, sent: frozenset[tuple[int, str]],
                possibly: tuple[str, ...] = ()) -> list[Reminder]:
    """Level 1 (all staff) and level 2 (the leads) of `kind`, those due now and not sent.

    When both fall due in one pass (after downtime), a lead gets only the level-2 mail.
    `possibly`: the words that make the report possibly urgent (kind "possibly-urgent")."""
    now, out = env.now, []
    subject = POSSIBLY_URGENT_SUBJECT if kind == "possibly-urgent" else None
    urgent = kind == "possibly-urgent"
    level2 = due2 is not None and now >= due2 and (case.number, f"{kind}-2") not in sent
    leads = env.leads(case.recused)
    if due1 is not None and now >= due1 and (case.number, f"{kind}-1") not in sent:
        to = [(a, r) for a, r in env.staff_recipients(case.recused)
              if not (level2 and (a, r) in leads)]
        out.append(Reminder(case.number, f"{kind}-1", _mails(
            StillUnansweredContext, case, to, subject, urgent=urgent,
            opened=env.local(case.opened), possibly_urgent=bool(possibly),
            missing_steps=_missing(case),
            waited=waited(now - since), leads=False)))
    if level2:
        out.append(Reminder(case.number, f"{kind}-2", _mails(
            StillUnansweredContext, case, leads, subject, urgent=urgent,
            opened=env.local(case.opened), possibly_urgent=bool(possibly),
            missing_steps=_missing(case),
            waited=waited(now - since), leads=True)))
    return out


def _reporter_update(f: CaseFacts, rules: ReminderRules, env: Env,
                     sent: frozenset[tuple[int, str]]) -> list[Reminder]:
    case = f.case
    if not rules.reporter_update or case.reporter is None or case.reporter_anonymous \
            or not case.reporter.email or (case.victim_declined and case.victim_is_reporter):
        return []  # (the reporter, as the person affected, asked not to be contacted)
    heard = [case.opened, f.reporter_heard]
    if case.victim_is_reporter:
        heard.append(case.step("victim_informed"))  # told the decision in person
    since = max(t for t in heard if t is not None)
    periods = (env.now - since) // rules.reporter_update
    key = f"reporter-{since.astimezone(env.tz).strftime('%Y%m%dT%H%M%S')}-{periods}"
    if periods < 1 or (case.number, key) in sent:
        return []
    to, handling = _handlers(case, env)
    return [Reminder(case.number, key, _mails(
        ReporterWaitingContext, case, to, None, missing_steps=_missing(case),
        waited=waited(env.now - since), last_contact=env.local(since),
        never_heard=since == case.opened and f.reporter_heard is None, handling=handling))]


def due_reminders(facts: list[CaseFacts], rules: ReminderRules, env: Env,
                  sent: frozenset[tuple[int, str]]) -> list[Reminder]:
    """The reminders due at `env.now` that were not sent yet (`sent`: (case, key) pairs)."""
    quiet = in_quiet_hours(env.now, env, rules.quiet_hours)
    out: list[Reminder] = []
    for f in facts:
        case = f.case
        if case.status != "open":
            continue
        # Acting is any member's command, #urgent and #reply included (issue 25, item 4):
        # the #urgent alert reached everyone at once, and its sender is on the case, so no
        # mail may then say that nobody on the team has acted on it.
        if case.last_staff_action is None and case.received_by is None:
            words = urgent_words(case.subject, case.report_text, env.urgent_words)
            if words:
                out += _escalation(case, env, "possibly-urgent", case.opened,
                                   case.opened + URGENT_AFTER, case.opened + 2 * URGENT_AFTER,
                                   sent, possibly=words)
        if quiet:
            continue
        if case.last_staff_action is None and case.received_by is None:
            out += _escalation(case, env, "unanswered", case.opened,
                               first_response_due(case.opened, rules, env),
                               first_response_due(case.opened, rules, env, factor=2), sent)
        out += _reporter_update(f, rules, env, sent)
    return out
