"""Delivering the outbox in a thread of its own, beside the worker that processes mail.

Why a thread: half of a backlog's time went to SMTP round trips (MAIL, RCPT, DATA, the
final dot: four waits per mail), time in which the worker had nothing to do. With
delivery beside processing, each report's acknowledgement leaves while the next report
is being read, and a backlog clears in about the time of the slower of the two.

What stays the same: each mail is marked sent in its own transaction right after the
server took it (at-least-once, same Message-ID, a window of one mail), nothing is
handed over before the worker's transaction is committed (the courier only sees
committed rows), and one SMTP connection serves a run of mail. The courier works over
its own database connection (App.delivery_outbox), so it only ever waits for SQLite's
write lock, which a worker holds for one report at most.
"""

from __future__ import annotations

import logging
import threading

from .outbox import Outbox

log = logging.getLogger("cocmail.courier")

IDLE_WAKE_SECONDS = 30.0
KEEP_OPEN_SECONDS = 2.0  # an idle SMTP connection is closed after this long
ERROR_PAUSE_SECONDS = 1.0


class Courier:
    """`poke()` after committing mail; `finish()` delivers what is due, then stops.

    In the long-running daemon an error is logged and the pass retried a second later.
    In `run --once` (`fail_fast`) the first error stops the courier and `finish()`
    raises it, as delivering inline did.
    """

    def __init__(self, outbox: Outbox, stop: threading.Event, *, fail_fast: bool):
        self.outbox = outbox
        self.stop = stop
        self.fail_fast = fail_fast
        self.sent = 0
        self.error: BaseException | None = None
        self.failed = threading.Event()  # set when a fail-fast courier stopped on an error
        self._due = threading.Event()
        self._finishing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="courier", daemon=True)

    def start(self) -> Courier:
        self._thread.start()
        return self

    def poke(self) -> None:
        """New mail is committed: deliver it now."""
        self._due.set()

    def finish(self, raise_error: bool = True) -> int:
        """Deliver everything due now, stop, close; returns the number of mails sent."""
        self._finishing.set()
        self._due.set()
        self._thread.join()
        self.outbox.store.close()
        if raise_error and self.error is not None:
            raise self.error
        return self.sent

    def _run(self) -> None:
        try:
            while True:
                self._due.clear()  # before the pass: a poke during it means another pass
                final = self._finishing.is_set()  # likewise: nothing committed is missed
                if not self._pass() or final or self.stop.is_set():
                    return
                self._wait()
        finally:
            self.outbox.close()

    def _pass(self) -> bool:
        """One delivery pass; False if the courier must stop (the error is kept)."""
        try:
            self.sent += self.outbox.deliver_due(keep_open=True, stop=self.stop).sent
            return True
        except Exception as e:  # noqa: BLE001 - handed to finish(), or logged and retried
            if self.fail_fast:
                self.error = e
            else:
                log.exception("delivery pass failed; retrying")
                self.stop.wait(ERROR_PAUSE_SECONDS)
                return True
        except BaseException as e:  # noqa: BLE001 - never swallowed: finish() raises it
            self.error = e
        self.failed.set()
        return False

    def _wait(self) -> None:
        """Until poked, the next retry is due, or a while has passed; the SMTP connection
        is closed if nothing comes for KEEP_OPEN_SECONDS."""
        timeout = IDLE_WAKE_SECONDS
        due = self.outbox.store.next_outbox_time()
        if due is not None:
            timeout = max(0.05, min(timeout, (due - self.outbox.clock()).total_seconds()))
        if not self._due.wait(min(timeout, KEEP_OPEN_SECONDS)):
            self.outbox.close()
            self._due.wait(max(timeout - KEEP_OPEN_SECONDS, 0))
