"""The real `cocmail` command in a subprocess, as an operator, systemd or an MTA runs it:
`python -m cocmail` from this checkout, whatever else is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the checkout under test


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cocmail_env() -> dict[str, str]:
    """The caller's environment, minus anything that could pick another config."""
    env = {k: v for k, v in os.environ.items() if k != "COCMAIL_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)  # the checkout under test, whatever else is installed
    return env


def cocmail_argv(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cocmail", "--config", str(config), *args]


def cocmail(config: Path, *args: str, stdin: bytes | None = None) -> Run:
    """Run one `cocmail` command to completion, as an operator or an MTA would."""
    proc = subprocess.run(cocmail_argv(config, *args), input=stdin, capture_output=True,
                          cwd=config.parent, env=cocmail_env(), timeout=60)
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
