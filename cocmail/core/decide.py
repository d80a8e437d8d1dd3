"""One inbound message -> one Decision, every branch in one pure function.

The shell (pipeline.py) does three things for a message: `read` it (pure), gather the
facts the reading asks for (the case it matched, the next case number, the
acknowledgements sent to the sender today, held commands, ...), and commit what
`decide(facts)` returns. Reading, deciding and composing happen before the write lock;
the write transaction gathers the facts again and commits the decision only if they are
equal (Facts compares whole), else decides again under the lock. So what commits was
always decided on the facts as they are at the commit, and the lock is held for
milliseconds.

Every outcome is a Decision, the refusals too: a message over the size cap or that
cannot be parsed is a Decision to quarantine it, carrying the staff notices, so the
quarantine and its notice are committed together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from .case import Case
from .conflicts import named_in_text
from .effects import OutMail, Proposal
from .env import Env
from .errors import MessageError
from .flood import on_followup, on_new_case
from .flood_rules import FloodCounts
from .identity import Identity, identify
from .intake import (
    Decision,
    HeldEntry,
    continue_case,
    open_case,
    unmatched_automatic,
    unmatched_machine,
)
from .languages import localised
from .mail_contexts import QuarantinedContext
from .message import body_sha256, parse_message
from .model import ParsedMessage, Roster
from .screening import Screening, bounced_message_ids, screen
from .tokens import Token, token_from_message_id


@dataclass(frozen=True)
class Settings:
    """What the config says about reading mail (the shell fills it in once)."""

    secret: bytes
    inbox: str
    max_bytes: int
    plus_addressing: bool
    trusted_authserv_ids: tuple[str, ...]
    authres_via: tuple[str, ...]


@dataclass(frozen=True)
class Reading:
    """What the core reads off one raw message before the store is asked anything.

    `refused` is the reason the message must be quarantined without being read further
    (over the size cap, unparseable); then `msg` and what follows it are None. Tokens
    are read once, in `identify`: `thread_tokens` adds those quoted inside a bounce.
    """

    size: int
    refused: str | None
    msg: ParsedMessage | None = None
    body_sha: str = ""
    screening: Screening | None = None
    identity: Identity | None = None
    thread_tokens: tuple[Token, ...] = ()
    address_tokens: tuple[Token, ...] = ()


@dataclass(frozen=True)
class Facts:
    """Everything `decide` needs that only the store knows. Gathered before the write
    lock and again inside the transaction that commits: a decision commits only on facts
    equal to those it was made on. Only what the reading asks for is looked up: no next
    number for a follow-up, no held entry for a report."""

    inbound_id: int
    reading: Reading
    env: Env
    duplicate_of: int | None = None  # an earlier, processed copy of the same message
    case: Case | None = None  # the case it matched, loaded once
    next_number: int = 0  # the number a new case gets
    acks_today: int = 0  # acknowledgements sent to the sender's mailbox in the last day
    held: HeldEntry | None = None  # unconfirmed commands this staff reply may confirm
    noticed_today: frozenset[str] = frozenset()  # staff told of automatic mail today
    proposals: tuple[Proposal, ...] = ()  # the case's proposals, whatever their state
    flood: FloodCounts = FloodCounts()  # what arrived within the breaker's window before it
    known_subject: str | None = None  # what the inbound row says, for a quarantine notice
    known_sender: str | None = None
    language: str = ""  # a new report's language, detected by the shell (core/languages.py)


def human_size(n: int) -> str:
    """Sizes for staff: MB with one decimal, KB below a megabyte."""
    if n >= 1024 * 1024:
        mb = n / (1024 * 1024)
        return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"
    return f"{max(n // 1024, 1)} KB" if n >= 1024 else f"{n} bytes"


def read(raw: bytes, arrived_via: str, roster: Roster, settings: Settings) -> Reading:
    """Parse, screen and identify `raw`; a Reading with `refused` set when it cannot be.

    The size cap is checked before parsing: the parser is never handed what the
    team said is too big. `arrived_via` is `identity.arrival_path(source)`.
    """
    if len(raw) > settings.max_bytes:
        return Reading(len(raw), f"message is {human_size(len(raw))}, over the "
                                 f"{human_size(settings.max_bytes)} cap")
    try:
        msg = parse_message(raw)
    except MessageError as e:
        return Reading(len(raw), str(e))
    screening = screen(msg, settings.inbox)
    identity = identify(msg, roster, settings.secret, inbox_address=settings.inbox,
                        trusted_authserv_ids=settings.trusted_authserv_ids,
                        plus_addressing=settings.plus_addressing, arrived_via=arrived_via,
                        authres_via=settings.authres_via)
    thread = identity.thread_tokens
    if screening.bounce:
        thread += tuple(t for t in (token_from_message_id(settings.secret, m)
                                    for m in bounced_message_ids(raw)) if t)
    return Reading(len(raw), None, msg, body_sha256(raw), screening, identity, thread,
                   identity.address_tokens)


def quarantine(inbound_id: int, reason: str, env: Env, subject: str | None = None,
               sender: str | None = None) -> Decision:
    """Keep the message aside with `reason` and tell every staff member, in one commit.

    Also the decision the shell commits when processing failed for the last time.
    """
    context = QuarantinedContext(item_id=inbound_id, reason=reason,
                                 subject=subject or "(unknown)",
                                 sender=sender or "(unknown)")
    # Not to a member its sender or subject names (issue 21), unless that is everyone.
    named = tuple(n.member.email for n in named_in_text(f"{subject}\n{sender}", env.roster))
    to = env.staff_recipients(named) or env.staff_recipients(())
    mails = tuple(OutMail(to=address, role=role, case=None, context=context)
                  for address, role in to)
    return Decision(None, False, mails, (), "quarantined", state="quarantined", error=reason,
                    log=f"quarantined: {reason}")


def decide(facts: Facts) -> Decision:
    """What this message does: quarantine, duplicate, ignore, keep aside as machine mail,
    open or continue a case."""
    r, env = facts.reading, facts.env
    if r.refused is not None:
        return quarantine(facts.inbound_id, r.refused, env, facts.known_subject,
                          facts.known_sender)
    msg, screening, identity = r.msg, r.screening, r.identity
    assert msg is not None and screening is not None and identity is not None
    if facts.duplicate_of is not None:
        return Decision(None, False, (), (), "duplicate", state="duplicate",
                        error=f"copy of #{facts.duplicate_of}", drop_raw=True,
                        log=f"a copy of {facts.duplicate_of}: skipped")
    case = facts.case
    if case is None and (screening.bounce or screening.loop):
        return unmatched_automatic(msg, screening)
    if case is None and screening.machine:
        return unmatched_machine(msg, screening)
    if case is None:
        return localised(on_new_case(open_case(msg, facts.next_number, env, identity,
                                               screening, facts.acks_today),
                                     facts.flood, env.flood, identity), env,
                         detected=facts.language)
    return localised(on_followup(continue_case(msg, case, env, identity, screening, facts.held,
                                               quoted=r.thread_tokens + r.address_tokens,
                                               noticed_today=facts.noticed_today,
                                               proposals=facts.proposals),
                                 facts.flood, env.flood, identity), env)
