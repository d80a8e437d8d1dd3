"""A case's files on the server: listed, and saved for the team (`cocmail cases
attachments N [-o DIR]`, `cases show`).

They are read from the raw mail cocmail stores (the only copy it keeps; a purge
removes it) and saved as they came, metadata included: this is the team's own copy,
on the team's own machine. What mail carries to staff is core/evidence.py.

Saving never trusts the sender's file name: core/evidence.safe_name makes one with no
directory part, control character or leading dot; a name already in the directory (or
given twice in the case) is numbered, and an existing file is never overwritten
(O_EXCL). Files are 0600 and a directory cocmail creates is 0700: the evidence of a
harassment report is for the team only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .app import App
from .core.evidence import File, describe, files_in, safe_name, unique
from .errors import UserError
from .store import cases as cases_db


@dataclass(frozen=True)
class CaseFile:
    """One file of a case, and the message it came with."""

    file: File
    message: int  # 1-based, among the case's incoming mail
    date: str
    sender: str
    kind: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.file.name, "type": self.file.ctype, "size": self.file.size}

    def line(self) -> str:
        return (f"{describe(self.file.name, self.file.ctype, self.file.size)}  "
                f"from message {self.message} ({self.kind}, {self.date[:16]}, {self.sender})")


def case_files(app: App, number: int) -> list[CaseFile]:
    """Every file of case `number`'s incoming mail, oldest first (none once purged)."""
    rows = app.store.read(cases_db.case_correspondence, number)
    out: list[CaseFile] = []
    incoming = [r for r in rows if r["direction"] == "in"]
    for n, r in enumerate(incoming, 1):
        for f in files_in(r["raw"] or b""):
            out.append(CaseFile(f, n, r["date"] or "", r["sender"] or "", r["kind"] or ""))
    return out


def save_files(files: list[CaseFile], directory: Path) -> list[Path]:
    """Write `files` into `directory` (created 0700 when missing); the paths written."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {directory}: {e.strerror or e}") from None
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into {directory}: permission denied")
    taken = {p.name.lower() for p in directory.iterdir()}
    written: list[Path] = []
    for n, cf in enumerate(files, 1):
        base = safe_name(cf.file.name, cf.file.ctype, n)
        while True:
            name = unique(base, taken)
            taken.add(name.lower())
            try:
                fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | getattr(os, "O_NOFOLLOW", 0), 0o600)
            except FileExistsError:
                continue  # appeared since the directory was read: the next number
            except OSError as e:
                raise UserError(f"cannot write {directory / name}: {e.strerror or e}") from None
            break
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "wb") as out:
            out.write(cf.file.data)
        written.append(directory / name)
    return written
