"""`cocmail backup DIR`: the database, the secret key and the key store, consistent,
while the daemon runs; the data and the keys as separate files (README, "Keys and
backups": keep data as long as you like, keys only for a short window).

Copying `cocmail.db` with cp is not a backup: in WAL mode the recent commits live in
`cocmail.db-wal` until a checkpoint, so a copy of the main file alone may hold no
tables at all. SQLite's online backup API copies a consistent snapshot instead, and
the copy is written as a self-contained file (no WAL). The secret key goes along:
without it, replies to mail cocmail sent earlier no longer match their case.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import UserError, refuse_root_in_foreign_storage
from .store import backup_database, check_copy


class BackupError(UserError):
    """The backup could not be made; the message says why."""


@dataclass(frozen=True)
class Backup:
    database: Path
    secret: Path | None
    cases: int
    keys: Path | None = None  # the key store, apart (issue 27); None: not sealed


def make_backup(cfg: Config, directory: Path) -> Backup:
    refuse_root_in_foreign_storage(cfg.storage.dir)  # its -wal and -shm would be root's
    db = cfg.storage.db_path
    if not db.exists():
        raise BackupError(f"there is no database at {db} to back up")
    _keys_there(cfg)  # before anything is written: no data backup without its keys
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = directory / db.name
    if target.exists():
        raise BackupError(f"{target} exists already: back up into a new directory")
    # Read-only: a backup must never create, migrate or change the database it copies.
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        backup_database(source, target)
    except sqlite3.Error as e:
        raise BackupError(f"cannot copy {db}: {e}") from e
    finally:
        source.close()
    ok, cases = check_copy(target)
    if ok != "ok":
        target.unlink()
        raise BackupError(f"the copy of {db} failed SQLite's integrity check: {ok}")
    secret = None
    if cfg.storage.secret_path.exists():
        secret = directory / cfg.storage.secret_path.name
        data = cfg.storage.secret_path.read_bytes()
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Backup(target, secret, int(cases), _backup_keys(cfg, directory))


def _keys_there(cfg: Config) -> None:
    from .keyring import keyring_for
    from .store.connection import sealed_database

    if sealed_database(cfg.storage.db_path) is None:
        return  # a plaintext database: no keys to need (and none made here)
    keyring = keyring_for(cfg.storage)  # refuses a sealed database without its keys
    if keyring is not None:
        keyring.close()


def _backup_keys(cfg: Config, directory: Path) -> Path | None:
    """The key store as a file of its own, carrying the key-encryption key it needs:
    one key backup restores on its own, and deleting it after the key window is what
    makes a purged case unreadable in every older data backup."""
    from .keyring import keyring_for
    from .store.connection import sealed_database

    if sealed_database(cfg.storage.db_path) is None and not cfg.storage.keys_path.exists():
        return None  # nothing sealed, no keys: a plaintext installation
    keyring = keyring_for(cfg.storage)  # a sealed database without its keys: refused
    if keyring is None:
        return None
    target = directory / cfg.storage.keys_path.name
    try:
        keyring.backup_to(target)
    finally:
        keyring.close()
    return target
