"""The internal report ("the central spreadsheet"): one row per case, fixed columns.

Columns and order are a contract (docs/interface.md). The CSV is meant to be opened as-is in
Google Sheets, LibreOffice and Excel and handed to a colleague, so:

- every value is one physical line (line breaks in a staff command or a header become
  spaces), and multi-person cells are joined with "; ";
- values come from mail (a reporter's display name, a subject) and may start with `=`,
  `+`, `-` or `@`; a spreadsheet would run them as formulas (CSV injection), so such
  CSV values get a leading apostrophe, the spreadsheets' own "this is text" marker. The
  XLSX writer stores every value as a string cell instead, and JSON keeps values as they are.

The CSV is plain UTF-8 without a byte-order mark, so scripts and the csv module read the
header as written. Google Sheets and LibreOffice detect UTF-8; Excel opens it correctly
through Data > From Text/CSV (a double-click may assume the local code page for
non-ASCII names): for Excel users, `--format xlsx` is the one to hand over.
"""

from __future__ import annotations

import csv
from io import StringIO

from .case import Case
from .env import Env
from .safe_text import safe_json, shown

COLUMNS = ("Case", "Status", "Opened", "Reporter name", "Reporter email", "Received by",
           "Handled by", "When", "Where", "Details", "Action taken", "Outcome",
           "Others aware", "Reported to DSF")
JOIN = "; "
# First characters that make Excel, LibreOffice or Google Sheets read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _one_line(value: str | None) -> str:
    """Collapse all whitespace (line breaks included) so a row stays one line everywhere,
    and show control characters escaped (`\\x1b`): a cell never carries an escape
    sequence to a terminal, nor a character a spreadsheet writer refuses."""
    return shown(" ".join((value or "").split()), lines=False)


def _staff_label(env: Env, email: str) -> str:
    m = env.roster.by_email(email)
    return f"{m.name} <{m.email}>" if m else email


def _reporter(case: Case) -> tuple[str, str]:
    if case.reporter_anonymous:
        return "anonymous", ""
    if case.reporter:
        return case.reporter.name, case.reporter.email or ""
    return "", ""


def _received_by(case: Case, env: Env) -> str:
    """A staff member who entered an in-person report, else the inbox it came to."""
    if case.received_by:
        return _staff_label(env, case.received_by)
    return f"{env.inbox} (by email)"


def _dsf_cell(case: Case, env: Env) -> str:
    dsf = case.step("dsf_reported")
    if dsf is None:
        return "no"
    if case.dsf_hold_until and env.now < case.dsf_hold_until:
        return f"scheduled for {env.local(dsf)}"
    return f"yes, {env.local(dsf)}"


def _until_cell(case: Case) -> str:
    """After a suspension or ban in the sheet: when it ends (#until), per person when
    the reported people's dates differ."""
    dated = [p for p in case.accused if p.until is not None]
    if not dated:
        return ""
    if len({p.until for p in dated}) == 1 and len(dated) == len(case.accused):
        return f" until {dated[0].until}"
    return " (" + JOIN.join(f"{p.name or p.email} until {p.until}" for p in dated) + ")"


def case_row(case: Case, env: Env) -> dict[str, str]:
    """One sheet row: every column present, every value a single-line string."""
    rname, remail = _reporter(case)
    row = {
        "Case": str(case.number),
        "Status": case.status,
        "Opened": env.local(case.opened),
        "Reporter name": rname,
        "Reporter email": remail,
        "Received by": _received_by(case, env),
        "Handled by": JOIN.join(_staff_label(env, h) for h in case.handlers),
        "When": case.when or "",
        "Where": case.where or "",
        "Details": case.summary or "",
        "Action taken": case.action or "",
        "Outcome": (case.outcome or "") + _until_cell(case),
        "Others aware": case.others or "",
        "Reported to DSF": _dsf_cell(case, env),
    }
    return {k: _one_line(v) for k, v in row.items()}


def _csv_safe(value: str) -> str:
    """Neutralise a value a spreadsheet would evaluate as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def to_csv(rows: list[dict[str, str]]) -> str:
    """RFC 4180 CSV (CRLF, quoted where needed), header row first; UTF-8 when written."""
    buf = StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_safe(_one_line(str(row[k]))) for k in COLUMNS})
    return buf.getvalue()


def to_json(rows: list[dict[str, str]]) -> str:
    return safe_json(rows)

