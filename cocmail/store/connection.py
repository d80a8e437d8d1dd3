"""The database connection: opening, migrating, transactions, backups and compaction.

Durability is the point: raw mail is written and committed before anything
acknowledges it (IMAP progress, SMTP 250, `ingest` exit 0), and every case change
is committed in the same transaction as its audit entries and its outgoing mail.
WAL with synchronous=FULL keeps each commit on disk. Files are created mode 0600.

`Store` owns the one connection and its lock and nothing else: what is kept in the
tables is read and written by the functions of the family modules beside this one
(cases, inbound, outbox, people, proposals), each taking the connection first.
A caller runs them through `Store.read` (under the lock, waiting out another
process's write) or `Store.write` / `Store.tx` (one write transaction).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..clock import parse_iso
from ..core.errors import UserError
from ..secret_file import touch_private
from .migrations import LATEST, SchemaError, apply, pending, refuse_newer, version_of
from .sealed import (
    SealedConnection,
    Sealer,
    plaintext_values,
    seal_everything,
    sealed_with,
    unsealing_rows,
)

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger("cocmail.store")
BUSY_TIMEOUT = 30.0  # seconds a write waits for another connection (a CLI command, the courier)


class StoreError(UserError):
    """The database cannot be opened or written."""


def rows(conn: sqlite3.Connection, sql: str, params: tuple | dict = ()
         ) -> list[dict[str, Any]]:
    """Every row of `sql` as a dict keyed by column name."""
    cur = conn.execute(sql, params)
    cols = [c[0] for c in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def value(conn: sqlite3.Connection, sql: str, params: tuple | dict = ()) -> Any:
    """The first column of the first row of `sql`; None when there is no row."""
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def required_time(text: str | None, what: str) -> datetime:
    """A time the schema says is always there (NOT NULL); a row without one is damage."""
    at = parse_iso(text)
    if at is None:
        raise StoreError(f"the database has no {what}: restore it from a backup")
    return at


def backup_database(conn: sqlite3.Connection, target: Path, *,
                    finish: Callable[[sqlite3.Connection], bool] | None = None) -> bool:
    """A consistent copy of the open database `conn` at `target` (mode 0600).

    SQLite's online backup API copies page by page under a read transaction, so the
    copy holds everything committed, WAL included, while the daemon goes on writing.
    Written to a temporary name and renamed, so a half-written copy never looks whole.
    `finish` may complete the copy before it is renamed, or refuse it (False: nothing
    is written, and False is returned).
    """
    # A name of this process's own: another process making the same copy at the same
    # moment must not unlink the file this one is writing (it then fails "disk I/O").
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    dest = sqlite3.connect(str(tmp))
    try:
        conn.backup(dest)
        whole = finish(dest) if finish is not None else True
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        dest.close()
    if not whole:
        tmp.unlink()
        return False
    os.replace(tmp, target)
    return True


def check_copy(path: Path) -> tuple[str, int]:
    """(SQLite's integrity verdict, "ok" when whole; the number of cases) of a backup copy,
    read-only."""
    copy = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ok = copy.execute("PRAGMA integrity_check").fetchone()[0]
        return ok, int(copy.execute("SELECT count(*) FROM cases").fetchone()[0])
    finally:
        copy.close()


def _holds_data(conn: sqlite3.Connection) -> bool:
    """Whether the database holds any mail or case: a new database that another process
    is migrating right now (its version between 0 and the latest) needs no copy."""
    return bool(value(conn, "SELECT EXISTS (SELECT 1 FROM inbound) OR EXISTS"
                            " (SELECT 1 FROM cases)"))


def writable_schema_version(conn: sqlite3.Connection) -> int:
    """The schema version of the database `conn` opened, after proving a write lock can
    be taken (`cocmail check`): nothing is written."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("ROLLBACK")
    return version_of(conn)


def _waiting_for_writer(statement: Callable[[], T]) -> T:
    """Run `statement`, waiting while another connection writes, in short steps.

    The connections are opened with no busy timeout and wait here instead: SQLite's own
    busy handler sleeps 1, 2, 5, 10... ms between tries, while the worker and the
    courier (two connections of one daemon) each hold the write lock for about a
    millisecond, so those sleeps, not the work, would set the courier's pace
    (bench/README.md has the profile). Here the wait starts at 0.1 ms and doubles up to
    2 ms, for BUSY_TIMEOUT in all (measured on the monotonic clock, which says how long,
    never what time it is).
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


def read_only(path: Path) -> sqlite3.Connection:
    """A look at a WAL database that writes nothing, not even SQLite's `-shm` (`cocmail
    check` may run as root on the service user's files): without a `-wal` file the main
    file holds everything, and is opened immutable."""
    immutable = "" if Path(f"{path}-wal").exists() else "&immutable=1"
    return sqlite3.connect(f"file:{path}?mode=ro{immutable}", uri=True, timeout=BUSY_TIMEOUT)


def sealed_database(path: Path, *, look: bool = False) -> str | None:
    """The id of the key store the database at `path` is sealed with; None when it is
    not sealed (or not there yet). Read-only: asked before the key store is opened;
    with `look` (`cocmail check`), through `read_only`, which creates no file."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        conn = read_only(path) if look else sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
                return None
            return sealed_with(conn)
        finally:
            conn.close()
    except sqlite3.OperationalError:
        raise  # a full disk, a lock: named as such by the caller (errors.as_operational)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open database {path}: {e}") from e


def unsealed_count(path: Path) -> int:
    """How many personal values in the database at `path` are in plaintext (read-only)."""
    conn = read_only(path)
    try:
        return plaintext_values(conn)
    finally:
        conn.close()


class Store:
    """One SQLite database. Thread-safe by a lock: the daemon's threads share it.

    With a `keyring` (keyring.py), personal data is sealed as it is written and
    unsealed as it is read (store/sealed.py), and a database not yet sealed is sealed
    when it is opened."""

    def __init__(self, path: Path, *, synchronous: str = "FULL",
                 keyring: Sealer | None = None):
        self.path = path
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            touch_private(path)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=0,  # waits in _waiting_for_writer
                                   factory=SealedConnection)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open database {path}: {e}") from e
        assert isinstance(conn, SealedConnection)
        conn.keyring = keyring
        if keyring is not None:
            conn.row_factory = unsealing_rows(keyring)
        self.conn = conn
        self.keyring = keyring
        self.just_sealed = False  # sealed on this opening: the caller seals its files too
        self.lock = threading.RLock()
        _waiting_for_writer(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")  # purged names must not linger in free pages
        self._migrate()
        if keyring is not None:
            self._seal(keyring)
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
            refuse_newer(version, self.path)
        except SchemaError as e:
            raise StoreError(str(e)) from None
        todo = pending(version)
        kept = self.path.with_name(f"{self.path.name}.before-v{LATEST}")
        if todo and version > 0 and not kept.exists() and self.read(_holds_data):
            # Never replaced: a second process opening the same old database at the same
            # moment must not overwrite the copy with an already upgraded one.
            backup_database(self.conn, kept)
        for target in todo:
            with self.tx() as c:
                # Checked again under the write lock: another process may have migrated.
                if version_of(c) >= target:
                    continue
                apply(c, target)

    def _seal(self, keyring: Sealer) -> None:
        """Seal a database written in plaintext (an upgrade, or `[storage] encryption`
        turned on), verify that no plaintext value is left, then remove the plaintext
        copies: the `before-v<N>` copies of earlier upgrades and the free pages and WAL
        frames that held the old values. A database sealed with another key store is
        refused: its records could not be read."""
        have = self.read(sealed_with)
        if have == keyring.store_id:
            return
        if have is not None:
            raise StoreError(f"{self.path} is sealed with another key store than the one in"
                             f" {self.path.parent}: restore the cocmail.keys that belongs"
                             " to it (README, \"Keys and backups\")")
        todo = 0
        with self.tx() as c:
            if sealed_with(c) is None:  # another process may have sealed it meanwhile
                todo = plaintext_values(c)
                if todo:  # a long run on a big database: say what it is doing
                    log.info("sealing %s: encrypting its %d personal values, once",
                             self.path.name, todo)
                seal_everything(c, keyring.store_id)
                left = plaintext_values(c)
                if left:
                    raise StoreError(f"sealing {self.path} left {left} values in"
                                     " plaintext: nothing was changed")
        for copy in self.path.parent.glob(f"{self.path.name}.before-v*"):
            copy.unlink(missing_ok=True)  # plaintext: the sealed database replaces it
        if todo:  # the old values' pages and WAL frames go (a new database has none)
            self.compact()
        self.just_sealed = True

    def _schema_version(self) -> int:
        try:
            return self.read(version_of)
        except SchemaError as e:
            raise StoreError(f"{self.path}: {e}") from None

    def close(self) -> None:
        with self.lock:
            self.conn.close()
            if self.keyring is not None:
                self.keyring.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), rolled back on error."""
        with self.lock:
            _waiting_for_writer(lambda: self.conn.execute("BEGIN IMMEDIATE"))
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

    def read(self, look: Callable[Concatenate[sqlite3.Connection, P], T],
             *args: P.args, **kwargs: P.kwargs) -> T:
        """`look(conn, *args, **kwargs)` under the lock, as of now (or inside the
        transaction this thread has open). Tried again while another process writes:
        a look-up only reads, so running it twice is harmless."""
        with self.lock:
            return _waiting_for_writer(lambda: look(self.conn, *args, **kwargs))

    def write(self, change: Callable[Concatenate[sqlite3.Connection, P], T],
              *args: P.args, **kwargs: P.kwargs) -> T:
        """`change(conn, *args, **kwargs)` in a write transaction of its own."""
        with self.tx() as c:
            return change(c, *args, **kwargs)

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        """Rows of `sql` as dicts: for tests and benchmarks that look at the tables."""
        return self.read(rows, sql, params)

    def scalar(self, sql: str, params: tuple | dict = ()) -> Any:
        """The one value `sql` selects (None: no row): for tests and benchmarks."""
        return self.read(value, sql, params)

    def compact(self) -> None:
        """Rewrite the file and empty the WAL so expunged text leaves no trace on disk."""
        with self.lock:
            self.checkpoint()
            _waiting_for_writer(lambda: self.conn.execute("VACUUM"))
            self.checkpoint()

    def checkpoint(self, attempts: int = 50) -> None:
        """TRUNCATE checkpoint; retried while another process (the daemon) holds a reader."""
        with self.lock:
            for _ in range(attempts):
                busy = _waiting_for_writer(
                    lambda: self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")).fetchone()[0]
                if not busy:
                    return
                time.sleep(0.1)
        raise StoreError("could not empty the WAL: another cocmail process keeps it busy; "
                         "stop the daemon and run the purge again")
