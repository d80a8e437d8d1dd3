"""Is a line fit for the public? Names and addresses of the people on a case are not.

The transparency report is published; a `#public-summary` that says "Dan grabbed Eve's
arm" would undo every other care cocmail takes. The check is deliberately plain: every
word of every name (two letters or more) and every address, local part included, of
everyone on the case, compared word by word, case- and accent-insensitively. It cannot
know every identifying detail ("the speaker of the keynote"), which is why staff are
asked to write the line; it makes sure the obvious slip never goes out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from .case import Case

_WORD = re.compile(r"[\w'’.+-]+@[\w.-]+|\w[\w'’-]*")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(text: str) -> list[str]:
    return [w.strip("'’-.") for w in _WORD.findall(text)]


def identifying_terms(case: Case, extra_names: Iterable[str] = ()) -> dict[str, str]:
    """folded term -> the word as written, for every name and address on the case."""
    terms: dict[str, str] = {}
    names = [p.name for p in case.people() if p.name] + list(extra_names)
    for name in names:
        for word in _words(name):
            if len(word) >= 2:
                terms.setdefault(_fold(word), word)
    for p in case.people():
        if p.email:
            terms.setdefault(_fold(p.email), p.email)
            local = p.email.split("@", 1)[0]
            for part in re.split(r"[._+-]", local):
                if len(part) >= 3:
                    terms.setdefault(_fold(part), part)
    return terms


def identifying_words(text: str, case: Case) -> list[str]:
    """The words of `text` that name or address someone on `case` (empty: fit to publish)."""
    terms = identifying_terms(case)
    found: list[str] = []
    for word in _words(text):
        folded = _fold(word)
        candidates = [folded]
        if "@" in folded:
            candidates += re.split(r"[@._+-]", folded)
        if any(c in terms for c in candidates) and word not in found:
            found.append(word)
    return found
