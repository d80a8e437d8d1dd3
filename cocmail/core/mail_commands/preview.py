"""#preview: mail yourself exactly what would go out, and send nothing.

Pure. The mail is built by core/workflow.preview_mail, through the same gates and the
same identity guard as the real command, so a preview that works means the command will.
"""

from __future__ import annotations

from ..effects import OutMail
from ..mail_contexts import PreviewContext
from ..vocabulary import staff_role
from ..workflow import Refused, _near, preview_mail
from .values import Command
from .work import STAFF, MailCommand, Value, _Work

PREVIEW_TARGETS: tuple[str, ...] = ("accused", "harasser", "victim", "dsf", "reply")


def do_preview(w: _Work, cmd: Command) -> str:
    target = cmd.value.strip().lower()
    if target not in PREVIEW_TARGETS:
        raise Refused(f"#preview needs one of: {', '.join(PREVIEW_TARGETS)}")
    mail = preview_mail(w.case, w.env, target, w.body, w.actor.email)
    label = PREVIEW_LABELS[target]
    near = _near(w.case, [mail])
    w.mails.append(OutMail(to=w.actor.address, role=staff_role(w.actor.sid),
                           case=w.case.number,
                           context=PreviewContext(target=label, inner=mail, near_misses=near)))
    return f"preview of the mail to {label} sent to you; nothing else was sent"


# Who each #preview target is, in the words of the mail (commands keep their names).
PREVIEW_LABELS = {"accused": "the reported person (the complaint notice)",
                  "harasser": "the reported person (the response)",
                  "victim": "the person affected (the decision)",
                  "dsf": "the DSF Code of Conduct committee", "reply": "the reporter"}


COMMANDS = (
    MailCommand(name="preview", syntax="#preview " + "|".join(PREVIEW_TARGETS),
                help="mail yourself what would go out; nothing is sent", handler=do_preview,
                place=270, value=Value.CHOICE, on_closed_case=True,
                mails_to=frozenset({STAFF})),
)
