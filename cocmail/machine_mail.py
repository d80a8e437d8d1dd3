"""Machine mail kept aside: what `cocmail inbound list --machine` and the digest read.

Mail that matched no case and that screening (core/screening.py) found to be a machine
talking (an out-of-office reply, a newsletter, a read receipt, a spam complaint report,
a bounce of mail cocmail never sent) opens no case and mails nobody. It is still kept,
with the reason, so the team can look at it when the digest counts some: nothing that
arrives is ever silently dropped. After KEEP_MACHINE_MAIL its text goes (the daily
purge), as nobody's report needs it. Its rows have no case, so an excluded member can see
nothing of a case here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .clock import iso
from .store import Store

# Machine mail is kept this long for the team to look through, then emptied (its raw
# bytes, sender and subject: an out-of-office reply names a person too); the row and
# its state stay, so counts do not change.
KEEP_MACHINE_MAIL = timedelta(days=90)
# Inbound states of machine mail with no case: kept aside by weight of signals, or a
# bounce / our own mail that came back (core/intake.py).
MACHINE_STATES = ("machine", "ignored")
# The audit actions those decisions write, at the pipeline's clock.
_MACHINE_ACTIONS = ("machine mail", "ignored")


def machine_mail(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """The newest machine mail first: id, received_at, state, sender, subject, reason."""
    return store.query("SELECT id, received_at, state, sender, subject, error FROM inbound"
                       " WHERE state IN (?, ?) AND case_number IS NULL"
                       " ORDER BY id DESC LIMIT ?", (*MACHINE_STATES, limit))


def machine_mail_count(store: Store, start: datetime, end: datetime) -> int:
    """Machine mail kept aside between `start` and `end` (for the digest: a number only)."""
    return int(store.scalar("SELECT count(*) FROM audit WHERE case_number IS NULL AND"
                            " action IN (?, ?) AND at >= ? AND at <= ?",
                            (*_MACHINE_ACTIONS, iso(start), iso(end))) or 0)


def expunge_machine_mail(store: Store, now: datetime) -> int:
    """Empty the machine mail received more than KEEP_MACHINE_MAIL before `now`;
    returns how many messages were emptied."""
    before = iso(now - KEEP_MACHINE_MAIL)
    with store.tx() as c:
        cur = c.execute("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL,"
                        " message_id=NULL, error=NULL WHERE state IN (?, ?) AND"
                        " case_number IS NULL AND raw IS NOT NULL AND received_at < ?",
                        (*MACHINE_STATES, before))
        # Its audit line named the sender (actor) and quoted the reason: the line and
        # its time stay, for the digest's counts.
        c.execute("UPDATE audit SET actor='(expunged)', detail=NULL, message_id=NULL"
                  " WHERE case_number IS NULL AND action IN (?, ?) AND at < ?",
                  (*_MACHINE_ACTIONS, before))
        return cur.rowcount
