"""The second member's answer to a proposal: #approve sends it, #reject drops it.

Pure. The proposal is the one the mail answers (its token's nonce), else the only one
waiting. Never decided by the member who made it or the member it is about; mail that
went stale (the case's facts changed) is not sent.
"""

from __future__ import annotations

from ..conflicts import MEMBER_KINDS
from ..effects import OutMail
from ..mail_contexts import MemberExcludedContext, ProposalRejectedContext
from ..vocabulary import ProposalKind, Recipient, Step, staff_role
from ..workflow import Refused, _guard
from .people import _include, _last_member_check, _recuse
from .proposals import _name, _not_about_you, _pick, _stale
from .values import Command
from .work import STAFF, MailCommand, Value, _mail, _set, _Work

# The step a proposal of each kind records once approved and sent.
APPROVED_STEPS: dict[ProposalKind, Step] = {ProposalKind.ACCUSED: Step.ACCUSED_INFORMED,
                                            ProposalKind.HARASSER: Step.HARASSER_INFORMED,
                                            ProposalKind.DSF: Step.DSF_REPORTED}
# Who an approved mail went to, for the transcript.
ROLE_LABELS = {Recipient.ACCUSED: "the reported person", Recipient.DSF: "the DSF"}


def do_approve(w: _Work, cmd: Command) -> str:
    p = _pick(w, "approve")
    if p.proposed_by == w.actor.email:
        raise Refused("you made this proposal: another team member must approve it")
    _not_about_you(w, p)
    who = _name(w.env, p.proposed_by)
    if p.kind == "include":
        if p.target not in w.case.recused:
            raise Refused(f"{_name(w.env, p.target)} is not excluded from this case")
        _include(w, p.target)
        w.decided.append((p, "approved", None))
        return f"approved: {_name(w.env, p.target)} is back on this case ({who}'s proposal)"
    if p.kind == "recuse":
        if p.target in w.case.recused:
            raise Refused(f"{_name(w.env, p.target)} is already excluded from this case")
        _last_member_check(w, p.target)
        _recuse(w, p.target)
        w.decided.append((p, "approved", None))
        for address, role in w.env.leads(w.case.recused):
            w.mails.append(OutMail(to=address, role=role, case=w.case.number,
                                   context=MemberExcludedContext(
                                       recipient_name=address.name,
                                       member=_name(w.env, p.target), proposed_by=who,
                                       approved_by=w.actor.name)))
        w.mailed.append("the leads (a member was excluded)")
        return (f"approved: {_name(w.env, p.target)} is excluded from this case "
                f"({who}'s proposal); the leads are told")
    changed = _stale(p, w.case)
    if changed:
        raise Refused(f"this proposal is out of date: {', '.join(changed)} changed since "
                      f"{who} proposed it; nothing was sent. Propose it again")
    _guard(w.case, [m for m in p.mails if m.role == "a"])
    step = APPROVED_STEPS.get(p.kind)  # a reply (accused-reply) is no step: may be many
    if step is not None and w.case.step(step) is not None:
        raise Refused(f"this step was already done ({w.env.local(w.case.step(step))}); "
                      "nothing was sent again")
    for m in p.mails:
        _mail(w, m, f"{m.to.display()} ({ROLE_LABELS.get(m.role, 'someone')})")
    at = w.env.now
    if p.kind == "dsf":
        hold = next((m.not_before for m in p.mails if m.not_before), None)
        if hold is not None and hold > w.env.now:
            at = hold
            _set(w, dsf_hold_until=hold)
    if step is not None:
        w.case = w.case.with_step(step, at)
    w.decided.append((p, "approved", None))
    return f"approved and sent ({who}'s proposal: {p.what(short=True)})"


def do_reject(w: _Work, cmd: Command) -> str:
    p = _pick(w, "reject")
    _not_about_you(w, p)
    reason = cmd.value.strip() or None
    w.decided.append((p, "rejected", reason))
    proposer = w.env.roster.by_email(p.proposed_by)
    target = _name(w.env, p.target) if p.kind in MEMBER_KINDS else ""
    if proposer is not None and proposer.email != w.actor.email \
            and not w.case.is_recused(proposer.email):
        w.mails.append(OutMail(to=proposer.address,
                               role=staff_role(proposer.sid),
                               case=w.case.number,
                               context=ProposalRejectedContext(
                                   recipient_name=proposer.name, rejected_by=w.actor.name,
                                   what=p.what(target, short=True),
                                   reason=reason or "")))
        w.mailed.append(f"{proposer.name} (their proposal was rejected)")
    return "proposal rejected; nothing was sent" + (f" ({_name(w.env, p.proposed_by)} is told)"
                                                   if proposer and proposer.email !=
                                                   w.actor.email else "")


COMMANDS = (
    MailCommand(name="approve", syntax="#approve",
                help="send what another team member proposed (reply to its mail)",
                handler=do_approve, place=310,
                mails_to=frozenset({Recipient.ACCUSED.value, Recipient.DSF.value, STAFF})),
    MailCommand(name="reject", syntax="#reject [reason]",
                help="drop what another team member proposed; they are told",
                handler=do_reject, place=320, value=Value.OPTIONAL,
                mails_to=frozenset({STAFF})),
)
