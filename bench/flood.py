"""A flood against the circuit breaker (issue 21): what reaches each member and the domain.

Three phases against the real `cocmail` command, real Dovecot and the aiosmtpd sink:

1. `--reports` (200) reports from as many addresses at one domain wait in the inbox;
   `cocmail run --once` processes them. Counted at the sink: acknowledgements to the
   domain, notifications per member; timed: wall and CPU seconds. The same flood with the
   breaker turned off (`flood_* = 0`, the behaviour before issue 21) runs first, in its
   own storage dir, for comparison.
2. `--followups` (100) follow-ups from the reporter on one case; `run --once` again:
   relays per member.
3. `cocmail run` (the daemon) is started and left alone: the seconds until each member's
   summary notice reaches the sink (due once the burst has paused for 2 minutes).

Prints the machine's core count and the command, like every bench script.
"""

from __future__ import annotations

import argparse
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BREAKER_OFF,
    INBOX,
    CocmailProcess,
    Dovecot,
    SmtpSink,
    banner,
    scratch_dir,
    wait_until,
    write_config,
)

STAFF = ("ana@example.org", "ben@example.org")
DOMAIN = "flood.example"


def _mail(sender: str, subject: str, text: str, mid: str, reply_to: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = INBOX
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(text)
    return msg.as_bytes(policy=SMTP)


def _flood(n: int, run: str) -> list[bytes]:
    return [_mail(f"Sender {i} <sender{i}.{run}@{DOMAIN}>", f"Report {i}",
                  f"Report {i}: something happened at the party.\n",
                  f"<flood-{run}-{i}@{DOMAIN}>") for i in range(n)]


def _counts(sink: SmtpSink) -> tuple[int, dict[str, int]]:
    """Mails to the flooding domain, and to each member."""
    msgs = sink.messages
    domain = sum(1 for m in msgs if any(r.endswith("@" + DOMAIN) for r in m.rcpt_tos))
    return domain, {s: sum(1 for m in msgs if s in m.rcpt_tos) for s in STAFF}


def _once(config: Path) -> CocmailProcess:
    proc = CocmailProcess(config, "run", "--once").start()
    if proc.wait(timeout=600) != 0:
        raise RuntimeError(f"run --once failed:\n{proc.log()[-3000:]}")
    return proc


def _setup(dovecot: Dovecot, sink: SmtpSink, name: str, extra: str = ""
           ) -> tuple[Path, Any]:
    user = dovecot.add_user()
    tmp = scratch_dir(name)
    return write_config(tmp, imap=dovecot.imap_toml(user.name), smtp=sink.smtp_toml(),
                        extra="[process]\nsecond_approval = []\n" + extra.replace(
                            "[process]\n", "")), user


def flood_phase(dovecot: Dovecot, sink: SmtpSink, n: int, extra: str, label: str
                ) -> Path:
    slug = label.replace(" ", "-")
    config, user = _setup(dovecot, sink, slug, extra)
    dovecot.append(user.name, _flood(n, slug))
    sink.clear()
    proc = _once(config)
    domain, per_member = _counts(sink)
    print(f"{label}: {n} reports from {n} addresses at one domain, `run --once`: "
          f"{proc.ended - proc.started:.2f} s wall, {proc.cpu_seconds:.2f} s CPU; "
          f"mails to the domain: {domain}; per member: "
          + ", ".join(f"{s} {c}" for s, c in per_member.items()))
    return config


def followup_phase(dovecot: Dovecot, sink: SmtpSink, n: int) -> Path:
    """In a storage dir of its own: after phase 1 a new report would still be held."""
    config, imap_user = _setup(dovecot, sink, "followups")
    user = imap_user.name
    sink.clear()
    dovecot.append(user, _mail("Rita Reporter <rita@example.net>", "Harassment",
                               "Someone followed me.\n", "<rita@example.net>"))
    _once(config)
    (ack,) = [m for m in sink.messages if "rita@example.net" in m.rcpt_tos]
    sink.clear()
    dovecot.append(user, [_mail("Rita Reporter <rita@example.net>",
                                "Re: " + str(ack.message["Subject"]), f"One more thing ({i}).\n",
                                f"<more-{i}@example.net>", str(ack.message["Message-ID"]))
                          for i in range(n)])
    proc = _once(config)
    _, per_member = _counts(sink)
    print(f"follow-ups: {n} on one case, `run --once`: {proc.ended - proc.started:.2f} s "
          "wall; relays per member: " + ", ".join(f"{s} {c}" for s, c in per_member.items()))
    return config


def summary_phase(sink: SmtpSink, configs: list[Path]) -> None:
    """Both installations' daemons at once: each member's summary of each burst."""
    sink.clear()
    daemons = [CocmailProcess(c, "run").start() for c in configs]
    started = time.monotonic()
    want = len(configs)
    try:
        got = wait_until(lambda: all(sum(s in m.rcpt_tos for m in sink.messages) >= want
                                     for s in STAFF), 300, interval=0.2)
        waited = time.monotonic() - started
        time.sleep(2)  # anything more would show up now
    finally:
        for d in daemons:
            d.stop()
    if not got:
        print("summary: not all within 300 s")
    _, per_member = _counts(sink)
    print(f"summary: `cocmail run` started after the bursts; all summaries at the sink "
          f"after {waited:.1f} s (a burst must pause 2 minutes); mails per member, both "
          "bursts: " + ", ".join(f"{s} {c}" for s, c in per_member.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--followups", type=int, default=100)
    parser.add_argument("--no-summary", action="store_true",
                        help="skip phase 3 (it waits about 2 minutes)")
    args = parser.parse_args()
    banner("flood: the circuit breaker")
    started = time.monotonic()
    with Dovecot() as dovecot, SmtpSink() as sink:
        flood_phase(dovecot, sink, args.reports, BREAKER_OFF, "breaker off")
        config = flood_phase(dovecot, sink, args.reports, "", "breaker on")
        followups = followup_phase(dovecot, sink, args.followups)
        if not args.no_summary:
            summary_phase(sink, [config, followups])
    print(f"wall time: {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
