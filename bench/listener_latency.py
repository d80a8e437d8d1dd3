"""Listener latency: report sent to cocmail's embedded SMTP listener -> ack accepted by the sink.

`cocmail run` (a subprocess; config without [imap], so it starts the aiosmtpd listener,
and [smtp] at the sink). Reports go in one at a time over one SMTP connection, as an MTA
relaying to it would; the clock starts just before the client sends MAIL FROM and stops
when the sink accepts the acknowledgement. The next report goes in once the previous
one's acknowledgement and staff notifications are delivered. Target (issue 6): p95 <= 100 ms.

    python bench/listener_latency.py [--reports 100] [--warmup 3]
"""

from __future__ import annotations

import smtplib
import time

from common import (
    INBOX,
    STAFF_PER_REPORT,
    CocmailProcess,
    SmtpSink,
    acks_by_reply,
    free_port,
    latency_main,
    pace_ms,
    report_mail,
    scratch_dir,
    stats,
    wait_until,
    write_config,
)

TARGET_P95_MS = 100.0
PER_REPORT_TIMEOUT = 10.0
DEADLINE_SECONDS = 200.0  # stop sending after this; what was measured is reported


def measure(reports: int, warmup: int) -> None:
    run = str(int(time.time()))
    port = free_port()
    with SmtpSink() as sink:
        tmp = scratch_dir("listener")
        config = write_config(tmp, smtp=sink.smtp_toml(),
                              extra=f'[listen]\nhost = "127.0.0.1"\nport = {port}\n')
        daemon = CocmailProcess(config, "run").start()
        try:
            daemon.wait_for_log("listening for mail", timeout=20)
            wait_until(lambda: _accepting(port), 10)
            sent: dict[str, float] = {}
            stored_ms: list[float] = []
            reporters: dict[str, str] = {}
            order: list[str] = []
            deadline = time.monotonic() + DEADLINE_SECONDS
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
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
                    client.sendmail(sender, [INBOX], raw)
                    if i >= warmup:
                        stored_ms.append((time.monotonic() - sent[mid]) * 1000)
                    if not wait_until(lambda n=expected: len(sink.messages) >= n,
                                      PER_REPORT_TIMEOUT, interval=0.002):
                        raise RuntimeError(f"report {i}: {len(sink.messages)} of {expected} "
                                           f"mails\n{daemon.log()[-3000:]}")
        finally:
            daemon.stop()
        acked = acks_by_reply(sink.messages, reporters)
        latency = stats([(acked[m] - sent[m]) * 1000 for m in order[warmup:]])
        print(f"reports: {len(order) - warmup} measured (+{warmup} warm-up), one at a time "
              f"over one SMTP connection to cocmail's listener; cocmail run -> SMTP sink; "
              f"{len(sink.messages)} mails delivered")
        print(stats(stored_ms).line("listener 250 (stored, durable)   "))
        print(latency.line("send -> ack accepted by the sink "))
        verdict = "met" if latency.p95 <= TARGET_P95_MS else "NOT met"
        print(f"target: p95 <= {TARGET_P95_MS:.0f} ms: {verdict}")
        print(f"cocmail peak RSS: {daemon.peak_rss_mb:.1f} MB; exit code {daemon.returncode}")


def _accepting(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as probe:
            return probe.noop()[0] == 250
    except OSError:
        return False


def main() -> None:
    latency_main("listener latency (issue 6)", __doc__ or "", measure)


if __name__ == "__main__":
    main()
