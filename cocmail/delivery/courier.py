"""Delivering the outbox in a process of its own, beside the worker that processes mail.

Why beside: half of a backlog's time went to SMTP round trips (MAIL, RCPT, DATA, the
final dot: four waits per mail), time in which the worker had nothing to do. With
delivery beside processing, each report's acknowledgement leaves while the next report
is being read, and a backlog clears in about the time of the slower of the two.

Why a process and not a thread: a thread shares the interpreter lock with the worker,
which is busy parsing and composing, and each of the courier's dozen waits per mail then
ends in a wait for the lock. A backlog costs more CPU than one interpreter lock can give
in the time the backlog bar allows (50% of the limit script's rate, bench/backlog.py);
two processes use both cores. A delivery thread and delivery inline in the worker were
measured against it and fell short (bench/README.md, "History"); they are kept in
bench/delivery_designs.py so the comparison can be run again. It holds only while the
worker's write transactions stay short, since each mail marked sent waits for the write
lock: the pipeline decides and composes before the lock and only checks its facts inside.

What stays the same: each mail is marked sent in its own transaction right after the
server took it (at-least-once, same Message-ID, a window of one mail); the courier
only sees committed rows; one SMTP connection serves a run of mail. The courier opens
its own database connection after the fork (app.start_courier), never the worker's,
and dies with the daemon (PR_SET_PDEATHSIG): after a kill -9 no orphan may go on
delivering beside the restarted daemon's courier.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import pickle
import select
import signal
from collections.abc import Callable
from typing import Any

from ..core.errors import OperationalError
from ..redact import redact_addresses
from ..store import outbox as outbox_db
from .outbox import Outbox

log = logging.getLogger("cocmail.courier")

IDLE_WAKE_SECONDS = 30.0
KEEP_OPEN_SECONDS = 2.0  # an idle SMTP connection is closed after this long
ERROR_PAUSE_SECONDS = 1.0  # after a failed pass; doubles each time, as in the worker
ERROR_PAUSE_MAX_SECONDS = 60.0
PR_SET_PDEATHSIG = 1

_FORK = multiprocessing.get_context("fork")
POKE, FINISH, STOP, RELOAD = b"p", b"f", b"s", b"r"


class CourierDied(OperationalError):
    """The courier process ended without saying why (killed, or out of memory)."""


class Courier:
    """`poke()` after committing mail; `finish()` delivers what is due, then stops.

    `open_outbox` is called in the courier process, after the fork. In the long-running
    daemon an error is logged and the pass retried a second later; in `run --once`
    (`fail_fast`) the first error stops the courier and `finish()` raises it, as
    delivering inline did.

    The daemon talks to the courier by single bytes down a pipe (poke, finish, stop),
    written without blocking: safe from a signal handler, and never stuck on a courier
    that was killed (a multiprocessing.Event would wait for its dead sleeper for ever).
    The courier answers once, when it stops: (mails sent, error or None) up another pipe.
    """

    def __init__(self, open_outbox: Callable[[], Outbox], *, fail_fast: bool,
                 reopen_outbox: Callable[[], Outbox] | None = None):
        """`reopen_outbox`: the outbox from the config file read again, called in the
        courier when the daemon reloads (SIGHUP); None: reloads change nothing here."""
        self.open_outbox = open_outbox
        self.reopen_outbox = reopen_outbox
        self.fail_fast = fail_fast
        self.sent = 0
        self.error: BaseException | None = None
        self._answered = False
        self._commands_r, self._commands_w = os.pipe()
        self._results, self._report = _FORK.Pipe(duplex=False)
        self._process: Any = None
        self._parent = os.getpid()
        # In the courier: what the daemon has asked for so far.
        self._finishing = self._stopping = self._reloading = False
        self._woken = False  # a command came since the current pass began

    def start(self) -> Courier:
        self._process = _FORK.Process(target=self._child, name="cocmail-courier", daemon=True)
        self._process.start()
        self._report.close()  # the child's ends; the parent only writes commands, reads results
        os.close(self._commands_r)
        os.set_blocking(self._commands_w, False)
        return self

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        return None if self._process is None else self._process.exitcode

    def poke(self) -> None:
        """New mail is committed: deliver it now."""
        self._send(POKE)

    def reload(self) -> None:
        """The config was reread: open the outbox again from it before the next pass."""
        self._send(RELOAD)

    def request_stop(self) -> None:
        """Finish the mail at hand and exit (safe in a signal handler: one write)."""
        self._send(STOP)

    def failed(self) -> bool:
        """Has the courier stopped on its own (an error in `run --once`, or it died)?"""
        if not self._answered and self._results.poll():
            self._answer()
        return self._answered or (self._process is not None and not self._process.is_alive())

    def finish(self, raise_error: bool = True) -> int:
        """Deliver everything due now, stop; returns the number of mails sent."""
        self._send(FINISH)
        if not self._answered:
            self._answer()
        self._process.join()
        if isinstance(self.error, CourierDied):
            self.error = CourierDied(f"the courier process ended with exit code "
                                     f"{self._process.exitcode}; see the log above")
        if raise_error and self.error is not None:
            raise self.error
        return self.sent

    def _answer(self) -> None:
        try:
            self.sent, self.error = self._results.recv()
        except EOFError:  # it died without a word
            self.sent, self.error = 0, CourierDied("the courier process ended")
        self._answered = True
        self._results.close()

    def _send(self, command: bytes) -> None:
        try:
            os.write(self._commands_w, command)
        except BlockingIOError:  # 64 KB of unread pokes: it has plenty to wake it
            if command != POKE:
                self._send_blocking(command)
        except (BrokenPipeError, OSError):
            pass  # the courier is gone; finish() and failed() report it

    def _send_blocking(self, command: bytes) -> None:
        while self.alive():
            try:
                os.write(self._commands_w, command)
                return
            except BlockingIOError:
                select.select([], [self._commands_w], [], 0.1)

    # ---------------------------------------------------------------- in the child
    def _child(self) -> None:
        """The courier process: never returns (os._exit), so nothing inherited from the
        daemon, its database connection above all, is closed or flushed here."""
        code = 0
        try:
            _die_with_parent(self._parent)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # the daemon asks it to stop, reload
            self._results.close()
            os.close(self._commands_w)
            sent, error = self._deliver_until_finished()
            self._report.send((sent, _picklable(error)))
        except BaseException:  # noqa: BLE001 - the parent sees CourierDied
            log.exception("the courier process failed")
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    def is_set(self) -> bool:
        """Has the daemon asked to stop? (The outbox's `stop`, checked between mails.)"""
        self._read_commands(0)
        return self._stopping

    def _read_commands(self, timeout: float | None) -> bool:
        """Wait up to `timeout` for commands and take them all; True if any came."""
        readable, _, _ = select.select([self._commands_r], [], [], timeout)
        if not readable:
            return False
        data = os.read(self._commands_r, 65536)
        self._woken = True
        if not data:  # the daemon is gone (PR_SET_PDEATHSIG should have killed us)
            self._stopping = True
        self._finishing = self._finishing or FINISH in data
        self._stopping = self._stopping or STOP in data
        self._reloading = self._reloading or RELOAD in data
        return True

    def _deliver_until_finished(self) -> tuple[int, BaseException | None]:
        outbox = self.open_outbox()
        sent = 0
        pause = 0.0
        try:
            while True:
                self._read_commands(0)
                self._woken = False  # from here, a poke (or finish) means another pass
                final = self._finishing
                if self._reloading:
                    outbox = self._reopened(outbox)
                try:
                    sent += outbox.deliver_due(keep_open=True, stop=self).sent
                    pause = 0.0
                except Exception as e:  # noqa: BLE001 - handed to finish(), or logged
                    if self.fail_fast:
                        return sent, e
                    pause = min(max(pause * 2, ERROR_PAUSE_SECONDS), ERROR_PAUSE_MAX_SECONDS)
                    _log_failed_pass(e, pause)
                    self._read_commands(pause)
                    if self._stopping or self._finishing:
                        return sent, None
                    continue
                except BaseException as e:  # noqa: BLE001 - never swallowed: finish() raises it
                    return sent, e
                if final or self._stopping:
                    return sent, None
                self._wait(outbox)
        finally:
            outbox.close()
            outbox.store.close()

    def _reopened(self, outbox: Outbox) -> Outbox:
        """The outbox of the reread config, or `outbox` when that cannot be opened (the
        daemon has logged why: it read the same file)."""
        self._reloading = False
        if self.reopen_outbox is None:
            return outbox
        try:
            fresh = self.reopen_outbox()
        except Exception as e:  # noqa: BLE001 - keep delivering with what works
            log.warning("courier: reload refused, delivering with the previous config: %s",
                        type(e).__name__)
            return outbox
        outbox.close()
        outbox.store.close()
        return fresh

    def _wait(self, outbox: Outbox) -> None:
        """Until poked, the next retry is due, or a while has passed; the SMTP connection
        is closed if nothing comes for KEEP_OPEN_SECONDS."""
        if self._woken:  # poked during the pass, or told to finish: go again now
            return
        timeout = IDLE_WAKE_SECONDS
        due = outbox.store.read(outbox_db.next_outbox_time)
        if due is not None:
            timeout = max(0.05, min(timeout, (due - outbox.clock()).total_seconds()))
        if not self._read_commands(min(timeout, KEEP_OPEN_SECONDS)):
            outbox.close()
            self._read_commands(max(timeout - KEEP_OPEN_SECONDS, 0))


def _log_failed_pass(error: Exception, pause: float) -> None:
    """One line per failed pass (a full disk, a locked database: operational; anything
    else is a bug, whose traceback shows with --debug), never a traceback a second."""
    from ..errors import as_operational

    operational = as_operational(error)
    if operational is not None:
        log.warning("delivery pass failed (%s); retrying in %.0f s",
                    redact_addresses(str(operational)), pause)
    else:
        log.error("delivery pass failed (%s: %s); retrying in %.0f s", type(error).__name__,
                  redact_addresses(str(error)), pause)
        log.debug("delivery pass failed", exc_info=True)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the daemon dies, then check it is still there."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        log.warning("cannot ask to die with the daemon (not Linux?)")
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _picklable(error: BaseException | None) -> BaseException | None:
    if error is None:
        return None
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - some exceptions cannot cross a pipe
        return RuntimeError(f"{type(error).__name__}: {error}")
