"""cocmail as users install it: the sdist and the wheel, installed into a fresh venv.

Every other test imports cocmail from the checkout, where files beside the source tree
(the templates) are always found. A mail admin installs the wheel instead, and an
installed cocmail that cannot find its templates cannot send a single mail. So this
module builds the sdist, builds the wheel *from the sdist* (as pip does), installs it
into a new venv outside the checkout and runs it from yet another directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from cocmail.render import TEMPLATE_NAMES
from testsupport.helpers import read_spooled

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]


class Installed:
    def __init__(self, base: Path):
        self.base = base
        self.dist = base / "dist"
        self.venv = base / "venv"
        self.work = base / "elsewhere"  # neither the checkout nor the venv
        self.work.mkdir()

    @property
    def cocmail(self) -> str:
        return str(self.venv / "bin" / "cocmail")

    def run(self, *args: str, stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("COCMAIL_CONFIG", "PYTHONPATH")}
        full_env.update(env or {})
        return subprocess.run([self.cocmail, *args], input=stdin, capture_output=True,
                              cwd=self.work, env=full_env, timeout=120)


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    base = Path(tempfile.mkdtemp(prefix="cocmail-installed-"))
    inst = Installed(base)
    try:
        sdist = _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(inst.dist),
                      str(ROOT)])
        assert sdist.returncode == 0, sdist.stderr[-3000:]
        (tarball,) = inst.dist.glob("cocmail-*.tar.gz")
        wheel = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                      str(inst.dist), str(tarball)], cwd=base)
        assert wheel.returncode == 0, wheel.stderr[-3000:]
        venv = _run([sys.executable, "-m", "venv", str(inst.venv)])
        assert venv.returncode == 0, venv.stderr
        (whl,) = inst.dist.glob("cocmail-*.whl")
        pip = _run([str(inst.venv / "bin" / "pip"), "install", "-q", str(whl)], cwd=base)
        assert pip.returncode == 0, pip.stderr[-3000:]
        yield inst
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_sdist_and_wheel_carry_every_template(installed: Installed) -> None:
    (tarball,) = installed.dist.glob("cocmail-*.tar.gz")
    with tarfile.open(tarball) as tar:
        in_sdist = {Path(n).name for n in tar.getnames() if "/templates/" in n}
    (whl,) = installed.dist.glob("cocmail-*.whl")
    with zipfile.ZipFile(whl) as z:
        in_wheel = {Path(n).name for n in z.namelist() if n.startswith("cocmail/templates/")}
    wanted = {f"{name}.txt" for name in TEMPLATE_NAMES}
    assert wanted <= in_sdist
    assert wanted <= in_wheel


def test_installed_version(installed: Installed) -> None:
    from cocmail import __version__
    from cocmail.store.migrations import LATEST

    out = installed.run("--version")
    assert out.returncode == 0
    assert out.stdout.decode() == f"cocmail {__version__} (database schema {LATEST})\n"
    # The one place: the built wheel is named after cocmail/__init__.py's version, so a
    # release's wheel installs over the one before it.
    assert [w.name for w in installed.dist.glob("cocmail-*.whl")] == [
        f"cocmail-{__version__}-py3-none-any.whl"]
    assert __version__ != "0.1.0"  # issue 22: every build used to be 0.1.0


def test_installed_demo_shows_every_mail(installed: Installed) -> None:
    out = installed.run("demo", "--dir", str(installed.work / "demo"))
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert "We have received your report" in text
    assert "Traceback" not in text + out.stderr.decode()
    # It ends with the event's public transparency report, which names nobody.
    report = text.split("Code of Conduct transparency report", 1)[1]
    assert "1. Unwanted touching at the conference party" in report
    for word in ("Eve", "Dan", "Doe"):
        assert not re.search(rf"\b{word}\b", report), word
    assert "@attendee" not in report and "@speaker" not in report


def test_installed_ingest_acknowledges_a_report(installed: Installed) -> None:
    """The report a Postfix pipe hands over is acknowledged by the installed command."""
    conf = installed.work / "site"
    conf.mkdir()
    (conf / "cocmail.toml").write_text(
        '[event]\nname = "Installed Conf 2027"\n'
        '[inbox]\naddress = "conduct@installed.example"\n'
        '[storage]\ndir = "data"\n'
        '[[staff]]\nname = "Ana Lima"\nemail = "ana@installed.example"\nlead = true\n',
        encoding="utf-8")
    report = (b"From: Eve Attendee <eve@attendee.example>\r\n"
              b"To: conduct@installed.example\r\n"
              b"Subject: Someone at the party\r\n"
              b"Message-ID: <report-1@attendee.example>\r\n"
              b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n"
              b"Someone kept touching my shoulder at the party after I said no.\r\n")
    cfg = str(conf / "cocmail.toml")
    check = installed.run("--config", cfg, "check")
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    out = installed.run("--config", cfg, "ingest", "-", stdin=report)
    assert out.returncode == 0, out.stderr.decode()
    spool = sorted((conf / "data" / "spool").glob("*.eml"))
    # Sealed like the store (issue 27): read with the storage dir's keys.
    assert spool and not any(b"eve@attendee.example" in p.read_bytes() for p in spool)
    mails = [message_from_bytes(raw, policy=default_policy) for raw in read_spooled(spool)]
    acks = [m for m in mails if m["To"] and "eve@attendee.example" in str(m["To"])]
    assert len(acks) == 1
    assert "[CoC #1]" in str(acks[0]["Subject"])
    staff = [m for m in mails if "ana@installed.example" in str(m["To"])]
    assert len(staff) == 1
