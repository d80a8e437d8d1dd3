"""Expunging what the retention policy says is due (docs/process.md, Retention).

The rules, and which cases are due, are in cocmail/core/retention.py; this is the shell
half: it loads the closed cases and the other cases naming the same accused people
(same address or normalised name), and expunges what is due. So a person's history goes
as a whole, never the older half first.

Expunging removes names, addresses, bodies and raw mail: people, messages, held
commands and their text, the audit details, the case's facts, the stored inbound and
outgoing mail (and its copies in the spool directory, which in spool mode is the only
"sent" folder and lives in cocmail's own storage). The case number, its dates, its
outcome and the anonymous `stats` row stay, so `cocmail stats` does not change. Then
the database is rewritten and its WAL emptied, so the text is gone from disk too.

Copies outside the case go as well: mail set aside without a case (quarantined before
it could be matched) that refers to one of the case's messages or carries its subject
tag, and the earlier-case warnings about it in other cases' mails (their stored text,
outgoing raw mail and spool copy lose the lines naming it). The warnings are found by
the built-in templates' wording ("- <person>: case N, ..." and "#N (outcome)").
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from .app import App
from .at_rest import mail_naming_case, remove_spooled, scrub_other_cases
from .clock import parse_iso
from .core.case import Case
from .core.people import normalise_name
from .core.retention import (
    KEPT_OUTCOMES,
    Related,
    is_due,
    references,
    retention_days,
    without_case,
)
from .machine_mail import expunge_machine_mail
from .store import Store
from .store import cases as cases_db
from .store import inbound as inbound_db
from .store import outbox as outbox_db
from .store import people as people_db
from .store import proposals as proposals_db

__all__ = ["KEPT_OUTCOMES", "due_cases", "expunge", "purge_due", "retention_days",
           "without_case"]

log = logging.getLogger("cocmail.retention")


def _related_cases(store: Store, case: Case) -> list[Related]:
    """Other live cases naming one of this case's accused people (address or name)."""
    return [Related(r["status"], parse_iso(r["closed"])) for p in case.accused
            for r in store.read(people_db.accused_matching, case.number, p.email,
                                  normalise_name(p.name))]


def due_cases(app: App, now: datetime) -> list[int]:
    """Numbers of the cases whose retention period has run out at `now`."""
    policy = app.cfg.retention
    return [case.number for case in app.store.read(cases_db.load_cases, include_closed=True)
            if case.status == "closed" and retention_days(policy, case) is not None
            and is_due(policy, case, _related_cases(app.store, case), now)]


def _spool_files(spool: Path, outbox_ids: list[int]) -> list[Path]:
    if not spool.is_dir():
        return []
    return [p for oid in outbox_ids for p in spool.glob(f"{oid:06d}-*.eml")]


def expunge(app: App, number: int, now: datetime) -> None:
    """Remove every name, address and text of case `number`; keep its anonymous shape."""
    store, spool = app.store, app.cfg.storage.spool_dir
    outbox_ids = store.read(outbox_db.outbox_ids_of_case, number)
    naming = mail_naming_case(store, number)  # digests, flood summaries: on no case
    with store.tx() as c:
        outbox_db.shred_mail(c, naming)
        inbound_ids, recorded_ids = cases_db.case_mail_ids(c, number)
        # Mail set aside before it was matched (quarantined, so without a case) that
        # answers one of the case's mails, or names its tag, belongs to the case.
        inbound_db.expunge_unmatched_inbound(c, references(inbound_ids, recorded_ids,
                                                           app.cfg.inbox.subject_tag, number))
        scrub_other_cases(c, number, spool)
        cases_db.expunge_case(c, number, inbound_ids, now)
    for path in _spool_files(spool, outbox_ids):
        path.unlink(missing_ok=True)
    remove_spooled(spool, naming)
    log.info("case #%d expunged", number)


def purge_due(app: App, now: datetime, *, dry_run: bool = False, daily: bool = False) -> list[int]:
    """Expunge the due cases (or, with `dry_run`, only list them); returns their numbers.

    `daily` (the daemon) does nothing when the last purge was less than a day ago.
    """
    if daily:
        last = app.store.read(proposals_db.last_purge)
        if last and now - last < timedelta(days=1):
            return []
    numbers = due_cases(app, now)
    if dry_run:
        return numbers
    app.store.write(cases_db.refresh_stats)  # the anonymous counts first, while the cases are whole
    for n in numbers:
        expunge(app, n, now)
    expunge_machine_mail(app.store, now)  # issue 23: strangers' auto-replies, after 90 days
    app.store.write(outbox_db.forget_ack_mailboxes, now - timedelta(days=2))
    app.store.write(proposals_db.record_purge, now)
    if numbers:
        app.store.compact()
    return numbers
