"""Flat cost: per-report time and the CLI commands at 500 and at 10,000 cases on file.

Issue 16's target: the figures at 10,000 cases within 1.3x of those at 500. Each size
gets its own storage dir (a spool config: mail is written to files, nothing is sent).
The history is filled fast, straight through `Store.save_case` in one transaction: a
case of a past event, closed with an outcome and reported to the DSF, 3 accused people
each (of a pool that repeats, like real repeat offenders), a reporter and a witness; a
few cases stay open. Then the measured part goes through the real thing:

- per report: `App.receive` of a staff-entered report (Ana, authenticated, opens a case
  with one `#accused`), the whole pipeline and the spool delivery, timed one by one;
- per command: `cocmail --config X <command>` as a subprocess, as an operator runs it,
  wall time (median of a few runs; the Python start-up is included and is the floor).

`report` prints one row per case of the event, and `people` one line per person on
file: their output grows with the history by design, so next to their time the script
prints the time per row of output.

    python bench/flat_cost.py [--sizes 500,10000] [--reports 60] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import REPO, banner, scratch_dir, stats, write_config

from cocmail.app import open_app
from cocmail.config import load_config
from cocmail.core.case import STEPS, Case, Person

ACCUSED_PER_CASE = 3
OPEN_CASES = 20  # a conference's live cases: the rest is history
AUTH = "mx.example.org; dmarc=pass header.from=example.org"
COMMANDS = (("cases list",), ("report",), ("digest", "--print"), ("people",), ("stats",))
TARGET = 1.3
_FIRST = ("Dan", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo", "Nia", "Olu")
_LAST = ("Doe", "Roe", "Poe", "Ng", "Kim", "Ito", "Sol", "Vik", "Wu", "Yar", "Zed", "Abe")


def _person(role: str, k: int) -> Person:
    name = f"{_FIRST[k % 12]} {_LAST[(k // 12) % 12]} {k}"
    return Person(role, name, f"{role}{k}@people.example")


def _history_case(n: int, size: int, now: datetime, event: str) -> Case:
    """Case `n` of `size`: closed long ago with a warning, unless it is one of the last few."""
    opened = now - timedelta(days=400) + timedelta(minutes=n)
    live = n > size - OPEN_CASES
    steps = {s: opened + timedelta(hours=1) for s in STEPS}
    if live:
        steps = {s: None for s in STEPS}
        steps["acknowledged"] = opened + timedelta(minutes=5)
    pool = max(n // 2, 1)  # people come back: about half the accused are repeats
    return Case(
        number=n, opened=opened, status="open" if live else "closed",
        subject=f"Report {n}", reporter=_person("reporter", 10**6 + n),
        accused=tuple(_person("accused", (n * 7 + j * 13) % pool + j * 10**5)
                      for j in range(ACCUSED_PER_CASE)),
        witnesses=(_person("witness", 2 * 10**6 + n),),
        summary=f"incident {n}", action=None if live else "warned",
        outcome=None if live else "warning", received_by=None,
        handlers=("ana@example.org",), steps=tuple(steps.items()),
        report_text=f"Report {n}: something happened at the venue.",
        last_activity=opened + timedelta(hours=1), event=event)


def fill(config: Path, size: int) -> None:
    """`size` cases straight into the store, in one transaction (seconds, not hours)."""
    cfg = load_config(config)
    app = open_app(cfg)
    now = datetime.now(UTC)
    try:
        with app.store.tx() as c:
            for n in range(1, size + 1):
                app.store.save_case(c, _history_case(n, size, now, cfg.event.name))
                app.store.audit(c, n, "ana@example.org", "opened", at=now)
        app.store.refresh_stats()
    finally:
        app.close()


def report(i: int) -> bytes:
    """A report Ana types in after talking to someone at the desk: one #accused."""
    return (f"From: Ana Lima <ana@example.org>\r\nTo: conduct@example.org\r\n"
            f"Subject: Report taken at the desk {i}\r\n"
            f"Message-ID: <desk-{i}-{time.monotonic_ns()}@example.org>\r\n"
            f"Authentication-Results: {AUTH}\r\n\r\n"
            f"#accused Quinn Example{i} <quinn{i}@visitor.example>\r\n"
            f"#when Friday evening\r\n#where Main hall\r\n\r\n"
            f"Someone came to the desk: Quinn Example{i} kept interrupting a speaker and\r\n"
            f"followed them out of the room. A friend saw it and can confirm.\r\n").encode()


def per_report(config: Path, reports: int, warmup: int) -> list[float]:
    """Milliseconds per `App.receive` of a staff-entered report, one at a time."""
    app = open_app(load_config(config))
    times = []
    try:
        for i in range(warmup + reports):
            started = time.perf_counter()
            state = app.receive(report(i), "bench")
            elapsed = (time.perf_counter() - started) * 1000
            if state != "done":
                raise RuntimeError(f"report {i} ended {state!r}")
            if i >= warmup:
                times.append(elapsed)
    finally:
        app.close()
    return times


def command(config: Path, args: tuple[str, ...], runs: int) -> tuple[float, int]:
    """(median wall seconds, lines of output) of `cocmail --config X <args>`."""
    walls, lines = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "cocmail", "--config", str(config),
                              *" ".join(args).split()], capture_output=True, cwd=REPO,
                             check=True).stdout
        walls.append(time.perf_counter() - started)
        lines = out.count(b"\n")
    return statistics.median(walls), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,10000")
    parser.add_argument("--reports", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    banner("flat cost: per report and per CLI command, as the history grows")
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        tmp = scratch_dir(f"flat{size}")
        config = write_config(tmp)
        started = time.monotonic()
        fill(config, size)
        print(f"-- {size} cases ({ACCUSED_PER_CASE} accused each, {OPEN_CASES} open), "
              f"filled in {time.monotonic() - started:.1f} s")
        s = stats(per_report(config, args.reports, args.warmup))
        print("  " + s.line("per report (App.receive, staff-entered, one #accused)"))
        row = {"report p50": s.p50, "report p95": s.p95}
        for cmd in COMMANDS:
            wall, lines = command(config, cmd, args.runs)
            name = " ".join(cmd)
            per_row = f", {wall * 1000 / lines:.2f} ms per line" if lines else ""
            print(f"  {name:<16} {wall * 1000:8.0f} ms  ({lines} lines of output{per_row})")
            row[name] = wall * 1000
            row[name + " per line"] = wall * 1000 / max(lines, 1)
        results[size] = row
    if len(sizes) >= 2:
        small, big = results[sizes[0]], results[sizes[-1]]
        print(f"-- ratio {sizes[-1]}/{sizes[0]} (target: within {TARGET}x)")
        for key in small:
            ratio = big[key] / small[key] if small[key] else float("nan")
            mark = "ok" if ratio <= TARGET else "OVER"
            print(f"  {key:<26} {small[key]:9.2f} -> {big[key]:9.2f} ms   {ratio:5.2f}x  {mark}")


if __name__ == "__main__":
    main()
