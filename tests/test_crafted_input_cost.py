"""Issue 11, item 3: one crafted mail must not stall the inbox.

Each test feeds attacker-sized input through the real pipeline (App.receive, spool
delivery) and checks the *shape* of the work done (how many ids are looked up, how many
header fields or HTML characters reach the parsers), which does not depend on the
machine; the one wall-clock bound is generous (the old code took minutes). bench/
hostile_input.py prints the figures at 10 MB.
"""

from __future__ import annotations

import time

import pytest

import cocmail.core.identity
import cocmail.core.message
from cocmail.app import App
from cocmail.core.header_limits import MAX_FIELD_BYTES, MAX_HEADER_FIELDS, MAX_MIME_PARTS
from cocmail.core.message import MAX_HTML_CHARS, parse_message, quick_message_id
from cocmail.core.model import MAX_IN_REPLY_TO, MAX_REFERENCES
from cocmail.store import cases as cases_db
from testsupport.helpers import spool

HEAD = ("From: Mallory <mallory@attendee.example>\r\nTo: conduct@example.org\r\n"
        "Subject: A report\r\nMessage-ID: <hostile-{n}@attendee.example>\r\n"
        "MIME-Version: 1.0\r\n")


def crafted(n: int, extra: str = "", body: str = "Something happened.\r\n",
            content_type: str = "text/plain") -> bytes:
    return (HEAD.format(n=n) + extra + f"Content-Type: {content_type}\r\n\r\n" + body).encode()


def ids(count: int) -> str:
    return " ".join(f"<old-{i}@attendee.example>" for i in range(count))


# ------------------------------------------------------------------ thread ids

def test_a_huge_references_header_costs_a_bounded_number_of_lookups(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    receive_report = app.receive(crafted(1), "test")
    assert receive_report == "done"
    ack = next(m for m in spool(app.cfg) if "mallory@" in str(m["To"]))
    token = str(ack["Message-ID"])
    looked_up: list[str] = []
    real = cocmail.core.identity.token_from_message_id

    def counting(secret: bytes, mid: str) -> object:
        looked_up.append(mid)
        return real(secret, mid)

    # Tokens are read once per message, by identify (the pipeline reuses them).
    monkeypatch.setattr(cocmail.core.identity, "token_from_message_id", counting)
    # 2 MB of References (60,000 ids), the reply's token last, where clients put it.
    refs = ids(60_000) + " " + token
    started = time.monotonic()
    state = app.receive(crafted(2, f"In-Reply-To: {token}\r\nReferences: {refs}\r\n"), "test")
    elapsed = time.monotonic() - started
    assert state == "done"
    assert len(looked_up) <= MAX_REFERENCES + MAX_IN_REPLY_TO
    assert app.store.read(cases_db.case_numbers) == [1]  # threaded by the newest id
    assert elapsed < 10  # generous: the quadratic de-duplication took minutes here


def test_thread_ids_are_capped_deduplicated_newest_first_and_computed_once() -> None:
    msg = parse_message(crafted(1, f"In-Reply-To: <new@x>\r\nReferences: {ids(100_000)}"
                                   " <new@x> <old-5@attendee.example>\r\n"))
    got = msg.thread_ids()
    assert got[0] == "new@x" and got[1] == "old-5@attendee.example"
    assert len(got) == len(set(got)) <= MAX_REFERENCES + MAX_IN_REPLY_TO
    assert msg.thread_ids() is got  # cached: identity, matching and the pipeline all ask


# ------------------------------------------------------------------ header blocks

def count_parser_input(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    real = cocmail.core.message.mailparser.parse_from_bytes

    def spy(raw: bytes) -> object:
        seen.append(raw)
        return real(raw)

    monkeypatch.setattr(cocmail.core.message.mailparser, "parse_from_bytes", spy)
    return seen


def header_fields(raw: bytes) -> int:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return sum(1 for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t"))


def test_thousands_of_header_fields_reach_the_parser_as_a_bounded_block(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = count_parser_input(monkeypatch)
    filler = "".join(f"X-Filler-{i}: {'v' * 20}\r\n" for i in range(50_000))
    filler += "".join(f"Received: from h{i} by mx\r\n" for i in range(50_000))
    raw = crafted(1, filler).replace(b"Subject: A report\r\n", b"")
    raw = raw.replace(b"MIME-Version", filler.encode() + b"Subject: late\r\nMIME-Version", 1)
    assert app.receive(raw, "test") == "done"
    assert header_fields(seen[0]) <= MAX_HEADER_FIELDS + 100
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.subject == "late"  # a field RFC 5322 allows once
    assert any("ack" == r["kind"] for r in app.store.query("SELECT kind FROM outbox"))


def test_a_repeated_from_header_is_still_seen_as_repeated() -> None:
    froms = "".join(f"From: Ana Lima <ana@example.org>\r\nX-{i}: y\r\n" for i in range(3000))
    msg = parse_message(crafted(1, froms))
    assert msg.sender is None
    assert any("From" in d for d in msg.defects)


@pytest.mark.parametrize("header", ["To", "Cc"])
def test_huge_address_lists_are_cut_after_a_whole_mailbox(
        app: App, monkeypatch: pytest.MonkeyPatch, header: str) -> None:
    seen = count_parser_input(monkeypatch)
    people = ", ".join(f"Person {i} <p{i}@attendee.example>" for i in range(40_000))
    raw = crafted(1, f"{header}: {people}\r\n" if header == "Cc" else "")
    if header == "To":
        raw = raw.replace(b"To: conduct@example.org", f"To: conduct@example.org, {people}"
                          .encode())
    assert app.receive(raw, "test") == "done"
    longest = max(len(f) for f in seen[0].split(b"\r\n\r\n", 1)[0].split(b"\n"))
    assert longest <= MAX_FIELD_BYTES + 100
    msg = parse_message(raw)
    listed = msg.to if header == "To" else msg.cc
    assert 100 < len(listed) < 1000
    assert all(a.email.endswith("@attendee.example") or a.email == "conduct@example.org"
               for a in listed)


def test_a_megabyte_subject_is_cut() -> None:
    msg = parse_message(crafted(1).replace(b"Subject: A report",
                                           b"Subject: " + b"Re: spam " * 200_000))
    assert len(msg.subject) <= MAX_FIELD_BYTES


def test_a_folded_message_id_is_read_in_linear_time() -> None:
    raw = b"Message-ID: <a@b.example>\r\n" + b" x\r\n" * 2_000_000 + b"\r\nbody"
    started = time.monotonic()
    assert quick_message_id(raw) == "a@b.example"
    assert time.monotonic() - started < 2  # gluing 2,000,000 folded lines took minutes


# ------------------------------------------------------------------ MIME and HTML

def test_a_mail_of_many_mime_parts_is_quarantined_before_parsing(app: App) -> None:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
                    for i in range(MAX_MIME_PARTS + 1000))
    raw = crafted(1, body=parts + "--b--\r\n", content_type='multipart/mixed; boundary="b"')
    started = time.monotonic()
    assert app.receive(raw, "test") == "quarantined"
    assert time.monotonic() - started < 5
    row = app.store.query("SELECT error FROM inbound WHERE state='quarantined'")[0]
    assert "MIME parts" in row["error"]


def test_deep_nesting_around_a_big_body_is_quarantined(app: App) -> None:
    depth = 60
    opening = "".join(f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
                      for i in range(depth))
    closing = "".join(f"--b{i}--\r\n" for i in reversed(range(depth + 1)))
    body = opening + f"--b{depth}\r\nContent-Type: text/plain\r\n\r\n" + "x" * 70 * 60_000
    body = body.replace("x" * 70, "x" * 69 + "\n") + closing
    raw = crafted(1, body=body, content_type='multipart/mixed; boundary="b0"')
    assert app.receive(raw, "test") == "quarantined"
    row = app.store.query("SELECT error FROM inbound WHERE state='quarantined'")[0]
    assert "nesting too deep" in row["error"]


def test_only_the_start_of_a_huge_html_body_is_converted(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    import html2text

    sizes: list[int] = []
    real = html2text.HTML2Text.handle

    def spy(self: html2text.HTML2Text, data: str) -> str:
        sizes.append(len(data))
        return real(self, data)

    monkeypatch.setattr(html2text.HTML2Text, "handle", spy)
    html = "<div>Dan grabbed me.</div>" + "<div><b>" * 200_000 + "x" + "</b></div>" * 200_000
    assert app.receive(crafted(1, body=html, content_type="text/html"), "test") == "done"
    assert sizes and max(sizes) <= MAX_HTML_CHARS
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and "Dan grabbed me." in case.report_text
