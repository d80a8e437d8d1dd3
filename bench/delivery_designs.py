"""Delivery designs cocmail does not ship, for `backlog.py --design` to measure (issue 16).

cocmail delivers from a forked courier process (cocmail/delivery/courier.py). Issue 16 asked
whether something simpler holds the backlog target (rate at least 50% of the limit
script's, in the same run): a delivery thread with a shorter `sys.setswitchinterval`,
or delivery inline in the worker loop. They live here, not in the package, so that
the product carries one design and the comparison can still be re-run:

    python bench/backlog.py --design thread --switch-interval 0.0005
    python bench/backlog.py --design inline        # deliver after every message
    python bench/backlog.py --design inline:100    # ... after every 100 messages
    python bench/backlog.py --design courier       # what cocmail does (the default)

Run as `python bench/delivery_designs.py DESIGN SWITCH -- <cocmail arguments>`, it
replaces `Daemon._start_courier` with the design and runs the real `cocmail` command.
Both stand-ins speak the courier's interface (poke, failed, finish, request_stop), so
the daemon's worker loop, `run --once` and its error handling are unchanged. Their
outbox is `App.delivery_outbox()`: a second database connection with synchronous=NORMAL,
the same bookkeeping as the courier's, so only the place delivery runs differs.
With no arguments (as `make bench` runs every script) it does nothing.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

log = logging.getLogger("cocmail.courier")


class ThreadDelivery:
    """Delivery in a thread of the daemon process."""

    def __init__(self, outbox: Any, fail_fast: bool):
        self.outbox, self.fail_fast = outbox, fail_fast
        self.poked = threading.Event()
        self.stopping = threading.Event()
        self.finishing = False
        self.sent = 0
        self.error: BaseException | None = None
        self.exitcode = None
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)

    def start(self) -> ThreadDelivery:
        self._thread.start()
        return self

    def poke(self) -> None:
        self.poked.set()

    def request_stop(self) -> None:
        self.stopping.set()
        self.poked.set()

    def failed(self) -> bool:
        return not self._thread.is_alive()

    def finish(self, raise_error: bool = True) -> int:
        self.finishing = True
        self.poked.set()
        self._thread.join()
        if raise_error and self.error is not None:
            raise self.error
        return self.sent

    def _run(self) -> None:
        try:
            while True:
                self.poked.wait(30)
                self.poked.clear()
                final = self.finishing
                try:
                    self.sent += self.outbox.deliver_due(keep_open=True,
                                                         stop=self.stopping).sent
                except Exception as e:  # noqa: BLE001 - as the courier: raised by finish()
                    if self.fail_fast:
                        self.error = e
                        return
                    log.exception("delivery pass failed; retrying")
                    time.sleep(1)
                if final or self.stopping.is_set():
                    return
        finally:
            self.outbox.close()


class InlineDelivery:
    """The worker itself delivers what is due after every `every` messages."""

    def __init__(self, outbox: Any, fail_fast: bool, every: int):
        self.outbox, self.fail_fast, self.every = outbox, fail_fast, every
        self.pokes = 0
        self.sent = 0
        self.error: BaseException | None = None
        self.exitcode = None
        self.stopping = threading.Event()

    def poke(self) -> None:
        self.pokes += 1
        if self.pokes % self.every == 0:
            self._deliver()

    def _deliver(self) -> None:
        if self.error is not None:
            return
        try:
            self.sent += self.outbox.deliver_due(keep_open=True, stop=self.stopping).sent
        except Exception as e:  # noqa: BLE001 - as the courier: raised by finish()
            if not self.fail_fast:
                raise
            self.error = e

    def request_stop(self) -> None:
        self.stopping.set()

    def failed(self) -> bool:
        return self.error is not None

    def finish(self, raise_error: bool = True) -> int:
        self._deliver()
        self.outbox.close()
        if raise_error and self.error is not None:
            raise self.error
        return self.sent


def install(design: str, switch_interval: float | None) -> None:
    """Make `cocmail run` use `design` instead of forking the courier."""
    import cocmail.app
    from cocmail.daemon import Daemon

    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    if design == "courier":
        return
    kind, _, every = design.partition(":")
    if kind not in ("thread", "inline"):
        raise SystemExit(f"unknown design {design!r}: courier, thread or inline[:N]")

    def start(self: Daemon, fail_fast: bool) -> Any:
        outbox = self.app.delivery_outbox()
        self._courier = (ThreadDelivery(outbox, fail_fast).start() if kind == "thread"
                         else InlineDelivery(outbox, fail_fast, int(every or 1)))
        return self._courier

    cocmail.app.start_courier = lambda cfg, fail_fast: None  # type: ignore[assignment,return-value]
    Daemon._start_courier = start  # type: ignore[method-assign]


def main() -> None:
    if "--" not in sys.argv:
        return  # `make bench`: nothing to measure on its own
    split = sys.argv.index("--")
    design, switch = sys.argv[1:split]
    install(design, float(switch) if switch else None)
    from cocmail.cli import main as cocmail_main

    sys.argv = ["cocmail", *sys.argv[split + 1:]]
    cocmail_main()


if __name__ == "__main__":
    main()
