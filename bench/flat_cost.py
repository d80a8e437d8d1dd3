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

    python bench/flat_cost.py [--sizes 500,10000] [--reports 60] [--warmup 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
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
from cocmail.store import cases as cases_db

ACCUSED_PER_CASE = 3
OPEN_CASES = 20  # a conference's live cases: the rest is history
AUTH = "mx.example.org; dmarc=pass header.from=example.org"
COMMANDS = (("cases list",), ("report",), ("digest", "--print"), ("people",), ("stats",))
TARGET = 1.3
PER_LINE = ("report", "people")  # one line per case, per person: the output grows by design
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
    rng = random.Random(n)
    pool = max(size * ACCUSED_PER_CASE // 2, 1)  # people come back: two cases each, on average
    return Case(
        number=n, opened=opened, status="open" if live else "closed",
        subject=f"Report {n}", reporter=_person("reporter", 10**6 + n),
        accused=tuple(_person("accused", rng.randrange(pool)) for _ in range(ACCUSED_PER_CASE)),
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
                cases_db.save_case(c, _history_case(n, size, now, cfg.event.name))
                cases_db.audit(c, n, "ana@example.org", "opened", at=now)
        app.store.write(cases_db.refresh_stats)
        app.store.compact()  # as after a purge: the WAL emptied, the file rewritten
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


def per_report(configs: list[Path], reports: int, warmup: int) -> list[list[float]]:
    """Milliseconds per `App.receive` of a staff-entered report, one at a time, for each
    storage dir in turn (one report here, one there): the load other processes put on
    the machine's disk and cores falls on every size alike."""
    apps = [open_app(load_config(config)) for config in configs]
    times: list[list[float]] = [[] for _ in configs]
    try:
        for i in range(warmup + reports):
            for app, out in zip(apps, times, strict=True):
                started = time.perf_counter()
                state = app.receive(report(i), "bench")
                elapsed = (time.perf_counter() - started) * 1000
                if state != "done":
                    raise RuntimeError(f"report {i} ended {state!r}")
                if i >= warmup:
                    out.append(elapsed)
    finally:
        for app in apps:
            app.close()
    return times


def command(config: Path, args: tuple[str, ...]) -> tuple[float, int]:
    """(wall seconds, lines of output) of `cocmail --config X <args>`."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "cocmail", "--config", str(config),
                          *" ".join(args).split()], capture_output=True, cwd=REPO,
                         check=True).stdout
    return time.perf_counter() - started, out.count(b"\n")


def in_process(config: Path, args: tuple[str, ...]) -> float:
    """Seconds of the same command run in this process (click's test runner): its work
    on the database without the interpreter's start-up and imports, which are most of
    the wall time and vary most on a shared machine."""
    from click.testing import CliRunner

    from cocmail.cli import main

    started = time.perf_counter()
    result = CliRunner().invoke(main, ["--config", str(config), *" ".join(args).split()])
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {result.exit_code}: {result.output}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,10000")
    parser.add_argument("--reports", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    banner("flat cost: per report and per CLI command, as the history grows")
    configs = []
    for size in sizes:
        config = write_config(scratch_dir(f"flat{size}"))
        started = time.monotonic()
        fill(config, size)
        print(f"-- {size} cases ({ACCUSED_PER_CASE} accused each, {OPEN_CASES} open): "
              f"filled in {time.monotonic() - started:.1f} s")
        configs.append(config)
    results: dict[int, dict[str, float]] = {size: {} for size in sizes}
    print(f"-- per report: App.receive of a staff-entered report with one #accused, "
          f"{args.reports} at each size, interleaved")
    for size, times in zip(sizes, per_report(configs, args.reports, args.warmup), strict=True):
        s = stats(times)
        print("  " + s.line(f"{size:>6} cases"))
        results[size] |= {"report p50": s.p50, "report p95": s.p95}
    print(f"-- CLI commands: wall time, median of {args.runs} (Python start-up included)")
    for cmd in COMMANDS:
        name = " ".join(cmd)
        walls: dict[int, list[float]] = {size: [] for size in sizes}
        inside: dict[int, list[float]] = {size: [] for size in sizes}
        lines: dict[int, int] = {}
        for _ in range(args.runs):  # the sizes in turn, as for the reports
            for size, config in zip(sizes, configs, strict=True):
                wall, lines[size] = command(config, cmd)
                walls[size].append(wall)
                inside[size].append(in_process(config, cmd))
        for size in sizes:
            ms = statistics.median(walls[size]) * 1000
            work = statistics.median(inside[size]) * 1000
            per_line = work / max(lines[size], 1)
            note = f", {per_line:.3f} ms per line" if name in PER_LINE else ""
            print(f"  {name:<16} {size:>6} cases {ms:7.0f} ms wall, {work:7.1f} ms in process"
                  f"  ({lines[size]} lines{note})")
            results[size][name] = ms
            results[size][name + " in process"] = work
            if name in PER_LINE:
                results[size][name + " per line"] = per_line
    if len(sizes) >= 2:
        small, big = results[sizes[0]], results[sizes[-1]]
        print(f"-- ratio {sizes[-1]}/{sizes[0]} (target: within {TARGET}x)")
        for key in small:
            ratio = big[key] / small[key] if small[key] else float("nan")
            mark = "ok" if ratio <= TARGET else "OVER"
            print(f"  {key:<30} {small[key]:9.2f} -> {big[key]:9.2f} ms  {ratio:5.2f}x  {mark}")


if __name__ == "__main__":
    main()
