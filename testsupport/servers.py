"""Real mail servers for tests: a throw-away Dovecot and a scriptable aiosmtpd sink.

No pytest here, so benchmarks and scripts can use them too; conftest.py wraps them in
fixtures. Both bind 127.0.0.1 on a free port and clean up after themselves.
"""

from __future__ import annotations

import contextlib
import email
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from aiosmtpd.controller import Controller
from imapclient import IMAPClient

from cocmail.config import ImapConfig, Secret

DOVECOT_BINARY = "/usr/sbin/dovecot"


def free_port() -> int:
    """A port nobody listens on right now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Any, timeout: float, interval: float = 0.01) -> bool:
    """Poll `predicate()` until it is true or `timeout` passes; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# ---------------------------------------------------------------- Dovecot

class ImapUser(NamedTuple):
    name: str
    password: str


_DOVECOT_CONF = """\
# Written by testsupport/servers.py: one throw-away Dovecot, nothing from /etc/dovecot.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{tls}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 1
mail_fsync = never
mail_location = maildir:{root}/mail/%u
{oauth2_passdb}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

# Dovecot 2.3's oauth2 passdb: every token is checked with the introspection endpoint
# (force_introspection: there is no tokeninfo service here); `active` must be true and
# `username` must be the login name.
_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = {mechanisms}
  args = {ext}
}}
"""
_OAUTH2_EXT = """\
introspection_url = {url}
introspection_mode = post
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


class Dovecot:
    """Debian's Dovecot in a fresh temp dir: plain IMAP on 127.0.0.1, maildir, file passdb.

    Any test may add users (`add_user`); the password file is re-read by Dovecot on
    change. Runs in its own process group so `stop()` takes the imap workers with it
    (SIGTERM to the master alone leaves them serving).
    """

    def __init__(self, binary: str = DOVECOT_BINARY, extra_conf: str = "", tls: bool = False,
                 oauth2_introspection_url: str | None = None,
                 oauth2_mechanisms: tuple[str, ...] = ("xoauth2", "oauthbearer")):
        """`tls=True`: STARTTLS on `port` and implicit TLS on `tls_port`, with a fresh
        self-signed certificate for 127.0.0.1 in `cert_path` (trust it via SSL_CERT_FILE).

        `oauth2_introspection_url`: also accept XOAUTH2 and OAUTHBEARER, checking each
        token by an RFC 7662 introspection POST to that URL (see `TokenIntrospection`),
        as Dovecot does in front of a real identity provider; `oauth2_mechanisms` are
        the SASL mechanisms offered for it."""
        self.binary = binary
        self.extra_conf = extra_conf
        self.oauth2_url = oauth2_introspection_url
        self.oauth2_mechanisms = oauth2_mechanisms
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.root = Path(tempfile.mkdtemp(prefix="cocmail-dovecot-"))
        self.root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
        self.proc: subprocess.Popen[bytes] | None = None
        self._users: dict[str, str] = {}
        self._write_config()

    # ---- lifecycle
    def _write_config(self) -> None:
        if os.geteuid() == 0:
            internal, login = _existing_user("dovecot"), _existing_user("dovenull")
            mail = pwd.getpwnam(internal)
        else:  # unprivileged Dovecot: everything runs as ourselves
            mail = pwd.getpwuid(os.geteuid())
            internal = login = mail.pw_name
        # Explicit modes: the test process may run with umask 077 (the cocmail CLI sets it),
        # and Dovecot's unprivileged auth and mail processes must still read these.
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir()
            (self.root / sub).chmod(0o755)
        for sub in ("mail", "home"):
            os.chown(self.root / sub, mail.pw_uid, mail.pw_gid)
        (self.root / "users").mkdir()
        (self.root / "users").chmod(0o755)
        tls = "ssl = no"
        if self.tls_port:
            self.cert_path, key = self_signed_cert(self.root, self.host)
            tls = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{key}"
        mechanisms, oauth2_passdb = "plain login", ""
        if self.oauth2_url:
            mechanisms += " " + " ".join(self.oauth2_mechanisms)
            ext = self.root / "dovecot-oauth2.conf.ext"
            ext.write_text(_OAUTH2_EXT.format(url=self.oauth2_url))
            ext.chmod(0o644)
            oauth2_passdb = _OAUTH2_PASSDB.format(ext=ext,
                                                  mechanisms=" ".join(self.oauth2_mechanisms))
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(_DOVECOT_CONF.format(
            root=self.root, port=self.port, tls_port=self.tls_port, tls=tls,
            mechanisms=mechanisms, oauth2_passdb=oauth2_passdb,
            internal_user=internal, login_user=login,
            mail_uid=mail.pw_uid, mail_gid=mail.pw_gid) + self.extra_conf)
        self.conf.chmod(0o644)

    def start(self, timeout: float = 5.0) -> Dovecot:
        stderr = open(self.root / "stderr.log", "ab")  # noqa: SIM115 - kept by the child
        try:
            self.proc = subprocess.Popen([self.binary, "-F", "-c", str(self.conf)],
                                         stdin=subprocess.DEVNULL, stdout=stderr,
                                         stderr=stderr, start_new_session=True)
        finally:
            stderr.close()
        if not wait_until(self._accepting, timeout, interval=0.005):
            self.stop()
            raise RuntimeError(f"dovecot did not start on port {self.port}:\n{self.logs()}")
        return self

    def _accepting(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"dovecot exited with {self.proc.returncode}:\n{self.logs()}")
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                return s.recv(5) == b"* OK "
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        pgid = proc.pid
        _signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            proc.wait(timeout=3)
        if not wait_until(lambda: not _group_members(pgid), 2.0):
            _signal_group(pgid, signal.SIGKILL)
            wait_until(lambda: not _group_members(pgid), 2.0)

    def restart(self) -> None:
        """Stop and start again on the same port, as an operator's restart would."""
        self.stop()
        self.start()

    def kill_imap_processes(self) -> int:
        """SIGKILL the imap workers only: clients see their socket die without a BYE."""
        assert self.proc is not None, "dovecot is not running"
        victims = [pid for pid in _group_members(self.proc.pid) if _comm(pid) == "imap"]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(victims)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        parts = []
        for name in ("stderr.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # ---- accounts and mail
    def add_user(self, name: str | None = None, password: str | None = None) -> ImapUser:
        """Create a user, or change a user's password; random name and password by default.

        One passwd file per user, so Dovecot sees a new user at once. Dovecot looks at a
        file at most once a second, so changing a password waits until it is in effect.
        """
        name = name or f"u{secrets.token_hex(6)}"
        password = password or secrets.token_urlsafe(12)
        self._users[name] = password
        path = self.root / "users" / name
        old_mtime = path.stat().st_mtime if path.exists() else 0.0
        tmp = path.with_suffix(".tmp")
        # nodelay: a refused login is answered without the usual 2 s penalty
        tmp.write_text(f"{name}:{{PLAIN}}{password}::::::nodelay=yes\n")
        tmp.chmod(0o644)
        mtime = max(time.time(), old_mtime + 1)  # Dovecot compares whole seconds
        os.utime(tmp, (mtime, mtime))
        tmp.replace(path)  # atomic: Dovecot never reads half a file
        if old_mtime and self.proc is not None:
            if not wait_until(lambda: self._can_log_in(name, password), 3.0, interval=0.1):
                raise RuntimeError(f"dovecot did not take the new password for {name}")
        return ImapUser(name, password)

    def _can_log_in(self, name: str, password: str) -> bool:
        try:
            with IMAPClient(self.host, port=self.port, ssl=False, timeout=5) as client:
                client.login(name, password)
            return True
        except IMAPClient.Error:
            return False

    def connect(self, user: str) -> IMAPClient:
        """A logged-in client for inspecting or changing a mailbox from a test."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, self._users[user])
        return client

    def append(self, user: str, raw: bytes | list[bytes], folder: str = "INBOX") -> None:
        """Deliver one message, or many in a single MULTIAPPEND."""
        with self.connect(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            if isinstance(raw, bytes):
                client.append(folder, raw)
            elif raw:
                client.multiappend(folder, raw)

    def imap_config(self, user: str, **overrides: Any) -> ImapConfig:
        """An ImapConfig for this server (plain IMAP, password inline)."""
        fields: dict[str, Any] = dict(host=self.host, port=self.port, security="none",
                                      username=user, password=Secret(value=self._users[user]))
        fields.update(overrides)
        return ImapConfig(**fields)

    def imap_toml(self, user: str, folder: str = "INBOX") -> str:
        """An `[imap]` section for a cocmail.toml pointing at this server."""
        return (f'[imap]\nhost = "{self.host}"\nport = {self.port}\nsecurity = "none"\n'
                f'username = "{user}"\npassword = "{self._users[user]}"\n'
                f'folder = "{folder}"\n')


def self_signed_cert(directory: Path, host: str) -> tuple[Path, Path]:
    """A throw-away certificate and key for `host` (an IP address), made with openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _existing_user(name: str) -> str:
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        return "nobody"


def _group_members(pgid: int) -> list[int]:
    """Live processes in a process group, read from /proc (zombies do not count)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# ---------------------------------------------------------------- SMTP sink

@dataclass(frozen=True)
class Received:
    """One message the sink answered 250 to."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    monotonic: float  # time.monotonic() at acceptance, for latency measurements
    time: float  # time.time() at acceptance

    @cached_property
    def message(self) -> EmailMessage:
        """Parsed on first look, not on arrival: the sink must cost the sender nothing,
        or the benchmarks would time the sink's parsing of every big mail."""
        return email.message_from_bytes(self.raw, policy=default_policy)  # type: ignore[return-value]


class _SinkHandler:
    """aiosmtpd handler: records accepted mail and plays scripted faults."""

    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        reply = self.sink._next_reply("rcpt")
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink._take_drop():
            # Hang up after the whole message arrived but before any reply: the client
            # cannot know whether the mail was taken, which is exactly the hard case.
            server.transport.abort()
            return "421 connection dropped by test"
        reply = self.sink._next_reply("data")
        if reply is not None:
            return reply
        raw = bytes(envelope.original_content or envelope.content)
        self.sink._record(Received(
            mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos), raw=raw,
            monotonic=time.monotonic(), time=time.time()))
        return "250 Message accepted for delivery"


class _OAuth2SinkHandler(_SinkHandler):
    """Also takes AUTH XOAUTH2, checking each token with the sink's TokenAuthority, and
    refuses a bad one as Gmail does: a 334 with a JSON error, then 535 after the
    client's empty line."""

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:  # noqa: N802
        import base64

        from aiosmtpd.smtp import AuthResult

        if len(args) > 1:
            blob = base64.b64decode(args[1])
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = answer
        fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        authority = self.sink.oauth2
        assert authority is not None
        self.sink.auth_attempts.append(user)
        if authority.valid(token, user):
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth('{"status":"400","schemes":"Bearer",'
                                    '"scope":"https://mail.google.com/"}')
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted (test)")


class _PasswordAuthenticator:
    """aiosmtpd authenticator taking one user and password (AUTH PLAIN or LOGIN)."""

    def __init__(self, user: str, password: str):
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        ok = (getattr(auth_data, "login", None) == self.user
              and getattr(auth_data, "password", None) == self.password)
        return AuthResult(success=ok, handled=False)


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it accepts and fails on request.

    `fail_next("rcpt", "550 5.1.1 no such user")` answers the next RCPT with that reply
    (several replies queue up); `fail_next("data", "451 try later")` likewise for DATA;
    `drop_next_data()` hangs up after the message body, before replying.
    """

    def __init__(self, host: str = "127.0.0.1", oauth2: TokenAuthority | None = None,
                 login: tuple[str, str] | None = None):
        """`oauth2`: offer AUTH XOAUTH2 (without TLS, for the test) and take only the
        tokens that authority issued and did not revoke. `login`: offer AUTH PLAIN and
        LOGIN (without TLS) and take only this (user, password)."""
        self.host = host
        self.port = free_port()  # port 0 would break Controller's ready check
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._replies: dict[str, deque[str]] = {"rcpt": deque(), "data": deque()}
        self._drops = 0
        self.oauth2 = oauth2
        self.auth_attempts: list[str] = []  # the user named in each AUTH XOAUTH2
        handler = _OAuth2SinkHandler(self) if oauth2 else _SinkHandler(self)
        extra: dict[str, Any] = {"auth_require_tls": False} if oauth2 or login else {}
        if login is not None:
            extra["authenticator"] = _PasswordAuthenticator(*login)
        self.controller = Controller(handler, hostname=host, port=self.port,
                                     enable_SMTPUTF8=True, **extra)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- faults
    def fail_next(self, stage: str, *replies: str) -> None:
        """Queue replies for the next RCPT or DATA commands, e.g. "451 4.3.0 try later"."""
        with self._lock:
            self._replies[stage].extend(replies)

    def drop_next_data(self, times: int = 1) -> None:
        """Hang up instead of answering the next `times` DATA commands."""
        with self._lock:
            self._drops += times

    def _next_reply(self, stage: str) -> str | None:
        with self._lock:
            queue = self._replies[stage]
            return queue.popleft() if queue else None

    def _take_drop(self) -> bool:
        with self._lock:
            if self._drops:
                self._drops -= 1
                return True
            return False

    # ---- what arrived
    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)
            self._lock.notify_all()

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least `n` messages were accepted; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._received) >= n, timeout):
                raise TimeoutError(f"SMTP sink got {len(self._received)} of {n} messages "
                                   f"within {timeout}s")
            return list(self._received)

    def clear(self) -> None:
        """Forget received mail and any scripted faults."""
        with self._lock:
            self._received.clear()
            for queue in self._replies.values():
                queue.clear()
            self._drops = 0

    def smtp_toml(self) -> str:
        """An `[smtp]` section for a cocmail.toml pointing at this sink."""
        return f'[smtp]\nhost = "{self.host}"\nport = {self.port}\nsecurity = "none"\n'


# ---------------------------------------------------------------- a link that can go silent

class FreezingProxy:
    """A TCP forwarder whose open connections can be made to go silent.

    `freeze()` black-holes every connection open at that moment in both directions
    without closing it: no data, no FIN, no RST, as after a NAT timeout or a cable pull.
    Connections made afterwards are forwarded normally, so a client that notices and
    reconnects gets through.
    """

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._closed = False
        threading.Thread(target=self._serve, name="proxy-accept", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
            link.start()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._links)

    def freeze(self) -> None:
        with self._lock:
            for link in self._links:
                link.frozen = True

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for link in self._links:
                link.close()


class _Link:
    def __init__(self, a: socket.socket, b: socket.socket):
        self.a, self.b = a, b
        self.frozen = False

    def start(self) -> None:
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self.frozen:
                    dst.sendall(data)
        except OSError:
            pass
        if not self.frozen:
            self.close()

    def close(self) -> None:
        for s in (self.a, self.b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


# ---------------------------------------------------------------- an OAuth2 authority

class TokenAuthority:
    """A tiny OAuth2 authorisation server on 127.0.0.1, over plain HTTP.

    * `POST /introspect` (RFC 7662, what Dovecot's oauth2 passdb asks): `{"active": true,
      "username": ...}` for a token issued and not revoked, `{"active": false}` otherwise.
    * `POST /token` (RFC 6749 section 4.4 / 6): client_credentials and refresh_token
      grants, answering `{"access_token", "token_type", "expires_in"}` or, when
      `refuse_grants` is set, a 400 with `error`/`error_description` as real ones do.

    * `GET /<tenant>/v2.0/.well-known/openid-configuration`: the OpenID discovery
      document msal reads before it asks for a token.
    * The authorization_code grant (`cocmail oauth2 login`) answers a refresh token too.

    Tokens are random strings; `issue(user)` makes one by hand for token_command tests.
    `client_secret` and `refresh_tokens`, when set, are checked as a real server would.
    Every request is recorded in `requests` (path and form fields) for assertions.
    `tls=True` serves HTTPS with a fresh self-signed certificate (`cert_path`), for the
    libraries that insist on https (msal, oauthlib): trust it via REQUESTS_CA_BUNDLE.
    """

    def __init__(self, user_for_grants: str = "", tls: bool = False) -> None:
        import http.server

        self.client_secret: str | None = None
        self.refresh_tokens: set[str] = set()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self.revoked: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.user_for_grants = user_for_grants
        self.refuse_grants: tuple[str, str] | None = None  # (error, error_description)
        self.expires_in = 3599
        authority = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                from urllib.parse import parse_qsl

                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                status, body = authority._answer(self.path.split("?")[0], form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                if not path.endswith("/.well-known/openid-configuration"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                base = authority.url + path.removesuffix("/v2.0/.well-known/openid-configuration")
                data = json.dumps({
                    "issuer": f"{base}/v2.0", "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass  # tokens in request lines must not reach the test output

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if tls:
            import ssl

            self._certdir = Path(tempfile.mkdtemp(prefix="cocmail-authority-"))
            self.cert_path, key = self_signed_cert(self._certdir, "127.0.0.1")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_path, key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> TokenAuthority:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if hasattr(self, "_certdir"):
            shutil.rmtree(self._certdir, ignore_errors=True)

    def __enter__(self) -> TokenAuthority:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def issue(self, user: str) -> str:
        token = "tok-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = user
        return token

    def valid(self, token: str, user: str) -> bool:
        with self._lock:
            return self._tokens.get(token) == user and token not in self.revoked

    def revoke(self, token: str) -> None:
        with self._lock:
            self.revoked.add(token)

    def paths(self) -> list[str]:
        with self._lock:
            return [path for path, _ in self.requests]

    def _answer(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((path, form))
        if path == "/introspect":
            token = form.get("token", "")
            with self._lock:
                user = self._tokens.get(token)
                live = user is not None and token not in self.revoked
            return 200, ({"active": True, "username": user} if live else {"active": False})
        if path.endswith("/token"):
            if self.refuse_grants:
                error, description = self.refuse_grants
                return 400, {"error": error, "error_description": description}
            grant = form.get("grant_type")
            if grant not in ("client_credentials", "refresh_token", "authorization_code"):
                return 400, {"error": "unsupported_grant_type"}
            if self.client_secret is not None and form.get("client_secret") != self.client_secret:
                return 401, {"error": "invalid_client",
                             "error_description": "AADSTS7000215: Invalid client secret "
                                                  "provided.\r\nTrace ID: 0000"}
            if grant == "refresh_token" and form.get("refresh_token") not in self.refresh_tokens:
                return 400, {"error": "invalid_grant",
                             "error_description": "Token has been expired or revoked."}
            answer = {"access_token": self.issue(self.user_for_grants),
                      "token_type": "Bearer", "expires_in": self.expires_in}
            if grant == "authorization_code":
                refresh = "1//rt-" + secrets.token_urlsafe(24)
                with self._lock:
                    self.refresh_tokens.add(refresh)
                answer["refresh_token"] = refresh
            return 200, answer
        return 404, {"error": "not_found"}
