"""What happened and what was decided: the case's facts, the decision and its outcome.

Pure. These are what mail about the case is written from (proposals.case_facts), so a
change to any of them makes a proposed mail stale. #clear empties one; the decision and
the response cannot be cleared once someone was told them: the record of what they read
stays, and #action / #response correct it instead.
"""

from __future__ import annotations

from ..identity_guard import check_text, near_note, near_notes, refusal
from ..public_text import identifying_words
from ..vocabulary import Step
from ..workflow import Refused
from .values import Command, CommandValueError, normalise_outcome
from .work import Handler, MailCommand, Value, _set, _Work


def _field(name: str, attr: str) -> Handler:
    def handler(w: _Work, cmd: Command) -> str:
        value = cmd.value.strip()
        _set(w, **{attr: value})
        return f"{name} set"

    return handler


def do_public_summary(w: _Work, cmd: Command) -> str:
    value = cmd.value.strip()
    named = identifying_words(value, w.case)
    if named:
        raise Refused("a public summary must not name anyone on the case; it contains "
                      + ", ".join(f"'{word}'" for word in named))
    _set(w, public_summary=value)
    return "public summary set (for the transparency report)"


def do_response(w: _Work, cmd: Command) -> str:
    value = cmd.value.strip()
    verdict = check_text(value, w.case)
    if verdict.hits:
        raise Refused(f"{refusal(verdict, 'the response')}; write it without them")
    _set(w, response=value)
    return ("response set: the reported person gets it instead of the #action text"
            + near_note(near_notes(verdict)))


def do_action(w: _Work, cmd: Command) -> str:
    _set(w, action=cmd.value.strip())
    w.case = w.case.with_step(Step.DECISION, w.env.now)
    return "decision recorded"


def do_outcome(w: _Work, cmd: Command) -> str:
    try:
        outcome = normalise_outcome(cmd.value.strip())
    except CommandValueError as e:
        raise Refused(str(e)) from None
    _set(w, outcome=outcome)
    return f"outcome set to {outcome}"


COMMANDS = (
    MailCommand(name="when", syntax="#when ...", help="when it happened",
                handler=_field("when", "when"), place=50, value=Value.TEXT),
    MailCommand(name="where", syntax="#where ...", help="where it happened",
                handler=_field("where", "where"), place=60, value=Value.TEXT),
    MailCommand(name="summary", syntax="#summary ...", help="what happened, in a few words",
                handler=_field("summary", "summary"), place=70, value=Value.TEXT),
    MailCommand(name="others", syntax="#others ...",
                help="who else knows about the incident",
                handler=_field("others aware", "others"), place=80, value=Value.TEXT),
    MailCommand(name="public-summary", syntax="#public-summary ...",
                help="one line for the public transparency report, naming no one",
                handler=do_public_summary, place=90, value=Value.TEXT),
    MailCommand(name="action", syntax="#action ...", help="the decision: what is done",
                handler=do_action, place=170, value=Value.TEXT),
    MailCommand(name="response", syntax="#response ...",
                help="what the reported person reads (default: the #action text); names no one",
                handler=do_response, place=180, value=Value.TEXT),
    MailCommand(name="outcome", syntax="#outcome <category>",
                help="outcome for statistics, e.g. warning, no-action, ban",
                handler=do_outcome, place=190, value=Value.OUTCOME),
)
