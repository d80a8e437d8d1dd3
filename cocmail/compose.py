"""OutMail -> a real RFC 5322 message, headers built only through the email package's API.

The Message-ID carries a signed token (case, recipient role, nonce) so replies find
their case and staff replies authenticate; it is fixed here, before the first delivery
attempt, so a retry can never produce a second copy under a new ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime
from typing import Any

from .effects import SUBJECTS, OutMail
from .message import decode
from .model import Address
from .render import Renderer
from .screening import LOOP_HEADER
from .tokens import Token, message_id, new_nonce, plus_address


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
    name = "".join(ch for ch in decode(a.name) if ch.isprintable())
    local, _, domain = a.email.rpartition("@")
    return HeaderAddress(display_name=name, username=local, domain=domain)


def role_root_id(secret: bytes, case: int, role: str, domain: str) -> str:
    """A stable, never-sent Message-ID that threads all mail of one case to one role."""
    return message_id(secret, Token(case, role, "root"), domain)


class Composer:
    def __init__(self, *, secret: bytes, renderer: Renderer, inbox: str, tag: str,
                 event: str, plus_addressing: bool):
        self.secret = secret
        self.renderer = renderer
        self.inbox = inbox
        self.tag = tag
        self.event = event
        self.plus = plus_addressing
        self.domain = inbox.rpartition("@")[2]
        self.team = f"The {event} Code of Conduct team"
        # Headers that never change, parsed once (the header API parses on every assignment).
        fixed = EmailMessage(policy=POLICY)
        fixed["From"] = _header_address(Address(f"{event} Code of Conduct team", inbox))
        fixed["X-Auto-Response-Suppress"] = "All"
        fixed[LOOP_HEADER] = inbox
        self._fixed = {name: fixed[name] for name in fixed.keys()}

    def common(self, case: int | None) -> dict[str, Any]:
        return {"event": self.event, "case": case, "tag": self.case_tag(case),
                "team": self.team, "inbox": self.inbox}

    def case_tag(self, case: int | None) -> str:
        return f"[{self.tag} #{case}]" if case is not None else f"[{self.tag}]"

    def subject(self, mail: OutMail) -> str:
        text = mail.subject or SUBJECTS[mail.kind].format(event=self.event)
        return f"{self.case_tag(mail.case)} {text}"

    def body(self, mail: OutMail) -> str:
        ctx = dict(mail.context)
        if mail.kind == "preview":
            inner: OutMail = ctx.pop("inner")
            ctx.update(mail_to=inner.to.display(), mail_subject=self.subject(inner),
                       mail_body=self.body(inner))
        return self.renderer.render(mail.kind, **self.common(mail.case), **ctx)

    def compose(self, mail: OutMail, now_date: Any) -> Composed:
        nonce = mail.nonce or new_nonce()
        token = Token(mail.case or 0, mail.role, nonce)
        mid = message_id(self.secret, token, self.domain)
        body = self.body(mail)
        subject = self.subject(mail)
        msg = EmailMessage(policy=POLICY)
        msg["From"] = self._fixed["From"]
        msg["To"] = _header_address(mail.to)
        if self.plus and mail.case is not None:
            msg["Reply-To"] = _header_address(
                Address(f"{self.event} Code of Conduct team",
                        plus_address(self.secret, token, self.inbox)))
        msg["Subject"] = subject
        msg["Date"] = format_datetime(now_date)
        msg["Message-ID"] = mid
        refs = [r for r in mail.references if r]
        if mail.case is not None:
            refs.insert(0, role_root_id(self.secret, mail.case, mail.role, self.domain)[1:-1])
        if mail.in_reply_to:
            msg["In-Reply-To"] = f"<{mail.in_reply_to}>"
            if mail.in_reply_to not in refs:
                refs.append(mail.in_reply_to)
        if refs:
            msg["References"] = " ".join(f"<{r}>" for r in refs)
        msg["Auto-Submitted"] = mail.auto_submitted
        msg["X-Auto-Response-Suppress"] = self._fixed["X-Auto-Response-Suppress"]
        msg[LOOP_HEADER] = self._fixed[LOOP_HEADER]
        msg.set_content(body, charset="utf-8", cte="quoted-printable")
        # An internationalised address must stay readable (RFC 6532), never encoded-words.
        raw = msg.as_bytes(policy=SMTP if mail.to.email.isascii() else SMTPUTF8)
        return Composed(mid, self.inbox, [mail.to.email], subject, body, raw)
