"""The newest part of a mail reply: what the sender wrote this time, without the history.

Staff answer cocmail from every kind of client. Below what they type, the client adds a
quote of the earlier mail, an attribution line, an Outlook header block, a signature or a
"Sent from my iPhone". None of that may reach a note, a `#reply` to the reporter or the
DSF narrative, and commands inside it must never run.

The scan is line by line with small anchored patterns and a bounded look-ahead, so its
cost is linear in the size of the mail: bodies come from strangers, and a crafted one
must not stall the daemon (no pattern here can backtrack catastrophically).
"""

from __future__ import annotations

import re

# An attribution is at most a few wrapped lines; a longer run of text is a paragraph.
_ATTRIBUTION_MAX_LINES = 3
_ATTRIBUTION_MAX_CHARS = 400

# Words that open an attribution in the languages staff are likely to use:
# "On …", "Am …", "Le …", "El …", "Op …", "Den …" (Danish/Swedish), "Il …", "Em …".
# A leading digit covers Danish Gmail's "15. marts 2017 kl. 11.00 skrev …:".
_OPENER = re.compile(r"[ \t]*(?:(?:On|Am|Le|El|Op|Den|Il|Em)[ \t]|\d)")

# The verb of an attribution; the "=C3=A9" forms are what a quoted-printable attribution
# looks like when a client or a forwarding hop failed to decode it.
_VERB = re.compile(
    r"\b(?:wrote|schrieb|a (?:é|=C3=A9)crit|escribi(?:ó|=C3=B3)|schreef|skrev|har skrivit"
    r"|ha scritto|escreveu|napisa[lł])\b",
    re.IGNORECASE,
)

# What every client puts in a dated attribution: a time ("22:31", "kl. 11.00") or an address.
_STAMP = re.compile(r"\d[:.]\d\d|\w@\w")

_ORIGINAL_MESSAGE = re.compile(
    r"[ \t]*-{2,}[ \t]*(?:Original Message|Ursprüngliche Nachricht|Message d'origine"
    r"|Mensaje original|Oorspronkelijk bericht|Oprindelig meddelelse|Ursprungligt meddelande"
    r"|Messaggio originale)[ \t]*-{2,}[ \t]*",
    re.IGNORECASE,
)

# Outlook's header block: "From: …" followed closely by "Sent: …" (or "Date: …"), in
# English, German, French, Spanish, Dutch, Danish/Swedish; the names may be bold (*From:*).
_HEADER_FROM = re.compile(r"[ \t]*\*?(?:From|Von|De|Van|Fra|Från)[ \t]?:", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"[ \t]*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Date d'envoi|Enviado|Fecha|Verzonden"
    r"|Sendt|Skickat)[ \t]?:",
    re.IGNORECASE,
)
_HEADER_LOOKAHEAD = 3

# Mobile clients' one-line footers. "Sent from my desk, is much easier …" is a sentence,
# not a footer: the device name is a few words without punctuation.
_DEVICE = r"[\w'&()+-]+(?:[ \t]+[\w'&()+-]+){0,5}"
_LINK = r"(?:[ \t]*<[^<>\s]{1,200}>)?"
_SENT_FROM = re.compile(
    rf"[ \t]*(?:Sent from my {_DEVICE}|Sent from (?:Mail|Outlook|Yahoo Mail)(?: for {_DEVICE})?"
    rf"|Get Outlook for (?:iOS|Android|Mac|Windows){_LINK}"
    rf"|Von meinem {_DEVICE} gesendet|Gesendet von meinem {_DEVICE}"
    rf"|Envoyé de mon {_DEVICE}|Enviado desde mi {_DEVICE}|Verstuurd vanaf mijn {_DEVICE}"
    rf"|Sendt fra min {_DEVICE}|Skickat från min {_DEVICE})[ \t]*\.?[ \t]*",
    re.IGNORECASE,
)

# Lines that only draw a rule above a quoted block ("_____", " ------", "=====").
_RULE = re.compile(r"[ \t]*[-_=*]{3,}[ \t]*")


def split_lines(text: str) -> list[str]:
    """`text` as lines, whatever the line ending (CRLF, LF, or a lone CR)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def is_blank(line: str) -> bool:
    return not line.strip()


def is_quote(line: str) -> bool:
    """A quoted line of an earlier mail (`> …`), however deeply nested."""
    return line.lstrip(" \t").startswith(">")


def is_signature_delimiter(line: str) -> bool:
    """`-- ` on its own (RFC 3676), also without the space and as html2text escapes it."""
    return line.rstrip() in ("--", "\\--")


def is_sent_from(line: str) -> bool:
    """A mobile client's footer such as "Sent from my iPhone" or "Get Outlook for iOS"."""
    return len(line) <= 200 and _SENT_FROM.fullmatch(line) is not None


def is_original_message(line: str) -> bool:
    """Outlook's "-----Original Message-----" separator and its translations."""
    return len(line) <= 200 and _ORIGINAL_MESSAGE.fullmatch(line) is not None


def _looks_like_attribution(joined: str) -> bool:
    joined = joined.strip()
    return (
        len(joined) <= _ATTRIBUTION_MAX_CHARS
        and joined.endswith(":")
        and _VERB.search(joined) is not None
    )


def attribution_length(lines: list[str], i: int) -> int:
    """How many lines (1-3) the attribution starting at `lines[i]` spans, or 0 for none.

    Clients wrap long attributions ("On …, Name\\n<addr>\\nwrote:"), so up to three
    adjacent non-blank lines are read together. An attribution starts with an opener
    word and carries a time or an address, which is what keeps "On your remote host you
    can run:", "One outstanding question I had:" and a note's "On 4 June he wrote:" in.
    """
    first = lines[i]
    if len(first) > _ATTRIBUTION_MAX_CHARS or not _OPENER.match(first):
        return 0
    joined = ""
    for k in range(_ATTRIBUTION_MAX_LINES):
        if i + k >= len(lines) or (k and is_blank(lines[i + k])):
            return 0
        joined = f"{joined} {lines[i + k].strip()}"
        if len(joined) > _ATTRIBUTION_MAX_CHARS:
            return 0
        if _looks_like_attribution(joined) and _STAMP.search(joined):
            return k + 1
    return 0


def is_header_block(lines: list[str], i: int) -> bool:
    """An Outlook-style "From: …" line followed closely by "Sent: …" (or a translation)."""
    if len(lines[i]) > _ATTRIBUTION_MAX_CHARS or not _HEADER_FROM.match(lines[i]):
        return False
    following = lines[i + 1 : i + 1 + _HEADER_LOOKAHEAD]
    return any(_HEADER_SENT.match(line) for line in following if len(line) <= 1000)


def _is_boundary(lines: list[str], i: int) -> bool:
    line = lines[i]
    return (
        is_quote(line)
        or is_signature_delimiter(line)
        or is_sent_from(line)
        or is_original_message(line)
        or is_header_block(lines, i)
        or attribution_length(lines, i) > 0
    )


def _back_over_attribution(lines: list[str], cut: int) -> int:
    """Move a cut at a quote up over a short "Name wrote:" line just above it.

    Attributions without a date ("Jane Doe <jane@…> schrieb am Montag:") are only
    recognisable by the quote that follows them.
    """
    j = cut
    while j > 0 and is_blank(lines[j - 1]):
        j -= 1
    for k in range(1, _ATTRIBUTION_MAX_LINES + 1):
        start = j - k
        if start < 0 or is_blank(lines[start]):
            break
        joined = " ".join(line.strip() for line in lines[start:j])
        if len(joined) > _ATTRIBUTION_MAX_CHARS:
            break
        if _looks_like_attribution(joined):
            return start
    return cut


def _back_over_rules(lines: list[str], cut: int) -> int:
    """Move a cut up over blank lines and the rule Outlook draws above its header block."""
    while cut > 0 and (is_blank(lines[cut - 1]) or _RULE.fullmatch(lines[cut - 1])):
        cut -= 1
    return cut


def newest_cut(lines: list[str]) -> int:
    """Index of the first line that is no longer the sender's new text (len(lines) if none)."""
    for i in range(len(lines)):
        if _is_boundary(lines, i):
            cut = _back_over_attribution(lines, i) if is_quote(lines[i]) else i
            return _back_over_rules(lines, cut)
    return len(lines)


def _join(lines: list[str]) -> str:
    start = 0
    while start < len(lines) and is_blank(lines[start]):
        start += 1
    return "\n".join(lines[start:]).rstrip()


def newest_text(text: str) -> str:
    """The part of a reply the sender wrote this time.

    Everything before the first quoted line, attribution ("On … wrote:" and its
    translations), Outlook separator or header block, signature delimiter or mobile
    footer. Leading blank lines and trailing whitespace are dropped; CRLF becomes LF.
    """
    lines = split_lines(text)
    return _join(lines[: newest_cut(lines)])


def strip_signature(text: str) -> str:
    """`text` without its signature: cut at `-- ` or a "Sent from my …" footer only.

    For text that has no quotes to remove, such as a message cocmail composed itself.
    """
    lines = split_lines(text)
    for i, line in enumerate(lines):
        if is_signature_delimiter(line) or is_sent_from(line):
            return _join(lines[:i])
    return _join(lines)
