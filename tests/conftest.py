"""Fixtures for real mail servers: one Dovecot per session, a user and an SMTP sink per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers import DOVECOT_BINARY, Dovecot, ImapUser, SmtpSink


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A running Dovecot on 127.0.0.1; tests isolate themselves with their own user."""
    if not os.path.exists(DOVECOT_BINARY):
        pytest.skip(f"{DOVECOT_BINARY} not found: install Debian's dovecot-imapd to run "
                    "the IMAP tests")
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def imap_user(dovecot: Dovecot) -> ImapUser:
    """A fresh user with a random name and password, so no test sees another's mail."""
    if dovecot.proc is None:  # an earlier test stopped it and failed before restarting
        dovecot.start()
    return dovecot.add_user()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server that accepts everything unless told to fail; see SmtpSink."""
    with SmtpSink() as sink:
        yield sink
