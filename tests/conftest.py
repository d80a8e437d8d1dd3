"""The fixtures every test file shares, defined once: real mail servers (one Dovecot per
session, a user and an SMTP sink per test) and opened installations (`app`, `desk`).

The machinery lives in testsupport/ (no pytest there), which the bench scripts use too.
A test file that needs a different installation overrides `app` or `desk` in a line or
two with `make_app(...)` / `make_desk(...)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from cocmail.app import App
from testsupport.apps import Desk, opened_app
from testsupport.servers import DOVECOT_BINARY, Dovecot, ImapUser, SmtpSink


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


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """`make_app(extra="", *, clock=None, smtp="", imap="", ends="")`: an App on
    testsupport.helpers.make_config in this test's tmp_path, closed after the test."""
    with ExitStack() as stack:
        def make(extra: str = "", **kw: Any) -> App:
            return stack.enter_context(opened_app(tmp_path, extra, **kw))
        yield make


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    """The tests' installation: two staff (Ana, a lead, and Ben), mail to the spool."""
    return make_app()


@pytest.fixture
def make_desk(tmp_path: Path) -> Iterator[Callable[..., Desk]]:
    """`make_desk(extra="", clock=None, ends="", timezone="")`: a Desk (testsupport.apps)
    in this test's tmp_path, closed after the test."""
    desks: list[Desk] = []

    def make(*args: Any, **kw: Any) -> Desk:
        desks.append(Desk(tmp_path, *args, **kw))
        return desks[-1]

    yield make
    for d in desks:
        d.close()


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    """An installation driven only through mail, on a frozen clock (see Desk)."""
    return make_desk()
