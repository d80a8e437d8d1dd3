"""Output that attacks its reader (issue 21 item 6): a stranger's name, subject or
Message-ID holding escape sequences reaches a volunteer's terminal, the logs and the
exports escaped, every one of them through the real `cocmail` command.

What a user would notice: `cases show` retitling their terminal, or a bidi override
making a line read backwards; `report --format xlsx` failing on a name; a published
transparency report that loads a remote image or carries a javascript: link.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.core.safe_text import markdown_text, safe_json, shown, without_links
from testsupport.helpers import STAFF_TOML, parse, read_spooled
from testsupport.process import Run, cocmail, cocmail_argv, cocmail_env

ESC_NAME = "Eve \x1b]0;pwned\x07\x1b[2J\x9b31m Mal\u202eloiv\u202c"  # OSC, CSI, C1 CSI, RLO
ESC_SUBJECT = "Help \x1b[8mhidden\x1b[0m"
ESC_MID = "<evil\x1b[2Jid@attacker.example>"
# What must never reach a terminal raw: ESC, BEL, C1 CSI, bidi overrides, a lone CR.
RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")


def config(tmp: Path, extra: str = "") -> Path:
    path = tmp / "cocmail.toml"
    path.write_text(f"""
[event]
name = "Example Conf 2027"
timezone = "Europe/Berlin"

[inbox]
address = "conduct@example.org"
max_message_bytes = 20000

[storage]
dir = "{tmp / 'data'}"

[process]
second_approval = []
{STAFF_TOML}
{extra}
""")
    return path


def encoded(text: str) -> str:
    """An RFC 2047 encoded word: how a display name carries any character cleanly."""
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def raw_mail(frm: str, subject: str, body: str, message_id: str,
             in_reply_to: str | None = None, padding: int = 0) -> bytes:
    """Built by hand: the email package would refuse to write these headers."""
    head = [f"From: {frm}", "To: conduct@example.org", f"Subject: {subject}",
            f"Message-ID: {message_id}", "Date: Wed, 02 Jun 2027 10:00:00 +0200",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit"]
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to}")
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n" + "x" * padding).encode()


def spool(cfg: Path) -> list:
    """The mails in the spool, unsealed (issue 27: the spool is sealed like the store)."""
    return [parse(raw) for raw in read_spooled(sorted((cfg.parent / "data" / "spool")
                                                      .glob("*.eml")))]


def clean(run: Run) -> str:
    """The command's output, asserted free of raw control and bidi characters."""
    assert run.code == 0, run.err
    for stream in (run.out, run.err):
        bad = RAW.search(stream)
        assert bad is None, f"raw {bad.group()!r} in {stream!r}"
    return run.out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One case opened by a hostile sender, worked on by staff, and one quarantined mail."""
    tmp = tmp_path_factory.mktemp("safeout")
    cfg = config(tmp)
    ingest = cocmail(cfg, "ingest", "-", stdin=raw_mail(
        f"{encoded(ESC_NAME)} <eve@attacker.example>", ESC_SUBJECT,
        "Someone \x1b[31mshouted\x1b[0m at me.", ESC_MID))
    assert ingest.code == 0, ingest.err
    (cfg.parent / "ingest.log").write_text(ingest.err)
    note = [m for m in spool(cfg) if "ana@example.org" in str(m["To"])][-1]
    staff = cocmail(cfg, "ingest", "-", stdin=raw_mail(
        "Ana Lima <ana@example.org>", "Re: " + str(note["Subject"]),
        # Staff commands refuse control characters; a bidi override still gets in.
        "#accused Mal\u202eyro\u202c Roe <mal@attacker.example>\n"
        "#summary shouting \u2066here\u2069\n"
        "#action Warning \u202egnissecorp\u202c\n#outcome warning\n"
        "#public-summary ![x](http://evil.example/img.png) <img src=x onerror=alert(1)> "
        "[click](javascript:alert(document.cookie)) shouting *at* a_social_ event\n",
        "<ana1@example.org>", in_reply_to=str(note["Message-ID"])))
    assert staff.code == 0, staff.err
    big = cocmail(cfg, "ingest", "-", stdin=raw_mail(
        "Zed <zed@attacker.example>", "Big \x1b]0;title\x07 one", "hello",
        "<big\x1b[2J@attacker.example>", padding=30000))
    assert big.code == 0, big.err
    return cfg


def test_cases_show_and_list_escape_what_the_sender_wrote(hostile: Path) -> None:
    show = clean(cocmail(hostile, "cases", "show", "1"))
    assert "Eve \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m Mal\\u202eloiv\\u202c" in show
    assert "\\x1b[8mhidden" in show  # the subject in the messages list
    assert "evil\\x1b[2Jid@attacker.example" in show
    assert "Mal\\u202eyro\\u202c Roe" in show
    assert "Warning \\u202egnissecorp\\u202c" in show
    assert "shouting \\u2066here\\u2069" in show
    listed = clean(cocmail(hostile, "cases", "list", "--all"))
    assert "shouting \\u2066here\\u2069" in listed


def test_json_stays_valid_json_and_keeps_the_exact_values(hostile: Path) -> None:
    detail = json.loads(clean(cocmail(hostile, "cases", "show", "1", "--json")))
    assert detail["reporter"]["name"] == ESC_NAME
    assert detail["accused"][0]["name"] == "Mal\u202eyro\u202c Roe"
    assert any(m["message_id"] == ESC_MID.strip("<>") or m["message_id"] == ESC_MID
               for m in detail["messages"])
    listed = json.loads(clean(cocmail(hostile, "cases", "list", "--all", "--json")))
    assert listed[0]["summary"] == "shouting \u2066here\u2069"
    people = json.loads(clean(cocmail(hostile, "people", "--json")))
    assert {p["name"] for p in people} >= {ESC_NAME, "Mal\u202eyro\u202c Roe"}
    report = json.loads(clean(cocmail(hostile, "report", "--format", "json")))
    assert report[0]["Action taken"] == "Warning \\u202egnissecorp\\u202c"


def test_people_and_check_attendees_escape_names(hostile: Path, tmp_path: Path) -> None:
    people = clean(cocmail(hostile, "people"))
    assert "Mal\\u202eyro\\u202c Roe" in people and "Eve \\x1b]0;pwned" in people
    attendees = tmp_path / "attendees.csv"
    attendees.write_text("name,email\n\"Bad \x1b]0;x\x07 Guy\",mal@attacker.example\n")
    hits = clean(cocmail(hostile, "check-attendees", str(attendees)))
    assert "Bad \\x1b]0;x\\x07 Guy <mal@attacker.example>" in hits


def test_the_exports_never_break_nor_carry_escapes(hostile: Path, tmp_path: Path) -> None:
    out = clean(cocmail(hostile, "report"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["Reporter name"] == "Eve \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m Mal\\u202eloiv" \
                                       "\\u202c"
    written = tmp_path / "report.csv"
    clean(cocmail(hostile, "report", "-o", str(written)))
    assert RAW.search(written.read_text(encoding="utf-8")) is None
    sheet = tmp_path / "report.xlsx"
    clean(cocmail(hostile, "report", "--format", "xlsx", "-o", str(sheet)))
    from openpyxl import load_workbook

    cells = [c.value for row in load_workbook(sheet).active.iter_rows() for c in row]
    assert "Eve \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m Mal\\u202eloiv\\u202c" in cells


def on_a_terminal(config: Path, *args: str) -> str:
    """What `cocmail ARGS` shows on a real terminal (a pty): click passes ANSI
    sequences through only there, so this is where a volunteer is attacked."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cocmail_argv(config, *args), stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, cwd=config.parent, env=cocmail_env())
    os.close(slave)
    out = b""
    try:
        while True:  # read while it writes: a pty holds only a few KB
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the command exited and everything was read
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        proc.wait(timeout=60)
    assert proc.returncode == 0, out
    return out.decode("utf-8", "replace")


def test_a_terminal_gets_escapes_and_a_file_gets_the_exact_quarantined_mail(
        hostile: Path) -> None:
    listed = clean(cocmail(hostile, "quarantine", "list"))
    item = listed.split()[0]
    for args in (("quarantine", "show", item), ("quarantine", "show", item, "--raw"),
                 ("cases", "show", "1"), ("outbox", "list")):
        seen = on_a_terminal(hostile, *args)
        bad = RAW.search(seen.replace("\r\n", "\n"))
        assert bad is None, f"{args}: raw {bad.group()!r} in {seen!r}"
    assert "Big \\x1b]0;title\\x07 one" in on_a_terminal(hostile, "quarantine", "show", item)
    assert "\\x1b[2J" in on_a_terminal(hostile, "cases", "show", "1")
    raw = cocmail(hostile, "quarantine", "show", item, "--raw")  # into a pipe: exact
    assert raw.code == 0 and "Big \x1b]0;title\x07 one" in raw.out


def test_log_lines_escape_message_ids(hostile: Path) -> None:
    log = (hostile.parent / "ingest.log").read_text()
    assert "evil\\x1b[2Jid@attacker.example" in log, log
    assert RAW.search(log) is None


def test_transparency_publishes_no_image_html_or_link(hostile: Path, tmp_path: Path) -> None:
    md = cocmail(hostile, "transparency")
    text = clean(md)
    line = next(x for x in text.splitlines() if x.startswith("1. "))
    assert "shouting \\*at\\* a\\_social\\_ event" in line, line
    for bad in ("http", "evil.example", "javascript", "<img", "onerror=alert", "![", "]("):
        assert bad not in text, bad
    page = tmp_path / "report.html"
    clean(cocmail(hostile, "transparency", "--format", "html", "-o", str(page)))
    html = page.read_text()
    item = re.search(r"<li>1?\.?\s*(.*?)</li>", html.split("The reports", 1)[1], re.S)
    assert item is not None and "shouting *at* a_social_ event" in item.group(1)
    for bad in ("evil.example", "javascript", "<img", "onerror", "<a "):
        assert bad not in html.split("The reports", 1)[1], bad


# ------------------------------------------------------------------ the rule itself

ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_shown_leaves_no_raw_control_and_json_keeps_the_exact_value(text: str) -> None:
    assert RAW.search(shown(text)) is None
    one = shown(text, lines=False)
    assert RAW.search(one) is None and "\n" not in one and "\r" not in one
    assert json.loads(safe_json({"v": text})) == {"v": text}
    assert RAW.search(safe_json({"v": text})) is None


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_markdown_text_has_no_live_markup(text: str) -> None:
    md = markdown_text(text)
    assert "\n" not in md and RAW.search(md) is None
    assert re.search(r"(?<!\\)[*_`\[\]!|~#<>]", md) is None, md
    assert not re.match(r"\s*([-+=]|\d+[.)])", md), md


@pytest.mark.parametrize("summary, kept", [
    ("the data: it was shared", "the data: it was shared"),  # English, not a data: URL
    ("see https://evil.example/x and www.evil.example", "see (link removed) and (link removed)"),
    ("![a](http://x/y.png)<img src=x onerror=alert(1)>[hi](javascript:alert(1))", "hi"),
])
def test_without_links_keeps_words_and_drops_links(summary: str, kept: str) -> None:
    assert without_links(summary) == kept
