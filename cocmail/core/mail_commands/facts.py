"""What happened and what was decided: the case's facts, the decision and its outcome.

Pure. These are what mail about the case is written from (proposals.case_facts), so a
change to any of them makes a proposed mail stale. #clear empties one; the decision and
the response cannot be cleared once someone was told them: the record of what they read
stays, and #action / #response correct it instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from ..case import Case
from ..identity_guard import check_text, near_note, near_notes, refusal
from ..public_text import identifying_words
from ..sanctions import ENDING_OUTCOMES, UntilError, first_day_after, parse_date, split_until
from ..vocabulary import Step
from ..workflow import Refused, _same
from .values import Command, CommandValueError, normalise_outcome
from .work import Handler, MailCommand, Value, _person, _set, _Work


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
    return f"outcome set to {outcome}" + _drop_until(w)


def _drop_until(w: _Work) -> str:
    """An outcome that is no longer a suspension or a ban has no end: the end dates set
    with #until go, so no attendee check says "banned until" of a warning."""
    dated = sorted({p.until.isoformat() for p in w.case.accused if p.until is not None})
    if w.case.outcome in ENDING_OUTCOMES or not dated:
        return ""
    _set(w, accused=tuple(replace(p, until=None) for p in w.case.accused))
    return f". The end date set with #until ({', '.join(dated)}) no longer applies: removed"


def do_until(w: _Work, cmd: Command) -> str:
    """The day a suspension or ban ends, for every reported person or the one named
    after the date. Whether the outcome is a suspension or a ban is checked once the
    whole mail has ran (`until_refusal`): staff write `#until` before `#outcome` too."""
    typed, who = split_until(cmd.value.strip())
    until = None if typed.lower() == "none" else _until_date(w, typed)
    if not w.case.accused:
        raise Refused("#until needs a reported person on the case (#accused first)")
    targets = w.case.accused
    if who:
        named = _person(who, "accused")
        targets = tuple(p for p in w.case.accused if _same(named, p))
        if not targets:
            raise Refused(f"no reported person on the case is {named.display()} (the case "
                          "names: " + ", ".join(p.display() for p in w.case.accused) + ")")
    _set(w, accused=tuple(replace(p, until=until) if p in targets else p
                          for p in w.case.accused))
    people = ", ".join(p.display() for p in targets)
    if until is None:
        return f"no end date: the sanction of {people} does not end"
    return (f"the sanction of {people} ends on {until.isoformat()} (from that day on it no "
            "longer applies; the team is reminded then)")


def _until_date(w: _Work, typed: str) -> date:
    """The end date typed, from tomorrow (in the event's zone) on."""
    try:
        until = parse_date(typed)
    except UntilError as e:
        raise Refused(str(e)) from None
    earliest = first_day_after(w.env.now, w.env)
    if until < earliest:
        when = "today" if until == earliest - timedelta(days=1) else "in the past"
        raise Refused(f"{until.isoformat()} is {when}: a sanction that ends then has "
                      f"already ended; give a day from {earliest.isoformat()} on")
    return until


def until_refusal(case: Case) -> str | None:
    """Why the end dates of the case as a whole mail left it cannot stand, or None."""
    if case.outcome in ENDING_OUTCOMES:
        return None
    return ("#until is for a suspension or a ban; the outcome is "
            + (case.outcome or "not set") + " (write #outcome suspension or #outcome ban "
            "in the same mail, before or after #until)")


# What #clear empties: the word staff type -> (the Case attribute, the transcript's word).
CLEARABLE = {"when": ("when", "when"), "where": ("where", "where"),
             "summary": ("summary", "summary"), "others": ("others", "others aware"),
             "action": ("action", "decision"), "response": ("response", "response"),
             "outcome": ("outcome", "outcome"),
             "public-summary": ("public_summary", "public summary")}
# A text someone outside the team was told, and the steps that record that they were.
_TOLD = {"action": ((Step.HARASSER_INFORMED, "the reported person"),
                    (Step.VICTIM_INFORMED, "the person affected")),
         "response": ((Step.HARASSER_INFORMED, "the reported person"),)}


def do_clear(w: _Work, cmd: Command) -> str:
    key = cmd.value.strip().lower().replace("_", "-")
    if key not in CLEARABLE:
        raise Refused(f"#clear needs one of: {', '.join(CLEARABLE)}")
    attr, word = CLEARABLE[key]
    for step, who in _TOLD.get(key, ()):
        at = w.case.step(step)
        if at is not None:
            raise Refused(f"{who} was told the {word} on {w.env.local(at)}: it stays on "
                          f"record; to change it, send #{key} with the new text")
    if getattr(w.case, attr) is None:
        return f"{word} was not set"
    _set(w, **{attr: None})
    if key == "outcome":
        return f"{word} cleared" + _drop_until(w)
    if key == "action":
        w.case = w.case.with_step(Step.DECISION, None)
        return "decision cleared: no decision is recorded now"
    return f"{word} cleared"


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
    MailCommand(name="clear", syntax="#clear " + "|".join(CLEARABLE),
                help="empty a fact of the case", handler=do_clear, place=95,
                value=Value.CHOICE),
    MailCommand(name="action", syntax="#action ...", help="the decision: what is done",
                handler=do_action, place=170, value=Value.TEXT),
    MailCommand(name="response", syntax="#response ...",
                help="what the reported person reads (default: the #action text); names no one",
                handler=do_response, place=180, value=Value.TEXT),
    MailCommand(name="outcome", syntax="#outcome <category>",
                help="outcome for statistics, e.g. warning, no-action, ban",
                handler=do_outcome, place=190, value=Value.OUTCOME),
    MailCommand(name="until", syntax="#until YYYY-MM-DD [Name]",
                help="the day a suspension or ban ends (all reported people, or the one named)",
                handler=do_until, place=195, value=Value.TEXT),
)
