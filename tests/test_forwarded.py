"""Issue 11, item 1: attached and forwarded mail is someone else's text, never staff's.

A staff member forwarding what the accused sent them must not run the accused's
`#commands` as her own, and what she attaches must never go out in a `#reply` or a DSF
report. Every shape a client produces is pushed through the real pipeline (App.receive,
spool delivery); the assertions are on what was mailed and what the case holds.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cocmail.app import App
from cocmail.core.message import ATTACHED_MARKER, parse_message
from cocmail.store import cases as cases_db
from testsupport.helpers import SEND_AT_ONCE, body_of, mail, spool

AUTH = "Authentication-Results: mx.example.org; dmarc=pass header.from=example.org\r\n"
OWN = "Dan sent me this directly"
# "#recuse ana@": Ana forwards it, so her address in it does not exclude her (issue 21)
HOSTILE = ("#accused Rita Reporter <rita@attendee.example>\r\n"
           "#action Rita is removed from the event\r\n#outcome removed-from-event\r\n"
           "#notify-harasser\r\n#reporter Mallory <mallory@evil.example>\r\n"
           "#recuse ana@example.org\r\n#reply\r\n\r\nATTACKER WORDS\r\n")
STAFF = {"ana@example.org", "ben@example.org"}


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app(SEND_AT_ONCE)


def sent(app: App) -> list:
    return spool(app.cfg)


def receive(app: App, raw: bytes) -> None:
    assert app.receive(raw, "test") == "done"


# ------------------------------------------------------------------ MIME shapes

def _html(text: str) -> str:
    return (f'Content-Type: text/html; charset="utf-8"\r\n\r\n'
            f"<html><body><div>{text}</div></body></html>\r\n")


def _plain(text: str) -> str:
    return f'Content-Type: text/plain; charset="utf-8"\r\n\r\n{text}\r\n'


def _inner(body: str = HOSTILE) -> str:
    return ("From: Dan Accused <dan@speaker.example>\r\nTo: ana@example.org\r\n"
            "Subject: about Rita\r\nMessage-ID: <dan-1@speaker.example>\r\n"
            f"MIME-Version: 1.0\r\n{_plain(body)}")


def _multi(kind: str, boundary: str, *parts: str, extra: str = "") -> str:
    inner = "".join(f"--{boundary}\r\n{p}" for p in parts)
    return (f'Content-Type: multipart/{kind}; boundary="{boundary}"{extra}\r\n\r\n'
            f"{inner}--{boundary}--\r\n")


def _rfc822(disposition: str = "attachment; filename=x.eml", body: str = HOSTILE) -> str:
    return (f"Content-Type: message/rfc822\r\nContent-Disposition: {disposition}\r\n\r\n"
            f"{_inner(body)}")


def own_html(text: str, body: str = HOSTILE) -> dict[str, str]:
    """Every shape: the sender's own text (HTML, as most clients write it) + hostile text."""
    return {
        "rfc822 attached": _multi("mixed", "m", _html(text), _rfc822(body=body)),
        "rfc822 inline": _multi("mixed", "m", _html(text), _rfc822("inline", body)),
        "rfc822 no disposition": _multi("mixed", "m", _html(text),
                                        "Content-Type: message/rfc822\r\n\r\n" + _inner(body)),
        "text/plain named inline": _multi(
            "mixed", "m", _html(text), "Content-Type: text/plain\r\nContent-Disposition:"
            f" inline; filename=dan.txt\r\n\r\n{body}"),
        "text/plain attachment": _multi(
            "mixed", "m", _html(text),
            f"Content-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\n{body}"),
        "text/plain named in Content-Type": _multi(
            "mixed", "m", _html(text), f'Content-Type: text/plain; name="dan.txt"\r\n\r\n{body}'),
        "alternative, html only": _multi("mixed", "m", _multi("alternative", "a", _html(text)),
                                         _rfc822(body=body)),
        "mixed nested in alternative": _multi(
            "alternative", "a", _multi("mixed", "m", _html(text), _rfc822(body=body))),
        "related in alternative": _multi(
            "mixed", "m", _multi("alternative", "a", _multi("related", "r", _html(text))),
            _rfc822("inline", body)),
        "signed": _multi(
            "signed", "s", _multi("mixed", "m", _html(text), _rfc822(body=body)),
            'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\nSIG\r\n',
            extra='; protocol="application/pgp-signature"'),
    }


SHAPES = list(own_html(OWN))
MESSAGE_SHAPES = [s for s in SHAPES if "text/plain" not in s]


def from_ana(mime: str, *, subject: str = "Fwd: about Rita", in_reply_to: str | None = None,
             n: int = 1, auth: bool = True) -> bytes:
    head = ("From: Ana Lima <ana@example.org>\r\nTo: conduct@example.org\r\n"
            f"Subject: {subject}\r\nMessage-ID: <ana-fwd-{n}@example.org>\r\n"
            + (AUTH if auth else "") + "MIME-Version: 1.0\r\n")
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
    return (head + mime).encode()


def report(app: App) -> None:
    receive(app, mail("Eve Example <eve@attendee.example>", "Something happened",
                      "Dan Doe grabbed my arm at the party.\n",
                      message_id="<r1@attendee.example>"))


def to_ana(app: App) -> object:
    return next(m for m in sent(app) if "ana@example.org" in str(m["To"]))


def outsiders(app: App) -> set[str]:
    return {m["To"].addresses[0].addr_spec for m in sent(app)} - STAFF


# ------------------------------------------------------------------ a new thread

@pytest.mark.parametrize("shape", SHAPES)
def test_forwarded_mail_in_a_new_staff_thread_runs_no_command(app: App, shape: str) -> None:
    receive(app, from_ana(own_html(OWN)[shape]))
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None
    assert case.accused == () and case.action is None and case.outcome is None
    assert case.reporter is None and case.recused == ()
    assert outsiders(app) == set()  # Rita was never mailed a decision
    assert not [m for m in sent(app) if "Commands" in str(m["Subject"])]
    assert OWN in case.report_text  # Ana's own HTML is her text


@pytest.mark.parametrize("shape", MESSAGE_SHAPES)
def test_a_forwarded_report_is_kept_whole_and_marked_for_staff(app: App, shape: str) -> None:
    receive(app, from_ana(own_html(OWN)[shape]))
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None
    text = case.report_text
    assert text.index(OWN) < text.index(ATTACHED_MARKER) < text.index("ATTACKER WORDS")
    assert "From: Dan Accused <dan@speaker.example>" in text
    ben = [m for m in sent(app) if "ben@example.org" in str(m["To"])]
    assert ben and ATTACHED_MARKER in body_of(ben[0]) and "ATTACKER WORDS" in body_of(ben[0])


def test_a_reporter_forwarding_what_they_received_shows_it_to_staff(app: App) -> None:
    raw = ("From: Eve Example <eve@attendee.example>\r\nTo: conduct@example.org\r\n"
           "Subject: Fwd: look at this\r\nMessage-ID: <eve-fwd@attendee.example>\r\n"
           "MIME-Version: 1.0\r\n" + _multi("mixed", "m", _plain("He keeps writing to me."),
                                             _rfc822(body="You will regret it.\r\n")))
    receive(app, raw.encode())
    staff = [m for m in sent(app) if m["To"].addresses[0].addr_spec in STAFF]
    assert len(staff) == 2
    for m in staff:
        text = body_of(m)
        assert "He keeps writing to me." in text and "You will regret it." in text
    assert outsiders(app) == {"eve@attendee.example"}  # the acknowledgement only


# ------------------------------------------------------------------ an existing case

@pytest.mark.parametrize("shape", SHAPES)
def test_forwarded_mail_on_a_case_runs_no_command(app: App, shape: str) -> None:
    report(app)
    before = app.store.read(cases_db.load_case, 1)
    token = str(to_ana(app)["Message-ID"])  # type: ignore[index]
    count = len(sent(app))
    receive(app, from_ana(own_html("FYI, look at what he sent me")[shape],
                          subject="Re: [CoC #1]", in_reply_to=token))
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and before is not None
    assert case.reporter == before.reporter and case.recused == () and case.accused == ()
    new = sent(app)[count:]
    assert {m["To"].addresses[0].addr_spec for m in new} == {"ben@example.org"}  # a relay
    assert "FYI, look at what he sent me" in body_of(new[0])


@pytest.mark.parametrize("shape", SHAPES)
def test_attached_text_never_goes_out_in_a_reply_or_dsf_report(app: App, shape: str) -> None:
    report(app)
    token = str(to_ana(app)["Message-ID"])  # type: ignore[index]
    count = len(sent(app))
    own = ("#when Friday night\r\n#where the party\r\n#reply\r\n"
           "#report-dsf now We are looking into it.\r\n\r\nWe are looking into it.")
    mime = own_html(OWN)[shape].replace(_html(OWN), _plain(own))
    receive(app, from_ana(mime, subject="Re: [CoC #1]", in_reply_to=token))
    new = sent(app)[count:]
    out = [m for m in new if m["To"].addresses[0].addr_spec not in STAFF]
    assert len(out) == 2 and "eve@attendee.example" in {m["To"].addresses[0].addr_spec
                                                        for m in out}  # the reply, the DSF
    for m in out:
        assert "We are looking into it." in body_of(m)
        assert "ATTACKER WORDS" not in body_of(m) and "Mallory" not in body_of(m)
    assert "Commands done" in str(next(m for m in new if "ana@" in str(m["To"]))["Subject"])
    note = app.store.query("SELECT detail FROM audit WHERE action='note'")
    assert note and all("ATTACKER" not in r["detail"] for r in note)


# ------------------------------------------------------------------ the parsed type

@pytest.mark.parametrize("shape", SHAPES)
def test_own_text_never_holds_attached_text(shape: str) -> None:
    msg = parse_message(from_ana(own_html(OWN)[shape]))
    assert msg.text.strip() == OWN
    assert "#accused" not in msg.text and "ATTACKER" not in msg.text
    if shape in MESSAGE_SHAPES:
        assert msg.attached_text.startswith(ATTACHED_MARKER)
        assert "ATTACKER WORDS" in msg.full_text


def test_plain_own_text_wins_over_html_and_is_the_first_body_part() -> None:
    mime = _multi("mixed", "m", _multi("alternative", "a", _plain("mine, plain"),
                                       _html("mine, html")), _rfc822())
    msg = parse_message(from_ana(mime))
    assert msg.text.strip() == "mine, plain"

