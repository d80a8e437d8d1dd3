"""Talking within the case: an internal note, and a reply to any party of the case.

Pure. The text below the commands is the note or the reply; what it copies of
cocmail's own mail to staff is taken out before it leaves the team (outgoing_text).
Whom `#reply` writes to, and its gates, are core/replies.py; a reply to a reported
person passes the identity guard and waits for a second member like the response.
"""

from __future__ import annotations

from ..effects import AuditEntry
from ..identity_guard import near_note
from ..replies import reply_to
from ..vocabulary import Recipient
from ..workflow import Refused, _guard, _outgoing
from .proposals import _approver_names, _needs_approval, _propose
from .values import Command
from .work import STAFF, MailCommand, Value, _mail, _Work


def do_note(w: _Work, cmd: Command) -> str:
    w.audit.append(AuditEntry("note", cmd.value.strip()))
    return "note recorded"


def do_reply(w: _Work, cmd: Command) -> str:
    reply_to(w.case, w.env, cmd.value, "")  # whom, first: its refusal is the clearer one
    text = _outgoing(w.body, w.case, w.env)
    if not text.strip():
        raise Refused("#reply needs text: write the reply below the commands"
                      + (" (all of it repeats mail cocmail sent to staff)" if w.body.strip()
                         else ""))
    reply = reply_to(w.case, w.env, cmd.value, text.strip())
    if reply.party != "accused":
        _mail(w, reply.mail, reply.label)
        return f"reply sent to {reply.short}"
    near = near_note(_guard(w.case, [reply.mail]))
    if _needs_approval(w, "accused"):
        _propose(w, "accused-reply", (reply.mail,))
        return ("proposed: a reply to the reported person; waiting for another team "
                f"member's #approve ({_approver_names(w)}){near}")
    _mail(w, reply.mail, reply.label)
    return "reply sent to the reported person" + near


COMMANDS = (
    MailCommand(name="note", syntax="#note ...",
                help="add an internal note (your text below the commands is kept too)",
                handler=do_note, place=140, value=Value.TEXT, on_closed_case=True),
    MailCommand(name="reply", syntax="#reply [party]",
                help="mail your text to the reporter; #reply victim|accused|witness|dsf "
                     "to another party",
                handler=do_reply, place=260, value=Value.OPTIONAL,
                mails_to=frozenset({Recipient.REPORTER.value, Recipient.VICTIM.value,
                                    Recipient.ACCUSED.value, Recipient.WITNESS.value,
                                    Recipient.DSF.value, STAFF})),
)
