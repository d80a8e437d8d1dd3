"""The embedded SMTP listener (aiosmtpd): mail for the inbox address only, stored before 250.

Used when there is no `[imap]` section: the MTA (or a test) delivers straight to cocmail.
Any other recipient gets 550, so the listener can never become an open relay, and a
message is answered 250 only after its raw bytes are committed to the database.

Mail over `inbox.max_message_bytes` is still taken (up to a hard ceiling of twice the
cap, to bound memory): the pipeline quarantines it and tells staff, exactly as for mail
fetched by IMAP. Refusing it at the door with 552 would leave staff unaware that a
report, perhaps with a video of the incident, never reached them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer

from ..store import Store

log = logging.getLogger("cocmail.listener")


def accepts(address: str, inbox: str) -> bool:
    """The inbox address itself or one of its plus forms (`conduct+anything@domain`)."""
    local, _, domain = address.lower().rpartition("@")
    ilocal, _, idomain = inbox.lower().rpartition("@")
    return domain == idomain and (local == ilocal or local.startswith(ilocal + "+"))


class InboxHandler:
    def __init__(self, store: Store, inbox: str, on_stored: Callable[[int], None]):
        self.store = store
        self.inbox = inbox
        self.on_stored = on_stored

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if not accepts(address, self.inbox):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            inbound_id = self.store.add_inbound(raw, "smtp")
        except Exception as e:  # noqa: BLE001 - the sender must retry, not lose the report
            log.error("could not store incoming mail: %s", type(e).__name__)
            return "451 4.3.0 Temporary storage failure, please retry"
        if inbound_id is not None:
            self.on_stored(inbound_id)
        return "250 OK: stored"


def size_ceiling(max_bytes: int) -> int:
    """The largest message the listener stores (for the pipeline to quarantine if over the cap)."""
    return 2 * max_bytes


def start_listener(store: Store, inbox: str, host: str, port: int, max_bytes: int,
                   on_stored: Callable[[int], None]) -> Controller:
    handler = InboxHandler(store, inbox, on_stored)
    ceiling = size_ceiling(max_bytes)

    class _Controller(Controller):
        def factory(self) -> SMTPServer:
            return SMTPServer(self.handler, data_size_limit=ceiling, enable_SMTPUTF8=True,
                              hostname="cocmail")

    controller = _Controller(handler, hostname=host, port=port)
    controller.start()
    return controller
