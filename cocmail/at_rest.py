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
from datetime import datetime
from pathlib import Path

from .store import Store
from .store import cases as cases_db
from .store import outbox as outbox_db
from .store.sealed import cases_without_keys, is_sealed, set_shredded_seen, shredded_seen

log = logging.getLogger(__name__)


def forget_shredded_cases(store: Store, now: datetime) -> list[int]:
    """Expunge the live cases whose keys are gone; their numbers."""
    keyring = store.keyring
    if keyring is None:
        return []
    mark = keyring.shredded()
    if store.read(shredded_seen) == mark:
        return []
    have = keyring.key_ids()
    with store.tx() as c:
        gone = cases_without_keys(c, have)
        for number in gone:
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
