"""What the retention policy says is due for expunging, and how a sent mail forgets a case.

Pure: the shell (cocmail/retention.py) loads the closed cases and the other cases naming
the same accused people, asks here which are due at `now`, and expunges them. The rules
(docs/process.md, Retention): closed cases that ended with a warning or less go `warning_days`
after they closed ("not a violation" after `not_a_violation_days`); removals,
suspensions and bans are kept (indefinitely, or `sanction_extra_days` when set). Open
cases are never due. The clock restarts when another case names the same accused
person: it then runs from that case's closing, and not at all while that case is open.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from typing import Protocol

from .case import Case
from .compose import body_cte
from .vocabulary import Outcome

# Which `[retention]` period each outcome's case is kept for (the Policy attribute
# named). A case closed without an outcome keeps the warning period.
RETENTION_PERIOD: dict[Outcome, str] = {
    Outcome.NOT_A_VIOLATION: "not_a_violation_days",
    Outcome.OUT_OF_SCOPE: "warning_days",
    Outcome.NO_ACTION: "warning_days",
    Outcome.WARNING: "warning_days",
    Outcome.NO_CONTACT: "warning_days",
    Outcome.TALK_ENDED: "warning_days",
    Outcome.REMOVED_FROM_EVENT: "sanction_extra_days",
    Outcome.SUSPENSION: "sanction_extra_days",
    Outcome.BAN: "sanction_extra_days",
    Outcome.OTHER: "warning_days",
}
# Kept indefinitely unless `sanction_extra_days` is set.
KEPT_OUTCOMES: tuple[Outcome, ...] = tuple(
    o for o, period in RETENTION_PERIOD.items() if period == "sanction_extra_days")


class Policy(Protocol):
    """The `[retention]` settings (config.RetentionConfig)."""

    warning_days: int
    not_a_violation_days: int
    sanction_extra_days: int | None


@dataclass(frozen=True)
class Related:
    """Another live case naming one of a case's accused people: its status and closing."""

    status: str
    closed: datetime | None


def retention_days(policy: Policy, case: Case) -> int | None:
    """Days a closed case is kept after its clock starts; None: kept indefinitely."""
    period = RETENTION_PERIOD.get(case.outcome or "", "warning_days")
    days: int | None = getattr(policy, period)
    return days


def clock_start(case: Case, related: Iterable[Related]) -> datetime | None:
    """When the retention period starts; None while the case (or a related one) is open."""
    start = case.step("closed")
    if case.status != "closed" or start is None:
        return None
    for other in related:
        if other.status != "closed" or other.closed is None:
            return None  # the person is named in an open case: keep their history
        start = max(start, other.closed)
    return start


def is_due(policy: Policy, case: Case, related: Iterable[Related], now: datetime) -> bool:
    """Whether the case's retention period has run out at `now`."""
    days = retention_days(policy, case)
    start = clock_start(case, related)
    return days is not None and start is not None and now - start >= timedelta(days=days)


_BLOCK = re.compile(r"\n==== NAMED IN EARLIER CASES ====\n(?P<items>(?:- [^\n]*\n)*)"
                    r"(?P<tail>Please read those cases[^\n]*\n=+\n)")
_WARNING = re.compile(r"\. WARNING: named in earlier cases (?P<items>(?:#\d+ \([^)\n]*\)"
                      r"(?:, )?)+)")
_ITEM = re.compile(r"#(\d+) \([^)\n]*\)")


def without_case(text: str, number: int) -> str:
    """`text` (a mail cocmail sent) with its earlier-case warnings about case `number` cut
    out, and a warning that named only that case cut whole."""
    def block(m: re.Match[str]) -> str:
        items = [line for line in m["items"].splitlines(keepends=True)
                 if not re.search(rf": case {number}, ", line)]
        return "\n==== NAMED IN EARLIER CASES ====\n" + "".join(items) + m["tail"] if items else ""

    def warning(m: re.Match[str]) -> str:
        items = [i.group(0) for i in _ITEM.finditer(m["items"]) if int(i.group(1)) != number]
        return ". WARNING: named in earlier cases " + ", ".join(items) if items else ""

    return _WARNING.sub(warning, _BLOCK.sub(block, text))


def rebuilt(raw: bytes, body: str) -> bytes:
    """`raw` with its text replaced by `body` (headers kept): the stored copy of a sent mail."""
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    msg.set_content(body, charset="utf-8", cte=body_cte(body))
    return msg.as_bytes(policy=SMTP)


def references(inbound_ids: list[str], recorded_ids: list[str], tag: str,
               number: int) -> list[str]:
    """What marks unmatched mail as the case's: its Message-IDs and its subject tag."""
    return inbound_ids + recorded_ids + [f"[{tag} #{number}]"]
