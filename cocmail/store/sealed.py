"""Which columns are sealed, and the store's side of sealing (issue 27; keyring.py has
the crypto and the keys).

A store whose connection carries a keyring (`SealedConnection.keyring`, set by Store)
writes every column of SEALED encrypted under the key of the row's case (`case_key`),
or under a key of the row's own when it has no case yet; a read unseals every value on
the way out (the connection's row factory), so the families' functions and their
callers see plain values. Without a keyring (`[storage] encryption = false`, or a
plain Store in a test), the same functions read and write plaintext.

Look-ups by equality go through blind-index columns (`email_bi`, `name_bi`, `mid_bi`,
`mailbox`, the inbound hashes), filled by `blind` in either mode.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, Protocol

# Every column that holds personal data or what people wrote. Staff addresses that
# say nothing of a case (handlers, received_by, staff_ids) and the words of the procedure (status,
# outcome, kinds, roles, event names) stay plain: the SQL that selects cases reads them.
SEALED: dict[str, tuple[str, ...]] = {
    "cases": ("subject", "when_text", "where_text", "summary", "action", "others",
              "report_text", "root_message_id", "accused_side", "forged_sender", "response",
              "public_summary",
              # Members a case names or excluded: who a report is about, often.
              "named", "recused", "included"),
    "people": ("name", "email", "norm_name"),
    "messages": ("sender", "recipients", "subject", "message_id", "body"),
    "inbound": ("raw", "subject", "sender", "message_id", "error"),
    "outbox": ("recipients", "subject", "raw", "last_error"),
    "audit": ("actor", "detail", "message_id"),
    "held": ("staff_email", "commands", "body"),
    "proposals": ("target", "mails", "facts", "reason"),
}
# A sealed value: MAGIC, a type byte (s: text, b: bytes), the key id, the nonce, then
# the ciphertext with GCM's tag (keyring.py seals and unseals).
MAGIC = b"\x00CS"
MAGIC_SQL = "x'004353'"  # MAGIC as an SQL blob literal
KEY_ID_BYTES = 16
HEADER = len(MAGIC) + 1 + KEY_ID_BYTES
SMALLEST = HEADER + 12 + 16  # and a nonce, and GCM's tag
# What a blind index is of, so an address and a name never share an index value.
EMAIL, NAME, MID, MAILBOX, HASH = "email", "name", "message-id", "mailbox", "hash"


class Sealer(Protocol):
    store_id: str

    def shredded(self) -> int: ...
    def key_ids(self) -> set[bytes]: ...
    def has_key(self, kid: bytes) -> bool: ...
    keys_path: Any
    def new_key_id(self) -> bytes: ...
    def seal(self, kid: bytes, v: str | bytes) -> bytes: ...
    def unseal(self, v: bytes) -> str | bytes | None: ...
    def blind(self, purpose: str, text: str) -> str: ...
    def destroy(self, key_ids: Iterable[bytes]) -> int: ...
    def close(self) -> None: ...


class SealedConnection(sqlite3.Connection):
    """A connection that may carry a keyring (None: plaintext)."""

    keyring: Sealer | None = None


def is_sealed(v: object) -> bool:
    return isinstance(v, bytes) and v[:3] == MAGIC and len(v) >= SMALLEST


def key_id_of(v: bytes) -> bytes:
    return v[4:HEADER]


def keyring_of(conn: sqlite3.Connection) -> Sealer | None:
    return getattr(conn, "keyring", None)


def unsealing_rows(keyring: Sealer) -> Callable[[sqlite3.Cursor, tuple], tuple]:
    """The row factory that unseals every sealed value of every row read."""
    def factory(_cursor: sqlite3.Cursor, row: tuple) -> tuple:
        if not any(type(v) is bytes for v in row):
            return row
        return tuple(keyring.unseal(v) if is_sealed(v) else v for v in row)
    return factory


def case_key(conn: sqlite3.Connection, number: int) -> bytes | None:
    """The data key of case `number` (made at its first write); None: plaintext."""
    keyring = keyring_of(conn)
    if keyring is None:
        return None
    row = conn.execute("SELECT key_id FROM case_keys WHERE case_number=?", (number,)
                       ).fetchone()
    if row is not None:
        return bytes(row[0])
    kid = keyring.new_key_id()
    conn.execute("INSERT INTO case_keys(case_number, key_id) VALUES (?,?)", (number, kid))
    return kid


def row_key(conn: sqlite3.Connection, case_number: int | None) -> bytes | None:
    """The key a row is sealed with: its case's, or one of its own (mail before its case)."""
    keyring = keyring_of(conn)
    if keyring is None:
        return None
    return case_key(conn, case_number) if case_number is not None else keyring.new_key_id()


def seal(conn: sqlite3.Connection, kid: bytes | None, v: Any) -> Any:
    """`v` sealed under `kid` (as it is without a keyring, or when it is None)."""
    keyring = keyring_of(conn)
    if keyring is None or kid is None or v is None:
        return v
    return keyring.seal(kid, v)


def blind(conn: sqlite3.Connection, purpose: str, text: str | None) -> str | None:
    """The blind index of `text` (already normalised by the caller); the text itself
    without a keyring."""
    keyring = keyring_of(conn)
    if text is None or keyring is None:
        return text
    return keyring.blind(purpose, text)


# ------------------------------------------------------------ purging
def case_key_ids(conn: sqlite3.Connection, number: int, inbound_mids: list[str]) -> set[bytes]:
    """Every key that sealed something of case `number`: its own, and the keys of its
    mail stored before it had a case (and of their duplicate copies, by `inbound_mids`,
    their Message-IDs' blind indexes). Destroying them shreds the case in every copy."""
    ids: set[bytes] = set()
    row = conn.execute("SELECT key_id FROM case_keys WHERE case_number=?", (number,)
                       ).fetchone()
    if row is not None:
        ids.add(bytes(row[0]))
    for table, columns in SEALED.items():
        where = "number=?" if table == "cases" else "case_number=?"
        for column in columns:
            ids |= _key_ids(conn, table, column, where, (number,))
    for mid in inbound_mids:
        ids |= _key_ids(conn, "inbound", "raw", "case_number IS NULL AND mid_bi=?", (mid,))
    return ids


def _key_ids(conn: sqlite3.Connection, table: str, column: str, where: str,
             params: tuple[Any, ...]) -> set[bytes]:
    return {bytes(r[0]) for r in conn.execute(
        f"SELECT DISTINCT substr({column}, 5, 16) FROM {table} WHERE {where}"
        f" AND substr({column}, 1, 3)={MAGIC_SQL}", params)}


def forget_case_key(conn: sqlite3.Connection, number: int) -> None:
    conn.execute("DELETE FROM case_keys WHERE case_number=?", (number,))


def destroy_keys(conn: sqlite3.Connection, ids: set[bytes]) -> None:
    """Destroy these keys now, before the rows they sealed are emptied: should the
    emptying fail, what stays behind can no longer be read, as the purge intended."""
    keyring = keyring_of(conn)
    if keyring is not None and ids:
        keyring.destroy(ids)


def shred_rows(conn: sqlite3.Connection, table: str, ids: list[int], emptied: str) -> None:
    """Empty these rows of `table` (`emptied`: the SET clause), the keys that sealed
    anything in them destroyed first."""
    for start in range(0, len(ids), 500):
        chunk = tuple(ids[start:start + 500])
        where = f"id IN ({','.join('?' * len(chunk))})"
        destroy_keys(conn, row_key_ids(conn, table, where, chunk))
        conn.execute(f"UPDATE {table} SET {emptied} WHERE {where}", chunk)


def row_key_ids(conn: sqlite3.Connection, table: str, where: str, params: tuple[Any, ...]
                ) -> set[bytes]:
    """The keys that sealed anything in `table`'s rows matching `where`."""
    ids: set[bytes] = set()
    for column in SEALED[table]:
        ids |= _key_ids(conn, table, column, where, params)
    return ids


def inbound_key(conn: sqlite3.Connection, inbound_id: int, case_number: int | None
                ) -> bytes | None:
    """The key for what is recorded of an inbound mail: its case's once it has one,
    else the key its raw text was sealed with (one key per mail before its case)."""
    if keyring_of(conn) is None:
        return None
    if case_number is not None:
        return case_key(conn, case_number)
    return stored_key(conn, "inbound", inbound_id) or row_key(conn, None)


def stored_key(conn: sqlite3.Connection, table: str, row_id: int) -> bytes | None:
    """The key a row's mail (`raw`, inbound or outbox) was sealed with; None: not sealed."""
    row = conn.execute(f"SELECT substr(raw, 5, 16) FROM {table} WHERE id=? AND"
                       f" substr(raw, 1, 3)={MAGIC_SQL}", (row_id,)).fetchone()
    return bytes(row[0]) if row is not None else None


def shredded_seen(conn: sqlite3.Connection) -> int:
    """The key store's shredding count when this database last looked (see keystore)."""
    row = conn.execute("SELECT value FROM meta WHERE key='shredded_seen'").fetchone()
    return int(row[0]) if row else 0


def accept_lost_keys(conn: sqlite3.Connection) -> None:
    """Make the next opening expunge whatever lost its key (`cocmail keys accept-loss`):
    the database is marked as having seen fewer shreddings than any key store has."""
    set_shredded_seen(conn, -1)


def set_shredded_seen(conn: sqlite3.Connection, mark: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('shredded_seen', ?)", (str(mark),))


def newest_case_key(conn: sqlite3.Connection) -> bytes | None:
    """The key of the newest live case: missing from the key store, the keys are older
    than the data (a key backup restored with a newer data backup)."""
    row = conn.execute("SELECT k.key_id FROM case_keys k JOIN cases c ON"
                       " c.number=k.case_number WHERE c.purged IS NULL"
                       " ORDER BY k.case_number DESC LIMIT 1").fetchone()
    return bytes(row[0]) if row else None


def rows_without_keys(conn: sqlite3.Connection, table: str, have: set[bytes]) -> list[int]:
    """Ids of `table`'s rows (inbound, outbox) whose mail is sealed under a key that is
    gone: a purge destroyed it after the backup this database was restored from."""
    return [int(r[0]) for r in conn.execute(
        f"SELECT id, substr(raw, 5, 16) FROM {table} WHERE substr(raw, 1, 3)={MAGIC_SQL}"
        ).fetchall() if bytes(r[1]) not in have]


def newest_mail_key(conn: sqlite3.Connection, table: str) -> bytes | None:
    """The key of `table`'s newest sealed mail (see newest_case_key)."""
    row = conn.execute(f"SELECT substr(raw, 5, 16) FROM {table} WHERE"
                       f" substr(raw, 1, 3)={MAGIC_SQL} ORDER BY id DESC LIMIT 1").fetchone()
    return bytes(row[0]) if row else None


def cases_without_keys(conn: sqlite3.Connection, have: set[bytes]) -> list[int]:
    """Live cases whose key is no longer in the key store: purged after the backup this
    database was restored from. They are expunged, never shown half-readable."""
    return [int(r[0]) for r in conn.execute(
        "SELECT k.case_number, k.key_id FROM case_keys k JOIN cases c"
        " ON c.number=k.case_number WHERE c.purged IS NULL").fetchall()
        if bytes(r[1]) not in have]


# ------------------------------------------------------------ the state of the store
def sealed_with(conn: sqlite3.Connection) -> str | None:
    """The id of the key store the database is sealed with (None: not sealed)."""
    row = conn.execute("SELECT value FROM meta WHERE key='sealed_with'").fetchone()
    return row[0] if row else None


def plaintext_values(conn: sqlite3.Connection) -> int:
    """How many values in sealed columns are not sealed (0: the store is sealed)."""
    total = 0
    for table, columns in SEALED.items():
        for column in columns:
            total += int(conn.execute(
                f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND"
                f" {column} NOT IN ('', '[]', '(expunged)') AND (typeof({column})<>'blob' OR"
                f" substr({column}, 1, 3)<>{MAGIC_SQL})").fetchone()[0])
    return total


def seal_everything(conn: sqlite3.Connection, store_id: str) -> int:
    """Seal every plaintext value and recompute every blind index (the migration to a
    sealed store, and `[storage] encryption` turned on later); idempotent. Returns how
    many values it sealed."""
    keyring = keyring_of(conn)
    assert keyring is not None
    # What a purge by an older cocmail left of its cases (it kept a few columns): gone,
    # not sealed under a key that would outlive the purge.
    lists = ("named", "recused", "included")
    conn.execute("UPDATE cases SET " + ", ".join(
        f"{c}='[]'" if c in lists else f"{c}=NULL" for c in SEALED["cases"])
        + " WHERE purged IS NOT NULL")
    sealed = 0
    plain = conn.cursor()
    plain.row_factory = None  # the values as stored
    for table, columns in SEALED.items():
        case_col = "number" if table == "cases" else "case_number"
        found = plain.execute(f"SELECT rowid, {case_col}, {', '.join(columns)} FROM {table}"
                              ).fetchall()
        for rowid, number, *values in found:
            if all(v is None or is_sealed(v) for v in values):
                continue
            kid = row_key(conn, number)
            new = [v if v is None or is_sealed(v) else seal(conn, kid, v) for v in values]
            sealed += sum(1 for a, b in zip(values, new, strict=True) if a is not b)
            sets = ", ".join(f"{c}=?" for c in columns)
            conn.execute(f"UPDATE {table} SET {sets} WHERE rowid=?", (*new, rowid))
    # The blind indexes, from the values (unsealed by the row factory).
    for pid, role, email, norm in conn.execute(
            "SELECT id, role, email, norm_name FROM people").fetchall():
        accused = role == "accused"  # the only look-ups by person (cases._indexes)
        conn.execute("UPDATE people SET email_bi=?, name_bi=? WHERE id=?",
                     (blind(conn, EMAIL, email.lower()) if accused and email else None,
                      blind(conn, NAME, norm) if accused and norm else None, pid))
    for table in ("inbound", "messages"):
        for rid, mid in conn.execute(f"SELECT id, message_id FROM {table}").fetchall():
            conn.execute(f"UPDATE {table} SET mid_bi=? WHERE id=?",
                         (blind(conn, MID, mid), rid))
    for rid, raw_sha, body_sha in plain.execute(
            "SELECT id, raw_sha256, body_sha256 FROM inbound").fetchall():
        if not str(raw_sha).startswith("bi:"):
            conn.execute("UPDATE inbound SET raw_sha256=?, body_sha256=? WHERE id=?",
                         (blind(conn, HASH, raw_sha), blind(conn, HASH, body_sha), rid))
    for rid, mailbox in plain.execute("SELECT id, mailbox FROM outbox").fetchall():
        if mailbox and not mailbox.startswith("bi:"):
            conn.execute("UPDATE outbox SET mailbox=? WHERE id=?",
                         (blind(conn, MAILBOX, mailbox), rid))
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('sealed_with', ?)", (store_id,))
    return sealed


