"""Signed case tokens: the thread key in every Message-ID and plus-address cocmail issues.

A token is `<case>.<role>.<nonce>.<mac>`, e.g. `12.s3.k2v9q.7f3a1c9d2e`: case 12, issued to
staff member 3 (or a role: r reporter, v victim, a accused, d DSF, w witness, x other),
a random nonce, and a truncated HMAC-SHA256 over the rest with the installation secret.
Only a valid MAC makes a token count, so a forged or edited token is just text.
A staff token proves the mail answers something sent *to that member*; role tokens
only ever match a case, never authenticate.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256

from .vocabulary import Recipient, staff_sid

MAC_LEN = 10
# The one-letter roles (core/vocabulary.py Recipient): "rvadwx".
_LETTERS = "".join(Recipient)
_BODY = (r"(\d{1,9})\.(s\d{1,6}|[" + _LETTERS + r"])\.([a-z0-9]{4,12})\.([0-9a-f]{"
         + str(MAC_LEN) + "})")
_TOKEN = re.compile(_BODY)
# The token's shape without groups, for finding tokens inside other text.
TOKEN_PATTERN = (r"\d{1,9}\.(?:s\d{1,6}|[" + _LETTERS + r"])\.[a-z0-9]{4,12}\.[0-9a-f]{"
                 + str(MAC_LEN) + "}")
_MSGID = re.compile(r"cocmail\.(" + _BODY.replace("(", "(?:").replace("(?:?:", "(?:") + ")@",
                    re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    case: int
    role: str  # staff_role(sid) ("s<N>") or a Recipient letter
    nonce: str

    @property
    def staff_sid(self) -> int | None:
        return staff_sid(self.role)

    def text(self, secret: bytes) -> str:
        body = f"{self.case}.{self.role}.{self.nonce}"
        return f"{body}.{_mac(secret, body)}"


def _mac(secret: bytes, body: str) -> str:
    return hmac.new(secret, body.encode(), sha256).hexdigest()[:MAC_LEN]


_NONCE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
NONCE_CHARS = 8  # 41 bits of randomness, still short inside a Message-ID
# Random bytes at or above the largest multiple of the alphabet's size are dropped, so that
# `b % 36` favours no character (252 = 7 x 36).
_UNBIASED_BELOW = 256 - 256 % len(_NONCE_ALPHABET)


def nonce_from(random_bytes: Callable[[int], bytes]) -> str:
    """8 letters and digits (41 bits) from `random_bytes` (the shell passes
    `secrets.token_bytes`, see cocmail/nonces.py; the core draws no randomness itself).
    One read gives several characters (secrets.choice reads once per character); bytes
    from 252 up are dropped so every character is equally likely (252 = 7 x 36)."""
    chars: list[str] = []
    while len(chars) < NONCE_CHARS:
        chars.extend(_NONCE_ALPHABET[b % len(_NONCE_ALPHABET)]
                     for b in random_bytes(12) if b < _UNBIASED_BELOW)
    return "".join(chars[:NONCE_CHARS])


def parse_token(secret: bytes, text: str) -> Token | None:
    """A Token when `text` is exactly a token with a valid MAC, else None."""
    m = _TOKEN.fullmatch(text.strip().lower())
    if not m:
        return None
    case, role, nonce, mac = m.groups()
    if not hmac.compare_digest(mac, _mac(secret, f"{case}.{role}.{nonce}")):
        return None
    return Token(int(case), role, nonce)


def message_id(secret: bytes, token: Token, domain: str) -> str:
    return f"<cocmail.{token.text(secret)}@{domain}>"


def token_from_message_id(secret: bytes, mid: str) -> Token | None:
    m = _MSGID.search(mid)
    return parse_token(secret, m.group(1)) if m else None


def token_from_address(secret: bytes, address: str, inbox_address: str) -> Token | None:
    """The token in `conduct+<token>@domain`, if `address` is a plus form of the inbox."""
    local, _, domain = address.lower().rpartition("@")
    ilocal, _, idomain = inbox_address.lower().rpartition("@")
    if domain != idomain or not local.startswith(ilocal + "+"):
        return None
    return parse_token(secret, local[len(ilocal) + 1:])


def plus_address(secret: bytes, token: Token, inbox_address: str) -> str:
    local, _, domain = inbox_address.rpartition("@")
    return f"{local}+{token.text(secret)}@{domain}"
