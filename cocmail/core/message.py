"""Raw bytes -> an immutable ParsedMessage, decoded once, never raising on bad mail.

mail-parser does the MIME walk (text and HTML parts, attachments, defects); headers are
decoded here from its underlying `email.message.Message` so that encoded-words, bad
charsets and 8-bit bytes become text, never exceptions. Anything that still fails
raises `MessageError`, which the pipeline turns into a quarantine entry with the reason.

Raw 8-bit header bytes (RFC 6532 mail, or old clients that never encoded) are read as
UTF-8, else in the charset the body declares, else as Windows-1252, so staff see
"Belästigung", not "Bel��stigung"; body parts are read as core/charsets.py says.
mail-parser's own logger is silenced in cocmail/__init__.py (logging is the shell's).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.utils import parsedate_to_datetime

import mailparser

from .bb10 import bb10_split
from .calendar_text import calendar_text
from .charsets import decode_text, html_charset
from .errors import MessageError
from .header_limits import (
    MAX_FIELD_BYTES,
    MAX_MIME_CHECKS,
    MAX_MIME_PARTS,
    bound_header_block,
    header_end,
    mime_cost,
)
from .header_text import (
    addresses,
    charset_hint,
    decode,
    from_8bit,
    lenient_from,
    message_ids,
    raw_headers,
)
from .model import ParsedMessage

# Long bodies are cut for the parts cocmail reads (commands, notes, relays);
# the raw message itself is always kept whole.
MAX_TEXT_CHARS = 200_000
# HTML converted to text is cut to this first (see html_to_text).
MAX_HTML_CHARS = 128 * 1024
# MIME containers nested deeper than this are not read for text (no client nests so deep;
# the email package itself recurses per level).
MAX_MIME_DEPTH = 100
# Characters of each From/Date/Subject quoted above an attached message's text: a real one
# fits many times over; a crafted one cannot push the report's own words out of sight.
ATTACHED_HEADER_CHARS = 500
# The line that opens each attached or forwarded message in `ParsedMessage.attached_text`.
ATTACHED_MARKER = "---------- Attached message (not written by the sender) ----------"



# MessageError (core/errors.py): the message could not be parsed at all, the text says
# why. Raised here, imported from here by callers that only parse.


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def html_to_text(html: str) -> str:
    """HTML as text for reading and command parsing; only the first MAX_HTML_CHARS.

    html2text reads 150-500 KB a second (nested tags are the slow end): an uncut 20 MB
    HTML body would hold the inbox for a minute. Commands and the new text sit at the top, and the
    raw message is kept whole for anything below the cut.
    """
    import html2text  # lazy: only HTML-only mail needs it

    if len(html) > MAX_HTML_CHARS:
        cut = html.rfind("<", 0, MAX_HTML_CHARS)
        html = html[:cut if cut > 0 else MAX_HTML_CHARS]

    def convert(part: str) -> str:
        h = html2text.HTML2Text()
        h.body_width = 0
        h.ignore_images = True
        h.ignore_emphasis = True
        h.single_line_break = True  # each <div>/<br> line of a staff reply stays one line
        h.unicode_snob = True  # &uuml; stays ü, not "u": every accent and letter as written
        return h.handle(part)

    bb10 = bb10_split(html)  # BlackBerry 10: the original below is not marked as a quote
    if bb10 is None:
        return convert(html)
    own, below = bb10
    quoted = "\n".join(f"> {line}".rstrip() for line in convert(below).splitlines())
    return f"{convert(own).rstrip()}\n\n{quoted}\n"


@dataclass(frozen=True)
class Body:
    """A message's text split by whose it is: `own` is what the sender wrote (commands,
    note, `#reply` text); `attached` is every attached or forwarded message, marked, for
    staff to read and never to run."""

    own: str
    attached: str


def own_and_attached(msg: Message, raw: bytes = b"") -> Body:
    """The sender's own top-level text, and the text of the messages attached to it.

    Own text is the first text/plain part found walking the multipart containers
    (alternative, related, mixed, signed...), else (or when that one is blank) the first
    text/html part converted.
    The walk never enters a message/* part nor any part with `Content-Disposition:
    attachment` or a filename: what an attached or forwarded mail says (its `#commands`
    included) was written by someone else, and a staff member forwarding it must not
    run it as theirs. Attached messages are rendered one after another into `attached`,
    each under a marker line with its From, Date and Subject. The walk is iterative and
    visits each part once; nesting deeper than MAX_MIME_DEPTH is not read.
    """
    plain, html, attached = _walk(msg, 0, [MAX_TEXT_CHARS, MAX_REPAIRS], raw)
    if not (plain or "").strip():
        if (html or "").strip():
            plain = None  # an empty text/plain beside a written HTML part: the HTML is it
        else:
            plain = _inline_named_text(msg) or plain  # a report sent as report.txt, inline
    own = plain if plain is not None else (html_to_text(html) if html is not None else "")
    if not own.strip():  # an invitation alone: its title, time, place and description
        attached = [text for text in (_calendar(msg),) if text] + attached
    return Body(_clip(own), _clip("\n\n".join(attached)))


def _calendar(msg: Message) -> str:
    """The first text/calendar part outside attached mail and files, as lines to read."""
    stack = [msg]
    while stack:
        part = stack.pop()
        if part is not msg and content_type(part).startswith("message/"):
            continue
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(c for c in reversed(children) if isinstance(c, Message))
        elif content_type(part) == "text/calendar" and not _is_attached(part):
            return calendar_text(part_text(part))
    return ""


def _inline_named_text(msg: Message) -> str | None:
    """The first text/plain part shown inline but carrying a filename, outside any
    attached message: a mail whose only text is such a part (phones and some webmail
    send a pasted or dictated report so) has that text as its own. It is still listed
    among the attachments."""
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(c for c in reversed(children) if isinstance(c, Message)
                             and not content_type(c).startswith("message/"))
        elif (content_type(part) == "text/plain" and _is_attached(part)
              and (part.get_content_disposition() or "inline") == "inline"):
            return part_text(part)
    return None


def _clip(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")[:MAX_TEXT_CHARS]


def _is_attached(part: Message) -> bool:
    """A part the sender attached as a file rather than wrote: named, or disposition
    attachment (a name in Content-Type counts as a filename too: old clients)."""
    if (part.get_content_disposition() or "") == "attachment":
        return True
    return bool(part.get_param("filename", header="content-disposition")
                or part.get_param("name", header="content-type"))


def _walk(root: Message, depth: int, budget: list[int], raw: bytes = b""
          ) -> tuple[str | None, str | None, list[str]]:
    """(first own text/plain, first own text/html, attached messages rendered).

    `budget` (shared by the whole walk) counts down the characters read for attached
    messages, source HTML included: the attached text is cut to MAX_TEXT_CHARS anyway,
    so once it is spent no more attached messages are decoded or converted. Its second
    number counts down the multipart bodies re-split (MAX_REPAIRS in the whole mail).
    """
    plain: str | None = None
    html: str | None = None
    attached: list[str] = []
    stack: list[tuple[Message, int]] = [(root, depth)]
    while stack:
        part, level = stack.pop()
        ctype = content_type(part)
        if part is not root and ctype.startswith("message/"):
            _attach_message(part, level, attached, budget, raw)
            continue
        if _is_attached(part):
            continue
        if ctype.startswith("multipart/") and not part.is_multipart():
            # No boundary, or one its delimiter lines do not use: the email package
            # keeps the body as one string, and the report's text would be lost.
            repaired = (_reparsed(part, raw) if budget[1] > 0 and level < MAX_MIME_DEPTH
                        else None)
            budget[1] -= 1
            if repaired is not None:
                stack.append((repaired, level + 1))
            elif plain is None:  # no delimiter at all: the body is the text
                plain = part_text(part) if part is not root or not raw else _raw_body(raw)
            continue
        if part.is_multipart():
            if level < MAX_MIME_DEPTH:
                children = part.get_payload()
                if isinstance(children, list):
                    stack.extend((c, level + 1) for c in reversed(children)
                                 if isinstance(c, Message))
            continue
        if ctype == "text/plain" and plain is None:
            plain = part_text(part)
        elif ctype == "text/html" and html is None:
            html = part_text(part)
    return plain, html, attached


def _reparsed(part: Message, raw: bytes) -> Message | None:
    """A multipart body the email package could not split, split at the delimiter its
    lines do use (`--xyz` where the header said boundary "abc"); None when it has none.
    The parts are cut from the raw mail when it is there: the email package has already
    turned the 8-bit bytes of an unsplit body into replacement characters."""
    body = part.get_payload()
    if not isinstance(body, str):
        return None
    found = _DELIMITER.search(body[:MAX_FIELD_BYTES])
    if found is None:
        return None
    delimiter = b"--" + found.group(1).encode()
    start = raw.find(delimiter)
    if start >= 0:
        end = raw.find(delimiter + b"--", start)
        data = raw[start:end + len(delimiter) + 2 if end >= 0 else len(raw)]
    else:
        data = body.encode("utf-8", "surrogateescape")
    if len(data) > MAX_REPAIR_BYTES or data.count(b"\n" + delimiter) >= MAX_REPAIR_PARTS:
        return None  # the MIME caps were counted on the declared boundaries only
    head = f'Content-Type: {content_type(part)}; boundary="{found.group(1)}"\r\n\r\n'
    try:
        return message_from_bytes(head.encode() + data)
    except Exception:  # noqa: BLE001 - a body that will not parse stays unsplit
        return None


def _raw_body(raw: bytes) -> str:
    """The whole mail's body as text, from its bytes (see _reparsed)."""
    body = raw[header_end(raw):].lstrip(b"\r\n")[:4 * MAX_TEXT_CHARS]
    return decode_text(body, None)


MAX_REPAIRS = 3  # multipart bodies re-split per mail: each costs a parse of its body
MAX_REPAIR_BYTES = 4 * 1024 * 1024  # ... of at most this size
MAX_REPAIR_PARTS = 100  # ... into at most this many parts
_DELIMITER = re.compile(r"^--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*\r?$", re.MULTILINE)


def _attach_message(part: Message, level: int, out: list[str], budget: list[int],
                    raw: bytes = b"") -> None:
    """Render an attached/forwarded message (message/rfc822 and kin) for staff to read."""
    if budget[0] <= 0 or level >= MAX_MIME_DEPTH:
        return
    inner = part.get_payload()
    inner = inner[0] if isinstance(inner, list) and inner else inner
    if not isinstance(inner, Message):
        return
    plain, html, nested = _walk(inner, level + 1, budget, raw)
    budget[0] -= len(plain or html or "")
    text = plain if plain is not None else (html_to_text(html) if html is not None else "")
    head = [ATTACHED_MARKER]
    for name in ("From", "Date", "Subject"):
        values = raw_headers(inner, name)
        if values:
            head.append(f"{name}: {decode(values[0])[:ATTACHED_HEADER_CHARS]}")
    rendered = "\n".join(head) + "\n\n" + _clip(text).strip()
    budget[0] -= len(rendered)
    out.append(rendered)
    out.extend(nested)


def _file_text(msg: Message, attachments: list[tuple[str, str, int]]) -> str:
    """Every attachment's file name (a PDF may be called "About Ben Okafor.pdf"), then
    the text files' text."""
    try:
        files = file_text(msg)
    except Exception:  # noqa: BLE001 - only the names then; the mail is read as before
        files = ""
    return "\n".join([*(name for name, _, _ in attachments), files]).strip()


def file_text(msg: Message) -> str:
    """The text of the text files attached to `msg` (not inside an attached message: that
    is `attached_text`), each under its file name, cut to MAX_TEXT_CHARS in all. A report
    may be a statement.txt naming a team member; a PDF or a picture is not read."""
    out: list[str] = []
    left = MAX_TEXT_CHARS
    for part in msg.walk():
        if left <= 0:
            break
        if part.is_multipart() or not part.get_content_type().startswith("text/") \
                or not _is_attached(part):
            continue
        text = part_text(part)
        if part.get_content_type() == "text/html":
            text = html_to_text(text)
        name = part.get_filename() or ""
        out.append(f"{name}\n{text[:left]}")
        left -= len(out[-1])
    return "\n\n".join(out)


def content_type(part: Message) -> str:
    """The part's type/subtype. The email package keeps a Content-Type with no `;` before
    its parameters ("text/plain charset=utf-8") whole as the type, so a part that is
    plain text would be read as no text at all; the type is its first token here."""
    ctype = part.get_content_type()
    found = _CONTENT_TYPE.match(ctype)
    return found.group(0) if found else ctype


def _bare_charset(part: Message) -> str | None:
    """A charset named in a Content-Type the parameter parser could not split."""
    found = _BARE_CHARSET.search(str(part.get("Content-Type", ""))[:_MAX_CTYPE])
    return found.group(1) if found else None


_MAX_CTYPE = 1000
_BARE_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.IGNORECASE)
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,64}")


def part_text(part: Message) -> str:
    """One leaf part's text in its declared charset, read leniently (core/charsets.py);
    an HTML part without one may say it in a <meta> tag. Never raises."""
    payload = _payload(part)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_param("charset")
    charset = charset if isinstance(charset, str) else _bare_charset(part)
    if charset is None and content_type(part) == "text/html":
        charset = html_charset(payload)
    # Text is cut to MAX_TEXT_CHARS (HTML to MAX_HTML_CHARS) anyway; no character takes
    # more than 4 bytes, so the rest of a 25 MB part need not be decoded at all.
    return decode_text(payload[:4 * MAX_TEXT_CHARS], charset)


def _payload(part: Message) -> bytes | None:
    """A leaf part's bytes. Base64 the email package cannot decode (a line cut short: it
    hands the base64 itself back) is decoded from what is left of it; a part labelled
    base64 that is plain prose (spaces, punctuation) is that prose, not the random bytes
    "decoding" it gives."""
    payload = part.get_payload(decode=True)
    kinds = {type(d).__name__ for d in part.defects}
    if not isinstance(payload, bytes) or not kinds & _BAD_BASE64:
        return payload
    raw = part.get_payload(decode=False)
    if not isinstance(raw, str):
        return payload
    data = raw[:4 * MAX_TEXT_CHARS * 2].encode("utf-8", "surrogateescape")
    prose = len(_NOT_BASE64.findall(data)) * 20 > len(data)
    if "InvalidBase64LengthDefect" not in kinds:  # decoded, skipping stray characters
        garbage = len(_CONTROL.findall(payload[:4096])) * 20 > min(len(payload), 4096)
        return data if prose and garbage else payload
    if prose:
        return data
    clean = _NON_ALPHABET.sub(b"", data)
    clean = clean[:len(clean) - 1] if len(clean) % 4 == 1 else clean
    try:
        return base64.b64decode(clean + b"=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return payload


_BAD_BASE64 = frozenset({"InvalidBase64CharactersDefect", "InvalidBase64LengthDefect"})
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=\r\n]")
_NON_ALPHABET = re.compile(rb"[^A-Za-z0-9+/]")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # no text holds many of these


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse `raw`; raises MessageError only when nothing usable can be read."""
    if not raw or not raw.strip():
        raise MessageError("empty message")
    parts, checks = mime_cost(raw)
    if parts > MAX_MIME_PARTS:
        raise MessageError(f"{parts} MIME parts, over the cap of {MAX_MIME_PARTS}")
    if checks > MAX_MIME_CHECKS:
        raise MessageError(f"MIME nesting too deep for its size ({checks} boundary checks,"
                           f" over the cap of {MAX_MIME_CHECKS})")
    size = len(raw)
    sha = sha256_hex(raw)
    raw, budget_defects = bound_header_block(raw)
    try:
        mp = mailparser.parse_from_bytes(raw)
        msg = mp.message
    except Exception as e:  # noqa: BLE001 - any parser failure is the message's fault
        raise MessageError(f"unparseable MIME: {type(e).__name__}: {e}") from None

    headers: dict[str, list[str]] = {}
    items = list(msg.raw_items())
    hint = charset_hint(msg) if any(not str(v).isascii() for _, v in items) else None
    for key, value in items:
        headers.setdefault(key.lower(), []).append(decode(from_8bit(str(value), hint)))
    raw_from = raw_headers(msg, "From", hint)
    from_ = lenient_from(raw_from)

    mid_values = message_ids(" ".join(headers.get("message-id", [])))
    message_id = mid_values[0] if mid_values else None

    date = None
    if headers.get("date"):
        try:
            date = parsedate_to_datetime(headers["date"][0])
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None

    try:
        body = own_and_attached(msg, raw)
    except Exception as e:  # noqa: BLE001
        raise MessageError(f"undecodable body: {type(e).__name__}: {e}") from None

    attachments = []
    for att in mp.attachments or []:
        attachments.append((decode(att.get("filename") or "attachment"),
                            att.get("mail_content_type") or "application/octet-stream",
                            _attachment_size(att)))
    attachments += _unnamed_parts(msg)
    defects = budget_defects + _defects(mp)
    if any(len(addresses([v])) != 1 for v in raw_from):
        defects += ("From header without exactly one mailbox",)
    if msg.defects:
        defects += tuple(type(d).__name__ for d in msg.defects)

    return ParsedMessage(
        raw_sha256=sha,
        message_id=message_id,
        from_=from_,
        from_header_count=len(raw_from),
        to=addresses(raw_headers(msg, "To")),
        cc=addresses(raw_headers(msg, "Cc")),
        subject=headers.get("subject", [""])[0],
        date=date,
        in_reply_to=message_ids(" ".join(headers.get("in-reply-to", []))),
        references=message_ids(" ".join(headers.get("references", []))),
        headers={k: tuple(v) for k, v in headers.items()},
        text=body.own,
        attached_text=body.attached,
        file_text=_file_text(msg, attachments),
        content_type=content_type(msg),
        part_types=_child_types(msg),
        attachments=tuple(attachments),
        defects=defects,
        size=size,
    )


def _unnamed_parts(msg: Message, limit: int = MAX_MIME_PARTS) -> list[tuple[str, str, int]]:
    """Parts that are neither the text nor a file mail-parser lists: a picture or an
    invitation sent with no file name (a phone's screenshot alone, a text/calendar-only
    invite). Staff must see that something came, so each is listed as "(no name)".
    Attached messages are not entered (their parts are someone else's mail)."""
    found: list[tuple[str, str, int]] = []
    stack = [msg]
    while stack and limit > 0:
        part = stack.pop()
        limit -= 1
        ctype = content_type(part)
        if part is not msg and ctype.startswith("message/"):
            continue  # an attached mail: someone else's parts
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list) and part.get_content_disposition() != "attachment":
                stack.extend(c for c in reversed(children) if isinstance(c, Message))
            continue
        if (ctype in ("text/plain", "text/html", "message/rfc822", "text/rfc822-headers")
                or ctype.startswith("multipart/")  # a body that would not split: the text
                or part.get_filename() or part.get("Content-ID")
                or part.get_content_disposition() == "attachment"
                or part.get_content_subtype() == "rtf"):
            continue  # the text, an attached mail, or a file mail-parser lists itself
        payload = part.get_payload(decode=True)
        found.append(("(no name)", ctype, len(payload) if isinstance(payload, bytes) else 0))
    return found


def _child_types(msg: Message, limit: int = 50) -> tuple[str, ...]:
    """The content types of the top-level part's children (the first `limit`)."""
    children = msg.get_payload() if msg.is_multipart() else None
    if not isinstance(children, list):
        return ()
    return tuple(content_type(c) for c in children[:limit] if isinstance(c, Message))


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


# The first Message-ID field at the start of a line, with at most a few folded lines:
# a crafted field folded over 200,000 lines took seconds to glue back together.
_MESSAGE_ID_FIELD = re.compile(rb"^message-id[ \t]*:([^\n]{0,1000}(?:\n[ \t][^\n]{0,1000}){0,8})",
                               re.IGNORECASE | re.MULTILINE)


def quick_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block without a full parse (for de-duplication keys).

    One regex over the header block, linear in its size whatever the folding.
    """
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    found = _MESSAGE_ID_FIELD.search(head)
    if found is None:
        return None
    ids = message_ids(found.group(1).decode("utf-8", "replace").replace("\r", ""))
    return ids[0] if ids else None
