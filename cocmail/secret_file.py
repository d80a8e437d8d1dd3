"""The installation's secret key file and private files: created mode 0600, kept so.

The key signs every token in cocmail's Message-IDs and reply addresses; it lives beside
the database (never in it) and goes into backups with it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import UserError

SECRET_MIN_BYTES = 32  # a hex key of at least 128 bits: anything shorter is damaged


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
    refused if another process got there first), so nobody ever reads a half-written
    key, and the loser reads the winner's.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        _create(path, secrets.token_hex(32).encode())
    data = path.read_bytes().strip()
    if len(data) < SECRET_MIN_BYTES:
        raise SecretKeyError(f"{path}: secret key is too short; "
                             "delete it only if no mail is pending")
    os.chmod(path, 0o600)
    return data


def _create(path: Path, key: bytes) -> None:
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made the key first: theirs is the key
    finally:
        draft.unlink(missing_ok=True)
