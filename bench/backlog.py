"""Backlog: N reports waiting in Dovecot before `cocmail run --once` starts, until all mail is out.

Each report is about 5 KB; every 400th carries a 2 MB attachment. The clock starts when
the `cocmail` process is started and stops when the SMTP sink accepts the last of the
3 mails per report (the acknowledgement and one notification per staff member).

In the same run, against the same Dovecot folder and the same sink, the "limit" runs: a
minimal script (this file with --limit-worker, as its own process, like cocmail) that
fetches the same messages in batches of 100 with BODY.PEEK[], parses each with
`mailparser.parse_from_bytes`, and delivers 3 small pre-built mails per report over one
SMTP connection. cocmail's rate divided by the limit's rate is the figure of merit
(issue 6: at least 50%, aim 70%). Peak RSS is the high-water mark of the daemon plus
that of its courier process (see common.CocmailProcess); CPU seconds include the
courier's. With --sizes 500,5000 it shows whether memory stays flat.

`--design` measures another way to deliver (issue 16; see delivery_designs.py): `thread`
(a delivery thread in the daemon process, with `--switch-interval` for
`sys.setswitchinterval`), `inline` (the worker delivers after every message) or
`inline:N` (after every N messages). The default, `courier`, is what cocmail ships.

    python bench/backlog.py [--sizes 2000] [--big-every 400] [--design courier]
                            [--switch-interval SECONDS]
"""

from __future__ import annotations

import argparse
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from common import (
    STAFF_PER_REPORT,
    CocmailProcess,
    Dovecot,
    SmtpSink,
    acks_by_reply,
    banner,
    report_mail,
    scratch_dir,
    wait_until,
    write_config,
)

TARGET_RATIO = 0.5
AIM_RATIO = 0.7
TARGET_RSS_MB = 150.0
BIG_ATTACHMENT = 2 * 1024 * 1024
APPEND_CHUNK = 100
FETCH_BATCH = 100  # cocmail's default [imap] batch_size
RUN_TIMEOUT = 240.0
DESIGNS = Path(__file__).with_name("delivery_designs.py")


# ---------------------------------------------------------------- the limit (a child process)

def limit_worker() -> None:
    """Fetch, parse, send: the least any IMAP-to-SMTP pipeline must do for this backlog."""
    import mailparser
    from imapclient import IMAPClient

    env = os.environ
    per_report = int(env["BENCH_MAILS_PER_REPORT"])
    prebuilt = [(f"From: conduct@example.org\r\nTo: r{k}@example.org\r\n"
                 f"Subject: [CoC #1] We have received your report\r\n"
                 f"Message-ID: <limit-{k}@example.org>\r\n\r\n"
                 + "Thank you for your report. We will get back to you soon.\r\n" * 12
                 ).encode() for k in range(per_report)]
    imap = IMAPClient(env["BENCH_IMAP_HOST"], port=int(env["BENCH_IMAP_PORT"]), ssl=False)
    imap.login(env["BENCH_IMAP_USER"], env["BENCH_IMAP_PASSWORD"])
    imap.select_folder("INBOX", readonly=True)
    uids = sorted(imap.search(["ALL"]))
    smtp = smtplib.SMTP(env["BENCH_SMTP_HOST"], int(env["BENCH_SMTP_PORT"]))
    for start in range(0, len(uids), FETCH_BATCH):
        chunk = uids[start:start + FETCH_BATCH]
        fetched = imap.fetch(chunk, [b"BODY.PEEK[]"])
        for uid in chunk:
            parsed = mailparser.parse_from_bytes(fetched[uid][b"BODY[]"])
            assert parsed.message_id
            for k, raw in enumerate(prebuilt):
                smtp.sendmail("conduct@example.org", [f"r{k}@example.org"], raw)
    smtp.quit()
    imap.logout()


def run_limit(dovecot: Dovecot, user: str, sink: SmtpSink, n: int) -> tuple[float, float]:
    """(seconds from starting the limit process to the sink accepting its last mail,
    CPU seconds of that process)."""
    env = dict(os.environ, BENCH_IMAP_HOST=dovecot.host, BENCH_IMAP_PORT=str(dovecot.port),
               BENCH_IMAP_USER=user, BENCH_IMAP_PASSWORD=dovecot._users[user],
               BENCH_SMTP_HOST=sink.host, BENCH_SMTP_PORT=str(sink.port),
               BENCH_MAILS_PER_REPORT=str(1 + STAFF_PER_REPORT))
    sink.clear()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(Path(__file__)), "--limit-worker"], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"the limit script failed with exit code {proc.returncode}")
    received = sink.wait_for(n * (1 + STAFF_PER_REPORT), timeout=10)
    return max(m.monotonic for m in received) - started, usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- one size

def fill(dovecot: Dovecot, user: str, n: int, big_every: int, run: str) -> dict[str, str]:
    """Append the backlog (MULTIAPPEND in chunks); returns report Message-ID -> reporter."""
    reporters: dict[str, str] = {}
    chunk: list[bytes] = []
    with dovecot.connect(user) as client:
        for i in range(n):
            big = BIG_ATTACHMENT if big_every and i % big_every == big_every // 2 else 0
            mid, sender, raw = report_mail(i, run=run, attachment_bytes=big)
            reporters[mid] = sender
            chunk.append(raw)
            if len(chunk) == APPEND_CHUNK or i == n - 1:
                client.multiappend("INBOX", chunk)
                chunk = []
        client.select_folder("INBOX", readonly=True)  # Dovecot indexes the folder now
    return reporters


def measure(n: int, big_every: int, with_limit: bool, design: str = "courier",
            switch_interval: str = "") -> dict[str, float]:
    run = f"{n}-{int(time.time())}"
    with Dovecot() as dovecot, SmtpSink() as sink:
        user = dovecot.add_user().name
        t = time.monotonic()
        reporters = fill(dovecot, user, n, big_every, run)
        bigs = sum(1 for i in range(n) if big_every and i % big_every == big_every // 2)
        print(f"\n-- N={n}: {n} reports ({bigs} with a 2 MB attachment) appended in "
              f"{time.monotonic() - t:.1f} s")
        limit_s, limit_cpu = run_limit(dovecot, user, sink, n) if with_limit else (0.0, 0.0)

        sink.clear()
        tmp = scratch_dir(f"backlog{n}")
        config = write_config(tmp, imap=dovecot.imap_toml(user), smtp=sink.smtp_toml())
        daemon = CocmailProcess(config, "run", "--once")
        if design != "courier" or switch_interval:
            # The same cocmail command, its delivery swapped (bench/delivery_designs.py).
            daemon.args[1:3] = [str(DESIGNS), design, switch_interval, "--"]
        daemon.start()
        code = daemon.wait(RUN_TIMEOUT)
        expected = n * (1 + STAFF_PER_REPORT)
        wait_until(lambda: len(sink.messages) >= expected, 5)
        received = sink.messages
        acks = acks_by_reply(received, reporters)
        if code != 0 or len(received) != expected or len(acks) != n:
            raise RuntimeError(f"cocmail exit {code}: {len(received)} of {expected} mails, "
                               f"{len(acks)} of {n} acks\n{daemon.log()[-3000:]}")
        cocmail_s = max(m.monotonic for m in received) - daemon.started
        first_ack_s = min(acks.values()) - daemon.started
        rate = n / cocmail_s
        print(f"cocmail run --once: {cocmail_s:.2f} s to deliver {len(received)} mails "
              f"({len(acks)} acks + {len(received) - len(acks)} staff notifications): "
              f"{rate:.1f} reports/s, {len(received) / cocmail_s:.1f} mails/s; "
              f"process exited after {daemon.ended - daemon.started:.2f} s, code {code}, "
              f"{daemon.cpu_seconds:.2f} s CPU")
        print(f"first acknowledgement accepted by the sink {first_ack_s:.2f} s after start")
        figures = {"n": n, "rate": rate, "rss": daemon.peak_rss_mb}
        if with_limit:
            limit_rate = n / limit_s
            ratio = rate / limit_rate
            figures["ratio"] = ratio
            print(f"limit (fetch + mailparser + {1 + STAFF_PER_REPORT} pre-built mails/report, "
                  f"one SMTP connection): {limit_s:.2f} s, {limit_rate:.1f} reports/s, "
                  f"{limit_cpu:.2f} s CPU")
            verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
            aim = "reached" if ratio >= AIM_RATIO else "not reached"
            print(f"ratio cocmail/limit: {ratio:.0%} (target >= {TARGET_RATIO:.0%}: {verdict}; "
                  f"aim {AIM_RATIO:.0%}: {aim}); CPU-time ratio limit/cocmail "
                  f"{limit_cpu / daemon.cpu_seconds:.0%}")
        verdict = "met" if daemon.peak_rss_mb <= TARGET_RSS_MB else "NOT met"
        print(f"cocmail peak RSS: {daemon.peak_rss_mb:.1f} MB (daemon {daemon.main_rss_mb:.1f} MB"
              f" + courier process {daemon.courier_rss_mb:.1f} MB; target <= "
              f"{TARGET_RSS_MB:.0f} MB: {verdict})")
        return figures


def main() -> None:
    if sys.argv[1:] == ["--limit-worker"]:
        limit_worker()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000",
                        help="comma-separated backlog sizes, e.g. 500,5000 for memory growth")
    parser.add_argument("--big-every", type=int, default=400,
                        help="one report in this many carries a 2 MB attachment (0: none)")
    parser.add_argument("--no-limit", action="store_true", help="skip the limit script")
    parser.add_argument("--design", default="courier",
                        help="courier (what cocmail ships), thread, inline or inline:N")
    parser.add_argument("--switch-interval", default="",
                        help="sys.setswitchinterval for cocmail, in seconds (default: 0.005)")
    args = parser.parse_args()
    banner("backlog throughput and memory (issue 6)")
    print(f"delivery design: {args.design}, switch interval "
          f"{args.switch_interval or sys.getswitchinterval()} s")
    started = time.monotonic()
    results = [measure(int(s), args.big_every, not args.no_limit, args.design,
                       args.switch_interval)
               for s in args.sizes.split(",")]
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"\npeak RSS from N={first['n']:.0f} to N={last['n']:.0f}: {first['rss']:.1f} MB"
              f" -> {last['rss']:.1f} MB ({last['rss'] - first['rss']:+.1f} MB for "
              f"{last['n'] / first['n']:.0f}x the backlog)")
    print(f"wall time: {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
