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
from .store import inbound as inbound_db
from .store import outbox as outbox_db
from .store.sealed import (
    cases_without_keys,
    is_sealed,
    newest_case_key,
    newest_mail_key,
    rows_without_keys,
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
    newest = [k for k in (store.read(newest_case_key), store.read(newest_mail_key, "inbound"),
                          store.read(newest_mail_key, "outbox")) if k is not None]
    if mark < seen or (mark == seen and not all(keyring.has_key(k) for k in newest)):
        raise KeyStoreError(
            f"{keyring.keys_path} is older than the database (it lacks keys the database"
            " uses): restore the key backup made with this data backup or after it (README,"
            " \"Keys and backups\"); if there is none, `cocmail keys accept-loss` expunges"
            " the records it cannot open")
    if mark == seen:
        return []
    have = keyring.key_ids()
    with store.tx() as c:
        gone = cases_without_keys(c, have)
        for number in gone:
            scrub_other_cases(c, number, spool)
            cases_db.expunge_case(c, number, [], now)
        # Mail of no case (kept aside, quarantined, notices) under a destroyed key: it
        # can never be read or processed again, and must not block the queue.
        inbound_db.expunge_inbound(c, rows_without_keys(c, "inbound", have))
        lost_mail = rows_without_keys(c, "outbox", have)
        outbox_db.shred_mail(c, lost_mail)
        set_shredded_seen(c, mark)
    remove_spooled(spool, lost_mail)
    for number in gone:
        log.warning("case #%d: its keys were destroyed by a purge after this database's"
                    " backup was made; expunged", number)
    return gone


def remove_spooled(spool: Path, outbox_ids: list[int]) -> None:
    """The spool files of these outgoing mails."""
    if spool.is_dir():
        for oid in outbox_ids:
            for path in spool.glob(f"{oid:06d}-*.eml"):
                path.unlink(missing_ok=True)


def mail_naming_case(store: Store, number: int) -> list[int]:
    """Outgoing mail on no case (digests, flood summaries, notices) that names case
    `number` (`#N`, `case N`): a purge shreds it with the case, since its text may
    carry the case's subject or people."""
    import email
    import re
    from email.policy import default

    mention = re.compile(rf"(?:#|\bcase\s+){number}(?!\d)", re.IGNORECASE)
    found = []
    for oid, raw in store.read(outbox_db.caseless_mail):
        msg = email.message_from_bytes(raw, policy=default)
        texts = [str(msg["Subject"] or "")]
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                try:
                    texts.append(part.get_content())
                except (LookupError, ValueError):
                    texts.append(raw.decode("utf-8", "replace"))
        if any(mention.search(t) for t in texts):
            found.append(oid)
    return found


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
