"""Sealed records outside the store's own writes (issue 27): the spool files written in
plaintext before a store was sealed, and the cases whose keys were destroyed, found in a
database restored from an older backup (crypto-shredding; README, "Keys and backups").

A purge destroys a case's keys before it empties its rows. A data backup made before
the purge still holds the case's rows, sealed under keys that no longer exist: restored
with today's keys, such a case can never be read again. It is expunged on opening, as
the purge left it, so no list or view shows a case of unreadable fields. The check is
one comparison of two counters unless keys were destroyed since this database last
looked.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path

from .core.retention import rebuilt, without_case
from .keyring import KeyStoreError
from .store import Store
from .store import cases as cases_db
from .store import outbox as outbox_db
from .store.sealed import (
    cases_without_keys,
    is_sealed,
    newest_case_key,
    set_shredded_seen,
    shredded_seen,
)

log = logging.getLogger(__name__)


def scrub_other_cases(c: sqlite3.Connection, number: int, spool: Path) -> None:
    """Earlier-case warnings about case `number` in other cases' mails: cut everywhere
    (a purge, and a case whose keys a purge destroyed after a restored backup's time)."""
    for mid, body, outbox_id, raw, _kind in cases_db.mail_naming_earlier_cases(c, number):
        scrubbed = without_case(body or "", number)
        if scrubbed == body:
            continue
        cases_db.rewrite_message(c, mid, scrubbed)
        if raw is None or outbox_id is None:
            continue
        outbox_db.rewrite_outbox_raw(c, outbox_id, rebuilt(raw, scrubbed))
        for copy in spool.glob(f"{outbox_id:06d}-*.eml") if spool.is_dir() else ():
            copy.write_bytes(outbox_db.stored_raw(c, outbox_id) or b"")  # as stored


def forget_shredded_cases(store: Store, now: datetime, spool: Path) -> list[int]:
    """Expunge the live cases whose keys are gone, and cut the earlier-case warnings
    about them from the other cases' mail, as their purge did; their numbers."""
    keyring = store.keyring
    if keyring is None:
        return []
    mark, seen = keyring.shredded(), store.read(shredded_seen)
    newest = store.read(newest_case_key)
    if mark < seen or (mark == seen and newest is not None and not keyring.has_key(newest)):
        raise KeyStoreError(
            f"{keyring.keys_path} is older than the database (it lacks keys the database"
            " uses): restore the key backup made with this data backup or after it (README,"
            " \"Keys and backups\"); cocmail will not write new data beside records it"
            " cannot read")
    if mark == seen:
        return []
    have = keyring.key_ids()
    with store.tx() as c:
        gone = cases_without_keys(c, have)
        for number in gone:
            scrub_other_cases(c, number, spool)
            cases_db.expunge_case(c, number, [], now)
        set_shredded_seen(c, mark)
    for number in gone:
        log.warning("case #%d: its keys were destroyed by a purge after this database's"
                    " backup was made; expunged", number)
    return gone


def seal_spool(store: Store, spool: Path) -> int:
    """Rewrite the spool's plaintext files (from before the store was sealed) as the
    store keeps their mail, sealed; a file whose mail is gone from the store (purged)
    goes with it. Returns how many files were sealed."""
    if store.keyring is None or not spool.is_dir():
        return 0
    done = 0
    for path in sorted(spool.glob("*.eml")):
        data = path.read_bytes()
        if is_sealed(data):
            continue
        number = path.name.partition("-")[0]
        stored = store.read(outbox_db.stored_raw, int(number)) if number.isdigit() else None
        if stored is None or not is_sealed(stored):
            path.unlink()
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(stored)
        tmp.chmod(0o600)
        tmp.replace(path)
        done += 1
    return done
