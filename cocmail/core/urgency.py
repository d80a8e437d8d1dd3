"""Does a new report read as if someone may be in danger now? (issue 25, item 4)

"He is outside my hotel now" must not wait two hours like any other case. The team
cannot read every mail the minute it arrives, so cocmail looks at what a person writes
first, the subject and the opening lines, for words that say someone is in danger or
afraid now, and marks the report *possibly* urgent: the staff subject says so, and
the urgent reminder schedule applies until a member acts. It never decides anything;
a member confirms with `#urgent` or simply acts.

A false alarm costs the team's attention, so the lists hold phrases, not single common
words: "help" alone would flag "thanks for your help", "now" every second report.
Phrases that say the opposite ("not urgent", "no emergency") are taken out before the
search. Matching ignores case and accents (a phone may drop them: "policia"), and a
phrase must stand as whole words ("police" does not match "policies"). A team adds its
own phrases with `[process] urgent_words`; every shipped language is always searched,
since a report may come in any of them.

Pure: text in, the phrases found out.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Phrases that say someone may be unsafe now, per language. Written as people write
# them in a hurry; folded (lower case, no accents) before use.
SHIPPED: dict[str, tuple[str, ...]] = {
    "en": (
        "urgent", "emergency", "in danger", "not safe", "feel unsafe", "feeling unsafe",
        "don't feel safe", "dont feel safe", "do not feel safe", "scared for my safety",
        "afraid for my safety", "i am scared", "i'm scared", "im scared", "following me",
        "doesn't feel safe", "does not feel safe", "stalking me", "outside my room",
        "outside my hotel", "outside my door", "outside her room", "outside her hotel",
        "outside her door", "outside his room", "outside his hotel", "outside his door",
        "won't leave me alone", "will not leave me alone", "threatening me",
        "threatened me", "threatened to", "he hit me", "she hit me", "they hit me",
        "assaulted", "sexual assault", "raped", "weapon", "knife", "gun", "police",
        "ambulance", "bleeding", "kill myself", "suicide", "self-harm", "hurt myself",
        "help me now", "need help now", "call 911", "call 112",
    ),
    "es": (
        "urgente", "urgencia", "emergencia", "en peligro", "no me siento segura",
        "no me siento seguro", "me esta siguiendo", "me persigue",
        "fuera de mi habitacion", "fuera de mi hotel", "me amenaza", "me amenazo",
        "me agredio", "agresion sexual", "cuchillo", "arma", "policia", "ambulancia",
        "socorro", "necesito ayuda ya", "ayudenme",
    ),
    "pt": (
        "urgente", "urgencia", "emergencia", "em perigo", "nao me sinto segura",
        "nao me sinto seguro", "esta a seguir-me", "esta me seguindo",
        "a perseguir-me", "me perseguindo", "a porta do meu quarto", "a porta do hotel",
        "fora do meu hotel", "ameacou-me", "me ameacou", "esta a ameacar-me",
        "agrediu-me", "me agrediu", "agressao sexual", "uma faca", "arma", "policia",
        "ambulancia", "socorro", "preciso de ajuda ja",
    ),
    "fr": (
        "urgent", "urgence", "en danger", "je ne me sens pas en securite",
        "pas en securite", "me suit partout", "devant ma chambre", "devant mon hotel",
        "devant ma porte", "me menace", "m'a menace", "m'a menacee", "m'a agressee",
        "m'a agresse", "agression sexuelle", "couteau", "arme", "police", "ambulance",
        "au secours",
    ),
    "de": (
        "dringend", "notfall", "in gefahr", "ich fuhle mich nicht sicher",
        "verfolgt mich", "vor meinem zimmer", "vor meinem hotel", "vor meiner tur",
        "bedroht mich", "hat mich bedroht", "hat mich angegriffen", "vergewaltigt",
        "messer", "waffe", "polizei", "krankenwagen", "notarzt", "ich brauche hilfe",
    ),
    "it": (
        "urgente", "urgenza", "emergenza", "in pericolo", "non mi sento al sicuro",
        "non mi sento sicura", "non mi sento sicuro", "mi sta seguendo",
        "fuori dalla mia stanza", "fuori dal mio hotel", "mi minaccia",
        "mi ha minacciato", "mi ha minacciata", "mi ha aggredita", "mi ha aggredito",
        "violenza sessuale", "violentata", "coltello", "arma", "polizia", "ambulanza",
        "ho bisogno di aiuto", "aiutatemi",
    ),
}

# Phrases that say the opposite; taken out of the text before the search, so "this is
# not urgent" and "no emergency, but..." stay ordinary reports.
NOT_URGENT: tuple[str, ...] = (
    "not urgent", "non-urgent", "non urgent", "nothing urgent", "isn't urgent",
    "isnt urgent", "is not urgent", "no urgency", "not an emergency", "no emergency",
    "isn't an emergency", "not in danger", "no longer in danger", "no immediate danger",
    "not in any danger", "no es urgente", "nada urgente", "no es una emergencia",
    "nao e urgente", "nada urgente", "nao e uma emergencia", "pas urgent",
    "rien d'urgent", "pas une urgence", "nicht dringend", "kein notfall",
    "non e urgente", "non urgente", "nessuna urgenza", "non e un'emergenza",
)

# The opening: the subject and this many first lines that carry words (a greeting
# included). A danger described at the end of a long account of last night is read by
# the team with the rest; the alarm is for what a person says first.
OPENING_LINES = 5


def fold(text: str) -> str:
    """Lower case, no accents, one kind of apostrophe, single spaces: as the lists are."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00df", "ss")
    return " ".join(text.split())


def opening(subject: str, text: str) -> str:
    """The subject and the first OPENING_LINES lines of `text` that carry words, quoted
    lines left out (a forwarded thread's old words are not the reporter's news)."""
    lines = [line for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith(">")]
    return "\n".join([subject, *lines[:OPENING_LINES]])


@lru_cache(maxsize=32)
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted({fold(p) for p in phrases if fold(p)}, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in alternatives)
    return re.compile(rf"(?<![\w'-])(?:{body})(?![\w'-])") if body else re.compile(r"(?!)")


def phrases(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every shipped phrase of every language, then the team's own."""
    return tuple(p for words in SHIPPED.values() for p in words) + tuple(extra)


def urgent_words(subject: str, text: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The phrases (folded, in the order found, each once) that make a report possibly
    urgent; empty when its subject and opening lines read as an ordinary report."""
    folded = fold(opening(subject, text))
    folded = _pattern(NOT_URGENT).sub(" ", folded)
    found: list[str] = []
    for m in _pattern(phrases(extra)).finditer(folded):
        word = " ".join(m.group(0).split())
        if word not in found:
            found.append(word)
    return tuple(found)
