"""The `cocmail` command line, as the person at the terminal sees it (no mail servers).

Outgoing mail goes to the spool, so everything here runs in-process with click's
CliRunner, except where only a real process shows the behaviour (a traceback).
"""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import openpyxl
import pytest
from click.testing import CliRunner, Result

from cocmail.cli import main
from testsupport.helpers import mail, make_config, own_names, spool

ROOT = Path(__file__).resolve().parent.parent

# docs/interface.md, "The internal report's columns": names and order are a contract.
REPORT_COLUMNS = ["Case", "Status", "Opened", "Reporter name", "Reporter email", "Received by",
                  "Handled by", "When", "Where", "Details", "Action taken", "Outcome",
                  "Others aware", "Reported to DSF"]

# docs/interface.md, "Command line": every command that must exist.
INTERFACE_COMMANDS = ["run", "ingest", "demo", "check", "cases list", "cases show", "report",
                      "digest", "people", "check-attendees", "stats", "quarantine list",
                      "quarantine show", "quarantine release", "outbox list", "purge"]

Cli = Callable[..., Result]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in an empty directory with no $COCMAIL_CONFIG, and give the process its umask
    back: cocmail sets 077 for itself, which must not leak into other tests' files."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COCMAIL_CONFIG", raising=False)
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)


@pytest.fixture
def cli() -> Cli:
    runner = CliRunner()

    def invoke(*args: str, input: bytes | None = None) -> Result:
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """An installation in its own directory (not the cwd) that spools outgoing mail."""
    directory = tmp_path / "conf"
    directory.mkdir()
    make_config(directory)
    return directory / "cocmail.toml"


REPORT = mail("Eve Example <eve@attendee.example>", "Something happened",
              "Dan Doe grabbed my arm near the bar.\n", message_id="<r1@attendee.example>")


def open_case_with_decision(cli: Cli, config: Path) -> None:
    """A report, then Ana's reply to her notification with the facts and a decision."""
    assert cli("--config", str(config), "ingest", "-", input=REPORT).exit_code == 0
    cfg = make_config(config.parent)
    note = next(m for m in spool(cfg) if "ana@example.org" in str(m["To"]))
    reply = mail("Ana Lima <ana@example.org>", "Re: " + note["Subject"],
                 "#accused Dan Doe <dan@x.example>\n#when Friday 22:00\n#where the bar\n"
                 "#summary grabbed an attendee's arm\n#action Warned\n#outcome warning\n",
                 message_id="<ana1@example.org>", in_reply_to=note["Message-ID"],
                 to=note["Reply-To"].addresses[0].addr_spec)
    assert cli("--config", str(config), "ingest", "-", input=reply).exit_code == 0


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# ------------------------------------------------------------------ --config and errors
def test_config_is_accepted_before_and_after_the_subcommand(cli: Cli, config: Path) -> None:
    open_case_with_decision(cli, config)
    for args in (["--config", str(config), "cases", "list"],
                 ["cases", "list", "--config", str(config)],
                 ["cases", "list", "--json", "--config", str(config)]):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert "#1" in result.output or '"number": 1' in result.output, args
    before = cli("--config", str(config), "check")
    after = cli("check", "--config", str(config))
    assert str(config) in before.output and str(config) in after.output
    # the cwd has no installation: without --config there is no case
    assert "no open cases" in cli("cases", "list").output


def test_config_is_accepted_right_after_a_command_group(cli: Cli, config: Path) -> None:
    open_case_with_decision(cli, config)
    result = CliRunner().invoke(main, ["cases", "--config", str(config), "list"])
    assert result.exit_code == 0, result.output
    assert "#1" in result.output


def test_without_config_the_embedded_defaults_are_used_and_check_passes(cli: Cli,
                                                                       tmp_path: Path) -> None:
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert "<embedded defaults>" in result.output
    assert "FAIL" not in result.output
    # The defaults keep data next to the user, and say so; check itself creates nothing
    # (run as root, it would leave a root-owned dir the daemon cannot write).
    assert str(tmp_path / "cocmail-data") in result.output
    assert not (tmp_path / "cocmail-data").exists()


def test_config_from_the_environment(cli: Cli, config: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCMAIL_CONFIG", str(own_names(config)))
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert str(config) in result.output


def test_a_bad_config_is_one_line_naming_the_key(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[event]\nname = "Conf"\n\n[inbox]\naddress = 42\n')
    for args in (["--config", str(bad), "cases", "list"], ["check", "--config", str(bad)]):
        result = cli(*args)
        assert result.exit_code != 0
        line = one_line(result.output)
        assert "inbox.address" in line and "line 5" in line, line
        assert "Traceback" not in result.output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[inbox]\naddress = 42\n')
    env = {k: v for k, v in os.environ.items() if k != "COCMAIL_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    for args in (["--debug", "--config", str(bad), "cases", "list"],
                 ["cases", "list", "--config", str(bad), "--debug"]):
        proc = subprocess.run([sys.executable, "-m", "cocmail", *args], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=30)
        assert proc.returncode != 0
        assert "Traceback" in proc.stderr and "inbox.address" in proc.stderr, proc.stderr


def test_unknown_case_is_a_clear_error(cli: Cli, config: Path) -> None:
    for args in (["cases", "show", "99"], ["cases", "show", "99", "--json"]):
        result = cli("--config", str(config), *args)
        assert result.exit_code != 0
        assert "no case #99" in one_line(result.output)
        assert "Traceback" not in result.output


# ------------------------------------------------------------------ the internal report
def test_report_csv_has_the_interface_columns_in_order(cli: Cli, config: Path) -> None:
    open_case_with_decision(cli, config)
    result = cli("--config", str(config), "report", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == REPORT_COLUMNS
    assert len(rows) == 2, "one line per case"
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Case"] == "1" and row["Status"] == "open"
    assert (row["Reporter name"], row["Reporter email"]) == ("Eve Example",
                                                             "eve@attendee.example")
    assert (row["When"], row["Where"]) == ("Friday 22:00", "the bar")
    assert row["Details"] == "grabbed an attendee's arm"
    assert row["Action taken"] == "Warned"
    assert "ana@example.org" in row["Handled by"]


def test_report_xlsx_opens_in_openpyxl_and_is_private(cli: Cli, config: Path,
                                                      tmp_path: Path) -> None:
    open_case_with_decision(cli, config)
    out = tmp_path / "incidents.xlsx"
    out.write_bytes(b"last week's report")
    out.chmod(0o644)  # overwriting a file someone left readable must not keep it readable
    result = cli("--config", str(config), "report", "--format", "xlsx", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    sheet = openpyxl.load_workbook(out).active
    rows = [[c if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == REPORT_COLUMNS
    assert len(rows) == 2
    assert str(rows[1][0]) == "1" and rows[1][REPORT_COLUMNS.index("Action taken")] == "Warned"


def test_report_csv_to_a_file_is_private(cli: Cli, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "incidents.csv"
    out.write_text("old\n")
    out.chmod(0o644)
    result = cli("--config", str(config), "report", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(REPORT_COLUMNS)


def test_xlsx_needs_an_output_file(cli: Cli, config: Path) -> None:
    result = cli("--config", str(config), "report", "--format", "xlsx")
    assert result.exit_code != 0
    assert "-o" in one_line(result.output)


# ------------------------------------------------------------------ an empty install
def test_empty_install_has_an_empty_quarantine_and_nothing_pending(cli: Cli,
                                                                   config: Path) -> None:
    quarantine = cli("--config", str(config), "quarantine", "list")
    assert quarantine.exit_code == 0, quarantine.output
    assert one_line(quarantine.output) == "quarantine is empty"
    pending = cli("--config", str(config), "outbox", "list", "--pending")
    assert pending.exit_code == 0, pending.output
    assert one_line(pending.output) == "nothing pending"
    missing = cli("--config", str(config), "quarantine", "show", "1")
    assert missing.exit_code != 0 and "no quarantined message 1" in one_line(missing.output)


def test_delivered_mail_is_not_pending(cli: Cli, config: Path) -> None:
    open_case_with_decision(cli, config)
    everything = cli("--config", str(config), "outbox", "list")
    assert everything.exit_code == 0
    assert "ack" in everything.output and "sent" in everything.output
    assert one_line(cli("--config", str(config), "outbox", "list", "--pending").output) == \
        "nothing pending"


# ------------------------------------------------------------------ help
def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield prefix + name, command
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + name + " ")


def test_every_interface_command_exists() -> None:
    assert set(INTERFACE_COMMANDS) <= {path for path, _ in _commands(main)}


def test_help_lists_every_command(cli: Cli) -> None:
    top = cli("--help")
    assert top.exit_code == 0
    for name in main.commands:
        assert f"  {name} " in top.output, f"{name} missing from cocmail --help"
    for path, command in _commands(main):
        if isinstance(command, click.Group):
            sub = cli(*path.split(), "--help")
            assert sub.exit_code == 0
            for name in command.commands:
                assert f"  {name} " in sub.output, f"{name} missing from cocmail {path} --help"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as a careless admin is")
@pytest.mark.parametrize("args", [("cases", "list"), ("report",), ("ingest", "-"),
                                  ("backup", "BACKUP")])
def test_root_leaves_no_root_owned_file_in_the_service_storage_dir(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    """`sudo cocmail cases list` before the service ever ran made cocmail.db, secret.key
    and the spool as root, and a backup as root left root's -wal and -shm: the service,
    as its own user, could no longer open them. Root is told whose the dir is instead."""
    from cocmail.app import open_app
    from testsupport.helpers import make_config
    from testsupport.process import cocmail as run_cocmail

    open_app(make_config(tmp_path)).close()  # the service has run here
    data = tmp_path / "data"
    for p in [data, *data.rglob("*")]:
        os.chown(p, 65534, 65534)  # the service's user
    argv = [str(tmp_path / "b") if a == "BACKUP" else a for a in args]
    result = run_cocmail(tmp_path / "cocmail.toml", *argv, stdin=b"From: a@b.example\n\nx\n")
    assert result.code != 0
    assert "belongs to" in result.err and "runuser -u" in result.err
    assert [p for p in data.iterdir() if p.stat().st_uid == 0] == []
