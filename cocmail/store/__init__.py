"""SQLite storage: the only place cocmail keeps state.

`connection.Store` holds the connection, its lock and the transactions; the tables
are read and written by plain functions, one module per table family, each taking
the connection first and never reading the clock:

- cases: cases, their people, messages and audit trail, events, stats, expunging;
- inbound: raw mail in, held commands, the circuit breaker's arrivals, machine mail;
- outbox: mail out, claims and retries, the acknowledgement limit;
- people: people on file, earlier cases naming an accused person, the staff's numbers;
- proposals: proposals, reminders, digests, purge records;
- migrations: the schema and its numbered migrations.

    with store.tx() as c:                      # one write transaction
        cases_db.save_case(c, case)
        cases_db.audit(c, case.number, actor, "closed", at=now)
    case = store.read(cases_db.load_case, 7)   # a read, under the lock
"""

from __future__ import annotations

from .connection import (
    BUSY_TIMEOUT,
    Store,
    StoreError,
    backup_database,
    check_copy,
    writable_schema_version,
)
from .inbound import MAX_ATTEMPTS

__all__ = ["BUSY_TIMEOUT", "MAX_ATTEMPTS", "Store", "StoreError", "backup_database",
           "check_copy", "writable_schema_version"]
