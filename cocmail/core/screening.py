"""Which inbound mail must never get an automatic answer, which is machine mail, and which
is a bounce.

cocmail answers reports with acknowledgements and staff mail with transcripts. Answering a
vacation reply, a mailing list, a bounce or our own mail coming back would start a mail loop
(or spam a list), so every message is screened before anything is sent. Screened mail is
still recorded: a bounce of a case mail is shown to staff on that case, which is why the
cocmail Message-IDs inside a bounce are extracted here too.

Two verdicts, from one table of signals (SIGNALS) and their weight:
- `automatic`: any signal at all. The mail gets no automatic answer (RFC 3834: a machine
  is never answered; a sender that asks for none, or cannot read one, gets none).
- `machine`: the weights of the distinct signals add up to MACHINE_WEIGHT. Mail that
  matches no case is then kept aside as machine mail (counted in the digest, listed by
  `cocmail inbound list --machine`) instead of opening a case. A strong signal (a machine
  saying what it is: Auto-Submitted, a read receipt, an empty Return-Path...) is enough;
  a weak one (a no-reply sender, list headers, an "Automatic reply" subject, X-Loop,
  X-Auto-Response-Suppress) never is alone, because people write from such addresses and
  through such lists too, and a report silenced by a guess is the worst mistake here.

Pure functions over a ParsedMessage; nothing here raises on hostile header values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import ParsedMessage

LOOP_HEADER = "X-Cocmail-Loop"  # cocmail puts it on every mail it sends, value = the inbox address

STRONG = 2  # a machine says what it is, or the mail cannot have come from a person
WEAK = 1  # people send such mail too: it only counts together with another signal
MACHINE_WEIGHT = 2  # distinct signals adding up to this make machine mail
# Every signal screening knows, and its weight. One entry per fact: the List-* headers
# and `Precedence: list` say "it came through a list" and count once, as a discussion
# list (a person may be reporting through it) or as bulk mail (nobody posts to it). A
# list that names the inbox itself (the conduct address run as a group) is no signal.
SIGNALS: dict[str, int] = {
    "our-loop": STRONG,  # our own loop header: our mail came back
    "cocmail-loop": STRONG,  # another cocmail installation's loop header
    "delivery-report": STRONG,  # a DSN (multipart/report; delivery-status)
    "mailer-daemon": STRONG,  # From mailer-daemon@ / postmaster@
    "auto-submitted": STRONG,  # RFC 3834: anything but "no"
    "precedence": STRONG,  # Precedence: bulk, junk, auto_reply
    "x-autoreply": STRONG,  # X-Autoreply / X-Autorespond (vacation programs)
    "empty-return-path": STRONG,  # Return-Path: <> (null envelope sender)
    "feedback-report": STRONG,  # an abuse / spam complaint report (ARF)
    "read-receipt": STRONG,  # message/disposition-notification (MDN)
    "report": STRONG,  # any other multipart/report
    "suppress-auto-response": WEAK,  # X-Auto-Response-Suppress: All, OOF or AutoReply
    "x-loop": WEAK,  # procmail and helpdesks; a forwarding rule may add it to a report
    "exchange-rule": WEAK,  # X-MS-Exchange-Inbox-Rules-Loop: an Outlook rule (or OOF) sent it
    "out-of-office-subject": WEAK,  # "Automatic reply:", "Out of Office:", ...
    "mailing-list": WEAK,  # a discussion list people post to (List-Post, Precedence: list)
    "bulk-mail": STRONG,  # List-Id / List-Unsubscribe and no List-Post: a newsletter
    "no-reply-sender": WEAK,  # noreply@, no-reply@, donotreply@...
}

_PRECEDENCE_AUTOMATIC = frozenset({"bulk", "junk", "auto_reply", "auto-reply"})
_LIST_HEADERS = ("List-Id", "List-Unsubscribe")
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond")
# X-Auto-Response-Suppress values that ask for no out-of-office or automatic reply
# ([MS-OXCMAIL] 2.2.3.2.20); DR, NDR, RN, NRN alone are about receipts only.
_SUPPRESS_VALUES = frozenset({"all", "oof", "autoreply"})
_DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster"})
# A From value without an `@` (plain "MAILER-DAEMON") is dropped by the address parser,
# so the raw header text is checked as well.
_DAEMON_IN_FROM = re.compile(r"(?<![\w.+-])(mailer-daemon|postmaster)(?![\w.+-])", re.IGNORECASE)
# noreply, no-reply, no_reply, donotreply, do-not-reply, dontreply, alone or as a word of
# the local part (calendar-noreply@, noreply-billing@).
_NO_REPLY = re.compile(r"(?:^|[._+-])(?:no|do[._-]?not|dont)[._-]?reply(?:$|[._+-])")
# Subjects out-of-office programs write (Exchange/Outlook in several languages, Gmail,
# Sieve, vacation(1)). Weak: a person may write "Out of office" as a subject too.
_OOF_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[ -]?reply|out of (?:the )?office|"
    r"automatische antwort|abwesenheitsnotiz|r[ée]ponse automatique|absence du bureau|"
    r"respuesta autom[áa]tica|fuera de la oficina|risposta automatica|fuori sede|"
    r"automatisch antwoord|afwezig|resposta autom[áa]tica|automatisk svar|"
    r"autosvar|frånvaro|automaattinen vastaus)\b",
    re.IGNORECASE)
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
    machine: bool = False  # the signals' weights reach MACHINE_WEIGHT: not a person writing
    signals: tuple[str, ...] = ()  # the SIGNALS keys that matched, in the order found


def screen(msg: ParsedMessage, inbox_address: str) -> Screening:
    """Apply the mail-hygiene rules of mail.md to `msg`.

    `loop` is only our own loop header (value = our inbox address); another cocmail
    installation's loop header still makes the mail automatic, so two CoC inboxes can never
    answer each other forever.
    """
    found = (_loop_signals(msg, inbox_address) + _bounce_signals(msg)
             + _automatic_signals(msg) + _weak_signals(msg) + _list_signals(msg, inbox_address))
    keys = tuple(dict.fromkeys(key for key, _ in found))
    reasons = [reason for _, reason in found]
    return Screening(
        automatic=bool(found),
        bounce=any(key in ("delivery-report", "mailer-daemon") for key in keys),
        loop="our-loop" in keys,
        reason="; ".join(reasons) if reasons else None,
        machine=sum(SIGNALS[key] for key in keys) >= MACHINE_WEIGHT,
        signals=keys,
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


_Found = list[tuple[str, str]]  # (SIGNALS key, reason for the audit log)


def _loop_signals(msg: ParsedMessage, inbox_address: str) -> _Found:
    values = msg.header(LOOP_HEADER)
    if not values:
        return []
    inbox = inbox_address.strip().lower()
    if any(_strip_comments(v).strip("<> ").lower() == inbox for v in values):
        return [("our-loop", f"our own {LOOP_HEADER} header (our mail came back)")]
    return [("cocmail-loop", f"{LOOP_HEADER} of another cocmail inbox: {_short(values[0])}")]


def _bounce_signals(msg: ParsedMessage) -> _Found:
    found: _Found = []
    if _report_type(msg) == "delivery-status":
        found.append(("delivery-report", "delivery-status report"))
    daemon = _daemon_sender(msg)
    if daemon:
        found.append(("mailer-daemon", f"sent by {daemon}"))
    return found


def _automatic_signals(msg: ParsedMessage) -> _Found:
    """The strong signals: a machine saying what it is."""
    found: _Found = []
    for value in msg.header("Auto-Submitted"):
        keyword = _keyword(value)
        if keyword != "no":
            found.append(("auto-submitted", f"Auto-Submitted: {_short(value) or '(empty)'}"))
            break
    for value in msg.header("Precedence"):
        if _keyword(value) in _PRECEDENCE_AUTOMATIC:
            found.append(("precedence", f"Precedence: {_short(value)}"))
            break
    found += [("x-autoreply", f"{name} present") for name in _AUTOREPLY_HEADERS
              if msg.header(name)]
    if any(_strip_comments(v).replace(" ", "") == "<>" for v in msg.header("Return-Path")):
        found.append(("empty-return-path", "empty Return-Path <>"))
    report = _report_type(msg)
    if report == "feedback-report":
        found.append(("feedback-report", "feedback report (message/feedback-report)"))
    elif report == "disposition-notification":
        found.append(("read-receipt",
                      "read receipt (multipart/report, message/disposition-notification)"))
    elif msg.content_type == "multipart/report" and report != "delivery-status":
        found.append(("report", "machine-generated report (multipart/report)"))
    return found


def _weak_signals(msg: ParsedMessage) -> _Found:
    """Signals people's mail may carry too: each alone only stops the acknowledgement."""
    found: _Found = []
    for value in msg.header("X-Auto-Response-Suppress"):
        words = {w.strip().lower() for w in _strip_comments(value).split(",")}
        if words & _SUPPRESS_VALUES:
            found.append(("suppress-auto-response",
                          f"X-Auto-Response-Suppress: {_short(value)}"))
            break
    if msg.header("X-Loop"):
        found.append(("x-loop", "X-Loop present"))
    if msg.header("X-MS-Exchange-Inbox-Rules-Loop"):
        found.append(("exchange-rule", "X-MS-Exchange-Inbox-Rules-Loop present"))
    if _OOF_SUBJECT.match(msg.subject[:_MAX_VALUE]):
        found.append(("out-of-office-subject", f"out-of-office subject: {_short(msg.subject)}"))
    no_reply = _no_reply_sender(msg)
    if no_reply:
        found.append(("no-reply-sender", f"no-reply sender {no_reply}"))
    return found


def _list_signals(msg: ParsedMessage, inbox_address: str) -> _Found:
    listed = [f"{name} present" for name in _LIST_HEADERS if msg.header(name)]
    listed += [f"Precedence: {_short(v)}" for v in msg.header("Precedence")
               if _keyword(v) == "list"][:1]
    if not listed or _our_own_list(msg, inbox_address):
        return []
    if msg.header("List-Post") or any(r.startswith("Precedence") for r in listed):
        return [("mailing-list", "; ".join(listed))]
    return [("bulk-mail", "; ".join(listed) + " (no List-Post: bulk mail)")]


def _our_own_list(msg: ParsedMessage, inbox_address: str) -> bool:
    """The list is the conduct address itself (a Google or Mailman group that hands
    reports on to cocmail): its List-Post is our address, or its List-Id our list."""
    inbox = inbox_address.strip().lower()
    local, _, domain = inbox.partition("@")
    list_id = f"<{local}.{domain}>"
    return (any(f"mailto:{inbox}" in v[:_MAX_VALUE].lower() for v in msg.header("List-Post"))
            or any(list_id in v[:_MAX_VALUE].lower() for v in msg.header("List-Id")))


def _no_reply_sender(msg: ParsedMessage) -> str | None:
    for address in msg.from_:
        local = address.email.rpartition("@")[0]
        if _NO_REPLY.search(local):
            return address.email
    return None


def _report_type(msg: ParsedMessage) -> str | None:
    """What a machine report is: "delivery-status", "feedback-report",
    "disposition-notification" (from the report-type, else from the part it carries)."""
    if msg.content_type == "multipart/report":
        for value in msg.header("Content-Type"):
            found = _REPORT_TYPE.search(value[:_MAX_VALUE])
            if found and found.group(1).lower() in _REPORT_PARTS.values():
                return found.group(1).lower()
    types = {msg.content_type} | {ctype.lower() for _, ctype, _ in msg.attachments}
    for part, kind in _REPORT_PARTS.items():
        if part in types:
            return kind
    return None


_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?([a-z-]+)", re.IGNORECASE)
_REPORT_PARTS = {"message/delivery-status": "delivery-status",
                 "message/global-delivery-status": "delivery-status",
                 "message/feedback-report": "feedback-report",
                 "message/disposition-notification": "disposition-notification",
                 "message/global-disposition-notification": "disposition-notification"}


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

