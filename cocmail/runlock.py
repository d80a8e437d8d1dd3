"""One `cocmail run` per storage dir: an exclusive lock held for the daemon's lifetime.

Two daemons on one storage dir would both fetch and process the same mail and both
deliver the outbox. The lock is `flock(2)` on `<storage>/run.lock`: the kernel drops it
when the process dies however it dies (kill -9 included), so a stale lock file never
blocks a restart. The holder's pid is written into the file so that the second daemon
can say who holds it. CLI commands and `ingest` do not take it: they may run beside the
daemon (every message and every outgoing mail is claimed atomically in the database).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .core.errors import UserError

LOCK_NAME = "run.lock"


class AlreadyRunning(UserError):
    """Another `cocmail run` holds the storage dir."""


class RunLock:
    def __init__(self, storage_dir: Path):
        self.path = storage_dir / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(f"another `cocmail run` (pid {holder}) is already using "
                                 f"{self.path.parent}; stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor drops the lock
            self.fd = None
