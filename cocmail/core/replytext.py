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
from dataclasses import dataclass

from .reply_languages import all_of

# An attribution is at most a few wrapped lines; a longer run of text is a paragraph.
_ATTRIBUTION_MAX_LINES = 3
_ATTRIBUTION_MAX_CHARS = 400
# A quoted line at least this long may have been wrapped by the client (72-78 columns).
_WRAPPED_QUOTE_MIN_CHARS = 60
# A footer ("Sent from my iPhone") or a separator line is short: a longer line is text
# someone wrote, and the regexes never run over a whole paragraph.
_FOOTER_MAX_CHARS = 200
# An Outlook header block's "From:" line may carry every field at once (BlackBerry's HTML
# as text), its "Sent:" line only a date; longer lines are prose, not headers.
_HEADER_FROM_MAX_CHARS = 2000
_HEADER_SENT_MAX_CHARS = 1000

def _alternation(words: tuple[str, ...]) -> str:
    """A regex alternation of literal words; a word in an alphabet with spaces between
    words (Latin, Cyrillic, Greek, Hebrew) must stand alone, a CJK word need not."""
    out = []
    for w in words:
        lit = re.escape(w)
        out.append(lit if ord(w[0]) >= 0x2E80 else rf"(?<!\w){lit}(?!\w)")
    return "(?:" + "|".join(out) + ")"


# An attribution starts with an opener word of some language ("On …", "Am …", "Le …",
# "W dniu …", "Στις …"), or a date: a digit ("15. marts 2017 kl. 11.00 skrev …:") or a
# short weekday before one ("пн, 2 апр. 2012 г. …", "pon., 2 kwi …", "ma 2. huhtik. …").
_OPENER = re.compile(
    rf"[ \t\u200e\u200f\u202a-\u202e]*(?:{_alternation(all_of('openers'))}[ \t]"
    r"|\d|\w{1,4}\.?,?[ \t]+\d)", re.IGNORECASE)

# The verb of an attribution, in every language of reply_languages.
_VERB = re.compile(_alternation(all_of("verbs")), re.IGNORECASE)

# What every client puts in a dated attribution: a time ("22:31", "kl. 11.00") or an address.
_STAMP = re.compile(r"\d[:.]\d\d|\w@\w")
# Gmail in Japanese, Russian or Hebrew writes no verb: "2012年4月2日(月) 14:20 Bob <bob@x>:".
_ENDS_WITH_ADDRESS = re.compile(r"<[^<>\s]{1,200}@[^<>\s]{1,200}>[ \t)]*[:：]$")
# Direction marks Gmail puts around names and addresses in right-to-left languages.
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")

_ORIGINAL_MESSAGE = re.compile(
    rf"[ \t]*-{{2,}}[ \t]*{_alternation(all_of('separators'))}[ \t]*-{{2,}}[ \t]*",
    re.IGNORECASE,
)

# Outlook's header block: "From: …" followed closely by "Sent: …" (or "Date: …"), in every
# language of reply_languages; the names may be bold (*From:* or **From:**), the colon
# full-width (差出人：).
_FIELD_END = r"[ \t]?\**[ \t]?[:：]"
_HEADER_FROM = re.compile(rf"[ \t]*\**{_alternation(all_of('header_from'))}{_FIELD_END}",
                          re.IGNORECASE)
_HEADER_SENT = re.compile(rf"[ \t]*\**{_alternation(all_of('header_sent'))}{_FIELD_END}",
                          re.IGNORECASE)
# BlackBerry's HTML-only replies, converted to text, run the fields into one line.
_HEADER_SENT_INLINE = re.compile(rf"[ \t]\**{_alternation(all_of('header_sent'))}{_FIELD_END}",
                                 re.IGNORECASE)
_HEADER_LOOKAHEAD = 3

# Mobile clients' one-line footers. "Sent from my desk, is much easier …" is a sentence,
# not a footer: the device name is a few words without punctuation.
_DEVICE = r"[\w'&()+-]+(?:[ \t]+[\w'&()+-]+){0,5}"
_LINK = r"(?:[ \t]*<[^<>\s]{1,200}>)?"
_SENT_FROM = re.compile(
    rf"[ \t]*(?:{_alternation(all_of('footers'))}[ \t]+{_DEVICE}"
    rf"|Sent from (?:Mail|Outlook|Yahoo Mail)(?: for {_DEVICE})?"
    rf"|Get Outlook for (?:iOS|Android|Mac|Windows){_LINK}"
    rf"|Von meinem {_DEVICE} gesendet)[ \t]*\.?[ \t]*",
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
    return len(line) <= _FOOTER_MAX_CHARS and _SENT_FROM.fullmatch(line) is not None


def is_original_message(line: str) -> bool:
    """Outlook's "-----Original Message-----" separator and its translations."""
    return len(line) <= _FOOTER_MAX_CHARS and _ORIGINAL_MESSAGE.fullmatch(line) is not None


def _looks_like_attribution(joined: str) -> bool:
    joined = _BIDI.sub("", joined).strip()
    return (
        len(joined) <= _ATTRIBUTION_MAX_CHARS
        and joined.endswith((":", "："))
        and (_VERB.search(joined) is not None or _ENDS_WITH_ADDRESS.search(joined) is not None)
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
    """An Outlook-style "From: …" line followed closely by "Sent: …" (or a translation),
    or both on one line, as BlackBerry's HTML reads once converted to text."""
    if len(lines[i]) > _HEADER_FROM_MAX_CHARS or not _HEADER_FROM.match(lines[i]):
        return False
    if _HEADER_SENT_INLINE.search(lines[i]):
        return True
    following = lines[i + 1 : i + 1 + _HEADER_LOOKAHEAD]
    return any(_HEADER_SENT.match(line) for line in following
               if len(line) <= _HEADER_SENT_MAX_CHARS)


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


@dataclass(frozen=True)
class Run:
    """A stretch of the sender's own lines, between quoted blocks."""

    first_line: int  # 1-based line number of lines[0] in the whole text
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _is_hard_stop(lines: list[str], i: int) -> bool:
    """Below this line nothing is the sender's: a signature, a mobile footer, an
    Outlook separator or header block (the original follows unquoted)."""
    line = lines[i]
    return (is_signature_delimiter(line) or is_sent_from(line) or is_original_message(line)
            or is_header_block(lines, i))


def _next_non_blank(lines: list[str], j: int) -> int:
    while j < len(lines) and is_blank(lines[j]):
        j += 1
    return j


def _is_wrapped_tail(lines: list[str], i: int) -> bool:
    """`lines[i]` is the unquoted tail of the long quoted line right above it: a client
    that wraps the quote without repeating `>` ("> … said something to\nme that …").

    That tail is the earlier mail's text (a report's, which its author can shape so
    that the tail reads `#action …`), never the sender's, so it goes with the quote.
    The sender's own text under a quote starts after a blank line or below a short line.
    """
    return (i > 0 and not is_blank(lines[i]) and is_quote(lines[i - 1])
            and len(lines[i - 1].rstrip()) >= _WRAPPED_QUOTE_MIN_CHARS
            and not _is_hard_stop(lines, i))


def _end_of_quote(lines: list[str], i: int) -> int:
    """The index just past the quoted block starting at `lines[i]`: its `>` lines, the
    blank lines between them, and the unquoted tails of its wrapped lines."""
    n = len(lines)
    while i < n:
        if is_quote(lines[i]):
            i += 1
        elif is_blank(lines[i]) and (j := _next_non_blank(lines, i)) < n and is_quote(lines[j]):
            i = j
        elif _is_wrapped_tail(lines, i):
            while i < n and not is_blank(lines[i]) and not is_quote(lines[i]) \
                    and not _is_hard_stop(lines, i):
                i += 1
        else:
            break
    return i


def _trimmed(first: int, lines: list[str]) -> Run | None:
    start, end = 0, len(lines)
    while start < end and is_blank(lines[start]):
        start += 1
    while end > start and (is_blank(lines[end - 1]) or _RULE.fullmatch(lines[end - 1])):
        end -= 1
    if start == end:
        return None
    return Run(first + start + 1, tuple(lines[start:end]))


def _scan(text: str) -> tuple[list[tuple[int, Run]], int]:
    """Every unquoted run before the history ends, with how many quoted blocks are above
    it; and the number of quoted blocks."""
    lines = split_lines(text)
    runs: list[tuple[int, Run]] = []  # (quoted blocks above the run, run)
    quotes = 0
    start, current = 0, []
    i = 0

    def flush(upto_quote: bool) -> None:
        nonlocal current
        body = list(current)
        if upto_quote:  # an undated "Jane Doe wrote:" just above the quote goes with it
            cut = _back_over_attribution(body, len(body))
            body = body[:cut]
        run = _trimmed(start, body)
        if run is not None:
            runs.append((quotes, run))
        current = []

    while i < len(lines):
        line = lines[i]
        if is_quote(line):
            flush(upto_quote=True)
            quotes += 1
            i = _end_of_quote(lines, i)
            start = i
            continue
        if _is_hard_stop(lines, i):
            break
        span = attribution_length(lines, i)
        if span:
            after = _next_non_blank(lines, i + span)
            if after < len(lines) and is_quote(lines[after]):
                flush(upto_quote=False)
                i = after
                continue
            break  # the original follows, unquoted
        if not current:
            start = i
        current.append(line)
        i += 1
    flush(upto_quote=False)
    return runs, quotes


def reply_parts(text: str) -> tuple[tuple[Run, ...], tuple[Run, ...]]:
    """(the sender's own text of a reply, wherever the client put it, run by run; the
    unquoted runs below a top-posted reply's quote that are not counted as the sender's),
    so that commands typed down there can be reported instead of silently ignored.

    Top-posted: one run above the quote. Bottom-posted (an attribution and a quoted
    block first, the answer below): the run below. Interleaved: the runs between the
    quoted blocks, in order. Attribution lines go with the quote they introduce; the
    scan ends at a signature, a mobile footer, an Outlook separator or header block,
    or an attribution with no quote below it (the original follows unquoted), because
    whatever comes after those is the earlier mail, never the sender's.
    Linear in the length of the text, like newest_cut.
    """
    return _answers(*_scan(text))


def _answers(runs: list[tuple[int, Run]], quotes: int
             ) -> tuple[tuple[Run, ...], tuple[Run, ...]]:
    """Which runs the sender wrote as an answer.

    Text below the last quoted block is the answer of a bottom-post (nothing above the
    quote) or the last answer of an interleaved reply (answers between quoted blocks).
    Below a top-posted reply's one quote it is a footer a server or list added, or
    the tail of a quote the client wrapped without `>`: not the sender's.
    """
    top = any(q == 0 for q, _ in runs)
    between = any(0 < q < quotes for q, _ in runs)
    keep_tail = not top or between

    def kept(q: int, run: Run) -> bool:
        if q < quotes or quotes == 0:
            return True
        # A list's footer ("_____" and "riak-users mailing list") is nobody's answer.
        return keep_tail and not _RULE.fullmatch(run.lines[0])

    return (tuple(run for q, run in runs if kept(q, run)),
            tuple(run for q, run in runs if not kept(q, run)))

