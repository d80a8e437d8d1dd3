"""Proposals: mail (or a member's exclusion) that waits for a second member's #approve.

Pure. Shared by the families that propose (notifying.py, people.py) and approval.py,
which decides. A proposal keeps the case's facts as they were (`case_facts`): a change
to any of them makes the proposed mail stale, and #approve then refuses to send it.
"""

from __future__ import annotations

import json

from ..case import Case
from ..conflicts import MEMBER_KINDS, concerned, role_words
from ..effects import PROPOSAL_SUBJECTS, SUBJECTS, OutMail, Proposal
from ..env import Env
from ..mail_contexts import ProposalContext
from ..model import Address
from ..vocabulary import MailKind
from ..workflow import Refused, _near
from .work import _Work


def case_facts(case: Case) -> str:
    """What mail about the case is written from: a change to any of it makes a proposed
    mail stale."""
    victim = case.effective_victim()
    return json.dumps({
        "reporter": case.reporter.display() if case.reporter else None,
        "anonymous reporter": case.reporter_anonymous,
        "person affected": victim.display() if victim else None,
        "accused": [p.display() for p in case.accused],
        "witnesses": [p.display() for p in case.witnesses],
        "when": case.when, "where": case.where, "summary": case.summary,
        "action": case.action, "response": case.response, "outcome": case.outcome,
        "their side": case.accused_side,
        "status": case.status}, sort_keys=True)


def _stale(p: Proposal, case: Case) -> list[str]:
    if p.kind in MEMBER_KINDS or not p.facts:
        return []
    then, now = json.loads(p.facts), json.loads(case_facts(case))
    return [k for k in then if then.get(k) != now.get(k)]


def _deciders(w: _Work, target: str = "") -> list[tuple[Address, str]]:
    """Who may decide a proposal of the sender's: not them, not an excluded member, not
    a member a waiting proposal (or this one, `target`) is about."""
    skip = concerned(_still_waiting(w) + w.proposals) | {target}
    return [(a, r) for a, r in w.env.staff_recipients(w.case.recused, exclude=w.actor.email)
            if a.email not in skip]


def _approvers(w: _Work) -> list[tuple[Address, str]]:
    return _deciders(w, w.proposals[-1].target if w.proposals else "")


def _approver_names(w: _Work) -> str:
    names = [a.name or a.email for a, _ in _approvers(w)]
    return "asked: " + ", ".join(names)


def _needs_approval(w: _Work, kind: str) -> bool:
    """Mail of `kind` waits for a second member, unless nobody else could approve it."""
    return kind in w.env.second_approval and bool(_approvers(w))


def _propose(w: _Work, kind: str, mails: tuple[OutMail, ...], target: str = "") -> None:
    w.proposals.append(Proposal(nonce=w.env.nonce(), case=w.case.number, kind=kind,
                                proposed_by=w.actor.email, proposed_at=w.env.now,
                                target=target, mails=mails, facts=case_facts(w.case)))
    w.mailed.append("for approval: " + ", ".join(a.display() for a, _ in _approvers(w)))


def _name(env: Env, email: str) -> str:
    member = env.roster.by_email(email)
    return member.name if member and member.name else email


def describe(p: Proposal, env: Env) -> str:
    target = _name(env, p.target) if p.kind in MEMBER_KINDS else ""
    return (f"{_name(env, p.proposed_by)}, {env.local(p.proposed_at)}: "
            f"{p.what(target, short=True)}")


def _still_waiting(w: _Work) -> list[Proposal]:
    decided = {p.nonce for p, _, _ in w.decided}
    return [p for p in w.known if p.state == "waiting" and p.nonce not in decided]


def _pick(w: _Work, verb: str) -> Proposal:
    """The proposal the mail answers: the first of its tokens (In-Reply-To before
    References, newest first) that is a proposal's, so a reply to one proposal's mail
    decides that one even when its thread also holds another's; else the only one
    waiting."""
    known = {p.nonce: p for p in w.known}
    answered = [known[n] for n in w.answering if n in known]
    if answered:
        p = answered[0]
        if p.state != "waiting" or p in [d for d, _, _ in w.decided]:
            state = p.state if p.state != "waiting" else "decided"
            by = f" by {_name(w.env, p.decided_by)}" if p.decided_by else ""
            raise Refused(f"this proposal was already {state}{by}; nothing was sent again")
        return p
    waiting = _still_waiting(w)
    if not waiting:
        raise Refused(f"no proposal is waiting for #{verb} on this case")
    if len(waiting) > 1:
        raise Refused(f"{len(waiting)} proposals are waiting on this case: reply #{verb} to "
                      "the mail of the one you mean")
    return waiting[0]


def _not_about_you(w: _Work, p: Proposal) -> None:
    if p.kind in MEMBER_KINDS and p.target == w.actor.email:
        raise Refused("this proposal is about you: another member of the team decides it")


def _proposal_mails(w: _Work) -> list[OutMail]:
    """The proposed mail, exactly, to every other member who may decide it: never the
    member it is about, nor one a waiting proposal is about (issue 21)."""
    out = []
    skip = concerned(_still_waiting(w) + w.proposals)
    for p in w.proposals:
        proposer = _name(w.env, p.proposed_by)
        target = _name(w.env, p.target) if p.kind in MEMBER_KINDS else ""
        for address, role in w.env.staff_recipients(w.case.recused, exclude=p.proposed_by):
            if address.email in skip:
                continue
            out.append(OutMail(to=address, role=role, case=w.case.number,
                               context=ProposalContext(
                                   recipient_name=address.name, proposer=proposer,
                                   what=p.what(target), recuse=p.kind == "recuse",
                                   include=p.kind == "include", on_case=role_words(
                                       w.case, p.target) if p.kind == "include" else "",
                                   inners=list(p.mails),
                                   near_misses=_near(w.case, p.mails)),
                               subject=PROPOSAL_SUBJECTS.get(
                                   p.kind, SUBJECTS[MailKind.PROPOSAL]), nonce=p.nonce))
    return out


def _waiting_described(w: _Work) -> list[str]:
    return [describe(p, w.env) for p in _still_waiting(w) + w.proposals]
