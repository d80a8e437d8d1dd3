"""The mails staff commands cause, and the gates they pass (docs/process.md's steps).

Pure. The commands themselves are declared in core/mail_commands/ (one module per
family) and run by mail_commands/run.apply_block; this module holds what they share with
#preview and with intake: the mail builders, the gates a mail must pass before it is
sent, `Refused` (a gate's answer), and the results a block's transcript is written from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .case import NO_HARASSER_OUTCOMES, OUTCOME_LABELS, Case, Person
from .effects import AuditEntry, OutMail, Proposal
from .env import Env
from .errors import UserError
from .identity_guard import dsf_names_anonymous, guard_mails
from .mail_contexts import (
    AccusedComplaintContext,
    DsfReportContext,
    HarasserResponseContext,
    ReporterReplyContext,
    StaffNewCaseContext,
    VictimDecisionContext,
)
from .model import Address
from .outgoing_text import without_staff_text
from .vocabulary import Outcome


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


@dataclass(frozen=True, kw_only=True)
class LineResult:
    """One line of a block and what came of it, for the transcript."""

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


@dataclass(frozen=True, kw_only=True)
class Applied:
    """What a block did: the case as it left it (the case it got, when refused), a
    result per line, and the mail, audit entries and proposals it made."""

    case: Case
    lines: tuple[LineResult, ...] = ()
    mails: tuple[OutMail, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    rejected: bool = False
    reason: str | None = None  # why the block was refused
    mailed: tuple[str, ...] = ()  # who was mailed, for the transcript
    earlier: tuple[dict[str, Any], ...] = ()  # earlier cases the block's lines warn of
    proposals: tuple[Proposal, ...] = ()  # made by this block, waiting for #approve
    decided: tuple[tuple[str, str, str | None], ...] = ()  # (nonce, approved|rejected, reason)
    waiting: tuple[str, ...] = ()  # every proposal still waiting after the block, described


# ------------------------------------------------------------------ mail builders
def mail_accused_complaint(case: Case, person: Person) -> OutMail:
    assert person.email
    return OutMail(to=Address(person.name, person.email), role="a", case=case.number,
                   context=AccusedComplaintContext(accused_name=person.name))


def mail_harasser_response(case: Case, person: Person, env: Env) -> OutMail:
    assert person.email
    return OutMail(to=Address(person.name, person.email), role="a", case=case.number,
                   context=HarasserResponseContext(
                       accused_name=person.name, action=case.response or case.action or "",
                       appeal_contact=env.appeal))


# Outcomes the decision mail words on their own (victim_decision.txt); any other is "action".
_FINDINGS: tuple[Outcome, ...] = (
    Outcome.NOT_A_VIOLATION, Outcome.OUT_OF_SCOPE, Outcome.NO_ACTION)


def mail_victim_decision(case: Case, victim: Person) -> OutMail:
    """The decision, worded for the finding (no "action we have taken: No further action"
    for a case that found no violation) and for whether the person affected reported it
    themselves: someone who never wrote to the team is not thanked "for your report"."""
    assert victim.email
    reported = case.victim_is_reporter or bool(
        case.reporter and case.reporter.email
        and case.reporter.email.lower() == victim.email.lower())
    return OutMail(to=Address(victim.name, victim.email), role="v", case=case.number,
                   context=VictimDecisionContext(
                       victim_name=victim.name, action=case.action or "",
                       outcome=case.outcome, reported=reported,
                       finding=case.outcome if case.outcome in _FINDINGS else "action"))


def dsf_narrative(case: Case, text: str) -> str:
    """What the committee reads under "What happened": `#report-dsf`'s own text, else
    `#summary`. Never the text below the commands: that is an internal note, often
    written for another command ("Spoke to Mark at 16:00, he was defensive"), and it
    once went out as the narrative (issue 25, item 6)."""
    return text.strip() or (case.summary or "").strip()


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
            "victim_declined": case.victim_declined,
            "no_harasser_steps": not case.harasser_steps_apply()}


def mail_dsf_report(case: Case, env: Env, narrative: str, hold: bool,
                    actor: str | None = None) -> OutMail:
    return OutMail(to=Address(env.details.committee_address_name(), env.dsf), role="d",
                   case=case.number,
                   context=DsfReportContext(
                       when=case.when or "", where=case.where or "",
                       # "In brief" only when it says more than "What happened" does.
                       summary="" if narrative.strip() == (case.summary or "").strip()
                       else case.summary or "",
                       what_happened=narrative, action=case.action,
                       outcome=OUTCOME_LABELS.get(case.outcome or ""),
                       **dsf_people(case, env, actor), **dsf_responses(case, env)),
                   not_before=env.dsf_release_time() if hold else None)


def mail_reporter_reply(case: Case, text: str) -> OutMail:
    assert case.reporter and case.reporter.email
    return OutMail(to=Address(case.reporter.name, case.reporter.email), role="r",
                   case=case.number,
                   context=ReporterReplyContext(reporter_name=case.reporter.name, text=text))


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


def _dsf_gate(case: Case, text: str) -> str:
    missing = [n for n, v in (("#when", case.when), ("#where", case.where)) if not v]
    narrative = dsf_narrative(case, text)
    if not narrative:
        missing.append("what happened: write it after the command (#report-dsf <what "
                       "happened>) or set #summary <what happened> (the text below the "
                       "commands is an internal note and never goes to the committee)")
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


def _same(a: Person, b: Person) -> bool:
    if a.email and b.email:
        return a.email.lower() == b.email.lower()
    from .people import normalise_name

    return bool(a.name) and normalise_name(a.name) == normalise_name(b.name)


# ------------------------------------------------------------------ previews and staff mail


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
    if target == "dsf":  # the narrative is #summary's here: the note below is no one's mail
        narrative = _dsf_gate(case, "")
        _anonymous_gate(case, narrative)
        return mail_dsf_report(case, env, narrative, hold=False, actor=actor)
    body = _outgoing(body, case, env)
    _reporter_mail_gate(case)
    return mail_reporter_reply(case, body.strip() or "(your text below the commands)")


def _outgoing(body: str, case: Case, env: Env) -> str:
    """Staff text for a mail that leaves the team, with whatever it copies of cocmail's
    own mail to staff, and every token, taken out (outgoing_text)."""
    return without_staff_text(body, env.history.staff_text(case.number))


def staff_case_context(case: Case, recipient_name: str, *, urgent: bool,
                       earlier: list[dict[str, Any]], env: Env, report_from: str = "",
                       report_subject: str = "", report_date: str = "",
                       attachments: tuple[str, ...] = (),
                       commands: list[tuple[str, str]]) -> StaffNewCaseContext:
    """Context of `staff_new_case`; used at intake, for #urgent re-notification and for a
    member back on the case. `commands`: the registry's reference
    (mail_commands.registry.command_reference), from which the template picks the few
    that matter on a new case."""
    if case.reporter_anonymous:
        reporter = "anonymous" + (f" ({case.reporter.display()}; never named outside the team)"
                                  if case.reporter else "")
    else:
        reporter = case.reporter.display() if case.reporter else "unknown"
    received = env.roster.by_email(case.received_by) if case.received_by else None
    return StaffNewCaseContext(
        recipient_name=recipient_name, reporter=reporter,
        received_by=received.name if received else None,
        report_from=report_from, report_subject=report_subject or case.subject,
        report_date=report_date or env.local(case.opened), report_text=case.report_text,
        attachments=list(attachments), earlier=earlier, urgent=urgent,
        commands=commands, forged=case.forged_sender)


