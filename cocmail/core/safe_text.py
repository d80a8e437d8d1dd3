"""Text from mail made harmless for whoever reads cocmail's output: one rule, used everywhere.

A display name, a subject or a Message-ID is written by a stranger. Printed raw, an
escape sequence (ESC, CSI, OSC) can retitle the terminal, hide or rewrite lines, plant a
link or (on some terminals) answer back; a bidi override makes `evil` read as `live`; a
lone CR overwrites the start of a log line; a control character makes openpyxl refuse to
write a sheet. So every CLI output, log line and export passes through `shown`:

- C0 controls show as `\\x1b`, `\\x07`...; the others (DEL, C1 controls such as the
  one-byte CSI U+009B, the bidi controls and the line/paragraph separators) as `\\u009b`.
  The `\\uXXXX` form is also a valid JSON escape, so JSON output that passes through
  `shown` (the CLI's stdout guard) stays valid JSON and decodes to the original text;
- newline and tab stay in multi-line output (`lines=True`), and so does CR before LF (a
  CSV's line ends); single-line output (a log message, a cell) escapes them too.

The public transparency report is a different matter: a `#public-summary` is published
as text only (`without_links`: no image, HTML or link, in Markdown or HTML) and the
Markdown version escapes Markdown's own characters (`markdown_text`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .addresses import ADDRESS_PATTERN

# C0 and C1 controls, DEL, the Arabic letter mark, LRM/RLM, the line and paragraph
# separators, the bidi embeddings/overrides (U+202A-E) and isolates (U+2066-9).
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_ANY = re.compile(f"[\x00-\x1f{_OTHERS}]")
# The same but newline and tab, and CR only where it ends a line (CRLF).
_IN_LINES = re.compile(f"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f{_OTHERS}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def shown(text: str, *, lines: bool = True) -> str:
    """`text` with every control, escape and bidi character shown escaped.

    `lines`: keep newlines, tabs and CRLF (multi-line output); else escape them too.
    """
    return (_IN_LINES if lines else _ANY).sub(_escape, text)


def safe_json(data: Any, indent: int | None = 2) -> str:
    """JSON for a terminal or a file: the values exact, no raw control or bidi character.

    json.dumps escapes C0 controls itself; DEL, C1 and the bidi controls it leaves raw
    (ensure_ascii=False keeps names readable), so those become `\\uXXXX` escapes here.
    """
    return shown(json.dumps(data, indent=indent, ensure_ascii=False))


# --- the public report: Markdown and HTML ---------------------------------------------------

# A Markdown image or link: `![alt](target)` / `[text](target)`, also with a nested pair
# of parentheses in the target (`javascript:alert(1)`).
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\((?:[^()]|\([^()]*\))*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^()]*\))*\)")
# HTML tags, whole: `<img src=x onerror=...>`, `<a href=...>`, `</script>`.
_HTML_TAG = re.compile(r"<[!/?a-zA-Z][^<>]*>?")
# Anything a reader's software could follow or fetch: URLs of the usual schemes (and of
# the dangerous ones), `www.` names, and mail addresses (GitHub's Markdown links those).
_LINKISH = re.compile(
    r"(?i)\b(?:https?|ftp|file|javascript|vbscript|data|mailto|tel|sms|ws|wss|ssh|irc)"
    r":\S+|\bwww\.\S+|" + ADDRESS_PATTERN)
LINK_REMOVED = "(link removed)"
# Markdown's inline syntax (emphasis, code, links, images, table cells, strike); a
# backslash before any of them makes it a literal character (CommonMark, 2.4). HTML's
# own three (& < >) become entities instead: every Markdown dialect reads those as text.
_MD_INLINE = re.compile(r"([\\`*_\[\]!|~#])")
_HTML_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# What makes a line something else at its start: a heading, a quote, a list item, a
# thematic break or a setext underline. Escaped at the start only ("1\\." for "1.").
_MD_BULLET = re.compile(r"^(\s*)([-+=])")
_MD_NUMBER = re.compile(r"^(\s*\d+)([.)])")


def without_links(text: str) -> str:
    """`text` with images and HTML tags dropped and every link reduced to its words:
    a public page that shows it fetches nothing and sends no reader anywhere."""
    text = _MD_IMAGE.sub("", shown(text, lines=False))
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = _HTML_TAG.sub("", text)
    text = _LINKISH.sub(LINK_REMOVED, text)
    return " ".join(text.split())


def markdown_text(text: str) -> str:
    """`text` as one line of Markdown that renders as exactly these characters: no
    emphasis, code, link, image, HTML or entity, and no heading, quote or list."""
    # A quote's ">" is an entity by then, so only bullets and numbers need the start rule.
    one = " ".join(shown(text, lines=False).split())
    one = _MD_INLINE.sub(r"\\\1", one).translate(_HTML_ENTITIES)
    return _MD_NUMBER.sub(r"\1\\\2", _MD_BULLET.sub(r"\1\\\2", one))
