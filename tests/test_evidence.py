"""Evidence reaches the team (issue 25, item 2): the files that come with a report or a
later mail are attached to each member's notification up to `[process]
attachments_to_staff_mb`, pictures without their metadata; the rest are listed with the
command that saves them; nobody outside the team (nor an excluded member) gets them; the
real `cocmail cases attachments N [-o DIR]` lists and saves them; a purge removes them.

Through real mail (Desk) and the real command in a subprocess; Pillow only makes and
reads the pictures.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from cocmail.cli import main
from cocmail.config import ConfigError
from cocmail.core.evidence import safe_name, size_text
from cocmail.retention import purge_due
from testsupport.apps import Clock, Desk
from testsupport.helpers import body_of, make_config, read_spooled, unsealed_connection
from testsupport.process import cocmail

T0 = datetime(2027, 6, 1, 8, 0, tzinfo=UTC)
REPORTER = "Rita Reporter <rita@attendee.example>"
STAFF = ("ana@example.org", "ben@example.org")
# Desk's config opens [process] just before the extra text: a key on top lands in it.
ONE_MB = "attachments_to_staff_mb = 1\n"
PDF = b"%PDF-1.4\n% chat log with Dan\n" + b"Q3VyaW91c2x5UGRmTWFya2Vy" * 50 + b"\n%%EOF\n"
HUGE = os.urandom(1536 * 1024)  # 1.5 MB of video: over a 1 MB limit on its own
BAD_NAME = "../../etc/\x07\x1b[31mcron\u202egpj.exe"
RFC2231 = "relatório do incidente.pdf"  # sent as filename*=UTF-8''relat%C3%B3rio...


def _png() -> bytes:
    img = Image.new("RGB", (40, 30), (200, 30, 30))
    for x in range(30):
        img.putpixel((x, x), (0, 0, 255))
    exif = Image.Exif()
    exif[0x013B] = "Rita Reporter"  # Artist
    exif[0x8825] = {1: "N", 2: (38.0, 42.0, 30.0), 3: "W", 4: (9.0, 8.0, 15.0)}  # GPS
    out = io.BytesIO()
    img.save(out, "PNG", exif=exif.tobytes())
    return out.getvalue()


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").tobytes()


def _report(*files: tuple[str, str, bytes], frm: str = REPORTER, text: str = "",
            mid: str = "<r1@attendee.example>", subject: str = "He keeps messaging me",
            in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = "conduct@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content(text or "Dan Doe keeps messaging me. Screenshots attached.\n")
    for name, ctype, data in files:
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes()


def _everything() -> bytes:
    raw = _report(("IMG_4821.PNG", "image/png", _png()), ("chat.pdf", "application/pdf", PDF),
                  ("clip.mp4", "video/mp4", HUGE), (BAD_NAME, "application/pdf", PDF),
                  ("placeholder.pdf", "application/pdf", PDF))
    # The last file's name as a phone writes a non-ASCII one: RFC 2231.
    return raw.replace(b'filename="placeholder.pdf"',
                       b"filename*=UTF-8''relat%C3%B3rio%20do%20incidente.pdf")


def _files(m: Message) -> dict[str, bytes]:
    return {str(p.get_filename()): p.get_payload(decode=True) for p in m.iter_attachments()}


def _to(desk: Desk, who: str) -> list[EmailMessage]:
    return [m for m in desk.sent() if who in str(m["To"])]


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk(ONE_MB, clock=Clock(T0))


def test_the_team_gets_the_report_s_files_up_to_the_limit_and_the_command_for_the_rest(
        desk: Desk) -> None:
    assert desk.receive(_everything()) == "done"
    for who in STAFF:
        (note,) = [m for m in _to(desk, who) if "New report" in str(m["Subject"])]
        files = _files(note)
        # Everything but the video fits in 1 MB; the odd names arrive harmless.
        assert set(files) == {"IMG_4821.PNG", "chat.pdf", "[31mcrongpj.exe",
                              RFC2231}, files.keys()
        assert files["chat.pdf"] == PDF and files[RFC2231] == PDF
        png = files["IMG_4821.PNG"]
        assert b"Rita" not in png and _pixels(png) == _pixels(_png())  # no EXIF, same picture
        with Image.open(io.BytesIO(png)) as im:
            assert not im.getexif()
        body = " ".join(body_of(note).split())
        assert "IMG_4821.PNG (image/png, " in body
        assert f"chat.pdf (application/pdf, {size_text(len(PDF))})" in body
        assert ("Not attached to this mail: - clip.mp4 (video/mp4, 1.5 MB): over the 1 MB a"
                " mail carries") in body
        assert "cocmail cases attachments 1 -o DIR" in body
        assert "without their metadata" in body
    # The reporter's acknowledgement carries nothing back.
    (ack,) = _to(desk, "rita@attendee.example")
    assert list(ack.iter_attachments()) == []


def test_a_later_mail_s_files_reach_the_team_with_the_relay(desk: Desk) -> None:
    n = desk.report(REPORTER, "Dan Doe keeps messaging me.\n")
    ack = _to(desk, "rita@attendee.example")[-1]
    desk.new()
    assert desk.receive(_report(("again.pdf", "application/pdf", PDF),
                                text="He wrote again, see the PDF.\n", mid="<r2@attendee.example>",
                                subject=f"Re: {ack['Subject']}",
                                in_reply_to=ack["Message-ID"])) == "done"
    relays = desk.new()
    assert sorted(str(m["To"]).rpartition("<")[2].rstrip(">") for m in relays) == list(STAFF)
    for relay in relays:
        assert f"#{n}]" in str(relay["Subject"])
        assert _files(relay) == {"again.pdf": PDF}
        assert f"Attachments:  again.pdf (application/pdf, {size_text(len(PDF))})" in body_of(relay)


def test_no_file_leaves_the_team(desk: Desk) -> None:
    """The reported person, the reporter and the DSF get none (attach_correspondence is
    off here): only staff mail carries files."""
    assert desk.receive(_everything()) == "done"
    desk.staff("ana@example.org", 1, "#accused Dan Doe <dan@speaker.example>\n#notify-accused\n"
               "#when Friday\n#where Hallway\n#action A warning\n#outcome warning\n"
               "#notify-harasser\n#notify-victim\n"
               "#report-dsf now Unwelcome remarks in the hallway.\n\nTalked to him.\n")
    outside = [m for m in desk.sent()
               if not any(s in str(m["To"]) for s in STAFF)]
    assert {a for m in outside for a in ("dan@", "rita@", "djangoproject") if a in str(m["To"])} \
        == {"dan@", "rita@", "djangoproject"}
    for m in outside:
        assert list(m.iter_attachments()) == [], m["To"]
        assert b"Q3VyaW91c2x5UGRmTWFya2Vy" not in m.as_bytes()


def test_a_member_the_report_names_gets_nothing_of_it(make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(ONE_MB)
    raw = _report(("IMG_4821.PNG", "image/png", _png()),
                  text="Ben Okafor (ben@example.org) keeps messaging me.\n")
    assert desk.receive(raw) == "done"
    assert _to(desk, "ben@example.org") == []
    (note,) = _to(desk, "ana@example.org")
    assert set(_files(note)) == {"IMG_4821.PNG"}


def test_a_picture_that_cannot_be_cleaned_is_listed_not_sent(desk: Desk) -> None:
    heic = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64
    assert desk.receive(_report(("IMG_0002.HEIC", "image/heic", heic))) == "done"
    note = _to(desk, "ana@example.org")[-1]
    assert _files(note) == {}
    assert b"ftypheic" not in note.as_bytes()
    assert f"IMG_0002.HEIC (image/heic, {len(heic)} bytes): a picture whose metadata cocmail" \
        in " ".join(body_of(note).split())


def test_the_cli_lists_and_saves_the_files_safely(desk: Desk, tmp_path: Path) -> None:
    assert desk.receive(_everything()) == "done"
    cfg = Path(desk.cfg.source)
    listed = cocmail(cfg, "cases", "attachments", "1")
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("IMG_4821.PNG (image/png, ")
    assert "clip.mp4 (video/mp4, 1.5 MB)  from message 1 (report, " in lines[2]
    assert "rita@attendee.example" in lines[0]
    assert "\x1b" not in listed.out and "\x07" not in listed.out  # shown escaped

    out = tmp_path / "evidence" / "case-1"
    saved = cocmail(cfg, "cases", "attachments", "1", "-o", str(out))
    assert saved.code == 0, saved.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["IMG_4821.PNG", "chat.pdf", "clip.mp4", "[31mcrongpj.exe", RFC2231])
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    # The team's own copy is the original, metadata included.
    assert (out / "IMG_4821.PNG").read_bytes() == _png()
    assert (out / "clip.mp4").read_bytes() == HUGE
    assert not list(tmp_path.glob("**/cron*"))  # nothing escaped the directory

    # Saved again: nothing is overwritten, the second copies are numbered.
    (out / "chat.pdf").write_bytes(b"the team's own notes")
    again = cocmail(cfg, "cases", "attachments", "1", "-o", str(out))
    assert again.code == 0, again.err
    assert (out / "chat.pdf").read_bytes() == b"the team's own notes"
    assert (out / "chat-2.pdf").read_bytes() == PDF
    assert (out / "IMG_4821-2.PNG").read_bytes() == _png()
    assert len(list(out.iterdir())) == 10


def test_the_cli_says_what_is_wrong(desk: Desk, tmp_path: Path) -> None:
    assert desk.receive(_everything()) == "done"
    cfg = Path(desk.cfg.source)
    missing = cocmail(cfg, "cases", "attachments", "7")
    assert missing.code != 0 and "no case #7" in missing.err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        denied = cocmail(cfg, "cases", "attachments", "1", "-o", str(locked))
        assert denied.code != 0 and f"cannot write into {locked}" in denied.err
        assert list(locked.iterdir()) == []
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    clash = cocmail(cfg, "cases", "attachments", "1", "-o", str(a_file))
    assert clash.code != 0 and str(a_file) in clash.err
    assert "Traceback" not in clash.err + missing.err
    desk.report("Eve <eve@a.example>", "No files this time.\n")
    none = cocmail(cfg, "cases", "attachments", "2")
    assert none.code == 0 and none.out.strip() == "case #2 has no attachments"


def test_cases_show_lists_the_files(desk: Desk) -> None:
    assert desk.receive(_everything()) == "done"
    cfg = Path(desk.cfg.source)
    data = cocmail(cfg, "cases", "show", "1", "--json").json()
    assert data["attachments"][1] == {"name": "chat.pdf", "type": "application/pdf",
                                      "size": len(PDF)}
    assert [a["name"] for a in data["attachments"]] == [
        "IMG_4821.PNG", "chat.pdf", "clip.mp4", BAD_NAME, RFC2231]
    assert data["attachments"][2]["size"] == len(HUGE)
    text = cocmail(cfg, "cases", "show", "1").out
    assert "Attachments (cocmail cases attachments 1 -o DIR saves them):" in text
    assert f"  {RFC2231} (application/pdf, {size_text(len(PDF))})" in text


def test_a_purge_removes_the_files(desk: Desk) -> None:
    assert desk.receive(_everything()) == "done"
    assert desk.staff("ana@example.org", 1, "#accused Dan Doe <dan@speaker.example>\n"
                      "#action None\n#outcome not-a-violation\n#close\n") == "done"
    db = desk.cfg.storage.db_path
    marker = base64.b64encode(PDF[:57])  # the first line of the PDF as mail carries it
    assert marker in _unsealed_tables(db)  # sealed (issue 27): seen with the keys
    assert purge_due(desk.app, T0 + timedelta(days=3 * 366)) == [1]
    desk.restart()  # the WAL checkpointed into the file
    wal = Path(str(db) + "-wal")
    assert marker not in db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert marker not in _unsealed_tables(db)
    spooled = sorted(desk.cfg.storage.spool_dir.glob("*.eml"))
    assert not any(marker in p.read_bytes() for p in desk.cfg.storage.spool_dir.glob("*"))
    assert not any(marker in raw for raw in read_spooled(spooled))
    listed = cocmail(Path(desk.cfg.source), "cases", "attachments", "1")
    assert listed.code == 0 and listed.out.strip() == "case #1 has no attachments"
    assert json.loads(desk.cli("cases", "show", "1", "--json"))["attachments"] == []


def _unsealed_tables(db: Path) -> bytes:
    """Every value of every table, read with the storage dir's keys (issue 27: the
    file's bytes hold only sealed values), through a connection of its own."""
    conn = unsealed_connection(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return b"\n".join(v if isinstance(v, bytes) else str(v).encode("utf-8", "replace")
                          for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')
                          for v in row)
    finally:
        conn.close()


@pytest.mark.parametrize(("name", "safe"), [
    ("IMG_4821.PNG", "IMG_4821.PNG"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    (".bashrc", "bashrc"),
    ("...", "attachment-3.pdf"),
    ("(no name)", "attachment-3.pdf"),
    ("a\x00b\nc\x1b.pdf", "abc.pdf"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),
    ('what?"is<this>.pdf', "what__is_this_.pdf"),
])
def test_safe_names(name: str, safe: str) -> None:
    assert safe_name(name, "application/pdf", 3) == safe


def test_a_long_name_keeps_its_extension() -> None:
    name = safe_name("é" * 300 + ".jpeg", "image/jpeg", 1)
    assert name.endswith(".jpeg") and len(name.encode()) <= 200


def test_sizes_read_as_staff_expect() -> None:
    assert [size_text(n) for n in (0, 1, 121, 1024, 1025, 24 * 1024, 22 * 1024 * 1024 + 524288)] \
        == ["0 bytes", "1 byte", "121 bytes", "1 KB", "2 KB", "24 KB", "22.5 MB"]


def test_the_demo_shows_a_screenshot_reaching_staff(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    step = result.stdout.split("1b. Eve writes again", 1)[1].split("\n2. ", 1)[0]
    assert step.count("Attachments:  IMG_4821.PNG (image/png, ") == 2  # Ana and Ben
    assert step.count("| [attached: IMG_4821.PNG (image/png, ") == 2
    assert "cocmail cases attachments 1 -o DIR" in step


def test_a_negative_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="attachments_to_staff_mb"):
        make_config(tmp_path, "[process]\nattachments_to_staff_mb = -1\n")
    assert make_config(tmp_path).process.attachments_to_staff_mb == 10
