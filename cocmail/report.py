"""The internal report ("the central spreadsheet"): one row per case, fixed columns.

Columns and order are a contract (interface.md). Multi-person cells are joined with
"; " so the CSV opens as-is in Google Sheets, LibreOffice and Excel.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .case import Case
from .env import Env

COLUMNS = ("Case", "Status", "Opened", "Reporter name", "Reporter email", "Received by",
           "Handled by", "When", "Where", "Details", "Action taken", "Outcome",
           "Others aware", "Reported to DSF")


def _staff_label(env: Env, email: str) -> str:
    m = env.roster.by_email(email)
    return f"{m.name} <{m.email}>" if m else email


def case_row(case: Case, env: Env) -> dict[str, str]:
    if case.reporter_anonymous:
        rname, remail = "anonymous", ""
    elif case.reporter:
        rname, remail = case.reporter.name, case.reporter.email or ""
    else:
        rname, remail = "", ""
    received = _staff_label(env, case.received_by) if case.received_by else (
        f"{env.inbox} (by email)")
    dsf = case.step("dsf_reported")
    if dsf is None:
        dsf_text = "no"
    elif case.dsf_hold_until and env.now < case.dsf_hold_until:
        dsf_text = f"scheduled for {env.local(dsf)}"
    else:
        dsf_text = f"yes, {env.local(dsf)}"
    return {
        "Case": str(case.number),
        "Status": case.status,
        "Opened": env.local(case.opened),
        "Reporter name": rname,
        "Reporter email": remail,
        "Received by": received,
        "Handled by": "; ".join(_staff_label(env, h) for h in case.handlers),
        "When": case.when or "",
        "Where": case.where or "",
        "Details": " ".join((case.summary or "").split()),
        "Action taken": case.action or "",
        "Outcome": case.outcome or "",
        "Others aware": case.others or "",
        "Reported to DSF": dsf_text,
    }


def to_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: " ".join(str(row[k]).splitlines()) for k in COLUMNS})
    return buf.getvalue()


def to_json(rows: list[dict[str, str]]) -> str:
    return json.dumps(rows, indent=2, ensure_ascii=False)


def write_xlsx(rows: list[dict[str, str]], path: Path, title: str) -> None:
    from openpyxl import Workbook  # lazy: only this command needs it

    wb = Workbook()
    ws = wb.active
    ws.title = "Incidents"
    ws.append(list(COLUMNS))
    for row in rows:
        ws.append([row[c] for c in COLUMNS])
    ws.freeze_panes = "A2"
    wb.properties.title = title
    wb.save(path)
