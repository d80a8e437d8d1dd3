"""#preview: mail yourself exactly what would go out, and send nothing.

Pure. The mail is built by core/workflow.preview_mail, through the same gates and the
same identity guard as the real command, so a preview that works means the command will.
"""

from __future__ import annotations

from ..effects import OutMail
from ..mail_contexts import PreviewContext
from ..replies import reply_to
from ..vocabulary import staff_role
from ..workflow import Refused, _guard, _near, _outgoing, preview_mail
from .values import Command
from .work import STAFF, MailCommand, Value, _Work

PREVIEW_TARGETS: tuple[str, ...] = ("accused", "harasser", "victim", "dsf", "reply")


def do_preview(w: _Work, cmd: Command) -> str:
    target, _, whom = cmd.value.strip().partition(" ")
    target = target.lower()
    if target not in PREVIEW_TARGETS:
        raise Refused(f"#preview needs one of: {', '.join(PREVIEW_TARGETS)}")
    if target == "reply":  # `#preview reply accused Dan`: as `#reply accused Dan` would
        body = _outgoing(w.body, w.case, w.env).strip() or "(your text below the commands)"
        reply = reply_to(w.case, w.env, whom, body)
        mail, label = reply.mail, reply.short
        if reply.party == "accused":
            _guard(w.case, [mail])
    else:
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
    MailCommand(name="preview", syntax="#preview " + "|".join(PREVIEW_TARGETS) + " [party]",
                help="mail yourself what would go out; nothing is sent", handler=do_preview,
                place=270, value=Value.CHOICE, on_closed_case=True,
                mails_to=frozenset({STAFF})),
)
