"""What the pure core asks the shell to do: outgoing mails, audit entries, held commands.

These are plain values; `compose` turns an OutMail into a real message and the
pipeline writes everything in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .mail_contexts import NOT_REPORTED_DECISION, MailContext, context_from_dict
from .model import Address
from .vocabulary import DSF_COMMITTEE, MailKind, ProposalKind

# Subjects per mail kind (after the "[CoC #N]" tag). Never a person's name (docs/process.md).
SUBJECTS: dict[MailKind, str] = {
    MailKind.ACK: "We have received your report",
    MailKind.STAFF_NEW_CASE: "New report",
    MailKind.STAFF_RELAY: "New message on the case",
    MailKind.TRANSCRIPT: "Your commands",
    MailKind.ACCUSED_COMPLAINT: "A Code of Conduct matter at {event}",
    MailKind.HARASSER_RESPONSE: "Outcome of the Code of Conduct process at {event}",
    MailKind.VICTIM_DECISION: "The decision about your report",
    MailKind.DSF_REPORT: "Incident report from {event}",
    MailKind.REPORTER_REPLY: "About your report",
    MailKind.HELP: "cocmail commands",
    MailKind.STATUS: "Case status",
    MailKind.PREVIEW: "Preview (not sent)",
    MailKind.DIGEST: "Weekly Code of Conduct digest",
    MailKind.DELIVERY_FAILED: "A mail could not be delivered",
    MailKind.QUARANTINED: "A message could not be processed",
    MailKind.SENT_AS_YOU: "Mail in your name, not authenticated",
    MailKind.PROPOSAL: "Approval needed",
    MailKind.PROPOSAL_REJECTED: "Your proposal was rejected",
    MailKind.MEMBER_EXCLUDED: "A team member was excluded from a case",
    MailKind.STILL_UNANSWERED: "Reminder: still unanswered",
    MailKind.REPORTER_WAITING: "Reminder: the reporter is waiting for news",
    MailKind.CONFLICT_REPORT: "A report that names the Code of Conduct team",
    MailKind.FLOOD_SUMMARY: "Many messages at once: a summary",
    MailKind.VICTIM_REPLY: "A message from the {event} Code of Conduct team",
    MailKind.ACCUSED_REPLY: "A Code of Conduct matter at {event}",
    MailKind.WITNESS_REPLY: "A message from the {event} Code of Conduct team",
    MailKind.COMMITTEE_REPLY: "A message from the {event} Code of Conduct team",
    MailKind.APPEAL_NOTICE: "Possibly an appeal: a Code of Conduct decision at {event}",
    MailKind.SANCTION_ENDED: "Reminder: a sanction has ended",
}
# Subjects a mail's values choose instead of its kind's (MailContext.subject_key); every
# shipped language has each in its subjects.toml (tests/test_translations.py).
SUBJECT_VARIANTS: dict[str, str] = {
    NOT_REPORTED_DECISION: "A decision about something that happened to you at {event}",
}
# Subjects that tell staff what arrived (issue 25, item 5), chosen by core/intake.py: on a
# phone, the reporter's new message must not look like a colleague's #approve. Keyed by
# who wrote, as staff_relay names them; never a person's name.
RELAY_SUBJECTS = {
    "reporter": "The reporter wrote again",
    "person affected": "The person affected wrote",
    "reported person": "The reported person wrote",
    "witness": "A witness wrote",
    "committee": "The committee wrote",
    "reported person (after the response)": "The reported person wrote after the response",
    "staff member": "A colleague's note",
    "staff member commands": "A colleague's commands",
    "staff member (NOT authenticated)": "A colleague's mail, not authenticated",
    "team member excluded": "A member excluded from the case wrote",
    "someone": "Someone not on the case wrote",
}
# A proposal's subject names what it would send or do (issue 25, item 5), so two waiting
# proposals never look alike on a phone; never a name. Kinds not listed keep "Approval needed".
PROPOSAL_SUBJECTS: dict[ProposalKind, str] = {
    ProposalKind.ACCUSED: "Approval needed: the complaint notice to the reported person",
    ProposalKind.HARASSER: "Approval needed: the response to the reported person",
    ProposalKind.DSF: "Approval needed: the report to the committee",
    ProposalKind.RECUSE: "Approval needed: excluding a team member from the case",
    ProposalKind.INCLUDE: "Approval needed: bringing a team member back to the case",
}
# A new report whose opening reads as urgent (core/urgency.py).
POSSIBLY_URGENT_SUBJECT = "Possibly urgent: new report"
# The subject of a staff_relay of automatic mail (bounces, auto-replies): it is how the
# store finds who was already told of automatic mail on a case today (issue 11, item 2).
AUTO_NOTICE_SUBJECT = "Automatic mail on the case"
# Replies to a message get auto-replied; everything else auto-generated (docs/mail.md).
REPLY_KINDS: tuple[MailKind, ...] = (MailKind.ACK, MailKind.TRANSCRIPT, MailKind.HELP,
                                     MailKind.STATUS, MailKind.PREVIEW)


@dataclass(frozen=True, kw_only=True)
class OutMail:
    """One mail to write. Its kind is its context's (core/mail_contexts.py): the class
    of `context` names the template, so a mail cannot be built with another's values."""

    to: Address
    role: str  # a Recipient letter, or staff_role(sid) ("s<N>") for staff
    case: int | None
    context: MailContext
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    not_before: datetime | None = None
    subject: str | None = None  # overrides SUBJECTS[kind]
    nonce: str | None = None  # fixed token nonce (held-command transcripts)
    carries_files: bool = False  # staff mail: the files of the mail read go along (evidence)
    # Issue 26: the languages the body is written in, one after the other (core/languages.py);
    # () is the team's language (staff mail, the committee's report).
    languages: tuple[str, ...] = ()

    @property
    def kind(self) -> MailKind:
        """The mail kind (core/vocabulary.py): the template's name."""
        return self.context.KIND

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


# What a proposal of each kind does, for the mails and transcripts that name it.
PROPOSAL_WHAT: dict[ProposalKind, str] = {
    ProposalKind.ACCUSED: "send this to the reported person",
    ProposalKind.ACCUSED_REPLY: "send this reply to the reported person",
    ProposalKind.HARASSER: "send this to the reported person",
    ProposalKind.DSF: f"send this report to the {DSF_COMMITTEE}",
    ProposalKind.RECUSE: "exclude {target} from this case",
    ProposalKind.INCLUDE: "bring {target} back into this case",
}
PROPOSAL_SHORT: dict[ProposalKind, str] = {
    ProposalKind.ACCUSED: "send the complaint notice to the reported person",
    ProposalKind.ACCUSED_REPLY: "send a reply to the reported person",
    ProposalKind.HARASSER: "send the response to the reported person",
    ProposalKind.DSF: "send the report to the DSF",
    ProposalKind.RECUSE: "exclude {target} from this case",
    ProposalKind.INCLUDE: "bring {target} back into this case",
}


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """Mail (or a recusal) waiting for a second team member's #approve."""

    nonce: str
    case: int
    kind: str  # accused | accused-reply | harasser | dsf | recuse | include
    proposed_by: str  # staff email
    proposed_at: datetime
    target: str = ""  # recuse, include: the staff email to exclude or bring back
    mails: tuple[OutMail, ...] = ()
    facts: str = ""  # the case as the mails were written (JSON): a change makes them stale
    state: str = "waiting"  # waiting | approved | rejected
    decided_by: str | None = None  # when: the proposals.decided_at column, never read back
    reason: str | None = None

    def what(self, target_name: str = "", short: bool = False) -> str:
        return (PROPOSAL_SHORT if short else PROPOSAL_WHAT)[self.kind].format(
            target=target_name or self.target)


def mail_to_json(m: OutMail) -> dict[str, Any]:
    return {"kind": m.kind, "to": [m.to.name, m.to.email], "role": m.role, "case": m.case,
            "context": m.context.variables(), "in_reply_to": m.in_reply_to,
            "references": list(m.references), "subject": m.subject,
            "not_before": m.not_before.isoformat() if m.not_before else None,
            "languages": list(m.languages)}


def mail_from_json(d: dict[str, Any]) -> OutMail:
    return OutMail(to=Address(d["to"][0], d["to"][1]), role=d["role"], case=d["case"],
                   context=context_from_dict(d["kind"], d["context"]),
                   in_reply_to=d["in_reply_to"],
                   references=tuple(d["references"]), subject=d["subject"],
                   not_before=datetime.fromisoformat(d["not_before"]) if d["not_before"]
                   else None, languages=tuple(d.get("languages", ())))
