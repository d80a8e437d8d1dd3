"""Mail hygiene: which mail cocmail must never answer, and what a bounce is about.

The automatic-mail corpus in tests/data/auto/ holds real-looking vacation replies, bounces,
list mail and our own mail coming back; an ordinary human reply must still be answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cocmail.core.message import MessageError, parse_message
from cocmail.core.screening import LOOP_HEADER, Screening, bounced_message_ids, screen

AUTO = Path(__file__).parent / "data" / "auto"
INBOX = "conduct@example.org"


def raw_mail(*headers: str, body: str = "Thanks, see you tomorrow.\n") -> bytes:
    base = ["From: Jane Doe <jane.doe@gmail.example>", "To: conduct@example.org",
            "Subject: Re: [CoC #12] We received your report",
            "Date: Thu, 13 May 2027 10:00:00 +0200", "Message-ID: <human-1@gmail.example>"]
    return ("\r\n".join(base + list(headers)) + "\r\n\r\n" + body).encode()


def screen_raw(raw: bytes) -> Screening:
    return screen(parse_message(raw), INBOX)


def screen_file(name: str) -> Screening:
    return screen_raw((AUTO / name).read_bytes())


# name, bounce, loop, a word the reason must contain
AUTOMATIC = [
    ("vacation_gmail.eml", False, False, "Auto-Submitted: auto-replied"),
    ("vacation_exchange.eml", False, False, "Auto-Submitted: auto-generated"),
    ("vacation_sieve.eml", False, False, "Auto-Submitted: auto-replied (vacation)"),
    ("vacation_classic_precedence_junk.eml", False, False, "Precedence: junk"),
    ("autoresponder_x_autoreply.eml", False, False, "X-Autoreply"),
    ("autoresponder_x_autorespond.eml", False, False, "X-Autorespond"),
    ("mailing_list.eml", False, False, "List-Id"),
    ("newsletter_bulk.eml", False, False, "Precedence: bulk"),
    ("list_unsubscribe_only.eml", False, False, "List-Unsubscribe"),
    ("read_receipt_mdn.eml", False, False, "multipart/report"),
    ("loop_own_mail.eml", False, True, LOOP_HEADER),
    ("loop_other_installation.eml", False, False, "another cocmail inbox"),
    ("dsn_postfix.eml", True, False, "delivery-status"),
    ("bounce_exim_plain.eml", True, False, "mailer-daemon@mail.gone.example"),
]


@pytest.mark.parametrize(("name", "bounce", "loop", "reason"), AUTOMATIC)
def test_automatic_mail_is_never_answered(name: str, bounce: bool, loop: bool,
                                          reason: str) -> None:
    result = screen_file(name)
    assert result.automatic
    assert result.bounce is bounce
    assert result.loop is loop
    assert result.reason is not None and reason in result.reason


def test_ordinary_reply_is_answered() -> None:
    result = screen_raw(raw_mail("In-Reply-To: <cocmail.12.r.k2v9qabc.7f3a1c9d2e@example.org>",
                                 "X-Auto-Response-Suppress: DR, RN, NRN"))
    assert result == Screening(automatic=False, bounce=False, loop=False, reason=None)


def test_auto_submitted_no_is_a_person() -> None:
    assert not screen_raw(raw_mail("Auto-Submitted: no")).automatic
    assert not screen_raw(raw_mail("Auto-Submitted: No (written by hand)")).automatic


@pytest.mark.parametrize("header", [
    "AUTO-SUBMITTED: Auto-Replied",
    "auto-submitted: auto-notified",
    "Auto-Submitted: auto-generated; owner-email=\"ops@vendor.example\"",
    "Auto-Submitted:",
    "PRECEDENCE: Bulk",
    "Precedence: auto_reply",
    "list-id: <events.lists.example>",
    "x-autoreply: yes",
    "X-AUTORESPOND: on",
    "Return-Path: <>",
    "Return-Path: < >",
])
def test_headers_are_recognised_in_any_case(header: str) -> None:
    result = screen_raw(raw_mail(header))
    assert result.automatic
    assert not result.bounce


@pytest.mark.parametrize("header", ["Precedence: first-class", "Return-Path: <jane@x.example>",
                                    "X-Cocmail-Loop-Count: 1", "List-Help-Me: no"])
def test_lookalike_headers_do_not_silence_a_person(header: str) -> None:
    assert not screen_raw(raw_mail(header)).automatic


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.net",
                                    "Postmaster <postmaster@uni.example>",
                                    "MAILER-DAEMON (Mail Delivery System)"])
def test_mailer_daemon_or_postmaster_sender_is_a_bounce(sender: str) -> None:
    raw = raw_mail(body="Delivery failed.\n").replace(
        b"From: Jane Doe <jane.doe@gmail.example>", f"From: {sender}".encode())
    result = screen_raw(raw)
    assert result.automatic and result.bounce


def test_a_person_called_postmaster_fan_is_not_a_daemon() -> None:
    raw = raw_mail().replace(b"From: Jane Doe <jane.doe@gmail.example>",
                             b"From: postmaster.fan@uni.example")
    assert not screen_raw(raw).automatic


def test_loop_header_with_our_address_in_brackets_is_our_loop() -> None:
    result = screen_raw(raw_mail(f"{LOOP_HEADER}: <Conduct@Example.org>"))
    assert result.loop and result.automatic


def test_reason_lists_every_rule_that_matched() -> None:
    reason = screen_file("mailing_list.eml").reason or ""
    assert "List-Id present" in reason
    assert "List-Unsubscribe present" in reason
    assert "Precedence: list" in reason


def test_delivery_status_part_inside_mixed_mail_is_a_bounce() -> None:
    raw = (b"From: relay@mx.example.net\r\nTo: conduct@example.org\r\n"
           b"Subject: Returned mail\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           b"--b1\r\nContent-Type: text/plain\r\n\r\nYour mail could not be delivered.\r\n"
           b"--b1\r\nContent-Type: message/delivery-status\r\n"
           b'Content-Disposition: attachment; filename="status.txt"\r\n\r\n'
           b"Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; x@gone.example\r\n"
           b"Action: failed\r\nStatus: 5.1.1\r\n--b1--\r\n")
    result = screen_raw(raw)
    assert result.bounce and result.automatic


def test_dsn_names_the_case_mail_that_bounced() -> None:
    raw = (AUTO / "dsn_postfix.eml").read_bytes()
    assert bounced_message_ids(raw) == ("cocmail.12.r.k2v9qabc.7f3a1c9d2e@example.org",)


def test_plain_text_bounce_names_the_case_mail_once() -> None:
    raw = (AUTO / "bounce_exim_plain.eml").read_bytes()
    assert bounced_message_ids(raw) == ("cocmail.12.a.q7w8e9r0.55aa66bb77@example.org",)


def test_bounce_without_cocmail_ids_names_nothing() -> None:
    raw = raw_mail("Message-ID: <20270511.1@mx.example.org>",
                   body="Reporting-MTA: dns; mx.example.org\nOriginal-Recipient: x@y.example\n")
    assert bounced_message_ids(raw) == ()


def test_several_bounced_ids_keep_their_order() -> None:
    raw = (b"Message-ID: <cocmail.3.s1.abcd1234.0123456789@example.org>\n"
           b"In-Reply-To: <cocmail.2.r.wxyz9876.9876543210@example.org>\n"
           b"Message-ID: <cocmail.3.s1.abcd1234.0123456789@example.org>\n")
    assert bounced_message_ids(raw) == ("cocmail.3.s1.abcd1234.0123456789@example.org",
                                        "cocmail.2.r.wxyz9876.9876543210@example.org")


HEADER_NAMES = ["Auto-Submitted", "Precedence", "Return-Path", "From", "Content-Type",
                "List-Id", LOOP_HEADER, "X-Autoreply"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(HEADER_NAMES),
                          st.text(st.characters(blacklist_categories=("Cs",),
                                                blacklist_characters="\r\n"), max_size=200)),
                max_size=6))
def test_arbitrary_header_values_never_raise(headers: list[tuple[str, str]]) -> None:
    raw = raw_mail(*(f"{name}: {value}" for name, value in headers))
    try:
        msg = parse_message(raw)
    except MessageError:
        assume(False)
        return
    result = screen(msg, INBOX)
    assert result.automatic == (result.reason is not None)
    assert not result.bounce or result.automatic


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_bounced_message_ids_never_raise_on_any_bytes(raw: bytes) -> None:
    for mid in bounced_message_ids(raw + b" cocmail.1.r.abcd.0123456789@x.example"):
        assert mid.startswith("cocmail.") and "@" in mid
