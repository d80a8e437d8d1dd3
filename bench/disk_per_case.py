"""Disk space per thousand cases: what to size the storage dir for (README, "Day two").

Runs N cases through the whole pipeline, as the mail arrives (testsupport's Desk: a
spool config, a frozen clock): each a report of about 1.5 KB of text from an attendee,
then one staff reply with commands (when, where, summary, the person reported, a
note), then the decision and closing commands, so each case has its acknowledgement,
staff notifications and relays, audit lines and outgoing mail on file. Then it prints
the database's size (after a checkpoint: the WAL emptied into it), the spool's (with
`[smtp]` there is no spool; the same mail is also kept in the database), and both per
thousand cases. Attachments come on top, at about their own size (base64 in the raw
message), once in the database.

    python bench/disk_per_case.py [--cases 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from testsupport.apps import Desk  # noqa: E402
from testsupport.helpers import mail, parse  # noqa: E402

REPORT = ("Hello, I want to report something that happened at the party on Thursday "
          "evening. Someone from another company kept standing too close to me, made "
          "comments about my appearance after I asked them to stop, and followed me to "
          "the coat room. A friend saw part of it. I did not feel safe and left early. "
          "I would like them to be told that this is not acceptable, and I would rather "
          "not meet them again at the event. ") * 4


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cocmail-disk-"))
    desk = Desk(tmp)
    started = time.monotonic()
    seen: set[str] = set()
    latest: dict[tuple[str, str], EmailMessage] = {}  # (staff address, "#N]") -> mail

    def reply(who: str, case: int, body: str) -> None:
        """`who` answers the newest mail to them about `case` (its signed token), read
        from the spool files that are new since the last look (Desk.staff reads them
        all each time: quadratic over a thousand cases)."""
        fresh = sorted(p for p in desk.cfg.storage.spool_dir.glob("*.eml")
                       if p.name not in seen)
        for path in fresh:
            seen.add(path.name)
            msg = parse(path.read_bytes())
            tag = str(msg["Subject"]).partition("[CoC ")[2].partition(" ")[0]
            for staff in ("ana@example.org", "ben@example.org"):
                if staff in str(msg["To"]):
                    latest[(staff, tag)] = msg
        note = latest[(who, f"#{case}]")]
        desk.receive(mail(f"Staff <{who}>", "Re: " + note["Subject"], body,
                          message_id=desk._mid(who), in_reply_to=note["Message-ID"]))

    try:
        for n in range(args.cases):
            case = desk.report(f"Reporter {n} <reporter{n}@attendee.example>", REPORT,
                               subject=f"Incident report {n}")
            reply("ana@example.org", case,
                       f"#when Thursday 20:30\n#where the party, coat room\n"
                       f"#summary unwanted comments and following, case {n}\n"
                       f"#accused Pat Doe{n} <pat{n}@company.example>\n"
                       "#note talked to the reporter, a witness saw part of it\n")
            reply("ben@example.org", case,
                       "#action warning\n#outcome warning\n#notified-accused\n"
                       "#notified-harasser\n#notified-victim\n")
        desk.app.store.checkpoint()
        db = desk.cfg.storage.db_path
        wal = Path(f"{db}-wal")
        db_bytes = size(db) + (size(wal) if wal.exists() else 0)
        spool_bytes = size(desk.cfg.storage.spool_dir)
        mails = len(list(desk.cfg.storage.spool_dir.glob("*.eml")))
        with sqlite3.connect(db) as conn:
            cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    finally:
        desk.close()
        shutil.rmtree(tmp, ignore_errors=True)
    per = 1000 / cases
    print(f"cores: {os.cpu_count()}; {cases} cases, {mails} mails sent, "
          f"in {time.monotonic() - started:.0f} s")
    print(f"database: {db_bytes / 1e6:.1f} MB ({db_bytes * per / 1e6:.1f} MB per 1000 cases)")
    print(f"spool:    {spool_bytes / 1e6:.1f} MB ({spool_bytes * per / 1e6:.1f} MB per 1000 "
          "cases; none with [smtp])")


if __name__ == "__main__":
    main()
