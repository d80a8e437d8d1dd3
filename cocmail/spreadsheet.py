"""Writes the internal report as an XLSX file (the one report format that is a file).

The rows and columns come from core/report.py; only the writing lives here, in the shell.
"""

from __future__ import annotations

from pathlib import Path

from .core.report import COLUMNS
from .core.safe_text import shown


def write_xlsx(rows: list[dict[str, str]], path: Path, title: str) -> None:
    """One sheet, header row frozen; every value a text cell (never a formula)."""
    from openpyxl import Workbook  # lazy: only this command needs it

    wb = Workbook()
    ws = wb.active
    ws.title = "Incidents"
    ws.append(list(COLUMNS))
    for r, row in enumerate(rows, start=2):
        for c, column in enumerate(COLUMNS, start=1):
            cell = ws.cell(row=r, column=c, value=row[column])
            cell.data_type = "s"  # openpyxl would store "=..." as a formula otherwise
    ws.freeze_panes = "A2"
    for c, column in enumerate(COLUMNS, start=1):
        width = max([len(column)] + [len(row[column]) for row in rows])
        ws.column_dimensions[ws.cell(row=1, column=c).column_letter].width = min(width + 2, 60)
    wb.properties.title = shown(title, lines=False)  # openpyxl refuses control characters
    wb.save(path)
