"""Raw bytes -> an immutable ParsedMessage, decoded once, never raising on bad mail.

mail-parser does the MIME walk (text and HTML parts, attachments, defects); headers are
decoded here from its underlying `email.message.Message` so that encoded-words, bad
charsets and 8-bit bytes become text, never exceptions. Anything that still fails
raises `MessageError`, which the pipeline turns into a quarantine entry with the reason.

Raw 8-bit header bytes (RFC 6532 mail, or old clients that never encoded) are read as
UTF-8 and, failing that, as Windows-1252, so staff see "Belästigung", not "Bel��stigung".
mail-parser's own logger is silenced: it logs header values it cannot decode (addresses,
subjects) and attachment names, and cocmail's logs must never carry those.
"""

from __future__ import annotations

import hashlib
import logging
import re
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

import mailparser

from .model import Address, ParsedMessage

_MSGID = re.compile(r"<([^<>\s]+)>")
_CRLF = re.compile(r"[\r\n\t]+")
# An encoded-word still in a value after decoding: `=?charset?q|b?`.
_ENCODED_WORD_START = re.compile(r"=\?(?=[^?\s]*\?[qQbB]\?)")
MAX_DECODE_ROUNDS = 8  # each round shortens the text; nesting deeper than this is hostile
# Long bodies are cut for the parts cocmail reads (commands, notes, relays);
# the raw message itself is always kept whole.
MAX_TEXT_CHARS = 200_000

# mail-parser logs undecodable header values at ERROR level, addresses included.
logging.getLogger("mailparser").setLevel(logging.CRITICAL + 1)


class MessageError(Exception):
    """The message could not be parsed at all; the text says why."""


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
    text = str(value)
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = _decode_words(text)
        if decoded == text:
            break
        text = decoded
    text = _CRLF.sub(" ", text).strip()
    return _ENCODED_WORD_START.sub("= ?", text)  # what is left can never be read as a word


def _decode_words(text: str) -> str:
    """One round of RFC 2047 decoding; words in unknown charsets are guessed, not kept."""
    try:
        chunks = decode_header(text)
    except Exception:  # noqa: BLE001 - a value the decoder chokes on stays as it came
        chunks = [(text, None)]
    try:
        return str(make_header(chunks))
    except Exception:  # noqa: BLE001 - unknown charset or bytes that do not fit it
        return "".join(_chunk_text(chunk, charset) for chunk, charset in chunks)


def _chunk_text(chunk: bytes | str, charset: str | None) -> str:
    """One decoded-word chunk as text, guessing like `from_8bit` when its charset fails."""
    if isinstance(chunk, str):
        return chunk
    if charset is None:  # unencoded text between words: decode_header's own encoding
        return chunk.decode("raw-unicode-escape", "replace")
    try:
        return chunk.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return from_8bit(chunk.decode("ascii", "surrogateescape"))


def from_8bit(value: str) -> str:
    """Recover raw 8-bit header bytes (kept as surrogate escapes by the parser) as text.

    UTF-8 first (RFC 6532), then Windows-1252, the usual charset of unencoded legacy mail;
    a value that was plain ASCII comes back unchanged.
    """
    if value.isascii():
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every value of header `name`, top first, with 8-bit bytes recovered as text.

    `msg.get_all` would hand back `Header` objects for 8-bit values whose bytes are
    already lost to replacement characters; `raw_items` keeps them.
    """
    wanted = name.lower()
    return [from_8bit(str(v)) for k, v in msg.raw_items() if k.lower() == wanted]


def _addresses(values: list[str]) -> tuple[Address, ...]:
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


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def html_to_text(html: str) -> str:
    import html2text  # lazy: only HTML-only mail needs it

    h = html2text.HTML2Text()
    h.body_width = 0
    h.ignore_images = True
    h.ignore_emphasis = True
    h.single_line_break = True  # each <div>/<br> line of a staff reply stays one line
    return h.handle(html)


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse `raw`; raises MessageError only when nothing usable can be read."""
    if not raw or not raw.strip():
        raise MessageError("empty message")
    try:
        mp = mailparser.parse_from_bytes(raw)
        msg = mp.message
    except Exception as e:  # noqa: BLE001 - any parser failure is the message's fault
        raise MessageError(f"unparseable MIME: {type(e).__name__}: {e}") from None

    headers: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        headers.setdefault(key.lower(), []).append(decode(from_8bit(str(value))))
    raw_from = raw_headers(msg, "From")
    from_ = _addresses(raw_from)

    mid_values = message_ids(" ".join(headers.get("message-id", [])))
    message_id = mid_values[0] if mid_values else None

    date = None
    if headers.get("date"):
        try:
            date = parsedate_to_datetime(headers["date"][0])
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None

    text = ""
    try:
        plain = mp.text_plain
        if plain:
            text = "\n".join(plain)
        elif mp.text_html:
            text = html_to_text("\n".join(mp.text_html))
    except Exception as e:  # noqa: BLE001
        raise MessageError(f"undecodable body: {type(e).__name__}: {e}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:MAX_TEXT_CHARS]

    attachments = []
    for att in mp.attachments or []:
        attachments.append((decode(att.get("filename") or "attachment"),
                            att.get("mail_content_type") or "application/octet-stream",
                            _attachment_size(att)))
    defects = _defects(mp)
    if any(len(_addresses([v])) != 1 for v in raw_from):
        defects += ("From header without exactly one mailbox",)
    if msg.defects:
        defects += tuple(type(d).__name__ for d in msg.defects)

    return ParsedMessage(
        raw_sha256=sha256_hex(raw),
        message_id=message_id,
        from_=from_,
        from_header_count=len(raw_from),
        to=_addresses(raw_headers(msg, "To")),
        cc=_addresses(raw_headers(msg, "Cc")),
        subject=headers.get("subject", [""])[0],
        date=date,
        in_reply_to=message_ids(" ".join(headers.get("in-reply-to", []))),
        references=message_ids(" ".join(headers.get("references", []))),
        headers={k: tuple(v) for k, v in headers.items()},
        text=text,
        content_type=msg.get_content_type(),
        attachments=tuple(attachments),
        defects=defects,
        size=len(raw),
    )


def _defects(mp: mailparser.MailParser) -> tuple[str, ...]:
    """Defect categories, but address defects with the header they are in.

    "AddressHeaderDefect: to[0]: unclosed-delimiter" instead of a bare category, so that a
    broken To or Cc line does not make the From header (and with it the sender, and the
    reporter's acknowledgement) look untrustworthy.
    """
    detailed: list[str] = []
    for entry in mp.defects or []:
        for kind, items in entry.items():
            if kind == "address-headers":
                detailed.extend(str(item) for item in items)
    categories = [str(c) for c in sorted(mp.defects_categories or [])
                  if not (detailed and c == "AddressHeaderDefect")]
    return tuple(detailed + categories)


def _attachment_size(att: dict) -> int:
    """Bytes of the attachment itself. mail-parser hands binary parts back as base64
    text, a third larger than the file: staff should read "30 MB video", not "40 MB"."""
    payload = att.get("payload") or ""
    if att.get("binary"):
        compact = "".join(str(payload).split())
        return len(compact) * 3 // 4 - compact[-2:].count("=")
    if isinstance(payload, str):
        return len(payload.encode("utf-8", "surrogateescape"))
    return len(payload)


def body_sha256(raw: bytes) -> str:
    """Hash of the body alone: a re-delivered copy differs in headers (Received…), not here."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(sep)
        if found:
            return sha256_hex(body)
    return sha256_hex(b"")
