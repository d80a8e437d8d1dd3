"""The circuit breaker's plain values (core/flood.py decides with them).

Apart from flood.py so that env.py, intake.py and decide.py can name them without an
import circle (flood.py needs Decision and Env).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class FloodRules:
    """`[process]` flood_* keys; a threshold of 0 turns that breaker off."""

    window: timedelta = timedelta(minutes=10)
    per_domain: int = 10  # new reports from one sending domain within the window
    overall: int = 30  # new reports from anywhere within the window
    per_case: int = 10  # follow-ups on one case within the window


@dataclass(frozen=True)
class FloodCounts:
    """What arrived within the window before this mail (from the store; compared whole
    with the rest of Facts under the write lock, so a decision made ahead on fewer
    arrivals than there are now is made again)."""

    domain: int = 0  # new reports from the sender's domain
    overall: int = 0  # new reports from anywhere
    case: int = 0  # follow-ups on the matched case


@dataclass(frozen=True)
class Arrival:
    """A mail the breaker counts, as the shell records it: `kind` "report" (a new case)
    or "followup" (mail on a case); `held` the rule that held it ("domain", "all",
    "case"), None when it was handled as usual; `who` the sender's role on the case
    (follow-ups), for the summary."""

    kind: str
    held: str | None
    who: str = ""
