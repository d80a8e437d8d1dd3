"""Mail that came in: the raw messages (`inbound`), commands held until `#confirm`
(`held`), the circuit breaker's counted arrivals (`arrivals`), and machine mail kept
aside without a case.

Every function takes the connection first; times come in as arguments.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import iso
from ..core.message import body_sha256, quick_message_id, sha256_hex
from .connection import rows, value
from .sealed import (
    HASH,
    MID,
    blind,
    case_key,
    destroy_keys,
    inbound_key,
    row_key,
    row_key_ids,
    seal,
    shred_rows,
)

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Arrived:
    """One raw message as the `inbound` table keeps it. Made (and hashed: two passes
    over up to 25 MB) before the write lock is taken, by `Arrived.of`."""

    received_at: str
    source: str
    folder: str | None
    uidvalidity: int | None
    uid: int | None
    message_id: str | None
    raw_sha256: str
    body_sha256: str
    size: int
    raw: bytes

    @classmethod
    def of(cls, raw: bytes, source: str, at: datetime, folder: str | None = None,
           uidvalidity: int | None = None, uid: int | None = None) -> Arrived:
        return cls(iso(at) or "", source, folder, uidvalidity, uid, quick_message_id(raw),
                   sha256_hex(raw), body_sha256(raw), len(raw), raw)


def add_inbound(conn: sqlite3.Connection, mail: Arrived) -> int | None:
    """Store raw mail; the new row's id, None when this IMAP (folder, uidvalidity,
    uid) is on file already."""
    if mail.folder is not None and value(
            conn, "SELECT 1 FROM inbound WHERE folder=? AND uidvalidity=? AND uid=?",
            (mail.folder, mail.uidvalidity, mail.uid)):
        return None  # on file already (asked first: a key is not spent on it)
    kid = row_key(conn, None)  # a key of its own, until its case adopts it
    cur = conn.execute(
        "INSERT OR IGNORE INTO inbound(received_at, source, folder, uidvalidity, uid,"
        " message_id, raw_sha256, body_sha256, size, raw, mid_bi)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (mail.received_at, mail.source, mail.folder, mail.uidvalidity, mail.uid,
         seal(conn, kid, mail.message_id), blind(conn, HASH, mail.raw_sha256),
         blind(conn, HASH, mail.body_sha256), mail.size, seal(conn, kid, mail.raw),
         blind(conn, MID, mail.message_id)))
    return int(cur.lastrowid) if cur.rowcount else None


def add_inbound_batch(conn: sqlite3.Connection, batch: list[Arrived]) -> list[int]:
    """Store many messages in one transaction (IMAP batches); a (folder, uidvalidity,
    uid) already on file is not stored again. The ids of those stored."""
    return [new for mail in batch if (new := add_inbound(conn, mail)) is not None]


def last_uid(conn: sqlite3.Connection, folder: str, uidvalidity: int) -> int:
    return int(value(conn, "SELECT max(uid) FROM inbound WHERE folder=? AND uidvalidity=?",
                     (folder, uidvalidity)) or 0)


def pending_inbound(conn: sqlite3.Connection, limit: int = 1000) -> list[int]:
    found = rows(conn, "SELECT id FROM inbound WHERE state='pending' AND attempts < ?"
                 " ORDER BY id LIMIT ?", (MAX_ATTEMPTS, limit))
    return [r["id"] for r in found]


def inbound(conn: sqlite3.Connection, inbound_id: int) -> dict[str, Any] | None:
    found = rows(conn, "SELECT * FROM inbound WHERE id=?", (inbound_id,))
    return found[0] if found else None


def inbound_state(conn: sqlite3.Connection, inbound_id: int) -> str | None:
    """The message's state (inside a transaction: for a claim)."""
    return value(conn, "SELECT state FROM inbound WHERE id=?", (inbound_id,))


def quarantine_now(conn: sqlite3.Connection, inbound_id: int, reason: str) -> bool:
    """Quarantine a pending message; False when another process already took it."""
    cur = conn.execute("UPDATE inbound SET state='quarantined', error=?, attempts=?"
                       " WHERE id=? AND state='pending'",
                       (seal(conn, inbound_key(conn, inbound_id, None), reason),
                        MAX_ATTEMPTS, inbound_id))
    return cur.rowcount == 1


def release(conn: sqlite3.Connection, inbound_id: int) -> bool:
    """Make a quarantined message pending again, its attempts afresh."""
    cur = conn.execute("UPDATE inbound SET state='pending', attempts=0 WHERE id=? AND"
                       " state='quarantined'", (inbound_id,))
    return cur.rowcount == 1


def mark_inbound(conn: sqlite3.Connection, inbound_id: int, state: str, *, at: datetime,
                 case_number: int | None = None, subject: str | None = None,
                 sender: str | None = None, error: str | None = None,
                 drop_raw: bool = False) -> None:
    """Record what became of the message (processed `at`)."""
    kid = inbound_key(conn, inbound_id, case_number)
    subject, sender, error = (seal(conn, kid, v) for v in (subject, sender, error))
    conn.execute(
        "UPDATE inbound SET state=?, case_number=?, subject=?, sender=?, error=?,"
        " processed_at=?" + (", raw=NULL" if drop_raw else "") + " WHERE id=?",
        (state, case_number, subject, sender, error, iso(at), inbound_id))


def earlier_copy(conn: sqlite3.Connection, inbound_id: int, message_id: str | None,
                 body_sha: str, raw_sha: str) -> int | None:
    """An earlier, already processed copy of this message (same Message-ID and body,
    or the same bytes when it has no Message-ID)."""
    done = "state IN ('done','duplicate','ignored','machine','quarantined')"
    if message_id:
        row = conn.execute(f"SELECT id FROM inbound WHERE id<>? AND mid_bi=? AND"
                           f" body_sha256=? AND {done} LIMIT 1",
                           (inbound_id, blind(conn, MID, message_id),
                            blind(conn, HASH, body_sha))).fetchone()
    else:
        row = conn.execute(f"SELECT id FROM inbound WHERE id<>? AND raw_sha256=? AND"
                           f" {done} LIMIT 1",
                           (inbound_id, blind(conn, HASH, raw_sha))).fetchone()
    return int(row[0]) if row else None


def count_failure(conn: sqlite3.Connection, inbound_id: int, reason: str) -> bool:
    """Count one failed attempt at a pending message; True when that was the last
    one allowed (it is now quarantined, and the caller queues the notice in `conn`)."""
    cur = conn.execute("UPDATE inbound SET attempts=attempts+1, error=? WHERE id=?"
                       " AND state='pending'",
                       (seal(conn, inbound_key(conn, inbound_id, None), reason), inbound_id))
    if cur.rowcount == 0:
        return False  # another process recorded it meanwhile
    attempts = conn.execute("SELECT attempts FROM inbound WHERE id=?",
                            (inbound_id,)).fetchone()[0]
    if attempts < MAX_ATTEMPTS:
        return False
    conn.execute("UPDATE inbound SET state='quarantined' WHERE id=?", (inbound_id,))
    return True


def quarantined(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Quarantined messages, oldest first: id, received_at, size, error."""
    return rows(conn, "SELECT id, received_at, size, error FROM inbound"
                " WHERE state='quarantined' ORDER BY id")


def inbound_counts(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """How many inbound messages are in each state."""
    return rows(conn, "SELECT state, count(*) AS n FROM inbound GROUP BY state"
                " ORDER BY state")


def expunge_unmatched_inbound(conn: sqlite3.Connection, refs: list[str]) -> None:
    """Empty mail set aside without a case (quarantined before it was matched) whose
    raw text holds one of `refs` (Message-IDs, the subject tag). Looked at here, not
    by SQL: sealed text cannot be searched (the few mails kept aside, at a purge)."""
    wanted = [ref.encode() for ref in dict.fromkeys(refs)]
    expunge_inbound(conn, [r[0] for r in conn.execute(
        "SELECT id, raw FROM inbound WHERE case_number IS NULL AND raw IS NOT NULL"
        ).fetchall() if r[1] is not None and any(ref in r[1] for ref in wanted)])


def expunge_inbound(conn: sqlite3.Connection, ids: list[int]) -> None:
    """Empty these inbound rows (their keys destroyed); waiting ones are done with."""
    _empty_inbound(conn, ids, "state=CASE WHEN state IN ('quarantined', 'pending')"
                   " THEN 'expunged' ELSE state END")


def _empty_inbound(conn: sqlite3.Connection, ids: list[int], also: str = "") -> None:
    """Empty these inbound rows, their keys destroyed first."""
    shred_rows(conn, "inbound", ids, "raw=NULL, subject=NULL, sender=NULL, message_id=NULL,"
               " mid_bi=NULL, error=NULL" + (f", {also}" if also else ""))


# ------------------------------------------------------------ machine mail
# Kept aside without a case (issue 23; cocmail/machine_mail.py): kept aside by weight
# of signals ('machine'), or a bounce / our own mail ('ignored').
def machine_mail(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    return rows(conn, "SELECT id, received_at, state, sender, subject, error FROM inbound"
                " WHERE state IN ('machine', 'ignored') AND case_number IS NULL"
                " ORDER BY id DESC LIMIT ?", (limit,))


def machine_mail_count(conn: sqlite3.Connection, start: datetime, end: datetime) -> int:
    """By their audit lines, written at the pipeline's clock."""
    return int(value(conn, "SELECT count(*) FROM audit WHERE case_number IS NULL AND"
                     " action IN ('machine mail', 'ignored') AND at >= ? AND"
                     " at <= ?", (iso(start), iso(end))) or 0)


def expunge_machine_mail(conn: sqlite3.Connection, before: datetime) -> int:
    """Empty machine mail received before `before`, and its audit lines' sender and
    reason (the lines and their times stay, for counts)."""
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM inbound WHERE state IN ('machine', 'ignored') AND case_number IS NULL"
        " AND raw IS NOT NULL AND received_at < ?", (iso(before),)).fetchall()]
    _empty_inbound(conn, ids)
    lines = ("case_number IS NULL AND action IN ('machine mail', 'ignored') AND at < ?"
             " AND actor<>'(expunged)'")
    destroy_keys(conn, row_key_ids(conn, "audit", lines, (iso(before),)))
    conn.execute(f"UPDATE audit SET actor='(expunged)', detail=NULL, message_id=NULL"
                 f" WHERE {lines}", (iso(before),))
    return len(ids)


# ------------------------------------------------------------ held commands
def held_entry(conn: sqlite3.Connection, nonce: str, case_number: int
               ) -> dict[str, Any] | None:
    """Held (unconfirmed) commands under `nonce` on the case, not yet used;
    `opened_case`: they came in the mail that opened the case (its first inbound)."""
    cur = conn.execute("SELECT nonce, commands, body, inbound_id = (SELECT min(i.id) FROM"
                       " inbound i WHERE i.case_number=held.case_number) FROM held WHERE"
                       " nonce=? AND case_number=? AND used IS NULL", (nonce, case_number))
    row = cur.fetchone()
    return None if row is None else {"nonce": row[0], "commands": row[1], "body": row[2],
                                     "opened_case": bool(row[3])}


def hold(conn: sqlite3.Connection, *, nonce: str, case_number: int, staff_email: str,
         commands: str, body: str, inbound_id: int, at: datetime) -> None:
    """Keep commands of an unauthenticated staff mail until `#confirm`."""
    kid = case_key(conn, case_number)
    conn.execute("INSERT INTO held(nonce, case_number, staff_email, commands, body,"
                 " inbound_id, created) VALUES (?,?,?,?,?,?,?)",
                 (nonce, case_number, seal(conn, kid, staff_email), seal(conn, kid, commands),
                  seal(conn, kid, body), inbound_id, iso(at)))


def use_held(conn: sqlite3.Connection, nonce: str, at: datetime) -> bool:
    """Mark held commands run; False when they were already used (never twice)."""
    cur = conn.execute("UPDATE held SET used=? WHERE nonce=? AND used IS NULL",
                       (iso(at), nonce))
    return cur.rowcount == 1


# ------------------------------------------------------------ the circuit breaker
# (issue 21: core/flood.py, flood_due.py)
def arrivals_since(conn: sqlite3.Connection, kind: str, source: str | None,
                   since: datetime, who: str | None = None) -> int:
    """Counted mail of `kind` (from `source`; None: from anywhere; by `who`, when
    given) after `since`."""
    if source is None:
        return int(conn.execute("SELECT count(*) FROM arrivals WHERE kind=? AND at>?",
                                (kind, iso(since))).fetchone()[0])
    return int(conn.execute("SELECT count(*) FROM arrivals WHERE kind=? AND source=?"
                            " AND at>? AND (? IS NULL OR who=?)",
                            (kind, source, iso(since), who, who)).fetchone()[0])


def record_arrival(conn: sqlite3.Connection, *, at: datetime, kind: str, source: str,
                   case_number: int, held: str | None, who: str) -> None:
    conn.execute("INSERT INTO arrivals(at, kind, source, case_number, held, who)"
                 " VALUES (?,?,?,?,?,?)", (iso(at), kind, source, case_number, held, who))


def held_arrivals(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Held mail not yet in a summary notice, oldest first."""
    return rows(conn, "SELECT id, at, kind, case_number, held, who FROM arrivals"
                " WHERE held IS NOT NULL AND summarised IS NULL ORDER BY at, id")


def summarise_arrivals(conn: sqlite3.Connection, ids: list[int], at: datetime) -> bool:
    """Mark `ids` summarised; False when another process summarised one first."""
    marks = ",".join("?" * len(ids))
    cur = conn.execute(f"UPDATE arrivals SET summarised=? WHERE summarised IS NULL"
                       f" AND id IN ({marks})", (iso(at), *ids))
    return cur.rowcount == len(ids)


def forget_arrivals(conn: sqlite3.Connection, before: datetime) -> None:
    """Drop rows older than `before` that no count or summary needs any more. A held
    report's row stays with its case (held_reports; cases.expunge_case removes it)."""
    conn.execute("DELETE FROM arrivals WHERE at<? AND (held IS NULL OR (kind='followup'"
                 " AND summarised IS NOT NULL))", (iso(before),))


def held_reports(conn: sqlite3.Connection) -> frozenset[int]:
    """Cases opened by a report the circuit breaker held."""
    return frozenset(r["case_number"] for r in rows(
        conn, "SELECT case_number FROM arrivals WHERE kind='report' AND held IS NOT NULL"))
