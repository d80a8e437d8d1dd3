"""Shared pieces of the bench scripts: real servers, a real `cocmail` process, statistics.

Every figure comes from the real `cocmail` command (a subprocess, as an operator runs it)
against the real Dovecot and aiosmtpd servers of testsupport/servers.py (which the tests
use too) on 127.0.0.1. Times are `time.monotonic()` in this process; the SMTP sink stamps
each accepted mail with the same clock, so a latency is "sink accepted" minus "we sent",
with no clock skew to correct.

Running this file does nothing: `make bench` runs every bench/*.py, and this one is only a
library for the others.
"""

from __future__ import annotations

import atexit
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # testsupport/ and cocmail itself, without installing
    sys.path.insert(0, str(REPO))

from testsupport.helpers import make_config  # noqa: E402
from testsupport.servers import Dovecot, ImapUser, SmtpSink, free_port, wait_until  # noqa: E402

__all__ = ["BREAKER_OFF", "INBOX", "REPO", "STAFF_PER_REPORT", "CocmailProcess", "Dovecot",
           "ImapUser", "SmtpSink", "Stats", "acks_by_reply", "banner", "cocmail_command", "pace_ms",
           "free_port", "report_mail", "scratch_dir", "stats", "wait_until", "write_config"]

INBOX = "conduct@example.org"
STAFF_PER_REPORT = 2  # helpers.STAFF_TOML: every report is one ack + 2 notifications


# ---------------------------------------------------------------- what ran where

def banner(title: str) -> None:
    """The figures are meaningless without the machine and the exact command."""
    cmd = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    print(f"== {title}")
    print(f"command: cd {REPO} && {cmd}")
    print(f"machine: {os.cpu_count()} cores (os.cpu_count()), {_cpu_model()}, "
          f"Linux {platform.release()}, Python {platform.python_version()}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cocmail_command() -> list[str]:
    """The installed console script next to this Python (what an operator types)."""
    script = Path(sys.executable).with_name("cocmail")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cocmail"]


# ---------------------------------------------------------------- statistics

@dataclass(frozen=True)
class Stats:
    n: int
    p50: float
    p95: float
    max: float

    def line(self, label: str, unit: str = "ms") -> str:
        return (f"{label}: n={self.n} p50={self.p50:.1f} {unit} p95={self.p95:.1f} {unit} "
                f"max={self.max:.1f} {unit}")


def stats(values: Sequence[float]) -> Stats:
    """Nearest-rank percentiles: p95 of 100 samples is the 95th smallest, a real sample."""
    ordered = sorted(values)
    if not ordered:
        return Stats(0, float("nan"), float("nan"), float("nan"))

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))]

    return Stats(len(ordered), statistics.median(ordered), rank(95), ordered[-1])


def pace_ms(i: int) -> float:
    """A small, varying pause between reports so arrivals do not lock onto any timer."""
    return 20.0 + (i * 37) % 60


# ---------------------------------------------------------------- mail

_FILLER = ("Someone at the party kept following me around and would not leave me alone "
           "even after I said no twice; a friend saw it and can confirm what happened. ")


def report_mail(i: int, *, run: str, size: int = 5 * 1024,
                attachment_bytes: int = 0) -> tuple[str, str, bytes]:
    """(message_id, reporter address, raw bytes) of report `i`, about `size` bytes of text.

    Each report comes from its own address: acknowledgements are rate-limited per sender,
    and a real backlog comes from many people.
    """
    mid = f"bench-{run}-{i}@reporter.example"
    sender = f"reporter{i}.{run}@attendee.example"
    msg = EmailMessage()
    msg["From"] = f"Reporter {i} <{sender}>"
    msg["To"] = INBOX
    msg["Subject"] = f"Incident report {i}"
    msg["Message-ID"] = f"<{mid}>"
    msg["Date"] = "Thu, 04 Jun 2026 22:15:00 +0200"
    text = (f"Report {i}.\n\n" + _FILLER * (size // len(_FILLER) + 1))[:size]
    text = "\n".join(textwrap.wrap(text, 72, replace_whitespace=False)) + "\n"
    msg.set_content(text)
    if attachment_bytes:
        blob = (bytes(range(256)) * (attachment_bytes // 256 + 1))[:attachment_bytes]
        msg.add_attachment(blob, maintype="image", subtype="jpeg", filename=f"photo{i}.jpg")
    return mid, sender, msg.as_bytes(policy=SMTP)  # CRLF, as mail travels


# A backlog of 2,000 reports, or 100 paced a few ms apart, is a flood by design: the
# scripts that time each report's mail run with the circuit breaker off, so their
# figures stay comparable with earlier runs; bench/flood.py measures the breaker.
BREAKER_OFF = ("[process]\nflood_reports_per_domain = 0\nflood_reports = 0\n"
               "flood_followups_per_case = 0\n")


def write_config(tmp: Path, *, imap: str = "", smtp: str = "", extra: str = "") -> Path:
    """A cocmail.toml in `tmp` (the tests' staff of two), storage under `tmp/data`; the
    circuit breaker off unless `extra` has a [process] section of its own."""
    if "[process]" not in extra:
        extra += "\n" + BREAKER_OFF
    make_config(tmp, extra, imap=imap, smtp=smtp)
    return tmp / "cocmail.toml"


def acks_by_reply(messages: Iterable, reporters: dict[str, str]) -> dict[str, float]:
    """Message-ID of a report -> sink time of its acknowledgement (In-Reply-To + reporter)."""
    found: dict[str, float] = {}
    for m in messages:
        irt = str(m.message.get("In-Reply-To", "")).strip().strip("<>")
        if irt in reporters and reporters[irt] in m.rcpt_tos and irt not in found:
            found[irt] = m.monotonic
    return found


# ---------------------------------------------------------------- the cocmail process

class CocmailProcess:
    """`cocmail --config X <args>` as a child process, its log in a file.

    The checkout that holds this bench/ is the one measured (`python -m cocmail` with the
    repo first on PYTHONPATH). Peak RSS is VmHWM from /proc, polled every few ms: the
    high-water mark of the cocmail program plus that of its courier process. (wait4's
    ru_maxrss would not do: Linux carries over the RSS the child had as a fork of this
    script, sink and all.) CPU seconds from wait4 include the courier's, which cocmail
    reaps before it exits.
    """

    def __init__(self, config: Path, *args: str):
        self.config = config
        self.args = [sys.executable, "-m", "cocmail", "--config", str(config), *args]
        profile = os.environ.get("BENCH_PROFILE")
        if profile:  # e.g. BENCH_PROFILE=/tmp/backlog.txt: collapsed stacks from py-spy
            spy = str(Path(sys.executable).with_name("py-spy"))
            self.args = [spy, "record", "--rate", "250", "--format", "raw",
                         "--output", profile, "--", *self.args]
        self.log_path = config.parent / f"cocmail-{'-'.join(a.strip('-') for a in args)}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.ended = 0.0
        self.returncode: int | None = None
        self.peak_rss_mb = 0.0  # cocmail and its courier together
        self.main_rss_mb = 0.0
        self.courier_rss_mb = 0.0
        self.cpu_seconds = 0.0
        self._watcher: threading.Thread | None = None

    def start(self) -> CocmailProcess:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child keeps it
        try:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, cwd=self.config.parent, env=env)
        finally:
            log.close()
        self._watcher = threading.Thread(target=self._watch_memory, name="rss", daemon=True)
        self._watcher.start()
        return self

    def _watch_memory(self) -> None:
        """Peak RSS of cocmail and of its courier process (a fork): the two high-water
        marks added up. Shared pages count twice, so the figure errs on the high side."""
        children: dict[int, float] = {}
        while self.returncode is None:
            main = _hwm_mb(self.pid)
            if main is None:
                return  # gone, or a zombie with no memory left to report
            try:
                kids = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            except OSError:
                kids = []
            for kid in map(int, kids):
                children[kid] = max(children.get(kid, 0.0), _hwm_mb(kid) or 0.0)
            self.main_rss_mb = max(self.main_rss_mb, main)
            self.courier_rss_mb = max(children.values(), default=0.0)
            self.peak_rss_mb = max(self.peak_rss_mb, main + sum(children.values()))
            time.sleep(0.005)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float) -> None:
        if not wait_until(lambda: text in self.log() or not self.running(), timeout,
                          interval=0.02) or text not in self.log():
            raise RuntimeError(f"cocmail never logged {text!r}:\n{self.log()[-3000:]}")

    def running(self) -> bool:
        """Still alive? Peeks without reaping (WNOWAIT), so `wait` still gets its rusage."""
        if self.proc is None or self.returncode is not None:
            return False
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def wait(self, timeout: float) -> int:
        """Reap the process (SIGKILL after `timeout`); records its exit code and CPU time."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(self.pid, 0)
                break
            time.sleep(0.002)
        self.ended = time.monotonic()
        self.returncode = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.returncode  # reaped here: Popen must not wait again
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        if self._watcher is not None:
            self._watcher.join(timeout=1)
        return self.returncode

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, as systemd would; the daemon finishes its step and exits."""
        if self.proc is None or self.returncode is not None:
            return self.returncode or 0
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)


def _hwm_mb(pid: int) -> float | None:
    """VmHWM of `pid` in MB; None if it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def scratch_dir(prefix: str) -> Path:
    """A temp dir for one run's config, database and log, removed when the script exits."""
    path = Path(tempfile.mkdtemp(prefix=f"cocmail-bench-{prefix}-"))
    if not os.environ.get("BENCH_KEEP"):
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


if __name__ == "__main__":
    pass  # a library for the other scripts; `make bench` runs it too, harmlessly


def latency_main(title: str, doc: str, measure: Callable[[int, int], None]) -> None:
    """The command line both latency scripts share: --reports, --warmup, wall time."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    banner(title)
    started = time.monotonic()
    measure(args.reports, args.warmup)
    print(f"wall time: {time.monotonic() - started:.1f} s")
