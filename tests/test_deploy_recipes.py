"""Deployable as a mail admin deploys it: the shipped systemd unit and the README's
Postfix recipes, checked with the real tools.

The unit is checked by systemd-analyze and kept identical to the copy in the README.
Each Postfix recipe is read out of README.md and applied, as written (paths moved into
a temp dir), to a private instance of Debian's Postfix; then a report goes in over SMTP
and the test waits for what the reporter would notice: the acknowledgement. cocmail
runs as the `cocmail` user from a venv built from the wheel, as deployed, so a recipe
that only works as root or from a checkout fails here.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cocmail.config import load_config
from testsupport.helpers import STAFF_TOML, mail, make_config, spool
from testsupport.postfix import (
    COCMAIL_USER,
    POSTFIX_BINARY,
    SYSTEM_PYTHON,
    Block,
    Postfix,
    apply_recipe,
    chown_to,
    ensure_system_user,
    install_cocmail,
    localize,
)
from testsupport.servers import Received, SmtpSink, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
UNIT_PATH = ROOT / "deploy" / "cocmail.service"
UNIT = UNIT_PATH.read_text(encoding="utf-8")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
INBOX = "conduct@example.org"
ACK_SUBJECT = "We have received your report"


def deployment_section() -> str:
    """README's "Deployment" section, up to the next top-level section."""
    start = README.index("\n## Deployment\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


# ------------------------------------------------------------------ the systemd unit
def unit_settings(text: str) -> list[tuple[int, str, str, str]]:
    """(line number, section, key, value) for each setting, in order, as systemd reads them:
    `#` and `;` start a comment only at the start of a line."""
    settings = []
    section = ""
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            section = stripped.strip("[]")
            continue
        key, sep, value = stripped.partition("=")
        assert sep, f"line {n} is neither a section, a comment nor a setting: {line!r}"
        settings.append((n, section, key.strip(), value.strip()))
    return settings


def setting(key: str, section: str = "Service") -> list[str]:
    return [v for _, s, k, v in unit_settings(UNIT) if s == section and k == key]


def verify_unit(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` on a copy of the unit whose ExecStart names a program that
    exists here: verify rejects a unit whose command is missing, and /opt/cocmail is not
    installed on the test machine. (It does not check that User= exists.)"""
    real = Path(sys.executable).with_name("cocmail")
    if not real.exists():
        real = Path("/bin/true")
    copy = tmp_path / "cocmail.service"
    copy.write_text(text.replace("ExecStart=/opt/cocmail/venv/bin/cocmail",
                                 f"ExecStart={real}"))
    return subprocess.run([SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


@pytest.fixture
def systemd_analyze() -> None:
    if not os.path.exists(SYSTEMD_ANALYZE):
        pytest.skip(f"{SYSTEMD_ANALYZE} not found (Debian's systemd package has it)")


def test_unit_passes_systemd_analyze_verify(tmp_path: Path, systemd_analyze: None) -> None:
    result = verify_unit(tmp_path, UNIT)
    # verify exits 0 on a misspelt or unparsable setting and only says so: silence is the pass.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

    typo = verify_unit(tmp_path, UNIT.replace("ProtectSystem=", "ProtectSystm="))
    assert "Unknown key 'ProtectSystm'" in typo.stderr  # the check above can fail


def test_unit_exposure_is_ok_by_systemd_analyze_security(tmp_path: Path,
                                                         systemd_analyze: None) -> None:
    """The hardening is not lost in an edit: systemd rates the unit's exposure "OK"."""
    copy = tmp_path / "cocmail.service"
    copy.write_text(UNIT)
    result = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", str(copy)],
                            capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr:
        pytest.skip("this systemd-analyze has no `security --offline` (systemd < 250)")
    match = re.search(r"Overall exposure level for cocmail\.service: ([\d.]+) (\w+)",
                      result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 4.0, result.stdout


def test_unit_has_no_comment_after_a_value() -> None:
    """systemd takes `EnvironmentFile=/etc/x  # note` as the path "/etc/x  # note"."""
    for n, _, key, value in unit_settings(UNIT):
        assert "#" not in value and ";" not in value, f"line {n}: {key}={value}"
    assert not [line for line in UNIT.splitlines() if line != line.rstrip()]


def test_unit_runs_cocmail_as_the_readme_deploys_it() -> None:
    assert setting("User") == setting("Group") == ["cocmail"]
    assert setting("Type") in (["exec"], ["simple"])  # sd_notify is not implemented
    assert setting("KillMode") in ([], ["control-group"])  # the courier dies with it
    assert setting("Restart") == ["on-failure"]
    assert setting("UMask") == ["0077"]
    assert setting("StateDirectory") == ["cocmail"]
    assert setting("StateDirectoryMode") == ["0700"]
    assert setting("ConfigurationDirectory") == ["cocmail"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
                "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute"):
        assert setting(key) == ["yes"], key
    assert setting("ProtectSystem") == ["strict"]
    assert setting("RestrictAddressFamilies") == ["AF_INET AF_INET6 AF_UNIX"]

    # The paths the unit relies on are the ones the README's steps create.
    section = deployment_section()
    (exec_start,) = setting("ExecStart")
    program = exec_start.split()[0]
    assert exec_start == f"{program} run"
    venv = program.removesuffix("/bin/cocmail")
    assert f"python3 -m venv {venv}\n" in section
    assert f"{venv}/bin/pip install cocmail-*.whl" in section
    (config_env,) = setting("Environment")
    config = config_env.removeprefix("COCMAIL_CONFIG=")
    assert f"install -m 0640 -o root -g cocmail config.example.toml {config}\n" in section
    (secrets,) = setting("EnvironmentFile")
    assert secrets.startswith("-")  # optional: a config with password_file needs none
    assert (f"install -m 0640 -o root -g cocmail deploy/secrets.env.example "
            f"{secrets.removeprefix('-')}\n") in section
    assert (ROOT / "deploy" / "secrets.env.example").exists()
    state_dir = f"/var/lib/{setting('StateDirectory')[0]}"
    assert f'[storage]\ndir = "{state_dir}"\n' in section.replace("   ", "")
    assert f"install -d -m 0700 -o cocmail -g cocmail {state_dir}\n" in section
    assert setting("WorkingDirectory") == [state_dir]
    assert (f"useradd --system --home-dir {state_dir} --shell /usr/sbin/nologin cocmail"
            in section)
    assert "install -m 0644 deploy/cocmail.service /etc/systemd/system/cocmail.service" \
        in section
    assert UNIT.startswith("# /etc/systemd/system/cocmail.service\n")


def test_readme_shows_the_unit_verbatim() -> None:
    """One unit, two places: the README's copy is what the admin pastes."""
    assert f"```ini\n{UNIT}```\n" in deployment_section()


_UNDER_MDWE = """\
import ctypes, mmap, os, sys
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0):
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit(78)
except OSError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_cocmail_works_under_memory_deny_write_execute(tmp_path: Path) -> None:
    """The unit's MemoryDenyWriteExecute=yes must not break cocmail: the same rule (no
    writable-and-executable memory, kept across exec and fork) set with the kernel's
    PR_SET_MDWE, then a report is ingested and `run --once` (daemon and forked courier)
    delivers its mails to the spool."""
    make_config(tmp_path)
    config = tmp_path / "cocmail.toml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("COCMAIL_CONFIG", None)

    def under_mdwe(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-c", _UNDER_MDWE, sys.executable, "-m",
                               "cocmail", "--config", str(config), *args], input=stdin,
                              capture_output=True, env=env, timeout=60)

    _, raw = report(1)
    ingested = under_mdwe("ingest", "-", stdin=raw)
    if ingested.returncode == 77:
        pytest.skip("the kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert ingested.returncode != 78, "PR_SET_MDWE did not refuse a W+X mapping"
    assert ingested.returncode == 0, ingested.stderr.decode()
    ran = under_mdwe("run", "--once")
    assert ran.returncode == 0, ran.stderr.decode()
    subjects = [m["Subject"] for m in spool(load_config(config))]
    assert f"[CoC #1] {ACK_SUBJECT}" in subjects


# ------------------------------------------------------------------ the README's recipes
RECIPES = {  # the headings of README's "#### N. ..." recipes, by the name the tests use
    "alias": "An alias that pipes into `cocmail ingest`",
    "pipe": "A pipe transport into `cocmail ingest`",
    "listener": "A route to the embedded SMTP listener",
}


def recipe(title: str) -> list[Block]:
    """The fenced blocks of the README recipe headed `#### N. <title>`, in order."""
    section = deployment_section()
    match = re.search(rf"^#### \d+\. {re.escape(title)}\n(.*?)(?=^#{{2,4}} |\Z)", section,
                      re.M | re.S)
    assert match, f"no recipe {title!r} in README.md's Deployment section"
    blocks = [Block(lang, text) for lang, text in
              re.findall(r"^```(\w*)\n(.*?)^```$", match.group(1), re.M | re.S)]
    assert blocks, f"recipe {title!r} has no blocks"
    return blocks


def test_every_postfix_recipe_in_the_readme_is_tested() -> None:
    titles = re.findall(r"^#### \d+\. (.*)$", deployment_section(), re.M)
    assert titles == list(RECIPES.values())



# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def deployed_cocmail() -> Iterator[Path]:
    """cocmail installed from its wheel into a venv on the system Python (README step 2);
    its `cocmail` command. Also makes sure the `cocmail` user is there (README step 1)."""
    if os.geteuid() != 0:
        pytest.skip("the deployment tests run cocmail as the cocmail user (and start "
                    "Postfix): run them as root (CI does)")
    if why := ensure_system_user():
        pytest.skip(why)
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"{SYSTEM_PYTHON} not found: the deployment venv is built on it")
    base = Path(tempfile.mkdtemp(prefix="cocmail-opt-"))
    base.chmod(0o755)  # the cocmail user runs the venv's python from here
    started = time.monotonic()
    program = install_cocmail(base / "venv")
    print(f"\ncocmail wheel built and installed in {time.monotonic() - started:.1f}s")
    yield program
    shutil.rmtree(base, ignore_errors=True)


@dataclass
class Deployment:
    """One server's worth of cocmail files in a temp dir: /etc/cocmail/cocmail.toml,
    /var/lib/cocmail, owned and moded as README's steps make them."""

    root: Path
    program: Path
    config: Path
    storage: Path
    listen_port: int

    def create_storage(self) -> None:
        """README step 1's `install -d -m 0700 -o cocmail -g cocmail /var/lib/cocmail`."""
        self.storage.mkdir(mode=0o700)
        self.storage.chmod(0o700)
        chown_to(self.storage)

    def paths(self, postfix: Postfix) -> dict[str, str]:
        """The deployed paths the README uses, and where this test has them."""
        return {
            **self.paths_without_postfix(),
            "/etc/postfix": str(postfix.etc),
            "/etc/aliases": str(postfix.etc / "aliases"),
        }

    def paths_without_postfix(self) -> dict[str, str]:
        return {
            "/opt/cocmail/venv": str(self.program.parent.parent),
            "/etc/cocmail/cocmail.toml": str(self.config),
            "/etc/cocmail/secrets.env": str(self.config.with_name("secrets.env")),
            "/var/lib/cocmail": str(self.storage),
            "/var/lib/cocmail-postfix": str(self.root / "var" / "lib" / "cocmail-postfix"),
            "[127.0.0.1]:8025": f"[127.0.0.1]:{self.listen_port}",
        }


@pytest.fixture
def deployment(deployed_cocmail: Path, smtp_sink: SmtpSink) -> Iterator[Deployment]:
    root = Path(tempfile.mkdtemp(prefix="cocmail-deploy-"))
    root.chmod(0o755)
    etc = root / "etc" / "cocmail"
    etc.mkdir(parents=True)
    (root / "etc").chmod(0o755)
    etc.chmod(0o750)
    os.chown(etc, 0, _gid(COCMAIL_USER))
    (root / "var" / "lib").mkdir(parents=True)
    for d in (root / "var", root / "var" / "lib"):
        d.chmod(0o755)
    deployment = Deployment(root, deployed_cocmail, etc / "cocmail.toml",
                            root / "var" / "lib" / "cocmail", free_port())
    deployment.config.write_text(f"""\
[event]
name = "Example Conf 2027"
timezone = "Europe/Berlin"

[inbox]
address = "{INBOX}"

[storage]
dir = "{deployment.storage}"

[listen]
host = "127.0.0.1"
port = {deployment.listen_port}

{smtp_sink.smtp_toml()}
{STAFF_TOML}
""")
    deployment.config.chmod(0o640)
    os.chown(deployment.config, 0, _gid(COCMAIL_USER))
    yield deployment
    shutil.rmtree(root, ignore_errors=True)


def _gid(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


# A mark, not a skip in a fixture: evaluated before the module's venv is built for nothing.
needs_postfix = pytest.mark.skipif(
    not os.path.exists(POSTFIX_BINARY),
    reason=f"{POSTFIX_BINARY} not found: `scripts/bootstrap.sh --test` installs Debian's postfix")


@pytest.fixture
def postfix(deployed_cocmail: Path) -> Iterator[Postfix]:
    server = Postfix(domain="example.org")
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@dataclass
class Service:
    """`cocmail run` as the unit runs it: user cocmail, COCMAIL_CONFIG, in the state dir."""

    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


@pytest.fixture
def start_service() -> Iterator[Callable[[Deployment], Service]]:
    started: list[Service] = []

    def start(d: Deployment) -> Service:
        log = d.root / "service.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(d.program), "run"], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, cwd=d.storage,
                                    env={"COCMAIL_CONFIG": str(d.config),
                                         "PATH": "/usr/bin:/bin"},
                                    user=COCMAIL_USER, group=COCMAIL_USER, extra_groups=[])
        service = Service(proc, log)
        started.append(service)
        listening = wait_until(lambda: proc.poll() is not None or _listening(d.listen_port),
                               15.0, interval=0.05)
        assert listening and proc.poll() is None, log.read_text(errors="replace")
        return service

    yield start
    for service in started:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait(timeout=5)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------ mail in, acks out
def report(n: int, rcpt: str = INBOX) -> tuple[str, bytes]:
    reporter = f"reporter{n}@attendee.example"
    raw = mail(f"Reporter {n} <{reporter}>", "Something happened at the party",
               "Someone kept following me around the venue.\n",
               message_id=f"<deploy-report{n}@attendee.example>", to=rcpt)
    return reporter, raw


def acks_to(sink: SmtpSink, reporter: str) -> list[Received]:
    return [m for m in sink.messages if reporter in m.rcpt_tos
            and ACK_SUBJECT in m.message["Subject"]]


def wait_for_ack(sink: SmtpSink, reporter: str, postfix: Postfix, timeout: float = 20.0
                 ) -> Received:
    if not wait_until(lambda: acks_to(sink, reporter), timeout, interval=0.05):
        raise AssertionError(f"no acknowledgement to {reporter} within {timeout}s; "
                             f"Postfix log:\n{postfix.logs()}")
    (ack,) = acks_to(sink, reporter)
    return ack


def queues(postfix: Postfix, expected: list[str], timeout: float = 5.0) -> list[str]:
    """The queue each message is in, once it is `expected` (or after `timeout`): the log
    line comes from the delivery agent, the move between queues from qmgr just after."""
    names: list[str] = []

    def settled() -> bool:
        names[:] = [str(m["queue_name"]) for m in postfix.queue()]
        return names == expected

    wait_until(settled, timeout, interval=0.05)
    return names


def receiving(name: str, deployment: Deployment, postfix: Postfix,
              start_service: Callable[[Deployment], Service]) -> Service | None:
    """Apply README recipe `name`; for the listener recipe also start `cocmail run`."""
    apply_recipe(postfix, recipe(RECIPES[name]), deployment.paths(postfix))
    return start_service(deployment) if name == "listener" else None


def readme_command(start: str) -> str:
    """The one command line in README's Deployment section that begins with `start`."""
    lines = [line.strip().strip("`") for line in deployment_section().splitlines()
             if line.strip().strip("`").startswith(start)]
    assert len(lines) == 1, f"README should show one `{start} ...` command, not {lines}"
    return lines[0]


def run_readme_command(start: str, deployment: Deployment) -> subprocess.CompletedProcess[str]:
    argv = [localize(arg, deployment.paths_without_postfix())
            for arg in shlex.split(readme_command(start))]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/",
                          umask=0o022)


# ------------------------------------------------------------------ as the cocmail user
def test_check_passes_as_the_cocmail_user_with_the_secrets(deployment: Deployment,
                                                           smtp_sink: SmtpSink) -> None:
    """README step 3's `cocmail check`, run as written: the installed wheel has its
    templates, the config and secrets.env are readable by `cocmail` (0640 root:cocmail)
    and the storage directory is writable by it."""
    deployment.create_storage()
    secrets = Path(deployment.paths_without_postfix()["/etc/cocmail/secrets.env"])
    subprocess.run(["install", "-m", "0640", "-o", "root", "-g", "cocmail",
                    str(ROOT / "deploy" / "secrets.env.example"), str(secrets)], check=True)
    # A password a shell would expand ($$ is its pid): systemd, and so check, keep it.
    user, password = "conduct@conference.test", "Xy$$9z"
    with secrets.open("a") as f:
        f.write(f"COCMAIL_SMTP_PASSWORD={password}\n")
    text = deployment.config.read_text()
    with SmtpSink(login=(user, password)) as sink:
        # A config with the team's own names: check fails on example.org placeholders.
        deployment.config.write_text(text.replace("example.org", "conference.test").replace(
            smtp_sink.smtp_toml(), sink.smtp_toml() + f'username = "{user}"\n'
            'password_env = "COCMAIL_SMTP_PASSWORD"\n'))
        result = run_readme_command(CHECK_COMMAND, deployment)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "FAIL" not in result.stdout
        from cocmail.render import TEMPLATE_NAMES

        assert f"templates: {len(TEMPLATE_NAMES)} templates (built-in)" in result.stdout
        assert f"storage: {deployment.storage} is writable" in result.stdout
        assert f"logged in as {user}" in result.stdout

        secrets.chmod(0o600)  # root only: the mistake the README's mode avoids
        assert run_readme_command(CHECK_COMMAND, deployment).returncode != 0
    deployment.config.write_text(text)  # as the deployment wrote it: example.org
    secrets.chmod(0o640)
    placeholders = run_readme_command(CHECK_COMMAND, deployment)
    assert placeholders.returncode != 0
    assert "FAIL  placeholder: inbox.address = 'conduct@example.org'" in placeholders.stdout


CHECK_COMMAND = ("runuser -u cocmail -- /opt/cocmail/venv/bin/cocmail --config "
                 "/etc/cocmail/cocmail.toml check")


def test_report_o_where_the_service_user_may_not_write_says_who_it_runs_as(
        deployment: Deployment) -> None:
    """`report -o` as the service user into root's directory: one line naming the path
    and the user (was "[Errno 13] Permission denied: '/root/r.csv'"); the README's
    example path, in the storage dir, works."""
    deployment.create_storage()
    (deployment.root / "root-only").mkdir(mode=0o700)
    text = deployment.config.read_text().replace("example.org", "conference.test")
    deployment.config.write_text(text)
    as_service = ["runuser", "-u", COCMAIL_USER, "--", str(deployment.program),
                  "--config", str(deployment.config)]
    denied = subprocess.run([*as_service, "report", "-o",
                             str(deployment.root / "root-only" / "r.csv")],
                            capture_output=True, text=True, timeout=60, cwd="/")
    assert denied.returncode == 1
    assert denied.stderr.strip() == (
        f"Error: {deployment.root / 'root-only' / 'r.csv'}: Permission denied (this command"
        f" runs as {COCMAIL_USER}: choose a path {COCMAIL_USER} may use)"), denied.stderr
    allowed = subprocess.run([*as_service, "report", "-o", str(deployment.storage / "r.csv")],
                             capture_output=True, text=True, timeout=60, cwd="/")
    assert allowed.returncode == 0, allowed.stderr


# ------------------------------------------------------------------ the Postfix tests
@pytest.mark.postfix
@needs_postfix
@pytest.mark.parametrize("name", list(RECIPES))
def test_postfix_recipe_delivers_reports_and_staff_replies(
        name: str, deployment: Deployment, postfix: Postfix, smtp_sink: SmtpSink,
        start_service: Callable[[Deployment], Service]) -> None:
    """A report sent to the conduct address through Postfix is acknowledged; so is mail
    to a plus-address (where staff replies go, Reply-To: conduct+<token>@...)."""
    deployment.create_storage()
    service = receiving(name, deployment, postfix, start_service)
    # `postfix check` warned about recipe 1's alias directory when it was in /etc/postfix.
    checked = subprocess.run(["/usr/sbin/postfix", "-c", str(postfix.etc), "check"],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    time.sleep(1)  # postlogd writes the script's warnings a moment later
    assert "not owned by root" not in postfix.logs(), postfix.logs()

    for n, rcpt in ((1, INBOX), (2, "conduct+reply-token@example.org")):
        reporter, raw = report(n, rcpt)
        queue_id = postfix.send(raw, reporter, rcpt)
        delivery = postfix.wait_for_attempt(queue_id)
        assert delivery.status == "sent", delivery
        ack = wait_for_ack(smtp_sink, reporter, postfix)
        assert ack.message["Subject"] == f"[CoC #{n}] {ACK_SUBJECT}"

    assert queues(postfix, []) == []
    assert not [p for p in deployment.storage.rglob("*") if p.stat().st_uid == 0], \
        "cocmail wrote files as root: Postfix did not run it as the cocmail user"
    # The admin's look at the cases, as the README shows it (beside `run` for the listener).
    listed = run_readme_command("runuser -u cocmail -- /opt/cocmail/venv/bin/cocmail "
                                "--config /etc/cocmail/cocmail.toml cases", deployment)
    assert listed.returncode == 0, listed.stderr
    assert re.findall(r"^#(\d+) ", listed.stdout, re.M) == ["1", "2"], listed.stdout
    if service is not None:
        assert service.stop() == 0, service.log.read_text(errors="replace")


@pytest.mark.postfix
@needs_postfix
@pytest.mark.parametrize("name", ["alias", "pipe"])
def test_postfix_defers_and_retries_when_ingest_exits_75(
        name: str, deployment: Deployment, postfix: Postfix, smtp_sink: SmtpSink,
        start_service: Callable[[Deployment], Service]) -> None:
    """The admin forgot to create /var/lib/cocmail: `ingest` cannot store the report and
    exits 75; Postfix keeps it (no bounce to the reporter), and once the directory is
    made, a queue flush delivers it and the reporter is acknowledged."""
    receiving(name, deployment, postfix, start_service)
    reporter, raw = report(1)
    queue_id = postfix.send(raw, reporter, INBOX)

    first = postfix.wait_for_attempt(queue_id)
    assert first.status == "deferred", first
    assert "could not store the message" in first.detail
    assert queues(postfix, ["deferred"]) == ["deferred"]
    assert smtp_sink.messages == []  # neither an acknowledgement nor a bounce

    deployment.create_storage()
    postfix.flush()
    second = postfix.wait_for_attempt(queue_id, count=2)
    assert second.status == "sent", second
    wait_for_ack(smtp_sink, reporter, postfix)
    assert queues(postfix, []) == []
    assert " status=bounced " not in postfix.logs()


@pytest.mark.postfix
@needs_postfix
def test_postfix_keeps_mail_for_the_listener_while_cocmail_is_stopped(
        deployment: Deployment, postfix: Postfix, smtp_sink: SmtpSink,
        start_service: Callable[[Deployment], Service]) -> None:
    """With the listener route, a report sent while `cocmail run` is down waits in
    Postfix's queue and is acknowledged once cocmail is back and the queue is flushed."""
    deployment.create_storage()
    apply_recipe(postfix, recipe(RECIPES["listener"]), deployment.paths(postfix))
    reporter, raw = report(1)
    queue_id = postfix.send(raw, reporter, INBOX)
    first = postfix.wait_for_attempt(queue_id)
    assert first.status == "deferred", first
    assert queues(postfix, ["deferred"]) == ["deferred"]

    service = start_service(deployment)
    postfix.flush()
    assert postfix.wait_for_attempt(queue_id, count=2).status == "sent"
    wait_for_ack(smtp_sink, reporter, postfix)
    assert service.stop() == 0, service.log.read_text(errors="replace")


# ------------------------------------------------------------------ day two (issue 22)
@pytest.mark.postfix
@needs_postfix
@pytest.mark.parametrize("name", ["alias", "pipe"])
def test_postfix_ingest_without_the_password_loses_no_mail(
        name: str, deployment: Deployment, postfix: Postfix, smtp_sink: SmtpSink) -> None:
    """The SMTP password in `password_env` (secrets.env), which the `ingest` Postfix
    runs cannot see: the acknowledgement waits, no mail is marked failed. With the
    README's fix, `password_file` readable by cocmail, the waiting mail goes with the
    next `cocmail run` and a new report is acknowledged at once by `ingest` itself."""
    user, password = "conduct@example.org", "Xy$$9z"
    with SmtpSink(login=(user, password)) as sink:
        text = deployment.config.read_text().replace(
            smtp_sink.smtp_toml(), sink.smtp_toml() + f'username = "{user}"\n'
            'password_env = "COCMAIL_SMTP_PASSWORD"\n')
        deployment.config.write_text(text)
        secrets = deployment.config.with_name("secrets.env")
        secrets.write_text(f"COCMAIL_SMTP_PASSWORD={password}\n")
        deployment.create_storage()
        apply_recipe(postfix, recipe(RECIPES[name]), deployment.paths(postfix))

        reporter, raw = report(1)
        delivery = postfix.wait_for_attempt(postfix.send(raw, reporter, INBOX))
        assert delivery.status == "sent", delivery
        as_cocmail = ["runuser", "-u", COCMAIL_USER, "--", str(deployment.program),
                      "--config", str(deployment.config)]
        listed = subprocess.run([*as_cocmail, "outbox", "list"], capture_output=True,
                                text=True, timeout=60, cwd="/")
        assert " failed " not in listed.stdout, listed.stdout
        assert "password_env: environment variable COCMAIL_SMTP_PASSWORD is not set" \
            in listed.stdout, listed.stdout
        assert sink.messages == []

        # The README's fix: the password in a file the service user can read.
        password_file = deployment.config.with_name("smtp-password")
        password_file.write_text(password + "\n")
        password_file.chmod(0o640)
        os.chown(password_file, 0, _gid(COCMAIL_USER))
        deployment.config.write_text(text.replace(
            'password_env = "COCMAIL_SMTP_PASSWORD"', f'password_file = "{password_file}"'))
        caught_up = subprocess.run([*as_cocmail, "run", "--once"], capture_output=True,
                                   text=True, timeout=60, cwd="/")
        assert caught_up.returncode == 0, caught_up.stderr
        wait_for_ack(sink, reporter, postfix)

        reporter2, raw2 = report(2)
        assert postfix.wait_for_attempt(postfix.send(raw2, reporter2, INBOX)).status == "sent"
        wait_for_ack(sink, reporter2, postfix, timeout=5)


def _mode_owner(path: Path) -> tuple[str, str, str]:
    st = path.stat()
    return (oct(st.st_mode & 0o7777), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


def test_install_sh_run_twice_converges_and_keeps_the_teams_files(
        deployed_cocmail: Path) -> None:
    """deploy/install.sh, as root, twice over (the second run is also what an upgrade
    does): user, directories, venv, unit and Postfix alias file, each owned and moded as
    the README says; the second run creates nothing, restores modes and keeps the
    team's edited config."""
    root = Path(tempfile.mkdtemp(prefix="cocmail-install-"))
    root.chmod(0o755)
    (wheel,) = (deployed_cocmail.parent.parent.parent / "dist").glob("cocmail-*.whl")

    def install() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / "deploy" / "install.sh"), "--root", str(root),
                               str(wheel)], capture_output=True, text=True, timeout=600,
                              cwd="/", umask=0o022)

    # A venv left from a hand install with root's own Python (pyenv, conda: under /root,
    # which the cocmail user cannot enter): the service could never start from it.
    private = root / "root-only"
    private.mkdir(mode=0o700)
    (private / "python3").symlink_to(SYSTEM_PYTHON)
    (root / "opt" / "cocmail" / "venv" / "bin").mkdir(parents=True)
    (root / "opt" / "cocmail" / "venv" / "bin" / "python").symlink_to(private / "python3")
    for d in (root / "opt", root / "opt" / "cocmail"):
        d.chmod(0o755)
    try:
        first = install()
        assert first.returncode == 0, first.stdout + first.stderr
        assert "cannot run" in first.stdout and "making it again" in first.stdout
        as_service = subprocess.run(
            ["runuser", "-u", COCMAIL_USER, "--",
             str(root / "opt" / "cocmail" / "venv" / "bin" / "cocmail"), "--version"],
            capture_output=True, text=True, timeout=60, cwd="/")
        assert as_service.returncode == 0, as_service.stderr
        etc, state = root / "etc" / "cocmail", root / "var" / "lib" / "cocmail"
        aliases = root / "var" / "lib" / "cocmail-postfix" / "aliases"
        expected = {etc: ("0o750", "root", COCMAIL_USER),
                    etc / "cocmail.toml": ("0o640", "root", COCMAIL_USER),
                    etc / "secrets.env": ("0o640", "root", COCMAIL_USER),
                    state: ("0o700", COCMAIL_USER, COCMAIL_USER),
                    aliases.parent: ("0o755", COCMAIL_USER, COCMAIL_USER),
                    aliases: ("0o644", COCMAIL_USER, COCMAIL_USER)}
        assert {p: _mode_owner(p) for p in expected} == expected
        unit = root / "etc" / "systemd" / "system" / "cocmail.service"
        assert unit.read_text() == UNIT
        assert 'dir = "/var/lib/cocmail"' in (etc / "cocmail.toml").read_text()
        assert "ingest -" in aliases.read_text()
        from cocmail import __version__

        version = subprocess.run([str(root / "opt" / "cocmail" / "venv" / "bin" / "cocmail"),
                                  "--version"], capture_output=True, text=True, timeout=60)
        assert version.stdout.startswith(f"cocmail {__version__} ")

        # A wheel built from a newer checkout before the next release: the same version,
        # other code. It must replace the installed one (pip alone keeps the old).
        import zipfile

        newer = root / "newer" / wheel.name
        newer.parent.mkdir()
        shutil.copy(wheel, newer)
        with zipfile.ZipFile(newer, "a") as z:
            z.writestr("cocmail/_newer_checkout.txt", "built from a newer checkout\n")
        wheel = newer
        site = next((root / "opt" / "cocmail" / "venv" / "lib").glob("python3*/site-packages"))

        # The team edits its config; someone loosens a mode by mistake.
        edited = (etc / "cocmail.toml").read_text() + "\n# our own settings\n"
        (etc / "cocmail.toml").write_text(edited)
        (etc / "secrets.env").chmod(0o644)
        second = install()
        assert second.returncode == 0, second.stdout + second.stderr
        assert not re.search(r"created|wrote|installed /", second.stdout), second.stdout
        assert "user cocmail exists" in second.stdout
        assert (etc / "cocmail.toml").read_text() == edited
        assert (site / "cocmail" / "_newer_checkout.txt").exists(), \
            "install.sh kept the old code: the new wheel has the same version"
        assert {p: _mode_owner(p) for p in expected} == expected
    finally:
        shutil.rmtree(root, ignore_errors=True)
