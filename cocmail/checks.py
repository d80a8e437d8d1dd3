"""`cocmail check`: is this installation able to work? Each check says exactly what failed."""

from __future__ import annotations

import ipaddress
import os
import pwd
import re
import smtplib
import sqlite3
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from .config import Config, ConfigError, OAuth2Config
from .oauth import TokenError, TokenSource, make_source, redact
from .secret_file import SECRET_MIN_BYTES
from .tls import client_context, explain

# Characters of a server's answer `check` shows: its first line or two, never a page of HTML.
SERVER_SAID_CHARS = 400
# Seconds `check` waits for the IMAP or SMTP server: a volunteer is watching the terminal.
CONNECT_TIMEOUT = 15


def run_checks(cfg: Config) -> Iterator[tuple[str, bool, str]]:
    yield ("config", True, f"{cfg.source} is valid ({len(cfg.staff)} staff member(s))")
    yield from _placeholders(cfg)
    if not cfg.staff:
        yield ("staff", False, "no [[staff]] entries: nobody would be told about reports")
    elif not any(s.lead for s in cfg.staff):
        yield ("staff", True, "warning: no lead (lead = true), so no weekly digest is sent")
    if (cfg.event.name, cfg.event.ends) == EXAMPLE_EVENT:
        yield ("event", True, f"warning: [event] is config.example.toml's ({cfg.event.name!r},"
                              f" ending {cfg.event.ends}): every mail carries its name; if "
                              "it is not your event, set name, starts and ends")
    if cfg.staff and not cfg.process.conflict_contacts:
        yield ("process", True, "warning: no [process] conflict_contacts: a report that names "
                                "every team member would go to the team itself (with a warning "
                                "on top); list people outside the team, e.g. the board")
    yield _who()
    yield from _storage(cfg)
    yield _templates(cfg)
    tokens: TokenSource | None = None
    if any(s is not None and s.auth == "oauth2" for s in (cfg.imap, cfg.smtp)):
        assert cfg.oauth2 is not None
        result, tokens = _oauth2(cfg.oauth2)
        yield result
    if cfg.imap is None:
        yield ("inbox", True, f"no [imap]: the embedded listener takes mail on "
                              f"{cfg.listen.host}:{cfg.listen.port}")
        yield from _listener_trust(cfg)
    elif cfg.imap.auth != "oauth2" or tokens is not None:
        # OAuth2 only when [imap] asks for it: the tokens may be [smtp]'s alone.
        seen: list[str] = []
        imap_result = _imap(cfg, tokens if cfg.imap.auth == "oauth2" else None, seen)
        yield imap_result
        yield from _authserv_evidence(cfg, seen, read=imap_result[1])
    if cfg.smtp is None:
        yield ("smtp", True, f"no [smtp]: outgoing mail goes to {cfg.storage.spool_dir}")
    elif cfg.smtp.auth != "oauth2":
        # OAuth2 on the other side only: this one logs in as `run` does, by password or
        # not at all (XOAUTH2 to a server that does not offer it fails as a 500).
        yield _smtp(cfg, None)
    elif tokens is not None:
        yield _smtp(cfg, tokens)


def _placeholders(cfg: Config) -> Iterator[tuple[str, bool, str]]:
    """Fail on every example.org placeholder left in a key (placeholders.py says why)."""
    from .placeholders import explain, placeholder_keys

    found = placeholder_keys(cfg)
    if found and cfg.source == "<embedded defaults>":
        yield ("placeholders", True, "warning: the embedded demo defaults have example.org "
                                     "addresses only: write a config before real use")
        return
    for key, value in found:
        yield ("placeholder", False, explain(key, value))


def _oauth2(cfg: OAuth2Config) -> tuple[tuple[str, bool, str], TokenSource | None]:
    """Fetch one token now (not the daemon's cached one), so a broken helper, secret or
    refresh token shows here, with the step that failed, before any server is asked."""
    source = make_source(cfg)
    where = {"command": f"token_command {Path(cfg.token_command[0]).name}"
             if cfg.token_command else "token_command",
             "microsoft": f"Microsoft identity platform (tenant {cfg.tenant})",
             "google": f"Google's token endpoint ({cfg.refresh_token_file})"}[cfg.provider]
    try:
        source.token()
    except (TokenError, ConfigError) as e:
        return ("oauth2", False, str(e)), None
    return ("oauth2", True, f"got an access token from the {where}"), source


def _listener_trust(cfg: Config) -> Iterator[tuple[str, bool, str]]:
    """Warn when the listener is reachable beyond this host but its mail's
    Authentication-Results are ignored: staff mail through the MX then needs a token."""
    host = cfg.listen.host.strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if not loopback and "listener" not in cfg.security.authentication_results_via:
        yield ("listener", True, f"warning: the listener takes mail on {host}, but"
               " security.authentication_results_via has no \"listener\": staff commands"
               " sent through your MX run only as replies to cocmail's mail. Add it if"
               " only the MX can reach this address.")


def _who() -> tuple[str, bool, str]:
    try:
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        name = "(no name)"
    return ("user", True, f"checking as {name} (uid {os.geteuid()}): `cocmail run` must run "
                          "as this user for these results to hold")


def _storage(cfg: Config) -> Iterator[tuple[str, bool, str]]:
    """Can `run` start here, as this user? Looked at only: check never creates anything
    (a check run as root must not leave a root-owned storage dir for the daemon)."""
    d = cfg.storage.dir
    if not d.exists():
        parent = next((p for p in d.parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK | os.X_OK):
            yield ("storage", False, f"{d} does not exist and {parent} is not writable by "
                                     "this user: create it, owned by the user cocmail runs as")
        else:
            yield ("storage", True, f"{d} does not exist yet; `cocmail run` creates it")
        return
    if not d.is_dir():
        yield ("storage", False, f"{d} is not a directory")
        return
    if not os.access(d, os.W_OK | os.X_OK):
        yield ("storage", False, f"{d} is not writable by this user ({_owner(d)} owns it)")
        return
    mode = stat.S_IMODE(d.stat().st_mode)
    if mode & 0o007:
        yield ("storage", True, f"warning: {d} is open to every user (mode {mode:04o}); "
                                f"it holds reports: chmod 700 {d}")
    else:
        yield ("storage", True, f"{d} is writable (owner {_owner(d)}, mode {mode:04o})")
    yield from _free_space(d)
    for name in ("secret.key", "cocmail.db", "cocmail.db-wal", "cocmail.db-shm", "spool",
                 "run.lock"):
        p = d / name
        if p.exists() and not _usable(p):
            yield ("storage", False, f"{p} belongs to {_owner(p)} and this user cannot "
                                     f"use it: chown it to the user cocmail runs as")
    yield _secret(cfg)
    yield _database(cfg)
    yield _sealed(cfg)


# config.example.toml's [event]: a real event's, so a warning, not a failure.
EXAMPLE_EVENT = ("DjangoCon Europe 2027", date(2027, 6, 5))
# Free space below which the storage dir counts as full: a report with an attachment
# and the mail it starts need a few MB; SQLite needs room for its write-ahead log.
FULL_BYTES = 5 * 1024 * 1024
# Room an upgrade needs beyond a copy of the database (cocmail.db.before-v<N>).
UPGRADE_SPARE_BYTES = 50 * 1024 * 1024


def _free_space(d: Path) -> Iterator[tuple[str, bool, str]]:
    """A full disk loses no mail (the listener answers 451, ingest exits 75), but nothing
    new is stored either: say so now, not when the first report is turned away."""
    try:
        st = os.statvfs(d)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    db = d / "cocmail.db"
    db_size = db.stat().st_size if db.exists() else 0
    if free < FULL_BYTES:
        yield ("disk", False, f"no space left on the storage dir {d} ({_mb(free)} free): "
                              "no report can be stored until you free some (README, "
                              "\"Disk space\")")
    elif free < db_size + UPGRADE_SPARE_BYTES:
        yield ("disk", True, f"warning: {_mb(free)} free on the storage dir {d}, the "
                             f"database is {_mb(db_size)}: an upgrade's copy of it and "
                             "new reports may not fit (README, \"Disk space\")")


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _usable(p: Path) -> bool:
    """What run needs of a file: read and write it (and chmod it 0600: only its owner
    or root may)."""
    if os.geteuid() != 0 and p.stat().st_uid != os.geteuid():
        return False
    want = os.R_OK | os.W_OK | (os.X_OK if p.is_dir() else 0)
    return os.access(p, want)


def _owner(p: Path) -> str:
    uid = p.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _secret(cfg: Config) -> tuple[str, bool, str]:
    p = cfg.storage.secret_path
    if not p.exists():
        return ("secret key", True, f"{p} does not exist yet; `cocmail run` makes it. If "
                                    "this installation sent mail before, restore it from a "
                                    "backup first: replies to older mail match through it")
    try:
        key = p.read_bytes().strip()
    except OSError as e:
        return ("secret key", False, f"cannot read {p}: {e.strerror}")
    if len(key) < SECRET_MIN_BYTES:
        return ("secret key", False, f"{p} is too short to be cocmail's key")
    return ("secret key", True, f"{p} is readable")


def _sealed(cfg: Config) -> tuple[str, bool, str]:
    """Whether the store is sealed (issue 27), and whether its keys are there."""
    from .keyring import KeyStoreError, inspect_key_store
    from .store import StoreError
    from .store.connection import sealed_database, unsealed_count

    st, name = cfg.storage, "sealed"
    try:
        sealed = sealed_database(st.db_path, look=True)
        if not st.encryption:
            return (name, True, "no: [storage] encryption = false, reports are stored in"
                                " plaintext")
        if sealed is None:
            return (name, True, f"not yet: {st.db_path.name} is sealed when cocmail next"
                                " opens it (every record encrypted, plaintext copies removed)"
                    if st.db_path.exists() else f"{st.db_path.name} will be sealed from its"
                    f" first record; keys in {st.keys_path}")
        store_id, keys = inspect_key_store(st)
        if store_id != sealed:
            return (name, False, f"{st.keys_path} is not the key store "
                                 f"{st.db_path.name} was sealed with: restore its own")
        left = unsealed_count(st.db_path)
    except (KeyStoreError, StoreError) as e:
        return (name, False, str(e))
    except (sqlite3.Error, OSError) as e:  # a full disk, a file this user cannot read
        return (name, False, f"cannot read the key store {st.keys_path}: {e}")
    if left:
        return (name, False, f"{left} personal values in {st.db_path.name} are in plaintext:"
                             " run cocmail once to seal them")
    return (name, True, f"yes: every personal field is encrypted (AES-256-GCM, a key per"
                        f" case); {keys} keys in {st.keys_path.name}, wrapped by"
                        f" {st.kek_path.name}")


def _database(cfg: Config) -> tuple[str, bool, str]:
    from .store import migrations, writable_schema_version

    p = cfg.storage.db_path
    if not p.exists():
        return ("database", True, f"{p} does not exist yet; `cocmail run` creates it")
    try:
        conn = sqlite3.connect(f"file:{p}?mode=rw", uri=True, timeout=5)
    except sqlite3.Error as e:
        return ("database", False, f"cannot open {p} for writing: {e}")
    try:
        version = writable_schema_version(conn)  # takes a write lock, writes nothing
        migrations.refuse_newer(version, p)
    except (sqlite3.Error, migrations.SchemaError) as e:
        return ("database", False, f"{p}: {e}")
    finally:
        conn.close()
    if version < migrations.LATEST:
        return ("database", True, f"{p} is writable; schema {version} is upgraded to "
                                  f"{migrations.LATEST} when cocmail next opens it (a copy "
                                  "is kept beside it)")
    return ("database", True, f"{p} is writable (schema {version})")


def _templates(cfg: Config) -> tuple[str, bool, str]:
    from .render import TEMPLATE_NAMES, Renderer

    try:
        Renderer(cfg.templates.dir).check()
    except Exception as e:  # noqa: BLE001
        return ("templates", False, str(e))
    where = cfg.templates.dir or "built-in"
    return ("templates", True, f"{len(TEMPLATE_NAMES)} templates ({where})")


def _imap(cfg: Config, tokens: TokenSource | None, seen: list[str] | None = None
          ) -> tuple[str, bool, str]:
    """Log in, open the folder; the authserv-ids on its newest mail go into `seen`."""
    from imapclient import IMAPClient

    from .inbox.imap import oauth2_login

    imap = cfg.imap
    assert imap is not None
    try:
        password = imap.password.resolve() if tokens is None else None
    except ConfigError as e:
        return ("imap", False, str(e))
    where = f"{imap.host}:{imap.port} ({imap.security})"
    try:
        client = IMAPClient(imap.host, port=imap.port, ssl=imap.security == "ssl",
                            ssl_context=client_context(imap.ca_file), timeout=CONNECT_TIMEOUT)
        if imap.security == "starttls":
            client.starttls(client_context(imap.ca_file))
    except Exception as e:  # noqa: BLE001 - any failure here is "cannot connect"
        return ("imap", False, f"cannot connect to {where}: "
                               f"{explain(imap.security, imap.port, e)}{_placeholder(imap.host)}")
    try:
        if tokens is not None:
            oauth2_login(client, imap.username, tokens.token())
        else:
            client.login(imap.username, password or "")
    except Exception as e:  # noqa: BLE001 - the server's words, secrets cut out
        said = _said(e, tokens, password)
        if tokens is not None:
            return ("imap", False, f"OAuth2 login as {imap.username} refused by {where}: "
                                   f"{said}{_oauth2_hint(imap.provider, imap.host)}")
        return ("imap", False, f"login as {imap.username} refused by {where}: {said}"
                               f"{_password_hint(imap.provider, imap.host, said)}")
    try:
        info = client.select_folder(imap.folder, readonly=True)
        if seen is not None:
            seen.extend(recent_authserv_ids(client))
    except Exception as e:  # noqa: BLE001
        return ("imap", False, f"logged in, but folder {imap.folder!r} cannot be opened: {e}")
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001
            pass
    how = " with OAuth2" if tokens is not None else ""
    return ("imap", True, f"logged in to {where}{how}; {imap.folder} has "
                          f"{info.get(b'EXISTS', '?')} message(s)")


# Newest messages of the folder whose Authentication-Results `check` reads.
EVIDENCE_MESSAGES = 20


def recent_authserv_ids(client: object) -> list[str]:
    """The authserv-id of each Authentication-Results header on the folder's newest
    messages, one entry per message that has any (headers only, read-only, no \\Seen)."""
    uids = sorted(client.search(["ALL"]))[-EVIDENCE_MESSAGES:]  # type: ignore[attr-defined]
    if not uids:
        return []
    field = b"BODY[HEADER.FIELDS (AUTHENTICATION-RESULTS)]"
    data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (AUTHENTICATION-RESULTS)]"])  # type: ignore[attr-defined]
    ids = []
    for item in data.values():
        text = bytes(item.get(field, b"")).decode("ascii", "replace")
        text = re.sub(r"\r?\n[ \t]+", " ", text)  # unfolded
        found = set()
        for value in re.findall(r"(?im)^authentication-results:[ \t]*([^;\s]+)", text):
            found.add(value.lower())
        if found:
            ids.append(" ".join(sorted(found)))
    return ids


def _authserv_evidence(cfg: Config, seen: list[str],
                       read: bool = True) -> Iterator[tuple[str, bool, str]]:
    """Can the trusted authserv-ids be justified by the mailbox? Your own MX writes its
    Authentication-Results into every mail it delivers there: an id that none of the
    newest messages carries is a guess (or a placeholder), and trusting a guess lets
    whoever writes that header run staff commands."""
    trusted = [t.lower() for t in cfg.security.trusted_authserv_ids]
    if not trusted:
        return
    if not read:
        yield ("authserv-id", True, "warning: the mailbox could not be read (see imap), so "
                                    f"the trusted authserv-ids {', '.join(trusted)} cannot "
                                    "be confirmed yet: run check again once imap passes")
        return
    if not seen:
        yield ("authserv-id", True, "warning: no recent message in the mailbox carries "
                                    "Authentication-Results, so the trusted authserv-ids "
                                    f"{', '.join(trusted)} cannot be confirmed yet")
        return
    carried = {i for ids in seen for i in ids.split()}
    missing = [t for t in trusted if t not in carried]
    if missing:
        yield ("authserv-id", False, f"trusted_authserv_ids {', '.join(missing)}: none of "
               f"the {len(seen)} newest message(s) with Authentication-Results carries it "
               f"(they carry: {', '.join(sorted(carried))}). Trust only the id your own "
               "MX writes (README, \"Who may run commands\")")
    else:
        yield ("authserv-id", True, f"{', '.join(trusted)} wrote the Authentication-Results "
                                    f"of the newest messages")


def _smtp(cfg: Config, tokens: TokenSource | None) -> tuple[str, bool, str]:
    from .oauth import OAuth2Refused, xoauth2_auth

    smtp = cfg.smtp
    assert smtp is not None
    where = f"{smtp.host}:{smtp.port} ({smtp.security})"
    try:
        password = smtp.password.resolve() if smtp.username and tokens is None else None
    except ConfigError as e:
        return ("smtp", False, str(e))
    try:
        if smtp.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=CONNECT_TIMEOUT,
                                                  context=client_context(smtp.ca_file))
        else:
            conn = smtplib.SMTP(smtp.host, smtp.port, timeout=CONNECT_TIMEOUT)
            if smtp.security == "starttls":
                conn.starttls(context=client_context(smtp.ca_file))
    except (OSError, smtplib.SMTPException) as e:
        return ("smtp", False, f"cannot connect to {where}: "
                               f"{explain(smtp.security, smtp.port, e)}{_placeholder(smtp.host)}")
    try:
        if tokens is not None:
            try:
                xoauth2_auth(conn, smtp.username or "", tokens)
            except OAuth2Refused as e:
                return ("smtp", False, f"{where}: {e}{_oauth2_hint(smtp.provider, smtp.host)}")
            except (OSError, smtplib.SMTPException) as e:
                return ("smtp", False, f"AUTH XOAUTH2 failed at {where}: "
                                       f"{_said(e, tokens, None)}")
        elif smtp.username:
            try:
                conn.login(smtp.username, password or "")
            except (OSError, smtplib.SMTPException) as e:
                said = _said(e, None, password)
                return ("smtp", False, f"login as {smtp.username} refused by {where}: {said}"
                                       f"{_password_hint(smtp.provider, smtp.host, said)}")
        how = " with OAuth2" if tokens is not None else ""
        return ("smtp", True, f"connected to {where}"
                + (f" and logged in as {smtp.username}{how}" if smtp.username else ""))
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass


def _placeholder(host: str) -> str:
    """config.example.toml's servers are placeholders; say so when a copy still has them."""
    if host.endswith(("example.org", "example.com", "example.net")):
        return f" ({host} is the example config's placeholder: put your mail server here)"
    return ""


def _said(error: BaseException, tokens: TokenSource | None, password: str | None) -> str:
    """What the server answered, as one line, without the token or password in it."""
    if isinstance(error, smtplib.SMTPResponseException):
        text = f"{error.smtp_code} {_decode(error.smtp_error)}"
    else:
        text = str(error) or type(error).__name__
        if text.startswith(("b'", 'b"')) and text.endswith(("'", '"')):
            text = text[2:-1]
    text = " ".join(text.split())
    text = tokens.redact(text) if tokens is not None else redact(text)
    if password:
        text = text.replace(password, "[password]")
    return text[:SERVER_SAID_CHARS]


def _decode(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _provider_of(provider: str | None, host: str) -> str | None:
    """The preset name, or the one a well-known host name gives away."""
    if provider:
        return provider
    host = host.lower()
    for name, suffixes in (("gmail", ("gmail.com", "googlemail.com")),
                           ("microsoft365", ("office365.com", "outlook.com")),
                           ("fastmail", ("fastmail.com",))):
        if host.endswith(suffixes):
            return name
    return None


APP_PASSWORD_HINTS = {
    "gmail": ("Google takes no account password here since 30 Sept 2024: use an app "
              "password (2-Step Verification on, myaccount.google.com/apppasswords; your "
              "Workspace admin may have to allow them) or OAuth2 (auth = \"oauth2\", "
              "[oauth2] provider = \"google\"); see docs/providers.md"),
    "microsoft365": ("Exchange Online has basic auth off for IMAP, and for SMTP AUTH from "
                     "the end of Dec 2026 (550 5.7.30): use auth = \"oauth2\" with [oauth2] "
                     "provider = \"microsoft\"; see docs/providers.md"),
    "fastmail": ("Fastmail needs an app password (Settings > Privacy & Security > "
                 "Manage app passwords), not the account password; see docs/providers.md"),
}


def _password_hint(provider: str | None, host: str, said: str) -> str:
    name = _provider_of(provider, host)
    if name is None:
        if "Application-specific password required" in said:
            name = "gmail"
        elif "5.7.30" in said or "5.7.139" in said or "basic auth" in said.lower():
            name = "microsoft365"
    return f" ({APP_PASSWORD_HINTS[name]})" if name else ""


def _oauth2_hint(provider: str | None, host: str) -> str:
    name = _provider_of(provider, host)
    if name == "microsoft365":
        return (" (the token was issued, but Exchange refuses it: check the app has the "
                "IMAP.AccessAsApp / SMTP.SendAsApp application permission with admin "
                "consent, and New-ServicePrincipal plus Add-MailboxPermission for this "
                "mailbox; docs/providers.md)")
    if name == "gmail":
        return (" (the token was issued, but Gmail refuses it: check the scope "
                "https://mail.google.com/ and that username is the account that signed in "
                "with `cocmail oauth2 login`)")
    return " (the token was issued but the server does not accept it for this username)"
