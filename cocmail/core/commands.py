"""Staff commands in a reply: the `#command value` block at the top, and its values.

Pure parsing only; what a command does lives in its declaration in core/mail_commands/
(the registry), whose names and spellings this parser reads. The parser is strict about
where a block is (the top of the newest text, ending at the first line that is not a
command) so that commands quoted from an earlier mail can never run again, and lenient
about spelling (case, `_` for `-`, `#when: …`) because staff type on phones. A name it
does not know is reported, with the closest known name, instead of being skipped: the
whole block is then refused, so `#notifed-victim` can never fail silently.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .mail_commands.registry import KNOWN_COMMANDS, PREVIEW_TARGETS, SPELLINGS
from .mail_commands.values import (
    _SHOWN_NAME_MAX,
    MAX_ADDRESS_CHARS,
    OUTCOMES,
    Command,
    CommandValueError,
    normalise_outcome,
    parse_person,
)
from .replytext import reply_parts, split_lines

# The values moved to mail_commands/values.py; callers keep importing them from here.
__all__ = ["KNOWN_COMMANDS", "MAX_ADDRESS_CHARS", "OUTCOMES", "PREVIEW_TARGETS", "Command",
           "CommandBlock", "CommandError", "CommandValueError", "IgnoredLine",
           "canonical_name", "format_block", "normalise_outcome", "parse_command_block",
           "parse_line", "parse_person"]

# `#` then a name: anything up to white space or ':' (so "#close." is reported as a
# misspelt "#close", not silently taken as something else).
_COMMAND = re.compile(r"#([^\s:]+)")
# Invisible characters HTML mail leaves at the start of a line.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"


@dataclass(frozen=True, kw_only=True)
class CommandError:
    """A line of the block that is not a known command, and why."""

    line: int
    raw: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class IgnoredLine:
    """A line that looks like a command but was not run, and why: the sender is told."""

    line: int
    raw: str
    reason: str


@dataclass(frozen=True, kw_only=True)
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
    """`#Notify_Victim` and `#notify-victim` are the same command ; a command's other
    declared spellings are then looked up in the registry's SPELLINGS)."""
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
    close = difflib.get_close_matches(name[:_SHOWN_NAME_MAX], list(SPELLINGS), n=1)
    if close:
        return f"unknown command #{shown}; did you mean #{close[0]}?"
    return f"unknown command #{shown}; reply with #help for the list of commands"


def parse_line(stripped: str, line_no: int) -> Command | CommandError:
    """One command line (already known to start with `#` and a letter)."""
    match = _COMMAND.match(stripped)
    assert match is not None  # a '#' followed by a letter always matches
    typed = canonical_name(match.group(1))
    name = SPELLINGS.get(typed)
    if name is None:
        return CommandError(line=line_no, raw=stripped, reason=_unknown(typed))
    return Command(name=name, value=_value(stripped[match.end():]), line=line_no, raw=stripped)


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
    tail = [IgnoredLine(line=run.first_line + k, raw=stripped, reason=IGNORED_BELOW_QUOTE)
            for run in below for k, line in enumerate(run.lines)
            if (stripped := _command_line(line))]
    if not runs:
        return CommandBlock(commands=(), body="", errors=(), ignored=tuple(tail))
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
    ignored = [IgnoredLine(line=first.first_line + k, raw=stripped, reason=IGNORED_BELOW_BLOCK)
               for k in range(i, len(lines)) if (stripped := _command_line(lines[k]))]
    for run in runs[1:]:
        ignored += [IgnoredLine(line=run.first_line + k, raw=stripped, reason=IGNORED_LATER_PART)
                    for k, line in enumerate(run.lines) if (stripped := _command_line(line))]
    ignored += tail
    parts = ["\n".join(lines[i:]).strip(), *(run.text.strip() for run in runs[1:])]
    body = "\n\n".join(p for p in parts if p)
    return CommandBlock(commands=tuple(commands), body=body, errors=tuple(errors),
                        ignored=tuple(ignored))


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
