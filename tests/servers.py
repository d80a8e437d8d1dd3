"""Moved to testsupport/servers.py; these names stay importable from here for code written
before the move. New code imports testsupport.servers."""

from testsupport.servers import (
    DOVECOT_BINARY,
    Dovecot,
    FreezingProxy,
    ImapUser,
    Received,
    SmtpSink,
    TokenAuthority,
    _SinkHandler,
    free_port,
    self_signed_cert,
    wait_until,
)

__all__ = ["DOVECOT_BINARY", "Dovecot", "FreezingProxy", "ImapUser", "Received", "SmtpSink",
           "TokenAuthority", "_SinkHandler", "free_port", "self_signed_cert", "wait_until"]
