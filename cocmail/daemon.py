"""`cocmail run`: sources -> pipeline -> outbox, plus the weekly digest and daily purge.

Threads: one mail source (the IMAP watcher, or the embedded SMTP listener) that only
stores raw mail and wakes the worker; one worker that processes what is pending. Beside
them the courier (delivery/courier.py), a process forked first, delivers committed mail over its
own database connection. SIGTERM/SIGINT set a stop event; every thread and the courier
finish their current step and exit.

Why the worker goes in chunks of PROCESS_CHUNK messages: after a weekend of downtime
thousands of reports are waiting; a SIGTERM is seen between two messages, and the
courier is poked after each one, so acknowledgements start going out with the first
report, not after the backlog. `run --once` fetches from IMAP in a thread of its own
for the same reason: each batch is processed as soon as it is stored, while the next
one is on its way from the server.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta
from functools import partial

from .app import App
from .clock import utcnow
from .delivery.courier import Courier, CourierDied
from .errors import OperationalError, as_operational
from .redact import redact_addresses
from .store import inbound as inbound_db
from .store import outbox as outbox_db

log = logging.getLogger("cocmail.daemon")

IDLE_WAKE_SECONDS = 30.0
PROCESS_CHUNK = 100  # pending messages read at a time (one IMAP batch)
BACKOFF_FIRST_SECONDS = 1.0  # after an operational failure; doubles each time
BACKOFF_MAX_SECONDS = 60.0  # a locked database or a broken template: retry each minute


class Daemon:
    def __init__(self, app: App, courier: Courier | None = None):
        """`courier`: one already started (cocmail run forks it before opening the
        database, see cli.py); else one is forked from this process when needed."""
        self.app = app
        self._given_courier = courier
        self.stop = threading.Event()
        self.wake = threading.Event()
        self._last_housekeeping: datetime | None = None
        self._courier: Courier | None = None
        self._reload = threading.Event()  # SIGHUP: reread the config between two passes

    # -------------------------------------------------------------- one pass
    def process_pending(self, courier: Courier) -> int:
        """Process pending inbound mail until none is left, `stop` is set or the courier
        failed; the courier is poked after each message, once it is committed."""
        processed = 0
        while True:
            ids = self.app.store.read(inbound_db.pending_inbound, limit=PROCESS_CHUNK)
            for inbound_id in ids:
                if self.stop.is_set() or courier.failed():
                    return processed
                self.app.pipeline.process(inbound_id)
                processed += 1
                courier.poke()
            if len(ids) < PROCESS_CHUNK:
                return processed

    def housekeeping(self, force: bool = False) -> None:
        """Reminders, flood summaries and the digest when due, retention purge once a day."""
        now = utcnow()
        if not force and self._last_housekeeping and now - self._last_housekeeping < timedelta(
                minutes=1):
            return
        self._last_housekeeping = now
        try:
            from .digest import send_due_digest
            from .flood_due import send_due_summary
            from .reminders_due import send_due_reminders
            from .retention import purge_due

            send_due_reminders(self.app, now)  # first: an urgent case must not wait
            send_due_summary(self.app, now)  # a burst of mail held by the circuit breaker
            if send_due_digest(self.app, now):
                log.info("weekly digest queued")
            purge_due(self.app, now, daily=True)
        except OperationalError as e:  # a full disk, a locked database: one line
            log.warning("housekeeping failed (%s); retried within a minute",
                        redact_addresses(str(e)))
        except Exception as e:  # noqa: BLE001 - housekeeping must not stop mail handling
            operational = as_operational(e)
            if operational is None:
                log.exception("housekeeping failed")
            else:
                log.warning("housekeeping failed (%s); retried within a minute",
                            redact_addresses(str(operational)))

    def run_once(self) -> tuple[int, int]:
        """Catch up on IMAP (if configured), process and deliver everything, then return.

        The fetch runs beside the worker so that stored batches are processed while the
        next ones arrive, and the courier beside both. A delivery error is raised once
        the worker has stopped; a fetch error once what was stored has been handled.
        """
        self.wake_config_waits()
        courier = self._start_courier(fail_fast=True)
        fetch = _Fetch(self._watcher() if self.app.cfg.imap is not None else None, self.wake)
        fetch.start()
        processed = 0
        try:
            self.housekeeping(force=True)
            while True:
                finished = fetch.done.is_set()  # read first: nothing stored later is missed
                processed += self.process_pending(courier)
                if courier.failed():
                    self.stop.set()  # the catch-up stops too; the courier's error is raised
                    break
                if finished:
                    break
                self.wake.wait(IDLE_WAKE_SECONDS)
                self.wake.clear()
        except BaseException:
            self.stop.set()  # the catch-up stops between batches; our error is the one raised
            courier.request_stop()
            courier.finish(raise_error=False)
            fetch.finish(raise_error=False)
            raise
        try:
            sent = courier.finish()
        finally:
            fetch.finish(raise_error=courier.error is None)
        log.info("run --once: fetched %d, processed %d, sent %d", fetch.fetched, processed,
                 sent)
        return processed, sent

    def wake_config_waits(self) -> None:
        """Mail that waits because of a config mistake (a password_env this process
        could not see) is due at once when the daemon starts or reloads: the mistake
        may be fixed now, and nobody should wait out a two-hour backoff for it. Mail
        waiting for someone no longer in [[staff]] is cancelled first (former_members)."""
        from .delivery.transports import CONFIG_ERROR_PREFIX
        from .former_members import cancel_mail_to_former_members

        cancel_mail_to_former_members(self.app.store, self.app.cfg.staff)
        woken = self.app.store.write(outbox_db.outbox_due_again, utcnow(),
                                     error_prefix=CONFIG_ERROR_PREFIX)
        if woken:
            log.info("%d mail(s) that waited for a config fix are due again", len(woken))

    def _start_courier(self, fail_fast: bool) -> Courier:
        if self._given_courier is not None:
            self._courier, self._given_courier = self._given_courier, None
        else:
            self._courier = Courier(self.app.delivery_outbox, fail_fast=fail_fast).start()
        return self._courier

    # -------------------------------------------------------------- forever
    def _accept(self, batch: list) -> None:
        now = utcnow()
        mails = [inbound_db.Arrived.of(f.raw, "imap", now, f.folder, f.uidvalidity, f.uid)
                 for f in batch]  # hashed before the write lock
        self.app.store.write(inbound_db.add_inbound_batch, mails)
        self.wake.set()

    def _watcher(self):  # type: ignore[no-untyped-def]
        from .inbox.imap import ImapWatcher
        from .oauth import source_for

        cfg = self.app.cfg.imap
        assert cfg is not None
        oauth2 = self.app.cfg.oauth2
        tokens = source_for(oauth2) if cfg.auth == "oauth2" and oauth2 is not None else None
        password = cfg.password.resolve() if tokens is None else None
        last_uid = partial(self.app.store.read, inbound_db.last_uid)
        return ImapWatcher(cfg, password, last_uid=last_uid,
                           accept=self._accept, stop=self.stop,
                           log=logging.getLogger("cocmail.imap"), tokens=tokens)

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.request_stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())
        from . import early_hup

        if early_hup.take():  # a reload asked for while starting (early_hup.py)
            self.request_reload()
        source_thread = None
        controller = None
        cfg = self.app.cfg
        self.wake_config_waits()
        courier = self._start_courier(fail_fast=False)
        try:
            if cfg.imap is not None:
                watcher = self._watcher()
                source_thread = threading.Thread(target=watcher.run, name="imap", daemon=True)
                source_thread.start()
                log.info("watching %s on %s", cfg.imap.folder, cfg.imap.host)
            else:
                from .inbox.listener import start_listener

                controller = start_listener(self.app.store, cfg.inbox.address, cfg.listen.host,
                                            cfg.listen.port, cfg.inbox.max_message_bytes,
                                            lambda _id: self.wake.set())
                log.info("listening for mail to %s on %s:%d", cfg.inbox.address,
                         cfg.listen.host, cfg.listen.port)
            self._worker_loop(courier)
        finally:
            self.request_stop()
            if controller is not None:
                controller.stop()
            if source_thread is not None:
                source_thread.join(timeout=5)
            courier.finish(raise_error=False)
            log.info("stopped")

    def request_reload(self) -> None:
        """SIGHUP: the worker rereads the config before its next pass (reload.py)."""
        self._reload.set()
        self.wake.set()

    def _reload_if_asked(self, courier: Courier) -> None:
        if not self._reload.is_set():
            return
        self._reload.clear()
        from .reload import reload_app

        if reload_app(self.app):
            courier.reload()
            self.wake_config_waits()  # a fixed password: the mail that waited goes now
            courier.poke()

    def request_stop(self) -> None:
        self.stop.set()
        self.wake.set()
        if self._courier is not None:
            self._courier.request_stop()

    def _check_courier(self, courier: Courier) -> None:
        """A courier whose process died (killed, out of memory) ends the daemon with an
        error, for the service manager to restart it: mail must not pile up unseen, and
        forking a new courier from a process whose other threads use SQLite is unsafe."""
        if courier.failed() and not self.stop.is_set():
            courier.finish(raise_error=False)
            raise CourierDied(f"the courier process ended (exit code {courier.exitcode}); "
                              "stopping so that cocmail is restarted whole")

    def _worker_loop(self, courier: Courier) -> None:
        """Process, housekeep, sleep until woken. A pass that fails for an operational
        reason (database locked, a broken override template) is retried with a backoff
        that doubles up to BACKOFF_MAX_SECONDS, logged as one line; the messages stay
        pending and count toward nothing."""
        backoff = 0.0
        while not self.stop.is_set():
            self._check_courier(courier)
            try:
                self._reload_if_asked(courier)
                self.process_pending(courier)
                self.housekeeping()
                courier.poke()  # a digest or a quarantine notice may have been queued
                backoff = 0.0
            except Exception as e:  # noqa: BLE001 - operational: one line; a bug: whole
                operational = as_operational(e)  # sqlite's own errors (a full disk) too
                if operational is None:
                    log.exception("worker pass failed; retrying")
                    self.stop.wait(BACKOFF_FIRST_SECONDS)
                else:
                    backoff = min(max(backoff * 2, BACKOFF_FIRST_SECONDS), BACKOFF_MAX_SECONDS)
                    log.warning("worker pass failed (%s); retrying in %.0f s",
                                redact_addresses(str(operational)), backoff)
                    self.stop.wait(backoff)
                    continue
            self.wake.wait(IDLE_WAKE_SECONDS)
            self.wake.clear()

class _Fetch:
    """`run --once`'s IMAP catch-up in a thread; `done` is set (and the worker woken)
    when it has finished, successfully or not."""

    def __init__(self, watcher, wake: threading.Event):  # type: ignore[no-untyped-def]
        self.watcher = watcher
        self.wake = wake
        self.done = threading.Event()
        self.fetched = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="imap-catch-up", daemon=True)

    def start(self) -> None:
        if self.watcher is None:
            self.done.set()
        else:
            self._thread.start()

    def _run(self) -> None:
        try:
            self.fetched = self.watcher.catch_up()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            self.error = e
        finally:
            self.done.set()
            self.wake.set()

    def finish(self, raise_error: bool = True) -> None:
        """Wait for the catch-up and close its connection; raise what it raised, if asked."""
        if self.watcher is None:
            return
        self._thread.join()
        self.watcher.close()
        if raise_error and self.error is not None:
            raise self.error
