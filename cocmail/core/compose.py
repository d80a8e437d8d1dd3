"""OutMail -> a real RFC 5322 message, headers built only through the email package's API.

The Message-ID carries a signed token (case, recipient role, nonce) so replies find
their case and staff replies authenticate; it is fixed here, before the first delivery
attempt, so a retry can never produce a second copy under a new ID.
"""

from __future__ import annotations

import email
import re
import unicodedata
from binascii import b2a_qp
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.policy import SMTP, SMTPUTF8, Compat32
from email.utils import format_datetime, formataddr, unquote
from typing import Any, Protocol

from .effects import SUBJECT_VARIANTS, SUBJECTS, OutMail
from .header_text import decode
from .mail_contexts import PreviewContext, ProposalContext
from .model import Address
from .screening import LOOP_HEADER
from .team import TeamDetails
from .tokens import Token, message_id, plus_address
from .vocabulary import MailKind


class _CachedRegistry(HeaderRegistry):
    """The stdlib registry builds a brand-new class for every header it parses (a third
    of compose's time); build each one once."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


POLICY = SMTP.clone(header_factory=_CachedRegistry())
# RFC 5322 2.1.1 (and SMTP): a line is at most 998 characters, CRLF excluded.
MAX_LINE_CHARS = 998
# The longest word the header folder places itself, on a continuation line after its
# space; a longer one goes to Header.encode.
_MAX_FOLDED_WORD_CHARS = MAX_LINE_CHARS - 2


class _PlainPolicy(Compat32):
    """compat32 that folds a one-line printable ASCII header value at its spaces itself.

    compat32 runs every header through Header.encode, half of the plain builder's time;
    cocmail's headers are mostly ASCII lines that need no encoding, at most a fold
    (References, Reply-To). Values reach here already made one line (see _one_line);
    anything not ASCII, or with a word too long to fold, still goes to Header.encode.
    """

    def fold_binary(self, name: str, value: Any) -> bytes:
        if isinstance(value, str) and value.isascii() and value.isprintable():
            folded = _fold_at_spaces(f"{name}: {value}", self.max_line_length or MAX_LINE_CHARS)
            if folded is not None:
                return (self.linesep.join(folded) + self.linesep).encode("ascii")
        return super().fold_binary(name, value)


def _fold_at_spaces(line: str, width: int) -> list[str] | None:
    """`line` ("Name: value") as lines of at most `width` where the words allow, each
    after the first starting with the space it was folded at (RFC 5322 folding). The
    value's first word stays on the header's line; a word too long for `width` gets a
    line of its own, up to SMTP's 998. None for runs of spaces or a longer word."""
    words = line.split(" ")
    if (len(words) < 2 or any(not w for w in words[1:])
            or any(len(w) > _MAX_FOLDED_WORD_CHARS for w in words)):
        return None  # Header.encode knows better
    lines, current = [], words[0] + " " + words[1]
    for word in words[2:]:
        if len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = " " + word
    lines.append(current)
    return lines


# The plain builder: compat32 messages, CRLF, lines folded at 78 like the SMTP policy, and
# no ">From " mangling (compat32's default would change a body line starting "From ").
PLAIN_POLICY = _PlainPolicy(linesep="\r\n", mangle_from_=False)
# Addresses the plain builder takes: an ASCII dot-atom local part and an ASCII domain.
# Anything else (an internationalised address, a quoted local part) takes the header
# API's road, which knows RFC 6532 and quoting.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                            r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_BREAKING = frozenset({"Cc", "Cs", "Zl", "Zp"})
_LINE_ENDS = re.compile(r"\r\n|\r|\n")


def body_cte(body: str) -> str:
    """7bit for ASCII text with lines that fit SMTP's limit; quoted-printable otherwise."""
    # Only CR and LF end a line on the wire (str.splitlines would also split at form
    # feeds and other separators, and pass a 1,200-character line as 7bit).
    if body.isascii() and all(len(line) <= MAX_LINE_CHARS for line in _LINE_ENDS.split(body)):
        return "7bit"
    return "quoted-printable"


@dataclass(frozen=True)
class _Headers:
    """What one mail's headers say, before either builder writes them."""

    to: Address
    reply_to: str | None
    subject: str
    date: str
    message_id: str
    in_reply_to: str | None
    references: str
    auto_submitted: str


def proposed(mail: OutMail) -> tuple[OutMail, ...]:
    """The mails a proposal or a preview shows (none for any other mail)."""
    if isinstance(mail.context, ProposalContext):
        return tuple(mail.context.inners)
    if isinstance(mail.context, PreviewContext) and mail.context.inner is not None:
        return (mail.context.inner,)
    return ()


@dataclass(frozen=True)
class Attachment:
    """A part sent along: a stored mail as message/rfc822 (`raw`), a file as it came
    (`data`, of type `ctype`: evidence to staff), else `text` as text/plain."""

    filename: str
    text: str = ""
    raw: bytes | None = None
    data: bytes | None = None
    ctype: str = "application/octet-stream"


@dataclass(frozen=True)
class Composed:
    message_id: str
    sender: str
    recipients: list[str]
    subject: str
    body: str
    raw: bytes


def _header_address(a: Address) -> HeaderAddress:
    # Names pass through the header API. They are decoded to the end first (a name typed
    # as an encoded-word would otherwise be decoded again by the email package, CR/LF
    # included), then control characters are dropped: a name can never start a header.
    name = _display_name(a)
    local, _, domain = a.email.rpartition("@")
    # A quoted local part ("a b"@x.org, as getaddresses gives it) is quoted again by
    # the header API: hand it over unquoted.
    return HeaderAddress(display_name=name, username=unquote(local), domain=domain)


# A display name in a header is cut to this: with `Name <address>` and the field name
# the line then stays far below RFC 5322's 998 octets, however the name is encoded.
MAX_HEADER_NAME_CHARS = 64
# A greeting name longer than this is cut; one that looks like a link, an address or a
# sentence is not used at all ("Hello," instead): the name is whatever a stranger put
# in From, and the acknowledgement goes out from the CoC address.
MAX_GREETING_CHARS = 64
MAX_GREETING_WORDS = 10
_LINKISH = re.compile(r"@|://|\bwww\.|\b[a-z0-9-]+\.(?:[a-z]{2,24})(?:/|\b(?![.'-]))",
                      re.IGNORECASE)
_SENTENCE_MARKS = re.compile(r"[!?:;|<>\[\]{}]")
# Lower-case words that belong in names ("Maria de la Cruz", "Ludwig van Beethoven").
_PARTICLES = frozenset({"de", "del", "della", "di", "da", "dos", "das", "du", "la", "le",
                        "van", "von", "der", "den", "ter", "ten", "zu", "y", "e", "bin",
                        "binti", "al", "el", "ibn", "af", "av", "st."})


def greeting_name(name: str) -> str:
    """The name to greet someone by, or "" when it is not a plausible name.

    Dropped when it holds a URL or domain, an `@`, or sentence punctuation; then cut
    to MAX_GREETING_CHARS at a word, and dropped when what is left reads as a sentence:
    more than MAX_GREETING_WORDS words, or four or more words of which two or more are
    lower-case and not name particles. "Rita Reporter", "José María García-López" and
    "Maria de la Cruz" pass; "Please confirm your password today" does not.
    """
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in name).split())
    if not text or _LINKISH.search(text) or _SENTENCE_MARKS.search(text):
        return ""
    if len(text) > MAX_GREETING_CHARS:
        cut = text.rfind(" ", 0, MAX_GREETING_CHARS + 1)
        text = text[:cut if cut > 0 else MAX_GREETING_CHARS].rstrip(" ,")
    words = text.split()
    lower = [w for w in words if w[0].islower() and w.lower() not in _PARTICLES]
    if len(words) > MAX_GREETING_WORDS or (len(words) >= 4 and len(lower) >= 2):
        return ""
    return text


def _display_name(a: Address) -> str:
    """The name for a header: decoded, printable, at most MAX_HEADER_NAME_CHARS."""
    name = "".join(ch for ch in decode(a.name) if ch.isprintable())
    return name[:MAX_HEADER_NAME_CHARS].rstrip()


def _one_line(text: str, header: str) -> Header | str:
    """A header value that cannot hold a line break; non-ASCII text as RFC 2047 words.

    Control characters and Unicode line and paragraph separators become spaces (the
    compat32 policy would write a CR or LF as it is, starting a new header)."""
    line = "".join(" " if unicodedata.category(ch) in _BREAKING else ch for ch in text)
    return line if line.isascii() else Header(line, "utf-8", header_name=header)


def _plain_address(name: str, email: str, header: str) -> Header | str:
    """`Name <email>` for the plain builder. The name has no control characters left
    (see _display_name) and the address is a dot-atom (see _PLAIN_ADDRESS). formataddr
    quotes an ASCII name that holds specials; a non-ASCII name becomes encoded-words
    that Header splits to fit the line, where formataddr would write one long word."""
    if name.isascii():
        return formataddr((name, email))
    address = Header(name, "utf-8", header_name=header)
    address.append(f"<{email}>", "us-ascii")
    return address



class Renderer(Protocol):
    """Renders a named template (cocmail.render.Renderer: Jinja2 and the template files,
    which stay in the shell)."""

    def render(self, name: str, **context: Any) -> str: ...

    def has(self, name: str, language: str) -> bool: ...

    def subject(self, kind: str, language: str) -> str | None: ...


# Between the versions of a mail written in several languages (issue 26): the event's
# languages when the reporter's is not one of them, in one mail, the main one first.
LANGUAGE_SEPARATOR = "\n\n* * *\n\n"

def role_root_id(secret: bytes, case: int, role: str, domain: str) -> str:
    """A stable, never-sent Message-ID that threads all mail of one case to one role."""
    return message_id(secret, Token(case, role, "root"), domain)


class Composer:
    def __init__(self, *, secret: bytes, renderer: Renderer, inbox: str, tag: str,
                 event: str, plus_addressing: bool, nonce: Callable[[], str],
                 details: TeamDetails | None = None, staff_language: str = "en"):
        self.secret = secret
        self.details = (details or TeamDetails()).context()  # link, phone, support, committee
        self.nonce = nonce  # the shell's random source (cocmail/nonces.py)
        self.renderer = renderer
        self.staff_language = staff_language
        self.inbox = inbox
        self.tag = tag
        self.event = event
        self.plus = plus_addressing
        self.domain = inbox.rpartition("@")[2]
        self.team = f"The {event} Code of Conduct team"
        # Headers that never change, parsed once (the header API parses on every assignment).
        fixed = EmailMessage(policy=POLICY)
        self._team_name = f"{event} Code of Conduct team"
        fixed["From"] = _header_address(Address(self._team_name, inbox))
        fixed["X-Auto-Response-Suppress"] = "All"
        fixed[LOOP_HEADER] = inbox
        self._fixed = {name: fixed[name] for name in fixed.keys()}
        self._plain_from = _plain_address(_display_name(Address(self._team_name, inbox)),
                                          inbox, "From")

    def common(self, case: int | None) -> dict[str, Any]:
        return {"event": self.event, "case": case, "tag": self.case_tag(case),
                "team": self.team, "inbox": self.inbox, **self.details}

    def case_tag(self, case: int | None) -> str:
        return f"[{self.tag} #{case}]" if case is not None else f"[{self.tag}]"

    def languages(self, mail: OutMail) -> tuple[str, ...]:
        """The languages `mail` is written in: its own (outward mail, core/languages.py),
        else the team's when its templates exist in it, else English. A language whose
        template is missing is left out rather than half-translated."""
        chosen = mail.languages or (self.staff_language,)
        chosen = tuple(lang for lang in chosen if self.renderer.has(mail.kind, lang))
        return chosen or ("en",)

    def subject(self, mail: OutMail) -> str:
        """The `[CoC #N]` tag, never translated, then the subject in the mail's languages."""
        if mail.subject:
            return f"{self.case_tag(mail.case)} {mail.subject}"
        key = mail.context.subject_key()
        english = SUBJECT_VARIANTS.get(key) or SUBJECTS[mail.kind]
        texts = [(self.renderer.subject(key, lang) if lang != "en" else None) or english
                 for lang in self.languages(mail)]
        text = " / ".join(dict.fromkeys(t.format(event=self.event) for t in texts))
        return f"{self.case_tag(mail.case)} {text}"

    def body(self, mail: OutMail) -> str:
        """The body, in each of the mail's languages in turn (one, nearly always)."""
        return LANGUAGE_SEPARATOR.join(self._body(mail, lang).rstrip("\n")
                                       for lang in self.languages(mail)) + "\n"

    def _body(self, mail: OutMail, language: str) -> str:
        ctx = mail.context.variables()
        # Every `*_name` a template may greet with (reporter_name, accused_name, ...).
        for key, value in ctx.items():
            if key.endswith("_name") and isinstance(value, str):
                ctx[key] = greeting_name(value)
        # The DSF report's attachments, by name, when the pipeline looked them up.
        attached = list(ctx.pop("attached", []))
        if mail.kind == MailKind.PROPOSAL:
            ctx["mails"] = [{"to": inner.to.display(), "subject": self.subject(inner),
                             "body": self.body(inner),
                             "attached": attached if inner.kind == MailKind.DSF_REPORT else []}
                            for inner in ctx.pop("inners")]
        if mail.kind == MailKind.PREVIEW:
            inner: OutMail = ctx.pop("inner")
            ctx.update(mail_to=inner.to.display(), mail_subject=self.subject(inner),
                       mail_body=self.body(inner),
                       mail_attached=attached if inner.kind == MailKind.DSF_REPORT else [])
        return self.renderer.render(mail.kind, **self.common(mail.case), language=language,
                                    **ctx)

    def compose(self, mail: OutMail, now_date: Any,
                attachments: tuple[Attachment, ...] = ()) -> Composed:
        """`attachments` (the DSF report's correspondence, a staff mail's evidence) go
        along as MIME parts."""
        nonce = mail.nonce or self.nonce()
        token = Token(mail.case or 0, mail.role, nonce)
        mid = message_id(self.secret, token, self.domain)
        body = self.body(mail)
        subject = self.subject(mail)
        reply_to = (plus_address(self.secret, token, self.inbox)
                    if self.plus and mail.case is not None else None)
        refs = [r for r in mail.references if r]
        if mail.case is not None:
            refs.insert(0, role_root_id(self.secret, mail.case, mail.role, self.domain)[1:-1])
        if mail.in_reply_to and mail.in_reply_to not in refs:
            refs.append(mail.in_reply_to)
        headers = _Headers(mail.to, reply_to, subject, format_datetime(now_date), mid,
                           f"<{mail.in_reply_to}>" if mail.in_reply_to else None,
                           " ".join(f"<{r}>" for r in refs), mail.auto_submitted)
        plain = all(_PLAIN_ADDRESS.fullmatch(a) for a in (mail.to.email, self.inbox,
                                                          reply_to or self.inbox))
        if attachments:
            raw = self._rich(headers, body, attachments)
        else:
            raw = self._plain(headers, body) if plain else self._rich(headers, body)
        return Composed(mid, self.inbox, [mail.to.email], subject, body, raw)

    def _plain(self, h: _Headers, body: str) -> bytes:
        """The common case, without the header API's cost per header (composing is a large
        share of a backlog's time: bench/README.md): every value is made one line by hand,
        names go through formataddr, non-ASCII text through Header."""
        msg = Message(policy=PLAIN_POLICY)
        msg["From"] = self._plain_from
        msg["To"] = _plain_address(_display_name(h.to), h.to.email, "To")
        if h.reply_to:
            msg["Reply-To"] = _plain_address(self._team_name, h.reply_to, "Reply-To")
        msg["Subject"] = _one_line(h.subject, "Subject")
        msg["Date"] = h.date
        msg["Message-ID"] = h.message_id
        if h.in_reply_to:
            msg["In-Reply-To"] = _one_line(h.in_reply_to, "In-Reply-To")
        if h.references:
            msg["References"] = _one_line(h.references, "References")
        msg["Auto-Submitted"] = h.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
        msg[LOOP_HEADER] = self.inbox
        cte = body_cte(body)
        msg["MIME-Version"] = "1.0"
        msg["Content-Type"] = 'text/plain; charset="utf-8"'
        msg["Content-Transfer-Encoding"] = cte
        # binascii's quoted-printable is C; the email package's is Python, and slow on a
        # staff notification that quotes a whole report.
        payload = (body.encode("ascii") if cte == "7bit"
                   else b2a_qp(body.encode("utf-8"), istext=True))
        # The generator writes the headers; the body, ASCII by now, only needs its lines
        # ended by CRLF, which is all the generator would do to it, one write per line
        # (a third of composing a staff notification that quotes a whole report).
        msg.set_payload("")
        return msg.as_bytes(policy=PLAIN_POLICY) + _LINE_ENDS.sub("\r\n", payload.decode("ascii")
                                                                  ).encode("ascii")

    def _rich(self, h: _Headers, body: str, attachments: tuple[Attachment, ...] = ()) -> bytes:
        """Through the email package's header API: internationalised or unusual addresses."""
        msg = EmailMessage(policy=POLICY)
        msg["From"] = self._fixed["From"]
        msg["To"] = _header_address(h.to)
        if h.reply_to:
            msg["Reply-To"] = _header_address(Address(self._team_name, h.reply_to))
        msg["Subject"] = h.subject
        msg["Date"] = h.date
        msg["Message-ID"] = h.message_id
        if h.in_reply_to:
            msg["In-Reply-To"] = h.in_reply_to
        if h.references:
            msg["References"] = h.references
        msg["Auto-Submitted"] = h.auto_submitted
        msg["X-Auto-Response-Suppress"] = self._fixed["X-Auto-Response-Suppress"]
        msg[LOOP_HEADER] = self._fixed[LOOP_HEADER]
        msg.set_content(body, charset="utf-8", cte=body_cte(body))
        for a in attachments:
            if a.raw is not None:
                inner = email.message_from_bytes(a.raw, policy=POLICY)
                msg.add_attachment(inner, filename=a.filename)
            elif a.data is not None:
                main, _, sub = a.ctype.partition("/")
                msg.add_attachment(a.data, maintype=main if sub else "application",
                                   subtype=sub or "octet-stream", filename=a.filename)
            else:
                msg.add_attachment(a.text, subtype="plain", charset="utf-8",
                                   filename=a.filename)
        # An internationalised address must stay readable (RFC 6532), never encoded-words.
        return msg.as_bytes(policy=SMTP if h.to.email.isascii() else SMTPUTF8)
