"""The case as the pure core sees it: an immutable value, changed only by `replace`.

The store loads and saves it whole; the workflow returns a new one. Steps are times
(or None) so the sheet, the digest and `cases show` all read the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime

from .model import mailbox
from .vocabulary import NO_HARASSER_OUTCOMES, SANCTION_OUTCOMES, Outcome, Party, Step

__all__ = ["NO_HARASSER_OUTCOMES", "OUTCOME_LABELS", "SANCTION_OUTCOMES", "STEPS", "STEP_LABELS",
           "Case", "Person"]

# The steps in procedure order (a case stores them in this order too).
STEPS: tuple[Step, ...] = tuple(Step)
# What staff are asked to do for each step ("Still to do:"); the digest and the
# reminders show the part before " (".
STEP_LABELS: dict[Step, str] = {
    Step.ACKNOWLEDGED: "acknowledge the reporter",
    Step.ACCUSED_INFORMED: "tell the reported person about the complaint "
                           "(#notify-accused / #notified-accused)",
    Step.DECISION: "record the decision (#action)",
    Step.HARASSER_INFORMED: "tell the reported person the response "
                            "(#notify-harasser / #notified-harasser)",
    Step.VICTIM_INFORMED: "tell the person affected the decision "
                          "(#notify-victim / #notified-victim)",
    Step.DSF_REPORTED: "report to the DSF (#report-dsf / #reported-dsf)",
    Step.CLOSED: "close the case (#close)",
}
# Each outcome in the words of a sentence ("The decision: a warning"), for the mails
# and the transparency report.
OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.NOT_A_VIOLATION: "not a violation of the Code of Conduct",
    Outcome.OUT_OF_SCOPE: "outside the scope of the Code of Conduct",
    Outcome.NO_ACTION: "no further action",
    Outcome.WARNING: "a warning",
    Outcome.NO_CONTACT: "a no-contact request",
    Outcome.TALK_ENDED: "the talk was ended",
    Outcome.REMOVED_FROM_EVENT: "removal from the event",
    Outcome.SUSPENSION: "a suspension",
    Outcome.BAN: "a ban",
    Outcome.OTHER: "other measures",
}


@dataclass(frozen=True)
class Person:
    # Which party of the case (vocabulary.Party). The store and older callers pass the
    # same words as plain text, which compare equal: the values never changed.
    role: Party
    name: str
    email: str | None
    # A reported person's sanction ends on this day (#until; core/sanctions.py): the
    # first day it no longer applies. None: no end was set (or it is not a sanction).
    until: date | None = None

    def display(self) -> str:
        if self.name and self.email:
            return mailbox(self.name, self.email)
        return self.name or self.email or "(unnamed)"

    def as_json(self) -> dict[str, str | None]:
        return {"name": self.name or None, "email": self.email}


@dataclass(frozen=True)
class Case:
    number: int
    opened: datetime
    status: str = "open"
    subject: str = ""
    urgent: bool = False
    reporter: Person | None = None
    reporter_anonymous: bool = False
    victim: Person | None = None  # None: the victim is the reporter
    victim_is_reporter: bool = True
    accused: tuple[Person, ...] = ()
    witnesses: tuple[Person, ...] = ()
    when: str | None = None
    where: str | None = None
    summary: str | None = None
    action: str | None = None
    outcome: str | None = None
    others: str | None = None
    received_by: str | None = None
    handlers: tuple[str, ...] = ()
    recused: tuple[str, ...] = ()  # every excluded member (by #recuse, or named: see named)
    named: tuple[str, ...] = ()  # of those, the ones the case names (core/conflicts.py)
    included: tuple[str, ...] = ()  # brought back by #include: text naming them again is known
    steps: tuple[tuple[str, datetime | None], ...] = field(
        default_factory=lambda: tuple((s, None) for s in STEPS))
    dsf_hold_until: datetime | None = None
    report_text: str = ""
    root_message_id: str | None = None
    last_activity: datetime | None = None
    last_staff_action: datetime | None = None
    event: str | None = None  # the event the case was opened under ([event] name)
    public_summary: str | None = None  # #public-summary: a line for the transparency report
    accused_side: str | None = None  # #notified-accused <their side>: for the DSF report
    # Why the reporter's address may be forged ("DMARC failed"): no acknowledgement went
    # to it, and staff are told (identity.sender_doubt).
    forged_sender: str | None = None
    response: str | None = None  # #response: what the reported person reads (else #action)
    # #notified-victim declined: the person affected asked not to be contacted; their step
    # is done and nothing is sent to them (issue 25, item 6).
    victim_declined: bool = False

    # -- steps -------------------------------------------------------------
    def step(self, name: str) -> datetime | None:
        return dict(self.steps)[name]

    def with_step(self, name: str, at: datetime | None) -> Case:
        return replace(self, steps=tuple((s, at if s == name else t) for s, t in self.steps))

    def effective_victim(self) -> Person | None:
        if self.victim_is_reporter:
            if self.reporter is None:  # an anonymous reporter is still told (by the team)
                return None
            return Person(Party.VICTIM, self.reporter.name, self.reporter.email)
        return self.victim

    def harasser_steps_apply(self) -> bool:
        return self.outcome not in NO_HARASSER_OUTCOMES

    def missing_steps(self) -> list[Step]:
        """Steps still to do, in procedure order."""
        missing = []
        for name in STEPS:
            if self.step(name) is not None:
                continue
            if name == Step.ACKNOWLEDGED and (self.received_by or self.reporter_anonymous
                                              or self.reporter is None or self.forged_sender):
                continue
            if name in (Step.ACCUSED_INFORMED, Step.HARASSER_INFORMED) and (
                    not self.accused or not self.harasser_steps_apply()):
                continue
            if name == Step.CLOSED:
                continue
            missing.append(name)
        return missing

    def people(self) -> tuple[Person, ...]:
        out: list[Person] = []
        if self.reporter:
            out.append(self.reporter)
        if self.victim and not self.victim_is_reporter:
            out.append(self.victim)
        return tuple(out) + self.accused + self.witnesses

    def role_of(self, email: str) -> Party | None:
        """The role of `email` on this case, if any (reporter first)."""
        email = email.lower()
        for p in self.people():
            if p.email and p.email.lower() == email:
                return p.role
        return None

    def is_recused(self, email: str) -> bool:
        return email.lower() in self.recused


def short_step_label(step: str) -> str:
    """A step as a one-line list names it (the digest, the reminders): its label
    without the commands in parentheses."""
    return STEP_LABELS[step].split(" (")[0]
