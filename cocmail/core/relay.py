"""Relaying a message on a case to the team: who wrote, its subject, its files.

Split from core/intake.py, which decides what a message does; this module writes the
relay that tells the other members about it (docs/mail.md, "What each party receives").
"""


from typing import Any

from .case import Case
from .effects import (
    AUTO_NOTICE_SUBJECT,
    RELAY_SUBJECTS,
    OutMail,
)
from .env import Env
from .evidence import describe
from .mail_contexts import StaffRelayContext
from .model import Address, ParsedMessage
from .vocabulary import Party
from .who_wrote import Writer, relay_context
from .workflow import LineResult, shown_to


def sender_label(msg: ParsedMessage) -> str:
    s = msg.sender
    if s is not None:
        return s.display()
    # No address at all: what the From says is still worth showing ("Anonymous attendee").
    return (", ".join(a.display() for a in msg.from_) or (msg.first("from") or "")[:200]
            or (f"(no From) Sender: {msg.first('sender')[:200]}" if msg.first("sender") else "")
            or "(no sender)")


def attachment_lines(msg: ParsedMessage) -> tuple[str, ...]:
    return tuple(describe(name, ctype, size) for name, ctype, size in msg.attachments)


def has_files(msg: ParsedMessage) -> bool:
    """Might staff mail about `msg` carry files (core/evidence.py)? Only then is the raw
    mail read again for them."""
    return bool(msg.attachments or msg.attached_text)


def case_refs(case: Case) -> tuple[str, ...]:
    return (case.root_message_id,) if case.root_message_id else ()


def relay_mails(case: Case, msg: ParsedMessage, env: Env, *, sender_role: str, text: str,
                exclude: str | None, automatic: str | None = None,
                transcript: tuple[LineResult, ...] = (),
                recipients: list[tuple[Address, str]] | None = None,
                forged: str | None = None,
                conflict: dict[str, Any] | None = None, refused: bool = False,
                writer: Writer | None = None, appeal_to: str | None = None,
                appeal_withheld: str = "") -> list[OutMail]:
    """`refused`: the mail's commands were not run (an excluded member's); `writer`: who
    wrote from outside the team (core/who_wrote.py); `appeal_to`: the appeal contact the
    mail also went to."""
    mails = []
    if recipients is None:
        recipients = env.staff_recipients(case.recused, exclude=exclude)
    for address, role in recipients:
        lines = [line.as_dict(shown_to(address.email)) for line in transcript]
        ctx = StaffRelayContext(
            recipient_name=address.name, sender=sender_label(msg),
            sender_role=sender_role, subject=msg.subject, text=text,
            automatic_reason=automatic, transcript=lines, forged=forged,
            conflict=conflict, refused=refused, **relay_context(writer, appeal_to, appeal_withheld),
            attachments=list(attachment_lines(msg)))
        mails.append(OutMail(to=address, role=role, case=case.number, context=ctx,
                             references=case_refs(case),
                             subject=AUTO_NOTICE_SUBJECT if automatic
                             else relay_subject(sender_role, bool(transcript), writer),
                             carries_files=automatic is None and has_files(msg)))
    return mails


def relay_subject(sender_role: str, commands: bool, writer: Writer | None = None) -> str:
    """What arrived, by who wrote it (effects.RELAY_SUBJECTS): "The reporter wrote
    again", "A colleague's commands"; never a name."""
    if writer is not None and writer.appeal:
        return RELAY_SUBJECTS["reported person (after the response)"]
    if sender_role == "staff member" and commands:
        return RELAY_SUBJECTS["staff member commands"]
    if sender_role in RELAY_SUBJECTS:
        return RELAY_SUBJECTS[sender_role]
    for start in ("team member excluded", "someone"):
        if sender_role.startswith(start):
            return RELAY_SUBJECTS[start]
    # A party named with a note ("reported person (the address may be forged: ...)").
    return next((RELAY_SUBJECTS[k] for k in ("reporter", "person affected", "reported person",
                                             "witness") if sender_role.startswith(k)),
                RELAY_SUBJECTS["someone"])




def with_attached(own: str, msg: ParsedMessage) -> str:
    """`own` (a staff member's body) and, below it, what they attached or forwarded.

    For staff to read only: the note, `#reply` and the DSF narrative stay `own`, so an
    attached mail's words never go out under the team's name.
    """
    if not msg.attached_text:
        return own
    return f"{own.rstrip()}\n\n{msg.attached_text}".lstrip("\n")


# Roles as the mails name them: person-first words (issue 14, part 4).
ROLE_WORDS: dict[Party, str] = {Party.REPORTER: "reporter", Party.VICTIM: "person affected",
                                Party.ACCUSED: "reported person", Party.WITNESS: "witness"}


def role_label(case: Case, email: str | None) -> str:
    role = case.role_of(email) if email else None
    return ROLE_WORDS.get(role, role) if role else "someone not yet on the case"


UNAUTHENTICATED = "staff member (NOT authenticated)"
EXCLUDED_MEMBER = "team member excluded from this case"  # staff_relay.txt knows this start
