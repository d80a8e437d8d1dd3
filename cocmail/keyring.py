"""Sealed records' keys (issue 27; docs/architecture.md, "Sealed records").

Every field that holds personal data is encrypted with AES-256-GCM (the `cryptography`
package) under a data key of its own case; mail not yet on a case gets a key of its own,
which its case adopts (a purge destroys both). The data keys are wrapped by a
key-encryption key (KEK) and kept in the key store `cocmail.keys`, a file apart from the
database, so a copy of the database alone (a backup, a `before-v<N>` copy, a stolen
disk image of it) reads as noise, and destroying a case's key destroys every copy of
its text at once: crypto-shredding. Look-ups that need equality (an address, a name, a
Message-ID) go through keyed blind indexes, an HMAC-SHA256 under a key of their own.

This module is the shell's half: the random keys and nonces, the key files. The store's
half (which columns are sealed, the blob format's place in SQL) is store/sealed.py; the
key store's SQL is store/keystore.py.

Files, in the storage dir, mode 0600:
- `cocmail.keys`: the wrapped data keys and the wrapped index key;
- `cocmail.kek`: the key-encryption key (one line: its id and the key in hex; two lines
  for a moment during `cocmail keys rotate`).
"""

from __future__ import annotations

import hmac
import os
import secrets
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .config_sections import StorageConfig
from .errors import UserError
from .secret_file import create_private, replace_private
from .store import keystore
from .store.connection import sealed_database
from .store.sealed import HEADER, MAGIC, is_sealed, key_id_of

KEY_BYTES = 32           # AES-256
NONCE_BYTES = 12         # AES-GCM's standard nonce
KEY_ID_BYTES = 16
POOL = 32                # at most this many data keys made (made durable) in one write
CIPHERS_KEPT = 256       # ciphers of recently used keys kept ready (see Keyring)
INDEX_KEY_ID = b"blind-index-key!"  # 16 bytes, like every key id
# The format is store/sealed.py's (MAGIC, type, key id, nonce, ciphertext and tag); its
# first 20 bytes are authenticated as associated data, so a value cannot be moved
# under another key id or type unnoticed.
TEXT, BYTES = b"s", b"b"


class KeyStoreError(UserError):
    """The key store or the key-encryption key is missing, damaged or not this
    database's: cocmail refuses to start rather than write new data beside old data it
    cannot read."""


def _aesgcm(key: bytes):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # only once sealing

    return AESGCM(key)


def read_kek_file(path: Path) -> dict[str, bytes]:
    """The KEKs in `path` by id (two during a rotation); {} when there is no file."""
    if not path.exists():
        return {}
    keks: dict[str, bytes] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            kid, hexkey = line.split()
            key = bytes.fromhex(hexkey)
        except ValueError:
            raise KeyStoreError(f"{path}, line {n}: not a key-encryption key (damaged?);"
                                " restore it from where you keep it") from None
        if len(key) != KEY_BYTES:
            raise KeyStoreError(f"{path}, line {n}: the key is not {KEY_BYTES} bytes")
        keks[kid] = key
    return keks


def _kek_text(keks: dict[str, bytes]) -> bytes:
    return "".join(f"{kid} {key.hex()}\n" for kid, key in keks.items()).encode()


class Keyring:
    """The open key store of one storage dir: seals and unseals values, makes data
    keys, computes blind indexes, destroys keys. Thread-safe (the daemon's threads)."""

    def __init__(self, keys_path: Path, kek_path: Path, conn: sqlite3.Connection,
                 keks: dict[str, bytes], current: str):
        self.keys_path, self.kek_path, self.conn = keys_path, kek_path, conn
        self.keks, self.current = keks, current
        self.store_id: str = keystore.store_id(conn) or ""
        self.lock = threading.RLock()
        # The ciphers of the keys used lately (each holds an OpenSSL context, ~3 KB: a
        # backlog of thousands of cases must not keep one per case), and the keys made
        # but not yet handed out.
        self._ciphers: OrderedDict[bytes, object] = OrderedDict()
        self._fresh: dict[bytes, bytes] = {}
        self._pool: list[bytes] = []
        # Keys made at the next refill: 2 first (an `ingest` run needs two: its mail's and
        # its case's), doubling up to POOL for a daemon, so short runs leave few spares.
        self._batch = 2
        self._index_key = self._unwrap(INDEX_KEY_ID)
        if self._index_key is None:
            raise KeyStoreError(f"{keys_path} has no index key: it is damaged; restore it"
                                " from your key backup")

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, storage_dir: Path, *, must_exist: bool) -> Keyring:
        """The storage dir's key store; made new (with a new KEK) unless `must_exist`
        (the database already holds sealed data), when a missing one is refused."""
        keys_path, kek_path = storage_dir / "cocmail.keys", storage_dir / "cocmail.kek"
        if not keys_path.exists():
            if must_exist:
                raise KeyStoreError(_lost(keys_path))
            return cls._create(keys_path, kek_path)
        conn = keystore.connect(keys_path)
        if keystore.store_id(conn) is None:  # another process is making it right now
            conn.close()
            if must_exist:
                raise KeyStoreError(f"{keys_path} is empty: restore it from your key backup")
            return cls._create(keys_path, kek_path)
        on_file = read_kek_file(kek_path)
        keks = {**keystore.embedded_keks(conn), **on_file}
        needed = keystore.kek_ids(conn)
        if not needed or needed - set(keks):
            conn.close()
            raise KeyStoreError(_lost_kek(keys_path, kek_path))
        # New keys go under the KEK file's first key; a restored key backup without the
        # file keeps using the KEK it carries (until `keys rotate` writes a new file).
        current = next(iter(on_file), None) or min(needed)
        return cls(keys_path, kek_path, conn, keks, current)

    @classmethod
    def _create(cls, keys_path: Path, kek_path: Path) -> Keyring:
        keks = read_kek_file(kek_path)
        if not keks:
            create_private(kek_path, _kek_text({secrets.token_hex(8): os.urandom(KEY_BYTES)}))
            keks = read_kek_file(kek_path)  # another process may have won: theirs is it
        current = next(iter(keks))
        conn = keystore.connect(keys_path)
        keystore.initialise(conn, secrets.token_hex(16),
                            (INDEX_KEY_ID, current,
                             _wrap(keks[current], INDEX_KEY_ID, os.urandom(KEY_BYTES))))
        return cls(keys_path, kek_path, conn, keks, current)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ------------------------------------------------------------ keys
    def new_key_id(self) -> bytes:
        """A fresh data key's id. Keys are made a batch at a time and written (durably)
        to the key store before any is handed out, so a value is never sealed under a key
        that is not on disk, and a daemon's report costs no key-store write of its own. The KEK
        file is read under the key store's write lock: a `keys rotate` in another
        process either re-wraps these keys or has already named its new KEK."""
        with self.lock:
            if not self.keys_path.exists():  # deleted under a running daemon: refuse, as
                raise KeyStoreError(_lost(self.keys_path))  # a start without it would
            if not self._pool:
                made = [(os.urandom(KEY_ID_BYTES), os.urandom(KEY_BYTES))
                        for _ in range(self._batch)]
                self._batch = min(self._batch * 2, POOL)
                with keystore.write_lock(self.conn):
                    self._reload_keks()
                    kek = self.keks[self.current]
                    keystore.add_keys(self.conn, [(kid, self.current, _wrap(kek, kid, key))
                                                  for kid, key in made])
                self._fresh.update(made)
                self._pool = [kid for kid, _ in made]
            return self._pool.pop()

    def _reload_keks(self) -> None:
        """The KEKs as the file has them now (the first is the current one)."""
        on_file = read_kek_file(self.kek_path)
        if on_file:
            self.keks = {**keystore.embedded_keks(self.conn), **on_file}
            self.current = next(iter(on_file))

    def _unwrap(self, kid: bytes) -> bytes | None:
        found = keystore.wrapped_key(self.conn, kid)
        if found is None:
            return None
        kek_id, wrapped = found
        if kek_id not in self.keks:
            self._reload_keks()  # rotated by another process since this one started
        return self._open_wrapped(kid, kek_id, wrapped)

    def _open_wrapped(self, kid: bytes, kek_id: str, wrapped: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        kek = self.keks.get(kek_id)
        if kek is None:
            raise KeyStoreError(_lost_kek(self.keys_path, self.kek_path))
        try:
            return _aesgcm(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], kid)
        except InvalidTag:
            raise KeyStoreError(f"{self.kek_path} does not open the keys in {self.keys_path}"
                                " (damaged, or another installation's): restore it, or the"
                                " key backup made with it") from None

    def _cipher(self, kid: bytes):  # type: ignore[no-untyped-def]
        with self.lock:
            cipher = self._ciphers.get(kid)
            if cipher is not None:
                self._ciphers.move_to_end(kid)
                return cipher
            key = self._fresh.pop(kid, None) or self._unwrap(kid)
            if key is None:
                return None  # destroyed: its case was purged
            cipher = self._ciphers[kid] = _aesgcm(key)
            if len(self._ciphers) > CIPHERS_KEPT:
                self._ciphers.popitem(last=False)
            return cipher

    def destroy(self, key_ids: Iterable[bytes]) -> int:
        """Destroy these data keys (a purge): every copy of what they sealed, in any
        file, becomes unreadable once no key backup holds them. Returns how many."""
        ids = [k for k in set(key_ids) if k != INDEX_KEY_ID]
        with self.lock:
            with keystore.write_lock(self.conn):
                gone = keystore.delete_keys(self.conn, ids)
            for k in ids:
                self._ciphers.pop(k, None)
                self._fresh.pop(k, None)
            keystore.checkpoint(self.conn)  # the deleted keys leave the WAL too
        return gone

    def key_count(self) -> int:
        return keystore.key_count(self.conn)

    def shredded(self) -> int:
        with self.lock:
            return keystore.shredded(self.conn)

    def key_ids(self) -> set[bytes]:
        with self.lock:
            return keystore.key_ids(self.conn)

    def has_key(self, kid: bytes) -> bool:
        return self._cipher(kid) is not None

    def rotate(self) -> int:
        """Re-wrap every key under a new KEK and destroy the old one (`cocmail keys
        rotate`). Crash-safe: the KEK file names the new KEK first and keeps the old one
        until every key is re-wrapped. Returns how many keys were re-wrapped."""
        with self.lock, _exclusive(self.keys_path.with_name("cocmail.keys.lock")):
            # One rotation at a time: two would each keep only their own new KEK.
            self._reload_keks()
            new_id, new_key = secrets.token_hex(8), os.urandom(KEY_BYTES)
            both = {new_id: new_key, **self.keks}
            replace_private(self.kek_path, _kek_text(both))
            with keystore.write_lock(self.conn):
                self.keks = {**keystore.embedded_keks(self.conn), **read_kek_file(self.kek_path)}
                rewrapped = []
                for kid, kek_id, wrapped in keystore.all_keys(self.conn):
                    key = self._open_wrapped(kid, kek_id, wrapped)
                    rewrapped.append((kid, new_id, _wrap(new_key, kid, key)))
                keystore.rewrap(self.conn, rewrapped)
                keystore.drop_embedded_keks(self.conn)
            keystore.compact(self.conn)  # the old wrappings leave the file and its WAL
            replace_private(self.kek_path, _kek_text({new_id: new_key}))
            self.keks, self.current = {new_id: new_key}, new_id
            return len(rewrapped)

    def backup_to(self, target: Path) -> None:
        """A copy of the key store at `target` (0600) that carries its KEK with it, so
        one key backup file restores on its own (README, "Keys and backups")."""
        with self.lock:
            for _ in range(3):  # a `keys rotate` elsewhere may change the KEK meanwhile
                self._reload_keks()
                if keystore.backup(self.conn, target, self.keks):
                    return
        raise KeyStoreError("the keys were being rotated during the backup: run it again")

    # ------------------------------------------------------------ values
    def seal(self, kid: bytes, v: str | bytes) -> bytes:
        cipher = self._cipher(kid)
        if cipher is None:
            raise KeyStoreError("a case's key was destroyed while it was being written")
        kind, data = (TEXT, v.encode("utf-8", "surrogatepass")) if isinstance(v, str) \
            else (BYTES, bytes(v))
        header = MAGIC + kind + kid
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + cipher.encrypt(nonce, data, header)

    def unseal(self, v: bytes) -> str | bytes | None:
        """The value sealed in `v`; None when its key was destroyed (a purged case)."""
        cipher = self._cipher(key_id_of(v))
        if cipher is None:
            return None
        data = cipher.decrypt(v[HEADER:HEADER + NONCE_BYTES], v[HEADER + NONCE_BYTES:],
                              v[:HEADER])
        return data.decode("utf-8", "surrogatepass") if v[3:4] == TEXT else data

    def blind(self, purpose: str, text: str) -> str:
        """A keyed blind index of `text` for look-ups by equality: equal inputs give equal
        indexes, and without the index key nobody can tell what they index."""
        assert self._index_key is not None
        mac = hmac.digest(self._index_key,
                          f"{purpose}\0{text}".encode("utf-8", "surrogatepass"), "sha256")
        return "bi:" + mac[:20].hex()


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive lock on `lock_path` (made 0600), held by one process at a time."""
    import fcntl

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _lost(keys_path: Path) -> str:
    return (f"the key store {keys_path} is missing and the database is sealed with it:"
            " restore cocmail.keys from your key backup (README, \"Keys and backups\");"
            " cocmail will not write new data beside records it cannot read")


def _lost_kek(keys_path: Path, kek_path: Path) -> str:
    return (f"the key-encryption key for {keys_path} is missing ({kek_path} does not hold"
            " it): restore cocmail.kek, or the key backup made with it; cocmail will not"
            " write new data beside records it cannot read")


def _wrap(kek: bytes, kid: bytes, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _aesgcm(kek).encrypt(nonce, key, kid)


def inspect_key_store(storage: StorageConfig) -> tuple[str, int]:
    """(the key store's id, how many keys it holds), read-only, after checking that its
    KEK is there; KeyStoreError says what is missing (`cocmail check`)."""
    if not storage.keys_path.exists():
        raise KeyStoreError(_lost(storage.keys_path))
    from cryptography.exceptions import InvalidTag

    conn = keystore.read_only(storage.keys_path)
    try:
        store_id, count = keystore.store_id(conn) or "", keystore.key_count(conn)
        keks = {**keystore.embedded_keks(conn), **read_kek_file(storage.kek_path)}
        missing = keystore.kek_ids(conn) - set(keks)
        index = keystore.wrapped_key(conn, INDEX_KEY_ID)
    finally:
        conn.close()
    if missing:
        raise KeyStoreError(_lost_kek(storage.keys_path, storage.kek_path))
    if index is None:
        raise KeyStoreError(f"{storage.keys_path} is empty or damaged: restore it from your"
                            " key backup")
    try:  # the KEK really opens the keys (a damaged file may keep the right id)
        _aesgcm(keks[index[0]]).decrypt(index[1][:NONCE_BYTES], index[1][NONCE_BYTES:],
                                        INDEX_KEY_ID)
    except InvalidTag:
        raise KeyStoreError(f"{storage.kek_path} does not open the keys in"
                            f" {storage.keys_path} (damaged, or another installation's)"
                            ) from None
    return store_id, count


def keyring_for(storage: StorageConfig) -> Keyring | None:
    """The storage dir's key store as `[storage] encryption` asks: None when it is off
    (refused if the database is sealed already: its records could not be read)."""
    sealed = sealed_database(storage.db_path)
    if not storage.encryption:
        if sealed is not None:
            raise KeyStoreError(f"[storage] encryption = false, but {storage.db_path} is"
                                " sealed: set encryption = true (its records can only be"
                                " read with their keys)")
        return None
    return Keyring.open(storage.dir, must_exist=sealed is not None)


def unsealed(keyring: Keyring | None, data: bytes) -> bytes:
    """A spool file's mail, unsealed with the storage dir's keys (as it is when the
    store is not sealed). Raises KeyStoreError when its key was destroyed (purged)."""
    if keyring is None or not is_sealed(data):
        return data
    mail = keyring.unseal(data)
    if mail is None:
        raise KeyStoreError("this mail's key was destroyed: its case was purged")
    return mail if isinstance(mail, bytes) else mail.encode()
