"""OAuth2 access tokens for IMAP and SMTP: where they come from, how long they are kept.

Why it is built this way:

* One `TokenSource` per [oauth2] section and process (`source_for`), shared by the IMAP
  watcher and the outbox, so a token fetched for one is reused by the other and a
  token helper or identity provider is asked once per lifetime, not once per login.
* Tokens live in memory only. They are never logged, never written to the database,
  and every text that may quote one (a helper's stderr, a server's refusal) goes
  through `redact` first: the known tokens and any long opaque string are cut out.
* A token is refreshed before it expires (`REFRESH_MARGIN`) and, because a server may
  revoke one early, once more when a server refuses it (`invalidate`). A second
  refusal is the caller's to report and back off from: never a tight loop.
* The provider libraries (msal, google-auth) are optional and imported only when a
  token is first needed, so `cocmail --help` and password setups do not pay for them.
"""

from __future__ import annotations

import logging
import os
import smtplib
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from .config import ConfigError, OAuth2Config
from .core.errors import OperationalError, UserError
from .redact import redact_secrets as redact  # the name this module's callers use

log = logging.getLogger("cocmail.oauth2")

REFRESH_MARGIN = 300.0  # seconds before a provider's expiry when a new token is fetched
MIN_LIFETIME = 60.0  # never cache for less, whatever a provider says
STDERR_LINES = 20  # how much of a token helper's stderr reaches the log
# Characters of each such line, and of an endpoint's error: enough to diagnose, while a
# helper that dumps a whole page cannot flood the journal.
LOG_LINE_CHARS = 500
ERROR_LINE_CHARS = 300  # of the last stderr line, in the error `check` and the log show
# Recent tokens kept (in memory only) to redact from messages: a token from a few refreshes
# ago may still sit in a server's error text.
REDACT_TOKENS = 10
PROVIDER_TIMEOUT = 30  # seconds for Microsoft's identity platform to answer
SCOPES = {"microsoft": "https://outlook.office365.com/.default",
          "google": "https://mail.google.com/"}
INSTALL_HINT = "pip install 'cocmail[oauth]'"


class TokenError(UserError):
    """No token could be had; the message says which step failed, in a user's words."""


class TokenSource:
    """Caches one token and decides when to fetch a new one; subclasses say how.

    `clock` is monotonic seconds; tests pass one they control.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self._issued: list[str] = []  # the last REDACT_TOKENS tokens, for redaction

    def token(self) -> str:
        """A token believed valid now: the cached one, or a fresh one."""
        return self.get()[0]

    def get(self) -> tuple[str, bool]:
        """(token, whether it was fetched just now). A login refused with a cached token
        is worth one retry with a fresh one; a refused fresh token is not."""
        with self._lock:
            fresh = self._token is None or self._clock() >= self._expires
            if fresh:
                token, lifetime = self._fetch()
                self._token, self._expires = token, self._clock() + lifetime
                self._issued = [*self._issued[-(REDACT_TOKENS - 1):], token]
            assert self._token is not None
            return self._token, fresh

    def invalidate(self, token: str) -> None:
        """A server refused `token`: the next `token()` fetches a new one."""
        with self._lock:
            if self._token == token:
                self._token = None

    def redact(self, text: str) -> str:
        return redact(text, tuple(self._issued))

    def _fetch(self) -> tuple[str, float]:
        """A new token and how many seconds to use it for."""
        raise NotImplementedError


def _lifetime(expires_in: object) -> float:
    """Seconds to keep a provider's token: its expiry less a margin, at least a minute."""
    try:
        seconds = float(expires_in)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = 3600.0
    return max(MIN_LIFETIME, seconds - REFRESH_MARGIN)


class CommandTokenSource(TokenSource):
    """Runs `token_command` (no shell) and takes the first line of its stdout.

    The command's own lifetime is unknown, so its token is used for `token_lifetime`
    seconds (default 50 minutes: Microsoft and Google tokens live 60 to 90) or until a
    server refuses it.
    """

    def __init__(self, cfg: OAuth2Config, clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self.cfg = cfg

    def _fetch(self) -> tuple[str, float]:
        argv = list(self.cfg.token_command)
        name = Path(argv[0]).name
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=self.cfg.command_timeout, shell=False)
        except subprocess.TimeoutExpired:
            raise TokenError(f"token_command {name} did not finish within "
                             f"{self.cfg.command_timeout:g} s") from None
        except OSError as e:
            raise TokenError(f"token_command {argv[0]} cannot be run: "
                             f"{e.strerror or e}") from None
        out = proc.stdout.decode("utf-8", "replace")
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        token = lines[0] if lines and proc.returncode == 0 else ""
        err = redact(proc.stderr.decode("utf-8", "replace"), (token, *lines))
        err_lines = [line for line in err.splitlines() if line.strip()][-STDERR_LINES:]
        for line in err_lines:
            log.log(logging.WARNING if proc.returncode else logging.INFO,
                    "token_command %s: %s", name, line[:LOG_LINE_CHARS])
        if proc.returncode != 0:
            last = f": {err_lines[-1][:ERROR_LINE_CHARS]}" if err_lines else ""
            raise TokenError(f"token_command {name} exited with code {proc.returncode}{last}")
        if not token:
            raise TokenError(f"token_command {name} printed no token on stdout")
        if any(c.isspace() for c in token):
            raise TokenError(f"token_command {name} printed more than a token on its first "
                             "line (it must print the access token alone)")
        return token, float(self.cfg.token_lifetime)


class MicrosoftTokenSource(TokenSource):
    """Client credentials (an app registration's secret) through msal, for Exchange Online.

    A fresh msal application per fetch: msal's own cache would hand back the very token
    a server just refused, and a fetch happens about once an hour.
    """

    def __init__(self, cfg: OAuth2Config, clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self.cfg = cfg

    def _fetch(self) -> tuple[str, float]:
        try:
            import msal
        except ImportError:
            raise TokenError(f'provider = "microsoft" needs msal: {INSTALL_HINT}') from None
        secret = self.cfg.client_secret()
        authority = f"{self.cfg.authority}/{self.cfg.tenant}"
        try:
            app = msal.ConfidentialClientApplication(
                self.cfg.client_id, client_credential=secret, authority=authority,
                instance_discovery=False, timeout=PROVIDER_TIMEOUT)
            result = app.acquire_token_for_client(
                scopes=[self.cfg.scope or SCOPES["microsoft"]])
        except ValueError as e:  # msal: tenant discovery failed (unknown tenant, bad URL)
            raise TokenError(f"Microsoft identity platform at {authority}: "
                             f"{redact(str(e), (secret,))}") from None
        except OSError as e:  # requests' ConnectionError and timeouts are OSErrors
            raise TokenError(f"cannot reach the Microsoft identity platform at {authority}: "
                             f"{type(e).__name__}") from None
        if "access_token" not in result:
            raise TokenError("Microsoft token endpoint refused the client credentials: "
                             + _endpoint_error(result, (secret,)))
        return result["access_token"], _lifetime(result.get("expires_in"))


class GoogleTokenSource(TokenSource):
    """A stored refresh token, exchanged for access tokens through google-auth."""

    def __init__(self, cfg: OAuth2Config, clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self.cfg = cfg

    def _fetch(self) -> tuple[str, float]:
        try:
            import google.auth.exceptions
            import google.auth.transport.requests
            import google.oauth2.credentials
        except ImportError:
            raise TokenError(f'provider = "google" needs google-auth: {INSTALL_HINT}'
                             ) from None
        refresh_token = read_refresh_token(self.cfg)
        secret = self.cfg.client_secret()
        creds = google.oauth2.credentials.Credentials(
            token=None, refresh_token=refresh_token, token_uri=self.cfg.token_uri,
            client_id=self.cfg.client_id, client_secret=secret,
            scopes=[self.cfg.scope or SCOPES["google"]])
        try:
            creds.refresh(google.auth.transport.requests.Request())
        except google.auth.exceptions.RefreshError as e:
            detail = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], dict) else {}
            text = _endpoint_error(detail, (refresh_token, secret)) if detail else \
                redact(str(e.args[0] if e.args else e), (refresh_token, secret))
            hint = ""
            if "invalid_grant" in text:
                hint = (" (the refresh token is expired or revoked: run `cocmail oauth2 "
                        "login` again; an External app in Testing status loses its tokens "
                        "after 7 days)")
            raise TokenError(f"Google token endpoint refused the refresh token: {text}{hint}"
                             ) from None
        except google.auth.exceptions.TransportError as e:
            raise TokenError(f"cannot reach Google's token endpoint {self.cfg.token_uri}: "
                             f"{redact(str(e), (refresh_token, secret))}") from None
        assert creds.token is not None
        lifetime = 3600.0
        if creds.expiry is not None:
            from datetime import UTC

            from .clock import utcnow

            # google-auth keeps the expiry as a naive UTC time.
            expiry = creds.expiry.replace(tzinfo=UTC)
            lifetime = (expiry - utcnow()).total_seconds()
        return creds.token, _lifetime(lifetime)


def read_refresh_token(cfg: OAuth2Config) -> str:
    """The refresh token, from a file only its owner may read (like an ssh key)."""
    path = cfg.refresh_token_file
    assert path is not None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise TokenError(f"{path} is readable by others (mode {mode:04o}): it holds a "
                             f"refresh token; chmod 600 {path}")
        text = path.read_text().strip()
    except FileNotFoundError:
        raise TokenError(f"{path} does not exist: make it with `cocmail oauth2 login`"
                         ) from None
    except OSError as e:
        raise TokenError(f"cannot read {path}: {e.strerror}") from None
    if not text:
        raise TokenError(f"{path} is empty: make it with `cocmail oauth2 login`")
    return text


def write_refresh_token(path: Path, token: str) -> None:
    """Write the refresh token mode 0600, atomically, whatever the umask."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _endpoint_error(answer: dict, secrets: tuple[str, ...]) -> str:
    """`error: first line of error_description`, as token endpoints answer (RFC 6749 5.2)."""
    error = str(answer.get("error") or "no access_token in the answer")
    description = str(answer.get("error_description") or "").strip().splitlines()
    text = f"{error}: {description[0]}" if description else error
    return redact(text, secrets)[:LOG_LINE_CHARS]


_SOURCES: dict[OAuth2Config, TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def make_source(cfg: OAuth2Config) -> TokenSource:
    """A new source for `cfg` (tests and `cocmail check`, which wants a fresh fetch)."""
    kinds: dict[str, type[TokenSource]] = {"command": CommandTokenSource,
                                           "microsoft": MicrosoftTokenSource,
                                           "google": GoogleTokenSource}
    if cfg.provider not in kinds:
        raise ConfigError(f"oauth2.provider {cfg.provider!r} is not known")
    return kinds[cfg.provider](cfg)  # type: ignore[call-arg]


def source_for(cfg: OAuth2Config) -> TokenSource:
    """The process's one source for `cfg`, shared by IMAP and SMTP."""
    with _SOURCES_LOCK:
        if cfg not in _SOURCES:
            _SOURCES[cfg] = make_source(cfg)
        return _SOURCES[cfg]


class OAuth2Refused(OperationalError):
    """The server refused AUTH XOAUTH2 with a token fetched just before."""


def xoauth2_auth(conn: smtplib.SMTP, user: str, tokens: TokenSource) -> None:
    """AUTH XOAUTH2 over SMTP (delivery and `cocmail check`); a refused cached token is
    replaced by a fresh one, on the same connection (SMTP allows another AUTH after a
    535). Raises OAuth2Refused with the server's words, tokens cut out, when a freshly
    fetched token is refused."""
    conn.ehlo_or_helo_if_needed()
    while True:
        token, fresh = tokens.get()
        raw = f"user={user}\x01auth=Bearer {token}\x01\x01"
        try:
            # On a refusal the server sends a 334 with an error document; the client
            # answers with an empty line to get the final 535 (Google's XOAUTH2 spec).
            conn.auth("XOAUTH2", partial(_xoauth2_response, raw))
            return
        except smtplib.SMTPAuthenticationError as e:
            tokens.invalidate(token)
            said = tokens.redact(f"{e.smtp_code} {_smtp_text(e.smtp_error)}")
            if fresh:
                raise OAuth2Refused(f"AUTH XOAUTH2 as {user} refused, also with a freshly "
                                    f"fetched token: {said}") from None
            log.info("SMTP server refused the OAuth2 token (%s); fetching a new one", said)


def _xoauth2_response(initial: str, challenge: bytes | None = None) -> str:
    return initial if challenge is None else ""


def _smtp_text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"


def google_login(cfg: OAuth2Config, port: int = 0) -> Path:
    """The installed-app flow (loopback redirect, PKCE) for `cocmail oauth2 login`.

    Prints the URL to open; the browser comes back to http://localhost:PORT/ with a
    code, traded for a refresh token stored in `refresh_token_file` (mode 0600). On a
    server without a browser: run it on a laptop with the same [oauth2] section and
    copy the file, or forward the port (`ssh -L PORT:localhost:PORT`, with --port).
    """
    if cfg.provider != "google" or cfg.refresh_token_file is None:
        raise ConfigError('oauth2 login makes the refresh token of provider = "google"; '
                          f"this config has provider = {cfg.provider!r}")
    try:
        from google_auth_oauthlib.flow import InstalledAppFlow
    except ImportError:
        raise TokenError(f"`cocmail oauth2 login` needs google-auth-oauthlib: {INSTALL_HINT}"
                         ) from None
    secret = cfg.client_secret()
    flow = InstalledAppFlow.from_client_config(
        {"installed": {"client_id": cfg.client_id, "client_secret": secret,
                       "auth_uri": GOOGLE_AUTH_URI, "token_uri": cfg.token_uri,
                       "redirect_uris": ["http://localhost"]}},
        scopes=[cfg.scope or SCOPES["google"]])
    try:
        creds = flow.run_local_server(
            host="localhost", port=port, open_browser=False,
            authorization_prompt_message="Open this URL in a browser, signed in as the "
                                         "conduct mailbox's account:\n{url}\n",
            success_message="cocmail has its token; you may close this window.",
            access_type="offline", prompt="consent")
    except Exception as e:  # noqa: BLE001 - oauthlib's errors carry the endpoint's answer
        raise TokenError(f"the token endpoint refused the code: "
                         f"{redact(str(e), (secret,))}") from None
    if not creds.refresh_token:
        raise TokenError("Google sent no refresh token (access_type=offline was asked): "
                         "remove cocmail's access at myaccount.google.com/permissions "
                         "and run `cocmail oauth2 login` again")
    write_refresh_token(cfg.refresh_token_file, creds.refresh_token)
    return cfg.refresh_token_file
