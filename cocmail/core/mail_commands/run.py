"""Running a block of mail commands: the one entry point, `apply_block`.

Pure. A block is run line by line on a working copy of the case (`_Work`); each line's
command is looked up in the registry, its declaration's gates (a needed value, a closed
case) are checked, then its handler runs. The first line that fails refuses the whole
block and the original case is kept, so a typo can never half-apply. Every line gets a
result for the transcript.
"""

from __future__ import annotations

from dataclasses import replace

from ..case import Case
from ..conflicts import concerned
from ..effects import AuditEntry, OutMail, Proposal
from ..env import Env
from ..model import StaffMember
from ..vocabulary import Recipient
from ..workflow import Applied, LineResult, Refused, _guard
from .case_state import urgent_mails
from .facts import until_refusal
from .proposals import _proposal_mails, _waiting_described
from .registry import COMMANDS, command_reference
from .values import Command
from .work import MailCommand, _Work, mail_to_role

__all__ = ["apply_block", "command_reference"]


def _gates(decl: MailCommand | None, cmd: Command, case: Case) -> MailCommand:
    """What the declaration says before its handler runs: known, open (or allowed on a
    closed case), and given the value its shape needs."""
    if decl is None:
        raise Refused(f"unknown command #{cmd.name}")
    if case.status == "closed" and not decl.on_closed_case:
        raise Refused("the case is closed: #reopen it first")
    if decl.value.needed and not cmd.value.strip():
        raise Refused(f"#{cmd.name} needs a value: {decl.syntax}")
    return decl


def _check_mails(decl: MailCommand, mails: list[OutMail]) -> None:
    """A handler mailing someone its declaration does not name is a bug, never sent."""
    stray = {m.role for m in mails if mail_to_role(m.role) not in decl.mails_to}
    if stray:
        raise AssertionError(f"#{decl.name} mailed {sorted(stray)}, not in its mails_to")


def _guard_block(w: _Work, lines: list[LineResult]) -> LineResult | None:
    """The identity guard once more on the case as the whole block left it: a witness
    named on a later line than #notify-harasser is protected by that mail too."""
    mails = [m for m in w.mails if m.role == Recipient.ACCUSED]
    mails += [m for p in w.proposals for m in p.mails if m.role == Recipient.ACCUSED]
    try:
        _guard(w.case, mails)
    except Refused as e:
        last = lines[-1]
        lines[-1] = LineResult(line=last.line, raw=last.raw, ok=False,
                               result=f"{e} (checked again once the whole mail had run)")
        return lines[-1]
    return None


def _until_block(w: _Work, commands: tuple[Command, ...],
                 lines: list[LineResult]) -> LineResult | None:
    """`#until` is checked against the outcome the whole block leaves: a member may write
    it before `#outcome ban` as well as after. Refused on the `#until` line."""
    dated = [i for i, c in enumerate(commands)
             if c.name == "until" and not c.value.strip().lower().startswith("none")]
    why = until_refusal(w.case) if dated else None
    if why is None:
        return None
    at = lines[dated[0]]
    lines[dated[0]] = LineResult(line=at.line, raw=at.raw, ok=False, result=why)
    return lines[dated[0]]


def apply_block(case: Case, commands: tuple[Command, ...], body: str, actor: StaffMember,
                env: Env, proposals: tuple[Proposal, ...] = (),
                answering: tuple[str, ...] = ()) -> Applied:
    """Run a whole command block for `actor` (already authenticated) on `case`.

    `proposals`: the case's proposals so far; `answering`: the token nonces of the mail,
    so that `#approve` in a reply to a proposal's mail decides that one."""
    w = _Work(case=case, actor=actor, env=env, body=body, mails=[], audit=[], mailed=[],
              earlier=[], known=proposals, answering=answering,
              reference=tuple(command_reference()))
    lines: list[LineResult] = []
    failed: LineResult | None = None
    if actor.email in concerned(proposals) or case.is_recused(actor.email):
        # A member a proposal (or the case) is about decides nothing on it (issue 21).
        why = ("you are excluded from this case" if case.is_recused(actor.email) else
               "a proposal about you is waiting on this case: another member of the team "
               "decides it, and until then you cannot run commands on the case")
        return Applied(case=case, rejected=True, reason=why,
                       lines=tuple(LineResult(line=c.line, raw=c.raw, ok=False, result=why)
                                   for c in commands))
    for cmd in commands:
        if failed is not None:
            lines.append(LineResult(line=cmd.line, raw=cmd.raw, ok=False,
                                    result="not run: the mail was refused"))
            continue
        warned, mailed = len(w.earlier), len(w.mails)
        try:
            decl = _gates(COMMANDS.get(cmd.name), cmd, w.case)
            result = decl.handler(w, cmd)
        except Refused as e:
            failed = LineResult(line=cmd.line, raw=cmd.raw, ok=False, result=str(e))
            lines.append(failed)
            continue
        _check_mails(decl, w.mails[mailed:])
        lines.append(LineResult(line=cmd.line, raw=cmd.raw, ok=True, result=result,
                                earlier=tuple(w.earlier[warned:])))
        w.audit.append(AuditEntry(cmd.name, cmd.value.strip()))
    if failed is None and commands:
        failed = _guard_block(w, lines) or _until_block(w, commands, lines)
    if failed is not None:
        return Applied(case=case, lines=tuple(lines), rejected=True,
                       reason=f"line {failed.line}: {failed.result}", earlier=tuple(w.earlier))
    new = w.case
    mails = w.mails + (urgent_mails(w) if w.urgent else []) + _proposal_mails(w)
    # A member recused anywhere in the block gets nothing about the case from it.
    mails = [m for m in mails if not (m.role.startswith("s") and new.is_recused(m.to.email))]
    if commands:
        handlers = new.handlers if actor.email in new.handlers or actor.email in new.recused \
            else new.handlers + (actor.email,)
        new = replace(new, handlers=handlers, last_staff_action=env.now, last_activity=env.now)
    return Applied(case=new, lines=tuple(lines), mails=tuple(mails), audit=tuple(w.audit),
                   mailed=tuple(w.mailed), earlier=tuple(w.earlier),
                   proposals=tuple(w.proposals),
                   decided=tuple((p.nonce, state, reason) for p, state, reason in w.decided),
                   waiting=tuple(_waiting_described(w)))
