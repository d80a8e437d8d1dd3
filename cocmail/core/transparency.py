"""What the public transparency report of an event says, and the counts behind `stats`.

The DSF and the PSF ask every event for one: an initial version at the closing
ceremony, the final one within a month. It gives the event's size, who the team was,
how people could report, the statistics with earlier events for comparison, and one
line per report with its status, never a name. What may name nobody is decided here:
only each case's `#public-summary` (checked against the case's people when it was
set), outcomes in plain words, and counts. A case without a public summary is listed
as "details withheld".

Statistics columns follow the DSF's own table: Reports, People named, Actions by us,
Actions by local reps (cocmail does not record those: shown as not recorded),
Flagged/banned, No action. This module decides all of it from values the shell reads
from the store; cocmail/transparency.py only renders it (Markdown, HTML, the chart).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Protocol

from .case import OUTCOME_LABELS, Case
from .public_text import identifying_words
from .safe_text import without_links
from .vocabulary import Outcome

# The report's outcome groups, in the order of the chart and the table; every report
# is in exactly one ("open": no outcome yet).
GROUPS: tuple[tuple[str, str], ...] = (
    ("action", "Action taken"),
    ("flagged", "Removed, suspended or banned"),
    ("no_action", "No action needed"),
    ("open", "In progress"),
)
# Which group each outcome counts in (keyed by Outcome, looked up with the stored text).
GROUP_OF: dict[str, str] = {
    Outcome.WARNING: "action", Outcome.NO_CONTACT: "action",
    Outcome.TALK_ENDED: "action", Outcome.OTHER: "action",
    Outcome.REMOVED_FROM_EVENT: "flagged", Outcome.SUSPENSION: "flagged",
    Outcome.BAN: "flagged",
    Outcome.NOT_A_VIOLATION: "no_action", Outcome.OUT_OF_SCOPE: "no_action",
    Outcome.NO_ACTION: "no_action",
}
EARLIER_EVENTS = 4  # the report compares with up to this many earlier events

# `cocmail stats`: the counts of one period, in this order.
STAT_KEYS = ("reports", "people named", "warnings", "suspensions", "bans", "not a violation",
             "out of scope", "no action", "no contact", "talk ended", "removed from event",
             "other outcome", "no outcome yet")
# Outcome -> the count it adds to; every report adds to exactly one of these (a report
# without an outcome to "no outcome yet").
STAT_OF: dict[str, str] = {
    Outcome.WARNING: "warnings", Outcome.SUSPENSION: "suspensions", Outcome.BAN: "bans",
    Outcome.NOT_A_VIOLATION: "not a violation", Outcome.OUT_OF_SCOPE: "out of scope",
    Outcome.NO_ACTION: "no action", Outcome.NO_CONTACT: "no contact",
    Outcome.TALK_ENDED: "talk ended", Outcome.REMOVED_FROM_EVENT: "removed from event",
    Outcome.OTHER: "other outcome",
}


def group_of(outcome: str | None) -> str:
    """The report group of a case with `outcome` (an unknown or no outcome: "open")."""
    return GROUP_OF.get(outcome or "", "open")


@dataclass(frozen=True)
class EventCounts:
    name: str
    reports: int = 0
    people_named: int = 0
    action: int = 0
    flagged: int = 0
    no_action: int = 0
    open: int = 0

    @property
    def actions_by_us(self) -> int:
        return self.action + self.flagged

    def as_json(self) -> dict[str, int]:
        return {"reports": self.reports, "people named": self.people_named,
                "actions by us": self.actions_by_us, "flagged/banned": self.flagged,
                "no action": self.no_action, "in progress": self.open}


def count(name: str, rows: Iterable[dict[str, Any]]) -> EventCounts:
    """Counts of one event from its anonymous `stats` rows (event, outcome, people_named)."""
    totals = {"reports": 0, "people_named": 0, "action": 0, "flagged": 0, "no_action": 0,
              "open": 0}
    for r in rows:
        if r["event"] != name:
            continue
        totals["reports"] += 1
        totals["people_named"] += r["people_named"] or 0
        totals[group_of(r["outcome"])] += 1
    return EventCounts(name, **totals)


def yearly_counts(rows: Iterable[dict[str, Any]], tz: tzinfo) -> dict[str, dict[str, int]]:
    """`stats` rows (opened, outcome, people_named) counted per year of opening, the
    year as the event's time zone `tz` has it (a report at 00:30 on 1 January local
    time belongs to the new year)."""
    periods: dict[str, dict[str, int]] = {}
    for r in rows:
        year = str(datetime.fromisoformat(r["opened"]).astimezone(tz).year)
        p = periods.setdefault(year, dict.fromkeys(STAT_KEYS, 0))
        p["reports"] += 1
        p["people named"] += r["people_named"] or 0
        p[STAT_OF.get(r["outcome"] or "", "no outcome yet")] += 1
    return periods


def outcome_words(case: Case) -> str:
    """The case's outcome as the public reads it ("A warning"), or "no outcome yet"."""
    if not case.outcome:
        return "no outcome yet"
    label = OUTCOME_LABELS.get(case.outcome, case.outcome)
    return label[0].upper() + label[1:]


def status_words(case: Case, initial: bool) -> str:
    """Open cases are "in progress" in the initial report, "still open" in the final."""
    if case.status == "closed":
        return "closed"
    return "in progress" if initial else "still open"


def publishable_summary(case: Case) -> str | None:
    """The case's `#public-summary`, unless it names someone on the case now: people
    added after the summary was set (`#accused` below `#public-summary`, a later mail)
    were not checked against it then."""
    if not case.public_summary or identifying_words(case.public_summary, case):
        return None
    return case.public_summary


def withheld(cases: Iterable[Case]) -> list[int]:
    """The numbers of the cases the report lists as "details withheld", for the team
    to write a `#public-summary` for."""
    return [c.number for c in cases if not publishable_summary(c)]


class StaffMember(Protocol):
    name: str
    public: bool


def public_team(staff: Iterable[StaffMember], event: str, current_event: str) -> list[str]:
    """Who the report names as the team: the members who agreed to be named
    (`public = true`), and only in the report of the event the config is about now;
    the roster of an earlier year is not on file, so its report names nobody."""
    return [s.name for s in staff if s.public] if event == current_event else []


def report_context(event: dict[str, Any], earlier: list[dict[str, Any]], cases: list[Case],
                   stats_rows: list[dict[str, Any]], team: list[str], *,
                   initial: bool) -> dict[str, Any]:
    """Everything the report shows. `event` and `earlier` are events rows (oldest first),
    `cases` this event's live cases, `stats_rows` the anonymous rows of all of them."""
    compared = [*earlier[-EARLIER_EVENTS:], event]
    table = [count(e["name"], stats_rows) for e in compared]
    # Images, HTML and links never reach the public page, in either format: a summary
    # is the team's words only (staff paste text from mail; a stranger's mail may hold
    # a tracking image or a javascript: link).
    reports = [{"n": i + 1,
                "summary": _sentence(without_links(publishable_summary(c) or ""))
                or "Details withheld",
                "withheld": not publishable_summary(c), "outcome": outcome_words(c),
                "status": status_words(c, initial)}
               for i, c in enumerate(sorted(cases, key=lambda c: c.opened))]
    return {
        "event": event["name"], "initial": initial, "dates": _dates(event["starts"],
                                                                    event["ends"]),
        "in_person": event["attendees_in_person"], "online": event["attendees_online"],
        "channels": event["reporting_channels"], "team": team,
        "table": table, "reports": reports, "groups": GROUPS,
    }


def _dates(starts: str | None, ends: str | None) -> str:
    def fmt(s: str) -> str:
        return date.fromisoformat(s).strftime("%-d %B %Y")

    if starts and ends:
        return f"{fmt(starts)} to {fmt(ends)}"
    return fmt(ends or starts) if (ends or starts) else ""


def _sentence(text: str | None) -> str:
    text = (text or "").strip().rstrip(".")
    return text[:1].upper() + text[1:]
