"""The values of mail commands: the `Command` line itself, people, addresses, outcomes.

Pure. Kept apart from the block parser (core/commands.py) because the command families
(this package) read these values while the parser reads the families' names: both import
this module, neither imports the other's importer, so there is no import circle.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from ..addresses import is_address
from ..errors import UserError
from ..vocabulary import Outcome

# `#outcome` categories, in the order they are listed to staff.
OUTCOMES: tuple[str, ...] = tuple(Outcome)

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


@dataclass(frozen=True, kw_only=True)
class Command:
    """One known command. `name` is canonical; `line` is 1-based in the parsed text."""

    name: str
    value: str
    line: int
    raw: str



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
