"""Header values as people wrote them: encoded words decoded (folded ones glued back,
nesting bounded), raw 8-bit bytes read in the mail's own charset, and a From read
leniently for the reporter (one address is the sender whatever its name holds).
"""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from .charsets import decode_8bit, decode_text
from .model import Address

_MSGID = re.compile(r"<([^<>\s]+)>")
_CRLF = re.compile(r"[\r\n\t]+")
# An encoded-word still in a value after decoding: `=?charset?q|b?`.
_ENCODED_WORD_START = re.compile(r"=\?(?=[^?\s]*\?[qQbB]\?)")
MAX_DECODE_ROUNDS = 8  # each round shortens the text; nesting deeper than this is hostile
# An encoded-word a client folded in the middle (`=?utf-8?B?w6kg\r\n w6k=?=`): no word may
# hold white space, so what is inside one is glued back before decoding.
_ONLY_WORDS = re.compile(r"(?:=\?[^?\s]{1,40}\?[bBqQ]\?[^?\s]{0,998}\?=\s*){1,20}")
_FOLDED_WORD = re.compile(r"=\?[^?\s]{1,40}\?[bBqQ]\?[^?]*\?=")
# The one <addr-spec> of a From the address parser gave up on (a name with a stray
# parenthesis or quote after 8-bit bytes were read): the reporter's address is still there.
_ANGLE_ADDR = re.compile(r"<\s*([^<>\s@\\\"(),;:]{1,200}@[^<>\s@\\\"(),;:]{1,255})\s*>")

def decode(value: object) -> str:
    """Decode one header value (RFC 2047 words, bad charsets) to a single-line str.

    Line breaks (CR/LF inside encoded-words included) become spaces: a decoded value may
    end up in a header cocmail writes, and must never be able to start a new one. For the
    same reason the result never holds an encoded-word: a name that decodes to another
    encoded-word (`=?utf-8?b?PT91dGYtOD9xP0V2ZT0wRD0wQUJjYz...?=`) is decoded again, and
    the email package, which decodes words once more when a header is written, would
    otherwise turn the CR/LF inside into a real line break (a Bcc header, a fake body).
    """
    if value is None:
        return ""
    text = _FOLDED_WORD.sub(_glue_word, str(value))
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = _decode_words(text)
        if decoded == text:
            break
        text = decoded
    text = _CRLF.sub(" ", text).strip()
    return _ENCODED_WORD_START.sub("= ?", text)  # what is left can never be read as a word


def _glue_word(match: re.Match[str]) -> str:
    word = match.group(0)
    return "".join(word.split()) if any(ch.isspace() for ch in word) else word


def _decode_words(text: str) -> str:
    """One round of RFC 2047 decoding; words in unknown charsets are guessed, not kept."""
    try:
        chunks = decode_header(text)
    except Exception:  # noqa: BLE001 - a value the decoder chokes on stays as it came
        chunks = [(text, None)]
    if len(chunks) == 1 and isinstance(chunks[0][0], str):
        return chunks[0][0]  # no encoded word at all
    try:
        # Chunks joined as they stand: make_header puts a space between text and a word
        # glued to it ("Caf=?utf-8?q?=C3=A9?=" read "Caf é", a quoted name '" José "').
        return "".join(str(make_header([chunk])) for chunk in chunks)
    except Exception:  # noqa: BLE001 - unknown charset or bytes that do not fit it
        return "".join(_chunk_text(chunk, charset) for chunk, charset in chunks)


def _chunk_text(chunk: bytes | str, charset: str | None) -> str:
    """One decoded-word chunk as text, guessing like `from_8bit` when its charset fails."""
    if isinstance(chunk, str):
        return chunk
    if charset is None:  # unencoded text between words: decode_header's own encoding
        return chunk.decode("raw-unicode-escape", "replace")
    return decode_text(chunk, charset)  # its charset read leniently (core/charsets.py)


def from_8bit(value: str, hint: str | None = None) -> str:
    """Recover raw 8-bit header bytes (kept as surrogate escapes by the parser) as text.

    UTF-8 first (RFC 6532), then `hint` (the charset the body declares: the same client
    wrote both, so a GBK name comes with a GBK body), then Windows-1252, the usual charset
    of unencoded legacy mail; a value that was plain ASCII comes back unchanged.
    """
    if value.isascii() and "\x1b" not in value:
        return value
    return decode_8bit(value.encode("utf-8", "surrogateescape"), hint)


def raw_headers(msg: Message, name: str, hint: str | None = None) -> list[str]:
    """Every value of header `name`, top first, with 8-bit bytes recovered as text.

    `msg.get_all` would hand back `Header` objects for 8-bit values whose bytes are
    already lost to replacement characters; `raw_items` keeps them.
    """
    wanted = name.lower()
    return [from_8bit(str(v), hint) for k, v in msg.raw_items() if k.lower() == wanted]


def charset_hint(msg: Message, limit: int = 50) -> str | None:
    """The first charset a part of `msg` declares (among its first `limit` parts)."""
    for n, part in enumerate(msg.walk()):
        if n >= limit:
            break
        charset = part.get_param("charset")
        if isinstance(charset, str) and charset.strip():
            return charset
    return None


def lenient_from(values: list[str]) -> tuple[Address, ...]:
    """The From mailboxes, with the one <address> of a value the parser could not read.

    Only for the reporter's side: the value stays a defect ("From header without exactly
    one mailbox"), so identity never takes it as a staff member's address.
    """
    out: list[Address] = []
    for value in values:
        strict = addresses([value])
        if len(strict) == 1 and _ONLY_WORDS.fullmatch(value.strip()):
            strict = _whole_encoded(value, strict[0])
        if strict:
            out.extend(strict)
            continue
        found = list(_ANGLE_ADDR.finditer(value))
        if len({m.group(1).lower() for m in found}) == 1:
            name = decode(value[:found[0].start()]).strip().strip('"').strip()
            out.append(Address(name, found[0].group(1)))
    return tuple(out)


def _whole_encoded(value: str, strict: Address) -> tuple[Address, ...]:
    """A From encoded whole, address and all (`=?utf-8?q?Eve_<eve@x.example>?=`): the
    parser finds the address but keeps "=?utf-8?q?Eve_" as the name; the name is read
    from the decoded value when that holds the same one address."""
    inner = [(n, e) for n, e in getaddresses([decode(value)]) if "@" in e]
    if len(inner) == 1 and inner[0][1].lower() == strict.email.lower():
        return (Address(inner[0][0].strip(), strict.email),)
    return (Address("", strict.email),)


def addresses(values: list[str]) -> tuple[Address, ...]:
    out = []
    # Split the list first, decode each name after: an encoded "Müller, Jürgen" holds a
    # comma that must not split one mailbox into two.
    raw = [v if isinstance(v, str) else decode(v) for v in values]
    for name, email in getaddresses(raw):
        if email and "@" in email:
            out.append(Address(_CRLF.sub(" ", decode(name)).strip(), email))
    return tuple(out)


def message_ids(value: str) -> tuple[str, ...]:
    """All `<id>` tokens of a Message-ID / In-Reply-To / References value, without brackets."""
    return tuple(_MSGID.findall(value or ""))
