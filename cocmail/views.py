"""Read-only views over the store for the CLI: case lists, details, the sheet, people, stats.

Stable JSON keys are a contract (docs/interface.md); text output is for a person at a terminal.
"""

from __future__ import annotations

import csv
import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from .app import App
from .clock import iso
from .core.case import SANCTION_OUTCOMES, STEP_LABELS, STEPS, Case
from .core.evidence import describe
from .core.model import Roster, mailbox
from .core.people_on_file import merge_people, sanctioned_attendees
from .core.report import case_row
from .core.sanctions import today
from .errors import UserError
from .evidence_files import case_files
from .store import cases as cases_db
from .store import people as people_db
from .store import proposals as proposals_db


def _cases(app: App, include_closed: bool, events: list[str] | None = None) -> list[Case]:
    """Live cases; of these events only (None: every event). Two queries, however many."""
    return app.store.read(cases_db.load_cases, include_closed=include_closed, events=events)


def case_summaries(app: App, include_closed: bool = False,
                   events: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"number": c.number, "status": c.status, "opened": iso(c.opened),
             "summary": c.summary, "urgent": c.urgent, "event": c.event,
             "missing_steps": c.missing_steps() if c.status == "open" else []}
            for c in _cases(app, include_closed, events)]


def case_detail(app: App, number: int) -> dict[str, Any] | None:
    case = app.store.read(cases_db.load_case, number)
    if case is None:
        return None
    victim = case.effective_victim()
    messages = app.store.read(cases_db.case_messages, number)
    files = case_files(app, number)
    audit = app.store.read(cases_db.case_audit, number)
    expunged = app.store.read(cases_db.purged_at, number)
    return {
        "number": case.number, "status": case.status, "opened": iso(case.opened),
        "urgent": case.urgent, "expunged": expunged,
        # An anonymous reporter is not named outside the team; the team sees them.
        "reporter": None if case.reporter is None else case.reporter.as_json(),
        "reporter_anonymous": case.reporter_anonymous,
        "forged_sender": case.forged_sender,
        "victim": victim.as_json() if victim else None,
        "accused": [{**p.as_json(), "until": p.until.isoformat() if p.until else None}
                    for p in case.accused],
        "witnesses": [p.as_json() for p in case.witnesses],
        "when": case.when, "where": case.where, "summary": case.summary,
        "action": case.action, "response": case.response, "outcome": case.outcome,
        "others": case.others,
        "report": case.report_text or None,  # as it came; unsealed (issue 27)
        # Issue 26: the language of mail to each party (None: all the event's languages).
        "language": case.language or None,
        "languages": {"reporter": case.language or None,
                      "victim": case.chosen_languages()["v"] or None,
                      "accused": case.accused_language or None},
        "received_by": case.received_by,
        "event": case.event, "public_summary": case.public_summary,
        "handlers": list(case.handlers), "recused": list(case.recused),
        "excluded": excluded_json(case, app.pipeline.roster),
        "steps": {s: iso(case.step(s)) for s in STEPS},
        "victim_declined": case.victim_declined,  # #notified-victim declined
        "missing_steps": case.missing_steps(),
        "dsf_hold_until": iso(case.dsf_hold_until),
        "messages": [{"direction": m["direction"], "from": m["sender"],
                      "to": json.loads(m["recipients"] or "[]"), "subject": m["subject"],
                      "date": m["date"], "message_id": m["message_id"], "kind": m["kind"]}
                     for m in messages],
        "attachments": [f.as_json() for f in files],
        "audit": audit,
        "proposals": [{"kind": p.kind, "proposed_by": p.proposed_by,
                       "proposed_at": iso(p.proposed_at), "state": p.state}
                      for p in app.store.read(proposals_db.proposals, number)],
    }


def excluded_json(case: Case, roster: Roster) -> list[dict[str, Any]]:
    """The members excluded from a case, and why: "named" (the case names them) or
    "recused" (#recuse)."""
    out = []
    for email in case.recused:
        member = roster.by_email(email)
        out.append({"email": email, "name": member.name if member else None,
                    "why": "named" if email in case.named else "recused"})
    return out


def format_case_detail(d: dict[str, Any]) -> str:
    def person(p: dict[str, Any] | None) -> str:
        if p is None:
            return "-"
        if p["name"] and p["email"]:
            return mailbox(p["name"], p["email"])  # a name holding an address is quoted
        return f"{p['name'] or ''} <{p['email'] or '-'}>".strip()

    lines = [f"Case #{d['number']} ({d['status']}{', URGENT' if d['urgent'] else ''}), "
             f"opened {d['opened']}"
             + (f"; expunged {d['expunged']} (retention policy)" if d.get("expunged") else ""),
             *([f"  WARNING: the sender's address may be forged ({d['forged_sender']}"
                " at our mail server); no acknowledgement was sent to it"]
               if d.get("forged_sender") else []),
             f"  reporter:  {_reporter_line(d, person)}",
             f"  victim:    {person(d['victim'])}",
             f"  accused:   {'; '.join(person(p) + _until(p) for p in d['accused']) or '-'}",
             f"  witnesses: {'; '.join(person(p) for p in d['witnesses']) or '-'}",
             f"  when:      {d['when'] or '-'}",
             f"  where:     {d['where'] or '-'}",
             f"  summary:   {d['summary'] or '-'}",
             f"  action:    {d['action'] or '-'}",
             *([f"  response:  {d['response']} (what the reported person reads)"]
               if d.get("response") else []),
             f"  outcome:   {d['outcome'] or '-'}",
             f"  others:    {d['others'] or '-'}",
             f"  handlers:  {', '.join(d['handlers']) or '-'}",
             "  excluded:  " + ("; ".join(f"{e['email']} ({e['why']})" for e in d["excluded"])
                                 or "-"),
             *(["", "Report:", *(f"  | {line}" for line in d["report"].splitlines())]
               if d.get("report") else []),
             "", "Steps:"]
    for s in STEPS:
        declined = " (asked not to be contacted)" if s == "victim_informed" and d.get(
            "victim_declined") else ""
        lines.append(f"  {s:<18} {d['steps'][s] or '-'}{declined}")
    if d["missing_steps"] and d["status"] == "open":
        lines += ["", "Still to do:"] + [f"  - {STEP_LABELS[m]}" for m in d["missing_steps"]]
    waiting = [p for p in d.get("proposals", []) if p["state"] == "waiting"]
    if waiting:
        lines += ["", "Waiting for a second member's #approve:"] + [
            f"  - {p['kind']}, proposed by {p['proposed_by']} at {p['proposed_at'][:16]}"
            for p in waiting]
    lines += ["", "Messages:"]
    for m in d["messages"]:
        arrow = "<-" if m["direction"] == "in" else "->"
        who = m["from"] if m["direction"] == "in" else ", ".join(m["to"])
        lines.append(f"  {(m['date'] or '')[:16]} {arrow} {m['kind']:<17} {who}  {m['subject']}")
    lines += ["", f"Attachments (cocmail cases attachments {d['number']} -o DIR saves them):"]
    lines += [f"  {describe(a['name'], a['type'], a['size'])}"
              for a in d.get("attachments", [])] or ["  -"]
    lines += ["", "Audit trail:"]
    for a in d["audit"]:
        detail = f": {a['detail']}" if a["detail"] else ""
        detail = detail.replace("\n", "\n" + " " * 6)
        lines.append(f"  {a['at'][:16]} {a['actor']}  {a['action']}{detail}")
    return "\n".join(lines)


def _until(p: dict[str, Any]) -> str:
    """After a reported person in `cases show`: the end of their sanction (#until)."""
    return f" (sanction until {p['until']})" if p.get("until") else ""


def report_rows(app: App, events: list[str] | None = None) -> list[dict[str, str]]:
    env = app.pipeline.env()
    return [case_row(c, env) for c in _cases(app, include_closed=True, events=events)]


def known_events(app: App) -> list[str]:
    return [e["name"] for e in app.store.read(cases_db.events)]


def transparency(app: App, event: str, *, initial: bool, fmt: str) -> tuple[str, list[int]]:
    """The public report of `event`, and the numbers of its cases without a public summary."""
    from .core.transparency import public_team, report_context, withheld
    from .transparency import render_report

    events = app.store.read(cases_db.events)
    names = [e["name"] for e in events]
    if event not in names:
        raise UserError(f"no event {event!r}; known: {', '.join(names) or 'none'}")
    at = names.index(event)
    cases = _cases(app, include_closed=True, events=[event])
    team = public_team(app.cfg.staff, event, app.cfg.event.name)
    stats = app.store.read(cases_db.stats_rows, names[: at + 1])
    context = report_context(events[at], events[:at], cases, stats, team, initial=initial)
    return render_report(context, fmt), withheld(cases)


@contextmanager
def _no_collector_passes() -> Iterator[None]:
    """Python's cycle collector paused while a long list of plain rows is built.

    Those rows hold no cycles, but every few hundred new dicts the collector walks the
    ones already made, so a row would cost more the more people are on file
    (bench/flat_cost.py; the figures are in bench/README.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def people_rows(app: App) -> list[dict[str, Any]]:
    """Everyone named in a live case, one entry per person, most cases first.

    The same person is recognised as the repeat-offender check does it (same address,
    case-insensitively, or same normalised name), transitively: "Doe, Dan" without an
    address and "dan doe <dan@x>" are one entry.
    """
    with _no_collector_passes():
        return merge_people(app.store.read(people_db.people_on_file))


def check_attendees(app: App, path: Path, on: date | None = None) -> list[dict[str, Any]]:
    """Registered attendees named as accused in a case whose outcome was a warning or worse;
    a suspension or ban with an end says whether it is in force `on` that day (today in
    the event's zone unless given: an event in June is checked as of its first day)."""

    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [h.strip().lower() for h in reader.fieldnames or []]
        if "name" not in fields or "email" not in fields:
            raise UserError(f"{path}: needs a header row with the columns name and email "
                            f"(found: {', '.join(fields) or 'nothing'})")
        attendees = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                     for row in reader]
    sanctioned = app.store.read(people_db.sanctioned_accused, SANCTION_OUTCOMES)
    return sanctioned_attendees(attendees, sanctioned, on or today(app.pipeline.env()))


def stats(app: App, events: list[str] | None = None) -> dict[str, Any]:
    """Counts per year of opening (in the event's time zone) and per event, for a
    transparency report; of these events only (None: all).

    Read from the `stats` table, which holds no names and which purges never touch, so
    expunging a case changes none of these numbers. The per-event counts are those of
    `cocmail transparency`'s table.
    """
    from .core.transparency import STAT_KEYS, count, yearly_counts

    rows = app.store.read(cases_db.stats_rows, events)
    periods = yearly_counts(rows, app.cfg.event.tz)
    names = [e["name"] for e in app.store.read(cases_db.events)
             if events is None or e["name"] in events]
    per_event = {n: count(n, rows).as_json() for n in names}
    return {"periods": periods, "keys": list(STAT_KEYS), "events": per_event}


def _reporter_line(d: dict[str, Any], person: Callable[[Any], str]) -> str:
    if not d["reporter_anonymous"]:
        return person(d["reporter"])
    if d["reporter"] is None:
        return "anonymous"
    return f"anonymous: {person(d['reporter'])} (never named outside the team)"
