"""The clock and how times are stored: the shell's one source of "now".

The core never asks the clock (tests/test_layout.py); the shell calls `utcnow()` and
passes the time in (Env.now), so every decision can be tested on a frozen clock.
Times are stored as ISO 8601 text in UTC, to the second.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat(timespec="seconds") if dt else None


def parse_iso(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None
