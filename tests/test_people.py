"""Repeat offenders, `cocmail people` and `cocmail check-attendees`, through real mail.

A person is the same person when an address matches (case-insensitively) or the
normalised name does ("Doe, Dan" = "dan doe" = "DÁN Doe"). Only earlier cases where
they were the *accused* count as history: having reported or witnessed something
earlier says nothing about a person.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.cli import main
from cocmail.core.people import addresses_in, name_words, names_written, normalise_name
from cocmail.history import StoreHistory
from testsupport.apps import Desk
from testsupport.helpers import body_of

EARLIER = "==== NAMED IN EARLIER CASES ===="


def closed_case(desk: Desk, accused: str, outcome: str, reporter: str = "Eve <eve@a.example>",
                action: str = "Decided") -> int:
    """A case from a report, decided and closed by Ana replying to her notification."""
    n = desk.report(reporter, "Something happened to me.\n")
    assert desk.staff("ana@example.org", n, f"#accused {accused}\n#action {action}\n"
                                            f"#outcome {outcome}\n#close\n") == "done"
    return n


def test_same_address_warns_in_the_transcript_and_every_relay(desk: Desk) -> None:
    closed_case(desk, "Dan Doe <dan@speaker.example>", "warning")
    n = desk.report("Zed <zed@a.example>", "Someone was rude to me at lunch.\n")
    first = desk.new()
    assert all(EARLIER not in body_of(m) for m in first)  # the report names nobody yet
    desk.staff("ana@example.org", n, "#accused Daniel <DAN@Speaker.Example>\n")
    out = desk.new()
    transcript = next(m for m in out if "ana@" in str(m["To"]))
    text = body_of(transcript)
    assert EARLIER in text
    assert "case 1, closed, outcome: warning" in text
    assert "WARNING: named in earlier cases #1 (warning)" in text
    relay = next(m for m in out if "ben@" in str(m["To"]))
    assert "WARNING: named in earlier cases #1 (warning)" in body_of(relay)


def test_same_normalised_name_warns_even_with_another_address(desk: Desk) -> None:
    closed_case(desk, "Doe, Dan", "ban")
    closed_case(desk, "Dan Doe <dd@elsewhere.example>", "no-action")
    n = desk.report("Zed <zed@a.example>", "It happened again.\n")
    desk.new()
    desk.staff("ben@example.org", n, "#accused DÁN  doe <dan.doe@third.example>\n")
    text = body_of(next(m for m in desk.new() if "ben@" in str(m["To"])))
    assert "named in earlier cases #1 (ban), #2 (no-action)" in text


def test_staff_entered_case_naming_a_repeat_accused_warns_the_new_case_mail(desk: Desk
                                                                            ) -> None:
    closed_case(desk, "Dan Doe <dan@speaker.example>", "warning")
    desk.new()
    desk.enter("ben@example.org", "#accused Doe, Dan\n#summary Shouting at a volunteer\n\n"
                                  "A volunteer told me at the desk.\n")
    out = desk.new()
    notification = next(m for m in out if "ana@" in str(m["To"]))
    assert "New report" in str(notification["Subject"])
    text = body_of(notification)
    assert EARLIER in text and "case 1, closed, outcome: warning" in text
    assert "case 1" in body_of(next(m for m in out if "ben@" in str(m["To"])))


def test_a_report_whose_text_names_an_earlier_accused_warns_at_once(desk: Desk) -> None:
    closed_case(desk, "Dan Doe <dan@speaker.example>", "warning")
    desk.new()
    desk.report("Zed <zed@a.example>", "Doe, Dan (DAN@speaker.example) grabbed me again.\n")
    notifications = [m for m in desk.new() if "New report" in str(m["Subject"])]
    assert len(notifications) == 2
    assert all(EARLIER in body_of(m) for m in notifications)


def test_history_finds_earlier_accused_written_out_in_free_text(desk: Desk) -> None:
    closed_case(desk, "Dan Doe <dan@speaker.example>", "warning")
    closed_case(desk, "Mallory <mal@x.example>", "ban")
    closed_case(desk, "Ray Reporter", "no-action", reporter="Wanda Witness <w@a.example>")
    history = StoreHistory(desk.app.store)

    def cases(text: str) -> list[int]:
        return [e["case"] for e in history.mentioned(text, exclude_case=99)]

    assert cases("it was DOE, DAN, again") == [1]
    assert cases("mail him: <Dan@Speaker.example>.") == [1]
    assert cases("Mallory was there") == []  # one-word names would match too much prose
    assert cases("write to mal@x.example") == [2]
    assert cases("Dana Doering and Danny were there") == []
    assert cases("Wanda Witness saw it") == []  # only accused people are history
    assert cases("Dan Doe") == [1] and history.mentioned("Dan Doe", exclude_case=1) == []


def test_names_and_addresses_are_normalised_predictably() -> None:
    assert normalise_name("Doe, Dan") == normalise_name("dan  DOE") == "dan doe"
    assert normalise_name("Zoë O'Brien") == normalise_name("o brien zoe")
    assert normalise_name("  ") is None and normalise_name(None) is None
    assert addresses_in("x <A.B+c@Ex-ample.org>, y@z.example.") == {"a.b+c@ex-ample.org",
                                                                    "y@z.example"}
    runs = names_written("said Doe, Dan.", 3)[1]
    assert "dan doe" in runs and "ann lee" not in runs
    runs = names_written("Ann Lee Marie and Dan", 3)[1]
    assert {"ann lee marie", "lee marie"} <= runs  # three-word names too
    assert "dan" not in runs  # one-word names never: they would match too much prose


def _words_by_definition(text: str) -> list[str]:
    """name_words as its docstring defines it, one character at a time (the slow way)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return re.findall(r"[^\W_]+", plain)


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8")) | st.text("aáÅå éëÉ,-_'ñŝ.ﬁİı"))
def test_name_words_drops_accents_and_punctuation_in_any_text(text: str) -> None:
    # Its fast paths (ASCII text, one translate for the marks) must not change a word:
    # repeat-offender warnings match on them.
    assert name_words(text) == _words_by_definition(text)


def test_addresses_written_back_to_back_are_all_found() -> None:
    # "a@b.c+d@e.f": the second starts inside what the first's match left off.
    assert addresses_in("a@b.c+d@e.f") == {"a@b.c", "+d@e.f"}
    assert addresses_in("x@ex.org'y@ex.net") == {"x@ex.org", "'y@ex.net"}
    assert addresses_in("no address here") == set()


WORD = st.sampled_from(["dan", "doe", "ann", "lee", "marie", "said", "zoe"])


@settings(max_examples=200, deadline=None)
@given(text=st.lists(WORD, max_size=12), names=st.sets(st.lists(WORD, min_size=1, max_size=3)
                                                       .map(lambda w: " ".join(sorted(w)))))
def test_names_written_finds_exactly_the_names_written_side_by_side(text: list[str],
                                                                    names: set[str]) -> None:
    expected = {n for n in names if len(n.split()) >= 2 and any(
        sorted(text[i:i + len(n.split())]) == n.split() for i in range(len(text)))}
    runs = names_written(", ".join(text), 3)[1]  # what the store looks names on file up by
    assert {n for n in names if n in runs} == expected


def test_other_people_and_other_roles_raise_no_warning(desk: Desk) -> None:
    closed_case(desk, "Dan Doe <dan@speaker.example>", "warning",
                reporter="Rita Reporter <rita@a.example>")
    n = desk.report("Zed <zed@a.example>", "Report.\n")
    desk.new()
    desk.staff("ana@example.org", n, "#accused Dana Doering <dana@speaker.example>\n"
                                     "#accused Rita Reporter <rita@a.example>\n"
                                     "#witness Dan Doe <dan@speaker.example>\n")
    out = desk.new()
    assert out and all(EARLIER not in body_of(m) and "WARNING" not in body_of(m) for m in out)


def test_people_lists_everyone_named_with_counts_and_outcomes(desk: Desk) -> None:
    closed_case(desk, "Dan Doe <dan@speaker.example>", "warning")
    n = desk.report("Zed <zed@a.example>", "Report.\n")
    desk.staff("ana@example.org", n, "#accused doe, dan\n#witness Wanda <w@a.example>\n")
    rows = json.loads(desk.cli("people", "--json"))
    by_name = {r["name"]: r for r in rows}
    dan = by_name["Dan Doe"]  # one person: address in case 1, only a name in case 2
    assert dan["cases"] == 2 and dan["roles"] == ["accused"]
    assert dan["outcomes"] == [[1, "warning"], [2, "open"]]
    assert dan["email"] == "dan@speaker.example"
    assert rows[0] is not None and rows[0]["name"] == "Dan Doe"  # most cases first
    assert {r["name"]: r["cases"] for r in rows} == {"Dan Doe": 2, "Eve": 1, "Zed": 1,
                                                     "Wanda": 1}
    assert by_name["Eve"]["outcomes"] == [[1, "reporter"]]
    text = desk.cli("people")
    assert "Dan Doe <dan@speaker.example>  roles: accused  cases: 2  (#1: warning, #2: open)" \
        in text
    assert "Wanda <w@a.example>  roles: witness  cases: 1  (#2: witness)" in text


def test_check_attendees_lists_only_earlier_warning_or_worse(desk: Desk, tmp_path: Path
                                                             ) -> None:
    closed_case(desk, "Dan Doe <dan@speaker.example>", "warning",
                reporter="Rita Reporter <rita@a.example>")
    closed_case(desk, "Bea Banned <bea@x.example>", "ban")
    closed_case(desk, "Nina Noviolation <nina@x.example>", "not-a-violation")
    closed_case(desk, "Tom Talk <tom@x.example>", "talk-ended")
    n = desk.report("Zed <zed@a.example>", "Report.\n")
    desk.staff("ana@example.org", n, "#accused Olga Open <olga@x.example>\n")
    attendees = tmp_path / "attendees.csv"
    attendees.write_text(  # as a spreadsheet exports it: BOM, CRLF, capitalised header
        "Name,Email,Ticket\r\n"
        "\"Doe, Dan\",dan.new@other.example,A1\r\n"     # same person by name
        "Beatrice B.,BEA@X.EXAMPLE,A2\r\n"              # same person by address
        "Nina Noviolation,nina@x.example,A3\r\n"       # not a violation: not listed
        "Rita Reporter,rita@a.example,A4\r\n"          # only ever the reporter
        "Olga Open,olga@x.example,A5\r\n"              # open case, no outcome yet
        "Otto Other,otto@x.example,A6\r\n"             # never named
        "Tom Talk,,A7\r\n",                            # talk ended counts; no address needed
        encoding="utf-8-sig", newline="")
    lines = desk.cli("check-attendees", str(attendees)).splitlines()
    assert lines[:2] == ["Doe, Dan <dan.new@other.example>: #1 (warning)",
                         "Beatrice B. <BEA@X.EXAMPLE>: #2 (ban)"]
    assert len(lines) == 3
    assert lines[2].startswith("Tom Talk") and lines[2].endswith(": #4 (talk-ended)")


def test_check_attendees_refuses_a_file_without_name_and_email(desk: Desk, tmp_path: Path
                                                              ) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("first,last\nDan,Doe\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", desk.cfg.source, "check-attendees",
                                       str(bad)])
    assert result.exit_code != 0
    assert "name and email" in result.output and "Traceback" not in result.output
