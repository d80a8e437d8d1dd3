"""Deciding what one inbound message does: the heart of the pure core.

Input: the parsed message, how it was screened and identified, the case it matched
(or None), the environment. Output: a `Decision` — the case to save, the mails to
queue, the audit entries — and nothing is done here. The pipeline commits it whole.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .case import STEP_LABELS, Case, Person
from .commands import CommandBlock, format_block, parse_command_block
from .effects import AuditEntry, Held, OutMail
from .env import Env
from .identity import Identity
from .model import ParsedMessage, StaffMember
from .screening import Screening
from .tokens import new_nonce
from .workflow import Applied, apply_block, staff_case_context


@dataclass(frozen=True)
class Decision:
    case: Case | None
    created: bool
    mails: tuple[OutMail, ...]
    audit: tuple[AuditEntry, ...]
    kind: str  # how the message is kept on the case: report, followup, staff, auto, bounce
    state: str = "done"  # inbound state: done | ignored
    note: str | None = None  # internal note text kept on the case
    held: Held | None = None
    confirmed: str | None = None  # nonce of held commands now run
    log: str = ""


@dataclass(frozen=True)
class HeldEntry:
    nonce: str
    commands: str
    body: str


def _sender_label(msg: ParsedMessage) -> str:
    s = msg.sender
    if s is not None:
        return s.display()
    return ", ".join(a.display() for a in msg.from_) or "(no sender)"


def _attachments(msg: ParsedMessage) -> tuple[str, ...]:
    return tuple(f"{name} ({ctype}, {size // 1024} KB)" for name, ctype, size in msg.attachments)


def _earlier_for(case: Case, env: Env) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in case.accused:
        out.extend(env.history.earlier(p, case.number))
    # A report that names someone before any #accused still warns in the first notification.
    for hit in env.history.mentioned(case.report_text, case.number):
        if all(e["case"] != hit["case"] for e in out):
            out.append(hit)
    return out


def _new_case_mails(case: Case, msg: ParsedMessage, env: Env, exclude: str | None
                    ) -> list[OutMail]:
    earlier = _earlier_for(case, env)
    mails = []
    for address, role in env.staff_recipients(case.recused, exclude=exclude):
        ctx = staff_case_context(case, address.name, urgent=case.urgent, earlier=earlier, env=env,
                                 report_from=_sender_label(msg), report_subject=msg.subject,
                                 report_date=env.local(msg.date or env.now),
                                 attachments=_attachments(msg))
        mails.append(OutMail("staff_new_case", address, role, case.number, ctx,
                             references=_refs(case)))
    return mails


def _refs(case: Case) -> tuple[str, ...]:
    return (case.root_message_id,) if case.root_message_id else ()


def _relay(case: Case, msg: ParsedMessage, env: Env, *, sender_role: str, text: str,
           exclude: str | None, automatic: str | None = None,
           transcript: tuple[dict[str, Any], ...] = ()) -> list[OutMail]:
    mails = []
    for address, role in env.staff_recipients(case.recused, exclude=exclude):
        ctx = {"recipient_name": address.name, "sender": _sender_label(msg),
               "sender_role": sender_role, "subject": msg.subject, "text": text,
               "automatic_reason": automatic, "transcript": list(transcript)}
        mails.append(OutMail("staff_relay", address, role, case.number, ctx,
                             references=_refs(case)))
    return mails


def _with_attached(own: str, msg: ParsedMessage) -> str:
    """`own` (a staff member's body) and, below it, what they attached or forwarded.

    For staff to read only: the note, `#reply` and the DSF narrative stay `own`, so an
    attached mail's words never go out under the team's name.
    """
    if not msg.attached_text:
        return own
    return f"{own.rstrip()}\n\n{msg.attached_text}".lstrip("\n")


def _role_label(case: Case, email: str | None) -> str:
    role = case.role_of(email) if email else None
    return role or "someone not yet on the case"


def open_case(msg: ParsedMessage, number: int, env: Env, identity: Identity,
              screening: Screening, acks_today: int) -> Decision:
    """A new thread: a new case, an acknowledgement when it is due, staff notified."""
    staff = identity.staff
    sender = identity.address
    case = Case(number=number, opened=env.now, subject=msg.subject,
                report_text=msg.full_text.strip(), root_message_id=msg.message_id,
                last_activity=env.now)
    audit = [AuditEntry("opened", f"case opened from {msg.message_id or 'a message without ID'}")]
    mails: list[OutMail] = []
    if staff is not None:
        case = replace(case, received_by=staff.email, handlers=(staff.email,))
        audit.append(AuditEntry("received", f"report entered by staff ({staff.email})"))
    elif sender is not None:
        case = replace(case, reporter=Person("reporter", sender.name, sender.email))
    if staff is None and sender is not None and not screening.automatic:
        if acks_today < env.ack_limit:
            mails.append(OutMail("ack", sender, "r", number,
                                 {"reporter_name": sender.name},
                                 in_reply_to=msg.message_id,
                                 references=(msg.message_id,) if msg.message_id else ()))
            case = case.with_step("acknowledged", env.now)
        else:
            audit.append(AuditEntry("no acknowledgement",
                                    f"rate limit of {env.ack_limit} a day reached for sender"))
    elif screening.automatic:
        audit.append(AuditEntry("no acknowledgement", f"automatic mail: {screening.reason}"))

    held = None
    applied: Applied | None = None
    block = parse_command_block(msg.text) if staff is not None else None
    if staff is not None and block is not None:
        # The staff member's own words, then any report they forwarded as an attachment.
        case = replace(case, report_text=_with_attached(block.body, msg) or case.report_text)
        if block.commands:
            if identity.authenticated_for(number):
                applied = apply_block(case, block.commands, block.body, staff, env)
                if not applied.rejected:
                    case = applied.case
            else:
                held = Held(new_nonce(), staff.email, format_block(block.commands), block.body)

    mails.extend(_new_case_mails(case, msg, env, exclude=staff.email if staff else None))
    if applied is not None:
        mails.extend(applied.mails if not applied.rejected else ())
        audit.extend(applied.audit if not applied.rejected else ())
        mails.append(_transcript(case, msg, staff, applied, identity))  # type: ignore[arg-type]
    elif held is not None and staff is not None and block is not None:
        mails.append(_held_transcript(case, msg, staff, block, held, identity))
        audit.append(AuditEntry("held", "commands held: sender not authenticated"))
    return Decision(case, True, tuple(mails), tuple(audit), "report", held=held,
                    log=f"case #{number} opened")


def _transcript(case: Case, msg: ParsedMessage, staff: StaffMember, applied: Applied,
                identity: Identity) -> OutMail:
    ctx = {"recipient_name": staff.name, "lines": [x.as_dict() for x in applied.lines],
           "rejected": applied.rejected, "reason": applied.reason,
           "mailed": list(applied.mailed), "held": False, "problems": [],
           "missing_steps": [STEP_LABELS[m] for m in applied.case.missing_steps()],
           "earlier": list(applied.earlier), "note_recorded": False}
    subject = "Commands refused" if applied.rejected else "Commands done"
    return OutMail("transcript", staff.address, f"s{staff.sid}", case.number, ctx,
                   in_reply_to=msg.message_id, references=_refs(case) + _own(msg),
                   subject=subject)


def _own(msg: ParsedMessage) -> tuple[str, ...]:
    return (msg.message_id,) if msg.message_id else ()


def _held_transcript(case: Case, msg: ParsedMessage, staff: StaffMember, block: CommandBlock,
                     held: Held, identity: Identity) -> OutMail:
    lines = [{"line": c.line, "raw": c.raw, "ok": False, "result": "held, not run"}
             for c in block.commands]
    ctx = {"recipient_name": staff.name, "lines": lines, "rejected": False, "reason": None,
           "mailed": [], "held": True, "problems": list(identity.problems),
           "missing_steps": [STEP_LABELS[m] for m in case.missing_steps()], "earlier": [],
           "note_recorded": bool(block.body.strip())}
    # Sent to the member's configured address, never to the From of the suspect mail.
    return OutMail("transcript", staff.address, f"s{staff.sid}", case.number, ctx,
                   references=_refs(case), subject="Commands held: please confirm",
                   nonce=held.nonce)


def continue_case(msg: ParsedMessage, case: Case, env: Env, identity: Identity,
                  screening: Screening, held_entry: HeldEntry | None = None) -> Decision:
    """A message on an existing case: relay it, and run staff commands when authenticated."""
    staff = identity.staff
    email = identity.address.email if identity.address else None
    case = replace(case, last_activity=env.now)
    if screening.automatic or screening.bounce:
        reason = screening.reason or "automatic mail"
        mails = _relay(case, msg, env, sender_role="automatic mail", text=msg.full_text.strip(),
                       exclude=None, automatic=reason)
        kind = "bounce" if screening.bounce else "auto"
        return Decision(case, False, tuple(mails), (AuditEntry("automatic mail", reason),),
                        kind, log=f"case #{case.number}: automatic mail recorded")
    if staff is None or case.is_recused(staff.email):
        role = _role_label(case, email)
        if staff is not None:
            role = "staff member (recused from this case)"
        mails = _relay(case, msg, env, sender_role=role, text=msg.full_text.strip(),
                       exclude=email)
        return Decision(case, False, tuple(mails), (AuditEntry("message", f"from the {role}"),),
                        "followup", log=f"case #{case.number}: message relayed")

    block = parse_command_block(msg.text)
    commands = block.commands
    body = block.body
    confirmed = None
    if [c.name for c in commands] == ["confirm"] and held_entry is not None:
        held_block = parse_command_block(held_entry.commands)
        commands, body, confirmed = held_block.commands, held_entry.body, held_entry.nonce
    note = body or None
    audit: list[AuditEntry] = []  # the note text itself is audited by the pipeline
    if block.errors:
        return _refuse_errors(case, msg, staff, block, identity, env, note, audit)
    if not commands:
        mails = _relay(case, msg, env, sender_role="staff member", text=_with_attached(body, msg),
                       exclude=staff.email)
        return Decision(case, False, tuple(mails), tuple(audit), "staff", note=note,
                        log=f"case #{case.number}: staff note relayed")
    if not identity.authenticated_for(case.number):
        held = Held(new_nonce(), staff.email, format_block(commands), body)
        mails = [_held_transcript(case, msg, staff, replace(block, commands=commands), held,
                                  identity)]
        mails += _relay(case, msg, env, sender_role="staff member (NOT authenticated)",
                        text=_with_attached(body, msg), exclude=staff.email)
        audit.append(AuditEntry("held", "commands held: " + "; ".join(identity.problems)))
        return Decision(case, False, tuple(mails), tuple(audit), "staff", note=note, held=held,
                        log=f"case #{case.number}: unauthenticated staff commands held")
    applied = apply_block(case, commands, body, staff, env)
    new = applied.case if not applied.rejected else case
    mails = list(applied.mails) if not applied.rejected else []
    transcript = _transcript(new, msg, staff, applied, identity)
    mails.append(transcript)
    mails += _relay(new, msg, env, sender_role="staff member", text=_with_attached(body, msg),
                    exclude=staff.email,
                    transcript=tuple(transcript.context["lines"]))
    audit += list(applied.audit)
    if applied.rejected:
        audit.append(AuditEntry("refused", applied.reason or ""))
    return Decision(new, False, tuple(mails), tuple(audit), "staff", note=note,
                    confirmed=confirmed,
                    log=f"case #{case.number}: {len(commands)} command(s) "
                        + ("refused" if applied.rejected else "applied"))


def _refuse_errors(case: Case, msg: ParsedMessage, staff: StaffMember, block: CommandBlock,
                   identity: Identity, env: Env, note: str | None,
                   audit: list[AuditEntry]) -> Decision:
    """Unknown commands refuse the whole block, and the transcript says which line."""
    errors = {e.line: e for e in block.errors}
    lines = []
    for line_no, raw in sorted([(c.line, c.raw) for c in block.commands]
                               + [(e.line, e.raw) for e in block.errors]):
        if line_no in errors:
            lines.append({"line": line_no, "raw": raw, "ok": False,
                          "result": errors[line_no].reason})
        else:
            lines.append({"line": line_no, "raw": raw, "ok": False,
                          "result": "not run: the mail was refused"})
    first = min(errors)
    reason = f"line {first}: {errors[first].reason}"
    ctx = {"recipient_name": staff.name, "lines": lines, "rejected": True, "reason": reason,
           "mailed": [], "held": False, "problems": [],
           "missing_steps": [STEP_LABELS[m] for m in case.missing_steps()], "earlier": [],
           "note_recorded": bool(note)}
    mails = [OutMail("transcript", staff.address, f"s{staff.sid}", case.number, ctx,
                     in_reply_to=msg.message_id, references=_refs(case) + _own(msg),
                     subject="Commands refused")]
    mails += _relay(case, msg, env, sender_role="staff member",
                    text=_with_attached(note or "", msg),
                    exclude=staff.email, transcript=tuple(lines))
    audit = audit + [AuditEntry("refused", reason)]
    return Decision(case, False, tuple(mails), tuple(audit), "staff", note=note,
                    log=f"case #{case.number}: command block refused")


def unmatched_automatic(msg: ParsedMessage, screening: Screening) -> Decision:
    """Bounces and our own mail that match no case: recorded, never answered."""
    return Decision(None, False, (), (AuditEntry("ignored", screening.reason or "automatic"),),
                    "auto", state="ignored", log=f"ignored: {screening.reason}")

