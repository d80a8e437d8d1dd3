"""Sealed records (issue 27): personal data encrypted at rest, keys apart from the data,
a purge that no copy survives.

A canary (a reporter's unique name, address, sentence and attachment bytes) goes in
through the real `cocmail ingest`; it must then be absent, in any encoding a file could
hold it in, from every file under the storage dir (database, WAL, spool, key files),
from every backup file, while `cocmail cases show` reads it back. After a purge and the
key backups' rotation, a data backup made before the purge, restored with today's keys,
shows every other case and nothing of the purged one.
"""

from __future__ import annotations

import base64
import json
import quopri
import shutil
import sqlite3
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from cocmail.clock import utcnow
from cocmail.keyring import Keyring, KeyStoreError
from cocmail.store import Store
from cocmail.store import cases as cases_db
from testsupport.apps import Clock, Desk
from testsupport.helpers import body_of, make_config, spool
from testsupport.process import cocmail

NAME = "Quillonbrask Vextermine"
ADDRESS = "quillon.vextermine@canary-reporter.example"
SENTENCE = "the ochre walrus hummed beside the fountain until midnight"
ATTACHMENT = b"\x89CANARY\x00attachment-bytes-7f3a9c-\xff\xfe-quillonbrask-evidence\x01"
CANARIES = (NAME.encode(), ADDRESS.encode(), SENTENCE.encode(), ATTACHMENT)


def encodings(canary: bytes) -> list[bytes]:
    """The canary as a file could hold it: plain, base64 at each of the three
    alignments (the middle of the encoded run, whatever precedes it), quoted-printable,
    UTF-16 both ways."""
    forms = [canary, quopri.encodestring(canary).rstrip(b"\n")]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + canary)
        forms.append(encoded[4:-4])  # the part that does not depend on its neighbours
    try:
        text = canary.decode()
        forms += [text.encode("utf-16-le"), text.encode("utf-16-be")]
    except UnicodeDecodeError:
        pass
    return forms


def found_in(paths: list[Path]) -> list[str]:
    """Each (file, canary) where any encoding of a canary appears."""
    hits = []
    for path in paths:
        data = path.read_bytes()
        for canary in CANARIES:
            if any(form.lower() in data.lower() for form in encodings(canary)):
                hits.append(f"{path.name}: {canary[:20]!r}")
    return hits


def every_file(*dirs: Path) -> list[Path]:
    return sorted(p for d in dirs for p in d.rglob("*") if p.is_file())


def report_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{NAME} <{ADDRESS}>"
    msg["To"] = "conduct@example.org"
    msg["Subject"] = "Something happened at the party"
    msg["Message-ID"] = "<canary-report-1@canary-reporter.example>"
    msg.set_content(f"Hello,\n\nLast night {SENTENCE}, and then a man followed me.\n\n"
                    f"-- \n{NAME}\n")
    msg.add_attachment(ATTACHMENT, maintype="application", subtype="octet-stream",
                       filename="evidence.bin")
    return msg.as_bytes()


@pytest.fixture
def installation(tmp_path: Path) -> Path:
    make_config(tmp_path)
    return tmp_path / "cocmail.toml"


def test_a_canary_is_nowhere_on_disk_and_cases_show_reads_it_back(installation: Path,
                                                                  tmp_path: Path) -> None:
    stored = cocmail(installation, "ingest", stdin=report_mail())
    assert stored.code == 0, stored.err
    backup = tmp_path / "backup"
    made = cocmail(installation, "backup", str(backup))
    assert made.code == 0, made.err
    data = tmp_path / "data"

    files = every_file(data, backup)
    names = {p.name for p in files}
    assert {"cocmail.db", "cocmail.keys", "cocmail.kek"} <= names
    assert any(p.parent.name == "spool" for p in files)  # mail was written there
    assert {p.name for p in backup.iterdir()} >= {"cocmail.db", "cocmail.keys"}
    # The test can see a canary where one is: the staff's copy of the attachment, saved.
    shown = cocmail(installation, "cases", "show", "1")
    assert shown.code == 0, shown.err
    assert NAME in shown.out and ADDRESS in shown.out and SENTENCE in shown.out
    out = tmp_path / "saved"
    assert cocmail(installation, "cases", "attachments", "1", "-o", str(out)).code == 0
    assert found_in(every_file(out))  # plaintext on purpose, outside the storage dir
    files = every_file(data, backup)  # as the commands left them (WAL, index files)
    assert found_in(files) == []
    full = cocmail(installation, "cases", "show", "1", "--json").json()
    assert SENTENCE in full["report"] and full["reporter"]["email"] == ADDRESS
    for mode in (p.stat().st_mode & 0o777 for p in files):
        assert mode == 0o600
    check = cocmail(installation, "check")
    assert "sealed: yes" in check.out


def test_equal_names_are_not_equal_ciphertexts(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        for who in ("Eve <eve@a.example>", "Zed <zed@b.example>"):
            n = desk.report(who, "Something happened.\n")
            desk.staff("ana@example.org", n, "#accused Dorian Example <dorian@x.example>\n")
        conn = sqlite3.connect(desk.cfg.storage.db_path)
        names = [r[0] for r in conn.execute("SELECT name FROM people WHERE role='accused'")]
        blind = [r[0] for r in conn.execute("SELECT email_bi FROM people WHERE role='accused'")]
        conn.close()
        assert len(names) == 2 and names[0] != names[1]
        assert all(isinstance(v, bytes) and b"Dorian" not in v for v in names)
        assert blind[0] == blind[1] and "dorian" not in blind[0]  # a keyed index, equal
        # ...and the repeat-offender warning still finds the earlier case through it.
        assert any("EARLIER" in body_of(m) for m in desk.sent())
    finally:
        desk.close()


def test_purged_case_cannot_be_read_from_an_older_backup(tmp_path: Path) -> None:
    # `cocmail purge` reads the wall clock: the cases are made three years ago.
    desk = Desk(tmp_path, clock=Clock(utcnow() - timedelta(days=3 * 365)))
    gone = desk.report(f"{NAME} <{ADDRESS}>", f"{SENTENCE}.\n")
    desk.staff_new_mail("ana@example.org", gone, "#accused Zibble Wumpkin <z@x.example>\n"
                                                 "#action Warned\n#outcome warning\n#close\n")
    # The next report names him in passing: its staff mail warns of case `gone`.
    kept = desk.report("Zed <zed@a.example>", "Keeper was violent, Zibble Wumpkin too.\n")
    desk.staff_new_mail("ana@example.org", kept, "#accused Keeper Person <k@x.example>\n"
                                                 "#action Banned\n#outcome ban\n#close\n")
    warned = "SELECT body FROM messages WHERE case_number=? AND body LIKE '%z@x.example%'"
    assert [m for m in desk.app.store.query("SELECT body FROM messages WHERE case_number=?",
                                            (kept,)) if "z@x.example" in (m["body"] or "")]
    assert desk.app.store.query(warned, (kept,)) == []  # sealed: SQL cannot see it
    old = tmp_path / "backup-before"
    desk.cli("backup", str(old))
    assert desk.cli("purge").strip() == f"expunged 1 case(s): #{gone}"
    desk.cli("keys", "rotate")
    (old / "cocmail.keys").unlink()  # the key backups' window has passed
    desk.close()

    data = desk.cfg.storage.dir
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data / 'cocmail.db'}{suffix}").unlink(missing_ok=True)
    shutil.copy(old / "cocmail.db", data / "cocmail.db")  # restored, with today's keys
    desk.restart()
    try:
        shown = desk.cli("cases", "show", str(gone))
        assert NAME not in shown and SENTENCE not in shown and "expunged" in shown
        keeper = json.loads(desk.cli("cases", "show", str(kept), "--json"))
        assert keeper["accused"][0]["name"] == "Keeper Person"
        assert NAME not in desk.cli("people")
        assert found_in(every_file(data, old)) == []
        # The kept case's staff mail warned about the purged case: that warning went too,
        # as the purge cut it from the live database.
        assert not [m for m in desk.app.store.query(
            "SELECT body FROM messages WHERE case_number=?", (kept,))
            if "z@x.example" in (m["body"] or "")]
    finally:
        desk.close()


def test_rotation_rewraps_every_key_and_cases_stay_readable(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    n = desk.report(f"{NAME} <{ADDRESS}>", f"{SENTENCE}.\n")
    desk.close()
    kek = desk.cfg.storage.kek_path
    before = kek.read_text()
    desk.cli("keys", "rotate")
    assert kek.read_text() != before and len(kek.read_text().splitlines()) == 1
    # A copy of the old key store with the old KEK file's content gone: no key opens.
    desk.restart()
    try:
        case = desk.app.store.read(cases_db.load_case, n)
        assert case is not None and case.reporter is not None
        assert case.reporter.name == NAME
    finally:
        desk.close()


def test_a_lost_key_store_stops_cocmail_with_one_line(installation: Path,
                                                      tmp_path: Path) -> None:
    assert cocmail(installation, "ingest", stdin=report_mail()).code == 0
    db = tmp_path / "data" / "cocmail.db"
    (tmp_path / "data" / "cocmail.keys").unlink()
    size = db.stat().st_size
    for args in (("run", "--once"), ("cases", "list")):
        result = cocmail(installation, *args)
        assert result.code != 0
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1 and "key store" in lines[0] and "missing" in lines[0]
    assert not (tmp_path / "data" / "cocmail.keys").exists()  # no new key store beside it
    assert db.stat().st_size == size
    check = cocmail(installation, "check")
    assert "FAIL  sealed" in check.out


def test_a_lost_key_encryption_key_stops_cocmail(installation: Path, tmp_path: Path) -> None:
    assert cocmail(installation, "ingest", stdin=report_mail()).code == 0
    (tmp_path / "data" / "cocmail.kek").unlink()
    result = cocmail(installation, "cases", "list")
    assert result.code != 0 and "key-encryption key" in result.err


def test_a_plaintext_database_is_sealed_on_upgrade(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    plain = Store(cfg.storage.db_path)  # as cocmail before issue 27 kept it
    desk_cfg = tmp_path / "cocmail.toml"
    plain.close()
    off = desk_cfg.read_text().replace('[storage]\n', '[storage]\nencryption = false\n')
    desk_cfg.write_text(off)
    assert cocmail(desk_cfg, "ingest", stdin=report_mail()).code == 0
    assert found_in([cfg.storage.db_path])  # plaintext, as before
    copy = cfg.storage.dir / "cocmail.db.before-v16"
    shutil.copy(cfg.storage.db_path, copy)  # an earlier upgrade's copy, plaintext
    assert "sealed: no" in cocmail(desk_cfg, "check").out

    desk_cfg.write_text(off.replace("encryption = false\n", ""))
    assert "sealed: not yet" in cocmail(desk_cfg, "check").out
    shown = cocmail(desk_cfg, "cases", "show", "1")
    assert shown.code == 0 and NAME in shown.out
    assert not copy.exists()  # the plaintext copy went once the sealed store was verified
    assert found_in(every_file(cfg.storage.dir)) == []
    assert "sealed: yes" in cocmail(desk_cfg, "check").out
    # Turning encryption off again is refused: the records need their keys.
    desk_cfg.write_text(off)
    refused = cocmail(desk_cfg, "cases", "list")
    assert refused.code != 0 and "sealed" in refused.err


def test_a_tampered_value_is_refused_not_misread(tmp_path: Path) -> None:
    keyring = Keyring.open(tmp_path, must_exist=False)
    try:
        kid = keyring.new_key_id()
        sealed = keyring.seal(kid, "Dorian Example")
        assert keyring.unseal(sealed) == "Dorian Example"
        other = keyring.new_key_id()
        moved = sealed[:4] + other + sealed[20:]  # the same ciphertext under another key
        for bad in (sealed[:-1] + bytes([sealed[-1] ^ 1]), moved):
            with pytest.raises(InvalidTag):
                keyring.unseal(bad)
        assert keyring.seal(kid, "Dorian Example") != sealed  # a fresh nonce each time
        assert keyring.blind("name", "dorian example") == keyring.blind("name",
                                                                        "dorian example")
        keyring.destroy([kid])
        assert keyring.unseal(sealed) is None
    finally:
        keyring.close()
    with pytest.raises(KeyStoreError, match="missing"):
        (tmp_path / "cocmail.keys").unlink()
        Keyring.open(tmp_path, must_exist=True)


def test_repeat_offenders_and_check_attendees_work_across_events(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    n = desk.report("Eve <eve@a.example>", "Something happened.\n")
    desk.staff("ana@example.org", n, "#accused Dorian Example <dorian@x.example>\n"
                                     "#action Banned\n#outcome ban\n")
    desk.close()
    config = Path(desk.cfg.source)
    config.write_text(config.read_text().replace("Example Conf 2027", "Example Conf 2028"))
    later = Desk(tmp_path)
    try:
        m = later.report("Zed <zed@b.example>", "Again, the same man.\n")
        later.new()
        later.staff("ben@example.org", m, "#accused dorian example\n")
        assert any("EARLIER" in body_of(msg) and f"#{n}" in body_of(msg)
                   for msg in later.new())
        attendees = tmp_path / "attendees.csv"
        attendees.write_text("name,email\nSomeone Else,someone@y.example\n"
                             "D. Example,DORIAN@x.example\n")
        found = later.cli("check-attendees", str(attendees))
        assert "dorian@x.example" in found.lower() and f"#{n}" in found
    finally:
        later.close()
    assert spool(later.cfg)


def test_a_rotation_while_the_daemon_runs_loses_no_key(tmp_path: Path) -> None:
    """`cocmail keys rotate` in one process while the daemon's keyring makes keys in
    another: every key stays readable afterwards, with the one KEK left on file."""
    daemon = Keyring.open(tmp_path, must_exist=False)
    before = daemon.seal(daemon.new_key_id(), "sealed before the rotation")
    cli = Keyring.open(tmp_path, must_exist=True)
    assert cli.rotate() >= 2
    cli.close()
    for _ in range(40):  # past the daemon's spare keys: a refill after the rotation
        after = daemon.seal(daemon.new_key_id(), "sealed after the rotation")
    daemon.close()
    fresh = Keyring.open(tmp_path, must_exist=True)
    try:
        assert fresh.unseal(before) == "sealed before the rotation"
        assert fresh.unseal(after) == "sealed after the rotation"
        assert len((tmp_path / "cocmail.kek").read_text().splitlines()) == 1
    finally:
        fresh.close()


def test_keys_older_than_the_data_are_refused(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    desk.report("Eve <eve@a.example>", "First.\n")
    keys = tmp_path / "keys-then"
    desk.cli("backup", str(keys))
    desk.report(f"{NAME} <{ADDRESS}>", f"{SENTENCE}.\n")  # its key is newer than the backup
    desk.close()
    shutil.copy(keys / "cocmail.keys", desk.cfg.storage.keys_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{desk.cfg.storage.keys_path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(KeyStoreError, match="older than the database"):
        desk.restart()
    # No newer key backup exists: the team accepts the loss of what it cannot open.
    assert cocmail(Path(desk.cfg.source), "keys", "accept-loss").code == 0
    desk.restart()
    try:
        listed = json.loads(desk.cli("cases", "list", "--all", "--json"))
        assert [c["number"] for c in listed] == [1]  # the newer case 2 lost its key
        assert "expunged" in desk.cli("cases", "show", "2")
    finally:
        desk.close()


def test_a_backup_without_the_key_store_is_refused(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    desk.report("Eve <eve@a.example>", "First.\n")
    desk.close()
    desk.cfg.storage.keys_path.unlink()
    made = cocmail(Path(desk.cfg.source), "backup", str(tmp_path / "b"))
    assert made.code != 0 and "key store" in made.err


def test_two_rotations_at_once_keep_every_key(tmp_path: Path) -> None:
    """Two `keys rotate` at the same moment (a timer and an admin): each waits for the
    other, and the KEK every key is wrapped with stays on file."""
    import threading

    first = Keyring.open(tmp_path, must_exist=False)
    sealed = [first.seal(first.new_key_id(), f"value {i}") for i in range(40)]
    rings = [Keyring.open(tmp_path, must_exist=True) for _ in range(2)]
    errors: list[BaseException] = []

    def rotate(ring: Keyring) -> None:
        try:
            for _ in range(5):
                ring.rotate()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=rotate, args=(ring,)) for ring in rings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ring in (first, *rings):
        ring.close()
    assert errors == []
    fresh = Keyring.open(tmp_path, must_exist=True)
    try:
        assert [fresh.unseal(v) for v in sealed] == [f"value {i}" for i in range(40)]
    finally:
        fresh.close()


def test_a_key_store_deleted_under_a_running_daemon_stops_new_records(tmp_path: Path) -> None:
    ring = Keyring.open(tmp_path, must_exist=False)
    try:
        ring.new_key_id()
        (tmp_path / "cocmail.keys").unlink()
        with pytest.raises(KeyStoreError, match="missing"):
            ring.new_key_id()
    finally:
        ring.close()


def test_a_damaged_key_encryption_key_is_one_clear_line(installation: Path,
                                                        tmp_path: Path) -> None:
    assert cocmail(installation, "ingest", stdin=report_mail()).code == 0
    kek = tmp_path / "data" / "cocmail.kek"
    kid, _ = kek.read_text().split()
    kek.write_text(f"{kid} {'00' * 32}\n")  # the right id, the wrong key
    listed = cocmail(installation, "cases", "list")
    assert listed.code != 0 and "does not open the keys" in listed.err
    assert "InvalidTag" not in listed.err
    assert "FAIL  sealed" in cocmail(installation, "check").out


def test_a_purge_shreds_mail_of_no_case_that_names_the_case(tmp_path: Path) -> None:
    """A flood summary or a digest lists cases by number and subject: purging a case
    takes such a mail with it (its text could name the case's people)."""
    from cocmail.retention import purge_due
    from cocmail.store import outbox as outbox_db

    desk = Desk(tmp_path, clock=Clock(utcnow() - timedelta(days=3 * 365)))
    try:
        gone = desk.report(f"{NAME} <{ADDRESS}>", f"{SENTENCE}.\n", subject="Glimmerquaff")
        desk.staff_new_mail("ana@example.org", gone, "#accused Zibble Wumpkin <z@x.example>\n"
                                                     "#action Warned\n#outcome warning\n"
                                                     "#close\n")
        summary = (b"From: conduct@example.org\nTo: ana@example.org\nSubject: Held mail\n\n"
                   b"Case " + str(gone).encode() + b": Glimmerquaff\n")
        oid = desk.app.store.write(outbox_db.enqueue, case_number=None, kind="flood_summary",
                                   role="s1", message_id="<summary-1@example.org>",
                                   sender="conduct@example.org", recipients=["ana@example.org"],
                                   subject="Held mail", raw=summary, now=desk.clock())
        desk.app.outbox.deliver_due()
        assert b"Glimmerquaff" in (desk.app.store.read(outbox_db.outbox_mail, oid) or b"")
        assert list(desk.cfg.storage.spool_dir.glob(f"{oid:06d}-*.eml"))
        assert purge_due(desk.app, utcnow()) == [gone]
        assert desk.app.store.read(outbox_db.outbox_mail, oid) is None
        assert not list(desk.cfg.storage.spool_dir.glob(f"{oid:06d}-*.eml"))
    finally:
        desk.close()


def test_mail_whose_key_a_purge_destroyed_is_emptied_not_retried(tmp_path: Path) -> None:
    """A restored data backup can hold mail stored (not yet processed, or quarantined)
    under a key a purge destroyed since: it is emptied on opening, so it never blocks
    the worker, which would retry it forever."""
    from cocmail.store import inbound as inbound_db
    from testsupport.helpers import mail

    desk = Desk(tmp_path)
    try:
        waiting = desk.app.add_inbound(mail(f"{NAME} <{ADDRESS}>", "Help", f"{SENTENCE}.\n",
                                            message_id="<waiting-1@canary.example>"), "test")
        assert waiting is not None
        kid = desk.app.store.scalar("SELECT substr(raw, 5, 16) FROM inbound WHERE id=?",
                                    (waiting,))
        assert desk.app.store.keyring is not None
        desk.app.store.keyring.destroy([bytes(kid)])  # as a purge after the backup did
        desk.restart()
        row = desk.app.store.read(inbound_db.inbound, waiting)
        assert row is not None and row["raw"] is None and row["state"] == "expunged"
        assert desk.app.store.read(inbound_db.pending_inbound) == []
        n = desk.report("Zed <zed@b.example>", "Another report.\n")  # the queue moves on
        assert n >= 1
    finally:
        desk.close()


def test_check_creates_no_file_in_the_storage_dir(installation: Path, tmp_path: Path) -> None:
    """`cocmail check` may run as root on the service user's storage dir: a `-shm` file
    it made would be root's, and the daemon could not open its own database."""
    assert cocmail(installation, "ingest", stdin=report_mail()).code == 0
    data = tmp_path / "data"
    before = sorted(p.name for p in data.iterdir())
    assert "sealed: yes" in cocmail(installation, "check").out
    assert sorted(p.name for p in data.iterdir()) == before
