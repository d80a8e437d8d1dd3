"""Two connections to one database: the daemon's worker and courier, or a CLI command.

Each waits for the other's write instead of failing, for up to BUSY_TIMEOUT, and says
"database is locked" after that.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cocmail.store import Store, connection
from cocmail.store import inbound as inbound_db
from cocmail.store import outbox as outbox_db


def hold_write_lock(path: Path, seconds: float, holding: threading.Event) -> threading.Thread:
    """Another connection holding SQLite's write lock for `seconds`."""

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO meta VALUES ('held by', 'another connection')")
        holding.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_a_write_waits_for_another_connections_write(tmp_path: Path) -> None:
    s = Store(tmp_path / "c.db")
    holding = threading.Event()
    thread = hold_write_lock(s.path, 0.3, holding)
    holding.wait()
    started = time.monotonic()
    with s.tx() as c:
        c.execute("INSERT INTO meta VALUES ('mine', 'x')")
    waited = time.monotonic() - started
    thread.join()
    assert waited >= 0.2
    assert s.scalar("SELECT value FROM meta WHERE key='held by'") == "another connection"
    assert s.scalar("SELECT value FROM meta WHERE key='mine'") == "x"
    s.close()


def test_a_write_gives_up_after_the_busy_timeout(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    s = Store(tmp_path / "c.db")
    monkeypatch.setattr(connection, "BUSY_TIMEOUT", 0.1)
    holding = threading.Event()
    thread = hold_write_lock(s.path, 1.0, holding)
    holding.wait()
    with pytest.raises(sqlite3.OperationalError, match="locked"), s.tx():
        pass
    thread.join()
    s.close()


def test_the_delivery_connection_commits_without_waiting_for_the_disk(tmp_path: Path) -> None:
    full = Store(tmp_path / "c.db")
    normal = Store(tmp_path / "c.db", synchronous="NORMAL")
    assert full.scalar("PRAGMA synchronous") == 2  # FULL
    assert normal.scalar("PRAGMA synchronous") == 1  # NORMAL
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        Store(tmp_path / "c.db", synchronous="OFF")
    full.close()
    normal.close()


def test_a_write_that_fails_halfway_leaves_nothing_behind(tmp_path: Path) -> None:
    """`Store.write` runs a change in one transaction: a mail stored and then an error
    (a full disk, a bug) leaves no half of it for the pipeline to find."""
    s = Store(tmp_path / "c.db")
    at = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)

    def store_then_fail(conn: sqlite3.Connection) -> None:
        inbound_db.add_inbound(conn, inbound_db.Arrived.of(b"Subject: hi\r\n\r\nhello",
                                                           "test", at))
        raise OSError("no space left on device")

    with pytest.raises(OSError, match="no space"):
        s.write(store_then_fail)
    assert s.read(inbound_db.pending_inbound) == []
    assert s.write(inbound_db.add_inbound, inbound_db.Arrived.of(b"hello", "test", at)) == 1
    assert s.read(inbound_db.pending_inbound) == [1]
    s.close()


def test_the_store_keeps_the_times_it_is_given(tmp_path: Path) -> None:
    """The store never reads the clock: when mail arrived and when it was sent are the
    times its callers passed, so a frozen clock (a test, the demo) is the clock
    everywhere, and `cocmail quarantine list` shows when the mail really came."""
    s = Store(tmp_path / "c.db")
    came, sent = datetime(2026, 5, 1, 9, 30, tzinfo=UTC), datetime(2026, 5, 1, 9, 31, tzinfo=UTC)
    inbound_id = s.write(inbound_db.add_inbound,
                         inbound_db.Arrived.of(b"Subject: hi\r\n\r\nhello", "smtp", came))
    assert inbound_id is not None
    with s.tx() as c:
        oid = outbox_db.enqueue(c, case_number=None, kind="ack", role="r",
                                message_id="a1@x", sender="conduct@example.org",
                                recipients=["ana@example.org"], subject="ack", raw=b"x",
                                now=came)
        outbox_db.outbox_sent(c, oid, sent)
    row = s.read(inbound_db.inbound, inbound_id)
    assert row is not None and row["received_at"] == "2026-05-01T09:30:00+00:00"
    assert s.scalar("SELECT sent FROM outbox WHERE id=?", (oid,)) == "2026-05-01T09:31:00+00:00"
    s.close()


def _key_at_the_barrier(path: str, barrier, out) -> None:  # type: ignore[no-untyped-def]
    from cocmail.secret_file import load_or_create_secret

    barrier.wait()
    try:
        out.put(load_or_create_secret(Path(path)))
    except Exception as e:  # noqa: BLE001 - reported to the test
        out.put(f"{type(e).__name__}: {e}")


def test_processes_starting_together_on_a_new_storage_dir_share_one_key(tmp_path: Path
                                                                        ) -> None:
    """The daemon and `ingest` started at once on a new dir: one read a key another was
    still writing ("secret key is too short") and its mail was refused."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    for attempt in range(25):
        path = tmp_path / f"dir{attempt}" / "secret.key"
        barrier, out = fork.Barrier(6), fork.Queue()
        procs = [fork.Process(target=_key_at_the_barrier, args=(str(path), barrier, out))
                 for _ in range(6)]
        for p in procs:
            p.start()
        keys = [out.get(timeout=30) for _ in procs]
        for p in procs:
            p.join()
        assert len(set(keys)) == 1, keys
        assert isinstance(keys[0], bytes) and len(keys[0]) == 64
        assert sorted(f.name for f in path.parent.iterdir()) == ["secret.key"]
        assert path.stat().st_mode & 0o777 == 0o600


def test_a_key_is_made_where_the_file_system_has_no_hard_links(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """vfat and some network mounts refuse os.link: the key is then created in place."""
    import errno
    import os

    from cocmail import secret_file

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "data" / "secret.key"
    key = secret_file.load_or_create_secret(path)
    assert len(key) == 64 and secret_file.load_or_create_secret(path) == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.key"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_new_database_half_migrated_by_another_process_gets_no_copy(tmp_path: Path) -> None:
    """Two processes start on a new storage dir: the second finds the schema part way
    (the first migrates it, a transaction per version). With no mail or case in it, it
    is not copied to `before-v<N>`: two processes copying at once failed "disk I/O"."""
    import sqlite3

    from cocmail.store.migrations import apply

    db = tmp_path / "cocmail.db"
    conn = sqlite3.connect(db, isolation_level=None)
    apply(conn, 1)
    conn.close()
    Store(db).close()
    assert not list(tmp_path.glob("cocmail.db.before-v*"))


def test_two_copies_of_one_database_at_once_both_succeed(tmp_path: Path) -> None:
    import sqlite3
    import threading

    from cocmail.store import backup_database

    store = Store(tmp_path / "cocmail.db")
    errors: list[BaseException] = []

    def copy() -> None:
        try:
            src = sqlite3.connect(tmp_path / "cocmail.db")
            for _ in range(20):
                (tmp_path / "copy.db").unlink(missing_ok=True)
                backup_database(src, tmp_path / "copy.db")
            src.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=copy) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert errors == []
