"""Day two (issue 22): running cocmail for a while, through the real `cocmail` command.

Nothing is lost to a fixable mistake (a password the sending process cannot see), and
failed mail can be sent again; a reload, an upgrade, a full disk each say what they do.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cocmail.app import open_app
from cocmail.clock import iso
from cocmail.config import Config, load_config
from cocmail.keyring import keyring_for
from cocmail.store import Store
from cocmail.store import inbound as inbound_db
from testsupport.helpers import make_config, own_names, spool
from testsupport.process import cocmail, cocmail_argv, cocmail_env
from testsupport.servers import Dovecot, ImapUser, SmtpSink, free_port, wait_until

USER, PASSWORD = "conduct@example.org", "Xy$$9z-not-a-shell-variable"


def report(n: int) -> bytes:
    return (f"From: Reporter {n} <reporter{n}@attendee.example>\r\n"
            f"To: conduct@example.org\r\nSubject: Report {n}\r\n"
            f"Message-ID: <daytwo-{n}@attendee.example>\r\n"
            f"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n"
            f"Report number {n}: someone shouted at me at the party.\r\n").encode()


@pytest.fixture
def login_sink() -> object:
    with SmtpSink(login=(USER, PASSWORD)) as sink:
        yield sink


def smtp_with_password_env(sink: SmtpSink) -> str:
    return (sink.smtp_toml() + f'username = "{USER}"\n'
            'password_env = "COCMAIL_SMTP_PASSWORD"\n')


def outbox(cfg: Path) -> list[tuple[int, str, str, str]]:
    """(id, kind, state, rest of the line) of each row `cocmail outbox list` shows."""
    out = cocmail(cfg, "outbox", "list")
    assert out.code == 0, out.err
    rows = []
    for line in out.out.splitlines():
        m = re.match(r"\s*(\d+)\s+\S+\s+\S+\s+(\S+)\s+(\S+)\s*(.*)", line)
        if m:
            rows.append((int(m[1]), m[2], m[3], m[4]))
    return rows


# ------------------------------------------------------------------ 1. nothing lost
def test_a_password_the_sender_cannot_see_leaves_mail_waiting_not_failed(
        tmp_path: Path, login_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ingest` run by an MTA without the service's environment: the acknowledgement
    waits (pending, the cause shown), no mail is failed, staff get no failure notice;
    once the password is there, `outbox retry ID` sends it."""
    make_config(tmp_path, smtp=smtp_with_password_env(login_sink))
    cfg = tmp_path / "cocmail.toml"
    monkeypatch.delenv("COCMAIL_SMTP_PASSWORD", raising=False)

    stored = cocmail(cfg, "ingest", "-", stdin=report(1))
    assert stored.code == 0, stored.err
    rows = outbox(cfg)
    assert rows, "the report should have queued mail"
    assert {state for _, _, state, _ in rows} == {"pending"}, rows
    assert not [r for r in rows if r[1] == "delivery_failed"]
    ack = next(r for r in rows if r[1] == "ack")
    assert "config: password_env: environment variable COCMAIL_SMTP_PASSWORD is not set" \
        in ack[3]
    assert login_sink.messages == []

    monkeypatch.setenv("COCMAIL_SMTP_PASSWORD", PASSWORD)
    retried = cocmail(cfg, "outbox", "retry", str(ack[0]))
    assert retried.code == 0, retried.err
    assert "retried 1 mail(s)" in retried.err
    assert [r for r in outbox(cfg) if r[0] == ack[0]][0][2] == "sent"
    assert any("reporter1@attendee.example" in m.rcpt_tos for m in login_sink.messages)


def test_the_daemon_sends_mail_that_waited_for_a_config_fix_at_once(
        tmp_path: Path, login_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the fix, a (re)started daemon does not wait out the backoff: every mail that
    waited for the password goes in its first pass."""
    make_config(tmp_path, smtp=smtp_with_password_env(login_sink))
    cfg = tmp_path / "cocmail.toml"
    monkeypatch.delenv("COCMAIL_SMTP_PASSWORD", raising=False)
    for n in (1, 2):
        assert cocmail(cfg, "ingest", "-", stdin=report(n)).code == 0
    waiting = [r for r in outbox(cfg) if r[2] == "pending"]
    assert len(waiting) >= 2

    monkeypatch.setenv("COCMAIL_SMTP_PASSWORD", PASSWORD)
    run = cocmail(cfg, "run", "--once")
    assert run.code == 0, run.err
    assert {state for _, _, state, _ in outbox(cfg)} == {"sent"}
    assert "waited for a config fix are due again" in run.err


def test_outbox_retry_all_failed_sends_refused_mail_again(
        tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """A 5xx fails a mail (and staff are told); once the cause is fixed on the server,
    `outbox retry --all-failed` sends it again, under the same Message-ID."""
    make_config(tmp_path, smtp=smtp_sink.smtp_toml())
    cfg = tmp_path / "cocmail.toml"
    smtp_sink.fail_next("rcpt", "550 5.1.1 mailbox unavailable")
    assert cocmail(cfg, "ingest", "-", stdin=report(1)).code == 0
    failed = [r for r in outbox(cfg) if r[2] == "failed"]
    assert [r[1] for r in failed] == ["ack"]
    notices = [m for m in smtp_sink.messages if "reporter1@attendee.example" not in m.rcpt_tos]
    assert notices, "staff should have been told the acknowledgement failed"
    first_tries = len(smtp_sink.messages)

    again = cocmail(cfg, "outbox", "retry", "--all-failed")
    assert again.code == 0, again.err
    assert [r for r in outbox(cfg) if r[0] == failed[0][0]][0][2] == "sent"
    (ack,) = [m for m in smtp_sink.messages[first_tries:]
              if "reporter1@attendee.example" in m.rcpt_tos]
    assert ack.message["Message-ID"]

    nothing = cocmail(cfg, "outbox", "retry", "--all-failed")
    assert nothing.code == 0 and "no failed mail" in nothing.err
    wrong = cocmail(cfg, "outbox", "retry", "999")
    assert wrong.code == 1 and "no failed or waiting mail 999" in wrong.err
    neither = cocmail(cfg, "outbox", "retry")
    assert neither.code != 0 and "--all-failed" in neither.err


# ------------------------------------------------------------------ 2. check
def test_check_fails_on_example_placeholders_trusted_authserv_id_first(tmp_path: Path) -> None:
    """The example's `mx.example.org` would let anyone who writes that header run staff
    commands: check fails on it before anything else, and on every other example.org
    name that matters (inbox, servers, staff, appeal contact, [event] texts)."""
    make_config(tmp_path, '[appeal]\ncontact = "board@example.org"\n')
    cfg = tmp_path / "cocmail.toml"
    cfg.write_text(cfg.read_text().replace(
        'timezone = "Europe/Berlin"',
        'timezone = "Europe/Berlin"\nreporting_channels = "write to conduct@example.org"'))
    out = cocmail(cfg, "check")
    assert out.code == 1, out.out + out.err
    fails = [line for line in out.out.splitlines() if line.startswith("FAIL")]
    assert fails[0].startswith("FAIL  placeholder: security.trusted_authserv_ids[0] = "
                               "'mx.example.org'"), fails
    assert "run staff commands" in fails[0]
    for key in ("inbox.address", "staff[0].email", "staff[1].email", "appeal.contact",
                "event.reporting_channels"):
        assert any(f"placeholder: {key} = " in f for f in fails), (key, fails)

    # The team's own names: no placeholder left, nothing fails.
    text = cfg.read_text().replace("example.org", "djangocon.test")
    cfg.write_text(text)
    clean = cocmail(cfg, "check")
    assert clean.code == 0, clean.out
    assert "placeholder" not in clean.out


def test_check_on_the_shipped_example_with_every_example_org_replaced(
        tmp_path: Path) -> None:
    """A team copies config.example.toml and replaces example.org with its own domain
    everywhere: the example's staff alias (a gmail.com address someone else may own)
    is still there, and whoever owns it would count as Ana. check fails on it; with the
    team's own alias it passes. ([imap]/[smtp] are dropped: no servers here.)"""
    root = Path(__file__).resolve().parent.parent
    text = (root / "config.example.toml").read_text().replace("example.org", "pycon.test")
    for section in ("imap", "smtp", "oauth2"):
        text = re.sub(rf"(?ms)^\[{section}\].*?(?=^\[)", "", text)
    text = text.replace('dir = "cocmail-data"', f'dir = "{tmp_path / "data"}"')
    cfg = tmp_path / "cocmail.toml"
    cfg.write_text(text)
    out = cocmail(cfg, "check")
    assert out.code == 1, out.out + out.err
    fails = [line for line in out.out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and "staff[0].aliases[0] = 'ana.lima@gmail.com'" in fails[0], fails
    assert "would count as that staff member" in fails[0]

    cfg.write_text(text.replace("ana.lima@gmail.com", "ana@lima.family.test"))
    clean = cocmail(cfg, "check")
    assert clean.code == 0, clean.out + clean.err
    # The example's event is a real one: a warning (DjangoCon Europe may use it as is).
    assert ("ok    event: warning: [event] is config.example.toml's ('DjangoCon Europe 2027',"
            " ending 2027-06-05)") in clean.out
    cfg.write_text(text.replace("ana.lima@gmail.com", "ana@lima.family.test")
                   .replace("DjangoCon Europe 2027", "PyCon Testland 2027"))
    assert "event: warning" not in cocmail(cfg, "check").out


def test_check_says_the_authserv_id_is_unconfirmed_because_imap_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an IMAP server that cannot be reached, check read no mailbox: it must not
    say that the mailbox's messages carry no Authentication-Results."""
    port = free_port()  # nothing listens there
    make_config(tmp_path, imap=(f'[imap]\nhost = "127.0.0.1"\nport = {port}\n'
                                'security = "none"\nusername = "conduct@conference.test"\n'
                                'password_env = "COCMAIL_IMAP_PASSWORD"\n'))
    cfg = own_names(tmp_path / "cocmail.toml")  # trusts mx.conference.test
    monkeypatch.setenv("COCMAIL_IMAP_PASSWORD", "secret")
    out = cocmail(cfg, "check")
    assert out.code == 1
    assert "FAIL  imap: cannot connect to 127.0.0.1" in out.out, out.out
    assert ("authserv-id: warning: the mailbox could not be read (see imap), so the trusted"
            " authserv-ids mx.conference.test cannot be confirmed yet") in out.out, out.out
    assert "no recent message" not in out.out


def test_check_fails_on_the_default_event_name(tmp_path: Path) -> None:
    """An event left unnamed would put "Example Conference 2027" in every mail and on
    the published transparency page."""
    cfg = tmp_path / "cocmail.toml"
    cfg.write_text('[inbox]\naddress = "conduct@djangocon.test"\n\n'
                   '[[staff]]\nname = "Ana"\nemail = "ana@djangocon.test"\nlead = true\n')
    out = cocmail(cfg, "check")
    assert out.code == 1
    assert "FAIL  placeholder: event.name is 'Example Conference 2027', the default" in out.out


ENV_FILE = r"""# secrets.env, as systemd reads it
COCMAIL_SMTP_PASSWORD=Xy$$9z
  ; another comment
SPACED =  two words here  # not a comment
SINGLE='a $HOME \n b'
DOUBLE="q\"uote \$x \k"
CONTINUED=one\
two
not an assignment
1BAD=skipped
"""


def test_env_file_is_read_as_systemd_reads_it() -> None:
    from cocmail.envfile import parse_env_file

    assert parse_env_file(ENV_FILE)[0] == {
        "COCMAIL_SMTP_PASSWORD": "Xy$$9z",
        "SPACED": "two words here  # not a comment",
        "SINGLE": "a $HOME \\n b",
        "DOUBLE": 'q"uote $x \\k',
        "CONTINUED": "onetwo",
    }
    assert parse_env_file("A='x'y\nB=it's\r\nC=\"multi\nline\"")[0] == {
        "A": "xy", "B": "it's", "C": "multi\nline"}


def test_check_env_file_logs_in_with_a_password_a_shell_would_expand(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`check --env-file secrets.env` sees the password the service will get: `$$` stays
    `$$` (a shell's `. secrets.env` made it its pid and the login failed)."""
    user = "conduct@conference.test"
    with SmtpSink(login=(user, "Xy$$9z")) as sink:
        make_config(tmp_path, smtp=smtp_with_password_env(sink))
        cfg = own_names(tmp_path / "cocmail.toml")
        secrets = tmp_path / "secrets.env"
        secrets.write_text(ENV_FILE)
        monkeypatch.delenv("COCMAIL_SMTP_PASSWORD", raising=False)

        without = cocmail(cfg, "check")
        assert without.code == 1
        assert "COCMAIL_SMTP_PASSWORD is not set" in without.out
        out = cocmail(cfg, "check", "--env-file", str(secrets))
        assert out.code == 0, out.out + out.err
        assert f"logged in as {user}" in out.out

    missing = cocmail(cfg, "check", "--env-file", str(tmp_path / "nope.env"))
    assert missing.code == 1 and "nope.env: cannot read it" in missing.err


def test_check_env_file_names_the_lines_systemd_ignores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secrets.env written for a shell (`export NAME=...`) or with a comment after a
    value: systemd ignores the first and keeps the comment in the password. `check` says
    which line and why, and never shows a value."""
    user = "conduct@conference.test"
    monkeypatch.delenv("COCMAIL_SMTP_PASSWORD", raising=False)
    with SmtpSink(login=(user, "Xy$$9z")) as sink:
        make_config(tmp_path, smtp=smtp_with_password_env(sink))
        cfg = own_names(tmp_path / "cocmail.toml")
        secrets = tmp_path / "secrets.env"
        secrets.write_text("# from the old server\nexport COCMAIL_SMTP_PASSWORD=Xy$$9z\n"
                           "OLD_IMAP\n")
        exported = cocmail(cfg, "check", "--env-file", str(secrets))
        assert exported.code == 1
        assert "COCMAIL_SMTP_PASSWORD is not set" in exported.out
        assert (f"env file: warning: {secrets}, line 2: systemd ignores 'export"
                f" COCMAIL_SMTP_PASSWORD=...'") in exported.out
        assert "write COCMAIL_SMTP_PASSWORD=... without 'export'" in exported.out
        assert "line 3: systemd ignores this line: it has no '='" in exported.out

        secrets.write_text('COCMAIL_SMTP_PASSWORD="Xy$$9z"   # the SMTP one\n')
        commented = cocmail(cfg, "check", "--env-file", str(secrets))
        assert commented.code == 1  # the login is refused: the comment is in the password
        assert ("line 1: systemd keeps the '# ...' after COCMAIL_SMTP_PASSWORD= as part of"
                " the value") in commented.out

        secrets.write_text("COCMAIL_SMTP_PASSWORD=Xy$$9z\n")
        clean = cocmail(cfg, "check", "--env-file", str(secrets))
        assert clean.code == 0 and "env file" not in clean.out, clean.out
    for out in (exported, commented, clean):
        assert "Xy$$9z" not in out.out + out.err


# ------------------------------------------------------------------ 3. reload
class RunningDaemon:
    """`cocmail run` as a process, with its log, listening on its own port."""

    def __init__(self, cfg: Path, port: int):
        self.cfg, self.port = cfg, port
        self.log = cfg.parent / "run.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cocmail_argv(cfg, "run"), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         cwd=cfg.parent, env=cocmail_env())
        assert wait_until(lambda: self.proc.poll() is not None or self.listening(), 20,
                          interval=0.05) and self.proc.poll() is None, self.text()

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def send(self, n: int) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as smtp:
            smtp.sendmail(f"reporter{n}@attendee.example", ["conduct@example.org"], report(n))

    def signal(self, sig: int, expect: str, count: int = 1) -> None:
        self.proc.send_signal(sig)
        assert wait_until(lambda: self.text().count(expect) >= count, 20, interval=0.05), \
            self.text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=20)


def staff_told(cfg: Config, case: int) -> set[str]:
    """Addresses the new-case notification of case `case` went to, from the spool."""
    out = set()
    for msg in spool(cfg):
        if f"#{case}]" in str(msg["Subject"]) and "reporter" not in str(msg["To"]):
            out.add(str(msg["To"]).rsplit("<", 1)[-1].rstrip(">"))
    return out


NEW_MEMBER = '\n[[staff]]\nname = "Chidi Eze"\nemail = "chidi@example.org"\n'


def test_sighup_rereads_staff_and_refuses_a_broken_config(tmp_path: Path) -> None:
    """A member added to the config gets the next case's mail after `kill -HUP` (what
    `systemctl reload cocmail` sends), without a restart; a broken config is refused
    with one log line, no traceback, and the daemon goes on with the running one."""
    port = free_port()
    make_config(tmp_path, f'[listen]\nhost = "127.0.0.1"\nport = {port}\n')
    cfg = tmp_path / "cocmail.toml"
    loaded = load_config(cfg)
    daemon = RunningDaemon(cfg, port)
    try:
        daemon.send(1)
        assert wait_until(lambda: len(staff_told(loaded, 1)) == 2, 20), daemon.text()
        assert "chidi@example.org" not in staff_told(loaded, 1)

        good = cfg.read_text() + NEW_MEMBER
        cfg.write_text(good)
        daemon.signal(signal.SIGHUP, "config reloaded")
        assert "3 staff member(s)" in daemon.text()
        daemon.send(2)
        assert wait_until(lambda: "chidi@example.org" in staff_told(loaded, 2), 20), \
            daemon.text()

        cfg.write_text(good + '\n[[staff]]\nname = "Dana"\nemail = "not an address"\n')
        daemon.signal(signal.SIGHUP, "reload refused")
        refused = [line for line in daemon.text().splitlines() if "reload refused" in line]
        assert len(refused) == 1 and "staff" in refused[0], refused
        assert "Traceback" not in daemon.text()
        assert daemon.proc.poll() is None
        daemon.send(3)
        assert wait_until(lambda: len(staff_told(loaded, 3)) == 3, 20), daemon.text()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()


def test_a_reload_while_the_daemon_starts_does_not_end_it(tmp_path: Path) -> None:
    """`systemctl reload cocmail` right after a start (the unit is Type=exec: systemd
    allows it at once): the SIGHUP came before the daemon's handler and ended it
    ("Hangup"), which Restart=on-failure does not restart. Now the reload is kept and
    done once the daemon is up."""
    port = free_port()
    make_config(tmp_path, f'[listen]\nhost = "127.0.0.1"\nport = {port}\n')
    cfg = tmp_path / "cocmail.toml"
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cocmail_argv(cfg, "run"), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
                                env=cocmail_env())
    try:
        # As soon as it says it is starting: the config read, the database not opened.
        assert wait_until(lambda: proc.poll() is not None or "starting:" in log.read_text(),
                          20, interval=0.002), log.read_text()
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: proc.poll() is not None
                          or "config reloaded from" in log.read_text(), 20,
                          interval=0.05), log.read_text()
        assert proc.poll() is None, f"the daemon ended ({proc.returncode}): {log.read_text()}"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        if proc.poll() is None:
            proc.terminate()
        assert proc.wait(timeout=20) == 0, log.read_text()


def test_sighup_with_a_fixed_password_sends_the_mail_that_waited(
        tmp_path: Path, login_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon cannot log in (password_env unset): acknowledgements wait. The admin
    puts the password in a file and reloads: the courier reads the new [smtp], and the
    mail that waited goes at once, not after its backoff."""
    monkeypatch.delenv("COCMAIL_SMTP_PASSWORD", raising=False)
    port = free_port()
    make_config(tmp_path, f'[listen]\nhost = "127.0.0.1"\nport = {port}\n',
                smtp=smtp_with_password_env(login_sink))
    cfg = tmp_path / "cocmail.toml"
    daemon = RunningDaemon(cfg, port)
    try:
        daemon.send(1)
        assert wait_until(lambda: "COCMAIL_SMTP_PASSWORD is not set" in daemon.text(), 20), \
            daemon.text()
        assert login_sink.messages == []
        (tmp_path / "smtp-password").write_text(PASSWORD + "\n")
        cfg.write_text(cfg.read_text().replace('password_env = "COCMAIL_SMTP_PASSWORD"',
                                               'password_file = "smtp-password"'))
        daemon.signal(signal.SIGHUP, "config reloaded")
        # The acknowledgement and both staff notifications, all waiting until now.
        assert wait_until(lambda: len(login_sink.messages) == 3, 10), daemon.text()
        assert any("reporter1@attendee.example" in m.rcpt_tos for m in login_sink.messages)
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()
    assert {state for _, _, state, _ in outbox(cfg)} == {"sent"}


# ------------------------------------------------------------------ 5. a full disk
@pytest.fixture
def small_disk(tmp_path: Path) -> object:
    """A 16 MB tmpfs for the storage dir (the test runs as root in CI; else skipped)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs",
                              str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(disk: Path, keep_free: int) -> list[Path]:
    """Fill `disk` up, then free about `keep_free` bytes; the filler files."""
    files: list[Path] = []
    chunk = b"\0" * 16384
    while True:
        path = disk / f"filler-{len(files)}"
        files.append(path)
        try:
            with path.open("wb") as f:
                f.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
            path.unlink(missing_ok=True)
            files.pop()
            break
    for _ in range(keep_free // len(chunk)):
        files.pop().unlink()
    return files


def big_report(n: int) -> bytes:
    line = f"Report {n}: what happened at the party, in the reporter's own long words.\r\n"
    return report(n).replace(b"\r\n\r\n", b"\r\n\r\n" + (line * 1200).encode(), 1)


def test_a_full_disk_is_named_in_one_line_and_backed_off(tmp_path: Path,
                                                          small_disk: Path) -> None:
    """The storage dir's filesystem fills up while reports wait to be processed: the
    worker and the courier say "no space left on the storage dir", back off (no line
    a second, no traceback, no "cannot rollback"), and once there is room again every
    report is processed and nothing is marked failed."""
    port = free_port()
    make_config(tmp_path, f'[listen]\nhost = "127.0.0.1"\nport = {port}\n')
    cfg = tmp_path / "cocmail.toml"
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "data"), str(small_disk / "data")))
    loaded = load_config(cfg)
    # Sealed as cocmail stores them (issue 27), with the storage dir's key store.
    loaded.storage.dir.mkdir(mode=0o700, parents=True)
    store = Store(loaded.storage.db_path, keyring=keyring_for(loaded.storage))
    for n in range(1, 7):  # waiting when the daemon starts, ~100 KB each
        store.write(inbound_db.add_inbound,
                    inbound_db.Arrived.of(big_report(n), "ingest", datetime.now(UTC)))
    store.close()
    filler = fill(small_disk, keep_free=240_000)

    daemon = RunningDaemon(cfg, port)
    try:
        assert wait_until(lambda: "no space left on the storage dir" in daemon.text(), 20), \
            daemon.text()
        started = daemon.text().count("\n")
        time.sleep(8)
        during = daemon.text().splitlines()[started:]
        assert len(during) <= 16, "\n".join(during)  # was a traceback a second
        text = daemon.text()
        assert "Traceback" not in text, text
        assert "cannot rollback" not in text, text
        assert "worker pass failed (no space left on the storage dir" in text, text

        for path in filler:
            path.unlink()
        cases = lambda: cocmail(cfg, "cases", "list", "--json").json()  # noqa: E731
        assert wait_until(lambda: len(cases()) == 6, 60, interval=0.5), daemon.text()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()
    assert "failed" not in {state for _, _, state, _ in outbox(cfg)}


def test_check_and_ingest_name_a_full_disk(tmp_path: Path, small_disk: Path) -> None:
    """check passed on a full storage dir ("writable"); the ingest Postfix runs said
    SQLite's "database or disk is full". check now fails naming it, and ingest's line
    (which Postfix logs and retries on, exit 75) says what the listener says."""
    make_config(tmp_path)
    cfg = own_names(tmp_path / "cocmail.toml")
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "data"), str(small_disk / "data")))
    assert cocmail(cfg, "ingest", "-", stdin=report(1)).code == 0
    assert cocmail(cfg, "check").code == 0
    filler = fill(small_disk, keep_free=0)

    full = cocmail(cfg, "check")
    assert full.code == 1
    assert f"FAIL  disk: no space left on the storage dir {small_disk / 'data'}" in full.out
    refused = cocmail(cfg, "ingest", "-", stdin=big_report(2))
    assert refused.code == 75, refused.err
    assert ("could not store the message (the MTA keeps it and retries): no space left on"
            " the storage dir") in refused.err

    for path in filler:
        path.unlink()
    assert cocmail(cfg, "ingest", "-", stdin=big_report(2)).code == 0
    assert len(cocmail(cfg, "cases", "list", "--json").json()) == 2


def test_a_full_disk_backs_the_courier_off_with_one_line(tmp_path: Path,
                                                          small_disk: Path) -> None:
    """The courier delivered a mail (the spool here lives on another filesystem) but
    cannot record it, the disk being full: one line naming the cause per attempt,
    backing off (was a traceback a second), and the mail is recorded once there is
    room (delivered again at most, under the same Message-ID, never lost)."""
    make_config(tmp_path)
    cfg = tmp_path / "cocmail.toml"
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "data"), str(small_disk / "data")))
    loaded = load_config(cfg)
    (tmp_path / "spool").mkdir()
    loaded.storage.dir.mkdir(mode=0o700)
    (loaded.storage.dir / "spool").symlink_to(tmp_path / "spool")
    app = open_app(loaded)  # a report processed, its mail not sent yet
    inbound = app.add_inbound(report(1), "ingest")
    assert inbound is not None and app.pipeline.process(inbound) == "done"
    due = datetime.now(UTC) + timedelta(seconds=4)
    with app.store.tx() as c:
        c.execute("UPDATE outbox SET next_attempt=?", (iso(due),))
    app.close()

    port = free_port()
    cfg.write_text(cfg.read_text() + f'\n[listen]\nhost = "127.0.0.1"\nport = {port}\n')
    daemon = RunningDaemon(cfg, port)
    try:
        filler = fill(small_disk, keep_free=0)
        assert wait_until(lambda: "delivery pass failed (no space left on the storage dir"
                          in daemon.text(), 20), daemon.text()
        time.sleep(7)
        text = daemon.text()
        failed = [ln for ln in text.splitlines() if "delivery pass failed" in ln]
        assert 2 <= len(failed) <= 5, failed  # 1 s, 2 s, 4 s...: not one a second
        assert "Traceback" not in text and "cannot rollback" not in text, text
        for path in filler:
            path.unlink()
        assert wait_until(lambda: {s for _, _, s, _ in outbox(cfg)} == {"sent"}, 30,
                          interval=0.5), daemon.text()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()


def test_check_fails_on_a_trusted_authserv_id_the_mailbox_does_not_carry(
        tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser) -> None:
    """Your own MX writes its Authentication-Results into every mail it delivers: a
    trusted authserv-id that none of the newest messages carries cannot be justified."""
    for n in (1, 2):
        dovecot.append(imap_user.name, report(n).replace(
            b"Subject:", b"Authentication-Results: mx.conference.test;\r\n"
                         b" dmarc=pass header.from=attendee.example\r\nSubject:", 1))

    def check_with(authserv_id: str) -> str:
        make_config(tmp_path, imap=dovecot.imap_toml(imap_user.name))
        cfg = own_names(tmp_path / "cocmail.toml")
        cfg.write_text(cfg.read_text().replace('["mx.conference.test"]',
                                               f'["{authserv_id}"]'))
        return cocmail(cfg, "check").out

    guessed = check_with("mx.guessed.test")
    assert "FAIL  authserv-id: trusted_authserv_ids mx.guessed.test: none of the 2 " \
           "newest message(s)" in guessed, guessed
    assert "they carry: mx.conference.test" in guessed
    right = check_with("mx.conference.test")
    assert "ok    authserv-id: mx.conference.test wrote the Authentication-Results" in right
    assert "FAIL" not in right, right


# ------------------------------------------------------------------ 4. restore, go back
def readme_block(containing: str) -> str:
    """The one ```sh block of README.md that contains `containing`."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if containing in b]
    assert len(blocks) == 1, blocks
    return blocks[0]


def test_restore_as_the_readme_says_after_a_crash_keeps_the_backup_intact(
        tmp_path: Path) -> None:
    """The README's restore, its commands run as written (paths moved, systemctl left
    out), over a storage dir a killed cocmail left with a -wal file: SQLite replayed
    that file onto the restored database ("database disk image is malformed", cases of
    the replaced database showing) when only cocmail.db was moved aside."""
    make_config(tmp_path)
    cfg = own_names(tmp_path / "cocmail.toml")
    storage = tmp_path / "data"
    for n in (1, 2):
        assert cocmail(cfg, "ingest", "-", stdin=report(n)).code == 0
    backup = tmp_path / "backup"
    assert cocmail(cfg, "backup", str(backup)).code == 0
    # Later: more reports, then cocmail is killed while it has the database open.
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os\nfrom datetime import UTC, datetime\nfrom pathlib import Path\n"
         "from cocmail.store import Store, inbound\n"
         f"s = Store(Path({str(storage / 'cocmail.db')!r}))\n"
         "for n in range(3, 6):\n"
         "    s.write(inbound.add_inbound, inbound.Arrived.of("
         "f'Subject: r{n}\\r\\nMessage-ID: <k{n}@x.test>\\r\\n\\r\\nhi'"
         ".encode(), 'ingest', datetime.now(UTC)))\n"
         "os._exit(0)\n"], capture_output=True, text=True, timeout=60, env=cocmail_env())
    assert killed.returncode == 0, killed.stderr
    assert (storage / "cocmail.db-wal").exists()

    replaced = tmp_path / "replaced"
    script = readme_block("BACKUP/cocmail.db BACKUP/secret.key")
    script = "\n".join(line for line in script.splitlines()
                       if not line.startswith("systemctl"))
    script = (script.replace("/var/lib/cocmail", str(storage))
              .replace("/root/cocmail-replaced", str(replaced))
              .replace("BACKUP/", f"{backup}/"))
    if os.geteuid() != 0:
        script = script.replace("-o cocmail -g cocmail ", "")
    subprocess.run(["sh", "-ec", script], check=True, timeout=60)

    import sqlite3

    db = sqlite3.connect(storage / "cocmail.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM inbound").fetchone() == (2,)
    db.close()
    assert len(cocmail(cfg, "cases", "list", "--json").json()) == 2
    assert (replaced / "cocmail.db-wal").exists()


# ------------------------------------------------------------------ 3. a member who leaves
def test_a_member_removed_from_the_config_gets_none_of_the_mail_still_waiting(
        tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """A report arrives while the SMTP server is down: the new-case notifications wait.
    Ben is removed from the config meanwhile (README: "they get no further mail"). When
    the daemon starts (or reloads) and the server is back, Ana gets hers and Ben's is
    cancelled, not sent: it held the whole report."""
    live = smtp_sink.smtp_toml()
    dead = live.replace(f"port = {smtp_sink.port}", f"port = {free_port()}")
    assert dead != live
    make_config(tmp_path, smtp=dead)
    cfg = own_names(tmp_path / "cocmail.toml")
    assert cocmail(cfg, "ingest", "-", stdin=report(1)).code == 0
    waiting = [r for r in outbox(cfg) if r[1] == "staff_new_case"]
    assert len(waiting) == 2 and {r[2] for r in waiting} == {"pending"}, waiting

    text = cfg.read_text()
    ben = '[[staff]]\nname = "Ben Okafor"\nemail = "ben@conference.test"\n'
    assert ben in text
    cfg.write_text(text.replace(ben, "").replace(dead.replace("example.org",
                                                              "conference.test"), live))
    run = cocmail(cfg, "run", "--once")
    assert run.code == 0, run.err
    assert "1 mail(s) waiting for people no longer in [[staff]] cancelled" in run.err
    got = {a for m in smtp_sink.messages for a in m.rcpt_tos}
    assert "ana@conference.test" in got and "ben@conference.test" not in got, got
    states = {r[0]: r[2] for r in outbox(cfg)}
    assert sorted(states[r[0]] for r in waiting) == ["cancelled", "sent"]
