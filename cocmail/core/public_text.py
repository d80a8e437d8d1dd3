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

# An address, or a word: letters and digits, with apostrophes or hyphens inside
# ("O'Brien", "Ann-Marie"); "_" separates words ("eve_example").
# Combining marks count as part of their word: "Zoe\u0308" (decomposed) is one word.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_WORD = re.compile(rf"[\w'’.+-]+@[\w.-]+|[^\W_](?:[^\W_]|['’ʼ-]|[{_MARKS}])*")
_APOSTROPHES = str.maketrans("", "", "'’ʼ")
# Possessive and elided endings: "Dan's", "Dan’s", "James'".
_POSSESSIVE = re.compile(r"['’ʼ]s?$", re.IGNORECASE)

# Letters of other scripts that look like Latin ones: "Dаn" with a Cyrillic "а" is Dan.
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ӏ": "l", "ɡ": "g", "ı": "i",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
})
LOOKALIKES = _CONFUSABLES  # for the conflict check (core/conflicts.py)
# How German names are written without their umlauts: Müller, Mueller.
_TRANSLITERATIONS = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"))


def _is_format(c: str) -> bool:
    return unicodedata.category(c) == "Cf"  # soft hyphen, zero-width space and joiners


def _fold(text: str) -> str:
    # Case folded after the decomposition: "𝐋𝐞𝐧𝐚" (mathematical bold) decomposes to "Lena".
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return folded.translate(_CONFUSABLES)


def _words(text: str) -> list[str]:
    """The words and addresses of `text`. An invisible character is read both ways:
    inside a word ("D\u00adan" is Dan) and between two ("Dan\u200bgrabbed")."""
    text = unicodedata.normalize("NFC", text)
    joined = "".join(c for c in text if not _is_format(c))
    spaced = "".join(" " if _is_format(c) else c for c in text)
    out: list[str] = []
    for variant in dict.fromkeys((joined, spaced)):
        for w in _WORD.findall(variant):
            w = w.strip("'’ʼ-.")
            if "@" not in w:
                w = _POSSESSIVE.sub("", w)
            if w and w not in out:
                out.append(w)
    return out


def _forms(word: str) -> set[str]:
    """`word` folded, and the ways a writer may spell it: German umlauts written out
    ("Mueller"), without apostrophes ("OBrien"), by hyphenated parts, run together."""
    folded = {_fold(word)}
    spelt = word.casefold()
    for plain, out in _TRANSLITERATIONS:
        spelt = spelt.replace(plain, out)
    folded.add(_fold(spelt))
    forms: set[str] = set()
    for f in folded:
        forms.add(f)
        forms.add(f.translate(_APOSTROPHES))
        parts = [p for p in re.split(r"[-'’ʼ]", f) if len(p) >= 2]
        if len(parts) > 1:
            forms.update(parts)
            forms.add("".join(parts))
    return {f for f in forms if f}


def person_terms(name: str, email: str | None) -> dict[str, str]:
    """folded term -> the word as written, for one person's name and address: every word
    of the name (two letters or more, nicknames in quotes or brackets included), the
    name run together, the address and the parts of its local part."""
    terms: dict[str, str] = {}
    words = [w for w in _words(name) if len(w) >= 2]
    for word in words:
        for form in _forms(word):
            terms.setdefault(form, word)
    if len(words) > 1:  # "Dan O'Brien" run together: "DanOBrien"
        for form in _forms("".join(words)):
            terms.setdefault(form, " ".join(words))
    if email:
        terms.setdefault(_fold(email), email)
        local = email.split("@", 1)[0]
        parts = [part for part in re.split(r"[._+-]", local) if part]
        for part in parts:
            if len(part) >= 3:
                terms.setdefault(_fold(part), part)
        if len(parts) > 1:  # "eve.example" run together: "eveexample"
            terms.setdefault(_fold("".join(parts)), local)
    return terms


def identifying_terms(case: Case, extra_names: Iterable[str] = ()) -> dict[str, str]:
    """folded term -> the word as written, for every name and address on the case."""
    terms: dict[str, str] = {}
    names = [p.name for p in case.people() if p.name] + list(extra_names)
    for name in names:
        for term, word in person_terms(name, None).items():
            terms.setdefault(term, word)
    for p in case.people():
        if p.email:
            for term, word in person_terms("", p.email).items():
                terms.setdefault(term, word)
    return terms


def text_words(text: str) -> list[str]:
    """The words and addresses of `text`, as the name checks read them."""
    return _words(text)


def word_forms(word: str) -> set[str]:
    """The folded forms of one word of a text that are compared with a name's terms."""
    candidates = _forms(word)
    if "@" in word:
        candidates |= set(re.split(r"[@._+-]", _fold(word)))
    return candidates


def identifying_words(text: str, case: Case) -> list[str]:
    """The words of `text` that name or address someone on `case` (empty: fit to publish)."""
    terms = identifying_terms(case)
    found: list[str] = []
    for word in _words(text):
        if any(c in terms for c in word_forms(word)) and word not in found:
            found.append(word)
    found += [w for w in inside_words(text, terms) if w not in found]
    return found


# Scripts written without spaces between words (Chinese, Japanese, Thai): "山田さんに" is
# one "word" that holds the name 山田.
UNSPACED = re.compile("[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def inside_words(text: str, terms: dict[str, str]) -> list[str]:
    """The names of `terms` in a script without spaces that `text` holds inside a longer
    run of letters, as the terms write them."""
    unspaced = {t: w for t, w in terms.items() if UNSPACED.search(t)}
    if not unspaced or not UNSPACED.search(text):
        return []
    folded = _fold("".join(c for c in text if not _is_format(c)))
    return list(dict.fromkeys(w for t, w in unspaced.items() if t in folded))


def redact(text: str, terms: dict[str, str], mark: str = "[anonymous]") -> str:
    """`text` with every word or address that matches `terms` (see person_terms) replaced
    by `mark`, a run of them ("Hello Anouk Müller") by one."""
    joined = "".join(c for c in text if not _is_format(c))

    def hide(m: re.Match[str]) -> str:
        word = m.group(0).strip("'’ʼ-.")
        if "@" not in word:
            word = _POSSESSIVE.sub("", word)
        return mark if word and any(f in terms for f in word_forms(word)) else m.group(0)

    out = _WORD.sub(hide, joined)
    for term, word in terms.items():  # a name inside a run of Chinese or Japanese
        if UNSPACED.search(term):
            for spelling in {term, word}:
                out = out.replace(spelling, mark)
    return re.sub(rf"{re.escape(mark)}(?:[ \t]+{re.escape(mark)})+", mark, out)
