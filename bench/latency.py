"""IMAP latency: report APPENDed to Dovecot -> its acknowledgement accepted by the SMTP sink.

`cocmail run` (a subprocess, with a real config: [imap] at Dovecot, [smtp] at the sink)
watches the folder with IDLE. Reports are appended one at a time; the next one goes in
once the previous one's acknowledgement and staff notifications have been delivered.
In the same run a bare imapclient IDLE client on the same folder records when Dovecot
tells it about each message (EXISTS), which is the floor no IDLE-based daemon can beat:
Dovecot itself holds IDLE notifications back a little. The target (issue 6): cocmail's
p95 no more than 150 ms above the bare client's p95.

    python bench/latency.py [--reports 100] [--warmup 3]
"""

from __future__ import annotations

import threading
import time

from common import (
    STAFF_PER_REPORT,
    CocmailProcess,
    Dovecot,
    ImapUser,
    SmtpSink,
    acks_by_reply,
    latency_main,
    pace_ms,
    report_mail,
    scratch_dir,
    stats,
    wait_until,
    write_config,
)

TARGET_EXTRA_MS = 150.0
PER_REPORT_TIMEOUT = 10.0
DEADLINE_SECONDS = 200.0  # stop appending after this; what was measured is reported


class BareIdleClient:
    """imapclient in IDLE on the folder; notes when each EXISTS count is first announced."""

    def __init__(self, dovecot: Dovecot, user: ImapUser):
        self.client = dovecot.connect(user.name)
        self.client.select_folder("INBOX", readonly=True)
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bare-idle", daemon=True)

    def start(self) -> BareIdleClient:
        self.client.idle()
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            for response in self.client.idle_check(timeout=0.2):
                if len(response) > 1 and response[1] == b"EXISTS":
                    self.seen.setdefault(int(response[0]), time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.client.idle_done()
        self.client.logout()


def measure(reports: int, warmup: int) -> None:
    run = str(int(time.time()))
    with Dovecot() as dovecot, SmtpSink() as sink:
        user = dovecot.add_user()
        tmp = scratch_dir("latency")
        config = write_config(tmp, imap=dovecot.imap_toml(user.name), smtp=sink.smtp_toml())
        appender = dovecot.connect(user.name)
        appender.select_folder("INBOX")  # creates nothing: INBOX always exists
        bare = BareIdleClient(dovecot, user).start()
        daemon = CocmailProcess(config, "run").start()
        try:
            daemon.wait_for_log("logged in to", timeout=20)
            sent: dict[str, float] = {}
            reporters: dict[str, str] = {}
            order: list[str] = []
            deadline = time.monotonic() + DEADLINE_SECONDS
            for i in range(warmup + reports):
                if time.monotonic() > deadline:
                    print(f"deadline of {DEADLINE_SECONDS:.0f} s reached after {i} reports")
                    break
                mid, sender, raw = report_mail(i, run=run)
                reporters[mid] = sender
                order.append(mid)
                expected = (i + 1) * (1 + STAFF_PER_REPORT)
                time.sleep(pace_ms(i) / 1000)
                sent[mid] = time.monotonic()
                appender.append("INBOX", raw)
                if not wait_until(lambda n=expected, k=i + 1: len(sink.messages) >= n
                                  and k in bare.seen, PER_REPORT_TIMEOUT, interval=0.002):
                    raise RuntimeError(f"report {i}: {len(sink.messages)} of {expected} mails, "
                                       f"EXISTS seen: {i + 1 in bare.seen}\n"
                                       f"{daemon.log()[-3000:]}")
        finally:
            daemon.stop()
            bare.close()
            appender.logout()
        acked = acks_by_reply(sink.messages, reporters)
        measured = order[warmup:]
        daemon_ms = [(acked[m] - sent[m]) * 1000 for m in measured]
        bare_ms = [(bare.seen[warmup + k + 1] - sent[m]) * 1000 for k, m in enumerate(measured)]
        print(f"reports: {len(measured)} measured (+{warmup} warm-up), appended one at a time "
              f"to Dovecot; cocmail run (IMAP IDLE) -> SMTP sink; "
              f"{len(sink.messages)} mails delivered")
        d, b = stats(daemon_ms), stats(bare_ms)
        print(d.line("cocmail APPEND->ack accepted"))
        print(b.line("bare IDLE APPEND->EXISTS    "))
        extra = d.p95 - b.p95
        print(f"difference: p50 {d.p50 - b.p50:+.1f} ms, p95 {extra:+.1f} ms, "
              f"max {d.max - b.max:+.1f} ms")
        verdict = "met" if extra <= TARGET_EXTRA_MS else "NOT met"
        print(f"target: p95 <= bare p95 + {TARGET_EXTRA_MS:.0f} ms: {verdict}")
        print(f"cocmail peak RSS: {daemon.peak_rss_mb:.1f} MB; exit code {daemon.returncode}")


def main() -> None:
    latency_main("IMAP latency (issue 6)", __doc__ or "", measure)


if __name__ == "__main__":
    main()
