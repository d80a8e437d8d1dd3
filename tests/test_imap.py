"""The IMAP watcher against a real Dovecot: nothing lost, nothing marked, never stuck.

Each test gets its own Dovecot user. A small in-memory ledger stands in for the store:
it remembers (folder, UIDVALIDITY, UID) like the real one and can be told to fail.
"""

from __future__ import annotations

import logging
import random
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest

from cocmail.inbox.imap import Fetched, ImapWatcher, backoff_delay
from testsupport.servers import Dovecot, FreezingProxy, ImapUser, SmtpSink, free_port, wait_until


def report(n: int, folder_hint: str = "") -> bytes:
    """A small report mail with CRLF line ends, as an IMAP server hands it back."""
    return (f"From: Reporter {n} <reporter{n}@example.net>\r\n"
            f"To: conduct@example.org\r\n"
            f"Subject: Report {n}{folder_hint}\r\n"
            f"Message-ID: <report-{n}-{random.getrandbits(32)}@example.net>\r\n"
            f"\r\n"
            f"Something happened at the venue ({n}).\r\n").encode()


class Ledger:
    """Stands in for the store: durable keys, batches seen, and failures on demand."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, int, int], bytes] = {}
        self.batches: list[list[int]] = []
        self.fail_next = 0
        self._cond = threading.Condition()

    def last_uid(self, folder: str, uidvalidity: int) -> int:
        with self._cond:
            return max((uid for f, v, uid in self.stored if (f, v) == (folder, uidvalidity)),
                       default=0)

    def accept(self, batch: list[Fetched]) -> None:
        with self._cond:
            self.batches.append([f.uid for f in batch])
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("database is locked")
            for f in batch:
                self.stored[(f.folder, f.uidvalidity, f.uid)] = f.raw
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.stored) >= n, timeout)

    def subjects(self) -> list[str]:
        with self._cond:
            return [raw.split(b"Subject: ")[1].split(b"\r\n")[0].decode()
                    for _, raw in sorted(self.stored.items())]


@dataclass
class Running:
    watcher: ImapWatcher
    ledger: Ledger
    stop: threading.Event
    thread: threading.Thread = field(init=False)

    def start(self) -> Running:
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.thread.start()
        return self

    def wait_idle(self, timeout: float = 5.0) -> None:
        assert self.watcher.connected.wait(timeout), "the watcher never entered IDLE"


def make_watcher(dovecot: Dovecot, user: ImapUser, ledger: Ledger, *, password: str | None = None,
                 stop: threading.Event | None = None, cfg: dict[str, Any] | None = None,
                 **kw: Any) -> ImapWatcher:
    kw.setdefault("max_backoff", 0.3)
    return ImapWatcher(dovecot.imap_config(user.name, **(cfg or {})),
                       user.password if password is None else password,
                       last_uid=ledger.last_uid, accept=ledger.accept,
                       stop=stop or threading.Event(), log=logging.getLogger("cocmail.imap"),
                       **kw)


@pytest.fixture
def watch(dovecot: Dovecot) -> Iterator[Callable[..., Running]]:
    """Start watchers in threads; stop them all at the end of the test."""
    running: list[Running] = []

    def start(user: ImapUser, ledger: Ledger | None = None, **kw: Any) -> Running:
        ledger, stop = ledger or Ledger(), threading.Event()
        r = Running(make_watcher(dovecot, user, ledger, stop=stop, **kw), ledger, stop).start()
        running.append(r)
        return r

    yield start
    for r in running:
        r.stop.set()
    for r in running:
        r.thread.join(5)


def seen_flags(dovecot: Dovecot, user: ImapUser, folder: str = "INBOX") -> list[int]:
    with dovecot.connect(user.name) as client:
        client.select_folder(folder, readonly=True)
        flags = client.get_flags(client.search(["ALL"]))
    return [uid for uid, f in flags.items() if b"\\Seen" in f]


# ---------------------------------------------------------------- catching up

def test_backlog_is_fetched_in_uid_order_batches_and_left_unread(dovecot, imap_user):
    sent = [report(n) for n in range(250)]
    dovecot.append(imap_user.name, sent)
    ledger = Ledger()
    watcher = make_watcher(dovecot, imap_user, ledger, cfg={"batch_size": 100})
    try:
        assert watcher.catch_up() == 250
        assert [len(b) for b in ledger.batches] == [100, 100, 50]
        assert sum(ledger.batches, []) == list(range(1, 251))
        assert [raw for _, raw in sorted(ledger.stored.items())] == sent
        # nothing left to do: the highest UID that `UID 251:*` still matches is not offered
        assert watcher.catch_up() == 0
        assert len(ledger.batches) == 3
    finally:
        watcher.close()
    assert seen_flags(dovecot, imap_user) == []


def test_catch_up_starts_after_what_the_store_already_holds(dovecot, imap_user):
    dovecot.append(imap_user.name, [report(n) for n in range(5)])
    ledger = Ledger()
    watcher = make_watcher(dovecot, imap_user, ledger)
    try:
        watcher.catch_up()
        uidvalidity = next(iter(ledger.stored))[1]
        for uid in (4, 5):
            del ledger.stored[("INBOX", uidvalidity, uid)]
        assert watcher.catch_up() == 2
        assert ledger.batches[-1] == [4, 5]
    finally:
        watcher.close()


def test_failed_accept_is_not_skipped_and_retried(watch, dovecot, imap_user, caplog):
    dovecot.append(imap_user.name, [report(n) for n in range(3)])
    ledger = Ledger()
    ledger.fail_next = 2  # the store refuses twice (say, the database is locked)
    r = watch(imap_user, ledger=ledger)
    assert ledger.wait_for(3, timeout=10), ledger.batches
    assert ledger.batches == [[1, 2, 3]] * 3
    assert r.thread.is_alive()
    assert caplog.text.count("database is locked") >= 2


def test_new_uidvalidity_means_the_folder_is_fetched_again_from_uid_1(watch, dovecot, imap_user):
    dovecot.append(imap_user.name, [report(n, " (old)") for n in range(3)], folder="Reports")
    r = watch(imap_user, cfg={"folder": "Reports"})
    assert r.ledger.wait_for(3)
    r.wait_idle()
    with dovecot.connect(imap_user.name) as client:
        client.delete_folder("Reports")
        client.create_folder("Reports")
        client.append("Reports", report(1, " (new)"))
        client.append("Reports", report(2, " (new)"))
    assert r.ledger.wait_for(5, timeout=10)
    keys = sorted(r.ledger.stored)
    validities = {v for _, v, _ in keys}
    assert len(validities) == 2
    new = max(validities)
    assert [uid for _, v, uid in keys if v == new] == [1, 2]


# ---------------------------------------------------------------- watching

def test_mail_appended_during_idle_arrives_within_a_second(watch, dovecot, imap_user):
    r = watch(imap_user)
    r.wait_idle()
    for n in range(1, 4):  # Dovecot itself waits ~0.5 s before it tells IDLE clients
        t0 = time.monotonic()
        dovecot.append(imap_user.name, report(n))
        assert r.ledger.wait_for(n, timeout=1.0), f"message {n} not fetched within 1 s"
        assert time.monotonic() - t0 < 1.0
    assert r.watcher.connections == 1, "a healthy connection should never be replaced"
    assert seen_flags(dovecot, imap_user) == []


def test_dovecot_restart_loses_nothing(watch, dovecot, imap_user):
    r = watch(imap_user)
    r.wait_idle()
    dovecot.append(imap_user.name, report(1))
    assert r.ledger.wait_for(1)
    dovecot.restart()
    dovecot.append(imap_user.name, report(2))  # lands while the watcher is still away
    dovecot.append(imap_user.name, report(3))
    assert r.ledger.wait_for(3, timeout=10)
    assert r.ledger.subjects() == ["Report 1", "Report 2", "Report 3"]
    assert r.watcher.connections >= 2


def test_killed_imap_process_is_noticed_without_waiting_for_keepalive(watch, dovecot, imap_user):
    r = watch(imap_user, keepalive_seconds=60)
    r.wait_idle()
    assert dovecot.kill_imap_processes() >= 1
    dovecot.append(imap_user.name, report(1))
    assert r.ledger.wait_for(1, timeout=5), "a dead IDLE connection went unnoticed"
    assert r.watcher.connections == 2


def test_silent_link_is_detected_by_keepalive(dovecot, imap_user):
    proxy = FreezingProxy(dovecot.host, dovecot.port)
    ledger, stop = Ledger(), threading.Event()
    watcher = make_watcher(dovecot, imap_user, ledger, stop=stop,
                           cfg={"port": proxy.port}, keepalive_seconds=1, io_timeout=1)
    r = Running(watcher, ledger, stop).start()
    try:
        r.wait_idle()
        proxy.freeze()  # no FIN, no RST: only a keepalive that times out can tell
        dovecot.append(imap_user.name, report(1))
        assert ledger.wait_for(1, timeout=8), "a silent link went unnoticed"
        assert proxy.connections == 2
    finally:
        stop.set()
        r.thread.join(5)
        proxy.close()


def test_server_without_idle_is_polled(dovecot):
    with Dovecot(extra_conf="imap_capability = IMAP4rev1 LITERAL+ UIDPLUS\n") as plain:
        user = plain.add_user()
        with plain.connect(user.name) as client:
            assert not client.has_capability("IDLE")
        ledger, stop = Ledger(), threading.Event()
        r = Running(make_watcher(plain, user, ledger, stop=stop, keepalive_seconds=0.3),
                    ledger, stop).start()
        try:
            r.wait_idle()
            plain.append(user.name, report(1))
            assert ledger.wait_for(1, timeout=3)
            assert r.watcher.connections == 1
        finally:
            stop.set()
            r.thread.join(5)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_certificates_are_checked(dovecot, monkeypatch, security):
    with Dovecot(tls=True) as secure:
        user = secure.add_user()
        secure.append(user.name, report(1))
        port = secure.port if security == "starttls" else secure.tls_port
        ledger = Ledger()
        watcher = make_watcher(secure, user, ledger, cfg={"security": security, "port": port})
        with pytest.raises(ssl.SSLCertVerificationError):
            watcher.catch_up()  # a self-signed certificate nobody vouched for
        monkeypatch.setenv("SSL_CERT_FILE", str(secure.cert_path))
        try:
            assert watcher.catch_up() == 1  # the same certificate, now trusted
        finally:
            watcher.close()


def test_stop_ends_run_promptly(watch, dovecot, imap_user):
    r = watch(imap_user)
    r.wait_idle()
    t0 = time.monotonic()
    r.stop.set()
    r.thread.join(2)
    assert not r.thread.is_alive()
    assert time.monotonic() - t0 < 2
    assert not r.watcher.connected.is_set()


# ---------------------------------------------------------------- failing servers

def test_refused_login_is_retried_without_crashing_or_logging_the_password(
        watch, dovecot, imap_user, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-" + imap_user.password
    r = watch(imap_user, password=wrong)
    assert wait_until(lambda: caplog.text.count("refused") >= 2, 5)
    assert r.thread.is_alive() and not r.watcher.connected.is_set()
    dovecot.append(imap_user.name, report(1))  # mail keeps coming meanwhile
    # the operator fixes the password on the server: the watcher gets in on its own
    dovecot.add_user(imap_user.name, wrong)
    assert r.ledger.wait_for(1, timeout=5)
    assert wrong not in caplog.text and imap_user.password not in caplog.text


def test_unreachable_server_is_retried_with_growing_delays_and_stop_still_works(caplog):
    from cocmail.config import ImapConfig

    caplog.set_level(logging.INFO, logger="cocmail.imap")
    stop, ledger = threading.Event(), Ledger()
    watcher = ImapWatcher(ImapConfig(host="127.0.0.1", port=free_port(), security="none"),
                          None, last_uid=ledger.last_uid, accept=ledger.accept, stop=stop,
                          max_backoff=60)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    time.sleep(2.5)  # without backoff this would be thousands of attempts
    attempts = caplog.text.count("IMAP connection to")
    assert 2 <= attempts <= 3
    stop.set()  # in the middle of a backoff of up to 2-4 s
    thread.join(1.5)
    assert not thread.is_alive()


def test_backoff_doubles_is_capped_and_jittered():
    rng = random.Random(7)
    ceilings = [1, 2, 4, 8, 16, 30, 30, 30]
    for failures, ceiling in enumerate(ceilings, 1):
        samples = [backoff_delay(failures, 30, rng) for _ in range(50)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1, "no jitter: every daemon would retry in lock-step"
    assert backoff_delay(10_000, 60, rng) <= 60


# ---------------------------------------------------------------- the SMTP sink itself

def _send(sink: SmtpSink, rcpts: list[str]) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", ", ".join(rcpts), "hi"
    msg.set_content("hello\n")
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
        smtp.send_message(msg, to_addrs=rcpts)


def test_smtp_sink_records_mail_and_plays_scripted_faults(smtp_sink):
    smtp_sink.fail_next("rcpt", "550 5.1.1 no such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(smtp_sink, ["x@example.org"])
    smtp_sink.fail_next("data", "451 4.3.0 try again later")
    with pytest.raises(smtplib.SMTPDataError) as err:
        _send(smtp_sink, ["x@example.org"])
    assert err.value.smtp_code == 451
    smtp_sink.drop_next_data()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        _send(smtp_sink, ["x@example.org"])
    assert smtp_sink.messages == []
    _send(smtp_sink, ["x@example.org", "y@example.org"])
    [got] = smtp_sink.wait_for(1, timeout=2)
    assert got.rcpt_tos == ("x@example.org", "y@example.org")
    assert got.message["Subject"] == "hi" and b"hello" in got.raw
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for(2, timeout=0.1)
