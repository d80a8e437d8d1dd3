"""What waits or recurs: proposals waiting for a second member's `#approve`, the
reminders already sent, the weekly digests recorded, and when the last purge ran.

Every function takes the connection first; times come in as arguments.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from ..clock import iso, parse_iso
from ..core.effects import Proposal, mail_from_json, mail_to_json
from .connection import required_time, rows, value
from .sealed import case_key, seal


# ------------------------------------------------------------ proposals
def proposals(conn: sqlite3.Connection, case_number: int) -> tuple[Proposal, ...]:
    """Every proposal made on the case, oldest first, whatever its state."""
    return tuple(Proposal(
        nonce=r["nonce"], case=r["case_number"], kind=r["kind"],
        proposed_by=r["proposed_by"],
        proposed_at=required_time(r["proposed_at"], f"time of proposal {r['nonce']}"),
        target=r["target"] or "",
        mails=tuple(mail_from_json(m) for m in json.loads(r["mails"] or "[]")),
        facts=r["facts"] or "", state=r["state"], decided_by=r["decided_by"],
        reason=r["reason"])
        for r in rows(conn, "SELECT * FROM proposals WHERE case_number=? ORDER BY rowid",
                      (case_number,)))


def add_proposal(conn: sqlite3.Connection, p: Proposal, inbound_id: int) -> None:
    kid = case_key(conn, p.case)
    conn.execute("INSERT INTO proposals(nonce, case_number, kind, proposed_by, proposed_at,"
                 " target, mails, facts, inbound_id, state) VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (p.nonce, p.case, p.kind, p.proposed_by, iso(p.proposed_at),
                  seal(conn, kid, p.target),
                  seal(conn, kid, json.dumps([mail_to_json(m) for m in p.mails])),
                  seal(conn, kid, p.facts), inbound_id, "waiting"))


def decide_proposal(conn: sqlite3.Connection, nonce: str, state: str, by: str,
                    at: datetime, reason: str | None) -> bool:
    """Mark a waiting proposal approved or rejected; False if it no longer waits."""
    number = value(conn, "SELECT case_number FROM proposals WHERE nonce=?", (nonce,))
    kid = case_key(conn, number) if number is not None else None
    cur = conn.execute("UPDATE proposals SET state=?, decided_by=?, decided_at=?, reason=?"
                       " WHERE nonce=? AND state='waiting'",
                       (state, by, iso(at), seal(conn, kid, reason), nonce))
    return cur.rowcount == 1


def awaiting_approval(conn: sqlite3.Connection) -> frozenset[int]:
    """Cases with a proposal waiting for a second member's #approve."""
    return frozenset(r["case_number"] for r in rows(
        conn, "SELECT DISTINCT case_number FROM proposals WHERE state='waiting'"))


# ------------------------------------------------------------ reminders
# (issue 14 part 3: nobody is left waiting)
def reminders_sent(conn: sqlite3.Connection) -> frozenset[tuple[int, str]]:
    """(case, key) of every reminder already queued for an open case."""
    found = rows(conn, "SELECT r.case_number, r.key FROM reminders r JOIN cases c"
                 " ON c.number=r.case_number WHERE c.status='open'")
    return frozenset((r["case_number"], r["key"]) for r in found)


def reminder_keys(conn: sqlite3.Connection, numbers: list[int]) -> list[tuple[int, str]]:
    """(case, key) of every reminder recorded for these cases, open or closed."""
    found: list[tuple[int, str]] = []
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        found += [(r["case_number"], r["key"]) for r in rows(
            conn, "SELECT case_number, key FROM reminders WHERE case_number IN"
            f" ({','.join('?' * len(chunk))})", chunk)]
    return found


def record_reminder(conn: sqlite3.Connection, case_number: int, key: str,
                    at: datetime) -> bool:
    """Claim a reminder inside the transaction that queues it; False if it was sent."""
    cur = conn.execute("INSERT OR IGNORE INTO reminders(case_number, key, sent)"
                       " VALUES (?,?,?)", (case_number, key, iso(at)))
    return cur.rowcount == 1


def reporter_heard(conn: sqlite3.Connection) -> dict[int, datetime]:
    """The last mail queued (not cancelled, not failed) to each open case's reporter."""
    reporters = {r["case_number"]: (r["email"] or "").lower() for r in rows(
        conn, "SELECT p.case_number, p.email FROM people p JOIN cases c"
        " ON c.number=p.case_number"
        " WHERE p.role='reporter' AND c.status='open' AND p.email IS NOT NULL")}
    out: dict[int, datetime] = {}
    for r in rows(conn, "SELECT o.case_number, o.recipients, o.created FROM outbox o"
                  " JOIN cases c ON c.number=o.case_number WHERE c.status='open'"
                  " AND o.state IN ('pending', 'sent')"
                  " AND coalesce(o.role, '') NOT LIKE 's%'"):
        n = r["case_number"]
        to = [a.lower() for a in json.loads(r["recipients"] or "[]")]
        at = parse_iso(r["created"])
        if at is not None and reporters.get(n) in to and (n not in out or at > out[n]):
            out[n] = at
    return out


# ------------------------------------------------------------ digests
def digest_recorded(conn: sqlite3.Connection, week: str) -> bool:
    """Whether the digest of `week` was queued (or is the installation's baseline)."""
    return value(conn, "SELECT 1 FROM digests WHERE week=?", (week,)) is not None


def any_digest_recorded(conn: sqlite3.Connection) -> bool:
    return bool(value(conn, "SELECT count(*) FROM digests"))


def claim_digest_week(conn: sqlite3.Connection, week: str, sent: str) -> bool:
    """Record `week` inside transaction `conn`; False when it was recorded already."""
    cur = conn.execute("INSERT OR IGNORE INTO digests(week, sent) VALUES (?,?)", (week, sent))
    return cur.rowcount == 1


# ------------------------------------------------------------ purges (retention)
def last_purge(conn: sqlite3.Connection) -> datetime | None:
    return parse_iso(value(conn, "SELECT value FROM meta WHERE key='last_purge'"))


def record_purge(conn: sqlite3.Connection, at: datetime) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_purge', ?)", (iso(at),))
