"""Opening an installation: storage dir, secret key, database, pipeline, outbox.

One place that wires the pieces so every CLI command and the daemon see the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from .at_rest import forget_shredded_cases, seal_spool
from .clock import utcnow
from .config import Config
from .delivery.courier import Courier
from .delivery.outbox import Outbox
from .errors import refuse_root_in_foreign_storage
from .keyring import keyring_for
from .pipeline import Pipeline, delivery_failed_notice
from .secret_file import load_or_create_secret
from .store import Store
from .store import cases as cases_db
from .store import inbound as inbound_db


@dataclass
class App:
    cfg: Config
    store: Store
    secret: bytes
    pipeline: Pipeline
    outbox: Outbox

    def receive(self, raw: bytes, source: str) -> str:
        """Store one raw message durably, process it and deliver what is due.

        Returns the message's inbound state, or "already stored" for a copy of a message
        already held (same IMAP key). The demo and the tests feed mail through here.
        """
        inbound_id = self.add_inbound(raw, source)
        state = ("already stored" if inbound_id is None
                 else self.pipeline.process(inbound_id))
        self.outbox.deliver_due()
        return state

    def add_inbound(self, raw: bytes, source: str) -> int | None:
        """Store one raw message durably, in a transaction of its own, received now (by
        the wall clock, as every arrival path stamps it); None for a copy already held."""
        mail = inbound_db.Arrived.of(raw, source, utcnow())  # hashed before the write lock
        return self.store.write(inbound_db.add_inbound, mail)

    def delivery_outbox(self) -> Outbox:
        """This app's outbox (same transport) over the courier's own connection: for a
        courier forked from an open app (tests; `cocmail run` uses start_courier)."""
        store, on_failed = _delivery_side(self.cfg, self.secret, clock=self.pipeline.clock,
                                          renderer=self.pipeline.renderer)
        return self.outbox.using(store, on_failed)

    def close(self) -> None:
        self.store.close()


def _delivery_side(cfg: Config, secret: bytes, **pipeline: Any
                   ) -> tuple[Store, Callable[..., None]]:
    """The courier's database connection, and its way to tell staff a mail failed.

    Its own connection, because the worker holds its connection's lock for a whole
    report; its own pipeline, because a failure notice is queued inside the delivery's
    transaction and must not reach for the worker's connection (each would wait for
    the other). NORMAL sync: see Store and CHANGELOG (at-least-once stays at-least-once).
    """
    store = Store(cfg.storage.db_path, synchronous="NORMAL", keyring=keyring_for(cfg.storage))
    return store, partial(delivery_failed_notice, Pipeline(cfg, store, secret, **pipeline))


def delivery_outbox_for(cfg: Config, secret: bytes) -> Outbox:
    """The courier's outbox, opened in the courier process (see start_courier); mail
    waiting for someone no longer in `cfg`'s [[staff]] is cancelled before it can go."""
    from .former_members import cancel_mail_to_former_members

    store, on_failed = _delivery_side(cfg, secret)
    if cfg.source != "<embedded defaults>":
        cancel_mail_to_former_members(store, cfg.staff)
    return Outbox(store, cfg.smtp, cfg.storage.spool_dir, oauth2=cfg.oauth2, on_failed=on_failed)


def start_courier(cfg: Config, *, fail_fast: bool) -> Courier:
    """Fork the courier before this process touches the database (`cocmail run`).

    The secret key is read (or made) first, so the two processes never race to create
    it; everything else the courier opens itself, after the fork.
    """
    refuse_root_in_foreign_storage(cfg.storage.dir)
    cfg.storage.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = load_or_create_secret(cfg.storage.secret_path)
    reopen = (None if cfg.source == "<embedded defaults>"
              else partial(_reloaded_outbox, cfg, secret))
    return Courier(partial(delivery_outbox_for, cfg, secret), fail_fast=fail_fast,
                   reopen_outbox=reopen).start()


def _reloaded_outbox(cfg: Config, secret: bytes) -> Outbox:
    """The courier's outbox from `cfg`'s file read again (a reload, see reload.py); what
    only a restart changes ([storage]) is kept as it was."""
    from dataclasses import replace

    from .reload import reread

    return delivery_outbox_for(replace(reread(cfg), storage=cfg.storage), secret)


def open_app(cfg: Config, clock: Callable[[], datetime] = utcnow) -> App:
    refuse_root_in_foreign_storage(cfg.storage.dir)
    cfg.storage.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = load_or_create_secret(cfg.storage.secret_path)
    store = Store(cfg.storage.db_path, keyring=keyring_for(cfg.storage))
    store.write(cases_db.file_cases_under, event_row(cfg), clock())
    forget_shredded_cases(store, clock(), cfg.storage.spool_dir)
    if store.just_sealed:
        seal_spool(store, cfg.storage.spool_dir)
    pipeline = Pipeline(cfg, store, secret, clock=clock)
    outbox = Outbox(store, cfg.smtp, cfg.storage.spool_dir, oauth2=cfg.oauth2,
                    on_failed=partial(delivery_failed_notice, pipeline), clock=clock)
    return App(cfg, store, secret, pipeline, outbox)


def event_row(cfg: Config) -> dict[str, Any]:
    """The configured event as the store records it."""
    e = cfg.event
    return {"name": e.name, "starts": e.starts.isoformat() if e.starts else None,
            "ends": e.ends.isoformat() if e.ends else None,
            "attendees_in_person": e.attendees_in_person,
            "attendees_online": e.attendees_online,
            "reporting_channels": e.reporting_channels}
