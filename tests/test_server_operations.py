"""What a mail admin meets on a real server (issue 10), each through the real command.

One owner per storage dir, concurrent ingest beside the daemon, no silent demo
defaults, a `check` that proves `run` can start and creates nothing, backups while the
daemon runs, upgrades from the first release's schema, and logs without personal data.
"""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from cocmail.keyring import Keyring
from cocmail.store import migrations
from cocmail.store.sealed import HASH
from testsupport.helpers import FLOOD_OFF, make_config, own_names, unsealed_connection
from testsupport.process import ROOT, cocmail
from testsupport.process import cocmail_env as _env
from testsupport.servers import SmtpSink, free_port, wait_until

DATA = Path(__file__).parent / "data"


def report(n: int, sender: str | None = None) -> bytes:
    sender = sender or f"reporter{n}@attendee.example"
    return (f"From: Reporter {n} <{sender}>\r\nTo: conduct@example.org\r\n"
            f"Subject: Report {n}\r\nMessage-ID: <deploy-{n}@attendee.example>\r\n"
            f"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n"
            f"Report number {n}: someone shouted at me at the party.\r\n").encode()


def config(tmp: Path, extra: str = "", smtp: str = "") -> Path:
    make_config(tmp, extra, smtp=smtp)
    return tmp / "cocmail.toml"


def popen_run(cfg: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "cocmail", "--config", str(cfg),
                                 *args, "run"], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cfg.parent, env=_env())


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def db(cfg_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(cfg_dir / "data" / "cocmail.db")


# ---------------------------------------------------------------- one owner, many feeders

def test_second_daemon_on_the_same_storage_dir_refuses_to_start(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"[listen]\nport = {free_port()}\n")
    first = popen_run(cfg, log=tmp_path / "first.log")
    try:
        assert wait_until(lambda: (tmp_path / "data" / "run.lock").exists()
                          and (tmp_path / "data" / "run.lock").read_text().strip(), 20)
        second = cocmail(cfg, "run")
        assert second.code != 0
        lines = [ln for ln in second.err.splitlines() if ln.strip()]
        assert len(lines) == 1, second.err
        assert str(tmp_path / "data") in lines[0]
        assert f"pid {first.pid}" in lines[0]
        assert first.poll() is None  # the first one is untouched
    finally:
        stop(first)


def test_daemon_and_parallel_ingest_process_each_message_once(tmp_path: Path) -> None:
    """The issue's reproduction, smaller: a daemon plus 4 ingest loops feeding mail at
    once, and `run --once` in a loop beside them; every report is one case, one
    acknowledgement, one notice per staff member, and no mail is delivered twice."""
    with SmtpSink() as sink:
        # 24 reports in a moment are a flood: here each one's mail is counted.
        cfg = config(tmp_path, f"[listen]\nport = {free_port()}\n" + FLOOD_OFF,
                     smtp=sink.smtp_toml())
        daemon = popen_run(cfg, log=tmp_path / "daemon.log")
        per_loop, loops = 6, 4
        failures: list[str] = []

        def feed(loop: int) -> None:
            for i in range(per_loop):
                n = loop * per_loop + i + 1
                out = subprocess.run([sys.executable, "-m", "cocmail", "--config", str(cfg),
                                      "ingest", "-"], input=report(n), capture_output=True,
                                     cwd=tmp_path, env=_env(), timeout=60)
                if out.returncode != 0:
                    failures.append(out.stderr.decode())

        feeding = threading.Event()

        def catch_up() -> None:
            # `run --once` beside both, so that every interleaving of the three gets tried
            while not feeding.is_set():
                subprocess.run([sys.executable, "-m", "cocmail", "--config", str(cfg), "run",
                                "--once"], capture_output=True, cwd=tmp_path, env=_env(),
                               timeout=60)

        try:
            threads = [threading.Thread(target=feed, args=(k,)) for k in range(loops)]
            catcher = threading.Thread(target=catch_up)
            for t in [*threads, catcher]:
                t.start()
            for t in threads:
                t.join()
            feeding.set()
            catcher.join()
            total = per_loop * loops
            assert not failures, failures[:2]
            sink.wait_for(3 * total, timeout=180)
            time.sleep(1.0)  # anything sent twice would arrive now
        finally:
            stop(daemon)
        conn = db(tmp_path)
        assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == total
        assert conn.execute("SELECT count(*) FROM inbound WHERE state<>'done'"
                            ).fetchone()[0] == 0
        arrivals = Counter(str(m.message["Message-ID"]) for m in sink.messages)
        assert max(arrivals.values()) == 1, "a mail was delivered twice"
        assert len(sink.messages) == 3 * total
        acks = Counter(m.rcpt_tos[0] for m in sink.messages
                       if m.rcpt_tos[0].startswith("reporter"))
        assert set(acks.values()) == {1} and len(acks) == total


# ---------------------------------------------------------------- no silent demo

def test_without_a_config_every_command_but_demo_says_so_once(tmp_path: Path) -> None:
    env = {k: v for k, v in _env().items() if k != "COCMAIL_CONFIG"}
    out = subprocess.run([sys.executable, "-m", "cocmail", "cases", "list"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 0
    assert out.stderr.count("embedded demo defaults") == 1
    assert str(tmp_path / "cocmail.toml") in out.stderr  # where it looked
    demo = subprocess.run([sys.executable, "-m", "cocmail", "demo", "--dir",
                           str(tmp_path / "demo")], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert demo.returncode == 0
    assert "embedded demo defaults" not in demo.stderr
    # The response to the reported person shows the appeal line a team will configure.
    assert "you can appeal by writing to\n| board@example.org." in demo.stdout


# ---------------------------------------------------------------- check

def test_check_creates_nothing(tmp_path: Path) -> None:
    cfg = own_names(config(tmp_path))
    out = cocmail(cfg, "check")
    assert out.code == 0, out.out + out.err
    assert not (tmp_path / "data").exists()
    assert "checking as" in out.out


def test_check_and_every_command_refuse_a_database_from_a_newer_cocmail(tmp_path: Path
                                                                         ) -> None:
    cfg = config(tmp_path)
    assert cocmail(cfg, "ingest", "-", stdin=report(1)).code == 0
    with db(tmp_path) as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'",
                     (str(migrations.LATEST + 1),))
    check = cocmail(cfg, "check")
    assert check.code != 0
    assert "newer cocmail" in check.out
    for args in (("cases", "list"), ("report",), ("run", "--once")):
        result = cocmail(cfg, *args)
        assert result.code != 0, args
        assert "newer cocmail" in result.err and "Traceback" not in result.err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file another user owns")
def test_check_as_the_service_user_finds_a_root_owned_secret_key() -> None:
    import tempfile

    nobody = pwd.getpwnam("nobody")
    tmp_path = Path(tempfile.mkdtemp(prefix="cocmail-check-"))  # pytest's tmp is root-only
    cfg = config(tmp_path)
    assert cocmail(cfg, "ingest", "-", stdin=report(1)).code == 0  # as root: root-owned
    for p in [tmp_path, tmp_path / "data", *(tmp_path / "data").rglob("*")]:
        if p.name != "secret.key":
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
    tmp_path.chmod(0o755)
    cfg.chmod(0o644)  # the test process's umask may be cocmail's own 077
    python, env = python_for(nobody)
    out = subprocess.run([python, "-m", "cocmail", "--config", str(cfg), "check"],
                         capture_output=True, text=True, cwd="/", env=env, timeout=60,
                         user=nobody.pw_uid, group=nobody.pw_gid)
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert out.returncode != 0
    assert "checking as nobody" in out.stdout, out.stdout + out.stderr
    assert "secret.key" in out.stdout and "FAIL" in out.stdout


def python_for(user: pwd.struct_passwd) -> tuple[str, dict[str, str]]:
    """A Python that `user` may run, with this checkout and its dependencies on the path.

    The test venv's interpreter may live under /root (pyenv), which no other user can
    enter; Debian's /usr/bin/python3 of the same version can run the same pure-Python
    packages from the venv's site-packages.
    """
    import site
    import sysconfig

    candidates = [sys.executable, f"/usr/bin/python{sys.version_info.major}."
                                  f"{sys.version_info.minor}"]
    purelib = sysconfig.get_paths()["purelib"]
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), purelib, *site.getsitepackages()])
    for exe in candidates:
        probe = subprocess.run([exe, "-c", "import click, authres, mailparser"],
                               capture_output=True, env=env, cwd="/", user=user.pw_uid,
                               group=user.pw_gid, timeout=60) if _runnable(exe, user) else None
        if probe is not None and probe.returncode == 0:
            return exe, env
    pytest.skip(f"no Python that {user.pw_name} may run with cocmail's dependencies")


def _runnable(exe: str, user: pwd.struct_passwd) -> bool:
    try:
        return subprocess.run([exe, "-c", "pass"], user=user.pw_uid, group=user.pw_gid,
                              capture_output=True, cwd="/", timeout=30).returncode == 0
    except OSError:
        return False


# ---------------------------------------------------------------- backup

def test_backup_while_the_daemon_runs_is_complete_and_restores(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"[listen]\nport = {free_port()}\n")
    daemon = popen_run(cfg, log=tmp_path / "daemon.log")
    try:
        for n in (1, 2, 3):
            assert cocmail(cfg, "ingest", "-", stdin=report(n)).code == 0
        # The daemon keeps its connection open: the data sits in the WAL, and the main
        # file alone would not hold it.
        out = cocmail(cfg, "backup", str(tmp_path / "bk"))
        assert out.code == 0, out.err
        assert "3 case(s)" in out.err
    finally:
        stop(daemon)
    bk = tmp_path / "bk"
    # The data, the secret key and the key store (issue 27), as separate files.
    assert sorted(p.name for p in bk.iterdir()) == ["cocmail.db", "cocmail.keys", "secret.key"]
    for p in bk.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(bk.stat().st_mode) == 0o700
    alone = sqlite3.connect(bk / "cocmail.db")  # no -wal beside it
    assert alone.execute("SELECT count(*) FROM cases").fetchone()[0] == 3
    alone.close()
    assert (bk / "secret.key").read_bytes() == (tmp_path / "data" / "secret.key").read_bytes()
    # Restore as the README says: every file into an empty storage dir (the key backup
    # carries the key-encryption key it needs: no cocmail.kek goes with it).
    restored = tmp_path / "restored"
    restored.mkdir()
    make_config(restored)
    (restored / "data").mkdir(mode=0o700)
    for name in ("cocmail.db", "secret.key"):
        shutil.copy2(bk / name, restored / "data" / name)
    # Without its keys the sealed database is refused, never written beside.
    refused = cocmail(restored / "cocmail.toml", "cases", "list", "--json")
    assert refused.code != 0 and "cocmail.keys" in refused.err, refused.err
    assert sorted(p.name for p in (restored / "data").iterdir()) == ["cocmail.db", "secret.key"]
    shutil.copy2(bk / "cocmail.keys", restored / "data" / "cocmail.keys")
    listed = cocmail(restored / "cocmail.toml", "cases", "list", "--json")
    assert [c["number"] for c in listed.json()] == [1, 2, 3]
    back = unsealed_connection(restored / "data" / "cocmail.db")
    subjects = {r[0] for r in back.execute("SELECT subject FROM cases")}
    back.close()
    assert subjects == {"Report 1", "Report 2", "Report 3"}  # read with the restored keys
    again = cocmail(cfg, "backup", str(bk))
    assert again.code != 0 and "exists already" in again.err


# ---------------------------------------------------------------- upgrades

def test_first_release_database_upgrades_with_every_row(tmp_path: Path) -> None:
    """tests/data/schema/v1-demo.db was written by the first release (schema 1) running
    `cocmail demo`; opening it upgrades it, keeps a copy, and loses nothing."""
    cfg = config(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA / "schema" / "v1-demo.db", data / "cocmail.db")
    before = sqlite3.connect(data / "cocmail.db")
    tables = [r[0] for r in before.execute(
        "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    counts = {t: before.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    rows = {t: before.execute(f"SELECT * FROM {t}").fetchall() for t in tables if t != "meta"}
    before.close()
    assert counts["cases"] == 1 and counts["outbox"] > 0

    check = cocmail(cfg, "check")
    assert f"schema 1 is upgraded to {migrations.LATEST}" in check.out
    shown = cocmail(cfg, "cases", "show", "1", "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["number"] == 1

    # Sealed on opening (issue 27): the values are read back with the storage dir's keys.
    after = unsealed_connection(data / "cocmail.db")
    assert after.execute("SELECT value FROM meta WHERE key='schema_version'"
                         ).fetchone()[0] == str(migrations.LATEST)
    # Schema 9 fills in the anonymous counts of every live case (the first release
    # wrote them only when `stats` ran): the one table that may gain rows, with `meta`,
    # which gains the id of the key store the database is sealed with.
    assert counts["stats"] == 0
    assert after.execute("SELECT count(*) FROM stats").fetchone()[0] == counts["cases"]
    assert dict(after.execute("SELECT key, value FROM meta").fetchall()) == {
        "schema_version": str(migrations.LATEST), "sealed_with": _key_store_id(data)}
    for t in tables:
        if t not in ("stats", "meta"):
            assert after.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == counts[t], t
    # The hashes that find a duplicate mail are kept as keyed blind indexes of themselves.
    keyring = Keyring.open(data, must_exist=True)
    try:
        for t, old in rows.items():
            if t == "stats":
                continue
            cols = [c[1] for c in before_columns(t)]
            if t == "inbound":
                old = [tuple(keyring.blind(HASH, v) if c in ("raw_sha256", "body_sha256")
                             else v for c, v in zip(cols, row, strict=True)) for row in old]
            new = sorted(map(repr, after.execute(f"SELECT {', '.join(cols)} FROM {t}")))
            assert new == sorted(map(repr, old)), t
    finally:
        keyring.close()
    after.close()
    # The copy kept before the upgrade held every report in plaintext: once the upgraded
    # database is sealed (and read back whole above), it is deleted.
    assert not list(data.glob("cocmail.db.before-v*"))


def _key_store_id(storage: Path) -> str | None:
    keys = sqlite3.connect(f"file:{storage / 'cocmail.keys'}?mode=ro", uri=True)
    try:
        row = keys.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        return row[0] if row else None
    finally:
        keys.close()


def before_columns(table: str) -> list[tuple]:
    conn = sqlite3.connect(DATA / "schema" / "v1-demo.db")
    try:
        return conn.execute(f"PRAGMA table_info({table})").fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------- logs

def test_debug_logs_of_the_listener_carry_no_address_and_no_body(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, f"[listen]\nport = {port}\n")
    log = tmp_path / "daemon.log"
    daemon = popen_run(cfg, "--debug", log=log)
    reporter = "eve.private@attendee.example"
    try:
        def listening() -> bool:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=2) as s:
                    s.noop()
                return True
            except OSError:
                return False

        assert wait_until(listening, 20, interval=0.1), log.read_text()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.sendmail(reporter, ["conduct@example.org"], report(7, reporter))
        spool = tmp_path / "data" / "spool"
        assert wait_until(lambda: len(list(spool.glob("*.eml"))) >= 3, 20)
    finally:
        stop(daemon)
    text = log.read_text()
    assert "DEBUG" in text  # --debug was on
    assert reporter not in text
    assert "shouted at me" not in text
    assert "cocmail 0.1.0 starting" in text or "starting: config" in text
    assert " None" not in text


def test_ingest_debug_log_names_no_one(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    out = subprocess.run([sys.executable, "-m", "cocmail", "--config", str(cfg), "--debug",
                          "ingest", "-"], input=report(3, "dora.private@attendee.example"),
                         capture_output=True, cwd=tmp_path, env=_env(), timeout=60)
    assert out.returncode == 0
    err = out.stderr.decode()
    assert "dora.private@attendee.example" not in err
    assert "shouted at me" not in err


# ---------------------------------------------------------------- smaller items

def test_config_errors_name_the_right_line(tmp_path: Path) -> None:
    path = tmp_path / "cocmail.toml"
    path.write_text('[inbox]\naddress = "conduct@example.org"\n\n'
                    '[[staff]]\nname = "Ana"\nemail = "ana@example.org"\n\n'
                    '[[staff]]\nname = "Ben"\nemail = "not-an-address"\n')
    out = cocmail(path, "check")
    assert out.code != 0 and "line 10" in out.err, out.err
    path.write_text('[inbox]\naddress = "conduct@example.org"\n\n[imapp]\nhost = "x"\n')
    out = cocmail(path, "check")
    assert out.code != 0 and "line 4" in out.err and "imapp" in out.err, out.err


def test_storage_dir_mode_chosen_by_the_admin_is_kept(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    (tmp_path / "data").mkdir(mode=0o750)
    (tmp_path / "data").chmod(0o750)
    assert cocmail(cfg, "ingest", "-", stdin=report(1)).code == 0
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "data" / "cocmail.db").stat().st_mode) == 0o600


def test_tls_on_a_plain_port_gets_a_hint(tmp_path: Path) -> None:
    with SmtpSink() as sink:
        cfg = config(tmp_path, smtp=f'[smtp]\nhost = "127.0.0.1"\nport = {sink.port}\n'
                                    'security = "ssl"\n')
        out = cocmail(cfg, "check")
    assert out.code != 0
    assert 'use security = "starttls"' in out.out, out.out


def test_json_options_are_explained_in_help() -> None:
    for cmd in ("people", "stats"):
        out = subprocess.run([sys.executable, "-m", "cocmail", cmd, "--help"],
                             capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60)
        line = next(ln for ln in out.stdout.splitlines() if "--json" in ln)
        assert len(line.split("--json", 1)[1].strip()) > 5, line


def test_version() -> None:
    from cocmail import __version__

    out = subprocess.run([sys.executable, "-m", "cocmail", "--version"], capture_output=True,
                         text=True, env=_env(), timeout=60)
    assert out.stdout == f"cocmail {__version__} (database schema {migrations.LATEST})\n"
