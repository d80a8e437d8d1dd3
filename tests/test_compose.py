"""The two message builders in compose.py must write the same mail.

Most mail goes through the plain builder (compat32, by hand, about 2.8x faster); mail
to an internationalised or unusual address goes through the email package's header
API. A reader must not be able to tell which one wrote a mail: both are parsed back
with the modern policy and compared header by header and body by body.
"""

from __future__ import annotations

import email
import email.policy
import re
import string
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import getaddresses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.core import compose
from cocmail.core.compose import Composer
from cocmail.core.effects import OutMail
from cocmail.core.mail_contexts import AckContext, StaffNewCaseContext
from cocmail.core.model import Address
from cocmail.nonces import new_nonce
from cocmail.render import Renderer
from tests.test_templates import SAMPLES

NOW = datetime(2026, 6, 5, 21, 30, tzinfo=UTC)
RENDERER = Renderer(None)


def composer(event: str = "PyCon Test", plus: bool = True) -> Composer:
    return Composer(secret=b"k" * 64, renderer=RENDERER, inbox="conduct@example.org",
                    tag="CoC", event=event, plus_addressing=plus, nonce=new_nonce)


def both(c: Composer, mail: OutMail) -> tuple[bytes, bytes]:
    """(plain builder's bytes, header API's bytes) for the same mail and nonce."""
    plain = c.compose(mail, NOW).raw
    saved = compose._PLAIN_ADDRESS
    compose._PLAIN_ADDRESS = re.compile("(?!)")  # nothing is plain: the header API road
    try:
        rich = c.compose(mail, NOW).raw
    finally:
        compose._PLAIN_ADDRESS = saved
    return plain, rich


def read(raw: bytes) -> tuple[list[tuple[str, str]], str]:
    """Every header but To and Subject as a reader sees it, and the body."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert not msg.defects, msg.defects
    headers = sorted((k.lower(), str(v)) for k, v in msg.items()
                     if k.lower() not in ("to", "subject"))
    return headers, msg.get_content()


def words(text: str) -> str:
    return " ".join(text.split())


def seen(raw: bytes) -> tuple[str, str, str]:
    """(To name, To address, Subject) as a mail client shows them, runs of spaces as one.

    Decoded the RFC 2047 way (decode_header drops the folding between two encoded-words;
    the modern parser keeps a space there, which no mail client does).
    """
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    to = getaddresses(msg.get_all("To"))
    assert len(to) == 1
    name = str(make_header(decode_header(to[0][0])))
    return words(name), to[0][1], words(str(make_header(decode_header(msg["Subject"]))))


def meant(c: Composer, mail: OutMail) -> tuple[str, str, str]:
    """What the reader should see: the name decoded, control characters dropped."""
    return words(compose._display_name(mail.to)), mail.to.email, words(c.subject(mail))


def ack(name: str, to: str = "zoe@example.org", subject: str | None = None,
        reply: str | None = "abc.123@attendee.example") -> OutMail:
    return OutMail(to=Address(name, to), role="r", case=12,
                   context=AckContext(reporter_name=name, outside_team=False,
                                      member_kept_out=False, within="2 hours",
                                      possibly_urgent=False),
                   in_reply_to=reply, references=("first@attendee.example",) if reply else (),
                   subject=subject, nonce="n0nce123")


printable = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                    max_size=90)


@settings(max_examples=300, deadline=None)
@given(name=printable, subject=st.one_of(st.none(), printable))
def test_plain_and_header_api_builders_write_the_same_mail(name: str, subject: str | None
                                                           ) -> None:
    c, mail = composer(), ack(name, subject=subject)
    plain, rich = both(c, mail)
    assert read(plain) == read(rich)
    # To and Subject are compared with what was meant, not with each other: the header
    # API's folding sometimes adds a space inside a long non-ASCII name ("¡¡ ¡") or
    # drops one before a non-breaking space; the plain builder's words read back intact.
    assert seen(plain) == meant(c, mail)


@pytest.mark.parametrize("name", [
    "Zoë Reporter", "Doe, Dan", 'Dan "the man" Doe', "back\\slash", "a.b. c", "<x@y.org>",
    "=?utf-8?q?Eve?=", "名前 です", "x" * 120, "", "Ünïcødé " * 12,
])
@pytest.mark.parametrize("event", ["PyCon Test", "PyCon España", "Django, Con"])
def test_the_builders_agree_on_awkward_names_and_events(name: str, event: str) -> None:
    c, mail = composer(event), ack(name)
    plain, rich = both(c, mail)
    assert read(plain) == read(rich)
    assert seen(plain) == meant(c, mail)


def staff_mail(report_text: str) -> OutMail:
    ctx = {k: v for k, v in SAMPLES["staff_new_case"].items()
           if k not in ("event", "case", "tag", "team", "inbox")}
    return OutMail(to=Address("Ana Staff", "ana@example.org"), role="s1", case=12,
                   context=StaffNewCaseContext(**{**ctx, "report_text": report_text}),
                   nonce="n0nce123")


report_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                              blacklist_characters="\r"), max_size=3000)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(report_texts, st.lists(st.sampled_from(
    ["From the start", ".", "a=b", "trailing  ", "\ttab", "é" * 90, "x" * 1200, "",
     "y" * 600 + "\x0c" + "z" * 600]),
    max_size=12).map("\n".join)))
def test_the_builders_carry_any_report_text_intact(text: str) -> None:
    c, mail = composer(), staff_mail(text)
    plain, rich = both(c, mail)
    assert read(plain) == read(rich)
    assert read(plain)[1].replace("\r\n", "\n") == c.body(mail)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(report_texts, st.lists(st.sampled_from(
    ["From the start", ".", "a=b", "trailing  ", "\ttab", "é" * 90, "", "\r", "x\r\ny"]),
    max_size=12).map("\n".join)))
def test_the_plain_builder_writes_the_bytes_the_email_generator_writes(text: str) -> None:
    # The plain builder ends the body's lines itself (the generator, one write per line,
    # was a third of its time): the generator, given the same mail, must agree byte for byte.
    raw = composer().compose(staff_mail(text), NOW).raw
    again = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert again.as_bytes(policy=compose.PLAIN_POLICY) == raw


def test_a_long_line_with_a_form_feed_is_not_sent_as_7bit() -> None:
    """A form feed ends a line for str.splitlines, not on the wire: 1,201 characters
    between two line ends need quoted-printable (SMTP's limit is 998)."""
    raw = composer().compose(staff_mail("y" * 600 + "\x0c" + "z" * 600), NOW).raw
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Transfer-Encoding: quoted-printable" in head
    assert max(len(line) for line in body.split(b"\r\n")) <= 998


@pytest.mark.parametrize("reply", ["x" * 90 + "@outlook.example", "short@x.org"])
def test_a_long_message_id_stays_on_its_header_line(reply: str) -> None:
    raw = composer().compose(ack("Zoe", reply=reply), NOW).raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["In-Reply-To"]) == f"<{reply}>"


def test_mail_to_a_plain_address_uses_crlf_and_folds_long_lines() -> None:
    raw = composer().compose(ack("Zoë " + "Reporter " * 20), NOW).raw
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in head.replace(b"\r\n", b"")
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"Content-Transfer-Encoding: quoted-printable" in head  # "Hello Zoë"
    ascii_head = composer().compose(ack("Zoe"), NOW).raw.partition(b"\r\n\r\n")[0]
    assert b"Content-Transfer-Encoding: 7bit" in ascii_head
    assert body.endswith(b"\r\n")


@pytest.mark.parametrize("control", ["\r\nBcc: evil@x.org", "\nX-Injected: yes", "\x0b\x0c",
                                     "\x00", "\u2028X-Injected: yes", "\x85Bcc: e@x.org"])
def test_no_control_character_starts_a_header(control: str) -> None:
    raw = composer().compose(ack(f"Eve{control}", subject=f"Hello{control}",
                                 reply=f"id{control}@x.org"), NOW).raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "Bcc" not in msg and "X-Injected" not in msg
    assert [k for k in msg.keys() if k.lower() == "to"] == ["To"]
    assert msg["To"].addresses[0].addr_spec == "zoe@example.org"


@pytest.mark.parametrize("to", ["josé@example.org", "zoe@exämple.org", '"a b"@example.org'])
def test_unusual_addresses_take_the_header_api(to: str) -> None:
    raw = composer().compose(ack("Zoë", to=to), NOW).raw
    msg = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == to


def test_every_printable_ascii_name_round_trips() -> None:
    name = string.punctuation + " Name"
    raw = composer().compose(ack(name), NOW).raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"].addresses[0].display_name == name
