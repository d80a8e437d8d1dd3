"""Deciding what one inbound message does: the heart of the pure core.

Input: the parsed message, how it was screened and identified, the case it matched
(or None), the environment. `decide.py` picks the branch; this module writes each
branch's outcome. Output: a `Decision` — the case to save, the mails to
queue, the audit entries — and nothing is done here. The pipeline commits it whole.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from .case import STEP_LABELS, Case, Person
from .commands import CommandBlock, IgnoredLine, format_block, parse_command_block
from .conflict_mail import contact_mails, team_blind
from .conflicts import earlier_mail, screen
from .effects import (
    POSSIBLY_URGENT_SUBJECT,
    AuditEntry,
    Held,
    OutMail,
    Proposal,
)
from .env import Env
from .flood_rules import Arrival
from .identity import STAFF_TOKEN_DAYS_AFTER_CLOSE, Identity
from .mail_commands.run import apply_block, command_reference
from .mail_contexts import AckContext, SentAsYouContext, TranscriptContext
from .model import Address, ParsedMessage, StaffMember
from .relay import (
    EXCLUDED_MEMBER,
    ROLE_WORDS,
    UNAUTHENTICATED,
    attachment_lines,
    case_refs,
    has_files,
    relay_mails,
    role_label,
    sender_label,
    with_attached,
)
from .reminders import promised_minutes
from .sanctions import today, with_state
from .screening import Screening
from .sender import reporter_of
from .tokens import Token
from .urgency import urgent_words
from .vocabulary import Party, Recipient, staff_role, staff_sid
from .who_wrote import appeal_mail, who_wrote
from .workflow import Applied, LineResult, shown_to, staff_case_context


@dataclass(frozen=True)
class Decision:
    case: Case | None
    created: bool
    mails: tuple[OutMail, ...]
    audit: tuple[AuditEntry, ...]
    kind: str  # how the message is kept on the case: report, followup, staff, auto, bounce
    state: str = "done"  # inbound state: done | ignored | duplicate | quarantined
    note: str | None = None  # internal note text kept on the case
    held: Held | None = None
    confirmed: str | None = None  # nonce of held commands now run
    log: str = ""
    actor: str | None = None  # who the audit names, when not simply the From address
    cancel_mail_to: tuple[str, ...] = ()  # every address of members recused just now
    proposals: tuple[Proposal, ...] = ()  # new proposals, waiting for a second member
    decided: tuple[tuple[str, str, str | None], ...] = ()  # (nonce, state, reason)
    error: str | None = None  # why it was quarantined, or which message it copies
    drop_raw: bool = False  # a duplicate's raw bytes are not kept twice
    arrival: Arrival | None = None  # counted by the circuit breaker (core/flood.py)


@dataclass(frozen=True)
class HeldEntry:
    nonce: str
    commands: str
    body: str
    opened_case: bool = False  # held from the mail that opened the case (issue 25, item 8)


def _earlier_for(case: Case, env: Env) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in case.accused:
        out.extend(env.history.earlier(p, case.number))
    # A report that names someone before any #accused still warns in the first notification.
    for hit in env.history.mentioned(case.report_text, case.number):
        if all(e["case"] != hit["case"] for e in out):
            out.append(hit)
    return with_state(out, today(env))  # "banned until …, still in force" or "ban ended …"


def _new_case_mails(case: Case, msg: ParsedMessage, env: Env, exclude: str | None,
                    report_from: str, sender_unknown: str | None = None,
                    ack_withheld: str | None = None,
                    conflict: dict[str, Any] | None = None,
                    possibly_urgent: tuple[str, ...] = ()) -> list[OutMail]:
    """`possibly_urgent`: what in the report's opening reads as urgent (core/urgency.py);
    the subject then says "Possibly urgent"."""
    earlier = _earlier_for(case, env)
    mails = []
    for address, role in env.staff_recipients(case.recused, exclude=exclude):
        ctx = staff_case_context(case, address.name, urgent=case.urgent,
                                 earlier=list(filter(shown_to(address.email), earlier)), env=env,
                                 report_from=report_from, report_subject=msg.subject,
                                 report_date=env.local(msg.date or env.now),
                                 attachments=attachment_lines(msg), commands=command_reference())
        ctx = replace(ctx, possibly_urgent=list(possibly_urgent), sender_unknown=sender_unknown,
                      ack_withheld=ack_withheld, conflict=conflict)
        mails.append(OutMail(to=address, role=role, case=case.number, context=ctx,
                             references=case_refs(case),
                             subject=POSSIBLY_URGENT_SUBJECT if possibly_urgent else None,
                             carries_files=has_files(msg)))
    return mails



def automatic_on_case(msg: ParsedMessage, case: Case, env: Env, identity: Identity,
                       screening: Screening, quoted: tuple[Token, ...],
                       noticed_today: frozenset[str]) -> Decision:
    """A bounce or auto-reply on a case: shown to staff, but never so that it can loop.

    Never to the address that wrote it, nor to the staff member whose mail it answers or
    quotes (their mailbox made it and would answer again); and when it concerns staff
    mail, to each other member at most once per case a day (two vacation responders
    would otherwise answer each other's notices forever).
    """
    reason = screening.reason or "automatic mail"
    kind = "bounce" if screening.bounce else "auto"
    sender = identity.address.email if identity.address else None
    quoted_sids = {t.staff_sid for t in quoted if t.staff_sid is not None}
    recipients = [(a, role) for a, role in env.staff_recipients(case.recused, exclude=sender)
                  if staff_sid(role) not in quoted_sids]
    audit = [AuditEntry("automatic mail", reason)]
    if identity.staff is not None or quoted_sids:
        told = [(a, role) for a, role in recipients if a.email.lower() in noticed_today]
        recipients = [r for r in recipients if r not in told]
        if told:
            audit.append(AuditEntry("no notice", f"{len(told)} staff member(s) already told"
                                                 " of automatic mail on this case today"))
    mails = relay_mails(case, msg, env, sender_role="automatic mail", text=msg.full_text.strip(),
                        exclude=None, automatic=reason, recipients=recipients)
    return Decision(case, False, tuple(mails), tuple(audit), kind,
                    log=f"case #{case.number}: automatic mail recorded")


def _claimed(identity: Identity, case_number: int) -> StaffMember | None:
    """The staff member an unauthenticated mail's From names, else None.

    Such mail may be anyone's, so it is marked wherever it goes, never recorded as the
    member's own, and the member hears of it at their configured address.
    """
    if identity.staff is not None and not identity.authenticated_for(case_number):
        return identity.staff
    return None


def _unauthenticated_actor(identity: Identity) -> str:
    email = identity.address.email if identity.address else "unknown sender"
    return f"{email} (not authenticated)"


def _sent_as_you(case: Case, msg: ParsedMessage, staff: StaffMember) -> OutMail:
    """Tell `staff` (at their configured address, never the From) that mail used their name."""
    return OutMail(to=staff.address, role=staff_role(staff.sid), case=case.number,
                   context=SentAsYouContext(recipient_name=staff.name, subject=msg.subject),
                   references=case_refs(case))


def open_case(msg: ParsedMessage, number: int, env: Env, identity: Identity,
              screening: Screening, acks_today: int) -> Decision:
    """A new thread: a new case, an acknowledgement when it is due, staff notified."""
    staff = identity.staff
    # A reporter's From is read leniently (core/sender.py); a staff member's never is.
    reporter = reporter_of(msg, identity, env.roster) if staff is None else None
    sender = reporter.address if reporter is not None else identity.address
    case = Case(number=number, opened=env.now, subject=msg.subject, event=env.event,
                report_text=msg.full_text.strip(), root_message_id=msg.message_id,
                last_activity=env.now)
    audit = [AuditEntry("opened", f"case opened from {msg.message_id or 'a message without ID'}")]
    # Someone may be in danger now: the team hears so in the subject (issue 25, item 4).
    urgent = urgent_words(msg.subject, case.report_text, env.urgent_words)
    if urgent:
        audit.append(AuditEntry("possibly urgent", "the report's opening reads as urgent: "
                                + ", ".join(f'"{w}"' for w in urgent)))
    mails: list[OutMail] = []
    claimed = _claimed(identity, number)
    report_from = sender_label(msg) + (" (NOT authenticated)" if claimed else "")
    if claimed is not None:
        audit.append(AuditEntry("not authenticated",
                                "sent as a staff member, not proven: no received-by recorded"))
    elif staff is not None:
        case = replace(case, received_by=staff.email, handlers=(staff.email,))
        audit.append(AuditEntry("received", f"report entered by staff ({staff.email})"))
    elif sender is not None:
        case = replace(case, reporter=Person(Party.REPORTER, sender.name, sender.email),
                       forged_sender=identity.forged)
    if staff is None and sender is not None and not screening.automatic:
        if identity.forged is not None:
            # The acknowledgement would go to whoever owns the forged address: someone
            # who wrote nothing, perhaps the person the report is about.
            audit.append(AuditEntry("no acknowledgement", "the sender's address may be forged"
                                    f" ({identity.forged} at our mail server)"))
        elif acks_today < env.ack_limit:
            greet = reporter is None or reporter.greet
            mails.append(OutMail(to=sender if greet else Address("", sender.email),
                                 role=Recipient.REPORTER, case=number,
                                 context=AckContext(reporter_name=sender.name if greet else "",
                                                    outside_team=False, member_kept_out=False,
                                                    within=promised_minutes(env),
                                                    possibly_urgent=bool(urgent)),
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
        case = replace(case, report_text=with_attached(block.body, msg) or case.report_text)
    # Members the report names are excluded before anything is addressed (issue 21).
    screened = screen(case, f"{msg.subject}\n{case.report_text}\n{msg.file_text}", env.roster,
                      people=(case.reporter,) if case.reporter else (),
                      skip=frozenset({staff.email}) if staff else frozenset(),
                      contacts=env.conflict_contacts, intake=True)
    case = screened.case
    audit.extend(AuditEntry(a, d) for a, d in screened.audit("the report"))
    if screened.to_contacts or screened.excluded:
        # The acknowledgement must not promise that the team it names reads it, and tells
        # a reporter who named a member that the member was not sent it.
        said = {"outside_team": screened.to_contacts, "member_kept_out": not screened.to_contacts}
        mails = [replace(m, context=replace(m.context, **said)) if m.kind == "ack" else m
                 for m in mails]
    if staff is not None and block is not None:
        if block.commands:
            if identity.authenticated_for(number):
                applied = apply_block(case, block.commands, block.body, staff, env)
                if not applied.rejected:
                    screened = screened.also(applied.case, env.roster)
                    case = applied.case
            else:
                held = Held(env.nonce(), staff.email, format_block(block.commands), block.body)

    mails.extend(_new_case_mails(case, msg, env, exclude=staff.email if staff else None,
                                 report_from=report_from,
                                 sender_unknown=reporter.why_unknown if reporter else None,
                                 ack_withheld=screening.reason if (
                                     sender is not None and staff is None
                                     and screening.automatic) else None,
                                 conflict=screened.notice(), possibly_urgent=urgent))
    if screened.to_contacts:
        mails.extend(contact_mails(case, env, screened, sender=report_from, subject=msg.subject,
                                   text=case.report_text, date=env.local(msg.date or env.now),
                                   attachments=attachment_lines(msg)))
    if claimed is not None and held is None:
        mails.append(_sent_as_you(case, msg, claimed))
    if applied is not None:
        mails.extend(applied.mails if not applied.rejected else ())
        audit.extend(applied.audit if not applied.rejected else ())
        mails.append(_transcript(case, msg, staff, applied, identity,  # type: ignore[arg-type]
                                 ignored=block.ignored if block else ()))
    elif held is not None and staff is not None and block is not None:
        mails.append(_held_transcript(case, msg, staff, block, held, identity))
        audit.append(AuditEntry("held", "commands held: sender not authenticated"))
    made = applied.proposals if applied is not None and not applied.rejected else ()
    return Decision(case, True, tuple(mails), tuple(audit), "report", held=held,
                    log=f"case #{number} opened", proposals=made,
                    actor=_unauthenticated_actor(identity) if claimed else (
                        sender.email if sender is not None and identity.address is None
                        else None))


def ignored_lines(ignored: tuple[IgnoredLine, ...]) -> list[dict[str, object]]:
    """Command-like lines cocmail did not run, for the transcript: never silence."""
    return [{"line": i.line, "raw": i.raw, "reason": i.reason} for i in ignored]


def _transcript(case: Case, msg: ParsedMessage, staff: StaffMember, applied: Applied,
                identity: Identity, ignored: tuple[IgnoredLine, ...] = ()) -> OutMail:
    shown = shown_to(staff.email)
    ctx = TranscriptContext(
        recipient_name=staff.name, lines=[x.as_dict(shown) for x in applied.lines],
        ignored=ignored_lines(ignored), rejected=applied.rejected, reason=applied.reason,
        mailed=list(applied.mailed), proposals=list(applied.waiting),
        missing_steps=[STEP_LABELS[m] for m in applied.case.missing_steps()],
        earlier=list(filter(shown, applied.earlier)))
    subject = ("Commands refused" if applied.rejected else
               "Commands not run" if not applied.lines else "Commands done")
    return OutMail(to=staff.address, role=staff_role(staff.sid), case=case.number, context=ctx,
                   in_reply_to=msg.message_id, references=case_refs(case) + _own(msg),
                   subject=subject)


def _own(msg: ParsedMessage) -> tuple[str, ...]:
    return (msg.message_id,) if msg.message_id else ()


def _held_transcript(case: Case, msg: ParsedMessage, staff: StaffMember, block: CommandBlock,
                     held: Held, identity: Identity) -> OutMail:
    lines = [{"line": c.line, "raw": c.raw, "ok": False, "result": "held, not run"}
             for c in block.commands]
    ctx = TranscriptContext(
        recipient_name=staff.name, lines=lines, ignored=ignored_lines(block.ignored),
        held=True, held_body=block.body, problems=list(identity.problems),
        missing_steps=[STEP_LABELS[m] for m in case.missing_steps()],
        note_recorded=bool(block.body.strip()))
    # Sent to the member's configured address, never to the From of the suspect mail.
    return OutMail(to=staff.address, role=staff_role(staff.sid), case=case.number, context=ctx,
                   references=case_refs(case), subject="Commands held: please confirm",
                   nonce=held.nonce)


def continue_case(msg: ParsedMessage, case: Case, env: Env, identity: Identity,
                  screening: Screening, held_entry: HeldEntry | None = None, *,
                  quoted: tuple[Token, ...] = (),
                  noticed_today: frozenset[str] = frozenset(),
                  proposals: tuple[Proposal, ...] = ()) -> Decision:
    """A message on an existing case: relay it, and run staff commands when authenticated.

    `quoted`: every valid token the mail answers or (a bounce) quotes; `noticed_today`:
    staff addresses already told of automatic mail on this case today.
    """
    closed = case.step("closed") if case.status == "closed" else None
    if closed is not None and env.now - closed > timedelta(days=STAFF_TOKEN_DAYS_AFTER_CLOSE):
        identity = identity.with_expired_token(case.number, (env.now - closed).days)
    staff = identity.staff
    email = identity.address.email if identity.address else None
    case = replace(case, last_activity=env.now)
    # Machine mail by weight (core/screening.py): one weak signal (an Outlook header, a
    # list it came through) must not turn a staff member's commands into a notice.
    if screening.machine or screening.bounce:
        return automatic_on_case(msg, case, env, identity, screening, quoted, noticed_today)
    claimed = _claimed(identity, case.number)
    actor = _unauthenticated_actor(identity) if claimed else None
    if staff is None or case.is_recused(staff.email):
        # A follow-up "from the reporter" whose address failed DMARC may be anyone's.
        return _followup(msg, case, env, staff, email, claimed, actor,
                         forged=identity.forged if staff is None else None,
                         tokens=identity.tokens)

    block = parse_command_block(msg.text)
    commands = block.commands
    body = block.body
    confirmed = None
    audit: list[AuditEntry] = []  # the note text itself is audited by the pipeline
    if [c.name for c in commands] == ["confirm"] and held_entry is not None:
        held_block = parse_command_block(held_entry.commands)
        commands, body, confirmed = held_block.commands, held_entry.body, held_entry.nonce
        if held_entry.opened_case and case.received_by is None:  # their report, proven
            case = replace(case, received_by=staff.email)  # nothing to acknowledge by mail
            audit.append(AuditEntry("received", f"report entered by staff ({staff.email}),"
                                                " confirmed with #confirm"))
    note = body or None
    if block.errors:
        refused = _refuse_errors(case, msg, staff, block, identity, env, note, audit,
                                 claimed is not None)
        return replace(refused, actor=actor)
    if not commands:
        mails = relay_mails(case, msg, env,
                            sender_role=UNAUTHENTICATED if claimed else "staff member",
                            text=with_attached(body, msg), exclude=staff.email)
        if claimed is not None:
            mails.append(_sent_as_you(case, msg, claimed))
        elif block.ignored:
            # Commands typed where cocmail does not read them: say so, never silence.
            nothing = Applied(case=case)
            mails.append(_transcript(case, msg, staff, nothing, identity,
                                     ignored=block.ignored))
            audit.append(AuditEntry("not run", f"{len(block.ignored)} command line(s) outside"
                                               " the command block"))
        return Decision(case, False, tuple(mails), tuple(audit), "staff", note=note,
                        log=f"case #{case.number}: staff note relayed", actor=actor)
    if not identity.authenticated_for(case.number):
        held = Held(env.nonce(), staff.email, format_block(commands), body)
        mails = [_held_transcript(case, msg, staff, replace(block, commands=commands), held,
                                  identity)]
        mails += relay_mails(case, msg, env, sender_role=UNAUTHENTICATED,
                             text=with_attached(body, msg), exclude=staff.email)
        audit.append(AuditEntry("held", "commands held: " + "; ".join(identity.problems)))
        return Decision(case, False, tuple(mails), tuple(audit), "staff", note=note, held=held,
                        log=f"case #{case.number}: unauthenticated staff commands held",
                        actor=actor)
    answering = tuple(t.nonce for t in identity.tokens
                      if t.staff_sid == staff.sid and t.case == case.number)
    applied = apply_block(case, commands, body, staff, env, proposals, answering)
    new = applied.case if not applied.rejected else case
    mails = list(applied.mails) if not applied.rejected else []
    transcript = _transcript(new, msg, staff, applied, identity, ignored=block.ignored)
    mails.append(transcript)
    mails += relay_mails(new, msg, env, sender_role="staff member", text=with_attached(body, msg),
                         exclude=staff.email,
                         transcript=applied.lines)
    audit += list(applied.audit)
    if applied.rejected:
        audit.append(AuditEntry("refused", applied.reason or ""))
    ok = not applied.rejected
    return Decision(new, False, tuple(mails), tuple(audit), "staff", note=note,
                    confirmed=confirmed, cancel_mail_to=_addresses_recused(case, new, env)
                    + _dsf_withdrawn(case, new, env),
                    proposals=applied.proposals if ok else (),
                    decided=applied.decided if ok else (),
                    log=f"case #{case.number}: {len(commands)} command(s) "
                        + ("refused" if applied.rejected else "applied"))


def _followup(msg: ParsedMessage, case: Case, env: Env, staff: StaffMember | None,
              email: str | None, claimed: StaffMember | None, actor: str | None,
              forged: str | None = None, tokens: tuple[Token, ...] = ()) -> Decision:
    """Mail on a case from outside the team (or from an excluded member): relayed to
    the members who can see the case, after excluding any member it names, saying who
    wrote; a reported person's appeal also to the appeal contact (core/who_wrote.py)."""
    writer = who_wrote(case, env, email, tokens) if staff is None else None
    role = writer.role if writer is not None else role_label(case, email)
    shown = role + (f" (the address may be forged: {forged} at our mail server)"
                    if forged else "")
    audit = [AuditEntry("message", f"from the {shown}")]
    screened = None
    refused = False
    if staff is not None:
        on_case = case.role_of(email) if email else None
        role = EXCLUDED_MEMBER + (f", and the {ROLE_WORDS.get(on_case, on_case)} on it"
                                  if on_case else "") + (" (NOT authenticated)" if claimed else "")
        audit = [AuditEntry("message", f"from the {role}")]
        refused = bool(parse_command_block(msg.text).commands)
        if refused:
            # Never answered: a transcript would tell them what the case hides from them.
            audit.append(AuditEntry("refused", "commands not run: the sender is excluded"
                                               " from this case"))
    else:
        # Lines quoted with ">" are most likely the team's own reply coming back: signed
        # by a member handling the case, they do not exclude that member.
        fresh, earlier = earlier_mail(msg.text)
        screened = screen(case, f"{msg.subject}\n{fresh}\n{msg.attached_text}\n{msg.file_text}",
                          env.roster, skip=frozenset({email}) if email else frozenset(),
                          quoted=earlier, quoted_by=frozenset(case.handlers))
        audit += [AuditEntry(a, d) for a, d in screened.audit("a message on the case")]
    new = screened.case if screened is not None else case
    appeal, withheld = appeal_mail(new, env, msg, sender_label(msg), writer, forged)
    audit += [AuditEntry("appeal", f"passed to {appeal.to.email}")] if appeal else []
    audit += [AuditEntry("appeal", "not passed on: it names someone the case protects")
              ] if withheld else []
    mails = relay_mails(new, msg, env, sender_role=role, text=msg.full_text.strip(), exclude=email,
                        forged=forged, conflict=screened.notice() if screened is not None else None,
                        refused=refused, writer=writer,
                        appeal_to=appeal.to.email if appeal is not None else None,
                        appeal_withheld=withheld)
    mails += [appeal] if appeal is not None else []
    if team_blind(new, env):
        mails += contact_mails(new, env, None, sender=sender_label(msg), subject=msg.subject,
                               text=msg.full_text.strip(), date=env.local(msg.date or env.now),
                               attachments=attachment_lines(msg), followup=True, exclude=email)
    return Decision(new, False, tuple(mails), tuple(audit), "followup",
                    log=f"case #{case.number}: message relayed", actor=actor,
                    cancel_mail_to=_addresses_recused(case, new, env))


def _addresses_recused(old: Case, new: Case, env: Env) -> tuple[str, ...]:
    """All addresses (email and aliases) of members recused by this mail: mail queued
    for them about the case is cancelled with the recusal, in the same transaction."""
    out: list[str] = []
    for email in new.recused:
        if email in old.recused:
            continue
        member = env.roster.by_email(email)
        out += [email] if member is None else [member.email, *member.aliases]
    return tuple(dict.fromkeys(a.lower() for a in out))


def _dsf_withdrawn(old: Case, new: Case, env: Env) -> tuple[str, ...]:
    """The DSF address when this mail withdrew a DSF report still held back (the reporter
    became anonymous after it was queued: it names them); its queued mail is cancelled."""
    if old.step("dsf_reported") and old.dsf_hold_until and new.step("dsf_reported") is None:
        return (env.dsf.lower(),)
    return ()


def _refuse_errors(case: Case, msg: ParsedMessage, staff: StaffMember, block: CommandBlock,
                   identity: Identity, env: Env, note: str | None,
                   audit: list[AuditEntry], unauthenticated: bool) -> Decision:
    """Unknown commands refuse the whole block, and the transcript says which line."""
    errors = {e.line: e for e in block.errors}
    lines = []
    for line_no, raw in sorted([(c.line, c.raw) for c in block.commands]
                               + [(e.line, e.raw) for e in block.errors]):
        result = errors[line_no].reason if line_no in errors else "not run: the mail was refused"
        lines.append(LineResult(line=line_no, raw=raw, ok=False, result=result))
    first = min(errors)
    reason = f"line {first}: {errors[first].reason}"
    ctx = TranscriptContext(
        recipient_name=staff.name, lines=[x.as_dict() for x in lines],
        rejected=True, reason=reason, ignored=ignored_lines(block.ignored),
        missing_steps=[STEP_LABELS[m] for m in case.missing_steps()],
        note_recorded=bool(note))
    mails = [OutMail(to=staff.address, role=staff_role(staff.sid), case=case.number, context=ctx,
                     in_reply_to=msg.message_id, references=case_refs(case) + _own(msg),
                     subject="Commands refused")]
    mails += relay_mails(case, msg, env, text=with_attached(note or "", msg), exclude=staff.email,
                         sender_role=UNAUTHENTICATED if unauthenticated else "staff member",
                         transcript=tuple(lines))
    if unauthenticated:
        mails.append(_sent_as_you(case, msg, staff))
    audit = audit + [AuditEntry("refused", reason)]
    return Decision(case, False, tuple(mails), tuple(audit), "staff", note=note,
                    log=f"case #{case.number}: command block refused")


def unmatched_automatic(msg: ParsedMessage, screening: Screening) -> Decision:
    """Bounces and our own mail that match no case: recorded, never answered."""
    return Decision(None, False, (), (AuditEntry("ignored", screening.reason or "automatic"),),
                    "auto", state="ignored", log=f"ignored: {screening.reason}")


def unmatched_machine(msg: ParsedMessage, screening: Screening) -> Decision:
    """Machine mail that matches no case (a newsletter, a read receipt, a spam complaint,
    an out-of-office reply): kept aside with its reason, counted in the digest and listed
    by `cocmail inbound list --machine`; no case, no acknowledgement, no staff mail."""
    reason = screening.reason or "machine mail"
    return Decision(None, False, (), (AuditEntry("machine mail", reason),), "auto",
                    state="machine", error=reason, log=f"machine mail: {reason}")

