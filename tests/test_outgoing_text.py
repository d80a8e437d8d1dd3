"""What leaves the team never repeats cocmail's mail to staff, nor a token (issue 11.11).

The safety net under quote detection: a client that quotes in a way cocmail does not
recognise (no `>`, an unknown language, a re-wrapped paste) must still not put the
relayed report, the earlier-cases block or a staff token into `#reply` or the DSF report.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from cocmail.app import App
from cocmail.core.outgoing_text import staff_text_index, without_staff_text
from testsupport.helpers import body_of, mail, spool

REPORT = mail("Eve Example <eve@attendee.example>", "At the party",
              "Dan Doe grabbed my arm at the party and would not let go of it.\n",
              message_id="<r1@attendee.example>")
TOKEN = re.compile(r"\d+\.(?:s\d+|[rvadwx])\.[a-z0-9]{4,12}\.[0-9a-f]{10}")


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    a = make_app()
    assert a.receive(REPORT, "test") == "done"
    return a


def test_a_pasted_unquoted_notification_never_reaches_the_reporter(app: App) -> None:
    note = next(m for m in spool(app.cfg) if "ana@example.org" in str(m["To"]))
    pasted = body_of(note)  # no quote marks, in a language nobody recognises
    reply_to = str(note["Reply-To"])
    body = (f"#reply\nDear Eve, we have spoken with him and he will keep away from you.\n\n"
            f"Xyzzy {reply_to} plugh:\n{pasted}\n")
    reply = mail("Ana Lima <ana@example.org>", "Re: " + str(note["Subject"]), body,
                 message_id="<reply-1@example.org>", in_reply_to=note["Message-ID"])
    assert app.receive(reply, "test") == "done"
    to_eve = [m for m in spool(app.cfg) if "eve@attendee.example" in str(m["To"])]
    assert len(to_eve) == 2  # the acknowledgement, then the reply
    text = body_of(to_eve[-1])
    assert "he will keep away from you" in text
    assert not TOKEN.search(text), text
    for line in pasted.splitlines():
        if "Code of Conduct team" in line:
            continue  # the signature every mail of the team carries, the reply's own too
        if len(line.strip()) >= 16:
            assert line.strip() not in text, line


def test_short_and_own_lines_are_kept() -> None:
    index = staff_text_index(["Hello Ana,\n\nA new report on case 1.\nThanks"])
    own = "Hello Ana,\nThanks\nWe will meet him tomorrow at ten in the morning."
    assert without_staff_text(own, index) == own
    rewrapped = "A new report\non case 1."  # short pieces of a re-wrapped line stay
    assert without_staff_text(rewrapped, index) == rewrapped
