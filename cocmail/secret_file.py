"""The installation's secret key file and private files: created mode 0600, kept so.

The key signs every token in cocmail's Message-IDs and reply addresses; it lives beside
the database (never in it) and goes into backups with it.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from .errors import UserError

SECRET_MIN_BYTES = 32  # a hex key of at least 128 bits: anything shorter is damaged
# How long a reader waits for a key still being written (only where there are no hard
# links); a key still short after this is damaged.
CREATE_WAIT_SECONDS = 1.0
CREATE_WAIT_STEPS = 20


class SecretKeyError(UserError):
    """secret.key exists but cannot be the key cocmail wrote."""


def touch_private(path: Path) -> None:
    """Create `path` mode 0600 if missing and force that mode if present."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def load_or_create_secret(path: Path) -> bytes:
    """The installation's HMAC key: 32 random bytes, generated once, mode 0600.

    The daemon, `ingest` and `run --once` may all start at once on a new storage dir.
    The key is written whole to a file of its own and then linked into place (atomic,
    refused if another process got there first), so nobody reads a half-written key,
    and the loser reads the winner's. Where the file system has no hard links (vfat,
    some network mounts) the key is created in place, and a reader that finds it still
    short waits a moment for its writer.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        _create(path, secrets.token_hex(32).encode())
    data = path.read_bytes().strip()
    for _ in range(CREATE_WAIT_STEPS):
        if len(data) >= SECRET_MIN_BYTES:
            break
        time.sleep(CREATE_WAIT_SECONDS / CREATE_WAIT_STEPS)  # its writer may be at it
        data = path.read_bytes().strip()
    if len(data) < SECRET_MIN_BYTES:
        raise SecretKeyError(f"{path}: secret key is too short; "
                             "delete it only if no mail is pending")
    os.chmod(path, 0o600)
    return data


def create_private(path: Path, data: bytes) -> None:
    """Write `data` to a new file `path` (mode 0600) atomically; when another process
    made it first, theirs stays (the caller reads it back)."""
    _create(path, data)


def replace_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` (mode 0600) atomically and durably: a reader sees the
    old file or the new one, never half of either."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        _write_synced(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), data)
        os.replace(draft, path)
        _sync_dir(path.parent)
    finally:
        draft.unlink(missing_ok=True)


def _create(path: Path, key: bytes) -> None:
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        _write_synced(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), key)
        try:
            os.link(draft, path)
        except FileExistsError:
            return  # another process made the key first: theirs is the key
        except OSError:  # no hard links here: create it in place, first one wins
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            _write_synced(fd, key)
        _sync_dir(path.parent)  # the key must outlive a power cut, like the mail it signs
    finally:
        draft.unlink(missing_ok=True)


def _write_synced(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory
    finally:
        os.close(fd)
