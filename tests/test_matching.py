"""Matching a message to its case (docs/mail.md rules 1-5), pure, with a dict-backed index."""

from __future__ import annotations

from cocmail.core.matching import match_case, strip_prefixes, subject_case
from cocmail.core.message import parse_message
from cocmail.core.tokens import Token, message_id, token_from_message_id
from cocmail.nonces import new_nonce

SECRET = b"k" * 64


class Index:
    def __init__(self, cases: dict[int, set[str]], mids: dict[str, int]):
        self.cases, self.mids = cases, mids

    def case_for_message_ids(self, mids: tuple[str, ...]) -> int | None:
        return next((self.mids[m] for m in mids if m in self.mids), None)

    def case_exists(self, number: int) -> bool:
        return number in self.cases

    def is_on_case(self, number: int, email: str) -> bool:
        return email in self.cases.get(number, set())


INDEX = Index({3: {"eve@a.org"}, 7: set()}, {"first@a.org": 7})


def msg(headers: str, body: str = "hello") -> object:
    return parse_message((headers.strip() + "\n\n" + body).encode())


def match(m, staff: bool = False):  # type: ignore[no-untyped-def]
    tokens = tuple(t for t in (token_from_message_id(SECRET, x) for x in m.thread_ids()) if t)
    return match_case(m, thread_tokens=tokens, address_tokens=(), index=INDEX, tag="CoC",
                      sender_is_staff=staff)


def test_localised_prefixes_are_stripped() -> None:
    for s in ("Re: [CoC #3] x", "AW: WG: [CoC #3] x", "SV: VS: [CoC #3] x", "RE : [CoC #3] x",
              "Fwd: TR: RV: [CoC #3] x", "回复: [CoC #3] x", "Re[2]: [CoC #3] x"):
        assert strip_prefixes(s) == "[CoC #3] x", s
        assert subject_case(strip_prefixes(s), "CoC") == 3


def test_signed_token_in_references_wins() -> None:
    mid = message_id(SECRET, Token(3, "s1", new_nonce()), "example.org")
    m = msg(f"From: x@b.org\nSubject: [CoC #7] hi\nIn-Reply-To: {mid}\nReferences: {mid}")
    assert match(m).case == 3 and match(m).rule == "token"


def test_forged_token_does_not_match() -> None:
    mid = message_id(b"other-secret" * 4, Token(3, "s1", new_nonce()), "example.org")
    m = msg(f"From: x@b.org\nSubject: hello\nIn-Reply-To: {mid}")
    assert match(m).case is None


def test_known_message_id_matches_reply_all() -> None:
    m = msg("From: friend@b.org\nSubject: Re: help\nReferences: <first@a.org>")
    assert match(m).case == 7 and match(m).rule == "message-id"


def test_subject_tag_only_from_staff_or_people_on_the_case() -> None:
    stranger = msg("From: mallory@evil.org\nSubject: Re: [CoC #3] I want in")
    assert match(stranger).case is None
    assert match(msg("From: eve@a.org\nSubject: AW: [CoC #3] more")).case == 3
    assert match(msg("From: ana@x.org\nSubject: [CoC #3] note"), staff=True).case == 3
    assert match(msg("From: ana@x.org\nSubject: [CoC #99] note"), staff=True).case is None
