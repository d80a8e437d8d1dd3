"""Mail going out (`outbox`): queueing, the senders' claims and retries, the
acknowledgement limit's and the notices' look-ups, cancelling, and the CLI's views.

Every function takes the connection first; times come in as arguments. Several
processes deliver (the daemon's courier, `ingest`, `quarantine release`): a row is
claimed atomically before it is sent, and a claim held by a process that died is
released, so no mail goes out twice from two senders.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from ..clock import iso, parse_iso
from ..core.model import normalise_address
from .connection import rows, value
from .migrations import single_mailbox
from .sealed import MAILBOX, blind, row_key, seal, shred_rows, stored_key


def enqueue(conn: sqlite3.Connection, *, case_number: int | None, kind: str,
            role: str | None, message_id: str, sender: str, recipients: list[str],
            subject: str, raw: bytes, now: datetime, not_before: datetime | None = None
            ) -> int:
    """Queue a composed mail, due at `not_before` (not before `now`); its row id."""
    kid = row_key(conn, case_number)
    cur = conn.execute(
        "INSERT INTO outbox(created, case_number, kind, role, message_id, sender, recipients,"
        " mailbox, subject, raw, next_attempt) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (iso(now), case_number, kind, role, message_id, sender,
         seal(conn, kid, json.dumps(recipients)),
         blind(conn, MAILBOX, single_mailbox(recipients)), seal(conn, kid, subject),
         seal(conn, kid, raw), iso(max(not_before or now, now))))
    return int(cur.lastrowid or 0)


def due_outbox(conn: sqlite3.Connection, now: datetime, limit: int = 200
               ) -> list[dict[str, Any]]:
    return rows(conn, "SELECT * FROM outbox WHERE state='pending' AND next_attempt<=?"
                " ORDER BY id LIMIT ?", (iso(now), limit))


def next_outbox_time(conn: sqlite3.Connection) -> datetime | None:
    return parse_iso(value(conn, "SELECT min(next_attempt) FROM outbox WHERE state='pending'"))


def claim_outbox(conn: sqlite3.Connection, ids: list[int], now: datetime,
                 lease_until: datetime, pid: int) -> set[int]:
    """Take due rows for sending; returns those this process got (another process
    may have taken some first).

    The claim moves `next_attempt` to the end of the lease, so no other sender sees
    the row as due while this one talks to the server; should this process die
    mid-send, the row is due again when the lease ends (or at once, once
    release_dead_claims sees the process is gone).
    """
    if not ids:
        return set()
    marks = ",".join("?" for _ in ids)
    cur = conn.execute(f"UPDATE outbox SET next_attempt=?, claimed_by=? WHERE"
                       f" id IN ({marks}) AND state='pending' AND next_attempt<=?"
                       f" RETURNING id", (iso(lease_until), pid, *ids, iso(now)))
    return {row[0] for row in cur.fetchall()}


def still_claimed(conn: sqlite3.Connection, outbox_id: int, pid: int) -> bool:
    """Whether the row is still pending and claimed by `pid`: read right before the
    send, because a chunk is claimed whole and a row may be cancelled (`#recuse`),
    purged or, once its lease ran out, claimed by another sender meanwhile."""
    return bool(value(conn, "SELECT count(*) FROM outbox WHERE id=? AND state='pending'"
                      " AND claimed_by=?", (outbox_id, pid)))


def release_claims(conn: sqlite3.Connection, ids: list[int], now: datetime) -> None:
    """Hand back claimed rows this process did not send: due again at once."""
    marks = ",".join("?" for _ in ids)
    conn.execute(f"UPDATE outbox SET next_attempt=?, claimed_by=NULL WHERE"
                 f" id IN ({marks}) AND state='pending'", (iso(now), *ids))


def claimants(conn: sqlite3.Connection) -> list[int]:
    """The processes (pids) holding claims on pending rows."""
    return [r["claimed_by"] for r in rows(
        conn, "SELECT DISTINCT claimed_by FROM outbox WHERE state='pending'"
        " AND claimed_by IS NOT NULL")]


def release_claims_of(conn: sqlite3.Connection, dead: list[int], now: datetime) -> int:
    """Make rows claimed by the processes `dead` (they no longer run) due again now."""
    marks = ",".join("?" for _ in dead)
    cur = conn.execute(f"UPDATE outbox SET next_attempt=?, claimed_by=NULL WHERE"
                       f" state='pending' AND claimed_by IN ({marks})", (iso(now), *dead))
    return cur.rowcount


def outbox_sent(conn: sqlite3.Connection, outbox_id: int, at: datetime) -> None:
    conn.execute("UPDATE outbox SET state='sent', sent=?, attempts=attempts+1,"
                 " last_error=NULL, claimed_by=NULL WHERE id=?", (iso(at), outbox_id))


def outbox_retry(conn: sqlite3.Connection, outbox_id: int, error: str,
                 next_attempt: datetime) -> None:
    conn.execute("UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt=?,"
                 " claimed_by=NULL WHERE id=?",
                 (_sealed_error(conn, outbox_id, error), iso(next_attempt), outbox_id))


def outbox_failed(conn: sqlite3.Connection, outbox_id: int, error: str) -> None:
    conn.execute("UPDATE outbox SET state='failed', attempts=attempts+1, last_error=?,"
                 " claimed_by=NULL WHERE id=?",
                 (_sealed_error(conn, outbox_id, error), outbox_id))


def _sealed_error(conn: sqlite3.Connection, outbox_id: int, error: str) -> Any:
    """A server's answer may name the recipient: sealed like the mail it is about."""
    return seal(conn, stored_key(conn, "outbox", outbox_id), error)


def outbox_due_again(conn: sqlite3.Connection, now: datetime, *, ids: list[int] | None = None,
                     failed: bool = False, error_prefix: str | None = None) -> list[int]:
    """Make mail due now (`cocmail outbox retry`, a reload): the rows `ids` that are
    failed or waiting, every failed row (`failed`), or the waiting rows whose last
    error starts with `error_prefix`. Purged rows (no raw) stay as they are.
    Failed rows start their retries afresh. Returns the ids made due."""
    where, params = ["raw IS NOT NULL", "claimed_by IS NULL"], []
    if ids is not None:
        where.append(f"id IN ({','.join('?' for _ in ids)}) AND state IN"
                     " ('failed','pending')")
        params += ids
    elif failed:
        where.append("state='failed'")
    else:  # the error is sealed: compared here, not by SQL
        waiting = [r["id"] for r in rows(
            conn, "SELECT id, last_error FROM outbox WHERE state='pending' AND raw IS NOT"
            " NULL AND claimed_by IS NULL AND last_error IS NOT NULL")
            if (r["last_error"] or "").startswith(error_prefix or "")]
        where.append(f"state='pending' AND id IN ({','.join('?' * len(waiting))})")
        params += waiting
    cur = conn.execute("UPDATE outbox SET attempts=CASE WHEN state='failed' THEN 0"
                       " ELSE attempts END, state='pending', next_attempt=? WHERE "
                       + " AND ".join(where) + " RETURNING id", (iso(now), *params))
    return sorted(row[0] for row in cur.fetchall())


def forget_ack_mailboxes(conn: sqlite3.Connection, before: datetime) -> None:
    """Drop the mailbox index of acknowledgements older than the limit's day: kept
    longer, it would only link the reports one person sent over the years."""
    conn.execute("UPDATE outbox SET mailbox=NULL WHERE kind='ack' AND mailbox IS NOT NULL"
                 " AND created<?", (iso(before),))


def acks_since(conn: sqlite3.Connection, email: str, since: datetime) -> int:
    """Acknowledgements sent since `since` to `email` or any plus-tagged form of it.

    The limit is per mailbox, not per spelling: victim+0@ ... victim+7@ (and VICTIM@)
    reach one inbox and share one limit (the `mailbox` column, schema 8).
    """
    return int(value(conn, "SELECT count(*) FROM outbox WHERE kind='ack' AND mailbox=?"
                     " AND created>=?",
                     (blind(conn, MAILBOX, normalise_address(email)), iso(since))))


def noticed_since(conn: sqlite3.Connection, case_number: int, subject_suffix: str,
                  since: datetime) -> frozenset[str]:
    """Addresses that got a staff_relay on the case since `since` whose subject ends
    in `subject_suffix` (lower-cased): who was already told of automatic mail."""
    found = rows(conn, "SELECT recipients, subject FROM outbox WHERE case_number=? AND"
                 " kind='staff_relay' AND created>=?", (case_number, iso(since)))
    suffix = subject_suffix.lower()  # as LIKE compared it: ASCII case folded
    return frozenset(a.lower() for r in found
                     if (r["subject"] or "").lower().endswith(suffix)
                     for a in json.loads(r["recipients"] or "[]"))


def cancel_pending(conn: sqlite3.Connection, case_number: int,
                   addresses: tuple[str, ...]) -> int:
    """Cancel mail about the case still waiting to go to any of `addresses` (a member
    just recused must not get what was queued before). Returns how many."""
    if not addresses:
        return 0
    wanted = {json.dumps([a]).lower() for a in addresses}
    ids = [r["id"] for r in rows(conn, "SELECT id, recipients FROM outbox WHERE"
                                 " case_number=? AND state='pending'", (case_number,))
           if (r["recipients"] or "").lower() in wanted]
    for oid in ids:
        conn.execute("UPDATE outbox SET state='cancelled' WHERE id=?", (oid,))
    return len(ids)


def cancel_staff_mail_except(conn: sqlite3.Connection, sids: frozenset[int]) -> int:
    """Cancel mail still waiting for a staff member (role `s<N>`) whose N is not in
    `sids`: someone no longer in [[staff]] gets nothing queued before they left."""
    marks = ",".join("?" * len(sids))
    return conn.execute(
        "UPDATE outbox SET state='cancelled' WHERE state='pending' AND role GLOB"
        f" 's[0-9]*' AND CAST(substr(role, 2) AS INTEGER) NOT IN ({marks})",
        tuple(sids)).rowcount


def outbox_ids_of_case(conn: sqlite3.Connection, case_number: int) -> list[int]:
    return [r["id"] for r in rows(conn, "SELECT id FROM outbox WHERE case_number=?",
                                  (case_number,))]


def rewrite_outbox_raw(conn: sqlite3.Connection, outbox_id: int, raw: bytes) -> None:
    number = value(conn, "SELECT case_number FROM outbox WHERE id=?", (outbox_id,))
    conn.execute("UPDATE outbox SET raw=? WHERE id=?",
                 (seal(conn, row_key(conn, number) if number is not None else
                       stored_key(conn, "outbox", outbox_id), raw), outbox_id))


def caseless_mail(conn: sqlite3.Connection) -> list[tuple[int, bytes]]:
    """(id, raw) of outgoing mail on no case still holding its text (digests, flood
    summaries, notices), to find the ones that name a purged case."""
    return [(int(r[0]), r[1]) for r in conn.execute(
        "SELECT id, raw FROM outbox WHERE case_number IS NULL AND raw IS NOT NULL"
        ).fetchall() if r[1] is not None]


def shred_mail(conn: sqlite3.Connection, ids: list[int]) -> None:
    """Empty these outgoing mails, their keys destroyed first; unsent ones are cancelled."""
    shred_rows(conn, "outbox", ids, "raw=NULL, recipients='[]', mailbox=NULL, subject=NULL,"
               " last_error=NULL, state=CASE WHEN state='pending' THEN 'cancelled'"
               " ELSE state END")


def stored_raw(conn: sqlite3.Connection, outbox_id: int) -> bytes | None:
    """The mail as it is stored (sealed when the store is): what the spool keeps."""
    cur = conn.cursor()
    cur.row_factory = None
    row = cur.execute("SELECT raw FROM outbox WHERE id=?", (outbox_id,)).fetchone()
    return row[0] if row else None


# ------------------------------------------------------------ views (CLI, demo)
def outbox_rows(conn: sqlite3.Connection, *, pending_only: bool = False
                ) -> list[dict[str, Any]]:
    """Outgoing mail and its delivery state (no addresses, no text), oldest first."""
    sql = ("SELECT id, created, case_number, kind, state, attempts, next_attempt,"
           " last_error FROM outbox")
    if pending_only:
        sql += " WHERE state='pending'"
    return rows(conn, sql + " ORDER BY id")


def outbox_raw(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every outgoing mail as queued (id, raw), oldest first: what the demo shows."""
    return rows(conn, "SELECT id, raw FROM outbox ORDER BY id")


def outbox_mail(conn: sqlite3.Connection, outbox_id: int) -> bytes | None:
    """One outgoing mail as queued (unsealed by the connection); None: no such mail."""
    return value(conn, "SELECT raw FROM outbox WHERE id=?", (outbox_id,))


def mail_to(conn: sqlite3.Connection, case_number: int, address: str, *,
            kind: str | None = None) -> list[dict[str, Any]]:
    """Message-ID and subject of the case's outgoing mail to `address` (of `kind`),
    oldest first: what a staff member's mail client would reply to."""
    sql = "SELECT message_id, subject, recipients FROM outbox WHERE case_number=?"
    params: tuple[Any, ...] = (case_number,)
    if kind is not None:
        sql += " AND kind=?"
        params += (kind,)
    needle = address.lower()  # as LIKE compared it: ASCII case folded
    return [{"message_id": r["message_id"], "subject": r["subject"]}
            for r in rows(conn, sql + " ORDER BY id", params)
            if needle in (r["recipients"] or "").lower()]
