"""The case as a whole: urgent, its status mailed to you, closed and reopened.

Pure. #urgent's alert is addressed once the whole block ran (`urgent_mails`, called by
run.py), so a member the same block excludes is not alerted.
"""

from __future__ import annotations

from dataclasses import replace

from ..case import STEP_LABELS
from ..effects import OutMail
from ..mail_contexts import StatusContext
from ..vocabulary import Step, staff_role
from ..workflow import shown_to, staff_case_context, status_row
from .proposals import _waiting_described
from .values import Command
from .work import STAFF, MailCommand, Value, _set, _Work


def do_urgent(w: _Work, cmd: Command) -> str:
    _set(w, urgent=True)
    w.urgent = True  # the alert is addressed once the whole block ran (after any #recuse)
    w.urgent_why = cmd.value.strip() or w.urgent_why
    w.mailed.append("all staff (urgent)")
    return "marked urgent; all staff notified"


def _escalation_words(w: _Work) -> str:
    """Why the member escalated, in their words: #urgent's own value, else the text
    below the commands, unless the mail sent that text outside the team (a #reply's
    text is addressed to someone else, not an account for the team)."""
    if w.urgent_why:
        return w.urgent_why
    sent_out = any(not m.role.startswith("s") for m in w.mails) or w.proposals
    return "" if sent_out else w.body.strip()


def urgent_mails(w: _Work) -> list[OutMail]:
    """The alert to every member the case does not exclude: the report as it arrived,
    under who escalated, when, and their words (issue 25, item 4), not "A new report
    has arrived"."""
    escalated = {"by": w.actor.name or w.actor.email, "at": w.env.local(w.env.now),
                 "words": _escalation_words(w)}
    return [OutMail(to=address, role=role, case=w.case.number,
                    context=replace(staff_case_context(
                        w.case, address.name, urgent=True,
                        earlier=list(filter(shown_to(address.email), w.earlier)),
                        env=w.env, commands=list(w.reference)), escalated=escalated),
                    subject="URGENT: safety risk on this case")
            for address, role in w.env.staff_recipients(w.case.recused)]


def do_status(w: _Work, cmd: Command) -> str:
    w.mails.append(OutMail(to=w.actor.address, role=staff_role(w.actor.sid), case=w.case.number,
                           context=StatusContext(
                               row=status_row(w.case, w.env), status=w.case.status,
                               missing_steps=[STEP_LABELS[m] for m in w.case.missing_steps()],
                               proposals=_waiting_described(w))))
    return "status sent to you"


def do_close(w: _Work, cmd: Command) -> str:
    if w.case.status == "closed":
        return "the case was already closed"
    missing = w.case.missing_steps()
    _set(w, status="closed")
    w.case = w.case.with_step(Step.CLOSED, w.env.now)
    if missing:
        return "case closed; steps not done: " + "; ".join(STEP_LABELS[m] for m in missing)
    return "case closed; all steps done"


def do_reopen(w: _Work, cmd: Command) -> str:
    if w.case.status == "open":
        return "the case is already open"
    _set(w, status="open")
    w.case = w.case.with_step(Step.CLOSED, None)
    return "case reopened"


COMMANDS = (
    MailCommand(name="urgent", syntax="#urgent [why]",
                help="someone may be unsafe: mark the case urgent and alert all staff again",
                handler=do_urgent, place=130, value=Value.OPTIONAL,
                mails_to=frozenset({STAFF})),
    MailCommand(name="status", syntax="#status",
                help="mail yourself the case's row and the steps still open",
                handler=do_status, place=280, on_closed_case=True,
                mails_to=frozenset({STAFF})),
    MailCommand(name="close", syntax="#close",
                help="close the case (any steps not done are listed)", handler=do_close,
                place=290),
    MailCommand(name="reopen", syntax="#reopen", help="open a closed case again",
                handler=do_reopen, place=300, on_closed_case=True),
)
