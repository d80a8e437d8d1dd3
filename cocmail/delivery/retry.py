"""Claims and retry: which process may send a row, and when a failed send is tried again.

Claims exist because two processes may deliver from one database (the daemon's
courier, and `cocmail ingest` run by Postfix). A claim is a lease: a row stays
invisible to other senders until it runs out, and a claim held by a process that
died is released, so a crash never strands mail.
"""

from __future__ import annotations

import os
import random

MAX_TEMP_FAILURES = 30  # about two days of backoff capped at two hours
BASE_BACKOFF = 30.0
MAX_BACKOFF = 7200.0
MIN_CLAIM_LEASE = 600.0  # seconds a claimed row stays invisible to other senders
CLAIM_BATCH = 20  # rows claimed in one transaction
ERROR_CHARS = 500  # of a delivery error kept on the outbox row: the server's answer, not a page


def claim_lease_seconds(transport: object) -> float:
    """How long a claim on a chunk lasts: rows are sent only in its first half, and a
    send (connection set-up, STARTTLS, AUTH and DATA, each up to the SMTP timeout, and
    once more after a reconnect) takes less than the other half."""
    cfg = getattr(transport, "cfg", None)
    timeout = float(getattr(cfg, "timeout", 0.0) or 0.0)
    return max(MIN_CLAIM_LEASE, 20 * timeout)


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs on this machine (claims are per process)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    return True


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1`: doubling from 30 s, capped at 2 h, +-20% jitter."""
    rng = rng or random.Random()
    base = min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    return base * rng.uniform(0.8, 1.2)
