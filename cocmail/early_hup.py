"""A reload asked for while `cocmail run` is still starting is kept, not fatal.

Python's default for SIGHUP is to end the process. The daemon sets its own handler only
once the config is read, the storage locked and the courier forked (about a second), and
systemd's unit is Type=exec: `systemctl reload cocmail` right after a start or a restart
(a config tool's handler, an admin's `restart && reload`) killed the daemon by SIGHUP,
which Restart=on-failure counts as a clean exit: the inbox stayed unwatched. `run` calls
`hold` first thing; the daemon takes a reload held this way as soon as it is up.
"""

from __future__ import annotations

import signal
import threading

_held = threading.Event()


def hold() -> None:
    """From now until the daemon sets its own handler, a SIGHUP is remembered."""
    _held.clear()
    signal.signal(signal.SIGHUP, lambda *_: _held.set())


def take() -> bool:
    """Whether a SIGHUP came while held (and forget it)."""
    held = _held.is_set()
    _held.clear()
    return held
