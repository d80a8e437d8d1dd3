"""Errors a person at the keyboard caused, kept apart from the library's other errors.

The CLI answers a UserError with its message and exit code 1, without a traceback.
It lives here, not in cli.py, so that library modules (views, backup) can raise it
without importing the command line.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the person at the keyboard (unknown case number, bad file...)."""


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
