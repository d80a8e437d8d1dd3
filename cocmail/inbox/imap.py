"""IMAP IDLE watcher: fetch new mail, hand it to the store, never change the server.

Why it is built this way:

* Nothing is acknowledged on the server. The folder is opened read-only and bodies are
  fetched with `BODY.PEEK[]`, so no message is flagged `\\Seen`, moved or deleted. The
  only record of progress is what the store holds: `last_uid(folder, uidvalidity)`.
  `accept(batch)` returns only once the batch is durable; if it raises, the same UIDs
  are fetched again later (the store de-duplicates by key, Message-ID and hash).
* A new UIDVALIDITY means the server renumbered the folder; `last_uid` then answers 0
  and the whole folder is offered again. De-duplication is the store's job.
* imapclient cannot always tell a dead connection from a quiet one: on EOF `idle_check`
  returns `[]` at once, forever. An empty answer that comes back well before its timeout
  is therefore treated as a sign of trouble and checked at once, and every
  `keepalive_seconds` the watcher leaves IDLE and talks to the server anyway, which
  also catches half-open links (no EOF ever arrives) through the socket timeout.
* Every (re)connect catches up before it IDLEs, so mail that arrived while the watcher
  was away is fetched. Failures back off exponentially with jitter, capped, so a daemon
  neither hammers a server that is coming back nor waits long once it is back.
"""

from __future__ import annotations

import imaplib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from ..config import ImapConfig
from ..core.errors import OperationalError
from ..errors import as_operational
from ..oauth import TokenError, TokenSource
from ..tls import client_context, hint

IDLE_POLL_SECONDS = 0.5  # how long one idle_check may block: bounds how late `stop` is seen
FIRST_BACKOFF_SECONDS = 1.0  # delay after the first failure; doubles up to max_backoff
DEFAULT_IO_TIMEOUT = 30.0  # connect and read timeout of every IMAP command
CLOSE_TIMEOUT = 2.0  # a polite LOGOUT must not hold up shutdown on a dead link
POLL_SECONDS = 10.0  # without IDLE, look for new mail at least this often

# Everything a server or the network can throw at us: socket and TLS errors (OSError),
# IMAP NO/BAD answers, protocol violations, aborts and refused logins (IMAP4.error).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, imaplib.IMAP4.error)


@dataclass(frozen=True)
class Fetched:
    """One message as fetched, with the key that makes it idempotent in the store."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes


class AcceptError(OperationalError):
    """`accept` raised: the batch is not durable, so progress must not move past it."""


class ImapWatcher:
    """Watches one folder with IDLE and passes every new message to `accept`, in UID order.

    `last_uid` and `accept` are called from the thread that runs `catch_up`/`run`.
    `connected` is set while the watcher sits in IDLE (tests and health checks wait on
    it) and cleared as soon as the connection is dropped.
    """

    def __init__(self, cfg: ImapConfig, password: str | None, *,
                 last_uid: Callable[[str, int], int],
                 accept: Callable[[list[Fetched]], None],
                 stop: threading.Event,
                 log: logging.Logger | None = None,
                 keepalive_seconds: float = 60.0,
                 max_backoff: float = 60.0,
                 io_timeout: float = DEFAULT_IO_TIMEOUT,
                 tokens: TokenSource | None = None):
        """`tokens`: log in with OAuth2 (XOAUTH2, else OAUTHBEARER) instead of `password`."""
        self.cfg = cfg
        self._password = password
        self._tokens = tokens
        self._last_uid = last_uid
        self._accept = accept
        self._stop = stop
        self.log = log or logging.getLogger("cocmail.imap")
        self.keepalive_seconds = keepalive_seconds
        self.max_backoff = max_backoff
        self.io_timeout = io_timeout
        self.connected = threading.Event()
        self.connections = 0  # successful logins so far; a reconnect makes it grow
        self._client: IMAPClient | None = None
        self._idling = False
        self._random = random.Random()

    @property
    def where(self) -> str:
        return f"{self.cfg.username}@{self.cfg.host}:{self.cfg.port}/{self.cfg.folder}"

    # ------------------------------------------------------------ catching up
    def catch_up(self) -> int:
        """Fetch everything above the store's last UID; returns how many were accepted.

        Connects if needed. Stops between batches when `stop` is set. Raises
        `AcceptError` if `accept` fails, and connection errors as they come.
        """
        client = self._ensure_client()
        info = client.select_folder(self.cfg.folder, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        after = self._last_uid(self.cfg.folder, uidvalidity)
        uids = _uids_above(client, after)
        accepted = 0
        for uids_batch in _chunks(uids, self.cfg.batch_size):
            if self._stop.is_set():
                break
            batch = self._fetch(client, uidvalidity, uids_batch)
            if batch:
                self._hand_over(batch)
            accepted += len(batch)
        if accepted:
            self.log.info("fetched %d new message(s) from %s", accepted, self.cfg.folder)
        return accepted

    def _fetch(self, client: IMAPClient, uidvalidity: int, uids: list[int]) -> list[Fetched]:
        """Bodies via BODY.PEEK[] (never sets \\Seen); UIDs expunged meanwhile are skipped."""
        data = client.fetch(uids, [b"BODY.PEEK[]"])
        batch = []
        for uid in uids:
            raw = data.get(uid, {}).get(b"BODY[]")
            if raw is not None:
                batch.append(Fetched(self.cfg.folder, uidvalidity, uid, bytes(raw)))
        return batch

    def _hand_over(self, batch: list[Fetched]) -> None:
        try:
            self._accept(batch)
        except Exception as e:  # noqa: BLE001 - whatever the store raised, progress stops here
            operational = as_operational(e)  # a full disk, a locked database: one line
            raise AcceptError(f"storing UIDs {batch[0].uid}-{batch[-1].uid} of "
                              f"{self.cfg.folder} failed: {operational or repr(e)}") from e

    # ------------------------------------------------------------ watching
    def run(self) -> None:
        """Catch up and IDLE until `stop` is set, reconnecting after any failure."""
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    self.catch_up()
                    if failures:
                        self.log.info("IMAP %s is back after %d failed attempt(s)",
                                      self.where, failures)
                    failures = 0
                    if self._ensure_client().has_capability("IDLE"):
                        self._idle_until_stopped()
                    else:
                        self._poll_until_stopped()
                    continue
                except AcceptError as e:
                    self.log.error("%s; the same messages will be fetched again", e,
                                   exc_info=None if as_operational(e.__cause__ or e)
                                   else e.__cause__)
                except LoginError as e:
                    if self._tokens is not None:
                        self.log.error("IMAP OAuth2 login to %s refused, also with a freshly "
                                       "fetched token: %s", self.where,
                                       self._tokens.redact(_text(e)))
                    else:
                        self.log.error("IMAP login to %s refused: %s", self.where, _text(e))
                except TokenError as e:
                    self.log.error("IMAP login to %s: no OAuth2 token: %s", self.where, e)
                except CONNECTION_ERRORS as e:
                    self.log.warning("IMAP connection to %s failed: %s", self.where,
                                     _text(e) + _hint(self.cfg, e))
                except Exception:  # noqa: BLE001 - the watcher thread must never die
                    self.log.exception("unexpected error while watching %s", self.where)
                self._drop()
                failures += 1
                delay = backoff_delay(failures, self.max_backoff, self._random)
                if not self._stop.is_set():
                    self.log.info("reconnecting to %s in %.1fs (attempt %d)",
                                  self.where, delay, failures + 1)
                self._stop.wait(delay)
        finally:
            self.close()

    def _idle_until_stopped(self) -> None:
        """IDLE; leave it to catch up on new mail, on a suspected dead link, or on timers."""
        client = self._ensure_client()
        self._enter_idle(client)
        since_check = time.monotonic()
        check_every = min(self.keepalive_seconds, float(self.cfg.idle_seconds))
        while not self._stop.is_set():
            started = time.monotonic()
            responses = client.idle_check(timeout=IDLE_POLL_SECONDS)
            now = time.monotonic()
            _raise_on_bye(responses)
            # [] long before the timeout: the socket was readable but gave no line, which
            # is what EOF looks like through idle_check. Talking to the server tells.
            suspicious = not responses and now - started < IDLE_POLL_SECONDS / 2
            if _worth_a_look(responses) or suspicious or now - since_check >= check_every:
                self._leave_idle(client)
                self.catch_up()
                self._enter_idle(client)
                since_check = time.monotonic()
        self._leave_idle(client)

    def _poll_until_stopped(self) -> None:
        """For the rare server without IDLE: catch up every few seconds instead."""
        self.connected.set()
        every = min(self.keepalive_seconds, POLL_SECONDS)
        while not self._stop.wait(every):
            self.catch_up()

    def _enter_idle(self, client: IMAPClient) -> None:
        client.idle()
        self._idling = True
        self.connected.set()

    def _leave_idle(self, client: IMAPClient) -> None:
        self._idling = False
        client.idle_done()

    # ------------------------------------------------------------ connection
    def _ensure_client(self) -> IMAPClient:
        if self._client is None:
            self._client = self._connect()
            self.connections += 1
            self.log.info("logged in to %s", self.where)
        return self._client

    def _connect(self) -> IMAPClient:
        """A logged-in client. A refused cached OAuth2 token is replaced by a fresh one
        (a server may revoke a token before its expiry); a refused fresh one is raised,
        for `run` to report and back off from."""
        while True:
            client = self._open()
            token, fresh = None, False
            try:
                if self._tokens is None:
                    client.login(self.cfg.username, self._password or "")
                else:
                    token, fresh = self._tokens.get()
                    oauth2_login(client, self.cfg.username, token)
                return client
            except LoginError:
                _shut(client)
                if token is None:
                    raise
                assert self._tokens is not None
                self._tokens.invalidate(token)
                if fresh:
                    raise
                self.log.info("IMAP server %s refused the OAuth2 token; fetching a new one",
                              self.where)
            except BaseException:
                _shut(client)
                raise

    def _open(self) -> IMAPClient:
        cfg = self.cfg
        context = client_context(cfg.ca_file) if cfg.security != "none" else None
        client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.security == "ssl",
                            ssl_context=context, timeout=self.io_timeout)
        try:
            if cfg.security == "starttls":
                client.starttls(context)
        except BaseException:
            _shut(client)
            raise
        return client

    def _drop(self) -> None:
        """Forget a connection that failed, without talking to the server again."""
        self.connected.clear()
        self._idling = False
        client, self._client = self._client, None
        if client is not None:
            _shut(client)

    def close(self) -> None:
        """Leave IDLE and log out politely if the link allows it; never raises."""
        self.connected.clear()
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.socket().settimeout(CLOSE_TIMEOUT)
            if self._idling:
                self._idling = False
                client.idle_done()
            client.logout()
        except Exception:  # noqa: BLE001 - the link may already be gone; that is fine
            _shut(client)


# ---------------------------------------------------------------- helpers

def backoff_delay(failures: int, max_backoff: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after `failures` failures in a row (1 or more).

    Doubles from FIRST_BACKOFF_SECONDS, capped at `max_backoff`, then scaled by a random
    factor in [0.5, 1] so that daemons cut off together do not all come back together.
    """
    ceiling = min(max_backoff, FIRST_BACKOFF_SECONDS * 2.0 ** min(max(failures, 1) - 1, 30))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def oauth2_login(client: IMAPClient, user: str, token: str) -> None:
    """XOAUTH2 (Gmail, Exchange Online) where offered, else OAUTHBEARER (RFC 7628).

    Raises LoginError when the server refuses, or offers neither mechanism.
    """
    if client.has_capability("AUTH=XOAUTH2"):
        client.oauth2_login(user, token)
    elif client.has_capability("AUTH=OAUTHBEARER"):
        client.oauthbearer_login(user, token)
    else:
        raise LoginError("the server offers neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER: "
                         'it does not take OAuth2 tokens (use auth = "password")')


def _uids_above(client: IMAPClient, after: int) -> list[int]:
    """UIDs greater than `after`, ascending.

    `UID n:*` always matches the highest UID, even when it is below n, so the answer
    must be filtered or the last message would be offered on every pass.
    """
    found = client.search(["UID", f"{after + 1}:*"])
    return sorted(uid for uid in found if uid > after)


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _worth_a_look(responses: list[tuple]) -> bool:
    """Anything but a plain `* OK` (Dovecot's "Still here") may mean news: EXISTS for new
    mail, or `* NO` when the selected folder was deleted (and perhaps recreated with a new
    UIDVALIDITY), after which the server says nothing more until the folder is selected
    again. A catch-up costs a SELECT and a SEARCH, so when in doubt, look."""
    return any(not (r and r[0] == b"OK") for r in responses)


def _raise_on_bye(responses: list[tuple]) -> None:
    for r in responses:
        if r and r[0] == b"BYE":
            said = b" ".join(x for x in r[1:] if isinstance(x, bytes)).decode("ascii", "replace")
            raise imaplib.IMAP4.abort(f"server said BYE: {said}")


def _text(e: BaseException) -> str:
    """An exception as one readable line; imapclient often wraps server text in b'...'."""
    s = str(e) or type(e).__name__
    if s.startswith(("b'", 'b"')) and s.endswith(("'", '"')):
        s = s[2:-1]
    return s


def _shut(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - closing a broken socket may fail; nothing to do
        pass


def _hint(cfg: ImapConfig, error: BaseException) -> str:
    h = hint(cfg.security, cfg.port, error)
    return f" ({h})" if h else ""
