"""The last check on staff text before it leaves the team: `#reply` and the DSF narrative.

Quote detection (replytext) recognises the clients and languages it knows. This holds
without it: any line of the text that cocmail itself sent to staff on this case (the
relayed report, the "NAMED IN EARLIER CASES" block, transcripts, other members' notes),
however a client re-wrapped or re-quoted it, is dropped, and any cocmail token (which
authenticates replies as a staff member) is removed. Pure: the staff text is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .tokens import TOKEN_PATTERN

MIN_COPIED_CHARS = 16  # shorter lines ("Hello Ana,", "Thanks") are too common to judge

_PLUS_TOKEN = re.compile(r"\+" + TOKEN_PATTERN + r"(?=@)", re.IGNORECASE)
_MSGID_TOKEN = re.compile(r"<?cocmail\." + TOKEN_PATTERN + r"@[^\s<>]*>?", re.IGNORECASE)
_BARE_TOKEN = re.compile(TOKEN_PATTERN, re.IGNORECASE)


def _words(text: str) -> str:
    """Lower-case words with quote markers and runs of white space collapsed."""
    return " ".join(text.replace(">", " ").casefold().split())


def staff_text_index(bodies: Iterable[str]) -> str:
    """All the text cocmail sent to staff on a case, in the form `without_staff_text` reads."""
    return "\n".join(_words(b) for b in bodies if b)


def without_tokens(text: str) -> str:
    text = _PLUS_TOKEN.sub("", text)
    text = _MSGID_TOKEN.sub("", text)
    return _BARE_TOKEN.sub("", text)


def without_staff_text(text: str, index: str) -> str:
    """`text` without the lines it copies from `index` (staff_text_index) and without
    tokens. A line counts as copied when its words, at least MIN_COPIED_CHARS of them,
    appear in that order anywhere in the staff text (a re-wrapped quote still does)."""
    lines = text.split("\n")
    keys = [_words(line) for line in lines]
    copied = [len(k) >= MIN_COPIED_CHARS and k in index for k in keys]

    def beside_copied(i: int) -> bool:
        """A short line inside a copied stretch ("Date: …" between copied lines)."""
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(lines) and not keys[j]:
                j += step
            if 0 <= j < len(lines) and copied[j]:
                return True
        return False

    kept = [without_tokens(line) for i, line in enumerate(lines)
            if not copied[i] and not (keys[i] and keys[i] in index and beside_copied(i))]
    out = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", out).strip()
