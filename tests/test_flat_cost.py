"""Flat cost (issue 16): what a report costs must not grow with the history on file.

The repeat-offender look-ups are index look-ups (migration 7), and so is the
acknowledgement limit (migration 8), checked with SQLite's own query plans; databases
from before migrations 7 and 8 are upgraded and still recognise people by name and count
acknowledgements; the digest, which loads only the cases it can show, still shows an old
case waiting for its DSF report. Figures: bench/flat_cost.py.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cocmail.core.case import Case, Person
from cocmail.digest import build_digest
from cocmail.history import StoreHistory
from cocmail.store import Store
from cocmail.store import cases as cases_db
from cocmail.store import outbox as outbox_db
from testsupport.apps import Desk

NOW = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)


def _plans(store: Store, statements: list[str]) -> list[str]:
    """SQLite's query plan lines for the SELECTs among `statements`."""
    return [detail for sql in statements if sql.lstrip().upper().startswith("SELECT")
            for *_, detail in store.conn.execute("EXPLAIN QUERY PLAN " + sql)]


def _case(number: int, accused: tuple[Person, ...]) -> Case:
    return Case(number=number, opened=NOW, status="closed", accused=accused,
                outcome="warning")


def _store_with_history(path: Path, cases: int) -> Store:
    store = Store(path)
    with store.tx() as c:
        for n in range(1, cases + 1):
            cases_db.save_case(c, _case(n, (Person("accused", f"Person Number{n}",
                                                f"P{n}@Example.org"),)))
    return store


def test_repeat_offender_look_ups_read_no_whole_table(tmp_path: Path) -> None:
    """Every statement a report's look-ups run searches an index: none scans `people`
    (before, `mentioned` read every accused person on file, and `earlier` compared
    lower(email) row by row)."""
    store = _store_with_history(tmp_path / "db.sqlite", 50)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    history = StoreHistory(store)
    earlier = history.earlier(Person("accused", "Number7 Person", "p7@example.org"), 999)
    mentioned = history.mentioned("It was Person Number12, and p30@example.org too.", 999)
    store.conn.set_trace_callback(None)
    assert [e["case"] for e in earlier] == [7]
    assert [e["case"] for e in mentioned] == [12, 30]
    plans = _plans(store, statements)
    assert plans
    assert [p for p in plans if p.startswith("SCAN")] == []
    store.close()


def test_a_database_from_before_migration_7_still_recognises_names(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _store_with_history(path, 3).close()
    old = sqlite3.connect(path)  # back to schema 6: no name_words, no new indexes
    _back_to_16(old)
    for index in ("people_email_lower", "people_accused_words", "cases_status",
                  "cases_opened", "cases_closed", "cases_dsf_due"):
        old.execute(f"DROP INDEX {index}")
    old.execute("ALTER TABLE people DROP COLUMN name_words")
    _back_to_7(old)
    old.execute("UPDATE meta SET value='6' WHERE key='schema_version'")
    old.commit()
    old.close()
    store = Store(path)
    hits = StoreHistory(store).mentioned("Someone called number2 PERSON did it.", 999)
    assert [(h["case"], h["person"]) for h in hits] == [(2, "Person Number2 <P2@Example.org>")]
    store.close()


def _back_to_16(db: sqlite3.Connection) -> None:
    """Undo migration 17 (sealed records): no blind-index columns, no case keys, the
    plaintext indexes of migrations 1 and 7 back."""
    for index in ("people_email_bi", "people_name_bi", "inbound_mid_bi", "messages_mid_bi"):
        db.execute(f"DROP INDEX {index}")
    for table, column in (("people", "email_bi"), ("people", "name_bi"),
                          ("inbound", "mid_bi"), ("messages", "mid_bi")):
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.execute("DROP TABLE case_keys")
    db.execute("CREATE INDEX people_email ON people(email)")
    db.execute("CREATE INDEX people_norm ON people(norm_name)")
    db.execute("CREATE INDEX people_email_lower ON people(lower(email))")
    db.execute("CREATE INDEX inbound_mid ON inbound(message_id)")
    db.execute("CREATE INDEX messages_mid ON messages(message_id)")
    db.execute("UPDATE meta SET value='16' WHERE key='schema_version'")


def _back_to_7(db: sqlite3.Connection) -> None:
    """Undo migration 8: no outbox.mailbox."""
    db.execute("DROP INDEX outbox_ack_mailbox")
    db.execute("DROP INDEX outbox_case_kind")
    db.execute("CREATE INDEX outbox_acks ON outbox(kind, recipients COLLATE NOCASE, created)")
    db.execute("ALTER TABLE outbox DROP COLUMN mailbox")
    db.execute("UPDATE meta SET value='7' WHERE key='schema_version'")


def _acks(store: Store, recipients: list[str], now: datetime) -> None:
    with store.tx() as c:
        for k, to in enumerate(recipients):
            outbox_db.enqueue(c, case_number=None, kind="ack", role="r",
                              message_id=f"a{k}.{now:%s}@x", sender="conduct@example.org",
                              recipients=[to], subject="ack", raw=b"x", now=now)


def test_the_acknowledgement_limit_is_one_look_up_per_mailbox(tmp_path: Path) -> None:
    """Before, every acknowledgement of the day was read and compared in Python: a
    backlog of 2,000 reports read 2,000 rows for the last one."""
    store = Store(tmp_path / "db.sqlite")
    _acks(store, [f"r{k}@a.example" for k in range(200)]
          + ["Victim@B.example", "victim+1@b.example", "VICTIM+x@b.example"], NOW)
    _acks(store, ["victim@b.example"], NOW - timedelta(days=2))  # too old to count
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    assert store.read(outbox_db.acks_since, "victim+9@B.EXAMPLE", NOW - timedelta(days=1)) == 3
    store.conn.set_trace_callback(None)
    plans = _plans(store, statements)
    # A search by mailbox and time, not by kind: the old one read every ack of the day.
    assert plans and all(p.startswith("SEARCH") and "mailbox=? AND created>?" in p
                         for p in plans), plans
    assert store.read(outbox_db.acks_since, "r7@a.example", NOW - timedelta(days=1)) == 1
    # The other per-kind look-up (automatic mail already relayed on a case today) lost
    # its index with the old one in schema 8 and must not scan the outbox either.
    statements.clear()
    store.conn.set_trace_callback(statements.append)
    noticed = store.read(outbox_db.noticed_since, 1, "automatic", NOW - timedelta(days=1))
    assert noticed == frozenset()
    store.conn.set_trace_callback(None)
    plans = _plans(store, statements)
    assert plans and all(p.startswith("SEARCH") for p in plans), plans
    assert store.read(outbox_db.acks_since, "nobody@a.example", NOW - timedelta(days=1)) == 0
    store.close()


def test_acknowledgements_queued_before_migration_8_still_count(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = Store(path)
    _acks(store, ["Victim+1@B.example", "victim@b.example"], NOW)
    store.close()
    old = sqlite3.connect(path)
    _back_to_7(old)
    old.commit()
    old.close()
    store = Store(path)
    assert store.read(outbox_db.acks_since, "victim@b.example", NOW - timedelta(hours=1)) == 2
    store.close()


def test_the_digest_still_shows_an_old_case_waiting_for_its_dsf_report(tmp_path: Path
                                                                        ) -> None:
    """Closed months ago and decided, but never reported to the DSF: still in the
    digest, though the digest no longer loads every case."""
    desk = Desk(tmp_path)
    try:
        old = desk.report("Eve <eve@a.example>", "Report one.\n")
        desk.staff("ana@example.org", old, "#accused Dan Doe <dan@x.example>\n"
                   "#action Talked\n#outcome warning\n#close\n")
        done = desk.report("Zed <zed@a.example>", "Report two.\n")
        desk.staff("ana@example.org", done, "#summary nothing more to do\n")
        desk.clock.set(NOW + timedelta(days=120))
        text = build_digest(desk.app, desk.clock.now)
        assert f"Report to the DSF due: case {old}" in text
        assert f"Case {done}: open for 120 days" in text
    finally:
        desk.close()


def test_cases_list_and_the_digest_read_only_the_cases_they_show(tmp_path: Path) -> None:
    """`cases list` (open cases) and the digest (open, recent, due for the DSF) look
    their cases up by index instead of reading every case on file."""
    store = _store_with_history(tmp_path / "db.sqlite", 50)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    assert store.read(cases_db.load_cases, include_closed=False, events=["Example Conf 2027"]) == []
    assert store.read(cases_db.load_cases, since=NOW + timedelta(days=1)) == []
    store.conn.set_trace_callback(None)
    plans = _plans(store, statements)
    assert plans
    assert [p for p in plans if p.startswith("SCAN")] == []
    store.close()


def test_stats_reads_the_anonymous_counts_only_and_they_are_current(tmp_path: Path) -> None:
    """Each save of a case keeps its `stats` row current (schema 9), so `cocmail stats`
    no longer copies every case on file before counting (10x the time at 10,000)."""
    from cocmail.views import stats

    desk = Desk(tmp_path)
    try:
        n = desk.report("Eve <eve@a.example>", "Report one.\n")
        desk.staff("ana@example.org", n, "#accused Dan Doe <dan@x.example>\n"
                   "#action Talked\n#outcome warning\n#close\n")
        statements: list[str] = []
        desk.app.store.conn.set_trace_callback(statements.append)
        data = stats(desk.app)
        desk.app.store.conn.set_trace_callback(None)
        assert not [s for s in statements if "cases" in s.lower()], statements
        year = str(NOW.year)
        assert data["periods"][year]["reports"] == 1
        assert data["periods"][year]["people named"] == 1
        assert sum(v for k, v in data["periods"][year].items()
                   if k not in ("reports", "people named", "no outcome yet")) == 1
    finally:
        desk.close()
