"""Fault injection: SIGKILL `cocmail run` while it works through a backlog, and count.

The scenario itself, shared by bench/faults.py (its command line) and tests/test_crash.py
(the same scenario as a slow test).

A few hundred reports wait in a real Dovecot. The real `cocmail run` (a subprocess, as
systemd runs it) is killed with SIGKILL at random moments and started again until all
work is done. Meanwhile the SMTP server (aiosmtpd, testsupport/servers.SmtpSink) answers
451 or 421 or hangs up mid-DATA now and then, and Dovecot has its imap processes killed
and is restarted. Then everything is counted from the outside, at the SMTP server and in
the database: every report must have exactly one case, one acknowledgement and one
notification per staff member. A mail that arrives twice under the *same* Message-ID is
the documented at-least-once limit (the server took it, the process died before it could
record that) and is counted apart as a redelivery; a second case, or a second ack or
notification under a *new* Message-ID, is a duplicate.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from testsupport.helpers import unsealed_connection
from testsupport.servers import Dovecot, Received, SmtpSink

REPO = Path(__file__).resolve().parent.parent  # the checkout under test: `cocmail run` there

STAFF = ("ana@example.org", "ben@example.org")
INBOX = "conduct@example.org"
SMTP_FAULTS = ("451 4.3.0 Try again later", "421 4.3.2 Service shutting down", "drop")
MAX_SMTP_FAULTS = 6


@dataclass
class Scenario:
    """What to break, how often, and for how long at most."""

    reports: int = 500
    kills: int = 15
    seed: int = field(default_factory=lambda: random.randrange(1_000_000))
    smtp_faults: bool = True
    imap_faults: bool = True
    run_between_kills: tuple[float, float] = (0.1, 0.7)  # seconds a daemon lives
    timeout: float = 600.0  # for the whole scenario


@dataclass
class Figures:
    """What came out, counted at the SMTP server and in the database."""

    kills: int = 0
    reports: int = 0
    cases: int = 0
    acks: int = 0  # reports with exactly one acknowledgement (by In-Reply-To)
    notifications: int = 0  # (report, staff member) pairs with exactly one notification
    duplicates: int = 0  # extra cases, extra acks/notifications under a new Message-ID
    redeliveries: int = 0  # extra copies of a Message-ID the server already had
    lost: int = 0  # missing cases, acks and notifications; mail not delivered
    quarantined: int = 0
    smtp_faults: int = 0
    imap_faults: int = 0
    seconds: float = 0.0
    seed: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"faults: kills survived {self.kills}, reports in {self.reports}, cases out "
                f"{self.cases}, acks {self.acks}, staff notifications {self.notifications}"
                f"/{self.reports * len(STAFF)}, duplicates {self.duplicates}, same-Message-ID "
                f"redeliveries {self.redeliveries}, lost mail {self.lost}, quarantined "
                f"{self.quarantined}; injected {self.smtp_faults} SMTP and {self.imap_faults} "
                f"IMAP faults; {self.seconds:.0f} s on {os.cpu_count()} cores, seed {self.seed}")


# ---------------------------------------------------------------- set-up

def report(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Reporter {n} <reporter{n}@attendee.example>"
    msg["To"] = INBOX
    msg["Subject"] = f"Report {n}"
    msg["Message-ID"] = report_id(n)
    msg.set_content(f"Something happened at the venue (report {n}).\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def report_id(n: int) -> str:
    return f"<fault-report-{n}@attendee.example>"


def write_config(workdir: Path, dovecot: Dovecot, user: str, sink: SmtpSink) -> Path:
    path = workdir / "cocmail.toml"
    path.write_text(f"""
[event]
name = "Fault Conf 2027"
timezone = "Europe/Berlin"

[inbox]
address = "{INBOX}"

[storage]
dir = "{workdir / 'data'}"

{dovecot.imap_toml(user)}
{sink.smtp_toml()}timeout = 5

[[staff]]
name = "Ana Lima"
email = "{STAFF[0]}"
lead = true

[[staff]]
name = "Ben Okafor"
email = "{STAFF[1]}"

# Hundreds of reports in minutes are a flood by design; these runs count every ack and
# notification of each, so the circuit breaker is off (bench/flood.py measures it).
[process]
flood_reports_per_domain = 0
flood_reports = 0
flood_followups_per_case = 0
""")
    return path


class Daemon:
    """`cocmail run` as a child process, its log appended to one file across restarts."""

    def __init__(self, config: Path, log: Path):
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cocmail", "--config", str(self.config), "run"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=REPO)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.send_signal(sig)
            proc.wait(timeout=30)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# ---------------------------------------------------------------- progress

def db_counts(db: Path) -> dict[str, int]:
    """A read-only look at the daemon's database (WAL lets it read while cocmail writes)."""
    if not db.exists():
        return {"inbound": 0, "pending": 0, "outbox_pending": 0, "cases": 0}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {"inbound": one("SELECT count(*) FROM inbound"),
                "pending": one("SELECT count(*) FROM inbound WHERE state='pending'"),
                "outbox_pending": one("SELECT count(*) FROM outbox WHERE state='pending'"),
                "cases": one("SELECT count(*) FROM cases")}
    except sqlite3.Error:  # the schema is not there yet: the first start was killed early
        return {"inbound": 0, "pending": 0, "outbox_pending": 0, "cases": 0}
    finally:
        conn.close()


def done(db: Path, reports: int) -> bool:
    c = db_counts(db)
    return c["inbound"] >= reports and c["pending"] == 0 and c["outbox_pending"] == 0


# ---------------------------------------------------------------- the scenario

def run_scenario(scenario: Scenario, progress: Callable[[str], None] | None = None
                 ) -> Figures:
    say = progress or (lambda text: print(text, file=sys.stderr, flush=True))
    rng = random.Random(scenario.seed)
    figures = Figures(reports=scenario.reports, seed=scenario.seed)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="cocmail-faults-"))
    with Dovecot() as dovecot, SmtpSink() as sink:
        user = dovecot.add_user().name
        for first in range(1, scenario.reports + 1, 100):
            dovecot.append(user, [report(n) for n in
                                  range(first, min(first + 100, scenario.reports + 1))])
        config = write_config(workdir, dovecot, user, sink)
        db = workdir / "data" / "cocmail.db"
        daemon = Daemon(config, workdir / "cocmail.log")
        say(f"faults: {scenario.reports} reports in Dovecot, seed {scenario.seed}")
        try:
            while figures.kills < scenario.kills and not done(db, scenario.reports):
                daemon.start()
                time.sleep(rng.uniform(*scenario.run_between_kills))
                _maybe_break_servers(rng, scenario, dovecot, sink, db, figures)
                time.sleep(rng.uniform(0, 0.3))
                daemon.kill()
                figures.kills += 1
                say(f"faults: kill {figures.kills}: {db_counts(db)}")
            daemon.start()  # the last start runs until everything is done
            deadline = started + scenario.timeout
            while not done(db, scenario.reports):
                if time.monotonic() > deadline or not daemon.alive():
                    figures.problems.append(f"not done: {db_counts(db)}; daemon alive: "
                                            f"{daemon.alive()}")
                    break
                time.sleep(0.2)
            daemon.kill(signal.SIGTERM)
        finally:
            daemon.kill()
        count_outcome(figures, db, sink.messages)
    figures.seconds = time.monotonic() - started
    if figures.problems:
        log = (workdir / "cocmail.log").read_text(errors="replace")
        figures.problems.append("daemon log tail:\n" + log[-3000:])
    return figures


def _maybe_break_servers(rng: random.Random, scenario: Scenario, dovecot: Dovecot,
                         sink: SmtpSink, db: Path, figures: Figures) -> None:
    """While the daemon works: an SMTP fault when mail is waiting, and an IMAP fault
    every other life (the imap processes killed, or every fourth time a full restart).

    An SMTP fault is queued only while plenty of work is waiting (reports to process, or
    mail to send), so a fresh delivery meets it at once; one queued for later would meet
    a retry, double its backoff and make the run wait minutes for nothing. (The courier
    sends while reports are processed, so the outbox alone is seldom long.) Each fault
    costs its mail one backoff (about 30 s), so there are at most MAX_SMTP_FAULTS.
    """
    counts = db_counts(db)
    busy = counts["outbox_pending"] >= 30 or counts["pending"] >= 30
    if scenario.smtp_faults and busy and figures.smtp_faults < MAX_SMTP_FAULTS:
        fault = rng.choice(SMTP_FAULTS)
        if fault == "drop":
            sink.drop_next_data()
        else:
            sink.fail_next("data", fault)
        figures.smtp_faults += 1
    if scenario.imap_faults and figures.kills % 2 == 1:
        if figures.kills % 4 == 3:
            dovecot.restart()
        else:
            dovecot.kill_imap_processes()  # the daemon sees its socket die, no BYE
        figures.imap_faults += 1


# ---------------------------------------------------------------- counting

def _header_ids(value: object) -> list[str]:
    return [part.strip() for part in str(value or "").split() if part.startswith("<")]


def count_outcome(figures: Figures, db: Path, received: list[Received]) -> None:
    """Fill `figures` from the database and what the SMTP server received."""
    conn = unsealed_connection(db)
    try:
        roots = Counter(row[0] for row in conn.execute("SELECT root_message_id FROM cases"))
        outbox = {row[0]: row[1] for row in conn.execute(
            "SELECT message_id, state FROM outbox")}
        figures.quarantined = conn.execute(
            "SELECT count(*) FROM inbound WHERE state='quarantined'").fetchone()[0]
    finally:
        conn.close()
    figures.cases = sum(roots.values())

    copies = Counter(str(m.message["Message-ID"]).strip("<>") for m in received)
    figures.redeliveries = sum(n - 1 for n in copies.values())
    unknown = [mid for mid in copies if mid not in outbox]
    not_sent = [mid for mid, state in outbox.items() if state != "sent"]
    if unknown:
        figures.problems.append(f"{len(unknown)} mail(s) at the server that cocmail never "
                                "queued")
    if not_sent:
        figures.problems.append(f"{len(not_sent)} queued mail(s) never delivered")

    acks: dict[str, set[str]] = defaultdict(set)  # report Message-ID -> ack Message-IDs
    notes: dict[tuple[str, str], set[str]] = defaultdict(set)  # (report, staff) -> IDs
    for m in received:
        mid = str(m.message["Message-ID"])
        rcpt = m.rcpt_tos[0]
        if rcpt in STAFF and "New report" in str(m.message["Subject"]):
            for ref in _header_ids(m.message["References"]):
                notes[(ref, rcpt)].add(mid)
        elif rcpt not in STAFF:
            for ref in _header_ids(m.message["In-Reply-To"]):
                acks[ref].add(mid)

    missing = duplicates = 0
    ours = {report_id(n).strip("<>") for n in range(1, figures.reports + 1)}
    duplicates += sum(count for root, count in roots.items() if root not in ours)  # stray
    for n in range(1, figures.reports + 1):
        rid = report_id(n)
        cases = roots.get(rid.strip("<>"), 0)
        missing += cases == 0
        duplicates += max(cases - 1, 0)
        got = len(acks.get(rid, ()))
        figures.acks += got == 1
        missing += got == 0
        duplicates += max(got - 1, 0)
        for staff in STAFF:
            got = len(notes.get((rid, staff), ()))
            figures.notifications += got == 1
            missing += got == 0
            duplicates += max(got - 1, 0)
    figures.duplicates = duplicates + len(unknown)
    figures.lost = missing + len(not_sent)
