"""What each mail's template is given: one frozen, keyword-only dataclass per mail kind.

A builder names every value its mail's template reads, by keyword, and a value nobody
sets is a TypeError where the mail is built, not a render failure at delivery time.
tests/test_mail_contexts.py checks that every MailKind has a class here and that each
class's fields are exactly what templates/<kind>.txt reads, besides the values every
mail gets (the event, the case tag, the team's details: compose.Composer.common).

The classes hold values, not behaviour: lists and dicts the templates loop over stay
lists and dicts, as the builders made them, so the rendered text is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from .vocabulary import MailKind

if TYPE_CHECKING:
    from .effects import OutMail

# The subject of the decision to a person affected who did not report (SUBJECT_VARIANTS).
NOT_REPORTED_DECISION = "victim_decision_not_reported"
# A row of a list a template loops over (an earlier case, a transcript line, ...).
Row = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class MailContext:
    """The base of every context: its mail kind, and its values as the template's names."""

    KIND: ClassVar[MailKind]

    def variables(self) -> dict[str, Any]:
        """The fields by name, as they are (not copied: a preview's inner mail stays an
        OutMail, which dataclasses.asdict would turn into a dict)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def subject_key(self) -> str:
        """Which subject the mail takes (core/effects.py SUBJECTS and SUBJECT_VARIANTS, and
        each language's subjects.toml): its kind's, unless its values call for another."""
        return str(self.KIND)


@dataclass(frozen=True, kw_only=True)
class AckContext(MailContext):
    KIND = MailKind.ACK
    reporter_name: str
    within: str  # how soon a member will read the report (reminders.promised_within)
    possibly_urgent: bool
    outside_team: bool = False  # the report went to the conflict contacts instead
    member_kept_out: bool = False  # a member the report names was not sent it


@dataclass(frozen=True, kw_only=True)
class StaffNewCaseContext(MailContext):
    KIND = MailKind.STAFF_NEW_CASE
    recipient_name: str
    reporter: str
    received_by: str | None
    report_from: str
    report_subject: str
    report_date: str
    report_text: str
    attachments: list[str]
    files: Row | None = None  # what was attached to this mail, what not (evidence.with_files)
    earlier: list[Row]
    urgent: bool
    commands: list[tuple[str, str]]
    forged: str | None
    sender_unknown: str | None = None  # intake says why, when it knows
    ack_withheld: str | None = None
    conflict: Row | None = None
    back: bool = False  # a member brought back onto the case
    escalated: Row | None = None  # #urgent: who, when, their words (mail_commands/case_state)
    possibly_urgent: list[str] | tuple[str, ...] = ()  # what reads as urgent (urgency.py)
    report_language: str | None = None  # the report's language and the ack's (languages.py)


@dataclass(frozen=True, kw_only=True)
class StaffRelayContext(MailContext):
    KIND = MailKind.STAFF_RELAY
    recipient_name: str
    sender: str
    sender_role: str
    subject: str
    text: str
    automatic_reason: str | None
    transcript: list[Row]
    forged: str | None
    conflict: Row | None
    refused: bool
    # Who wrote, how to answer them, and the appeal (who_wrote.relay_context)
    reply_with: str
    role_note: str
    appeal: bool
    appeal_to: str | None
    # Why the appeal contact was not sent it: it names someone the case protects.
    appeal_withheld: str = ""
    attachments: list[str]  # the files of the mail relayed, described
    files: Row | None = None  # what was attached to this mail, what not (evidence.with_files)


@dataclass(frozen=True, kw_only=True)
class TranscriptContext(MailContext):
    """What a block of commands did; the defaults are a block that ran, held nothing,
    mailed no one and left no note (intake builds a transcript three ways)."""

    KIND = MailKind.TRANSCRIPT
    recipient_name: str
    lines: list[Row]
    ignored: list[Row]
    missing_steps: list[str]
    rejected: bool = False
    reason: str | None = None  # why the block was refused
    held: bool = False  # not run: the mail was not authenticated (#confirm runs it)
    held_body: str = ""
    problems: list[str] | tuple[str, ...] = ()  # why it was held
    mailed: list[str] | tuple[str, ...] = ()
    earlier: list[Row] | tuple[Row, ...] = ()
    proposals: list[str] | tuple[str, ...] = ()  # waiting for a second member
    note_recorded: bool = False


@dataclass(frozen=True, kw_only=True)
class AccusedComplaintContext(MailContext):
    KIND = MailKind.ACCUSED_COMPLAINT
    accused_name: str


@dataclass(frozen=True, kw_only=True)
class HarasserResponseContext(MailContext):
    KIND = MailKind.HARASSER_RESPONSE
    accused_name: str
    action: str
    appeal_contact: str


@dataclass(frozen=True, kw_only=True)
class VictimDecisionContext(MailContext):
    KIND = MailKind.VICTIM_DECISION
    victim_name: str
    action: str
    outcome: str | None
    reported: bool  # the person affected reported it themselves
    finding: str

    def subject_key(self) -> str:
        # Someone who never wrote to the team is not told of "your report".
        return str(self.KIND) if self.reported else NOT_REPORTED_DECISION


@dataclass(frozen=True, kw_only=True)
class DsfReportContext(MailContext):
    KIND = MailKind.DSF_REPORT
    when: str
    where: str
    summary: str
    what_happened: str
    action: str | None
    outcome: str | None
    # Who was involved (workflow.dsf_people)
    reported: list[str]
    reporter: str
    affected: str | None
    witnesses: list[str]
    handled_by: list[str]
    # Whether and when the people were told (workflow.dsf_responses)
    accused_side: str
    accused_told: str | None
    harasser_told: str | None
    victim_told: str | None
    no_harasser_steps: bool
    # The person affected asked not to be contacted (#notified-victim declined); False
    # for a report proposed before cocmail knew the word, and stored so.
    victim_declined: bool = False


@dataclass(frozen=True, kw_only=True)
class ReporterReplyContext(MailContext):
    KIND = MailKind.REPORTER_REPLY
    reporter_name: str
    text: str


@dataclass(frozen=True, kw_only=True)
class HelpContext(MailContext):
    KIND = MailKind.HELP
    commands: list[tuple[str, str]]


@dataclass(frozen=True, kw_only=True)
class StatusContext(MailContext):
    KIND = MailKind.STATUS
    row: list[tuple[str, str]]
    status: str
    missing_steps: list[str]
    proposals: list[str]


@dataclass(frozen=True, kw_only=True)
class PreviewContext(MailContext):
    KIND = MailKind.PREVIEW
    target: str
    inner: OutMail | None  # shown as mail_to, mail_subject, mail_body (compose)
    near_misses: list[str]
    attached: list[str] | tuple[str, ...] = ()  # a DSF report's correspondence, by name


@dataclass(frozen=True, kw_only=True)
class DigestContext(MailContext):
    KIND = MailKind.DIGEST
    machine_mail: int
    period_start: str
    period_end: str
    opened: list[int]
    closed: list[int]
    open_cases: list[Row]
    stale: list[int]
    awaiting: list[int]
    dsf_due: list[int]


@dataclass(frozen=True, kw_only=True)
class DeliveryFailedContext(MailContext):
    KIND = MailKind.DELIVERY_FAILED
    recipient_role: str
    subject: str
    error: str


@dataclass(frozen=True, kw_only=True)
class QuarantinedContext(MailContext):
    KIND = MailKind.QUARANTINED
    item_id: int
    reason: str
    subject: str
    sender: str


@dataclass(frozen=True, kw_only=True)
class SentAsYouContext(MailContext):
    KIND = MailKind.SENT_AS_YOU
    recipient_name: str
    subject: str


@dataclass(frozen=True, kw_only=True)
class ProposalContext(MailContext):
    KIND = MailKind.PROPOSAL
    recipient_name: str
    proposer: str
    what: str
    recuse: bool
    include: bool
    on_case: str
    inners: list[OutMail]  # shown as `mails` (compose)
    near_misses: list[str]
    attached: list[str] | tuple[str, ...] = ()  # a DSF report's correspondence, by name


@dataclass(frozen=True, kw_only=True)
class ProposalRejectedContext(MailContext):
    KIND = MailKind.PROPOSAL_REJECTED
    recipient_name: str
    rejected_by: str
    what: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class MemberExcludedContext(MailContext):
    KIND = MailKind.MEMBER_EXCLUDED
    recipient_name: str
    member: str
    proposed_by: str
    approved_by: str


@dataclass(frozen=True, kw_only=True)
class StillUnansweredContext(MailContext):
    KIND = MailKind.STILL_UNANSWERED
    recipient_name: str
    opened: str
    missing_steps: list[str]
    urgent: bool
    possibly_urgent: bool
    waited: str
    leads: bool  # the second level, to the leads


@dataclass(frozen=True, kw_only=True)
class ReporterWaitingContext(MailContext):
    KIND = MailKind.REPORTER_WAITING
    recipient_name: str
    missing_steps: list[str]
    waited: str
    last_contact: str
    never_heard: bool
    handling: bool  # sent to the case's handlers (else to all staff)


@dataclass(frozen=True, kw_only=True)
class ConflictReportContext(MailContext):
    KIND = MailKind.CONFLICT_REPORT
    named: list[Row]
    reporter: str
    sender: str
    subject: str
    text: str
    date: str
    attachments: list[str]
    followup: bool
    acknowledged: bool


@dataclass(frozen=True, kw_only=True)
class FloodSummaryContext(MailContext):
    KIND = MailKind.FLOOD_SUMMARY
    recipient_name: str
    groups: list[Row]
    unacknowledged: int


@dataclass(frozen=True, kw_only=True)
class VictimReplyContext(MailContext):
    KIND = MailKind.VICTIM_REPLY
    victim_name: str
    text: str


@dataclass(frozen=True, kw_only=True)
class AccusedReplyContext(MailContext):
    KIND = MailKind.ACCUSED_REPLY
    accused_name: str
    text: str


@dataclass(frozen=True, kw_only=True)
class WitnessReplyContext(MailContext):
    KIND = MailKind.WITNESS_REPLY
    witness_name: str
    text: str


@dataclass(frozen=True, kw_only=True)
class CommitteeReplyContext(MailContext):
    KIND = MailKind.COMMITTEE_REPLY
    text: str


@dataclass(frozen=True, kw_only=True)
class AppealNoticeContext(MailContext):
    KIND = MailKind.APPEAL_NOTICE
    sender: str
    subject: str
    text: str
    told: str  # when the reported person was told the response, or ""


@dataclass(frozen=True, kw_only=True)
class SanctionEndedContext(MailContext):
    KIND = MailKind.SANCTION_ENDED
    recipient_name: str
    sanction: str  # what ended, in words
    ended: str  # the date it ended (ISO)
    days_ago: int
    some_only: bool  # it ended for some of the reported people, not all
    handling: bool  # sent to the case's handlers (else to all staff)


# Every context class by its mail kind (tests/test_mail_contexts.py: one for each).
CONTEXTS: dict[MailKind, type[MailContext]] = {
    cls.KIND: cls for cls in (
        AckContext, StaffNewCaseContext, StaffRelayContext, TranscriptContext,
        AccusedComplaintContext, HarasserResponseContext, VictimDecisionContext,
        DsfReportContext, ReporterReplyContext, HelpContext, StatusContext, PreviewContext,
        DigestContext, DeliveryFailedContext, QuarantinedContext, SentAsYouContext,
        ProposalContext, ProposalRejectedContext, MemberExcludedContext,
        StillUnansweredContext, ReporterWaitingContext, ConflictReportContext,
        FloodSummaryContext, VictimReplyContext, AccusedReplyContext, WitnessReplyContext,
        CommitteeReplyContext, AppealNoticeContext, SanctionEndedContext)}

# Fields compose turns into other template variables (Composer.body): a proposal shows
# its `inners` as `mails`, a preview its `inner` as `mail_to`, `mail_subject`, ...
COMPOSED_FROM: dict[MailKind, dict[str, frozenset[str]]] = {
    MailKind.PROPOSAL: {"inners": frozenset({"mails"}), "attached": frozenset()},
    MailKind.PREVIEW: {"inner": frozenset({"mail_to", "mail_subject", "mail_body"}),
                       "attached": frozenset({"mail_attached"})},
}


def context_from_dict(kind: str, values: dict[str, Any]) -> MailContext:
    """A context as mail_to_json stored it (a proposal's mails, in the database); keys no
    longer in the class are left out, so a proposal stored by an older cocmail loads.

    A field added to a kind a proposal holds (accused_complaint, harasser_response,
    accused_reply, dsf_report) has no value in the proposals already stored: give it a default, or
    fill it in with a migration, or those proposals no longer load."""
    cls = CONTEXTS[MailKind(kind)]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})
