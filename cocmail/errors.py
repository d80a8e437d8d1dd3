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

__all__ = ["NO_SPACE", "MessageError", "NoSpace", "OperationalError", "UserError",
           "as_operational", "is_disk_full", "os_error_text",
           "refuse_root_in_foreign_storage"]

NO_SPACE = "no space left on the storage dir"
# SQLite's extended result code (SQLITE_IOERR | 19 << 8); the sqlite3 module of
# Python 3.11 does not name it.
SQLITE_IOERR_SHMSIZE = 4874


class NoSpace(OperationalError):
    """The storage dir's filesystem is full: the database or the spool cannot grow.

    Named as what it is, one line, because the messages underneath say it badly
    (SQLite's "database or disk is full", or, after SQLite rolled back on its own,
    "cannot rollback - no transaction is active"). Nothing is lost meanwhile: the
    listener answers 451 and mail stays pending; it all goes on once there is room.
    """

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{NO_SPACE} ({detail}): free some space there" if detail
                         else f"{NO_SPACE}: free some space there")


def as_operational(error: BaseException) -> OperationalError | None:
    """`error` as an OperationalError when it is one in all but name, else None.

    sqlite3's OperationalError ("database is locked", "disk I/O error", "database or
    disk is full") comes from the library, not from us, and says nothing about the
    message being handled. A full disk, from SQLite or from a file write (ENOSPC,
    EDQUOT), is a NoSpace.
    """
    import sqlite3  # here, not at the top: `cocmail --help` imports this module

    if isinstance(error, OperationalError):
        return error
    if is_disk_full(error):
        return NoSpace(_first_line(error))
    if isinstance(error, sqlite3.OperationalError):
        return OperationalError(f"database: {error}")
    return None


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` says the filesystem (or the user's quota) is full."""
    import errno
    import sqlite3

    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        # SQLITE_IOERR_SHMSIZE: the -shm file could not grow, which is what opening a
        # database on a full filesystem says ("disk I/O error") when no -shm was left.
        return (code is not None and (code & 0xFF == sqlite3.SQLITE_FULL
                                      or code == SQLITE_IOERR_SHMSIZE)) \
            or "disk is full" in str(error)
    return False


def os_error_text(error: OSError) -> str:
    """An OSError as one line that names the path and, for a refusal, the user: commands
    run as the service user (`runuser -u cocmail`), who may not write where root may
    (`report -o /root/report.csv` said only "[Errno 13] Permission denied")."""
    import errno
    import os
    import pwd

    if not error.filename:
        return str(error)
    text = f"{error.filename}: {error.strerror or error}"
    if error.errno in (errno.EACCES, errno.EPERM):
        try:
            user = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            user = f"uid {os.geteuid()}"
        text += f" (this command runs as {user}: choose a path {user} may use)"
    return text


def _first_line(error: BaseException) -> str:
    import sqlite3

    if isinstance(error, OSError):
        return f"{error.strerror}: {error.filename}" if error.filename else str(error.strerror)
    return f"database: {error}" if isinstance(error, sqlite3.Error) else str(error)


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
