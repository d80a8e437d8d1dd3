"""Immutable values shared by the pure core: addresses, parsed messages, staff.

Kept in one small module so every core module can import them without pulling in
I/O, and so tests can build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

# How many thread ids of one message are looked at (tokens, stored Message-IDs): the
# newest References and the first In-Reply-To ids. More would only let a crafted header
# make every message cost thousands of HMACs and queries.
MAX_REFERENCES = 50
MAX_IN_REPLY_TO = 5


@dataclass(frozen=True)
class Address:
    """One mailbox. `email` is always lower-cased; `name` may be empty."""

    name: str
    email: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", self.email.strip().lower())

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    def display(self) -> str:
        return mailbox(self.name, self.email) if self.name else self.email


def mailbox(name: str, email: str) -> str:
    """`Name <address>` for staff to read. A name that holds an address or angle brackets
    ("ana@example.org" <mallory@evil.example>) is shown in quotes, so it never reads as
    the mail's real address."""
    if any(ch in name for ch in "@<>"):
        return f'"{name}" <{email}>'
    return f"{name} <{email}>"


@dataclass(frozen=True)
class ParsedMessage:
    """What the core needs to know of one inbound message, decoded once.

    `headers` maps lower-cased header names to every value in order (top first),
    decoded to str. `text` is the sender's OWN text: the top-level text/plain body (HTML
    converted when there is none), never anything inside an attached or forwarded
    message or a named attachment; commands, notes and `#reply` text come only from it.
    `attached_text` holds the attached/forwarded messages, each under a marker line:
    someone else's words, for staff to read (`full_text`), never to run or to send on.
    `file_text` is the text of attached text files (statement.txt, an HTML or Markdown
    file): read only to find whom the mail names (core/conflicts.py), with the file names.
    `defects` lists parse problems (never raised).
    """

    raw_sha256: str
    message_id: str | None
    from_: tuple[Address, ...]
    from_header_count: int
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: dict[str, tuple[str, ...]]
    text: str
    content_type: str = "text/plain"
    attachments: tuple[tuple[str, str, int], ...] = ()
    defects: tuple[str, ...] = ()
    size: int = 0
    attached_text: str = ""
    file_text: str = ""
    # The content types of the top-level part's own children (a multipart/mixed holding a
    # multipart/digest is a list's digest); empty for a single-part message.
    part_types: tuple[str, ...] = ()

    @property
    def full_text(self) -> str:
        """Own text, then the attached messages: what staff read of the mail."""
        if not self.attached_text:
            return self.text
        return f"{self.text.rstrip()}\n\n{self.attached_text}".lstrip("\n")

    def header(self, name: str) -> tuple[str, ...]:
        return self.headers.get(name.lower(), ())

    def first(self, name: str) -> str | None:
        values = self.header(name)
        return values[0] if values else None

    @property
    def sender(self) -> Address | None:
        """The single From mailbox, or None when From is missing or ambiguous."""
        if self.from_header_count == 1 and len(self.from_) == 1:
            return self.from_[0]
        return None

    def recipient_addresses(self) -> tuple[str, ...]:
        """Every address the message was delivered to (To, Cc, Delivered-To, X-Original-To)."""
        out = [a.email for a in self.to + self.cc]
        for name in ("delivered-to", "x-original-to"):
            for value in self.header(name):
                out.append(value.strip().strip("<>").lower())
        return tuple(out)

    def thread_ids(self) -> tuple[str, ...]:
        """In-Reply-To then References, newest first, without duplicates, at most
        MAX_IN_REPLY_TO + MAX_REFERENCES of them (see _thread_ids)."""
        return self._thread_ids

    @cached_property
    def _thread_ids(self) -> tuple[str, ...]:
        """Computed once per message: identity, matching and the pipeline each ask.

        Only the newest References count (a reply to cocmail mail has its token among the
        last few; the oldest ids of a long thread add nothing), so a header of 100,000 ids
        costs no more lookups, HMACs and queries than one of 50; dict keys de-duplicate in
        linear time, in order.
        """
        newest = self.in_reply_to[:MAX_IN_REPLY_TO] + tuple(
            reversed(self.references[-MAX_REFERENCES:]))
        return tuple(dict.fromkeys(newest))


@dataclass(frozen=True)
class StaffMember:
    """A CoC team member. `sid` is their stable number in tokens (`s<sid>`)."""

    sid: int
    name: str
    email: str
    aliases: tuple[str, ...] = ()
    lead: bool = False

    @property
    def address(self) -> Address:
        return Address(self.name, self.email)

    def owns(self, email: str) -> bool:
        email = email.lower()
        return email == self.email.lower() or email in (a.lower() for a in self.aliases)


@dataclass(frozen=True)
class Roster:
    """The staff list, looked up by any of a member's addresses."""

    members: tuple[StaffMember, ...] = field(default_factory=tuple)

    def by_email(self, email: str) -> StaffMember | None:
        for m in self.members:
            if m.owns(email):
                return m
        return None


def normalise_address(email: str) -> str:
    """`email` case-folded and without a `+tag`: the mailbox a rate limit counts."""
    local, at, domain = email.strip().lower().rpartition("@")
    if not at:
        return email.strip().lower()
    return f"{local.split('+', 1)[0] or local}@{domain}"
