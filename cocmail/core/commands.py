"""Staff commands in a reply: the `#command value` block at the top, and its values.

Pure parsing only; what a command does lives in `workflow`. The parser is strict about
where a block is (the top of the newest text, ending at the first line that is not a
command) so that commands quoted from an earlier mail can never run again, and lenient
about spelling (case, `_` for `-`, `#when: …`) because staff type on phones. A name it
does not know is reported, with the closest known name, instead of being skipped: the
whole block is then refused, so `#notifed-victim` can never fail silently.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .addresses import is_address
from .errors import UserError
from .replytext import reply_parts, split_lines

OUTCOMES: tuple[str, ...] = (
    "not-a-violation",
    "out-of-scope",
    "no-action",
    "warning",
    "no-contact",
    "talk-ended",
    "removed-from-event",
    "suspension",
    "ban",
    "other",
)

PREVIEW_TARGETS: tuple[str, ...] = ("accused", "harasser", "victim", "dsf", "reply")

# canonical name -> (syntax, one-line help). The order is the order of `#help`, which
# follows a case from the report to its end. The first word of each syntax is the command.
KNOWN_COMMANDS: dict[str, tuple[str, str]] = {
    "reporter": ("#reporter Name <addr> | anonymous", "who made the report"),
    "victim": ("#victim Name <addr> | reporter",
               "set the person affected (by default, the reporter)"),
    "accused": ("#accused Name <addr>", "add a reported person (or just a name)"),
    "witness": ("#witness Name <addr>", "add a witness"),
    "when": ("#when ...", "when it happened"),
    "where": ("#where ...", "where it happened"),
    "summary": ("#summary ...", "what happened, in a few words"),
    "others": ("#others ...", "who else knows about the incident"),
    "public-summary": ("#public-summary ...",
                       "one line for the public transparency report, naming no one"),
    "handler": ("#handler <staff addr>", "add a team member who handles the case"),
    "recuse": ("#recuse <staff addr>", "keep a team member out of this case (conflict)"),
    "include": ("#include <staff addr>",
                "bring back a member the case excluded (another member approves)"),
    "urgent": ("#urgent", "someone may be unsafe: mark the case urgent and alert all staff again"),
    "note": ("#note ...", "add an internal note (your text below the commands is kept too)"),
    "notify-accused": ("#notify-accused",
                       "mail the reported person that there is a complaint about them"),
    "notified-accused": ("#notified-accused [their side]",
                         "you told the reported person in person"),
    "action": ("#action ...", "the decision: what is done"),
    "response": ("#response ...",
                 "what the reported person reads (default: the #action text); names no one"),
    "outcome": ("#outcome <category>", "outcome for statistics, e.g. warning, no-action, ban"),
    "notify-harasser": ("#notify-harasser", "mail the response to the reported person"),
    "notified-harasser": ("#notified-harasser", "you told them the response in person"),
    "notify-victim": ("#notify-victim", "mail the decision to the person affected"),
    "notified-victim": ("#notified-victim",
                        "you told the person affected the decision in person"),
    "report-dsf": ("#report-dsf [now]", "report to the DSF (sent after the event unless 'now')"),
    "reported-dsf": ("#reported-dsf", "you sent the DSF report yourself"),
    "reply": ("#reply", "mail your text below the commands to the reporter"),
    "preview": ("#preview " + "|".join(PREVIEW_TARGETS),
                "mail yourself what would go out; nothing is sent"),
    "status": ("#status", "mail yourself the case's row and the steps still open"),
    "close": ("#close", "close the case (any steps not done are listed)"),
    "reopen": ("#reopen", "open a closed case again"),
    "approve": ("#approve", "send what another team member proposed (reply to its mail)"),
    "reject": ("#reject [reason]", "drop what another team member proposed; they are told"),
    "confirm": ("#confirm", "run commands that were held because your mail was not verified"),
    "help": ("#help", "mail yourself this list"),
    "end": ("#end", "end of the commands; what follows is your message"),
}

# `#` then a name: anything up to white space or ':' (so "#close." is reported as a
# misspelt "#close", not silently taken as something else).
_COMMAND = re.compile(r"#([^\s:]+)")
# Invisible characters HTML mail leaves at the start of a line.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
# Characters of a mistyped command name or outcome quoted back in a transcript: enough to
# recognise it, and a pasted paragraph is not echoed in full.
_SHOWN_NAME_MAX = 40
# Characters of an unreadable address or person quoted back the same way.
_SHOWN_VALUE_MAX = 80


class CommandValueError(ValueError, UserError):
    """A command's value is unusable; `reason` (also `str(e)`) is shown to the staff member."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Command:
    """One known command. `name` is canonical; `line` is 1-based in the parsed text."""

    name: str
    value: str
    line: int
    raw: str


@dataclass(frozen=True)
class CommandError:
    """A line of the block that is not a known command, and why."""

    line: int
    raw: str
    reason: str


@dataclass(frozen=True)
class IgnoredLine:
    """A line that looks like a command but was not run, and why: the sender is told."""

    line: int
    raw: str
    reason: str


@dataclass(frozen=True)
class CommandBlock:
    """The commands at the top of a reply, the reply's body, and any bad lines."""

    commands: tuple[Command, ...]
    body: str
    errors: tuple[CommandError, ...]
    ignored: tuple[IgnoredLine, ...] = ()


IGNORED_BELOW_BLOCK = ("below the command block: a block ends at the first line that is "
                       "not a command (a blank line, text); put all commands together at "
                       "the top of your text")
IGNORED_BELOW_QUOTE = ("below the quoted mail, after the text you wrote above it: commands "
                       "are read only from the top of your own text")
IGNORED_LATER_PART = ("in a later part of your reply: commands are read only from the "
                      "first part you wrote, before or after the quoted mail")


# ------------------------------------------------------------------ the block
def canonical_name(name: str) -> str:
    """`#Notify_Victim` and `#notify-victim` are the same command."""
    return name.lower().replace("_", "-")


def _clean(line: str) -> str:
    """The line without surrounding white space and the invisible marks HTML mail adds."""
    return line.strip().lstrip(_INVISIBLE).strip()


def _command_line(line: str) -> str | None:
    """The cleaned line if it is a command line (`#` followed by a letter), else None."""
    stripped = _clean(line)
    if len(stripped) >= 2 and stripped[0] == "#" and stripped[1].isalpha():
        return stripped
    return None


def _value(rest: str) -> str:
    """The value after the name; `#when: Friday` means the same as `#when Friday`.

    Only a colon right after the name is a separator, so `#note :-) fine` keeps its smile.
    """
    if rest.startswith(":"):
        rest = rest[1:]
    return rest.strip()


def _unknown(name: str) -> str:
    shown = name if len(name) <= _SHOWN_NAME_MAX else name[:_SHOWN_NAME_MAX] + "..."
    close = difflib.get_close_matches(name[:_SHOWN_NAME_MAX], list(KNOWN_COMMANDS), n=1)
    if close:
        return f"unknown command #{shown}; did you mean #{close[0]}?"
    return f"unknown command #{shown}; reply with #help for the list of commands"


def parse_line(stripped: str, line_no: int) -> Command | CommandError:
    """One command line (already known to start with `#` and a letter)."""
    match = _COMMAND.match(stripped)
    assert match is not None  # a '#' followed by a letter always matches
    name = canonical_name(match.group(1))
    if name not in KNOWN_COMMANDS:
        return CommandError(line_no, stripped, _unknown(name))
    return Command(name, _value(stripped[match.end():]), line_no, stripped)


def parse_command_block(text: str) -> CommandBlock:
    """Split a staff mail's plain text into its command block and its body.

    The sender's own text is found wherever the client put it (replytext.reply_parts:
    above the quote, below it, or between quoted blocks). The block is the run of
    command lines at the top of the first part the sender wrote; it ends at the first
    other line, or after `#end`, which is not returned as a command. `body` is all of
    the sender's own text below the block, without quotes, attribution and signature.
    Command lines elsewhere in the sender's text are not run, and are listed in
    `ignored` so that the sender hears of them. Line numbers count in `text`.
    """
    runs, below = reply_parts(text)
    tail = [IgnoredLine(run.first_line + k, stripped, IGNORED_BELOW_QUOTE)
            for run in below for k, line in enumerate(run.lines)
            if (stripped := _command_line(line))]
    if not runs:
        return CommandBlock((), "", (), tuple(tail))
    first = runs[0]
    lines = list(first.lines)
    i = 0
    commands: list[Command] = []
    errors: list[CommandError] = []
    while i < len(lines):
        stripped = _command_line(lines[i])
        if stripped is None:
            break
        i += 1
        parsed = parse_line(stripped, first.first_line + i - 1)
        if isinstance(parsed, CommandError):
            errors.append(parsed)
        elif parsed.name == "end":
            break
        else:
            commands.append(parsed)
    ignored = [IgnoredLine(first.first_line + k, stripped, IGNORED_BELOW_BLOCK)
               for k in range(i, len(lines)) if (stripped := _command_line(lines[k]))]
    for run in runs[1:]:
        ignored += [IgnoredLine(run.first_line + k, stripped, IGNORED_LATER_PART)
                    for k, line in enumerate(run.lines) if (stripped := _command_line(line))]
    ignored += tail
    parts = ["\n".join(lines[i:]).strip(), *(run.text.strip() for run in runs[1:])]
    body = "\n\n".join(p for p in parts if p)
    return CommandBlock(tuple(commands), body, tuple(errors), tuple(ignored))


def format_block(commands: Iterable[Command]) -> str:
    """The commands as a block that `parse_command_block` reads back to the same commands.

    Used to hold commands until `#confirm`. Only names and values are written (values
    stripped); lines are numbered from 1 again when read back, and `raw` is the line written.
    """
    out = []
    for cmd in commands:
        if cmd.name not in KNOWN_COMMANDS or cmd.name == "end":
            raise ValueError(f"not a command that can be written in a block: {cmd.name!r}")
        value = cmd.value.strip()
        if len(split_lines(value)) > 1:
            raise ValueError(f"a command value must be one line: #{cmd.name}")
        out.append(f"#{cmd.name} {value}" if value else f"#{cmd.name}")
    return "\n".join(out)


# ------------------------------------------------------------------ values
# Something meant as an address (text on both sides of '@'), unlike a handle "@jane".
_ADDRESS_LIKE = re.compile(r"\w@\w")
# RFC 5321 4.5.3.1.3: a path is at most 256 octets with its angle brackets, so an address
# longer than 254 can never be delivered to.
MAX_ADDRESS_CHARS = 254
_BRACKETED = re.compile(r"(?P<name>[^<>]*)<(?P<addr>[^<>]*)>")


def _reject_control(value: str) -> None:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            raise CommandValueError(
                "the value contains a line break or control character; put it on one line")


def _check_address(addr: str) -> str:
    local = addr.rpartition("@")[0]
    bad_dots = local.startswith(".") or local.endswith(".") or ".." in local
    if len(addr) > MAX_ADDRESS_CHARS or bad_dots or not is_address(addr):
        raise CommandValueError(
            f"'{addr[:_SHOWN_VALUE_MAX]}' is not an email address; write Name <name@example.org>")
    return addr


def _unquote_name(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\").strip()
    return " ".join(name.split())


def parse_person(value: str) -> tuple[str, str | None]:
    """`Name <addr>`, `"Name" <addr>`, `addr`, `Name addr` or just `Name` -> (name, addr).

    The name is "" when only an address is given; the address is None when only a name
    is. Raises CommandValueError for an empty value, a malformed address, stray angle
    brackets, or a line break or control character (names end up in mail headers).
    """
    _reject_control(value)
    value = value.strip()
    if not value:
        raise CommandValueError("a name or an address is needed: Name <name@example.org>")
    bracketed = _BRACKETED.fullmatch(value)
    if bracketed:
        return _unquote_name(bracketed["name"]), _check_address(bracketed["addr"].strip())
    if "<" in value or ">" in value:
        raise CommandValueError(
            f"cannot read '{value[:_SHOWN_VALUE_MAX]}'; write Name <name@example.org>")
    words = value.split()
    if "@" in words[-1]:
        addr = _check_address(words[-1])
        return _unquote_name(" ".join(words[:-1])), addr
    if any(_ADDRESS_LIKE.search(w) for w in words):
        raise CommandValueError(
            f"cannot read '{value[:_SHOWN_VALUE_MAX]}'; write Name <name@example.org>")
    return _unquote_name(value), None


def normalise_outcome(value: str) -> str:
    """`Not a violation`, `not_a_violation` … -> `not-a-violation`; else CommandValueError."""
    key = "-".join(value.strip().lower().replace("_", " ").replace("-", " ").split())
    if key in OUTCOMES:
        return key
    shown = value.strip()[:_SHOWN_NAME_MAX]
    close = difflib.get_close_matches(key[:_SHOWN_NAME_MAX], OUTCOMES, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise CommandValueError(
        f"unknown outcome '{shown}'{hint}; use one of: {', '.join(OUTCOMES)}")
