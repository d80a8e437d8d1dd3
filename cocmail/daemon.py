"""`cocmail run`: sources -> pipeline -> outbox, plus the weekly digest and daily purge.

Threads: one mail source (the IMAP watcher, or the embedded SMTP listener) that only
stores raw mail and wakes the worker; one worker that processes what is pending and
delivers what is due. SIGTERM/SIGINT set a stop event; both threads finish their
current step and exit.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime, timedelta

from .app import App
from .store import utcnow

log = logging.getLogger("cocmail.daemon")

IDLE_WAKE_SECONDS = 30.0


class Daemon:
    def __init__(self, app: App):
        self.app = app
        self.stop = threading.Event()
        self.wake = threading.Event()
        self._last_housekeeping: datetime | None = None

    # -------------------------------------------------------------- one pass
    def work_once(self) -> tuple[int, int]:
        """Process pending inbound mail and deliver due mail; returns (processed, sent)."""
        processed = self.app.pipeline.process_pending()
        report = self.app.outbox.deliver_due()
        return processed, report.sent

    def housekeeping(self, force: bool = False) -> None:
        """Digest when due, retention purge once a day."""
        now = utcnow()
        if not force and self._last_housekeeping and now - self._last_housekeeping < timedelta(
                minutes=1):
            return
        self._last_housekeeping = now
        try:
            from .digest import send_due_digest
            from .retention import purge_due

            if send_due_digest(self.app, now):
                log.info("weekly digest queued")
            purge_due(self.app, now, daily=True)
        except Exception:  # noqa: BLE001 - housekeeping must not stop mail handling
            log.exception("housekeeping failed")

    def run_once(self) -> tuple[int, int]:
        fetched = 0
        if self.app.cfg.imap is not None:
            watcher = self._watcher()
            try:
                fetched = watcher.catch_up()
            finally:
                watcher.close()
        self.housekeeping(force=True)
        processed, sent = self.work_once()
        log.info("run --once: fetched %d, processed %d, sent %d", fetched, processed, sent)
        return processed, sent

    # -------------------------------------------------------------- forever
    def _accept(self, batch: list) -> None:
        self.app.store.add_inbound_batch(
            [(f.raw, "imap", f.folder, f.uidvalidity, f.uid) for f in batch])
        self.wake.set()

    def _watcher(self):  # type: ignore[no-untyped-def]
        from .inbox.imap import ImapWatcher

        cfg = self.app.cfg.imap
        assert cfg is not None
        return ImapWatcher(cfg, cfg.password.resolve(), last_uid=self.app.store.last_uid,
                           accept=self._accept, stop=self.stop,
                           log=logging.getLogger("cocmail.imap"))

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.request_stop())
        source_thread = None
        controller = None
        cfg = self.app.cfg
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
            log.info("listening for mail to %s on %s:%d", cfg.inbox.address, cfg.listen.host,
                     cfg.listen.port)
        try:
            self._worker_loop()
        finally:
            if controller is not None:
                controller.stop()
            if source_thread is not None:
                source_thread.join(timeout=5)
            log.info("stopped")

    def request_stop(self) -> None:
        self.stop.set()
        self.wake.set()

    def _worker_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.work_once()
                self.housekeeping()
            except Exception:  # noqa: BLE001 - e.g. database locked: log, wait, go on
                log.exception("worker pass failed; retrying")
                time.sleep(1)
            timeout = IDLE_WAKE_SECONDS
            due = self.app.store.next_outbox_time()
            if due is not None:
                timeout = max(0.05, min(timeout, (due - utcnow()).total_seconds()))
            self.wake.wait(timeout)
            self.wake.clear()
