"""Recognising the same person across cases: normalised names and addresses.

Repeat-offender warnings rely on this, so it is deliberately simple and predictable:
lower case, accents removed, punctuation dropped, words sorted (so "Doe, Dan" and
"Dan Doe" meet). Addresses compare case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata


def normalise_name(name: str | None) -> str | None:
    if not name:
        return None
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    words = re.findall(r"[^\W_]+", text)
    return " ".join(sorted(words)) or None
