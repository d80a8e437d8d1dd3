"""Staff commands -> a new case state and the mails they cause (process.md's steps and gates).

Pure. A block is run line by line on a working copy of the case; the first line that
fails refuses the whole block and the original case is kept, so a typo can never
half-apply. Every line gets a result for the transcript.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .case import NO_HARASSER_OUTCOMES, OUTCOME_LABELS, STEP_LABELS, Case, Person
from .commands import (
    KNOWN_COMMANDS,
    PREVIEW_TARGETS,
    Command,
    CommandValueError,
    normalise_outcome,
    parse_person,
)
from .conflicts import (
    MEMBER_KINDS,
    NamesSender,
    concerned,
    include,
    member_for,
    person_added,
    role_words,
)
from .effects import AuditEntry, OutMail, Proposal
from .env import Env
from .errors import UserError
from .identity_guard import (
    check_text,
    dsf_names_anonymous,
    guard_mails,
    near_note,
    near_notes,
    refusal,
)
from .model import Address, StaffMember
from .outgoing_text import without_staff_text
from .public_text import identifying_words


class Refused(UserError):
    """A command's gate or value is wrong; the message is the transcript's reason."""


def shown_to(email: str) -> Callable[[dict[str, Any]], bool]:
    """Which earlier-case entries (env.History's dicts) `email` may read: not those of
    cases the member is recused from, or a new case would tell them what recusal hides."""
    email = email.lower()
    return lambda entry: email not in (r.lower() for r in entry.get("recused", ()))


def _everyone(entry: dict[str, Any]) -> bool:
    return True


def earlier_warning(earlier: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> str:
    if not earlier:
        return ""
    return ". WARNING: named in earlier cases " + ", ".join(
        f"#{e['case']} ({e['outcome'] or 'no outcome yet'})" for e in earlier)


@dataclass(frozen=True)
class LineResult:
    line: int
    raw: str
    ok: bool
    result: str
    earlier: tuple[dict[str, Any], ...] = ()  # earlier cases this line's result warns of

    def as_dict(self, shown: Callable[[dict[str, Any]], bool] = _everyone) -> dict[str, Any]:
        """The line for one reader: the warning names only earlier cases `shown` to them."""
        result = self.result
        if self.earlier:
            plain = result.removesuffix(earlier_warning(self.earlier))
            result = plain + earlier_warning([e for e in self.earlier if shown(e)])
        return {"line": self.line, "raw": self.raw, "ok": self.ok, "result": result}


@dataclass(frozen=True)
class Applied:
    case: Case
    lines: tuple[LineResult, ...]
    mails: tuple[OutMail, ...]
    audit: tuple[AuditEntry, ...]
    rejected: bool
    reason: str | None
    mailed: tuple[str, ...]
    earlier: tuple[dict[str, Any], ...]
    proposals: tuple[Proposal, ...] = ()  # made by this block, waiting for #approve
    decided: tuple[tuple[str, str, str | None], ...] = ()  # (nonce, approved|rejected, reason)
    waiting: tuple[str, ...] = ()  # every proposal still waiting after the block, described


@dataclass
class _Work:
    """Mutable scratch state while one block runs."""

    case: Case
    actor: StaffMember
    env: Env
    body: str
    mails: list[OutMail]
    audit: list[AuditEntry]
    mailed: list[str]
    earlier: list[dict[str, Any]]
    urgent: bool = False
    known: tuple[Proposal, ...] = ()  # the case's proposals before this block
    answering: tuple[str, ...] = ()  # token nonces the mail answers (a proposal's mail)
    proposals: list[Proposal] = field(default_factory=list)
    decided: list[tuple[Proposal, str, str | None]] = field(default_factory=list)


def command_reference() -> list[tuple[str, str]]:
    return [(syntax, text) for syntax, text in KNOWN_COMMANDS.values()]


# ------------------------------------------------------------------ mail builders
def mail_accused_complaint(case: Case, person: Person) -> OutMail:
    assert person.email
    return OutMail("accused_complaint", Address(person.name, person.email), "a", case.number,
                   {"accused_name": person.name})


def mail_harasser_response(case: Case, person: Person, env: Env) -> OutMail:
    assert person.email
    return OutMail("harasser_response", Address(person.name, person.email), "a", case.number,
                   {"accused_name": person.name, "action": case.response or case.action or "",
                    "appeal_contact": env.appeal})


# Outcomes the decision mail words on their own (victim_decision.txt); any other is "action".
_FINDINGS = ("not-a-violation", "out-of-scope", "no-action")


def mail_victim_decision(case: Case, victim: Person) -> OutMail:
    """The decision, worded for the finding (no "action we have taken: No further action"
    for a case that found no violation) and for whether the person affected reported it
    themselves: someone who never wrote to the team is not thanked "for your report"."""
    assert victim.email
    reported = case.victim_is_reporter or bool(
        case.reporter and case.reporter.email
        and case.reporter.email.lower() == victim.email.lower())
    return OutMail("victim_decision", Address(victim.name, victim.email), "v", case.number,
                   {"victim_name": victim.name, "action": case.action or "",
                    "outcome": OUTCOME_LABELS.get(case.outcome or ""), "reported": reported,
                    "finding": case.outcome if case.outcome in _FINDINGS else "action"})


def dsf_narrative(case: Case, body: str) -> str:
    return body.strip() or (case.summary or "").strip()


def _staff_label(env: Env, email: str) -> str:
    member = env.roster.by_email(email)
    return f"{member.name} <{member.email}>" if member else email


def dsf_people(case: Case, env: Env, actor: str | None = None) -> dict[str, Any]:
    """Who was involved, as the DSF committee keeps it in its central record."""
    if case.reporter_anonymous:
        reporter = "anonymous"
    elif case.reporter is not None:
        reporter = case.reporter.display()
    else:
        reporter = ""
    if case.received_by:
        taken = f"a staff member took the report in person ({_staff_label(env, case.received_by)})"
        reporter = f"{reporter}; {taken}" if reporter else taken
    affected = case.victim.display() if case.victim and not case.victim_is_reporter else None
    if case.reporter_anonymous and case.reporter and case.victim and affected \
            and _same(case.victim, case.reporter):
        affected = "the reporter (anonymous)"  # named as the person affected, all the same
    # Whoever runs the command handles the case, even before the block has ended.
    emails = case.handlers + ((actor,) if actor and actor not in case.handlers else ())
    handlers = [_staff_label(env, h) for h in emails if h not in case.recused]
    return {"reported": [p.display() for p in case.accused], "reporter": reporter or "unknown",
            "affected": affected, "witnesses": [p.display() for p in case.witnesses],
            "handled_by": handlers}


def dsf_responses(case: Case, env: Env) -> dict[str, Any]:
    """Whether and when the reported person and the reporter were told."""
    def told(step: str) -> str | None:
        at = case.step(step)
        return env.local(at) if at else None

    return {"accused_side": case.accused_side or "",
            "accused_told": told("accused_informed"),
            "harasser_told": told("harasser_informed"),
            "victim_told": told("victim_informed"),
            "no_harasser_steps": not case.harasser_steps_apply()}


def mail_dsf_report(case: Case, env: Env, narrative: str, hold: bool,
                    actor: str | None = None) -> OutMail:
    return OutMail("dsf_report", Address(env.details.committee_address_name(), env.dsf), "d",
                   case.number,
                   {"when": case.when or "", "where": case.where or "",
                    "summary": case.summary or "",
                    "what_happened": narrative, "action": case.action,
                    "outcome": OUTCOME_LABELS.get(case.outcome or ""),
                    **dsf_people(case, env, actor), **dsf_responses(case, env)},
                   not_before=env.dsf_release_time() if hold else None)


def mail_reporter_reply(case: Case, text: str) -> OutMail:
    assert case.reporter and case.reporter.email
    return OutMail("reporter_reply", Address(case.reporter.name, case.reporter.email), "r",
                   case.number, {"reporter_name": case.reporter.name, "text": text})


def status_row(case: Case, env: Env) -> list[tuple[str, str]]:
    from .report import case_row  # the sheet's own column logic

    return list(case_row(case, env).items())


# ------------------------------------------------------------------ gates
def _accused_with_address(case: Case) -> list[Person]:
    return [p for p in case.accused if p.email]


def _need_decision(case: Case) -> None:
    if not case.action:
        raise Refused("no decision recorded yet: add #action <what was decided> first "
                      "(it may be an earlier line of the same mail)")


def _need_accused(case: Case) -> None:
    if not case.accused:
        raise Refused("no accused person on the case: add #accused Name <address> first")


def _harasser_gate(case: Case, by_mail: bool) -> list[Person]:
    _need_decision(case)
    if case.outcome in NO_HARASSER_OUTCOMES:
        raise Refused(f"the outcome is {case.outcome}: there is no response to give the "
                      "reported person")
    _need_accused(case)
    people = _accused_with_address(case)
    if by_mail and not people:
        raise Refused("no accused person has an email address; tell them in person and "
                      "use #notified-harasser")
    return people


def _victim_gate(case: Case, by_mail: bool) -> Person | None:
    _need_decision(case)
    victim = case.effective_victim()
    if by_mail and (victim is None or not victim.email):
        raise Refused("the person affected has no email address (set #victim Name <address>, "
                      "or tell them in person and use #notified-victim)")
    return victim


def _dsf_gate(case: Case, body: str) -> str:
    missing = [n for n, v in (("#when", case.when), ("#where", case.where)) if not v]
    narrative = dsf_narrative(case, body)
    if not narrative:
        missing.append("what happened (write it below the commands, or #summary)")
    if missing:
        raise Refused("the DSF report needs " + ", ".join(missing))
    return narrative


def _anonymous_gate(case: Case, narrative: str) -> None:
    reason = dsf_names_anonymous(case, narrative)
    if reason:
        raise Refused(reason)


def _reporter_mail_gate(case: Case) -> None:
    if case.reporter is None or not case.reporter.email:
        raise Refused("the reporter has no email address (anonymous or taken in person)")


def _guard(case: Case, mails: list[OutMail] | tuple[OutMail, ...]) -> list[str]:
    """The identity guard (core/identity_guard.py) on every mail to the reported person:
    refuses the block when one names anyone the case protects; else the near misses."""
    reason, near = guard_mails(case, mails)
    if reason:
        raise Refused(reason)
    return near


def _near(case: Case, mails: list[OutMail] | tuple[OutMail, ...]) -> list[str]:
    return guard_mails(case, mails)[1]


# ------------------------------------------------------------------ handlers
def _person(value: str, role: str) -> Person:
    try:
        name, email = parse_person(value)
    except CommandValueError as e:
        raise Refused(str(e)) from None
    return Person(role, name, email.lower() if email else None)


def _need_value(cmd: Command) -> str:
    if not cmd.value.strip():
        raise Refused(f"#{cmd.name} needs a value: {KNOWN_COMMANDS[cmd.name][0]}")
    return cmd.value.strip()


def _staff(w: _Work, value: str) -> StaffMember:
    try:
        _, email = parse_person(value)
    except CommandValueError as e:
        raise Refused(str(e)) from None
    member = w.env.roster.by_email(email or "")
    if member is None:
        raise Refused(f"{value.strip()} is not on the staff list")
    return member


def _set(w: _Work, **changes: Any) -> None:
    w.case = replace(w.case, **changes)


def _mail(w: _Work, mail: OutMail, label: str) -> None:
    w.mails.append(mail)
    w.mailed.append(label)


def _same(a: Person, b: Person) -> bool:
    if a.email and b.email:
        return a.email.lower() == b.email.lower()
    from .people import normalise_name

    return bool(a.name) and normalise_name(a.name) == normalise_name(b.name)


def do_reporter(w: _Work, cmd: Command) -> str:
    value = _need_value(cmd)
    if value.lower() == "anonymous":
        # Not named outside the team (process.md): the team keeps the name and address,
        # answers with #reply, and the name checks keep knowing the name.
        _set(w, reporter_anonymous=True)
        return ("reporter set to anonymous: never named outside the team (the DSF report, "
                "its attachments, public texts); you can still #reply to them"
                + _withdraw_held_dsf(w))
    p = _person(value, "reporter")
    _set(w, reporter=p, reporter_anonymous=False)
    return f"reporter set to {p.display()}" + _named_person(w, p)


def _withdraw_held_dsf(w: _Work) -> str:
    """A DSF report still held back was written while the reporter was named: withdraw
    it (its queued mail is cancelled) so that it is written again without them."""
    hold = w.case.dsf_hold_until
    if w.case.step("dsf_reported") is None or hold is None or hold <= w.env.now:
        return ""
    w.case = w.case.with_step("dsf_reported", None)
    _set(w, dsf_hold_until=None)
    return (f". The DSF report that was to go out on {w.env.local(hold)} was written while "
            "they were named: it is withdrawn; send #report-dsf again")


def do_victim(w: _Work, cmd: Command) -> str:
    value = _need_value(cmd)
    if value.lower() == "reporter":
        _set(w, victim=None, victim_is_reporter=True)
        return "the person affected is the reporter"
    p = _person(value, "victim")
    _set(w, victim=p, victim_is_reporter=False)
    return f"person affected set to {p.display()}" + _named_person(w, p)


def do_accused(w: _Work, cmd: Command) -> str:
    p = _person(_need_value(cmd), "accused")
    if any(_same(p, q) for q in w.case.accused):
        return f"{p.display()} is already named as accused"
    _set(w, accused=w.case.accused + (p,))
    earlier = w.env.history.earlier(p, w.case.number)
    w.earlier.extend(earlier)
    return f"accused added: {p.display()}" + _named_person(w, p) + earlier_warning(earlier)


def do_witness(w: _Work, cmd: Command) -> str:
    p = _person(_need_value(cmd), "witness")
    if any(_same(p, q) for q in w.case.witnesses):
        return f"{p.display()} is already a witness"
    _set(w, witnesses=w.case.witnesses + (p,))
    return f"witness added: {p.display()}" + _named_person(w, p)


def _named_person(w: _Work, p: Person) -> str:
    """A team member the block puts on the case is excluded at once (core/conflicts.py)."""
    try:
        w.case, said, audit = person_added(w.case, p, w.env.roster, w.actor.email)
    except NamesSender as e:
        raise Refused(str(e)) from None
    w.audit.extend(AuditEntry(a, d) for a, d in audit)
    return said


def _field(name: str, attr: str) -> Callable[[_Work, Command], str]:
    def handler(w: _Work, cmd: Command) -> str:
        value = _need_value(cmd)
        _set(w, **{attr: value})
        return f"{name} set"

    return handler


def do_public_summary(w: _Work, cmd: Command) -> str:
    value = _need_value(cmd)
    named = identifying_words(value, w.case)
    if named:
        raise Refused("a public summary must not name anyone on the case; it contains "
                      + ", ".join(f"'{word}'" for word in named))
    _set(w, public_summary=value)
    return "public summary set (for the transparency report)"


def do_response(w: _Work, cmd: Command) -> str:
    value = _need_value(cmd)
    verdict = check_text(value, w.case)
    if verdict.hits:
        raise Refused(f"{refusal(verdict, 'the response')}; write it without them")
    _set(w, response=value)
    return ("response set: the reported person gets it instead of the #action text"
            + near_note(near_notes(verdict)))


def do_handler(w: _Work, cmd: Command) -> str:
    m = _staff(w, _need_value(cmd))
    if m.email in w.case.recused:
        raise Refused(f"{m.name} is recused from this case")
    if m.email not in w.case.handlers:
        _set(w, handlers=w.case.handlers + (m.email,))
    return f"handler added: {m.name}"


def _last_member_check(w: _Work, email: str) -> None:
    if not w.env.staff_recipients(w.case.recused + (email,)):
        raise Refused("they are the last team member who can see this case; a case is never "
                      "hidden from the whole team")


def do_recuse(w: _Work, cmd: Command) -> str:
    m = _staff(w, _need_value(cmd))
    if m.email in w.case.recused:
        return f"{m.name} is already excluded from this case"
    _last_member_check(w, m.email)
    if m.email != w.actor.email and _deciders(w, m.email):
        # Excluding someone else needs a second member (issue 11, item 7): one member
        # must never be able to hide a case from the rest of the team. Never the member
        # it concerns (issue 21): with nobody else to ask, the sender decides.
        _propose(w, "recuse", (), target=m.email)
        return (f"proposed: exclude {m.name}; waiting for another team member's #approve "
                f"({_approver_names(w)})")
    _recuse(w, m.email)
    return f"{m.name} is excluded from this case and gets no more mail about it"


def do_include(w: _Work, cmd: Command) -> str:
    """Bring back an excluded member: a proposal another member approves (issue 21)."""
    m = _staff(w, _need_value(cmd))
    if m.email not in w.case.recused:
        return f"{m.name} is not excluded from this case"
    if any(member_for(p, w.env.roster) == m for p in w.case.accused):
        # Brought back, they would read the report and who made it, and could act on it.
        raise Refused(f"{m.name} is a reported person on this case: the team handles it "
                      "without them (if they were added as the reported person by mistake, "
                      "open a new case without them)")
    if _deciders(w, m.email):
        _propose(w, "include", (), target=m.email)
        return (f"proposed: bring {m.name} back into this case; waiting for another team "
                f"member's #approve ({_approver_names(w)})")
    _include(w, m.email)
    return f"{m.name} is back on this case (nobody else on the team could decide it)"


def _include(w: _Work, email: str) -> None:
    """`email` back on the case, and mailed the case as it stands, to answer it."""
    w.case = include(w.case, email)
    member = w.env.roster.by_email(email)
    if member is None:
        return
    w.mails.append(OutMail("staff_new_case", member.address, f"s{member.sid}", w.case.number,
                           {**staff_case_context(w.case, member.name, urgent=w.case.urgent,
                                                 earlier=[], env=w.env), "back": True},
                           subject="You are back on this case"))
    w.mailed.append(f"{member.name} (back on the case)")


def _recuse(w: _Work, email: str) -> None:
    _set(w, recused=w.case.recused + (email,),
         handlers=tuple(h for h in w.case.handlers if h != email))


# ------------------------------------------------------------------ second approval
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
    w.proposals.append(Proposal(w.env.nonce(), w.case.number, kind, w.actor.email, w.env.now,
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
    answered = [p for p in w.known if p.nonce in w.answering]
    if answered:
        p = answered[-1]
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


APPROVED_STEPS = {"accused": "accused_informed", "harasser": "harasser_informed",
                  "dsf": "dsf_reported"}


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
            w.mails.append(OutMail("member_excluded", address, role, w.case.number,
                                   {"recipient_name": address.name,
                                    "member": _name(w.env, p.target), "proposed_by": who,
                                    "approved_by": w.actor.name}))
        w.mailed.append("the leads (a member was excluded)")
        return (f"approved: {_name(w.env, p.target)} is excluded from this case "
                f"({who}'s proposal); the leads are told")
    changed = _stale(p, w.case)
    if changed:
        raise Refused(f"this proposal is out of date: {', '.join(changed)} changed since "
                      f"{who} proposed it; nothing was sent. Propose it again")
    _guard(w.case, [m for m in p.mails if m.role == "a"])
    step = APPROVED_STEPS[p.kind]
    if w.case.step(step) is not None:
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
    w.case = w.case.with_step(step, at)
    w.decided.append((p, "approved", None))
    return f"approved and sent ({who}'s proposal: {p.what(short=True)})"


ROLE_LABELS = {"a": "the reported person", "d": "the DSF"}


def do_reject(w: _Work, cmd: Command) -> str:
    p = _pick(w, "reject")
    _not_about_you(w, p)
    reason = cmd.value.strip() or None
    w.decided.append((p, "rejected", reason))
    proposer = w.env.roster.by_email(p.proposed_by)
    target = _name(w.env, p.target) if p.kind in MEMBER_KINDS else ""
    if proposer is not None and proposer.email != w.actor.email \
            and not w.case.is_recused(proposer.email):
        w.mails.append(OutMail("proposal_rejected", proposer.address, f"s{proposer.sid}",
                               w.case.number,
                               {"recipient_name": proposer.name, "rejected_by": w.actor.name,
                                "what": p.what(target, short=True),
                                "reason": reason or ""}))
        w.mailed.append(f"{proposer.name} (their proposal was rejected)")
    return "proposal rejected; nothing was sent" + (f" ({_name(w.env, p.proposed_by)} is told)"
                                                   if proposer and proposer.email !=
                                                   w.actor.email else "")


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
            out.append(OutMail("proposal", address, role, w.case.number,
                               {"recipient_name": address.name, "proposer": proposer,
                                "what": p.what(target), "recuse": p.kind == "recuse",
                                "include": p.kind == "include", "on_case": role_words(
                                    w.case, p.target) if p.kind == "include" else "",
                                "inners": list(p.mails),
                                "near_misses": _near(w.case, p.mails)},
                               subject="Approval needed", nonce=p.nonce))
    return out


def do_urgent(w: _Work, cmd: Command) -> str:
    _set(w, urgent=True)
    w.urgent = True  # the alert is addressed once the whole block ran (after any #recuse)
    w.mailed.append("all staff (urgent)")
    return "marked urgent; all staff notified"


def _urgent_mails(w: _Work) -> list[OutMail]:
    return [OutMail("staff_new_case", address, role, w.case.number,
                    staff_case_context(w.case, address.name, urgent=True,
                                       earlier=list(filter(shown_to(address.email), w.earlier)),
                                       env=w.env),
                    subject="URGENT: safety risk on this case")
            for address, role in w.env.staff_recipients(w.case.recused)]


def do_note(w: _Work, cmd: Command) -> str:
    w.audit.append(AuditEntry("note", _need_value(cmd)))
    return "note recorded"


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
    w.case = w.case.with_step("accused_informed", w.env.now)
    return "complaint notice sent" + unmailed + near


def do_notified_accused(w: _Work, cmd: Command) -> str:
    _need_accused(w.case)
    w.case = w.case.with_step("accused_informed", w.env.now)
    if cmd.value.strip():
        w.audit.append(AuditEntry("their side", cmd.value.strip()))
        _set(w, accused_side=cmd.value.strip())
        return "recorded: accused informed in person; their side noted"
    return "recorded: accused informed in person"


def do_action(w: _Work, cmd: Command) -> str:
    _set(w, action=_need_value(cmd))
    w.case = w.case.with_step("decision", w.env.now)
    return "decision recorded"


def do_outcome(w: _Work, cmd: Command) -> str:
    try:
        outcome = normalise_outcome(_need_value(cmd))
    except CommandValueError as e:
        raise Refused(str(e)) from None
    _set(w, outcome=outcome)
    return f"outcome set to {outcome}"


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
    w.case = w.case.with_step("harasser_informed", w.env.now)
    return "response sent to the reported person" + near


def do_notified_harasser(w: _Work, cmd: Command) -> str:
    _harasser_gate(w.case, by_mail=False)
    w.case = w.case.with_step("harasser_informed", w.env.now)
    return "recorded: the reported person was told the response in person"


def do_notify_victim(w: _Work, cmd: Command) -> str:
    victim = _victim_gate(w.case, by_mail=True)
    assert victim is not None
    _mail(w, mail_victim_decision(w.case, victim), f"the person affected ({victim.display()})")
    w.case = w.case.with_step("victim_informed", w.env.now)
    return "decision sent to the person affected"


def do_notified_victim(w: _Work, cmd: Command) -> str:
    _victim_gate(w.case, by_mail=False)
    w.case = w.case.with_step("victim_informed", w.env.now)
    return "recorded: the person affected was told the decision in person"


def do_report_dsf(w: _Work, cmd: Command) -> str:
    value = cmd.value.strip().lower()
    if value not in ("", "now"):
        raise Refused("#report-dsf takes no value, or 'now' to send before the event ends")
    if w.case.step("dsf_reported"):
        raise Refused("this case was already reported to the DSF "
                      f"({w.env.local(w.case.step('dsf_reported'))}); one report per incident")
    narrative = _dsf_gate(w.case, _outgoing(w.body, w.case, w.env))
    _anonymous_gate(w.case, narrative)
    release = w.env.dsf_release_time()
    hold = value != "now" and release is not None and w.env.now < release
    if _needs_approval(w, "dsf"):
        _propose(w, "dsf", (mail_dsf_report(w.case, w.env, narrative, hold, w.actor.email),))
        return ("proposed: the DSF report; waiting for another team member's #approve "
                f"({_approver_names(w)})")
    _mail(w, mail_dsf_report(w.case, w.env, narrative, hold, w.actor.email),
          "the DSF Code of Conduct committee")
    w.case = w.case.with_step("dsf_reported", release if hold else w.env.now)
    _set(w, dsf_hold_until=release if hold else None)
    if hold:
        return f"DSF report queued; it goes out on {w.env.local(release)} (after the event)"
    return "DSF report sent"


def do_reported_dsf(w: _Work, cmd: Command) -> str:
    if w.case.step("dsf_reported"):
        raise Refused("this case is already marked as reported to the DSF")
    _dsf_gate(w.case, w.body)
    w.case = w.case.with_step("dsf_reported", w.env.now)
    return "recorded: reported to the DSF by hand"


def do_reply(w: _Work, cmd: Command) -> str:
    _reporter_mail_gate(w.case)
    text = _outgoing(w.body, w.case, w.env)
    if not text.strip():
        raise Refused("#reply needs text: write the reply below the commands"
                      + (" (all of it repeats mail cocmail sent to staff)" if w.body.strip()
                         else ""))
    assert w.case.reporter
    _mail(w, mail_reporter_reply(w.case, text.strip()),
          f"the reporter ({w.case.reporter.display()})")
    return "reply sent to the reporter"


def preview_mail(case: Case, env: Env, target: str, body: str,
                 actor: str | None = None) -> OutMail:
    """The exact mail `target` would get now; raises Refused when it could not be sent."""
    if target == "accused":
        _need_accused(case)
        people = _accused_with_address(case) or [case.accused[0]]
        mail = mail_accused_complaint(case, replace(people[0], email=people[0].email or "?"))
        _guard(case, [mail])
        return mail
    if target == "harasser":
        people = _harasser_gate(case, by_mail=False)
        p = people[0] if people else case.accused[0]
        mail = mail_harasser_response(case, replace(p, email=p.email or "?"), env)
        _guard(case, [mail])
        return mail
    if target == "victim":
        victim = _victim_gate(case, by_mail=False)
        if victim is None:
            victim = Person("victim", "", "?")
        return mail_victim_decision(case, replace(victim, email=victim.email or "?"))
    body = _outgoing(body, case, env)
    if target == "dsf":
        narrative = _dsf_gate(case, body)
        _anonymous_gate(case, narrative)
        return mail_dsf_report(case, env, narrative, hold=False, actor=actor)
    _reporter_mail_gate(case)
    return mail_reporter_reply(case, body.strip() or "(your text below the commands)")


def _outgoing(body: str, case: Case, env: Env) -> str:
    """Staff text for a mail that leaves the team, with whatever it copies of cocmail's
    own mail to staff, and every token, taken out (outgoing_text)."""
    return without_staff_text(body, env.history.staff_text(case.number))


def do_preview(w: _Work, cmd: Command) -> str:
    target = cmd.value.strip().lower()
    if target not in PREVIEW_TARGETS:
        raise Refused(f"#preview needs one of: {', '.join(PREVIEW_TARGETS)}")
    mail = preview_mail(w.case, w.env, target, w.body, w.actor.email)
    label = PREVIEW_LABELS[target]
    near = _near(w.case, [mail])
    w.mails.append(OutMail("preview", w.actor.address, f"s{w.actor.sid}", w.case.number,
                           {"target": label, "inner": mail, "near_misses": near}))
    return f"preview of the mail to {label} sent to you; nothing else was sent"


# Who each #preview target is, in the words of the mail (commands keep their names).
PREVIEW_LABELS = {"accused": "the reported person (the complaint notice)",
                  "harasser": "the reported person (the response)",
                  "victim": "the person affected (the decision)",
                  "dsf": "the DSF Code of Conduct committee", "reply": "the reporter"}


def do_status(w: _Work, cmd: Command) -> str:
    w.mails.append(OutMail("status", w.actor.address, f"s{w.actor.sid}", w.case.number,
                           {"row": status_row(w.case, w.env), "status": w.case.status,
                            "missing_steps": [STEP_LABELS[m] for m in w.case.missing_steps()],
                            "proposals": _waiting_described(w)}))
    return "status sent to you"


def _waiting_described(w: _Work) -> list[str]:
    return [describe(p, w.env) for p in _still_waiting(w) + w.proposals]


def do_close(w: _Work, cmd: Command) -> str:
    if w.case.status == "closed":
        return "the case was already closed"
    missing = w.case.missing_steps()
    _set(w, status="closed")
    w.case = w.case.with_step("closed", w.env.now)
    if missing:
        return "case closed; steps not done: " + "; ".join(STEP_LABELS[m] for m in missing)
    return "case closed; all steps done"


def do_reopen(w: _Work, cmd: Command) -> str:
    if w.case.status == "open":
        return "the case is already open"
    _set(w, status="open")
    w.case = w.case.with_step("closed", None)
    return "case reopened"


def do_help(w: _Work, cmd: Command) -> str:
    w.mails.append(OutMail("help", w.actor.address, f"s{w.actor.sid}", w.case.number,
                           {"commands": command_reference()}))
    return "command reference sent to you"


def do_confirm(w: _Work, cmd: Command) -> str:
    raise Refused("#confirm only works as the only command in a reply to a transcript "
                  "that holds commands")


def do_end(w: _Work, cmd: Command) -> str:
    return "end of commands"


HANDLERS: dict[str, Callable[[_Work, Command], str]] = {
    "reporter": do_reporter, "victim": do_victim, "accused": do_accused,
    "witness": do_witness, "when": _field("when", "when"), "where": _field("where", "where"),
    "summary": _field("summary", "summary"), "others": _field("others aware", "others"),
    "public-summary": do_public_summary,
    "handler": do_handler, "recuse": do_recuse, "urgent": do_urgent, "note": do_note,
    "notify-accused": do_notify_accused, "notified-accused": do_notified_accused,
    "action": do_action, "response": do_response, "outcome": do_outcome,
    "notify-harasser": do_notify_harasser, "notified-harasser": do_notified_harasser,
    "notify-victim": do_notify_victim, "notified-victim": do_notified_victim,
    "report-dsf": do_report_dsf, "reported-dsf": do_reported_dsf, "reply": do_reply,
    "preview": do_preview, "status": do_status, "close": do_close, "reopen": do_reopen,
    "help": do_help, "confirm": do_confirm, "end": do_end,
    "approve": do_approve, "reject": do_reject, "include": do_include,
}


def staff_case_context(case: Case, recipient_name: str, *, urgent: bool,
                       earlier: list[dict[str, Any]], env: Env, report_from: str = "",
                       report_subject: str = "", report_date: str = "",
                       attachments: tuple[str, ...] = ()) -> dict[str, Any]:
    """Context of `staff_new_case`; used at intake and for #urgent re-notification."""
    if case.reporter_anonymous:
        reporter = "anonymous" + (f" ({case.reporter.display()}; never named outside the team)"
                                  if case.reporter else "")
    else:
        reporter = case.reporter.display() if case.reporter else "unknown"
    received = env.roster.by_email(case.received_by) if case.received_by else None
    quick = command_reference()  # the template picks the few that matter on a new case
    return {"recipient_name": recipient_name, "reporter": reporter,
            "received_by": received.name if received else None,
            "report_from": report_from, "report_subject": report_subject or case.subject,
            "report_date": report_date or env.local(case.opened), "report_text": case.report_text,
            "attachments": list(attachments), "earlier": earlier, "urgent": urgent,
            "commands": quick, "forged": case.forged_sender,
            "sender_unknown": None,  # intake says why, when it knows
            "ack_withheld": None, "conflict": None, "back": False,
            "possibly_urgent": []}  # intake: what reads as urgent (core/urgency.py)


def _guard_block(w: _Work, lines: list[LineResult]) -> LineResult | None:
    """The identity guard once more on the case as the whole block left it: a witness
    named on a later line than #notify-harasser is protected by that mail too."""
    mails = [m for m in w.mails if m.role == "a"]
    mails += [m for p in w.proposals for m in p.mails if m.role == "a"]
    try:
        _guard(w.case, mails)
    except Refused as e:
        last = lines[-1]
        lines[-1] = LineResult(last.line, last.raw, False,
                               f"{e} (checked again once the whole mail had run)")
        return lines[-1]
    return None


def apply_block(case: Case, commands: tuple[Command, ...], body: str, actor: StaffMember,
                env: Env, proposals: tuple[Proposal, ...] = (),
                answering: tuple[str, ...] = ()) -> Applied:
    """Run a whole command block for `actor` (already authenticated) on `case`.

    `proposals`: the case's proposals so far; `answering`: the token nonces of the mail,
    so that `#approve` in a reply to a proposal's mail decides that one."""
    w = _Work(case=case, actor=actor, env=env, body=body, mails=[], audit=[], mailed=[],
              earlier=[], known=proposals, answering=answering)
    lines: list[LineResult] = []
    failed: LineResult | None = None
    if actor.email in concerned(proposals) or case.is_recused(actor.email):
        # A member a proposal (or the case) is about decides nothing on it (issue 21).
        why = ("you are excluded from this case" if case.is_recused(actor.email) else
               "a proposal about you is waiting on this case: another member of the team "
               "decides it, and until then you cannot run commands on the case")
        return Applied(case, tuple(LineResult(c.line, c.raw, False, why) for c in commands),
                       (), (), True, why, (), ())
    for cmd in commands:
        if failed is not None:
            lines.append(LineResult(cmd.line, cmd.raw, False, "not run: the mail was refused"))
            continue
        handler = HANDLERS.get(cmd.name)
        warned = len(w.earlier)
        try:
            if handler is None:
                raise Refused(f"unknown command #{cmd.name}")
            if w.case.status == "closed" and cmd.name not in ("reopen", "status", "help",
                                                              "note", "preview"):
                raise Refused("the case is closed: #reopen it first")
            result = handler(w, cmd)
        except Refused as e:
            failed = LineResult(cmd.line, cmd.raw, False, str(e))
            lines.append(failed)
            continue
        lines.append(LineResult(cmd.line, cmd.raw, True, result, tuple(w.earlier[warned:])))
        w.audit.append(AuditEntry(cmd.name, cmd.value.strip()))
    if failed is None and commands:
        failed = _guard_block(w, lines)
    if failed is not None:
        return Applied(case, tuple(lines), (), (), True,
                       f"line {failed.line}: {failed.result}", (), tuple(w.earlier))
    new = w.case
    mails = w.mails + (_urgent_mails(w) if w.urgent else []) + _proposal_mails(w)
    # A member recused anywhere in the block gets nothing about the case from it.
    mails = [m for m in mails if not (m.role.startswith("s") and new.is_recused(m.to.email))]
    if commands:
        handlers = new.handlers if actor.email in new.handlers or actor.email in new.recused \
            else new.handlers + (actor.email,)
        new = replace(new, handlers=handlers, last_staff_action=env.now, last_activity=env.now)
    return Applied(new, tuple(lines), tuple(mails), tuple(w.audit), False, None,
                   tuple(w.mailed), tuple(w.earlier), tuple(w.proposals),
                   tuple((p.nonce, state, reason) for p, state, reason in w.decided),
                   tuple(_waiting_described(w)))
