"""What every mail command is declared with, and the block's working state.

Pure. A command is one `MailCommand`: its name, other spellings, syntax and help line
(for `#help`, the cheat-sheet in staff mail and the README check), the shape of its
value, whether it runs on a closed case, whom it may mail, and its handler. The handler
gets `_Work`, a scratch copy of the case and what the block has done so far; it returns
the transcript's line or raises `Refused` (core/workflow.py), which refuses the block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..case import Case, Person
from ..conflicts import NamesSender, person_added
from ..effects import AuditEntry, OutMail, Proposal
from ..env import Env
from ..model import StaffMember
from ..vocabulary import Recipient
from ..workflow import Refused
from .values import Command, CommandValueError, parse_person

STAFF = "staff"  # in `mails_to`: members of the team (token roles s<N>)


class Value(StrEnum):
    """The shape of a command's value. Every shape but NONE, OPTIONAL and CHOICE needs
    a value: the block is refused with the command's syntax when it is missing."""

    NONE = "none"  # anything written after the name is ignored
    OPTIONAL = "optional"  # free text, may be empty
    TEXT = "text"  # free text, needed
    PERSON = "person"  # Name <addr>, an address or a name (or a keyword the command knows)
    STAFF = "staff"  # a team member's address
    OUTCOME = "outcome"  # one of vocabulary.Outcome
    CHOICE = "choice"  # one of a few words the handler lists when it is missing

    @property
    def needed(self) -> bool:
        return self not in (Value.NONE, Value.OPTIONAL, Value.CHOICE)


@dataclass
class _Work:
    """Mutable scratch state while one block runs."""

    case: Case
    actor: StaffMember
    env: Env
    body: str
    mails: list[OutMail]
    audit: list[AuditEntry]
    mailed: list[str]
    earlier: list[dict[str, Any]]
    urgent: bool = False
    urgent_why: str = ""  # #urgent's own words, for the alert (case_state.urgent_mails)
    known: tuple[Proposal, ...] = ()  # the case's proposals before this block
    answering: tuple[str, ...] = ()  # token nonces the mail answers (a proposal's mail)
    proposals: list[Proposal] = field(default_factory=list)
    decided: list[tuple[Proposal, str, str | None]] = field(default_factory=list)
    reference: tuple[tuple[str, str], ...] = ()  # (syntax, help) of every command


Handler = Callable[[_Work, Command], str]


@dataclass(frozen=True, kw_only=True)
class MailCommand:
    """One mail command, declared once in its family module."""

    name: str  # canonical, as `#help` lists it
    syntax: str  # starts with `#name`
    help: str  # one line
    handler: Handler
    place: int  # position in `#help`, which follows a case from the report to its end
    value: Value = Value.NONE
    on_closed_case: bool = False  # may run on a closed case without #reopen
    mails_to: frozenset[str] = frozenset()  # Recipient letters and/or STAFF
    spellings: tuple[str, ...] = ()  # other names staff may type for it


def mail_to_role(role: str) -> str:
    """The `mails_to` word of a mail's token role: staff for `s<N>`, else the letter."""
    return STAFF if role.startswith("s") else Recipient(role).value


# ------------------------------------------------------------------ helpers
def _set(w: _Work, **changes: Any) -> None:
    w.case = replace(w.case, **changes)


def _mail(w: _Work, mail: OutMail, label: str) -> None:
    w.mails.append(mail)
    w.mailed.append(label)


def _person(value: str, role: str) -> Person:
    try:
        name, email = parse_person(value)
    except CommandValueError as e:
        raise Refused(str(e)) from None
    return Person(role, name, email.lower() if email else None)


def _staff(w: _Work, value: str) -> StaffMember:
    try:
        _, email = parse_person(value)
    except CommandValueError as e:
        raise Refused(str(e)) from None
    member = w.env.roster.by_email(email or "")
    if member is None:
        raise Refused(f"{value.strip()} is not on the staff list")
    return member


def _named_person(w: _Work, p: Person) -> str:
    """A team member the block puts on the case is excluded at once (core/conflicts.py)."""
    try:
        w.case, said, audit = person_added(w.case, p, w.env.roster, w.actor.email)
    except NamesSender as e:
        raise Refused(str(e)) from None
    w.audit.extend(AuditEntry(a, d) for a, d in audit)
    return said
