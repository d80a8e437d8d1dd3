"""cocmail's error family, for the shell: user, operational and message errors.

The classes are defined in `cocmail.core.errors` (core modules raise them too) and
re-exported here, so that library modules (views, backup) can raise a UserError
without importing the command line. What each kind leads to:

- `UserError` (bad config, unknown case, a second `cocmail run`): answered; CLI exit 1.
- `OperationalError` (database locked, SMTP/IMAP down, a broken template): retried,
  never counted toward a quarantine; CLI exit 75 (EX_TEMPFAIL).
- `MessageError` (unparseable mail, over the size cap): counted toward quarantine.

Any other exception is a bug; on an inbound message it counts like a MessageError
(poison mail must never stop the daemon).
"""

from __future__ import annotations

from .core.errors import MessageError, OperationalError, UserError

__all__ = ["MessageError", "OperationalError", "UserError", "as_operational",
           "refuse_root_in_foreign_storage"]

def as_operational(error: BaseException) -> OperationalError | None:
    """`error` as an OperationalError when it is one in all but name, else None.

    sqlite3's OperationalError ("database is locked", "disk I/O error", "database or
    disk is full") comes from the library, not from us, and says nothing about the
    message being handled.
    """
    import sqlite3  # here, not at the top: `cocmail --help` imports this module

    if isinstance(error, OperationalError):
        return error
    if isinstance(error, sqlite3.OperationalError):
        return OperationalError(f"database: {error}")
    return None


def refuse_root_in_foreign_storage(directory: object) -> None:
    """Root may not write into a storage dir that another user (the service's) owns.

    Run as root by mistake (`sudo cocmail cases list`, a backup from root's crontab),
    any command would leave root-owned files behind (the database on first use, its
    -wal and -shm, `secret.key`, the spool) that the service, running as its own user,
    can then no longer open. The command says whose the dir is instead.
    """
    import os
    import pwd
    from pathlib import Path

    d = Path(str(directory))
    if os.geteuid() != 0 or not d.exists():
        return
    uid = d.stat().st_uid
    if uid == 0:
        return
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        owner = f"uid {uid}"
    raise UserError(f"{d} belongs to {owner}, and this is root: run cocmail as {owner}"
                    f" (runuser -u {owner} -- cocmail ...), so that the files it writes"
                    " there stay usable by the service")
