"""Issue 11, items 10 and 12: what a stranger puts in From never goes out as our words.

The acknowledgement is sent from the CoC address to whatever address From names, so a
display name holding a phishing sentence would be reflected under the team's name, and
plus-tagged spellings of one mailbox must share its rate limit. Headers cocmail writes
stay within RFC 5322's 998 octets, and `cocmail quarantine show` never hands a
stranger's escape sequences to the terminal. Everything goes through App.receive or
the `cocmail` command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cocmail.app import App
from cocmail.cli import main
from cocmail.store import cases as cases_db
from testsupport.helpers import body_of, mail, make_config, read_spooled, spool


def report_from(app: App, frm: str, n: int = 1) -> None:
    raw = mail(frm, f"Report {n}", "Something happened.\n",
               message_id=f"<reflect-{n}@attendee.example>")
    assert app.receive(raw, "test") == "done"


def ack(app: App) -> object:
    return next(m for m in spool(app.cfg) if "We have received" in str(m["Subject"]))


def greeting(app: App) -> str:
    return body_of(ack(app)).splitlines()[0]  # type: ignore[arg-type]


PHISHING = {
    "url": "Your account is suspended. Log in at https://coc-support.example/login",
    "www": "Urgent www.coc-support.example",
    "domain path": "Verify at bit.ly/coc-verify",
    "address": "write to helpdesk@coc-support.example",
    "sentence": "Please confirm your password today or lose your ticket",
    "punctuation": "Act now! Your badge is blocked",
}


@pytest.mark.parametrize("kind", list(PHISHING))
def test_the_ack_greets_no_name_that_is_a_link_address_or_sentence(app: App, kind: str) -> None:
    report_from(app, f'"{PHISHING[kind]}" <eve@attendee.example>')
    assert greeting(app) == "Hello,"
    assert "coc-support" not in body_of(ack(app)) and "bit.ly" not in body_of(ack(app))


def test_the_ack_greets_a_real_name_and_cuts_a_long_one(app: App) -> None:
    report_from(app, "José María García-López <jose@attendee.example>")
    assert greeting(app) == "Hello José María García-López,"
    long = "Bartholomew" * 20
    report_from(app, f"{long} <bart@attendee.example>", n=2)
    acks = [m for m in spool(app.cfg) if "We have received" in str(m["Subject"])]
    line = body_of(acks[-1]).splitlines()[0]
    assert line.startswith("Hello Bartholomew") and len(line) <= len("Hello ,") + 64


def test_plus_tagged_spellings_of_one_mailbox_share_its_ack_limit(app: App) -> None:
    for n in range(8):
        local = "Victim" if n % 2 else "victim"
        report_from(app, f"V <{local}+{n}@attendee.example>", n=n)
    report_from(app, "V <victim@Attendee.Example>", n=8)
    acks = [m for m in spool(app.cfg) if "We have received" in str(m["Subject"])]
    assert len(acks) == 5  # the default limit of 5 a day
    assert app.store.read(cases_db.case_numbers) == list(range(1, 10))  # staff still hear of each
    # Another mailbox at the same domain has its own limit.
    report_from(app, "Zoe <zoe@attendee.example>", n=9)
    assert len([m for m in spool(app.cfg) if "We have received" in str(m["Subject"])]) == 6


@pytest.mark.parametrize("name", ["A" * 2000, "Ana " * 500, "Ünïcödé " * 300,
                                  "=?utf-8?q?" + "x" * 1500 + "?="])
def test_every_header_line_cocmail_writes_fits_998_octets(app: App, name: str) -> None:
    report_from(app, f'"{name}" <eve@attendee.example>')
    assert spool(app.cfg)
    paths = sorted(app.cfg.storage.spool_dir.glob("*.eml"))
    # The spool is sealed (issue 27): the lines checked are those of the mail unsealed.
    for path, raw in zip(paths, read_spooled(paths), strict=True):
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert max(len(line) for line in head.split(b"\r\n")) <= 998, path.name


def test_quarantine_show_prints_no_control_sequences(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COCMAIL_CONFIG", raising=False)
    umask = os.umask(0o022)
    os.umask(umask)
    make_config(tmp_path)
    config = str(tmp_path / "cocmail.toml")
    # Nested a thousand levels deep: quarantined (test_broken_mail), then shown.
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                      for i in range(1000))
    raw = ("From: Eve <eve@attendee.example>\r\nTo: conduct@example.org\r\n"
           "Subject: \x1b]0;owned\x07\x1b[2J\x9b31mhello\r\nX-Evil: \x1b]8;;https://x/\x1b\\\r\n"
           "MIME-Version: 1.0\r\n" + opening + "Content-Type: text/plain\r\n\r\nx\r\n"
           ).encode()
    runner = CliRunner()
    try:
        done = runner.invoke(main, ["--config", config, "ingest", "-"], input=raw,
                             catch_exceptions=False)
        assert done.exit_code == 0, done.output
        shown = runner.invoke(main, ["--config", config, "quarantine", "show", "1"],
                              catch_exceptions=False)
    finally:
        os.umask(umask)
    assert shown.exit_code == 0, shown.output
    assert "Subject:" in shown.output and "hello" in shown.output
    assert not any(ord(ch) < 0x20 and ch not in "\n\t" or 0x7F <= ord(ch) <= 0x9F
                   for ch in shown.output)
    assert "\\x1b]0;owned" in shown.output
