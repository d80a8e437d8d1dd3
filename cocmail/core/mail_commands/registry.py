"""Every mail command, collected from its family: the one table the rest reads.

Pure. The parser (core/commands.py) reads `SPELLINGS` and `KNOWN_COMMANDS`, `#help` and
the cheat-sheet in staff mail read `command_reference()`, run.py reads `COMMANDS`, and
tests/test_docs.py checks that the README names every command. A declaration that
breaks the table's rules (a name twice, two at one place, a syntax that does not start
with its name) fails at import, so at the first `make test`.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import approval, case_state, conversation, facts, language, meta, notifying, people, preview
from .preview import PREVIEW_TARGETS
from .work import MailCommand

_FAMILIES = (people, facts, notifying, approval, conversation, case_state, language, preview,
             meta)


def table(declared: Iterable[MailCommand]) -> dict[str, MailCommand]:
    """Canonical name -> declaration, in `place` order; ValueError for a name or a place
    declared twice, or a syntax that does not start with its command."""
    out: dict[str, MailCommand] = {}
    places: set[int] = set()
    for c in sorted(declared, key=lambda c: c.place):
        if c.name in out or c.place in places or c.syntax.split()[0] != f"#{c.name}":
            raise ValueError(f"mail command #{c.name}: a name or place twice, or a syntax "
                             "that does not start with its name")
        out[c.name] = c
        places.add(c.place)
    return out


def spellings(commands: Iterable[MailCommand]) -> dict[str, str]:
    """Every name staff may type -> the canonical name; ValueError when two commands
    share one (a typed name must never be ambiguous)."""
    out: dict[str, str] = {}
    for c in commands:
        for name in (c.name, *c.spellings):
            if out.setdefault(name, c.name) != c.name:
                raise ValueError(f"#{name} is a spelling of both #{out[name]} and #{c.name}")
    return out


# canonical name -> declaration, in the order of `#help` (a case from report to end).
COMMANDS: dict[str, MailCommand] = table(c for f in _FAMILIES for c in f.COMMANDS)
# canonical name -> (syntax, one-line help): what #help and the README check read.
KNOWN_COMMANDS: dict[str, tuple[str, str]] = {n: (c.syntax, c.help) for n, c in COMMANDS.items()}
# every name staff may type (core/commands.canonical_name applied) -> the canonical name.
SPELLINGS: dict[str, str] = spellings(COMMANDS.values())

__all__ = ["COMMANDS", "KNOWN_COMMANDS", "PREVIEW_TARGETS", "SPELLINGS", "command_reference",
           "spellings", "table"]


def command_reference() -> list[tuple[str, str]]:
    """(syntax, help) of every command, for #help and the staff cheat-sheet."""
    return list(KNOWN_COMMANDS.values())
