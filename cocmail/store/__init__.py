"""SQLite storage (sqlite-utils): the only place cocmail keeps state.

Durability is the point: raw mail is written and committed before anything
acknowledges it (IMAP progress, SMTP 250, `ingest` exit 0), and every case change
is committed in the same transaction as its audit entries and its outgoing mail.
WAL with synchronous=FULL keeps each commit on disk. Files are created mode 0600.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from ..clock import iso, parse_iso, utcnow
from ..config import StaffConfig
from ..core.case import STEPS, Case, Person
from ..core.effects import Proposal, mail_from_json, mail_to_json
from ..core.errors import UserError
from ..core.message import quick_message_id
from ..core.model import Roster, StaffMember, normalise_address
from ..secret_file import touch_private
from . import migrations

SCHEMA_VERSION = migrations.LATEST
MAX_ATTEMPTS = 3
T = TypeVar("T")
_IN_CHUNK = 500  # values per IN (...) list: far below SQLite's limit on parameters
# Accused people of live cases other than `?`, with what a repeat-offender warning shows.
_ACCUSED = ("SELECT DISTINCT p.id, c.number, c.outcome, c.status, c.closed, c.recused, p.name,"
            " p.email, p.norm_name FROM people p JOIN cases c ON c.number=p.case_number"
            " WHERE p.role='accused' AND c.purged IS NULL AND c.number<>?")
BUSY_TIMEOUT = 30.0  # seconds a write waits for another connection (a CLI command, the courier)


class StoreError(UserError):
    """The database cannot be opened or written."""


def backup_database(conn: sqlite3.Connection, target: Path) -> None:
    """A consistent copy of the open database `conn` at `target` (mode 0600).

    SQLite's online backup API copies page by page under a read transaction, so the
    copy holds everything committed, WAL included, while the daemon goes on writing.
    Written to a temporary name and renamed, so a half-written copy never looks whole.
    """
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    dest = sqlite3.connect(str(tmp))
    try:
        conn.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        dest.close()
    os.replace(tmp, target)


def check_copy(path: Path) -> tuple[str, int]:
    """(SQLite's integrity verdict, "ok" when whole; the number of cases) of a backup copy,
    read-only."""
    copy = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ok = copy.execute("PRAGMA integrity_check").fetchone()[0]
        return ok, int(copy.execute("SELECT count(*) FROM cases").fetchone()[0])
    finally:
        copy.close()


def writable_schema_version(conn: sqlite3.Connection) -> int:
    """The schema version of the database `conn` opened, after proving a write lock can
    be taken (`cocmail check`): nothing is written."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("ROLLBACK")
    return migrations.version_of(conn)


def _waiting_for_writer(statement: Callable[[], T]) -> T:
    """Run `statement`, waiting while another connection writes, in short steps.

    The connections are opened with no busy timeout and wait here instead: SQLite's own
    busy handler sleeps 1, 2, 5, 10... ms between tries, while the worker and the
    courier (two connections of one daemon) each hold the write lock for about a
    millisecond. In issue 6's profile those sleeps were 41% of the courier's time.
    Here the wait starts at 0.1 ms and doubles up to 2 ms, for BUSY_TIMEOUT in all.
    """
    delay, deadline = 0.0001, time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as e:
            # Extended codes (SQLITE_BUSY_SNAPSHOT, _RECOVERY...) keep the primary
            # code in their low byte.
            code = getattr(e, "sqlite_errorcode", None)
            busy = code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY,
                                                         sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.002)


class Store:
    """One SQLite database. Thread-safe by a lock: the daemon's threads share it."""

    def __init__(self, path: Path, *, synchronous: str = "FULL"):
        self.path = path
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            touch_private(path)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=0)  # waits in _waiting_for_writer
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open database {path}: {e}") from e
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.lock = threading.RLock()
        _waiting_for_writer(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")  # purged names must not linger in free pages
        self._migrate()
        for suffix in ("-wal", "-shm"):
            p = Path(str(path) + suffix)
            if p.exists():
                os.chmod(p, 0o600)

    def _migrate(self) -> None:
        """Bring the schema up to date, one transaction per version (migrations.py).

        A database that already holds data is copied first (online backup API) to
        `cocmail.db.before-v<N>`, mode 0600: an upgrade must never be the day the
        team's records are lost.
        """
        version = self._schema_version()
        try:
            migrations.refuse_newer(version, self.path)
        except migrations.SchemaError as e:
            raise StoreError(str(e)) from None
        todo = migrations.pending(version)
        kept = self.path.with_name(f"{self.path.name}.before-v{migrations.LATEST}")
        if todo and version > 0 and not kept.exists():
            # Never replaced: a second process opening the same old database at the same
            # moment must not overwrite the copy with an already upgraded one.
            backup_database(self.conn, kept)
        for target in todo:
            with self.tx() as c:
                # Checked again under the write lock: another process may have migrated.
                if migrations.version_of(c) >= target:
                    continue
                migrations.apply(c, target)

    def _schema_version(self) -> int:
        try:
            with self.lock:
                return _waiting_for_writer(lambda: migrations.version_of(self.conn))
        except migrations.SchemaError as e:
            raise StoreError(f"{self.path}: {e}") from None

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), rolled back on error."""
        with self.lock:
            self._begin_immediate()
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        """Roll back what is still open. SQLite may have rolled back already (a full
        disk does that): a ROLLBACK then would raise "cannot rollback - no transaction
        is active" and hide the error that matters."""
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the error being raised says more

    def _begin_immediate(self) -> None:
        _waiting_for_writer(lambda: self.conn.execute("BEGIN IMMEDIATE"))

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        with self.lock:
            cur = _waiting_for_writer(lambda: self.conn.execute(sql, params))
            cols = [c[0] for c in cur.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def scalar(self, sql: str, params: tuple | dict = ()) -> Any:
        with self.lock:
            row = _waiting_for_writer(lambda: self.conn.execute(sql, params)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------ staff
    def roster(self, staff: tuple[StaffConfig, ...]) -> Roster:
        """Staff with stable token numbers: a member keeps their `s<N>` across config edits."""
        members = []
        with self.tx() as c:
            for s in staff:
                row = c.execute("SELECT sid FROM staff_ids WHERE email=?", (s.email,)).fetchone()
                if row is None:
                    cur = c.execute("INSERT INTO staff_ids(email) VALUES (?)", (s.email,))
                    sid = int(cur.lastrowid or 0)
                else:
                    sid = int(row[0])
                members.append(StaffMember(sid, s.name, s.email, s.aliases, s.lead))
        return Roster(tuple(members))

    # ------------------------------------------------------------ inbound
    def add_inbound(self, raw: bytes, source: str) -> int | None:
        """Store raw mail durably, in a transaction of its own."""
        row = _inbound_row(raw, source, None, None, None)
        with self.tx() as c:
            return self._insert_inbound(c, row)

    def add_inbound_batch(self, items: list[tuple[bytes, str, str | None, int | None,
                                                  int | None]]) -> list[int]:
        """Store many messages in one durable transaction (IMAP batches); a (folder,
        uidvalidity, uid) already on file is not stored again."""
        rows = [_inbound_row(*item) for item in items]  # hashed before the write lock
        ids = []
        with self.tx() as c:
            for row in rows:
                new = self._insert_inbound(c, row)
                if new is not None:
                    ids.append(new)
        return ids

    def _insert_inbound(self, conn: sqlite3.Connection, row: tuple[Any, ...]) -> int | None:
        """The new row's id; None when this IMAP (folder, uidvalidity, uid) is known."""
        cur = conn.execute(
            "INSERT OR IGNORE INTO inbound(received_at, source, folder, uidvalidity, uid,"
            " message_id, raw_sha256, body_sha256, size, raw) VALUES (?,?,?,?,?,?,?,?,?,?)",
            row)
        return int(cur.lastrowid) if cur.rowcount else None

    def last_uid(self, folder: str, uidvalidity: int) -> int:
        return int(self.scalar("SELECT max(uid) FROM inbound WHERE folder=? AND uidvalidity=?",
                               (folder, uidvalidity)) or 0)

    def pending_inbound(self, limit: int = 1000) -> list[int]:
        rows = self.query("SELECT id FROM inbound WHERE state='pending' AND attempts < ?"
                          " ORDER BY id LIMIT ?", (MAX_ATTEMPTS, limit))
        return [r["id"] for r in rows]

    def inbound(self, inbound_id: int) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM inbound WHERE id=?", (inbound_id,))
        return rows[0] if rows else None

    def inbound_state(self, conn: sqlite3.Connection | None, inbound_id: int) -> str | None:
        """The message's state: inside transaction `conn` (for a claim), or as of now."""
        sql = "SELECT state FROM inbound WHERE id=?"
        if conn is None:
            return self.scalar(sql, (inbound_id,))
        row = conn.execute(sql, (inbound_id,)).fetchone()
        return row[0] if row else None

    def quarantine_now(self, conn: sqlite3.Connection, inbound_id: int, reason: str) -> bool:
        """Quarantine a pending message; False when another process already took it."""
        cur = conn.execute("UPDATE inbound SET state='quarantined', error=?, attempts=?"
                           " WHERE id=? AND state='pending'",
                           (reason, MAX_ATTEMPTS, inbound_id))
        return cur.rowcount == 1

    def release(self, inbound_id: int) -> bool:
        with self.tx() as c:
            cur = c.execute("UPDATE inbound SET state='pending', attempts=0 WHERE id=? AND"
                            " state='quarantined'", (inbound_id,))
            return cur.rowcount == 1

    def mark_inbound(self, conn: sqlite3.Connection, inbound_id: int, state: str, *,
                     case_number: int | None = None, subject: str | None = None,
                     sender: str | None = None, error: str | None = None,
                     drop_raw: bool = False) -> None:
        conn.execute(
            "UPDATE inbound SET state=?, case_number=?, subject=?, sender=?, error=?,"
            " processed_at=?" + (", raw=NULL" if drop_raw else "") + " WHERE id=?",
            (state, case_number, subject, sender, error, iso(utcnow()), inbound_id))

    # ------------------------------------------------------------ cases
    def next_case_number(self, conn: sqlite3.Connection | None = None) -> int:
        """The number the next case gets: inside transaction `conn`, or as of now."""
        sql = "SELECT coalesce(max(number), 0) + 1 FROM cases"
        if conn is None:
            return int(self.scalar(sql))
        return int(conn.execute(sql).fetchone()[0])

    def case_for_message_ids(self, mids: tuple[str, ...]) -> int | None:
        for mid in mids:
            n = self.scalar("SELECT case_number FROM messages WHERE message_id=? LIMIT 1", (mid,))
            if n is not None:
                return int(n)
        return None

    def case_exists(self, number: int) -> bool:
        return self.scalar("SELECT 1 FROM cases WHERE number=? AND purged IS NULL",
                           (number,)) is not None

    def load_case(self, number: int) -> Case | None:
        rows = self.query("SELECT * FROM cases WHERE number=?", (number,))
        if not rows:
            return None
        people = self.query("SELECT role, name, email FROM people WHERE case_number=?"
                            " ORDER BY id", (number,))
        return _case_from_row(rows[0], people)

    def load_cases(self, *, include_closed: bool = True, events: list[str] | None = None,
                   since: datetime | None = None) -> list[Case]:
        """Live cases in number order, loaded in two queries whatever their count.

        Open only unless `include_closed`; of these events only (None: every event);
        with `since`, only those a digest of the period from `since` can show: open,
        opened or closed since then, or decided and not yet reported to the DSF.
        """
        where, params = _live_cases_where(include_closed, events, since)
        rows = self.query(f"SELECT * FROM cases WHERE {where} ORDER BY number", params)
        people: dict[int, list[dict[str, Any]]] = {}
        for p in self.query("SELECT case_number, role, name, email FROM people WHERE"
                            f" case_number IN (SELECT number FROM cases WHERE {where})"
                            " ORDER BY id", params):
            people.setdefault(p["case_number"], []).append(p)
        return [_case_from_row(r, people.get(r["number"], [])) for r in rows]

    def save_case(self, conn: sqlite3.Connection, case: Case) -> None:
        from ..core.people import normalise_name

        row = {
            "number": case.number, "status": case.status, "opened": iso(case.opened),
            "subject": case.subject, "urgent": int(case.urgent),
            "reporter_anonymous": int(case.reporter_anonymous),
            "victim_is_reporter": int(case.victim_is_reporter),
            "when_text": case.when, "where_text": case.where, "summary": case.summary,
            "action": case.action, "outcome": case.outcome, "others": case.others,
            "received_by": case.received_by, "handlers": json.dumps(list(case.handlers)),
            "recused": json.dumps(list(case.recused)), "dsf_hold_until": iso(case.dsf_hold_until),
            "named": json.dumps(list(case.named)), "included": json.dumps(list(case.included)),
            "report_text": case.report_text, "root_message_id": case.root_message_id,
            "last_activity": iso(case.last_activity),
            "last_staff_action": iso(case.last_staff_action),
            "event": case.event, "public_summary": case.public_summary,
            "accused_side": case.accused_side, "forged_sender": case.forged_sender,
            "response": case.response,
        }
        for s, at in case.steps:
            row[s] = iso(at)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        updates = ", ".join(f"{k}=excluded.{k}" for k in row if k != "number")
        conn.execute(f"INSERT INTO cases ({cols}) VALUES ({marks}) ON CONFLICT(number)"
                     f" DO UPDATE SET {updates}", tuple(row.values()))
        conn.execute("DELETE FROM people WHERE case_number=?", (case.number,))
        people = list(case.people())
        if case.victim and not case.victim_is_reporter and case.victim not in people:
            people.append(case.victim)
        for p in people:
            norm = normalise_name(p.name)
            conn.execute("INSERT INTO people(case_number, role, name, email, norm_name,"
                         " name_words) VALUES (?,?,?,?,?,?)",
                         (case.number, p.role, p.name, p.email, norm,
                          len(norm.split()) if norm else None))
        # Its anonymous counts, in the same transaction: `stats` never lags behind.
        conn.execute(migrations.STATS_SYNC.format(only=" AND c.number=?"), (case.number,))

    def audit(self, conn: sqlite3.Connection, case_number: int | None, actor: str, action: str,
              detail: str = "", message_id: str | None = None,
              at: datetime | None = None) -> None:
        conn.execute("INSERT INTO audit(at, case_number, actor, action, detail, message_id)"
                     " VALUES (?,?,?,?,?,?)",
                     (iso(at or utcnow()), case_number, actor, action, detail, message_id))

    def add_message(self, conn: sqlite3.Connection, case_number: int, direction: str, *,
                    sender: str, recipients: list[str], subject: str, date: datetime | None,
                    message_id: str | None, kind: str, body: str,
                    inbound_id: int | None = None, outbox_id: int | None = None) -> None:
        conn.execute(
            "INSERT INTO messages(case_number, direction, sender, recipients, subject, date,"
            " message_id, kind, body, inbound_id, outbox_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (case_number, direction, sender, json.dumps(recipients), subject, iso(date),
             message_id, kind, body, inbound_id, outbox_id))

    def proposals(self, case_number: int) -> tuple[Proposal, ...]:
        """Every proposal made on the case, oldest first, whatever its state."""
        return tuple(Proposal(
            nonce=r["nonce"], case=r["case_number"], kind=r["kind"],
            proposed_by=r["proposed_by"], proposed_at=parse_iso(r["proposed_at"]) or utcnow(),
            target=r["target"] or "",
            mails=tuple(mail_from_json(m) for m in json.loads(r["mails"] or "[]")),
            facts=r["facts"] or "", state=r["state"], decided_by=r["decided_by"],
            decided_at=parse_iso(r["decided_at"]), reason=r["reason"])
            for r in self.query("SELECT * FROM proposals WHERE case_number=? ORDER BY rowid",
                                (case_number,)))

    def add_proposal(self, conn: sqlite3.Connection, p: Proposal, inbound_id: int) -> None:
        conn.execute("INSERT INTO proposals(nonce, case_number, kind, proposed_by, proposed_at,"
                     " target, mails, facts, inbound_id, state) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (p.nonce, p.case, p.kind, p.proposed_by, iso(p.proposed_at), p.target,
                      json.dumps([mail_to_json(m) for m in p.mails]), p.facts, inbound_id,
                      "waiting"))

    def decide_proposal(self, conn: sqlite3.Connection, nonce: str, state: str, by: str,
                        at: datetime, reason: str | None) -> bool:
        """Mark a waiting proposal approved or rejected; False if it no longer waits."""
        cur = conn.execute("UPDATE proposals SET state=?, decided_by=?, decided_at=?, reason=?"
                           " WHERE nonce=? AND state='waiting'",
                           (state, by, iso(at), reason, nonce))
        return cur.rowcount == 1

    def case_numbers(self, include_closed: bool = False) -> list[int]:
        sql = "SELECT number FROM cases WHERE purged IS NULL"
        if not include_closed:
            sql += " AND status='open'"
        return [r["number"] for r in self.query(sql + " ORDER BY number")]

    def acks_since(self, email: str, since: datetime) -> int:
        """Acknowledgements sent since `since` to `email` or any plus-tagged form of it.

        The limit is per mailbox, not per spelling: victim+0@ ... victim+7@ (and VICTIM@)
        reach one inbox and share one limit (the `mailbox` column, schema 8).
        """
        return int(self.scalar("SELECT count(*) FROM outbox WHERE kind='ack' AND mailbox=?"
                               " AND created>=?", (normalise_address(email), iso(since))))

    def noticed_since(self, case_number: int, subject_suffix: str, since: datetime
                      ) -> frozenset[str]:
        """Addresses that got a staff_relay on the case since `since` whose subject ends
        in `subject_suffix` (lower-cased): who was already told of automatic mail."""
        rows = self.query("SELECT recipients FROM outbox WHERE case_number=? AND"
                          " kind='staff_relay' AND created>=? AND subject LIKE ?",
                          (case_number, iso(since), "%" + subject_suffix))
        return frozenset(a.lower() for r in rows for a in json.loads(r["recipients"]))

    def cancel_pending(self, conn: sqlite3.Connection, case_number: int,
                       addresses: tuple[str, ...]) -> int:
        """Cancel mail about the case still waiting to go to any of `addresses` (a member
        just recused must not get what was queued before). Returns how many."""
        if not addresses:
            return 0
        marks = ",".join("?" * len(addresses))
        cur = conn.execute(
            f"UPDATE outbox SET state='cancelled' WHERE case_number=? AND state='pending'"
            f" AND recipients COLLATE NOCASE IN ({marks})",
            (case_number, *(json.dumps([a]) for a in addresses)))
        return cur.rowcount

    def cancel_staff_mail_except(self, sids: frozenset[int]) -> int:
        """Cancel mail still waiting for a staff member (role `s<N>`) whose N is not in
        `sids`: someone no longer in [[staff]] gets nothing queued before they left."""
        marks = ",".join("?" * len(sids))
        with self.tx() as c:
            return c.execute(
                "UPDATE outbox SET state='cancelled' WHERE state='pending' AND role GLOB"
                f" 's[0-9]*' AND CAST(substr(role, 2) AS INTEGER) NOT IN ({marks})",
                tuple(sids)).rowcount

    # ------------------------------------------------------------ outbox
    def enqueue(self, conn: sqlite3.Connection, *, case_number: int | None, kind: str,
                role: str | None, message_id: str, sender: str, recipients: list[str],
                subject: str, raw: bytes, not_before: datetime | None = None,
                now: datetime | None = None) -> int:
        now = now or utcnow()
        cur = conn.execute(
            "INSERT INTO outbox(created, case_number, kind, role, message_id, sender, recipients,"
            " mailbox, subject, raw, next_attempt) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (iso(now), case_number, kind, role, message_id, sender, json.dumps(recipients),
             migrations.single_mailbox(recipients), subject, raw,
             iso(max(not_before or now, now))))
        return int(cur.lastrowid or 0)

    def due_outbox(self, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM outbox WHERE state='pending' AND next_attempt<=?"
                          " ORDER BY id LIMIT ?", (iso(now), limit))

    def next_outbox_time(self) -> datetime | None:
        return parse_iso(self.scalar(
            "SELECT min(next_attempt) FROM outbox WHERE state='pending'"))

    def claim_outbox(self, ids: list[int], now: datetime, lease_until: datetime,
                     pid: int) -> set[int]:
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
        with self.tx() as c:
            cur = c.execute(f"UPDATE outbox SET next_attempt=?, claimed_by=? WHERE"
                            f" id IN ({marks}) AND state='pending' AND next_attempt<=?"
                            f" RETURNING id", (iso(lease_until), pid, *ids, iso(now)))
            return {row[0] for row in cur.fetchall()}

    def still_claimed(self, outbox_id: int, pid: int) -> bool:
        """Whether the row is still pending and claimed by `pid`: read right before the
        send, because a chunk is claimed whole and a row may be cancelled (`#recuse`),
        purged or, once its lease ran out, claimed by another sender meanwhile."""
        return bool(self.scalar("SELECT count(*) FROM outbox WHERE id=? AND state='pending'"
                                " AND claimed_by=?", (outbox_id, pid)))

    def release_claims(self, ids: list[int], now: datetime) -> None:
        """Hand back claimed rows this process did not send: due again at once."""
        if not ids:
            return
        marks = ",".join("?" for _ in ids)
        with self.tx() as c:
            c.execute(f"UPDATE outbox SET next_attempt=?, claimed_by=NULL WHERE"
                      f" id IN ({marks}) AND state='pending'", (iso(now), *ids))

    def release_dead_claims(self, now: datetime, alive: Callable[[int], bool]) -> int:
        """Make rows claimed by processes that no longer run (`alive(pid)` is False)
        due again now."""
        pids = [r["claimed_by"] for r in self.query(
            "SELECT DISTINCT claimed_by FROM outbox WHERE state='pending'"
            " AND claimed_by IS NOT NULL")]
        dead = [p for p in pids if not alive(p)]
        if not dead:
            return 0
        with self.tx() as c:
            marks = ",".join("?" for _ in dead)
            cur = c.execute(f"UPDATE outbox SET next_attempt=?, claimed_by=NULL WHERE"
                            f" state='pending' AND claimed_by IN ({marks})",
                            (iso(now), *dead))
            return cur.rowcount

    def outbox_sent(self, outbox_id: int) -> None:
        with self.tx() as c:
            c.execute("UPDATE outbox SET state='sent', sent=?, attempts=attempts+1,"
                      " last_error=NULL, claimed_by=NULL WHERE id=?",
                      (iso(utcnow()), outbox_id))

    def outbox_retry(self, outbox_id: int, error: str, next_attempt: datetime) -> None:
        with self.tx() as c:
            c.execute("UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt=?,"
                      " claimed_by=NULL WHERE id=?", (error, iso(next_attempt), outbox_id))

    def outbox_failed(self, conn: sqlite3.Connection, outbox_id: int, error: str) -> None:
        conn.execute("UPDATE outbox SET state='failed', attempts=attempts+1, last_error=?,"
                     " claimed_by=NULL WHERE id=?", (error, outbox_id))

    def outbox_due_again(self, now: datetime, *, ids: list[int] | None = None,
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
        else:
            where.append("state='pending' AND last_error LIKE ? ESCAPE '\\'")
            params.append(error_prefix.replace("%", "\\%").replace("_", "\\_") + "%"
                          if error_prefix else "%")
        with self.tx() as c:
            cur = c.execute("UPDATE outbox SET attempts=CASE WHEN state='failed' THEN 0"
                            " ELSE attempts END, state='pending', next_attempt=? WHERE "
                            + " AND ".join(where) + " RETURNING id", (iso(now), *params))
            return sorted(row[0] for row in cur.fetchall())

    def compact(self) -> None:
        """Rewrite the file and empty the WAL so expunged text leaves no trace on disk."""
        with self.lock:
            self._checkpoint()
            _waiting_for_writer(lambda: self.conn.execute("VACUUM"))
            self._checkpoint()

    def _checkpoint(self, attempts: int = 50) -> None:
        """TRUNCATE checkpoint; retried while another process (the daemon) holds a reader."""
        import time

        for _ in range(attempts):
            busy = _waiting_for_writer(
                lambda: self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")).fetchone()[0]
            if not busy:
                return
            time.sleep(0.1)
        raise StoreError("could not empty the WAL: another cocmail process keeps it busy; "
                         "stop the daemon and run the purge again")

    def refresh_stats(self) -> None:
        """Bring every live case's anonymous counts into `stats` (which purges never
        touch). Each save of a case does this for its case; retention calls it once more
        before a purge, and the bench after filling cases in."""
        with self.tx() as c:
            c.execute(migrations.STATS_SYNC.format(only=""))

    def staff_mail_bodies(self, case_number: int) -> list[str]:
        """The bodies of the mail cocmail queued for staff members on a case."""
        rows = self.query("SELECT m.body FROM messages m JOIN outbox o ON o.id=m.outbox_id"
                          " WHERE m.case_number=? AND m.direction='out' AND o.role LIKE 's%'",
                          (case_number,))
        return [r["body"] or "" for r in rows]

    # ------------------------------------------------------------ views (CLI)
    def quarantined(self) -> list[dict[str, Any]]:
        """Quarantined messages, oldest first: id, received_at, size, error."""
        return self.query("SELECT id, received_at, size, error FROM inbound"
                          " WHERE state='quarantined' ORDER BY id")

    # Machine mail kept aside without a case (issue 23; cocmail/machine_mail.py): kept
    # aside by weight of signals ('machine'), or a bounce / our own mail ('ignored').
    def machine_mail(self, limit: int) -> list[dict[str, Any]]:
        return self.query("SELECT id, received_at, state, sender, subject, error FROM inbound"
                          " WHERE state IN ('machine', 'ignored') AND case_number IS NULL"
                          " ORDER BY id DESC LIMIT ?", (limit,))

    def machine_mail_count(self, start: datetime, end: datetime) -> int:
        """By their audit lines, written at the pipeline's clock."""
        return int(self.scalar("SELECT count(*) FROM audit WHERE case_number IS NULL AND"
                               " action IN ('machine mail', 'ignored') AND at >= ? AND"
                               " at <= ?", (iso(start), iso(end))) or 0)

    def expunge_machine_mail(self, before: datetime) -> int:
        """Empty machine mail received before `before`, and its audit lines' sender and
        reason (the lines and their times stay, for counts)."""
        with self.tx() as c:
            cur = c.execute("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL,"
                            " message_id=NULL, error=NULL WHERE state IN ('machine',"
                            " 'ignored') AND case_number IS NULL AND raw IS NOT NULL"
                            " AND received_at < ?", (iso(before),))
            c.execute("UPDATE audit SET actor='(expunged)', detail=NULL, message_id=NULL"
                      " WHERE case_number IS NULL AND action IN ('machine mail', 'ignored')"
                      " AND at < ?", (iso(before),))
            return cur.rowcount

    def inbound_counts(self) -> list[dict[str, Any]]:
        """How many inbound messages are in each state."""
        return self.query("SELECT state, count(*) AS n FROM inbound GROUP BY state"
                          " ORDER BY state")

    def outbox_rows(self, *, pending_only: bool = False) -> list[dict[str, Any]]:
        """Outgoing mail and its delivery state (no addresses, no text), oldest first."""
        sql = ("SELECT id, created, case_number, kind, state, attempts, next_attempt,"
               " last_error FROM outbox")
        if pending_only:
            sql += " WHERE state='pending'"
        return self.query(sql + " ORDER BY id")

    def outbox_raw(self) -> list[dict[str, Any]]:
        """Every outgoing mail as queued (id, raw), oldest first: what the demo shows."""
        return self.query("SELECT id, raw FROM outbox ORDER BY id")

    def mail_to(self, case_number: int, address: str, *, kind: str | None = None
                ) -> list[dict[str, Any]]:
        """Message-ID and subject of the case's outgoing mail to `address` (of `kind`),
        oldest first: what a staff member's mail client would reply to."""
        sql = ("SELECT message_id, subject FROM outbox WHERE case_number=? AND"
               " recipients LIKE ? ESCAPE '\\'")
        params: tuple[Any, ...] = (case_number, f"%{_like_escape(address)}%")
        if kind is not None:
            sql += " AND kind=?"
            params += (kind,)
        return self.query(sql + " ORDER BY id", params)

    def case_messages(self, case_number: int) -> list[dict[str, Any]]:
        """The case's mail in and out (headers only, no bodies), oldest first."""
        return self.query("SELECT direction, sender, recipients, subject, date, message_id,"
                          " kind FROM messages WHERE case_number=? ORDER BY id",
                          (case_number,))

    def case_audit(self, case_number: int) -> list[dict[str, Any]]:
        """The case's audit trail, oldest first."""
        return self.query("SELECT at, actor, action, detail FROM audit WHERE case_number=?"
                          " ORDER BY id", (case_number,))

    def purged_at(self, case_number: int) -> str | None:
        """When the case was expunged (ISO time), None while it is whole."""
        return self.scalar("SELECT purged FROM cases WHERE number=?", (case_number,))

    def people_on_file(self) -> list[dict[str, Any]]:
        """Every person named in a live case with the case's number, status and outcome."""
        return self.query(
            "SELECT p.id, p.role, p.name, p.email, p.norm_name, c.number, c.status, c.outcome"
            " FROM people p JOIN cases c ON c.number=p.case_number"
            " WHERE c.purged IS NULL ORDER BY c.number, p.id")

    def sanctioned_accused(self, outcomes: tuple[str, ...]) -> list[dict[str, Any]]:
        """Accused people of live cases whose outcome is one of `outcomes`."""
        marks = ",".join("?" for _ in outcomes) or "NULL"
        return self.query(
            "SELECT p.email, p.norm_name, c.number, c.outcome FROM people p JOIN cases c"
            f" ON c.number=p.case_number WHERE p.role='accused' AND c.outcome IN ({marks})"
            " AND c.purged IS NULL", outcomes)

    # ------------------------------------------------------------ history (accused people)
    # Indexed look-ups only (migration 7): the cost of a report must not grow with the
    # number of people on file.
    def accused_matching(self, exclude_case: int, email: str | None,
                         norm_name: str | None) -> list[dict[str, Any]]:
        """Accused people of other live cases with this address (case-insensitively) or
        this normalised name, in case order (then people order)."""
        rows: list[dict[str, Any]] = []
        if email:
            rows += self.query(f"{_ACCUSED} AND lower(p.email)=?", (exclude_case, email.lower()))
        if norm_name:
            rows += self.query(f"{_ACCUSED} AND p.norm_name=?", (exclude_case, norm_name))
        return _in_case_order(rows)

    def accused_named(self, exclude_case: int, emails: AbstractSet[str],
                      norm_names: AbstractSet[str]
                      ) -> list[dict[str, Any]]:
        """Accused people of other live cases whose address is one of `emails`
        (lower-cased) or whose normalised name is one of `norm_names`."""
        rows: list[dict[str, Any]] = []
        for column, values in (("lower(p.email)", sorted(emails)),
                               ("p.norm_name", sorted(norm_names))):
            for start in range(0, len(values), _IN_CHUNK):
                chunk = values[start:start + _IN_CHUNK]
                rows += self.query(f"{_ACCUSED} AND {column} IN ({','.join('?' * len(chunk))})",
                                   (exclude_case, *chunk))
        return _in_case_order(rows)

    def longest_accused_name(self) -> int:
        """The most words in an accused person's normalised name (0: nobody on file)."""
        return int(self.scalar("SELECT max(name_words) FROM people WHERE role='accused'")
                   or 0)

    # ------------------------------------------------------------ digests
    def awaiting_approval(self) -> frozenset[int]:
        """Cases with a proposal waiting for a second member's #approve."""
        return frozenset(r["case_number"] for r in self.query(
            "SELECT DISTINCT case_number FROM proposals WHERE state='waiting'"))

    def digest_recorded(self, week: str) -> bool:
        """Whether the digest of `week` was queued (or is the installation's baseline)."""
        return self.scalar("SELECT 1 FROM digests WHERE week=?", (week,)) is not None

    def any_digest_recorded(self) -> bool:
        return bool(self.scalar("SELECT count(*) FROM digests"))

    def claim_digest_week(self, conn: sqlite3.Connection, week: str, sent: str) -> bool:
        """Record `week` inside transaction `conn`; False when it was recorded already."""
        cur = conn.execute("INSERT OR IGNORE INTO digests(week, sent) VALUES (?,?)",
                           (week, sent))
        return cur.rowcount == 1

    # ------------------------------------------------------------ retention
    def last_purge(self) -> datetime | None:
        return parse_iso(self.scalar("SELECT value FROM meta WHERE key='last_purge'"))

    def record_purge(self, at: datetime) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('last_purge', ?)", (iso(at),))

    def outbox_ids_of_case(self, case_number: int) -> list[int]:
        return [r["id"] for r in self.query("SELECT id FROM outbox WHERE case_number=?",
                                            (case_number,))]

    def case_mail_ids(self, conn: sqlite3.Connection, case_number: int
                      ) -> tuple[list[str], list[str]]:
        """(Message-IDs of the mail that came in on the case, of the mail it recorded)."""
        inbound = [r[0] for r in conn.execute(
            "SELECT message_id FROM inbound WHERE case_number=? AND message_id IS NOT NULL",
            (case_number,))]
        recorded = [r[0] for r in conn.execute(
            "SELECT message_id FROM messages WHERE case_number=? AND message_id IS NOT NULL",
            (case_number,))]
        return inbound, recorded

    def mail_naming_earlier_cases(self, conn: sqlite3.Connection, case_number: int
                                  ) -> list[tuple[int, str | None, int | None, bytes | None,
                                                  str | None]]:
        """(message id, body, outbox id, raw, kind) of other cases' outgoing mail that
        may carry an earlier-case warning."""
        return conn.execute(
            "SELECT m.id, m.body, m.outbox_id, o.raw, o.kind FROM messages m"
            " LEFT JOIN outbox o ON o.id=m.outbox_id WHERE m.direction='out' AND"
            " m.case_number<>? AND m.body LIKE '%earlier cases%'", (case_number,)).fetchall()

    def rewrite_message(self, conn: sqlite3.Connection, message_id: int, body: str) -> None:
        conn.execute("UPDATE messages SET body=? WHERE id=?", (body, message_id))

    def rewrite_outbox_raw(self, conn: sqlite3.Connection, outbox_id: int, raw: bytes) -> None:
        conn.execute("UPDATE outbox SET raw=? WHERE id=?", (raw, outbox_id))

    def expunge_unmatched_inbound(self, conn: sqlite3.Connection, refs: list[str]) -> None:
        """Empty mail set aside without a case (quarantined before it was matched) whose
        raw text holds one of `refs` (Message-IDs, the subject tag)."""
        conn.executemany(
            "UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL, message_id=NULL,"
            " error=NULL, state=CASE WHEN state IN ('quarantined', 'pending')"
            " THEN 'expunged' ELSE state END"
            " WHERE case_number IS NULL AND raw IS NOT NULL AND instr(raw, ?) > 0",
            [(ref.encode(),) for ref in dict.fromkeys(refs)])

    def expunge_case(self, conn: sqlite3.Connection, case_number: int,
                     inbound_ids: list[str], now: datetime) -> None:
        """Remove every name, address and text of the case; keep number, dates, outcome.

        `inbound_ids`: the Message-IDs of its incoming mail, whose duplicate copies are
        stored without a case."""
        conn.execute("DELETE FROM people WHERE case_number=?", (case_number,))
        conn.execute("DELETE FROM messages WHERE case_number=?", (case_number,))
        conn.execute("DELETE FROM held WHERE case_number=?", (case_number,))
        conn.execute("DELETE FROM proposals WHERE case_number=?", (case_number,))
        conn.execute("DELETE FROM arrivals WHERE case_number=?", (case_number,))
        conn.execute("UPDATE audit SET actor='(expunged)', detail=NULL, message_id=NULL"
                     " WHERE case_number=?", (case_number,))
        conn.execute("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL, message_id=NULL,"
                     " error=NULL WHERE case_number=?", (case_number,))
        conn.executemany("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL,"
                         " message_id=NULL, error=NULL WHERE case_number IS NULL AND"
                         " message_id=?", [(m,) for m in inbound_ids])
        # Mail still waiting would go out with nothing in it: it is cancelled, not sent.
        conn.execute("UPDATE outbox SET raw=NULL, recipients='[]', mailbox=NULL, subject=NULL,"
                     " sender='',"
                     " last_error=NULL, state=CASE WHEN state='pending' THEN 'cancelled'"
                     " ELSE state END WHERE case_number=?", (case_number,))
        conn.execute("UPDATE cases SET subject=NULL, when_text=NULL, where_text=NULL,"
                     " summary=NULL, action=NULL, others=NULL, received_by=NULL,"
                     " handlers='[]', recused='[]', named='[]', included='[]',"
                     " report_text=NULL, root_message_id=NULL,"
                     " accused_side=NULL, purged=? WHERE number=?", (iso(now), case_number))

    # ------------------------------------------------------------ events
    def file_cases_under(self, event: dict[str, Any], now: datetime) -> None:
        """Record the configured event (its facts as of now), and give it every case
        that has none: those opened before cases had events (schema 3)."""
        with self.tx() as c:
            c.execute("INSERT INTO events(name, starts, ends, attendees_in_person,"
                      " attendees_online, reporting_channels, first_seen)"
                      " VALUES (:name, :starts, :ends, :attendees_in_person,"
                      " :attendees_online, :reporting_channels, :first_seen)"
                      " ON CONFLICT(name) DO UPDATE SET starts=excluded.starts,"
                      " ends=excluded.ends, attendees_in_person=excluded.attendees_in_person,"
                      " attendees_online=excluded.attendees_online,"
                      " reporting_channels=excluded.reporting_channels",
                      {**event, "first_seen": iso(now)})
            c.execute("UPDATE cases SET event=? WHERE event IS NULL", (event["name"],))
            c.execute("UPDATE stats SET event=? WHERE event IS NULL", (event["name"],))

    def events(self) -> list[dict[str, Any]]:
        """Every event cocmail has filed cases under, oldest first."""
        return self.query("SELECT * FROM events ORDER BY coalesce(starts, first_seen), name")

    def stats_rows(self, events: list[str] | None) -> list[dict[str, Any]]:
        """The anonymous per-case counts, of these events (None: all)."""
        sql = "SELECT event, opened, outcome, people_named, closed FROM stats"
        if events is None:
            return self.query(sql + " ORDER BY opened")
        marks = ",".join("?" for _ in events) or "NULL"
        return self.query(sql + f" WHERE event IN ({marks}) ORDER BY opened", tuple(events))

    # --- pipeline facts
    # What the pipeline reads and writes for one inbound message, all inside the one
    # write transaction `conn` in which its decision is made and committed.
    def earlier_copy(self, conn: sqlite3.Connection, inbound_id: int,
                     message_id: str | None, body_sha: str, raw_sha: str) -> int | None:
        """An earlier, already processed copy of this message (same Message-ID and body,
        or the same bytes when it has no Message-ID), as of transaction `conn`."""
        done = "state IN ('done','duplicate','ignored','machine','quarantined')"
        if message_id:
            row = conn.execute(f"SELECT id FROM inbound WHERE id<>? AND message_id=? AND"
                               f" body_sha256=? AND {done} LIMIT 1",
                               (inbound_id, message_id, body_sha)).fetchone()
        else:
            row = conn.execute(f"SELECT id FROM inbound WHERE id<>? AND raw_sha256=? AND"
                               f" {done} LIMIT 1", (inbound_id, raw_sha)).fetchone()
        return int(row[0]) if row else None

    def is_on_case(self, conn: sqlite3.Connection, number: int, email: str) -> bool:
        """Is `email` one of the people on case `number`? (Without loading the case.)"""
        email = email.lower()
        rows = conn.execute("SELECT email FROM people WHERE case_number=? AND email IS NOT"
                            " NULL", (number,)).fetchall()
        return any(r[0].lower() == email for r in rows)

    def held_entry(self, conn: sqlite3.Connection, nonce: str, case_number: int
                   ) -> dict[str, Any] | None:
        """Held (unconfirmed) commands under `nonce` on the case, not yet used."""
        cur = conn.execute("SELECT nonce, commands, body FROM held WHERE nonce=? AND"
                           " case_number=? AND used IS NULL", (nonce, case_number))
        row = cur.fetchone()
        return None if row is None else {"nonce": row[0], "commands": row[1], "body": row[2]}

    def hold(self, conn: sqlite3.Connection, *, nonce: str, case_number: int,
             staff_email: str, commands: str, body: str, inbound_id: int,
             at: datetime) -> None:
        """Keep commands of an unauthenticated staff mail until `#confirm`."""
        conn.execute("INSERT INTO held(nonce, case_number, staff_email, commands, body,"
                     " inbound_id, created) VALUES (?,?,?,?,?,?,?)",
                     (nonce, case_number, staff_email, commands, body, inbound_id, iso(at)))

    def use_held(self, conn: sqlite3.Connection, nonce: str, at: datetime) -> bool:
        """Mark held commands run; False when they were already used (never twice)."""
        cur = conn.execute("UPDATE held SET used=? WHERE nonce=? AND used IS NULL",
                           (iso(at), nonce))
        return cur.rowcount == 1

    def count_failure(self, conn: sqlite3.Connection, inbound_id: int, reason: str) -> bool:
        """Count one failed attempt at a pending message; True when that was the last
        one allowed (it is now quarantined, and the caller queues the notice in `conn`)."""
        cur = conn.execute("UPDATE inbound SET attempts=attempts+1, error=? WHERE id=?"
                           " AND state='pending'", (reason, inbound_id))
        if cur.rowcount == 0:
            return False  # another process recorded it meanwhile
        attempts = conn.execute("SELECT attempts FROM inbound WHERE id=?",
                                (inbound_id,)).fetchone()[0]
        if attempts < MAX_ATTEMPTS:
            return False
        conn.execute("UPDATE inbound SET state='quarantined' WHERE id=?", (inbound_id,))
        return True

    def case_correspondence(self, conn: sqlite3.Connection | None, number: int
                            ) -> list[dict[str, Any]]:
        """The case's messages, oldest first, each with the raw mail it arrived as."""
        sql = ("SELECT m.direction, m.sender, m.kind, m.body, m.date, m.recipients, i.raw"
               " FROM messages m LEFT JOIN inbound i ON i.id = m.inbound_id"
               " WHERE m.case_number=? ORDER BY m.id")
        if conn is None:
            return self.query(sql, (number,))
        cur = conn.execute(sql, (number,))
        cols = [c[0] for c in cur.description or ()]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    # --- the circuit breaker (issue 21: core/flood.py, flood_due.py)
    def arrivals_since(self, conn: sqlite3.Connection, kind: str, source: str | None,
                       since: datetime, who: str | None = None) -> int:
        """Counted mail of `kind` (from `source`; None: from anywhere; by `who`, when
        given) after `since`."""
        if source is None:
            return int(conn.execute("SELECT count(*) FROM arrivals WHERE kind=? AND at>?",
                                    (kind, iso(since))).fetchone()[0])
        return int(conn.execute("SELECT count(*) FROM arrivals WHERE kind=? AND source=?"
                                " AND at>? AND (? IS NULL OR who=?)",
                                (kind, source, iso(since), who, who)).fetchone()[0])

    def record_arrival(self, conn: sqlite3.Connection, *, at: datetime, kind: str,
                       source: str, case_number: int, held: str | None, who: str) -> None:
        conn.execute("INSERT INTO arrivals(at, kind, source, case_number, held, who)"
                     " VALUES (?,?,?,?,?,?)", (iso(at), kind, source, case_number, held, who))

    def held_arrivals(self) -> list[dict[str, Any]]:
        """Held mail not yet in a summary notice, oldest first."""
        return self.query("SELECT id, at, kind, case_number, held, who FROM arrivals"
                          " WHERE held IS NOT NULL AND summarised IS NULL ORDER BY at, id")

    def summarise_arrivals(self, conn: sqlite3.Connection, ids: list[int], at: datetime
                           ) -> bool:
        """Mark `ids` summarised; False when another process summarised one first."""
        marks = ",".join("?" * len(ids))
        cur = conn.execute(f"UPDATE arrivals SET summarised=? WHERE summarised IS NULL"
                           f" AND id IN ({marks})", (iso(at), *ids))
        return cur.rowcount == len(ids)

    def forget_arrivals(self, conn: sqlite3.Connection, before: datetime) -> None:
        """Drop rows older than `before` that no count or summary needs any more. A held
        report's row stays with its case (held_reports; expunge_case removes it)."""
        conn.execute("DELETE FROM arrivals WHERE at<? AND (held IS NULL OR (kind='followup'"
                     " AND summarised IS NOT NULL))", (iso(before),))

    def held_reports(self) -> frozenset[int]:
        """Cases opened by a report the circuit breaker held."""
        return frozenset(r["case_number"] for r in self.query(
            "SELECT case_number FROM arrivals WHERE kind='report' AND held IS NOT NULL"))

    # --- reminders (issue 14 part 3: nobody is left waiting)
    def reminders_sent(self) -> frozenset[tuple[int, str]]:
        """(case, key) of every reminder already queued for an open case."""
        rows = self.query("SELECT r.case_number, r.key FROM reminders r JOIN cases c"
                          " ON c.number=r.case_number WHERE c.status='open'")
        return frozenset((r["case_number"], r["key"]) for r in rows)

    def record_reminder(self, conn: sqlite3.Connection, case_number: int, key: str,
                        at: datetime) -> bool:
        """Claim a reminder inside the transaction that queues it; False if it was sent."""
        cur = conn.execute("INSERT OR IGNORE INTO reminders(case_number, key, sent)"
                           " VALUES (?,?,?)", (case_number, key, iso(at)))
        return cur.rowcount == 1

    def urgent_since(self) -> dict[int, datetime]:
        """When #urgent was last run on each open case that has it."""
        rows = self.query("SELECT a.case_number, max(a.at) AS at FROM audit a JOIN cases c"
                          " ON c.number=a.case_number WHERE a.action='urgent' AND"
                          " c.status='open' AND c.urgent=1 GROUP BY a.case_number")
        return {r["case_number"]: parse_iso(r["at"]) for r in rows if r["at"]}  # type: ignore[misc]

    def reporter_heard(self) -> dict[int, datetime]:
        """The last mail queued (not cancelled, not failed) to each open case's reporter."""
        reporters = {r["case_number"]: (r["email"] or "").lower() for r in self.query(
            "SELECT p.case_number, p.email FROM people p JOIN cases c ON c.number=p.case_number"
            " WHERE p.role='reporter' AND c.status='open' AND p.email IS NOT NULL")}
        out: dict[int, datetime] = {}
        for r in self.query("SELECT o.case_number, o.recipients, o.created FROM outbox o"
                            " JOIN cases c ON c.number=o.case_number WHERE c.status='open'"
                            " AND o.state IN ('pending', 'sent')"
                            " AND coalesce(o.role, '') NOT LIKE 's%'"):
            n = r["case_number"]
            to = [a.lower() for a in json.loads(r["recipients"] or "[]")]
            at = parse_iso(r["created"])
            if at is not None and reporters.get(n) in to and (n not in out or at > out[n]):
                out[n] = at
        return out



def _case_from_row(r: dict[str, Any], people: list[dict[str, Any]]) -> Case:
    """A Case from its `cases` row and its `people` rows (in id order)."""
    def of(role: str) -> tuple[Person, ...]:
        return tuple(Person(role, p["name"] or "", p["email"]) for p in people
                     if p["role"] == role)

    reporter = of("reporter")
    victim = of("victim")
    return Case(
        number=r["number"], opened=parse_iso(r["opened"]) or utcnow(), status=r["status"],
        subject=r["subject"] or "", urgent=bool(r["urgent"]),
        reporter=reporter[0] if reporter else None,
        reporter_anonymous=bool(r["reporter_anonymous"]),
        victim=victim[0] if victim else None,
        victim_is_reporter=bool(r["victim_is_reporter"]),
        accused=of("accused"), witnesses=of("witness"),
        when=r["when_text"], where=r["where_text"], summary=r["summary"],
        action=r["action"], outcome=r["outcome"], others=r["others"],
        received_by=r["received_by"], handlers=tuple(json.loads(r["handlers"])),
        recused=tuple(json.loads(r["recused"])),
        named=tuple(json.loads(r["named"])), included=tuple(json.loads(r["included"])),
        steps=tuple((s, parse_iso(r[s])) for s in STEPS),
        dsf_hold_until=parse_iso(r["dsf_hold_until"]), report_text=r["report_text"] or "",
        root_message_id=r["root_message_id"], last_activity=parse_iso(r["last_activity"]),
        last_staff_action=parse_iso(r["last_staff_action"]),
        event=r["event"], public_summary=r["public_summary"],
        accused_side=r["accused_side"], forged_sender=r["forged_sender"],
        response=r["response"],
    )


def _live_cases_where(include_closed: bool, events: list[str] | None,
                      since: datetime | None) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its parameters) of Store.load_cases."""
    where, params = ["purged IS NULL"], []
    if not include_closed:
        where.append("status='open'")
    if events is not None:
        where.append(f"event IN ({','.join('?' for _ in events) or 'NULL'})")
        params += events
    if since is not None:
        # A superset of what digest_context shows: seconds are truncated, so a case of
        # the first second of the period is loaded and the digest itself decides.
        # One indexed look-up per reason (migration 7); an OR of them would read every case.
        where.append("number IN (SELECT number FROM cases WHERE status='open'"
                     " UNION SELECT number FROM cases WHERE opened>=?"
                     " UNION SELECT number FROM cases WHERE closed>=?"
                     " UNION SELECT number FROM cases WHERE decision IS NOT NULL"
                     " AND dsf_reported IS NULL)")
        params += [iso(since), iso(since)]
    return " AND ".join(where), tuple(params)


def _in_case_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """People rows from several look-ups: each once, by case number then people id."""
    unique = {r["id"]: r for r in rows}
    return sorted(unique.values(), key=lambda r: (r["number"], r["id"]))


def _inbound_row(raw: bytes, source: str, folder: str | None, uidvalidity: int | None,
                 uid: int | None) -> tuple[Any, ...]:
    """An inbound row's values; the hashing (two passes over up to 25 MB) happens here,
    before the write lock is taken."""
    from ..core.message import body_sha256, sha256_hex

    return (iso(utcnow()), source, folder, uidvalidity, uid, quick_message_id(raw),
            sha256_hex(raw), body_sha256(raw), len(raw), raw)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
