"""Expunging what the retention policy says is due (process.md, Retention).

Closed cases that ended with a warning or less go `warning_days` after they closed
("not a violation" after `not_a_violation_days`); removals, suspensions and bans are
kept (indefinitely, or `sanction_extra_days` when set). Open cases are never expunged.

The clock restarts when another case names the same accused person (same address or
normalised name): it then runs from that case's closing, and not at all while that
case is open. So a person's history goes as a whole, never the older half first.

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

import email
import logging
import re
import sqlite3
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from pathlib import Path

from .app import App
from .core.case import Case
from .core.compose import body_cte
from .core.people import normalise_name
from .store import iso

log = logging.getLogger("cocmail.retention")

KEPT_OUTCOMES = ("removed-from-event", "suspension", "ban")


def retention_days(app: App, case: Case) -> int | None:
    """Days a closed case is kept after its clock starts; None: kept indefinitely."""
    r = app.cfg.retention
    if case.outcome == "not-a-violation":
        return r.not_a_violation_days
    if case.outcome in KEPT_OUTCOMES:
        return r.sanction_extra_days
    return r.warning_days


def _related_cases(app: App, case: Case) -> list[dict[str, str | None]]:
    """Other live cases naming one of this case's accused people (address or name)."""
    out: list[dict[str, str | None]] = []
    for p in case.accused:
        out += app.store.query(
            "SELECT DISTINCT c.number, c.status, c.closed FROM people p"
            " JOIN cases c ON c.number=p.case_number"
            " WHERE p.role='accused' AND c.number<>? AND c.purged IS NULL AND"
            " ((p.email IS NOT NULL AND lower(p.email)=?) OR (p.norm_name IS NOT NULL AND"
            " p.norm_name=?))",
            (case.number, (p.email or "").lower(), normalise_name(p.name)))
    return out


def clock_start(app: App, case: Case) -> datetime | None:
    """When the retention period starts; None while the case (or a related one) is open."""
    start = case.step("closed")
    if case.status != "closed" or start is None:
        return None
    for other in _related_cases(app, case):
        if other["status"] != "closed" or not other["closed"]:
            return None  # the person is named in an open case: keep their history
        start = max(start, datetime.fromisoformat(other["closed"]))
    return start


def due_cases(app: App, now: datetime) -> list[int]:
    """Numbers of the cases whose retention period has run out at `now`."""
    due = []
    for n in app.store.case_numbers(include_closed=True):
        case = app.store.load_case(n)
        if case is None:
            continue
        days = retention_days(app, case)
        start = clock_start(app, case)
        if days is not None and start is not None and now - start >= timedelta(days=days):
            due.append(n)
    return due


def _spool_files(spool: Path, outbox_ids: list[int]) -> list[Path]:
    if not spool.is_dir():
        return []
    return [p for oid in outbox_ids for p in spool.glob(f"{oid:06d}-*.eml")]


_BLOCK = re.compile(r"\n==== NAMED IN EARLIER CASES ====\n(?P<items>(?:- [^\n]*\n)*)"
                    r"(?P<tail>Please read those cases[^\n]*\n=+\n)")
_WARNING = re.compile(r"\. WARNING: named in earlier cases (?P<items>(?:#\d+ \([^)\n]*\)"
                      r"(?:, )?)+)")
_ITEM = re.compile(r"#(\d+) \([^)\n]*\)")


def without_case(text: str, number: int) -> str:
    """`text` (a mail cocmail sent) with its earlier-case warnings about case `number` cut
    out, and a warning that named only that case cut whole."""
    def block(m: re.Match[str]) -> str:
        items = [line for line in m["items"].splitlines(keepends=True)
                 if not re.search(rf": case {number}, ", line)]
        return "\n==== NAMED IN EARLIER CASES ====\n" + "".join(items) + m["tail"] if items else ""

    def warning(m: re.Match[str]) -> str:
        items = [i.group(0) for i in _ITEM.finditer(m["items"]) if int(i.group(1)) != number]
        return ". WARNING: named in earlier cases " + ", ".join(items) if items else ""

    return _WARNING.sub(warning, _BLOCK.sub(block, text))


def _rebuilt(raw: bytes, body: str) -> bytes:
    """`raw` with its text replaced by `body` (headers kept): the stored copy of a sent mail."""
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    msg.set_content(body, charset="utf-8", cte=body_cte(body))
    return msg.as_bytes(policy=SMTP)


def _scrub_other_cases(c: sqlite3.Connection, number: int, spool: Path) -> None:
    """Earlier-case warnings about case `number` in other cases' mails: cut everywhere."""
    rows = c.execute("SELECT m.id, m.body, m.outbox_id, o.raw, o.kind FROM messages m"
                     " LEFT JOIN outbox o ON o.id=m.outbox_id WHERE m.direction='out' AND"
                     " m.case_number<>? AND m.body LIKE '%earlier cases%'", (number,)).fetchall()
    for mid, body, outbox_id, raw, kind in rows:
        scrubbed = without_case(body or "", number)
        if scrubbed == body:
            continue
        c.execute("UPDATE messages SET body=? WHERE id=?", (scrubbed, mid))
        if raw is None:
            continue
        new_raw = _rebuilt(raw, scrubbed)
        c.execute("UPDATE outbox SET raw=? WHERE id=?", (new_raw, outbox_id))
        copy = spool / f"{outbox_id:06d}-{kind}.eml"
        if copy.exists():
            copy.write_bytes(new_raw)


def _expunge_rows(c: sqlite3.Connection, number: int, now: datetime, *, tag: str,
                  spool: Path) -> None:
    mids = [r[0] for r in c.execute(
        "SELECT message_id FROM inbound WHERE case_number=? AND message_id IS NOT NULL",
        (number,))]
    # Mail set aside before it was matched (quarantined, so without a case) that answers
    # one of the case's mails, or names its tag, belongs to the case.
    refs = mids + [r[0] for r in c.execute(
        "SELECT message_id FROM messages WHERE case_number=? AND message_id IS NOT NULL",
        (number,))] + [f"[{tag} #{number}]"]
    c.executemany("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL, message_id=NULL,"
                  " error=NULL, state=CASE WHEN state IN ('quarantined', 'pending')"
                  " THEN 'expunged' ELSE state END"
                  " WHERE case_number IS NULL AND raw IS NOT NULL AND instr(raw, ?) > 0",
                  [(ref.encode(),) for ref in dict.fromkeys(refs)])
    _scrub_other_cases(c, number, spool)
    c.execute("DELETE FROM people WHERE case_number=?", (number,))
    c.execute("DELETE FROM messages WHERE case_number=?", (number,))
    c.execute("DELETE FROM held WHERE case_number=?", (number,))
    c.execute("DELETE FROM proposals WHERE case_number=?", (number,))
    c.execute("UPDATE audit SET actor='(expunged)', detail=NULL, message_id=NULL"
              " WHERE case_number=?", (number,))
    c.execute("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL, message_id=NULL,"
              " error=NULL WHERE case_number=?", (number,))
    # Duplicate copies are stored without a case, keyed by the same Message-ID.
    c.executemany("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL, message_id=NULL,"
                  " error=NULL WHERE case_number IS NULL AND message_id=?",
                  [(m,) for m in mids])
    # Mail still waiting would go out with nothing in it: it is cancelled, not sent.
    c.execute("UPDATE outbox SET raw=NULL, recipients='[]', subject=NULL, sender='',"
              " last_error=NULL, state=CASE WHEN state='pending' THEN 'cancelled' ELSE state"
              " END WHERE case_number=?", (number,))
    c.execute("UPDATE cases SET subject=NULL, when_text=NULL, where_text=NULL, summary=NULL,"
              " action=NULL, others=NULL, received_by=NULL, handlers='[]', recused='[]',"
              " report_text=NULL, root_message_id=NULL, accused_side=NULL, purged=?"
              " WHERE number=?",
              (iso(now), number))


def expunge(app: App, number: int, now: datetime) -> None:
    """Remove every name, address and text of case `number`; keep its anonymous shape."""
    outbox_ids = [r["id"] for r in app.store.query(
        "SELECT id FROM outbox WHERE case_number=?", (number,))]
    with app.store.tx() as c:
        _expunge_rows(c, number, now, tag=app.cfg.inbox.subject_tag,
                      spool=app.cfg.storage.spool_dir)
    for path in _spool_files(app.cfg.storage.spool_dir, outbox_ids):
        path.unlink(missing_ok=True)
    log.info("case #%d expunged", number)


def purge_due(app: App, now: datetime, *, dry_run: bool = False, daily: bool = False) -> list[int]:
    """Expunge the due cases (or, with `dry_run`, only list them); returns their numbers.

    `daily` (the daemon) does nothing when the last purge was less than a day ago.
    """
    if daily:
        last = app.store.scalar("SELECT value FROM meta WHERE key='last_purge'")
        if last and now - datetime.fromisoformat(last) < timedelta(days=1):
            return []
    numbers = due_cases(app, now)
    if dry_run:
        return numbers
    app.store.refresh_stats()  # the anonymous counts first, while the cases are whole
    for n in numbers:
        expunge(app, n, now)
    with app.store.tx() as c:
        c.execute("INSERT OR REPLACE INTO meta VALUES ('last_purge', ?)", (iso(now),))
    if numbers:
        app.store.compact()
    return numbers
