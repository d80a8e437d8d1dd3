"""Everything the pure core may know of the world, passed in explicitly.

The clock, the roster and read-only look-ups into earlier cases arrive here so that
the workflow can be tested with a frozen time and a dict for history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .case import Person
from .flood_rules import FloodRules
from .model import Address, Roster
from .team import TeamDetails
from .vocabulary import staff_role


class History(Protocol):
    def earlier(self, person: Person, exclude_case: int) -> list[dict[str, Any]]:
        """Earlier cases naming `person` as accused:
        [{"case", "person", "outcome", "status", "recused"}] (recused: staff emails)."""
        ...

    def mentioned(self, text: str, exclude_case: int) -> list[dict[str, Any]]:
        """Earlier cases whose accused `text` writes out (by address or full name)."""
        ...

    def staff_text(self, case: int) -> str:
        """What cocmail mailed to staff on `case` (outgoing_text.staff_text_index)."""
        ...


class NoHistory:
    def earlier(self, person: Person, exclude_case: int) -> list[dict[str, Any]]:
        return []

    def mentioned(self, text: str, exclude_case: int) -> list[dict[str, Any]]:
        return []

    def staff_text(self, case: int) -> str:
        return ""


@dataclass(frozen=True)
class Env:
    event: str
    event_ends: date | None
    tz: ZoneInfo
    inbox: str
    dsf: str
    appeal: str | None
    roster: Roster
    now: datetime
    history: History
    nonce: Callable[[], str]  # token nonces: the shell's random source (cocmail/nonces.py)
    ack_limit: int = 5
    second_approval: tuple[str, ...] = ()  # [process] second_approval
    conflict_contacts: tuple[str, ...] = ()  # [process] conflict_contacts (core/conflicts.py)
    flood: FloodRules = FloodRules()  # [process] flood_*: the circuit breaker (core/flood.py)
    # Issue 25: the team's own details, the words that make a report possibly urgent
    # (core/urgency.py) and the first-response times the acknowledgement promises.
    details: TeamDetails = TeamDetails()
    urgent_words: tuple[str, ...] = ()  # [process] urgent_words, added to the shipped list
    event_starts: date | None = None
    first_response: timedelta = timedelta(minutes=120)  # [process] first_response_minutes
    first_response_outside: timedelta = timedelta(minutes=1440)
    # Issue 26 (core/languages.py): the event's languages, main first; the team's language.
    languages: tuple[str, ...] = ("en",)
    staff_language: str = "en"


    def dsf_release_time(self) -> datetime | None:
        """Midnight starting the day after the event, in the event's time zone."""
        if self.event_ends is None:
            return None
        return datetime.combine(self.event_ends + timedelta(days=1), time(0, 0), self.tz)

    def staff_recipients(self, recused: tuple[str, ...], exclude: str | None = None
                         ) -> list[tuple[Address, str]]:
        """(address, role) for every staff member who may get mail about a case."""
        out = []
        for m in self.roster.members:
            if m.email in recused or (exclude and m.owns(exclude)):
                continue
            if any(a in recused for a in m.aliases):
                continue
            out.append((m.address, staff_role(m.sid)))
        return out

    def leads(self, recused: tuple[str, ...]) -> list[tuple[Address, str]]:
        """The leads who may get mail about a case (not recused from it)."""
        lead = {m.email for m in self.roster.members if m.lead}
        return [(a, r) for a, r in self.staff_recipients(recused) if a.email in lead]

    def day_start(self) -> datetime:
        """Midnight that began today in the event's time zone: "per day" means its day."""
        return datetime.combine(self.now.astimezone(self.tz).date(), time(0, 0), self.tz)

    def local(self, dt: datetime | None) -> str:
        return dt.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if dt else ""
