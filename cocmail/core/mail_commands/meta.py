"""Commands about the block itself: #help, #confirm and #end.

Pure. #help mails the reference the registry builds (`_Work.reference`); #confirm is
handled before a block runs (core/intake.py) and is refused anywhere else; #end ends the
block in the parser and never reaches a handler there.
"""

from __future__ import annotations

from ..effects import OutMail
from ..mail_contexts import HelpContext
from ..vocabulary import staff_role
from ..workflow import Refused
from .values import Command
from .work import STAFF, MailCommand, _Work


def do_help(w: _Work, cmd: Command) -> str:
    w.mails.append(OutMail(to=w.actor.address, role=staff_role(w.actor.sid),
                           case=w.case.number, context=HelpContext(commands=list(w.reference))))
    return "command reference sent to you"


def do_confirm(w: _Work, cmd: Command) -> str:
    raise Refused("#confirm only works as the only command in a reply to a transcript "
                  "that holds commands")


def do_end(w: _Work, cmd: Command) -> str:
    return "end of commands"


COMMANDS = (
    MailCommand(name="confirm", syntax="#confirm",
                help="run commands that were held because your mail was not verified",
                handler=do_confirm, place=330),
    MailCommand(name="help", syntax="#help", help="mail yourself this list", handler=do_help,
                place=340, on_closed_case=True, mails_to=frozenset({STAFF})),
    MailCommand(name="end", syntax="#end",
                help="end of the commands; what follows is your message", handler=do_end,
                place=350),
)
