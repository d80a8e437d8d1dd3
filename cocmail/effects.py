"""What the pure core asks the shell to do: outgoing mails, audit entries, held commands.

These are plain values; `compose` turns an OutMail into a real message and the
pipeline writes everything in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .model import Address

# Subjects per template (after the "[CoC #N]" tag). Never a person's name (process.md).
SUBJECTS = {
    "ack": "We have received your report",
    "staff_new_case": "New report",
    "staff_relay": "New message on the case",
    "transcript": "Your commands",
    "accused_complaint": "A Code of Conduct matter at {event}",
    "harasser_response": "Outcome of the Code of Conduct process at {event}",
    "victim_decision": "The decision about your report",
    "dsf_report": "Incident report from {event}",
    "reporter_reply": "About your report",
    "help": "cocmail commands",
    "status": "Case status",
    "preview": "Preview (not sent)",
    "digest": "Weekly Code of Conduct digest",
    "delivery_failed": "A mail could not be delivered",
    "quarantined": "A message could not be processed",
    "sent_as_you": "Mail in your name, not authenticated",
}
# The subject of a staff_relay of automatic mail (bounces, auto-replies): it is how the
# store finds who was already told of automatic mail on a case today (issue 11, item 2).
AUTO_NOTICE_SUBJECT = "Automatic mail on the case"
# Replies to a message get auto-replied; everything else auto-generated (mail.md).
REPLY_KINDS = ("ack", "transcript", "help", "status", "preview")


@dataclass(frozen=True)
class OutMail:
    kind: str  # the template name
    to: Address
    role: str  # "s<N>" for staff, else r v a d w x (see tokens.py)
    case: int | None
    context: dict[str, Any] = field(default_factory=dict)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    not_before: datetime | None = None
    subject: str | None = None  # overrides SUBJECTS[kind]
    nonce: str | None = None  # fixed token nonce (held-command transcripts)

    @property
    def auto_submitted(self) -> str:
        return "auto-replied" if self.kind in REPLY_KINDS else "auto-generated"


@dataclass(frozen=True)
class AuditEntry:
    action: str
    detail: str = ""


@dataclass(frozen=True)
class Held:
    """Commands from staff mail that could not be authenticated, awaiting #confirm."""

    nonce: str
    staff_email: str
    commands: str  # the command block as text, re-parsed at confirm time
    body: str
