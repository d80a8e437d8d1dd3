"""Machine mail kept aside: what `cocmail inbound list --machine`, the digest and the
daily purge read (the SQL is in store/inbound.py, as all of it is in store/).

Mail that matched no case and that screening (core/screening.py) found to be a machine
talking (an out-of-office reply, a newsletter, a read receipt, a spam complaint report,
a bounce of mail cocmail never sent) opens no case and mails nobody. It is still kept,
with the reason, so the team can look at it when the digest counts some: nothing that
arrives is ever silently dropped. After KEEP_MACHINE_MAIL its text goes (the daily
purge): nobody's report needs it, and an out-of-office reply names a person too. Its
rows have no case, so an excluded member can see nothing of a case here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .store import Store
from .store import inbound as inbound_db

KEEP_MACHINE_MAIL = timedelta(days=90)
LISTED = 200  # the newest machine mail `inbound list --machine` shows


def machine_mail(store: Store, limit: int = LISTED) -> list[dict[str, Any]]:
    """The newest machine mail first: id, received_at, state, sender, subject, reason."""
    return store.read(inbound_db.machine_mail, limit)


def machine_mail_count(store: Store, start: datetime, end: datetime) -> int:
    """Machine mail kept aside between `start` and `end` (for the digest: a number only)."""
    return store.read(inbound_db.machine_mail_count, start, end)


def expunge_machine_mail(store: Store, now: datetime) -> int:
    """Empty the machine mail received more than KEEP_MACHINE_MAIL before `now`;
    returns how many messages were emptied."""
    return store.write(inbound_db.expunge_machine_mail, now - KEEP_MACHINE_MAIL)
