"""TLS for the IMAP and SMTP clients: one way to build the context, and plain-words hints.

Certificates are always checked (ssl.create_default_context); `ca_file` adds a private
CA for an in-house mail server instead of turning checks off. The hints exist because
the raw errors (`WRONG_VERSION_NUMBER`, a bare timeout) do not say the usual cause: the
port and the `security` setting do not match.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

TLS_PORTS = {993: "imap", 465: "smtp"}


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def hint(security: str, port: int, error: BaseException) -> str:
    """A sentence on the likely cause of a connection error, or '' when there is none."""
    text = str(error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return ("the server's certificate is not trusted: for a private CA set ca_file "
                "to its certificate file")
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        if security == "ssl":
            return (f"port {port} does not speak TLS at once: use security = \"starttls\" "
                    "(or the TLS port, 993 for IMAP, 465 for SMTP)")
        return "the server answered TLS with something else: check port and security"
    if isinstance(error, socket.timeout | TimeoutError) and security in ("starttls", "none") \
            and port in TLS_PORTS:
        return (f"port {port} expects TLS from the first byte: use security = \"ssl\"")
    if isinstance(error, ConnectionRefusedError):
        return "nothing listens on that port: check host and port"
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve: check host"
    return ""


def explain(security: str, port: int, error: BaseException) -> str:
    """The error, then its hint when there is one."""
    base = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    h = hint(security, port, error)
    return f"{base} ({h})" if h else base
