"""Mail queued for a member who is no longer in [[staff]] is not sent.

The README's "a member who leaves: remove their block and reload; they get no further
mail" did not hold for mail already waiting (a server that was down, a backoff, a
message held until after quiet hours): it went out after the member was removed, the
full report of a new case with it. When the daemon starts or rereads its config (the
worker and, before it delivers anything, the courier), every such mail still waiting
is cancelled (`cocmail outbox list` shows it as cancelled), as
a member's `#recuse` cancels theirs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import StaffConfig
    from .store import Store

log = logging.getLogger("cocmail.daemon")


def cancel_mail_to_former_members(store: Store, staff: tuple[StaffConfig, ...]) -> int:
    """Cancel waiting staff mail whose member is not in `staff` (a config's [[staff]])."""
    from .store import outbox as outbox_db
    from .store import people as people_db

    with store.tx() as c:
        sids = frozenset(m.sid for m in people_db.roster(c, staff).members)
        cancelled = outbox_db.cancel_staff_mail_except(c, sids)
    if cancelled:
        log.info("%d mail(s) waiting for people no longer in [[staff]] cancelled",
                 cancelled)
    return cancelled
