"""Which case a message belongs to (docs/mail.md, "Matching a message to a case").

Pure: the store is reached only through the small read-only `CaseIndex` protocol, so
tests can use a dict. Rules in order, first hit wins: signed token in the thread
headers, signed token in a recipient plus-address, a known Message-ID in the thread,
the subject tag (only from staff or from someone already on that case), else new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .model import ParsedMessage
from .tokens import Token

# Reply and forward prefixes in the languages conference mail arrives in.
_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|fw|fwd|wg|tr|rv|r|antw|odp|ynt|res|enc|ref|rif|vb|vl|atb|"
    r"回复|转发|回覆|答复|返信|転送)\s*(\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)


class CaseIndex(Protocol):
    def case_for_message_ids(self, mids: tuple[str, ...]) -> int | None: ...

    def case_exists(self, number: int) -> bool: ...

    def is_on_case(self, number: int, email: str) -> bool: ...


@dataclass(frozen=True)
class Match:
    case: int | None  # None: a new case
    rule: str  # "token" | "plus-address" | "message-id" | "subject" | "new"


def strip_prefixes(subject: str) -> str:
    """`Re: AW: WG: [CoC #3] x` -> `[CoC #3] x`."""
    return _PREFIX.sub("", subject or "").strip()


def subject_case(subject: str, tag: str) -> int | None:
    m = re.search(rf"\[\s*{re.escape(tag)}\s*#\s*(\d{{1,9}})\s*\]", subject or "", re.IGNORECASE)
    return int(m.group(1)) if m else None


def match_case(msg: ParsedMessage, *, thread_tokens: tuple[Token, ...],
               address_tokens: tuple[Token, ...], index: CaseIndex, tag: str,
               sender_is_staff: bool) -> Match:
    for token in thread_tokens:
        if index.case_exists(token.case):
            return Match(token.case, "token")
    for token in address_tokens:
        if index.case_exists(token.case):
            return Match(token.case, "plus-address")
    known = index.case_for_message_ids(msg.thread_ids())
    if known is not None:
        return Match(known, "message-id")
    number = subject_case(strip_prefixes(msg.subject), tag)
    sender = msg.sender
    if number is not None and index.case_exists(number) and sender is not None:
        if sender_is_staff or index.is_on_case(number, sender.email):
            return Match(number, "subject")
    return Match(None, "new")
