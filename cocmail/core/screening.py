"""Which inbound mail must never get an automatic answer, and which mail is a bounce.

cocmail answers reports with acknowledgements and staff mail with transcripts. Answering a
vacation reply, a mailing list, a bounce or our own mail coming back would start a mail loop
(or spam a list), so every message is screened before anything is sent. Screened mail is
still recorded: a bounce of a case mail is shown to staff on that case, which is why the
cocmail Message-IDs inside a bounce are extracted here too.

Pure functions over a ParsedMessage; nothing here raises on hostile header values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import ParsedMessage

LOOP_HEADER = "X-Cocmail-Loop"  # cocmail puts it on every mail it sends, value = the inbox address

# RFC 3834 says only `no` means "written by a person"; anything else (auto-replied,
# auto-generated, auto-notified, vendor values) is a machine talking.
_PRECEDENCE_AUTOMATIC = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_LIST_HEADERS = ("List-Id", "List-Unsubscribe")
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond")
_DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster"})
# A From value without an `@` (plain "MAILER-DAEMON") is dropped by the address parser,
# so the raw header text is checked as well.
_DAEMON_IN_FROM = re.compile(r"(?<![\w.+-])(mailer-daemon|postmaster)(?![\w.+-])", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
_MAX_VALUE = 998  # RFC 5322 line limit: no honest keyword header is longer
# Bounces quote the original headers (text/rfc822-headers, message/rfc822, or plain text);
# any cocmail Message-ID in there names the case mail that bounced.
_COCMAIL_MSGID = re.compile(
    rb"cocmail\.[A-Za-z0-9][A-Za-z0-9.]{0,80}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,10}",
)


@dataclass(frozen=True)
class Screening:
    """The verdict on one message; `reason` lists every rule that matched, for the audit log."""

    automatic: bool  # must never get an automatic answer (ack, transcript, reply)
    bounce: bool  # a delivery-status notification / mailer-daemon mail
    loop: bool  # carries our own loop header (our mail came back)
    reason: str | None  # human-readable, e.g. "Auto-Submitted: auto-replied", "List-Id present"


def screen(msg: ParsedMessage, inbox_address: str) -> Screening:
    """Apply the mail-hygiene rules of mail.md to `msg`.

    `loop` is only our own loop header (value = our inbox address); another cocmail
    installation's loop header still makes the mail automatic, so two CoC inboxes can never
    answer each other forever.
    """
    loop_reasons = _loop_reasons(msg, inbox_address)
    bounce_reasons = _bounce_reasons(msg)
    other_reasons = _automatic_reasons(msg)
    reasons = loop_reasons + bounce_reasons + other_reasons
    return Screening(
        automatic=bool(reasons),
        bounce=bool(bounce_reasons),
        loop=any(r.startswith("our own") for r in loop_reasons),
        reason="; ".join(reasons) if reasons else None,
    )


def bounced_message_ids(raw: bytes) -> tuple[str, ...]:
    """cocmail Message-IDs (without <>) quoted anywhere in a bounce, first seen first.

    A cheap byte scan: DSNs quote the original headers in many shapes (text/rfc822-headers,
    a whole message/rfc822, or prose), and a regex finds the ID in all of them. The IDs
    found are only candidates: the caller verifies their signature before trusting them.
    """
    found: list[str] = []
    for match in _COCMAIL_MSGID.finditer(raw):
        mid = match.group(0).decode("ascii")
        if mid not in found:
            found.append(mid)
    return tuple(found)


def _loop_reasons(msg: ParsedMessage, inbox_address: str) -> list[str]:
    values = msg.header(LOOP_HEADER)
    if not values:
        return []
    inbox = inbox_address.strip().lower()
    if any(_strip_comments(v).strip("<> ").lower() == inbox for v in values):
        return [f"our own {LOOP_HEADER} header (our mail came back)"]
    return [f"{LOOP_HEADER} of another cocmail inbox: {_short(values[0])}"]


def _bounce_reasons(msg: ParsedMessage) -> list[str]:
    reasons = []
    if _is_delivery_report(msg):
        reasons.append("delivery-status report")
    daemon = _daemon_sender(msg)
    if daemon:
        reasons.append(f"sent by {daemon}")
    return reasons


def _automatic_reasons(msg: ParsedMessage) -> list[str]:
    reasons = []
    for value in msg.header("Auto-Submitted"):
        keyword = _keyword(value)
        if keyword != "no":
            reasons.append(f"Auto-Submitted: {_short(value) or '(empty)'}")
            break
    for value in msg.header("Precedence"):
        if _keyword(value) in _PRECEDENCE_AUTOMATIC:
            reasons.append(f"Precedence: {_short(value)}")
            break
    reasons += [f"{name} present" for name in _LIST_HEADERS + _AUTOREPLY_HEADERS
                if msg.header(name)]
    if any(_strip_comments(v).replace(" ", "") == "<>" for v in msg.header("Return-Path")):
        reasons.append("empty Return-Path <>")
    if msg.content_type == "multipart/report" and not _is_delivery_report(msg):
        reasons.append("machine-generated report (multipart/report)")
    return reasons


def _is_delivery_report(msg: ParsedMessage) -> bool:
    """A DSN: multipart/report; report-type=delivery-status, or a message/delivery-status part."""
    if msg.content_type == "multipart/report":
        for value in msg.header("Content-Type"):
            if re.search(r"report-type\s*=\s*\"?delivery-status", value, re.IGNORECASE):
                return True
    if msg.content_type == "message/delivery-status":
        return True
    return any(ctype.lower() == "message/delivery-status" for _, ctype, _ in msg.attachments)


def _daemon_sender(msg: ParsedMessage) -> str | None:
    for address in msg.from_:
        local = address.email.rpartition("@")[0]
        if local in _DAEMON_LOCALPARTS:
            return address.email
    for value in msg.header("From"):
        match = _DAEMON_IN_FROM.search(value)
        if match and "@" not in value:
            return match.group(1).upper()
    return None


def _keyword(value: str) -> str:
    """The first word of a header value, lower-cased, without comments or parameters."""
    text = _strip_comments(value).split(";", 1)[0].strip().lower()
    return text.split()[0] if text else ""


def _strip_comments(value: str) -> str:
    """Remove (comments), innermost first; long values are cut so nesting cannot cost much."""
    value = value[:_MAX_VALUE]
    previous = None
    while previous != value:
        previous, value = value, _COMMENT.sub(" ", value)
    return value.strip()


def _short(value: str, limit: int = 80) -> str:
    """Header text for a log line: sender-controlled, so kept short."""
    value = value.strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"

