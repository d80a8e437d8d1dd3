"""Recognising the same person across cases: normalised names and addresses.

Repeat-offender warnings rely on this, so it is deliberately simple and predictable:
lower case, accents removed, punctuation dropped, words sorted (so "Doe, Dan" and
"Dan Doe" meet). Addresses compare case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .addresses import ADDRESS

_WORD = re.compile(r"[^\W_]+")


def name_words(text: str | None) -> list[str]:
    """The words of `text` in order: lower case, accents and punctuation removed."""
    if not text:
        return []
    if text.isascii():  # nothing to decompose: most names, most report text
        return _WORD.findall(text.lower())
    decomposed = unicodedata.normalize("NFKD", text)
    # Marks dropped by one translate over the distinct characters, not a Python test per
    # character: a report's text is thousands of characters, a few dozen distinct.
    marks = {ord(ch): None for ch in set(decomposed) if unicodedata.combining(ch)}
    return _WORD.findall(decomposed.translate(marks).lower())


def normalise_name(name: str | None) -> str | None:
    """The comparison key of a name: its words, sorted; None for an empty name."""
    return " ".join(sorted(name_words(name))) or None


def addresses_in(text: str | None) -> set[str]:
    """Every mail address written in free text, lower-cased."""
    if not text or "@" not in text:
        return set()
    return {m.group(0).lower().strip(".") for m in ADDRESS.finditer(text)}


@lru_cache(maxsize=2)
def names_written(text: str, longest: int) -> tuple[frozenset[str], frozenset[str]]:
    """(addresses, runs of 2..`longest` words) that `text` writes: what the repeat-offender
    look-up asks the store about. Cached: a decision made before the write lock asks
    again about the same text inside it (pipeline._RecordedHistory)."""
    return frozenset(addresses_in(text)), frozenset(name_runs(text, range(2, longest + 1)))


def name_runs(text: str | None, sizes: set[int] | range) -> set[str]:
    """Every run of `size` neighbouring words of `text` (for each size of two words or
    more), sorted like a normalised name: the names `text` could be writing out.

    One pass over the text per name length, however many names are on file; the store
    then looks the runs up in an index instead of reading every name it holds.
    """
    words = name_words(text)
    written = set()
    for size in sizes:
        if size >= 2:
            written.update(" ".join(sorted(words[i:i + size]))
                           for i in range(len(words) - size + 1))
    return written
