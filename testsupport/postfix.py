"""A real Postfix for tests, and cocmail installed the way the README deploys it.

No pytest here (like testsupport/servers.py), so scripts and benchmarks can reuse it. The
Postfix is Debian's, started as a private instance (`postfix -c DIR start`) with its own
main.cf, master.cf, queue and log in a temp dir, listening on 127.0.0.1 only: the
machine's own /etc/postfix is never read, and nothing leaves the machine (every
transport the test does not configure is `error`).

Postfix runs delivery commands as other users (local(8) as the owner of the alias
database, pipe(8) as `user=`), so everything here must be reachable by them: temp dirs
are mode 0755, and cocmail is installed into a venv built on the system Python rather
than run from the test's own venv, whose interpreter may live where only root can look.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from testsupport.servers import free_port, wait_until

POSTFIX_BINARY = "/usr/sbin/postfix"
SYSTEM_PYTHON = "/usr/bin/python3"
COCMAIL_USER = "cocmail"
ROOT = Path(__file__).resolve().parent.parent

_MAIN_CF = """\
# Written by testsupport/postfix.py: a private Postfix on 127.0.0.1, nothing from /etc/postfix.
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{domain}
mydomain = {domain}
myorigin = $mydomain
mydestination = $mydomain, localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
local_transport = local:$myhostname
alias_maps = hash:{etc}/aliases
alias_database = hash:{etc}/aliases
# Nothing leaves the machine: mail for anywhere else fails at once, visibly in the log.
default_transport = error:outside the test
relay_transport = error:outside the test
biff = no
smtputf8_enable = no
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
# A deferred message stays deferred until the test flushes the queue.
queue_run_delay = 300s
minimal_backoff_time = 300s
maximal_backoff_time = 600s
"""

# Debian's master.cf with every service unchrooted (a chroot would need copies of /etc
# files in the queue directory) and smtpd on its own port instead of port 25.
_MASTER_CF = """\
# Written by testsupport/postfix.py.
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
local      unix  - n n - - local
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


class PostfixError(RuntimeError):
    """Postfix refused to start or a Postfix command failed; carries its log."""


@dataclass(frozen=True)
class Delivery:
    """What Postfix's log says happened to one recipient of one queued message."""

    queue_id: str
    recipient: str
    status: str  # "sent", "deferred", "bounced"
    detail: str  # the text in parentheses after the status


class Postfix:
    """Debian's Postfix as a private instance in a fresh temp dir.

    `main_cf` and `master_cf` are appended to the instance's own files: that is where a
    test puts the lines a mail admin would add (from the README). `etc` is the
    instance's config directory, standing in for /etc/postfix.
    """

    def __init__(self, domain: str = "example.org", main_cf: str = "", master_cf: str = "",
                 binary: str = POSTFIX_BINARY):
        self.binary = binary
        self.domain = domain
        self.host = "127.0.0.1"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cocmail-postfix-"))
        self.root.chmod(0o755)  # the postfix user and delivery users must traverse it
        self.etc = self.root / "etc"
        self.etc.mkdir()
        self.etc.chmod(0o755)
        self.main_cf_extra = main_cf
        self.master_cf_extra = master_cf
        self.running = False
        self._write_config()
        # A root-owned alias file like Debian's /etc/aliases, so Postfix finds postmaster.
        self.write_file(self.etc / "aliases", "postmaster: root\n")
        self.postalias(self.etc / "aliases")

    # ---- files and maps
    def write_file(self, path: Path, text: str, owner: str | None = None) -> Path:
        """Write a config file readable by Postfix; `owner` chowns it (and makes it theirs)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
        if owner is not None:
            user = pwd.getpwnam(owner)
            os.chown(path, user.pw_uid, user.pw_gid)
        return path

    def postalias(self, path: Path) -> None:
        """`postalias` for this instance. Like the real one, run as root on a file owned by
        someone else it builds the .db as that owner, which decides who runs its commands."""
        self.command("postalias", str(path))

    def postmap(self, path: Path) -> None:
        self.command("postmap", str(path))

    def command(self, name: str, *args: str) -> str:
        """Run Postfix's `name` tool (postfix, postconf, postmap...) on this instance."""
        self._backdate_config()
        proc = subprocess.run([f"/usr/sbin/{name}", "-c", str(self.etc), *args],
                              capture_output=True, text=True, timeout=30, umask=0o022)
        if proc.returncode != 0:
            raise PostfixError(f"{name} {' '.join(args)} failed ({proc.returncode}):\n"
                               f"{proc.stdout}{proc.stderr}\n{self.logs()}")
        return proc.stdout

    # ---- lifecycle
    def _backdate_config(self) -> None:
        """Postfix's tools wait (up to 2 s, in 0.3 s naps) while main.cf is younger than a
        second, in case an editor is still writing it; our files are complete, so they
        are dated a few seconds back instead of every test sleeping."""
        past = time.time() - 5
        for name in ("main.cf", "master.cf"):
            path = self.etc / name
            if path.exists() and path.stat().st_mtime > past:
                os.utime(path, (past, past))

    def _write_config(self) -> None:
        main_cf = _MAIN_CF.format(root=self.root, etc=self.etc, domain=self.domain)
        self.write_file(self.etc / "main.cf", main_cf + self.main_cf_extra)
        self.write_file(self.etc / "master.cf",
                        _MASTER_CF.format(port=self.port) + self.master_cf_extra)

    def start(self, timeout: float = 10.0) -> Postfix:
        self._write_config()
        for sub, owner in (("queue", "root"), ("data", "postfix")):
            (self.root / sub).mkdir(exist_ok=True)
            (self.root / sub).chmod(0o755)  # explicit: the suite may run with umask 077
            chown_to(self.root / sub, owner)
        # `postfix start` creates the queue's subdirectories with the right owners itself.
        self.command("postfix", "start")
        self.running = True
        if not wait_until(self._accepting, timeout, interval=0.02):
            self.stop()
            raise PostfixError(f"postfix did not listen on port {self.port}:\n{self.logs()}")
        return self

    def _accepting(self) -> bool:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=1) as smtp:
                return smtp.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def stop(self) -> None:
        """`postfix stop`, then wait for the master to be gone (it exits asynchronously)."""
        if not self.running:
            return
        self.running = False
        pid = self._master_pid()
        with contextlib.suppress(PostfixError):
            self.command("postfix", "stop")
        if pid and not wait_until(lambda: not _alive(pid), 5.0, interval=0.05):
            with contextlib.suppress(PostfixError):
                self.command("postfix", "abort")
            wait_until(lambda: not _alive(pid), 5.0, interval=0.05)

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else "(no maillog yet)"

    def __enter__(self) -> Postfix:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # ---- mail in, and what became of it
    def send(self, raw: bytes, mail_from: str, rcpt_to: str) -> str:
        """Hand one message to Postfix's smtpd, as any sender on the Internet would;
        returns the queue ID Postfix answered with."""
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.ehlo("sender.example")
            code, reply = smtp.mail(mail_from)
            if code != 250:
                raise PostfixError(f"MAIL FROM refused: {code} {reply!r}\n{self.logs()}")
            code, reply = smtp.rcpt(rcpt_to)
            if code not in (250, 251):
                raise PostfixError(f"RCPT TO:<{rcpt_to}> refused: {code} {reply!r}\n"
                                   f"{self.logs()}")
            code, reply = smtp.data(raw)
            if code != 250:
                raise PostfixError(f"DATA refused: {code} {reply!r}\n{self.logs()}")
        match = re.search(rb"queued as (\w+)", reply)
        if not match:
            raise PostfixError(f"no queue ID in {reply!r}")
        return match.group(1).decode()

    def deliveries(self, queue_id: str) -> list[Delivery]:
        """Every delivery attempt of `queue_id` the log records, oldest first."""
        pattern = re.compile(rf" {re.escape(queue_id)}: to=<([^>]*)>.*? status=(\w+) \((.*)\)$")
        found = []
        for line in self.logs().splitlines():
            if match := pattern.search(line):
                found.append(Delivery(queue_id, *match.groups()))
        return found

    def wait_for_attempt(self, queue_id: str, count: int = 1, timeout: float = 20.0
                         ) -> Delivery:
        """Block until the log has `count` delivery attempts of `queue_id`; the last one."""
        if not wait_until(lambda: len(self.deliveries(queue_id)) >= count, timeout,
                          interval=0.05):
            raise PostfixError(f"{queue_id}: no delivery attempt {count} within {timeout}s:\n"
                               f"{self.logs()}")
        return self.deliveries(queue_id)[count - 1]

    def reloads(self) -> int:
        """How many times the master logged a reload (`postfix reload` is asynchronous)."""
        return self.logs().count("reload -- version")

    def queue(self) -> list[dict[str, object]]:
        """`postqueue -c DIR -j`: one object per queued message (queue_name, recipients...)."""
        out = self.command("postqueue", "-j")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def flush(self) -> None:
        """`postqueue -c DIR -f`: retry deferred mail now, as an admin does after a fix."""
        self.command("postqueue", "-f")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- the cocmail user

def ensure_system_user(name: str = COCMAIL_USER) -> str | None:
    """Create the README's system user when missing; None when done, else why not.

    Needs root (CI runs the suite as root); the caller skips with the reason otherwise.
    """
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        return None
    if os.geteuid() != 0:
        return f"the {name!r} user does not exist and only root can create it"
    proc = subprocess.run(["useradd", "--system", "--home-dir", f"/var/lib/{name}",
                           "--shell", "/usr/sbin/nologin", name],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return f"useradd {name} failed: {proc.stderr.strip()}"
    return None


def chown_to(path: Path, user: str = COCMAIL_USER) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, grp.getgrgid(entry.pw_gid).gr_gid)


# ---------------------------------------------------------------- cocmail, as deployed

def install_cocmail(dest: Path, python: str = SYSTEM_PYTHON) -> Path:
    """Build cocmail's wheel and install it into a fresh venv at `dest` on the system
    Python, as the README does (`pip wheel --no-deps -w dist .`, `python3 -m venv`,
    `pip install cocmail-*.whl`); returns the venv's `cocmail` command.

    One difference: the venv is made `--without-pip` and the test's own pip installs into
    it (`pip --python`), because Debian's venv spends ~10 s installing a pip of its own.
    The build runs on a copy of the checkout, so the tree under test gets no build/ dir.
    """
    src = dest.parent / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
        ".hypothesis", "cocmail-data"))
    dist = dest.parent / "dist"
    pip = [sys.executable, "-m", "pip"]
    _run([python, "-m", "venv", "--without-pip", str(dest)], cwd=src)
    _run([*pip, "wheel", "-q", "--no-deps", "-w", str(dist), str(src)], cwd=src)
    wheels = sorted(dist.glob("cocmail-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one cocmail wheel in {dist}, found {wheels}")
    _run([*pip, "--python", str(dest / "bin" / "python"), "install", "-q", str(wheels[0])],
         cwd=dest.parent)
    return dest / "bin" / "cocmail"


def _run(argv: list[str], cwd: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300,
                          umask=0o022)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed after {time.monotonic() - started:.1f}s "
                           f"({proc.returncode}):\n{proc.stdout}{proc.stderr}")


# ---------------------------------------------------------------- applying a README recipe

POSTFIX_TOOLS = ("postfix", "postconf", "postmap", "postalias", "postqueue", "postsuper")


@dataclass(frozen=True)
class Block:
    """One fenced block of a recipe: `lang` is "sh" for commands, "" for a file's text
    whose first line is `# /path` (write it) or `# /path: add ...` (append to it)."""

    lang: str
    text: str


def localize(text: str, paths: dict[str, str]) -> str:
    """The recipe's deployed paths replaced by the test's (longest first, so that
    /etc/postfix/cocmail is not half-replaced by a shorter /etc/postfix)."""
    for deployed in sorted(paths, key=len, reverse=True):
        text = text.replace(deployed, paths[deployed])
    return text


def _outside(arg: str) -> bool:
    """True when a localized argument still names a system path: applying the recipe
    would change the machine instead of the test's copy."""
    return bool(re.search(r"(?<![\w./-])/(etc|opt|var|usr/local)/", arg))


def apply_recipe(postfix: Postfix, blocks: list[Block], paths: dict[str, str]) -> None:
    """Do what a mail admin does with a README recipe, on `postfix`: write or extend each
    file shown, run each command shown (Postfix's tools with `-c` for this instance).

    A command or file that would touch a path outside `paths` is an error, never run.
    """
    for block in blocks:
        if block.lang == "sh":
            for line in _command_lines(block.text):
                argv = [localize(arg, paths) for arg in shlex.split(line)]
                if any(_outside(arg) for arg in argv):
                    raise ValueError(f"recipe command leaves the test's paths: {line!r}")
                _run_recipe_command(postfix, argv)
        elif block.lang == "":
            header, _, body = block.text.partition("\n")
            match = re.fullmatch(r"# (/\S+?)(:.*)?", header.strip())
            if not match:
                raise ValueError(f"a file block must start with '# /path': {header!r}")
            path = Path(localize(match.group(1), paths))
            if _outside(str(path)):
                raise ValueError(f"recipe file outside the test's paths: {header!r}")
            body = localize(body, paths)
            if match.group(2):  # "# /etc/postfix/master.cf: add at the end"
                with path.open("a") as f:
                    f.write(body)
            else:
                postfix.write_file(path, body)


def _command_lines(text: str) -> list[str]:
    """Shell lines, with backslash continuations joined and comments left out."""
    joined = text.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip()
            and not line.lstrip().startswith("#")]


def _run_recipe_command(postfix: Postfix, argv: list[str]) -> None:
    if argv[0] in POSTFIX_TOOLS:
        before = postfix.reloads()
        postfix.command(argv[0], *argv[1:])
        if argv[1:] == ["reload"]:
            if not wait_until(lambda: postfix.reloads() > before, 10.0, interval=0.05):
                raise PostfixError(f"postfix reload was not logged:\n{postfix.logs()}")
            time.sleep(0.2)  # the master restarts its services just after logging
        return
    if argv[0] not in ("install", "chown", "chmod"):
        raise ValueError(f"recipe command the test does not know how to run: {argv}")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, umask=0o022)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr}")
