"""Who hears that a mail could not be delivered (core/failed_delivery.py), without servers.

The outbox gives up on a mail and queues what `notices` returns; tests/test_outbox.py
checks the same through a real SMTP server that refuses the mail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cocmail.core.case import Case, Person
from cocmail.core.env import Env, NoHistory
from cocmail.core.failed_delivery import RECIPIENT_WORDS, Undelivered, notices, recipient_words
from cocmail.core.mail_contexts import DeliveryFailedContext
from cocmail.core.model import Roster, StaffMember
from cocmail.core.vocabulary import MailKind, Recipient, staff_role

NOW = datetime(2027, 6, 4, 12, 0, tzinfo=UTC)
ANA = StaffMember(1, "Ana Lima", "ana@example.org", lead=True)
BEN = StaffMember(2, "Ben Okafor", "ben@example.org", aliases=("ben@home.example",))
CAL = StaffMember(3, "Cal Reyes", "cal@example.org")
ENV = Env(event="Example Conf", event_ends=None, tz=ZoneInfo("Europe/Berlin"),
          inbox="conduct@example.org", dsf="conduct@djangoproject.com", appeal=None,
          roster=Roster((ANA, BEN, CAL)), now=NOW, history=NoHistory(),
          nonce=lambda: "n" * 16)
CASE = Case(number=7, opened=NOW, reporter=Person("reporter", "Eve", "eve@a.example"))


def ack_failed(role: str | None = Recipient.REPORTER, case: int | None = 7) -> Undelivered:
    return Undelivered(kind=MailKind.ACK, role=role, subject="Your report", case_number=case)


def test_every_staff_member_not_recused_is_told_once() -> None:
    case = Case(number=7, opened=NOW, recused=("ben@home.example",))
    out = notices(ack_failed(), "550 no such user", case, ENV)
    assert [(m.to.email, m.role) for m in out] == [("ana@example.org", "s1"),
                                                   ("cal@example.org", "s3")]
    assert {m.kind for m in out} == {"delivery_failed"} and {m.case for m in out} == {7}


def test_without_a_case_on_file_the_whole_team_is_told() -> None:
    out = notices(ack_failed(case=None), "550", None, ENV)
    assert [m.to.email for m in out] == ["ana@example.org", "ben@example.org",
                                         "cal@example.org"]
    assert {m.case for m in out} == {None}


def test_the_notice_names_the_recipient_by_role_and_carries_subject_and_error() -> None:
    out = notices(ack_failed(Recipient.ACCUSED), "554 5.7.1 refused", CASE, ENV)
    assert out[0].context == DeliveryFailedContext(recipient_role="the reported person",
                                                   subject="Your report",
                                                   error="554 5.7.1 refused")
    untitled = Undelivered(kind=MailKind.ACK, role=None, subject=None, case_number=7)
    assert notices(untitled, "x", CASE, ENV)[0].context.subject == ""


def test_a_failed_notice_makes_no_further_notice() -> None:
    """Otherwise every notice to an unreachable member would queue the next one."""
    failed = Undelivered(kind=MailKind.DELIVERY_FAILED, role=staff_role(1),
                         subject="could not be delivered", case_number=7)
    assert notices(failed, "550", CASE, ENV) == []
    # ... while any other staff mail that fails is announced like the rest.
    relay = Undelivered(kind=MailKind.STAFF_RELAY, role=staff_role(1), subject="Re",
                        case_number=7)
    assert len(notices(relay, "550", CASE, ENV)) == 3


@pytest.mark.parametrize("role", list(Recipient))
def test_every_recipient_role_has_its_own_words(role: Recipient) -> None:
    assert role in RECIPIENT_WORDS
    assert recipient_words(role) == RECIPIENT_WORDS[role]


def test_staff_and_unknown_roles_are_worded_without_an_address() -> None:
    assert recipient_words(staff_role(12)) == "a staff member"
    assert recipient_words(None) == recipient_words("q") == "someone"
    assert len(set(RECIPIENT_WORDS.values())) == len(RECIPIENT_WORDS)  # no two alike
