"""The key store `cocmail.keys` (issue 27): wrapped data keys in a SQLite file of its
own, never in the database's pages, so `cocmail backup` can write data and keys as
separate files kept for different lengths of time (README, "Keys and backups").

secure_delete is on and a deletion is followed by a checkpoint: a destroyed key must
not linger in a free page or in the WAL. The crypto is keyring.py's; this is only its
SQL, each function taking the connection first.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..secret_file import touch_private

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS data_keys (id BLOB PRIMARY KEY, kek TEXT NOT NULL,"
    " wrapped BLOB NOT NULL)",
)
# Present only in a key backup: the KEK it was wrapped with, so the one file restores.
_EMBEDDED = "CREATE TABLE IF NOT EXISTS keks (id TEXT PRIMARY KEY, key BLOB NOT NULL)"


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    touch_private(path)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30,
                           isolation_level=None)  # transactions by write_lock
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=ON")
    for statement in _SCHEMA:
        conn.execute(statement)
    for suffix in ("-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            os.chmod(p, 0o600)
    return conn


def store_id(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
    return row[0] if row else None


@contextmanager
def write_lock(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction taken at once (BEGIN IMMEDIATE): what is read inside it
    (the KEK file, whether the store has an id) cannot change until it commits."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a full disk's COMMIT has rolled back already; a second
            conn.execute("ROLLBACK")  # ROLLBACK would hide "database or disk is full"
        raise


def initialise(conn: sqlite3.Connection, new_id: str, index_key: tuple[bytes, str, bytes]
               ) -> None:
    """Give a new key store its id and its index key, once: under the write lock, so of
    two processes starting on a new storage dir, the second finds the first's."""
    with write_lock(conn):
        if store_id(conn) is None:
            conn.execute("INSERT INTO meta VALUES ('store_id', ?)", (new_id,))
            add_keys(conn, [index_key])


def add_keys(conn: sqlite3.Connection, keys: list[tuple[bytes, str, bytes]]) -> None:
    """(key id, KEK id, wrapped key) rows."""
    conn.executemany("INSERT INTO data_keys(id, kek, wrapped) VALUES (?,?,?)", keys)


def wrapped_key(conn: sqlite3.Connection, kid: bytes) -> tuple[str, bytes] | None:
    row = conn.execute("SELECT kek, wrapped FROM data_keys WHERE id=?", (kid,)).fetchone()
    return (row[0], row[1]) if row else None


def kek_ids(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT DISTINCT kek FROM data_keys")}


def all_keys(conn: sqlite3.Connection) -> list[tuple[bytes, str, bytes]]:
    return [(r[0], r[1], r[2]) for r in conn.execute("SELECT id, kek, wrapped FROM data_keys")]


def key_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM data_keys").fetchone()[0])


def rewrap(conn: sqlite3.Connection, keys: list[tuple[bytes, str, bytes]]) -> None:
    conn.executemany("UPDATE data_keys SET kek=?, wrapped=? WHERE id=?",
                     [(kek, wrapped, kid) for kid, kek, wrapped in keys])


def delete_keys(conn: sqlite3.Connection, ids: Iterable[bytes]) -> int:
    """Delete these keys; when any was there, count one more shredding (`shredded`)."""
    gone = 0
    for kid in ids:
        gone += conn.execute("DELETE FROM data_keys WHERE id=?", (kid,)).rowcount
    if gone:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('shredded', ?)",
                     (str(shredded(conn) + 1),))
    return gone


def shredded(conn: sqlite3.Connection) -> int:
    """How many times keys were destroyed: a database that saw fewer (a restored
    backup) may hold cases whose keys are gone (store/sealed.py, cases_without_keys)."""
    row = conn.execute("SELECT value FROM meta WHERE key='shredded'").fetchone()
    return int(row[0]) if row else 0


def key_ids(conn: sqlite3.Connection) -> set[bytes]:
    return {bytes(r[0]) for r in conn.execute("SELECT id FROM data_keys")}


def embedded_keks(conn: sqlite3.Connection) -> dict[str, bytes]:
    """The KEKs a restored key backup carries (none in a live key store)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='keks'").fetchone():
        return {}
    return {r[0]: bytes(r[1]) for r in conn.execute("SELECT id, key FROM keks")}


def drop_embedded_keks(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS keks")


def checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def compact(conn: sqlite3.Connection) -> None:
    checkpoint(conn)
    conn.execute("VACUUM")
    checkpoint(conn)


def backup(conn: sqlite3.Connection, target: Path, keks: dict[str, bytes]) -> bool:
    """A self-contained copy at `target` (0600): the keys, and the KEKs they need.
    False (nothing written) when a key in the copy is wrapped by none of `keks`."""
    from .connection import backup_database

    def embed(dest: sqlite3.Connection) -> bool:
        with dest:
            dest.execute(_EMBEDDED)
            dest.executemany("INSERT OR REPLACE INTO keks VALUES (?,?)", list(keks.items()))
        return not kek_ids(dest) - set(keks)  # a rotation may have run meanwhile

    return backup_database(conn, target, finish=embed)



def read_only(path: Path) -> sqlite3.Connection:
    """A look at the key store that creates and changes nothing (`cocmail check`, which
    may run as root on a storage dir the service user owns)."""
    from .connection import read_only as look

    return look(path)
