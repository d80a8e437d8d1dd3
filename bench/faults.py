"""Fault injection: SIGKILL `cocmail run` while it works through a backlog, and count.

    .venv/bin/python bench/faults.py [--reports 500] [--kills 15] [--seed N]
                                     [--no-smtp-faults] [--no-imap-faults]

The scenario (testsupport/faults.py, which tests/test_crash.py runs as a slow test): a
few hundred reports wait in a real Dovecot; the real `cocmail run` is SIGKILLed at random
moments and started again until all work is done, while the SMTP server answers 451 or
421 or hangs up mid-DATA now and then and Dovecot loses its imap processes; then every
report must have exactly one case, one acknowledgement and one notification per staff
member.

Prints one line of figures to stdout (progress goes to stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # testsupport/ and cocmail itself, without installing
    sys.path.insert(0, str(REPO))

from testsupport.faults import Scenario, run_scenario  # noqa: E402

# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=Scenario.reports)
    parser.add_argument("--kills", type=int, default=Scenario.kills)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-smtp-faults", action="store_true")
    parser.add_argument("--no-imap-faults", action="store_true")
    args = parser.parse_args(argv)
    scenario = Scenario(reports=args.reports, kills=args.kills,
                        smtp_faults=not args.no_smtp_faults,
                        imap_faults=not args.no_imap_faults)
    if args.seed is not None:
        scenario.seed = args.seed
    figures = run_scenario(scenario)
    print(figures.line(), flush=True)
    for problem in figures.problems:
        print(problem, file=sys.stderr)
    ok = figures.duplicates == 0 and figures.lost == 0 and not figures.problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
