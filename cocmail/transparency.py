"""The public transparency report of an event: pure, from cases, counts and event facts.

The DSF and the PSF ask every event for one: an initial version at the closing
ceremony, the final one within a month. It gives the event's size, who the team was,
how people could report, the statistics with earlier events for comparison, and one
line per report with its status, never a name. What may name nobody is decided here:
only each case's `#public-summary` (checked against the case's people when it was
set), outcomes in plain words, and counts. A case without a public summary is listed
as "details withheld".

Statistics columns follow the DSF's own table: Reports, People named, Actions by us,
Actions by local reps (cocmail does not record those: shown as not recorded),
Flagged/banned, No action.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .core.case import OUTCOME_LABELS, Case
from .core.public_text import identifying_words
from .core.safe_text import markdown_text, shown, without_links

# Outcome groups of the chart and the table; each report is in exactly one.
ACTION = ("warning", "no-contact", "talk-ended", "other")
FLAGGED = ("removed-from-event", "suspension", "ban")
NO_ACTION = ("not-a-violation", "out-of-scope", "no-action")
GROUPS: tuple[tuple[str, str, str], ...] = (
    # key, label, colour (distinct also in greyscale print: dark, mid, light, outline)
    ("action", "Action taken", "#1f4e79"),
    ("flagged", "Removed, suspended or banned", "#c0504d"),
    ("no_action", "No action needed", "#9bbb59"),
    ("open", "In progress", "#d9d9d9"),
)
EARLIER_EVENTS = 4  # the report compares with up to this many earlier events


def group_of(outcome: str | None) -> str:
    if outcome in FLAGGED:
        return "flagged"
    if outcome in ACTION:
        return "action"
    if outcome in NO_ACTION:
        return "no_action"
    return "open"


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


def outcome_words(case: Case) -> str:
    if not case.outcome:
        return "no outcome yet"
    label = OUTCOME_LABELS.get(case.outcome, case.outcome)
    return label[0].upper() + label[1:]


def status_words(case: Case, initial: bool) -> str:
    if case.status == "closed":
        return "closed"
    return "in progress" if initial else "still open"


def _dates(starts: str | None, ends: str | None) -> str:
    def fmt(s: str) -> str:
        return date.fromisoformat(s).strftime("%-d %B %Y")

    if starts and ends:
        return f"{fmt(starts)} to {fmt(ends)}"
    return fmt(ends or starts) if (ends or starts) else ""


def publishable_summary(case: Case) -> str | None:
    """The case's `#public-summary`, unless it names someone on the case now: people
    added after the summary was set (`#accused` below `#public-summary`, a later mail)
    were not checked against it then."""
    if not case.public_summary or identifying_words(case.public_summary, case):
        return None
    return case.public_summary


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


def chart_svg(table: list[EventCounts]) -> str:
    """Stacked bars of reports by outcome group, one bar per event: plain SVG, no script,
    with a <title> and a <desc> that say in words what the bars show."""
    bar, gap, left, top, height = 56, 36, 48, 24, 180
    most = max([t.reports for t in table] + [1])
    width = left + len(table) * (bar + gap) + 280
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{top + height + 64}" viewBox="0 0 {width} {top + height + 64}" '
             'aria-labelledby="chart-title chart-desc" id="chart">',
             '<title id="chart-title">Reports by outcome, per event</title>',
             '<desc id="chart-desc">' + html.escape("; ".join(
                 f"{t.name}: {t.reports} report(s), " + ", ".join(
                     f"{getattr(t, key)} {label.lower()}" for key, label, _ in GROUPS)
                 for t in table)) + "</desc>",
             f'<line x1="{left - 4}" y1="{top + height}" x2="{width - 280}" '
             f'y2="{top + height}" stroke="#333" />']
    for i, t in enumerate(table):
        x = left + i * (bar + gap)
        y = top + height
        for key, label, colour in GROUPS:
            n = getattr(t, key)
            if not n:
                continue
            h = height * n / most
            y -= h
            parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                         f'fill="{colour}" stroke="#333" stroke-width="0.5">'
                         f'<title>{html.escape(t.name)}: {n} {html.escape(label.lower())}'
                         '</title></rect>')
        label_y = top + height - height * t.reports / most - 6
        parts.append(f'<text x="{x + bar / 2}" y="{label_y:.1f}" text-anchor="middle" '
                     f'font-size="12">{t.reports}</text>')
        parts.append(f'<text x="{x + bar / 2}" y="{top + height + 16}" text-anchor="middle" '
                     f'font-size="11">{html.escape(_short(t.name))}</text>')
    lx = width - 250
    for k, (_, label, colour) in enumerate(GROUPS):
        ly = top + 8 + k * 22
        parts.append(f'<rect x="{lx}" y="{ly}" width="14" height="14" fill="{colour}" '
                     'stroke="#333" stroke-width="0.5" />')
        parts.append(f'<text x="{lx + 20}" y="{ly + 12}" font-size="12">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _sentence(text: str | None) -> str:
    text = (text or "").strip().rstrip(".")
    return text[:1].upper() + text[1:]


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def render_report(context: dict[str, Any], fmt: str) -> str:
    """The report as Markdown ("md") or a self-contained HTML page ("html")."""
    import jinja2

    from .render import TEMPLATES_DIR

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=fmt == "html", undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    # Markdown: every value is shown as the characters it holds (no emphasis, HTML or
    # link); HTML: autoescaped. Control characters are escaped in both.
    env.filters["md"] = markdown_text
    env.filters["text"] = lambda value: shown(str(value), lines=False)
    template = env.get_template(f"transparency.{fmt}.j2")
    extra = {"chart": chart_svg(context["table"])} if fmt == "html" else {}
    return template.render(**context, **extra)
