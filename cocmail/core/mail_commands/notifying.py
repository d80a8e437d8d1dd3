"""Telling the people concerned and the DSF: by mail, or recording it was done in person.

Pure. Each `#notify-*` passes its gate (core/workflow.py) and the identity guard, and
may wait for a second member's #approve (proposals.py); each `#notified-*` records a
step done by hand. The steps are what #close lists as not done.
"""

from __future__ import annotations

from ..effects import AuditEntry
from ..identity_guard import near_note
from ..vocabulary import Recipient, Step
from ..workflow import (
    Refused,
    _accused_with_address,
    _anonymous_gate,
    _dsf_gate,
    _guard,
    _harasser_gate,
    _need_accused,
    _outgoing,
    _victim_gate,
    mail_accused_complaint,
    mail_dsf_report,
    mail_harasser_response,
    mail_victim_decision,
)
from .proposals import _approver_names, _needs_approval, _propose
from .values import Command
from .work import STAFF, MailCommand, Value, _mail, _set, _Work


def do_notify_accused(w: _Work, cmd: Command) -> str:
    _need_accused(w.case)
    people = _accused_with_address(w.case)
    if not people:
        raise Refused("no accused person has an email address; talk to them and use "
                      "#notified-accused")
    skipped = len(w.case.accused) - len(people)
    unmailed = f"; {skipped} accused without address not mailed" if skipped else ""
    mails = tuple(mail_accused_complaint(w.case, p) for p in people)
    near = near_note(_guard(w.case, mails))
    if _needs_approval(w, "accused"):
        _propose(w, "accused", mails)
        return ("proposed: complaint notice to the reported person; waiting for another team "
                f"member's #approve ({_approver_names(w)}){unmailed}{near}")
    for p, m in zip(people, mails, strict=True):
        _mail(w, m, f"the reported person ({p.display()})")
    w.case = w.case.with_step(Step.ACCUSED_INFORMED, w.env.now)
    return "complaint notice sent" + unmailed + near


def do_notified_accused(w: _Work, cmd: Command) -> str:
    _need_accused(w.case)
    w.case = w.case.with_step(Step.ACCUSED_INFORMED, w.env.now)
    if cmd.value.strip():
        w.audit.append(AuditEntry("their side", cmd.value.strip()))
        _set(w, accused_side=cmd.value.strip())
        return "recorded: accused informed in person; their side noted"
    return "recorded: accused informed in person"


def do_notify_harasser(w: _Work, cmd: Command) -> str:
    people = _harasser_gate(w.case, by_mail=True)
    mails = tuple(mail_harasser_response(w.case, p, w.env) for p in people)
    near = near_note(_guard(w.case, mails))
    if _needs_approval(w, "harasser"):
        _propose(w, "harasser", mails)
        return ("proposed: the response to the reported person; waiting for another team "
                f"member's #approve ({_approver_names(w)}){near}")
    for p, m in zip(people, mails, strict=True):
        _mail(w, m, f"the reported person ({p.display()})")
    w.case = w.case.with_step(Step.HARASSER_INFORMED, w.env.now)
    return "response sent to the reported person" + near


def do_notified_harasser(w: _Work, cmd: Command) -> str:
    _harasser_gate(w.case, by_mail=False)
    w.case = w.case.with_step(Step.HARASSER_INFORMED, w.env.now)
    return "recorded: the reported person was told the response in person"


def do_notify_victim(w: _Work, cmd: Command) -> str:
    if w.case.victim_declined:
        raise Refused("the person affected asked not to be contacted (recorded with "
                      "#notified-victim declined): nothing is sent to them")
    victim = _victim_gate(w.case, by_mail=True)
    assert victim is not None
    _mail(w, mail_victim_decision(w.case, victim), f"the person affected ({victim.display()})")
    w.case = w.case.with_step(Step.VICTIM_INFORMED, w.env.now)
    return "decision sent to the person affected"


def do_notified_victim(w: _Work, cmd: Command) -> str:
    """In person, or `declined`: the person affected asked not to be contacted. That
    closes their step without a decision being told, sends nothing, and the audit and
    the DSF report say so rather than claim they were told (issue 25, item 6)."""
    value = cmd.value.strip().lower()
    if value == "declined":
        _set(w, victim_declined=True)
        w.case = w.case.with_step(Step.VICTIM_INFORMED, w.env.now)
        w.audit.append(AuditEntry("victim declined contact", "the person affected asked not "
                                  "to be contacted; nothing is sent to them"))
        return "recorded: the person affected asked not to be contacted; nothing is sent"
    if value:
        raise Refused("#notified-victim takes no value, or 'declined' when the person "
                      "affected asked not to be contacted")
    _victim_gate(w.case, by_mail=False)
    _set(w, victim_declined=False)
    w.case = w.case.with_step(Step.VICTIM_INFORMED, w.env.now)
    return "recorded: the person affected was told the decision in person"


def report_dsf_value(value: str) -> tuple[bool, str]:
    """`#report-dsf [now] [what happened]` -> (send now, the narrative as written)."""
    first, _, rest = value.strip().partition(" ")
    if first.lower() == "now":
        return True, rest.strip()
    return False, value.strip()


def do_report_dsf(w: _Work, cmd: Command) -> str:
    now, text = report_dsf_value(cmd.value)
    if w.case.step(Step.DSF_REPORTED):
        raise Refused("this case was already reported to the DSF "
                      f"({w.env.local(w.case.step('dsf_reported'))}); one report per incident")
    narrative = _dsf_gate(w.case, _outgoing(text, w.case, w.env))
    _anonymous_gate(w.case, narrative)
    release = w.env.dsf_release_time()
    hold = not now and release is not None and w.env.now < release
    if _needs_approval(w, "dsf"):
        _propose(w, "dsf", (mail_dsf_report(w.case, w.env, narrative, hold, w.actor.email),))
        return ("proposed: the DSF report; waiting for another team member's #approve "
                f"({_approver_names(w)})")
    _mail(w, mail_dsf_report(w.case, w.env, narrative, hold, w.actor.email),
          "the DSF Code of Conduct committee")
    w.case = w.case.with_step(Step.DSF_REPORTED, release if hold else w.env.now)
    _set(w, dsf_hold_until=release if hold else None)
    if hold:
        return f"DSF report queued; it goes out on {w.env.local(release)} (after the event)"
    return "DSF report sent"


def do_reported_dsf(w: _Work, cmd: Command) -> str:
    if w.case.step(Step.DSF_REPORTED):
        raise Refused("this case is already marked as reported to the DSF")
    _dsf_gate(w.case, w.body)
    w.case = w.case.with_step(Step.DSF_REPORTED, w.env.now)
    return "recorded: reported to the DSF by hand"


_ACCUSED = frozenset({Recipient.ACCUSED.value, STAFF})  # STAFF: the proposal, when one is
COMMANDS = (
    MailCommand(name="notify-accused", syntax="#notify-accused",
                help="mail the reported person that there is a complaint about them",
                handler=do_notify_accused, place=150, mails_to=_ACCUSED),
    MailCommand(name="notified-accused", syntax="#notified-accused [their side]",
                help="you told the reported person in person", handler=do_notified_accused,
                place=160, value=Value.OPTIONAL),
    MailCommand(name="notify-harasser", syntax="#notify-harasser",
                help="mail the response to the reported person", handler=do_notify_harasser,
                place=200, mails_to=_ACCUSED),
    MailCommand(name="notified-harasser", syntax="#notified-harasser",
                help="you told them the response in person", handler=do_notified_harasser,
                place=210),
    MailCommand(name="notify-victim", syntax="#notify-victim",
                help="mail the decision to the person affected", handler=do_notify_victim,
                place=220, mails_to=frozenset({Recipient.VICTIM.value})),
    MailCommand(name="notified-victim", syntax="#notified-victim [declined]",
                help="you told the person affected in person, or they asked for no contact",
                handler=do_notified_victim, place=230, value=Value.OPTIONAL),
    MailCommand(name="report-dsf", syntax="#report-dsf [now] [what happened]",
                help="report what happened to the DSF (after the event unless now)",
                handler=do_report_dsf, place=240, value=Value.OPTIONAL,
                mails_to=frozenset({Recipient.DSF.value, STAFF})),
    MailCommand(name="reported-dsf", syntax="#reported-dsf",
                help="you sent the DSF report yourself", handler=do_reported_dsf, place=250),
)
