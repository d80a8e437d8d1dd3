"""cocmail's domain words, each declared once: outcomes, steps, people's roles, mail kinds.

Every table keyed by one of these (labels, subjects, templates, retention periods,
transparency words, what the committee gets as correspondence) is checked by
tests/test_vocabulary.py to cover every member, so a word added here and forgotten in a
table fails `make test` instead of a delivery. The members are `StrEnum`s: they equal
the strings the database, the templates and the JSON output have always used, so they
can be stored and compared as text. docs/process.md explains what each one means.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """`#outcome` categories: what the team decided, for statistics and the committee."""

    NOT_A_VIOLATION = "not-a-violation"
    OUT_OF_SCOPE = "out-of-scope"
    NO_ACTION = "no-action"
    WARNING = "warning"
    NO_CONTACT = "no-contact"
    TALK_ENDED = "talk-ended"
    REMOVED_FROM_EVENT = "removed-from-event"
    SUSPENSION = "suspension"
    BAN = "ban"
    OTHER = "other"


# The outcome groups are tuples in declaration order, not sets: they are also passed as
# SQL parameters (`outcome IN (?, ...)`), which wants a sequence.

# Outcomes after which nobody was found to have harmed anyone: no response to send.
NO_HARASSER_OUTCOMES: tuple[Outcome, ...] = (Outcome.NOT_A_VIOLATION, Outcome.OUT_OF_SCOPE)
# "A warning or worse": what the repeat-offender memory reports as a sanction.
SANCTION_OUTCOMES: tuple[Outcome, ...] = (
    Outcome.WARNING, Outcome.NO_CONTACT, Outcome.TALK_ENDED, Outcome.REMOVED_FROM_EVENT,
    Outcome.SUSPENSION, Outcome.BAN)


class Step(StrEnum):
    """The procedure's steps, in order; a case records the time each was done."""

    ACKNOWLEDGED = "acknowledged"
    ACCUSED_INFORMED = "accused_informed"
    DECISION = "decision"
    HARASSER_INFORMED = "harasser_informed"
    VICTIM_INFORMED = "victim_informed"
    DSF_REPORTED = "dsf_reported"
    CLOSED = "closed"


class Party(StrEnum):
    """The people a case is about (never staff): how the case and the store name them."""

    REPORTER = "reporter"
    VICTIM = "victim"
    ACCUSED = "accused"
    WITNESS = "witness"


class Recipient(StrEnum):
    """Who a mail outside the team goes to, as the one letter of its thread token
    (core/tokens.py). Staff are `s<N>`: see `staff_role` and `staff_sid`."""

    REPORTER = "r"
    VICTIM = "v"
    ACCUSED = "a"
    DSF = "d"
    WITNESS = "w"
    OTHER = "x"


# The committee a DSF report goes to (Recipient.DSF), as its To line and proposals name it.
DSF_COMMITTEE = "DSF Code of Conduct committee"


def staff_role(sid: int) -> str:
    """The token role of staff member `sid`."""
    return f"s{sid}"


def staff_sid(role: str) -> int | None:
    """The staff member a token role stands for, or None for a non-staff role."""
    if role.startswith("s") and role[1:].isdecimal():  # what int() reads, no "²"
        return int(role[1:])
    return None


class MailKind(StrEnum):
    """Every mail cocmail writes; the value is its template's name in templates/."""

    ACK = "ack"
    STAFF_NEW_CASE = "staff_new_case"
    STAFF_RELAY = "staff_relay"
    TRANSCRIPT = "transcript"
    ACCUSED_COMPLAINT = "accused_complaint"
    HARASSER_RESPONSE = "harasser_response"
    VICTIM_DECISION = "victim_decision"
    DSF_REPORT = "dsf_report"
    REPORTER_REPLY = "reporter_reply"
    HELP = "help"
    STATUS = "status"
    PREVIEW = "preview"
    DIGEST = "digest"
    DELIVERY_FAILED = "delivery_failed"
    QUARANTINED = "quarantined"
    SENT_AS_YOU = "sent_as_you"
    PROPOSAL = "proposal"
    PROPOSAL_REJECTED = "proposal_rejected"
    MEMBER_EXCLUDED = "member_excluded"
    STILL_UNANSWERED = "still_unanswered"
    REPORTER_WAITING = "reporter_waiting"
    CONFLICT_REPORT = "conflict_report"
    FLOOD_SUMMARY = "flood_summary"
    # `#reply <party>` (issue 25, item 1): the team's words to each party of a case.
    VICTIM_REPLY = "victim_reply"
    ACCUSED_REPLY = "accused_reply"
    WITNESS_REPLY = "witness_reply"
    COMMITTEE_REPLY = "committee_reply"
    # A reported person's mail after the response reached them: to `[appeal] contact`.
    APPEAL_NOTICE = "appeal_notice"
    # The reminder that a reported person's suspension or ban has ended (`#until`).
    SANCTION_ENDED = "sanction_ended"


class ProposalKind(StrEnum):
    """What a proposal waiting for a second member's `#approve` would do: send mail to the
    reported person (`accused`, `accused-reply`, `harasser`) or the committee (`dsf`), or
    exclude (`recuse`) or bring back (`include`) a team member."""

    ACCUSED = "accused"
    ACCUSED_REPLY = "accused-reply"
    HARASSER = "harasser"
    DSF = "dsf"
    RECUSE = "recuse"
    INCLUDE = "include"


# Mail to the people of a case (never staff, never the committee). The committee's
# correspondence (core/correspondence.py) is drawn from these only, and each is either
# correspondence or deliberately not: tests/test_vocabulary.py checks both. The identity
# guard does not go by kind: it checks every mail addressed to the reported person.
OUTWARD_KINDS: frozenset[MailKind] = frozenset({
    MailKind.ACK, MailKind.REPORTER_REPLY, MailKind.VICTIM_DECISION,
    MailKind.ACCUSED_COMPLAINT, MailKind.HARASSER_RESPONSE, MailKind.VICTIM_REPLY,
    MailKind.ACCUSED_REPLY, MailKind.WITNESS_REPLY})
