"""Start-up: wall time of `cocmail --help`, median of 10 runs (issue 6: <= 150 ms).

The installed console script is run as an operator types it, with this checkout first on
PYTHONPATH. One untimed run first writes the bytecode cache, as an installed package has
one; PYTHONDONTWRITEBYTECODE is dropped from the children's environment for that reason.
For scale, the same is timed for a bare `python -c pass`, and the slowest imports of
`cocmail --help` (python -X importtime) are listed.

    python bench/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from common import REPO, banner, cocmail_command

TARGET_MS = 150.0


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def time_runs(cmd: list[str], runs: int) -> list[float]:
    """Milliseconds per run, after one untimed warm-up run."""
    env = child_env()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - started) * 1000)
    return times


def slowest_imports(cmd: list[str], top: int = 5) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of the top-level imports that cost the most."""
    env = child_env()
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    result = subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):  # top level only
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:top]


def describe(label: str, times: list[float]) -> str:
    return (f"{label}: median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, "
            f"max {max(times):.1f} ms over {len(times)} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    banner("start-up (issue 6)")
    cmd = [*cocmail_command(), "--help"]
    print(f"timed: {' '.join(cmd)}")
    cocmail = time_runs(cmd, args.runs)
    bare = time_runs([sys.executable, "-c", "pass"], args.runs)
    print(describe("cocmail --help   ", cocmail))
    print(describe("python -c pass   ", bare))
    median = statistics.median(cocmail)
    verdict = "met" if median <= TARGET_MS else "NOT met"
    print(f"target: median <= {TARGET_MS:.0f} ms: {verdict}")
    print("slowest top-level imports of cocmail --help (cumulative): " + ", ".join(
        f"{name} {us / 1000:.1f} ms" for us, name in slowest_imports(cmd)))


if __name__ == "__main__":
    main()
