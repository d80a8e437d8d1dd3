"""Raw bytes -> an immutable ParsedMessage, decoded once, never raising on bad mail.

mail-parser does the MIME walk (text and HTML parts, attachments, defects); headers are
decoded here from its underlying `email.message.Message` so that encoded-words, bad
charsets and 8-bit bytes become text, never exceptions. Anything that still fails
raises `MessageError`, which the pipeline turns into a quarantine entry with the reason.
"""

from __future__ import annotations

import hashlib
import re
from email.header import decode_header, make_header
from email.utils import getaddresses, parsedate_to_datetime

import mailparser

from .model import Address, ParsedMessage

_MSGID = re.compile(r"<([^<>\s]+)>")
_CRLF = re.compile(r"[\r\n\t]+")
# Long bodies are cut for the parts cocmail reads (commands, notes, relays);
# the raw message itself is always kept whole.
MAX_TEXT_CHARS = 200_000


class MessageError(Exception):
    """The message could not be parsed at all; the text says why."""


def decode(value: object) -> str:
    """Decode one header value (RFC 2047 words, bad charsets) to a single-line str."""
    if value is None:
        return ""
    text = str(value)
    try:
        text = str(make_header(decode_header(text)))
    except Exception:  # noqa: BLE001 - undecodable words stay as they came
        pass
    return _CRLF.sub(" ", text).strip()


def _addresses(values: list[str]) -> tuple[Address, ...]:
    out = []
    for name, email in getaddresses([decode(v) for v in values]):
        if email and "@" in email:
            out.append(Address(_CRLF.sub(" ", name).strip(), email))
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
    for key, value in msg.items():
        headers.setdefault(key.lower(), []).append(decode(value))
    raw_from = msg.get_all("From") or []
    from_ = _addresses(raw_from)

    mid_values = message_ids(" ".join(decode(v) for v in msg.get_all("Message-ID") or []))
    message_id = mid_values[0] if mid_values else None

    date = None
    if msg.get("Date"):
        try:
            date = parsedate_to_datetime(str(msg.get("Date")))
        except (TypeError, ValueError, IndexError):
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
        payload = att.get("payload") or ""
        attachments.append((decode(att.get("filename") or "attachment"),
                            att.get("mail_content_type") or "application/octet-stream",
                            len(payload)))
    defects = tuple(str(d) for d in (mp.defects_categories or []))
    if any(len(_addresses([v])) != 1 for v in raw_from):
        defects += ("From header without exactly one mailbox",)
    if msg.defects:
        defects += tuple(type(d).__name__ for d in msg.defects)

    return ParsedMessage(
        raw_sha256=sha256_hex(raw),
        message_id=message_id,
        from_=from_,
        from_header_count=len(raw_from),
        to=_addresses(msg.get_all("To") or []),
        cc=_addresses(msg.get_all("Cc") or []),
        subject=decode(msg.get("Subject")),
        date=date,
        in_reply_to=message_ids(" ".join(decode(v) for v in msg.get_all("In-Reply-To") or [])),
        references=message_ids(" ".join(decode(v) for v in msg.get_all("References") or [])),
        headers={k: tuple(v) for k, v in headers.items()},
        text=text,
        content_type=msg.get_content_type(),
        attachments=tuple(attachments),
        defects=defects,
        size=len(raw),
    )


def body_sha256(raw: bytes) -> str:
    """Hash of the body alone: a re-delivered copy differs in headers (Received…), not here."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(sep)
        if found:
            return sha256_hex(body)
    return sha256_hex(b"")
