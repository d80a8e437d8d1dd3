"""The embedded SMTP listener (aiosmtpd): mail for the inbox address only, stored before 250.

Used when there is no `[imap]` section: the MTA (or a test) delivers straight to cocmail.
Any other recipient gets 550, so the listener can never become an open relay, and a
message is answered 250 only after its raw bytes are committed to the database.

Mail over `inbox.max_message_bytes` is still taken (up to a hard ceiling of twice the
cap, to bound memory): the pipeline quarantines it and tells staff, exactly as for mail
fetched by IMAP. Refusing it at the door with 552 would leave staff unaware that a
report, perhaps with a video of the incident, never reached them.

The listener may face the internet, so nobody may hold it open: connections are capped
in all and per client address (the excess is answered 421, which a real MTA retries),
and a session that sends no command for COMMAND_TIMEOUT seconds is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer

from ..clock import utcnow
from ..errors import as_operational
from ..store import Store
from ..store import inbound as inbound_db

log = logging.getLogger("cocmail.listener")

MAX_CONNECTIONS = 100  # sessions open at once; a real MTA needs a handful
MAX_CONNECTIONS_PER_CLIENT = 10  # per client IP, so one host cannot take all of them
# Seconds of silence between commands, and the time the whole DATA may take after the
# DATA command (aiosmtpd resets it per command): a 50 MB ceiling at ~3.5 Mbit/s.
COMMAND_TIMEOUT = 120.0
# Mail over the cap is still stored, up to this many times the cap (memory is bounded),
# so that the pipeline can quarantine it and tell staff; twice leaves room for a report
# whose attachments just missed the limit without letting one sender exhaust memory.
CEILING_TIMES_CAP = 2
_TOO_MANY = b"421 4.7.0 Too many connections, please try again later\r\n"


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
            mail = inbound_db.Arrived.of(raw, "smtp", utcnow())  # hashed before the lock
            inbound_id = self.store.write(inbound_db.add_inbound, mail)
        except Exception as e:  # noqa: BLE001 - the sender must retry, not lose the report
            operational = as_operational(e)  # e.g. "no space left on the storage dir"
            log.error("could not store incoming mail (answered 451, the sender retries): %s",
                      operational if operational is not None else type(e).__name__)
            return "451 4.3.0 Temporary storage failure, please retry"
        if inbound_id is not None:
            self.on_stored(inbound_id)
        return "250 OK: stored"


def size_ceiling(max_bytes: int) -> int:
    """The largest message the listener stores (for the pipeline to quarantine if over the cap)."""
    return CEILING_TIMES_CAP * max_bytes


class ConnectionGate:
    """Counts open sessions, in all and per client IP (only the event loop's thread uses it)."""

    def __init__(self, total: int, per_client: int):
        self.total = total
        self.per_client = per_client
        self.open: dict[str, int] = {}

    def admit(self, client: str) -> bool:
        if sum(self.open.values()) >= self.total or self.open.get(client, 0) >= self.per_client:
            return False
        self.open[client] = self.open.get(client, 0) + 1
        return True

    def release(self, client: str) -> None:
        left = self.open.get(client, 0) - 1
        if left > 0:
            self.open[client] = left
        else:
            self.open.pop(client, None)


class LimitedSMTP(SMTPServer):
    """aiosmtpd's SMTP session, admitted by a ConnectionGate or answered 421 and closed."""

    def __init__(self, handler: Any, gate: ConnectionGate, **kwargs: Any):
        super().__init__(handler, **kwargs)
        self._gate = gate
        self._client: str | None = None
        self._refused = False

    def connection_made(self, transport: Any) -> None:
        if self.transport is None and self._client is None:  # not a STARTTLS re-entry
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if peer else "?"
            if not self._gate.admit(client):
                self._refused = True
                log.warning("connection refused: too many open connections")
                transport.write(_TOO_MANY)
                transport.close()
                return
            self._client = client
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:  # never set up, so nothing of aiosmtpd's to tear down
            return
        if self._client is not None:
            self._gate.release(self._client)
            self._client = None
        super().connection_lost(error)


def start_listener(store: Store, inbox: str, host: str, port: int, max_bytes: int,
                   on_stored: Callable[[int], None], *,
                   max_connections: int = MAX_CONNECTIONS,
                   max_per_client: int = MAX_CONNECTIONS_PER_CLIENT,
                   timeout: float = COMMAND_TIMEOUT) -> Controller:
    """Listen on host:port; the limits are keywords only so tests can make them small."""
    handler = InboxHandler(store, inbox, on_stored)
    ceiling = size_ceiling(max_bytes)
    gate = ConnectionGate(max_connections, max_per_client)

    class _Controller(Controller):
        def factory(self) -> SMTPServer:
            return LimitedSMTP(self.handler, gate, data_size_limit=ceiling,
                               enable_SMTPUTF8=True, hostname="cocmail", timeout=timeout)

    controller = _Controller(handler, hostname=host, port=port)
    controller.start()
    return controller
