"""Talking within the case: an internal note, and a reply to the reporter.

Pure. The text below the commands is the note or the reply; what it copies of
cocmail's own mail to staff is taken out before it leaves the team (outgoing_text).
"""

from __future__ import annotations

from ..effects import AuditEntry
from ..vocabulary import Recipient
from ..workflow import Refused, _outgoing, _reporter_mail_gate, mail_reporter_reply
from .values import Command
from .work import MailCommand, Value, _mail, _Work


def do_note(w: _Work, cmd: Command) -> str:
    w.audit.append(AuditEntry("note", cmd.value.strip()))
    return "note recorded"


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


COMMANDS = (
    MailCommand(name="note", syntax="#note ...",
                help="add an internal note (your text below the commands is kept too)",
                handler=do_note, place=140, value=Value.TEXT, on_closed_case=True),
    MailCommand(name="reply", syntax="#reply",
                help="mail your text below the commands to the reporter", handler=do_reply,
                place=260, mails_to=frozenset({Recipient.REPORTER.value})),
)
