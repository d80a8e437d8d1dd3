"""`cocmail check`: is this installation able to work? Each check says exactly what failed."""

from __future__ import annotations

import ipaddress
import os
import smtplib
import ssl
from collections.abc import Iterator

from .config import Config, ConfigError


def run_checks(cfg: Config) -> Iterator[tuple[str, bool, str]]:
    yield ("config", True, f"{cfg.source} is valid ({len(cfg.staff)} staff member(s))")
    if not cfg.staff:
        yield ("staff", False, "no [[staff]] entries: nobody would be told about reports")
    elif not any(s.lead for s in cfg.staff):
        yield ("staff", True, "warning: no lead (lead = true), so no weekly digest is sent")
    yield _storage(cfg)
    yield _templates(cfg)
    if cfg.imap is None:
        yield ("inbox", True, f"no [imap]: the embedded listener takes mail on "
                              f"{cfg.listen.host}:{cfg.listen.port}")
        yield from _listener_trust(cfg)
    else:
        yield _imap(cfg)
    if cfg.smtp is None:
        yield ("smtp", True, f"no [smtp]: outgoing mail goes to {cfg.storage.spool_dir}")
    else:
        yield _smtp(cfg)


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


def _storage(cfg: Config) -> tuple[str, bool, str]:
    d = cfg.storage.dir
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return ("storage", False, f"cannot create {d}: {e.strerror}")
    if not os.access(d, os.W_OK):
        return ("storage", False, f"{d} is not writable by this user")
    return ("storage", True, f"{d} is writable")


def _templates(cfg: Config) -> tuple[str, bool, str]:
    from .render import TEMPLATE_NAMES, Renderer

    try:
        Renderer(cfg.templates.dir).check()
    except Exception as e:  # noqa: BLE001
        return ("templates", False, str(e))
    where = cfg.templates.dir or "built-in"
    return ("templates", True, f"{len(TEMPLATE_NAMES)} templates ({where})")


def _imap(cfg: Config) -> tuple[str, bool, str]:
    from imapclient import IMAPClient

    imap = cfg.imap
    assert imap is not None
    try:
        password = imap.password.resolve()
    except ConfigError as e:
        return ("imap", False, str(e))
    where = f"{imap.host}:{imap.port} ({imap.security})"
    try:
        client = IMAPClient(imap.host, port=imap.port, ssl=imap.security == "ssl",
                            ssl_context=ssl.create_default_context(), timeout=15)
        if imap.security == "starttls":
            client.starttls(ssl.create_default_context())
    except OSError as e:
        return ("imap", False, f"cannot connect to {where}: {e}")
    try:
        client.login(imap.username, password or "")
    except Exception:  # noqa: BLE001 - never echo the server's reply: it may contain secrets
        return ("imap", False, f"login as {imap.username} refused by {where}")
    try:
        info = client.select_folder(imap.folder, readonly=True)
    except Exception as e:  # noqa: BLE001
        return ("imap", False, f"logged in, but folder {imap.folder!r} cannot be opened: {e}")
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001
            pass
    return ("imap", True, f"logged in to {where}; {imap.folder} has "
                          f"{info.get(b'EXISTS', '?')} message(s)")


def _smtp(cfg: Config) -> tuple[str, bool, str]:
    smtp = cfg.smtp
    assert smtp is not None
    where = f"{smtp.host}:{smtp.port} ({smtp.security})"
    try:
        password = smtp.password.resolve() if smtp.username else None
    except ConfigError as e:
        return ("smtp", False, str(e))
    try:
        if smtp.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=15,
                                                  context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(smtp.host, smtp.port, timeout=15)
            if smtp.security == "starttls":
                conn.starttls(context=ssl.create_default_context())
    except (OSError, smtplib.SMTPException) as e:
        return ("smtp", False, f"cannot connect to {where}: {e}")
    try:
        if smtp.username:
            try:
                conn.login(smtp.username, password or "")
            except smtplib.SMTPException:
                return ("smtp", False, f"login as {smtp.username} refused by {where}")
        return ("smtp", True, f"connected to {where}"
                + (f" and logged in as {smtp.username}" if smtp.username else ""))
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
