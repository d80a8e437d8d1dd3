"""The shell around core/flood.py's summary: load the held mail, ask the core, queue it.

Called from the daemon's housekeeping (every minute, and at the start of `run --once`),
so the end of a burst is noticed even when no further mail arrives: no held report
waits unseen longer than the burst's pause (core/flood.QUIET) or its window. The held
rows are marked summarised in the transaction that queues the notices, so a crash
between the two is impossible and two processes never send one burst's summary twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from .app import App
from .clock import parse_iso
from .core.flood import HeldItem, summary_due, summary_mails
from .pipeline import flood_rules
from .store import cases as cases_db
from .store import inbound as inbound_db

log = logging.getLogger("cocmail.flood")
FORGET_AFTER = timedelta(days=1)  # arrivals older than this (and the window) count for nothing


class _Raced(Exception):
    """Another process queued this burst's summary first."""


def held_items(app: App) -> list[HeldItem]:
    """Held mail not yet summarised, with its case as the store has it now (a purged case
    drops out: there is nothing left to show)."""
    out = []
    cases = {}
    for row in app.store.read(inbound_db.held_arrivals):
        number = row["case_number"]
        if number not in cases:
            cases[number] = app.store.read(cases_db.load_case, number)
        case = cases[number]
        if case is None:
            continue
        domain = ""
        if row["kind"] == "report" and case.reporter is not None and case.reporter.email:
            domain = case.reporter.email.rpartition("@")[2].lower()
        at = parse_iso(row["at"])
        assert at is not None
        out.append(HeldItem(row["id"], row["kind"], row["held"], at, case, domain,
                            row["who"] or ""))
    return out


def send_due_summary(app: App, now: datetime) -> int:
    """Queue the summary notices when the burst is over (or a window old); returns how
    many mails were queued."""
    rules = flood_rules(app.cfg)
    items = held_items(app)
    if not summary_due(items, rules, now):
        with app.store.tx() as c:
            inbound_db.forget_arrivals(c, now - max(FORGET_AFTER, rules.window))
        return 0
    env = replace(app.pipeline.env(), now=now)
    mails = summary_mails(items, env)
    ids = [i.id for i in items]
    try:
        with app.store.tx() as c:
            if not inbound_db.summarise_arrivals(c, ids, now):
                raise _Raced  # rolled back: another process summarised some of it first
            for mail in mails:
                app.pipeline.enqueue(c, mail, env)
            inbound_db.forget_arrivals(c, now - max(FORGET_AFTER, rules.window))
    except _Raced:
        return 0
    log.info("flood summary queued for %d staff: %d held mail(s) on %d case(s)", len(mails),
             len(items), len({i.case.number for i in items}))
    return len(mails)
