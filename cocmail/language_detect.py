"""The language a report is written in (issue 26): the shell's side of core/languages.py.

lingua (`lingua-language-detector`) in its low-accuracy mode: its models ship inside the
wheel (nothing is downloaded at run time), it is maintained, and it knows 75 languages,
so a report in Polish or Japanese is recognised as "not one of the event's languages"
instead of being forced into the nearest one. Measured on this project's machine under
load: the detector of all languages builds at once and loads the models on its first
text (~1.2 s; ~4 s when the machine is busy, 85 MB), then decides a short, mixed or
quoted-English text in 0.4-7 ms (a Spanish sentence with English words in it: Spanish;
French above an English quote: French at 0.98; Polish and Japanese: recognised).
py3langid was the other candidate (4.5 MB, numpy): ~4 s to load its model whatever the
text, and it always answers one of its 97 languages, with little sign of doubt on a
short text.

The detector is built the first time a report needs it, never at import: `cocmail
--version`, `check` and a single-language event never pay for it. It is kept for the
life of the process (the daemon's first report pays once).
"""

from __future__ import annotations

import threading
from typing import Any

# Shorter than this (letters), a text says too little to tell its language.
MIN_LETTERS = 12
# How sure lingua must be of its best language (its confidence, 0-1) before cocmail
# answers in it instead of in all the event's languages. Measured: whole sentences score
# 0.98-1.0; a five-word Spanish line 0.43 (Catalan next at 0.17).
MIN_CONFIDENCE = 0.35

_lock = threading.Lock()
_detector: Any = None


def _build() -> Any:
    from lingua import LanguageDetectorBuilder  # heavy (Rust, models): only when needed

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def detector() -> Any:
    """The process's detector, built on first use (thread-safe)."""
    global _detector
    with _lock:
        if _detector is None:
            _detector = _build()
        return _detector


def detect(text: str) -> str:
    """The ISO 639-1 code of the language `text` is written in, "" when unsure.

    `text` is the reporter's own newest words (core/languages.reporter_words): quoted
    mail and forwarded messages are already gone, so an English quote under a Spanish
    report does not win. A code cocmail does not ship (e.g. "pl") is returned as it is:
    the core then answers in all the event's languages.
    """
    letters = sum(ch.isalpha() for ch in text)
    if letters < MIN_LETTERS:
        return ""
    values = detector().compute_language_confidence_values(text)
    if not values or values[0].value < MIN_CONFIDENCE:
        return ""
    return str(values[0].language.iso_code_639_1.name).lower()
