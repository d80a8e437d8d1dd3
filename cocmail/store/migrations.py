"""Versioned schema migrations: an upgrade keeps every row, a newer database is refused.

Each migration takes the database from version N-1 to N inside one transaction
(SQLite's DDL is transactional), so a failed upgrade leaves the old database as it
was. Version 1 is the schema of the first release, written out as it was then:
`CREATE TABLE IF NOT EXISTS` can create a missing table but never change one, so
every later change is a migration of its own below, never an edit of version 1.

Plain SQL throughout. The columns migrations 2-8 and 10 add were added by sqlite-utils'
`add_column` until issue 24; they are now the very statement sqlite-utils 4 ran
(`ALTER TABLE "t" ADD COLUMN "c" TYPE;`), so the schema SQLite records is the same
text (sqlite-utils 3 quoted `[c]`: SQLite reads both alike). A change ALTER TABLE
cannot make would copy the table into a new one and rename it, keeping the rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from ..core.errors import UserError
from ..core.model import normalise_address

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS staff_ids (sid INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS inbound (
  id INTEGER PRIMARY KEY, received_at TEXT NOT NULL, source TEXT NOT NULL,
  folder TEXT, uidvalidity INTEGER, uid INTEGER,
  message_id TEXT, raw_sha256 TEXT NOT NULL, body_sha256 TEXT NOT NULL, size INTEGER NOT NULL,
  raw BLOB, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
  error TEXT, case_number INTEGER, subject TEXT, sender TEXT, processed_at TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS inbound_imap ON inbound(folder, uidvalidity, uid)
  WHERE folder IS NOT NULL;
CREATE INDEX IF NOT EXISTS inbound_mid ON inbound(message_id);
CREATE INDEX IF NOT EXISTS inbound_state ON inbound(state);
CREATE TABLE IF NOT EXISTS cases (
  number INTEGER PRIMARY KEY, status TEXT NOT NULL, opened TEXT NOT NULL, subject TEXT,
  urgent INTEGER NOT NULL DEFAULT 0, reporter_anonymous INTEGER NOT NULL DEFAULT 0,
  victim_is_reporter INTEGER NOT NULL DEFAULT 1,
  when_text TEXT, where_text TEXT, summary TEXT, action TEXT, outcome TEXT, others TEXT,
  received_by TEXT, handlers TEXT NOT NULL DEFAULT '[]', recused TEXT NOT NULL DEFAULT '[]',
  acknowledged TEXT, accused_informed TEXT, decision TEXT, harasser_informed TEXT,
  victim_informed TEXT, dsf_reported TEXT, closed TEXT, dsf_hold_until TEXT,
  report_text TEXT, root_message_id TEXT, last_activity TEXT, last_staff_action TEXT,
  purged TEXT, retain_from TEXT);
CREATE TABLE IF NOT EXISTS people (
  id INTEGER PRIMARY KEY, case_number INTEGER NOT NULL, role TEXT NOT NULL,
  name TEXT, email TEXT, norm_name TEXT);
CREATE INDEX IF NOT EXISTS people_case ON people(case_number);
CREATE INDEX IF NOT EXISTS people_email ON people(email);
CREATE INDEX IF NOT EXISTS people_norm ON people(norm_name);
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY, case_number INTEGER NOT NULL, direction TEXT NOT NULL,
  sender TEXT, recipients TEXT, subject TEXT, date TEXT, message_id TEXT, kind TEXT,
  body TEXT, inbound_id INTEGER, outbox_id INTEGER);
CREATE INDEX IF NOT EXISTS messages_case ON messages(case_number);
CREATE INDEX IF NOT EXISTS messages_mid ON messages(message_id);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY, at TEXT NOT NULL, case_number INTEGER, actor TEXT NOT NULL,
  action TEXT NOT NULL, detail TEXT, message_id TEXT);
CREATE INDEX IF NOT EXISTS audit_case ON audit(case_number);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY, created TEXT NOT NULL, case_number INTEGER, kind TEXT NOT NULL,
  role TEXT, message_id TEXT UNIQUE NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL,
  subject TEXT, raw BLOB, state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt TEXT NOT NULL, last_error TEXT, sent TEXT);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_acks ON outbox(kind, recipients COLLATE NOCASE, created);
CREATE TABLE IF NOT EXISTS held (
  nonce TEXT PRIMARY KEY, case_number INTEGER NOT NULL, staff_email TEXT NOT NULL,
  commands TEXT NOT NULL, body TEXT, inbound_id INTEGER, created TEXT NOT NULL, used TEXT);
CREATE TABLE IF NOT EXISTS digests (week TEXT PRIMARY KEY, sent TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stats (
  case_number INTEGER PRIMARY KEY, opened TEXT NOT NULL, outcome TEXT, people_named INTEGER,
  closed TEXT);
"""


class SchemaError(UserError):
    """The database's schema is one this cocmail cannot use (newer, or unreadable)."""


def _add_column(conn: sqlite3.Connection, table: str, column: str, sql_type: str) -> None:
    """The statement sqlite-utils' `add_column` ran when these migrations used it."""
    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {sql_type};')


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _v1(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v2(conn: sqlite3.Connection) -> None:
    """Delivery claims: which process is sending an outbox row right now.

    Several processes may deliver (the daemon's courier, `ingest`, `quarantine
    release`); a row is claimed atomically before it is sent, and a claim held by a
    process that died is released, so no mail goes out twice from two senders.
    """
    _add_column(conn, "outbox", "claimed_by", "INTEGER")


def _v3(conn: sqlite3.Connection) -> None:
    """Events: every case belongs to the event it was opened under, year after year.

    Cases from before are given the configured event when cocmail next opens the
    database (cases.file_cases_under); the anonymous `stats` rows carry the event
    too, so a transparency report can compare events after their cases are purged.
    """
    _add_column(conn, "cases", "event", "TEXT")
    _add_column(conn, "cases", "public_summary", "TEXT")
    _add_column(conn, "stats", "event", "TEXT")
    conn.execute("CREATE TABLE events (name TEXT PRIMARY KEY, starts TEXT, ends TEXT,"
                 " attendees_in_person INTEGER, attendees_online INTEGER,"
                 " reporting_channels TEXT, first_seen TEXT NOT NULL)")
    conn.execute("CREATE INDEX cases_event ON cases(event)")


def _v4(conn: sqlite3.Connection) -> None:
    """The accused's side (`#notified-accused <their side>`), kept for the DSF report."""
    _add_column(conn, "cases", "accused_side", "TEXT")


def _v5(conn: sqlite3.Connection) -> None:
    """Proposals: mail to the reported person or the DSF, and the recusal of another
    member, waiting for a second member's #approve (issue 14 part 2, issue 11 item 7)."""
    conn.execute("CREATE TABLE proposals (nonce TEXT PRIMARY KEY, case_number INTEGER NOT NULL,"
                 " kind TEXT NOT NULL, proposed_by TEXT NOT NULL, proposed_at TEXT NOT NULL,"
                 " target TEXT, mails TEXT NOT NULL, facts TEXT, inbound_id INTEGER,"
                 " state TEXT NOT NULL DEFAULT 'waiting', decided_by TEXT, decided_at TEXT,"
                 " reason TEXT)")
    conn.execute("CREATE INDEX proposals_case ON proposals(case_number)")


def _v6(conn: sqlite3.Connection) -> None:
    """Reminders sent (issue 14 part 3): one row per (case, key), written in the
    transaction that queues the reminder, so a restart neither loses nor repeats one."""
    conn.execute("CREATE TABLE reminders (case_number INTEGER NOT NULL, key TEXT NOT NULL,"
                 " sent TEXT NOT NULL, PRIMARY KEY (case_number, key))")


def _v7(conn: sqlite3.Connection) -> None:
    """Indexed look-ups of accused people, so a report costs the same at 500 cases and at
    10,000 (issue 16, "Flat cost").

    The repeat-offender check compares addresses case-insensitively: an index on
    lower(email) answers `lower(email)=?` without reading every row. `name_words` (the
    word count of `norm_name`) tells how long a run of words in a report can name someone
    on file, and its index answers max() at once. Indexes on the cases' status, opening,
    closing and DSF step let `cases list` and the digest load only the cases they show.
    """
    _add_column(conn, "people", "name_words", "INTEGER")
    conn.execute("UPDATE people SET name_words ="
                 " length(norm_name) - length(replace(norm_name, ' ', '')) + 1"
                 " WHERE norm_name IS NOT NULL")
    conn.execute("CREATE INDEX people_email_lower ON people(lower(email))")
    conn.execute("CREATE INDEX people_accused_words ON people(name_words) WHERE role='accused'")
    # What `cases list` and the digest load: the open cases, those opened or closed in
    # the period, those decided and not yet reported to the DSF.
    conn.execute("CREATE INDEX cases_status ON cases(status)")
    conn.execute("CREATE INDEX cases_opened ON cases(opened)")
    conn.execute("CREATE INDEX cases_closed ON cases(closed)")
    conn.execute("CREATE INDEX cases_dsf_due ON cases(decision) WHERE dsf_reported IS NULL")


def _v8(conn: sqlite3.Connection) -> None:
    """The mailbox an outbox row goes to, so the acknowledgement limit is one indexed
    look-up (issue 16, "Flat cost"): before, every acknowledgement of the day was read
    and its recipients compared in Python, a cost that grew with the backlog.

    `mailbox` is the one recipient's address case-folded and without a +tag
    (model.normalise_address: victim+7@ and VICTIM@ are one mailbox); NULL for a mail
    with several recipients. The old index on (kind, recipients) goes; the one other
    look-up that used it (per case and kind) gets an index of its own.
    """
    _add_column(conn, "outbox", "mailbox", "TEXT")
    rows = conn.execute("SELECT id, recipients FROM outbox").fetchall()
    conn.executemany("UPDATE outbox SET mailbox=? WHERE id=?",
                     [(single_mailbox(json.loads(recipients)), oid)
                      for oid, recipients in rows])
    conn.execute("CREATE INDEX outbox_ack_mailbox ON outbox(mailbox, created) WHERE kind='ack'")
    conn.execute("DROP INDEX outbox_acks")  # what the old look-up used
    # noticed_since (automatic mail already relayed on a case today) read it too.
    conn.execute("CREATE INDEX outbox_case_kind ON outbox(case_number, kind, created)")


def single_mailbox(recipients: list[str]) -> str | None:
    """The mailbox of a mail's only recipient; None when it has several (or none)."""
    return normalise_address(recipients[0]) if len(recipients) == 1 else None


# The anonymous counts of live cases copied into `stats` (which purges never touch);
# `{only}` narrows it to some cases. Rows that did not change are not rewritten.
STATS_SYNC = (
    "INSERT INTO stats(case_number, opened, outcome, people_named, closed, event)"
    " SELECT c.number, c.opened, c.outcome,"
    " (SELECT count(*) FROM people p WHERE p.case_number=c.number AND p.role='accused'),"
    " c.closed, c.event FROM cases c WHERE c.purged IS NULL{only}"
    " ON CONFLICT(case_number) DO UPDATE SET outcome=excluded.outcome,"
    " people_named=excluded.people_named, closed=excluded.closed, event=excluded.event"
    " WHERE stats.outcome IS NOT excluded.outcome"
    " OR stats.people_named IS NOT excluded.people_named"
    " OR stats.closed IS NOT excluded.closed OR stats.event IS NOT excluded.event")


def _v9(conn: sqlite3.Connection) -> None:
    """`stats` kept current by every save of a case (cases.save_case), not copied whole
    before each `cocmail stats` and `transparency` (that copy read every case on file, a
    cost that grew with the years kept). Brought up to date once here."""
    conn.execute(STATS_SYNC.format(only=""))


def _v10(conn: sqlite3.Connection) -> None:
    """Why a case's reporter address may be forged (issue 21: a trusted DMARC or SPF and
    DKIM failure): shown to staff in `cases show`; such a report is not acknowledged."""
    if "forged_sender" not in _columns(conn, "cases"):  # safe to run again
        _add_column(conn, "cases", "forged_sender", "TEXT")


def _v11(conn: sqlite3.Connection) -> None:
    """Which excluded members a case *names* (issue 21, conflicts by construction): they
    are in `recused` like any excluded member; `named` says why, for `cases show`, and
    `included` keeps who #include brought back, so that text naming them again does not
    exclude them again."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(cases)")}
    for column in ("named", "included"):
        if column not in have:  # a database re-marked older runs this again
            conn.execute(f"ALTER TABLE cases ADD COLUMN {column} TEXT NOT NULL DEFAULT '[]'")


def _v12(conn: sqlite3.Connection) -> None:
    """The circuit breaker's arrivals (issue 21, core/flood.py): one row per counted mail,
    a new report (`source`: a keyed hash of its sending domain, never the domain or an
    address) or a follow-up (`source`: its case number); `held` names the rule that held
    it, `summarised` when the summary notice listing it was queued. Rows are forgotten a
    day after they stop mattering, a held report's when its case is expunged
    (cases.expunge_case)."""
    conn.execute("CREATE TABLE IF NOT EXISTS arrivals (id INTEGER PRIMARY KEY,"
                 " at TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, case_number INTEGER,"
                 " held TEXT, who TEXT, summarised TEXT)")
    conn.execute("CREATE INDEX IF NOT EXISTS arrivals_recent ON arrivals(kind, source, at)")
    conn.execute("CREATE INDEX IF NOT EXISTS arrivals_all ON arrivals(kind, at)")
    conn.execute("CREATE INDEX IF NOT EXISTS arrivals_waiting ON arrivals(at)"
                 " WHERE held IS NOT NULL AND summarised IS NULL")


def _v13(conn: sqlite3.Connection) -> None:
    """`#response` (issue 21): the text the reported person gets as the response, when
    it is not the sheet's `#action`. Idempotent: a database rolled back by hand (as the
    tests of older migrations do) may still have the column."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(cases)")}
    if "response" not in columns:
        conn.execute("ALTER TABLE cases ADD COLUMN response TEXT")


def _v14(conn: sqlite3.Connection) -> None:
    """`#notified-victim declined` (issue 25, item 6): the person affected asked not to be
    contacted. Idempotent like _v13 (it only adds a column)."""
    if "victim_declined" not in _columns(conn, "cases"):
        conn.execute("ALTER TABLE cases ADD COLUMN victim_declined INTEGER NOT NULL DEFAULT 0")


def _v15(conn: sqlite3.Connection) -> None:
    """`#until` (issue 25, item 7): the day a reported person's suspension or ban ends,
    ISO text, with the person. Idempotent (it only adds a column)."""
    if "until" not in _columns(conn, "people"):
        conn.execute("ALTER TABLE people ADD COLUMN until TEXT")


def _v16(conn: sqlite3.Connection) -> None:
    """The language of mail to each party of a case (issue 26: the reporter's, detected
    from the report or set by `#language`; the person affected's and the reported
    person's, set by `#language victim|accused`). NULL: not known, all the event's
    languages. Idempotent, whichever other migrations ran before it."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(cases)")}
    for column in ("language", "victim_language", "accused_language"):
        if column not in columns:
            conn.execute(f"ALTER TABLE cases ADD COLUMN {column} TEXT")


def _v17(conn: sqlite3.Connection) -> None:
    """Sealed records (issue 27, store/sealed.py): blind indexes for the look-ups that
    compared plaintext (addresses and names of reported people, Message-IDs), and the
    data key of each case (`case_keys`: key ids only; the keys are in cocmail.keys).

    The indexes that held plaintext go. The blind-index columns hold the normalised text
    itself while a store is not sealed, so the look-ups are the same either way. The
    sealing of existing rows runs right after this migration, when the store has a
    keyring (Store._seal): it needs the keys, which a migration is not given.
    """
    for table, column in (("people", "email_bi"), ("people", "name_bi"),
                          ("inbound", "mid_bi"), ("messages", "mid_bi")):
        if column not in _columns(conn, table):
            _add_column(conn, table, column, "TEXT")
    # Lower-cased as the look-ups lower an address (Python's str.lower, not SQLite's
    # ASCII-only lower()).
    conn.executemany("UPDATE people SET email_bi=?, name_bi=norm_name WHERE id=?",
                     [(email.lower() if isinstance(email, str) else None, pid)
                      for pid, email in conn.execute("SELECT id, email FROM people")])
    conn.execute("UPDATE inbound SET mid_bi=message_id")
    conn.execute("UPDATE messages SET mid_bi=message_id")
    for old in ("people_email", "people_norm", "people_email_lower", "inbound_mid",
                "messages_mid"):
        conn.execute(f"DROP INDEX IF EXISTS {old}")
    conn.execute("CREATE INDEX IF NOT EXISTS people_email_bi ON people(email_bi)")
    conn.execute("CREATE INDEX IF NOT EXISTS people_name_bi ON people(name_bi)")
    conn.execute("CREATE INDEX IF NOT EXISTS inbound_mid_bi ON inbound(mid_bi)")
    conn.execute("CREATE INDEX IF NOT EXISTS messages_mid_bi ON messages(mid_bi)")
    conn.execute("CREATE TABLE IF NOT EXISTS case_keys (case_number INTEGER PRIMARY KEY,"
                 " key_id BLOB NOT NULL)")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2, _v3, _v4, _v5, _v6,
                                                                 _v7, _v8, _v9, _v10, _v11,
                                                                 _v12, _v13, _v14, _v15, _v16,
                                                                 _v17)
LATEST = len(MIGRATIONS)


def version_of(conn: sqlite3.Connection) -> int:
    """The schema version written in the database (0: a new, empty database)."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
                            ).fetchone()
    if not has_meta:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'"
                              ).fetchone()[0]
        if tables:
            raise SchemaError("this is not a cocmail database (it has tables but no meta)")
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    try:
        return int(row[0]) if row else 0
    except ValueError:
        raise SchemaError(f"unreadable schema version {row[0]!r}") from None


def refuse_newer(version: int, where: object) -> None:
    if version > LATEST:
        raise SchemaError(f"{where} was written by a newer cocmail (schema {version}; this "
                          f"version knows up to {LATEST}): upgrade cocmail, do not downgrade")


def pending(version: int) -> range:
    """The migration versions still to apply to a database at `version`."""
    return range(version + 1, LATEST + 1)


def apply(conn: sqlite3.Connection, version: int) -> None:
    """Run migration `version` inside the caller's transaction and record it."""
    MIGRATIONS[version - 1](conn)
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
