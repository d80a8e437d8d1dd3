"""Year after year (issue 15): cases belong to an event; the transparency report writes itself.

Two events' worth of cases are made by mail through the real `cocmail ingest`, with
staff answering their notifications; the event in the config then changes for next
year. The public report must match `stats --json`, say the same in Markdown and HTML,
name nobody, and render its chart in a real browser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cocmail.core import transparency as content
from cocmail.core.case import Case, Person
from cocmail.core.transparency import STAT_KEYS, count, report_context
from cocmail.core.vocabulary import Outcome
from cocmail.transparency import render_report
from testsupport.helpers import body_of, mail, parse, read_spooled
from testsupport.process import cocmail

STAFF = """
[[staff]]
name = "Ana Lima"
email = "ana@example.org"
lead = true
public = true

[[staff]]
name = "Ben Okafor"
email = "ben@example.org"
"""


def write_config(tmp: Path, event: str, starts: str, ends: str) -> Path:
    path = tmp / "cocmail.toml"
    path.write_text(f"""
[event]
name = "{event}"
starts = {starts}
ends = {ends}
timezone = "Europe/Berlin"
attendees_in_person = 900
attendees_online = 300
reporting_channels = "conduct@example.org, any volunteer in a purple shirt"

[inbox]
address = "conduct@example.org"

[storage]
dir = "data"
{STAFF}
""")
    return path


class Conference:
    """A cocmail installation driven only through its command line."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.n = 0

    @property
    def config(self) -> Path:
        return self.tmp / "cocmail.toml"

    def spool(self) -> list:
        """The mails in the spool, unsealed (issue 27: the spool is sealed like the store)."""
        return [parse(raw) for raw in read_spooled(sorted((self.tmp / "data" / "spool")
                                                          .glob("*.eml")))]

    def ingest(self, raw: bytes) -> None:
        result = cocmail(self.config, "ingest", "-", stdin=raw)
        assert result.code == 0, result.err

    def report(self, reporter: str, text: str) -> int:
        self.n += 1
        self.ingest(mail(f"{reporter.title()} Attendee <{reporter}@attendee.example>",
                         f"Report {self.n}", text, message_id=f"<r{self.n}@attendee.example>"))
        note = [m for m in self.spool() if "ana@example.org" in str(m["To"])][-1]
        return int(re.search(r"#(\d+)\]", note["Subject"]).group(1))  # type: ignore[union-attr]

    def staff(self, case: int, commands: str) -> str:
        """Ana answers her latest mail on `case`; returns cocmail's transcript to her."""
        self.n += 1
        ours = [m for m in self.spool() if "ana@example.org" in str(m["To"])
                and f"#{case}]" in str(m["Subject"])]
        last = ours[-1]
        self.ingest(mail("Ana Lima <ana@example.org>", "Re: " + str(last["Subject"]),
                         commands, message_id=f"<s{self.n}@example.org>",
                         in_reply_to=last["Message-ID"]))
        after = [m for m in self.spool() if "ana@example.org" in str(m["To"])]
        return body_of(after[-1])


@pytest.fixture(scope="module")
def two_events(tmp_path_factory: pytest.TempPathFactory) -> Conference:
    tmp = tmp_path_factory.mktemp("events")
    conf = Conference(tmp)
    write_config(tmp, "PyConf 2026", "2026-06-01", "2026-06-05")
    a = conf.report("zora", "Zed Quint kept following me after the talk.")
    conf.staff(a, "#accused Zed Quint <zed@speaker.example>\n#outcome warning\n"
                  "#public-summary unwanted following after a talk\n#close\n")
    b = conf.report("yann", "Someone made a joke in the hallway.")
    conf.staff(b, "#outcome no-action\n#public-summary a joke in poor taste in a hallway\n"
                  "#close\n")
    # Next year: only the config changes.
    write_config(tmp, "PyConf 2027", "2027-06-01", "2027-06-05")
    c = conf.report("xena", "Wyatt Vole grabbed my arm at the party.")
    conf.staff(c, "#accused Wyatt Vole <wyatt@attendee.example>\n#outcome ban\n")
    refused = conf.staff(c, "#public-summary Wyatt grabbed an arm at the party\n")
    assert "'Wyatt'" in refused and "must not name" in refused
    conf.staff(c, "#public-summary unwanted physical contact at the party\n")
    conf.report("vera", "A slide in the lightning talks was offensive.")  # no summary yet
    return conf


def test_cases_keep_the_event_they_were_opened_under(two_events: Conference) -> None:
    listed = cocmail(two_events.config, "cases", "list", "--all", "--json").json()
    assert [c["number"] for c in listed] == [3, 4]  # the current event by default
    every = cocmail(two_events.config, "cases", "list", "--all", "--all-events", "--json")
    assert {c["number"]: c["event"] for c in every.json()} == {
        1: "PyConf 2026", 2: "PyConf 2026", 3: "PyConf 2027", 4: "PyConf 2027"}
    old = cocmail(two_events.config, "report", "--format", "json", "--event", "PyConf 2026")
    assert [r["Case"] for r in json.loads(old.out)] == ["1", "2"]
    unknown = cocmail(two_events.config, "stats", "--event", "PyConf 1999")
    assert unknown.code != 0 and "no event 'PyConf 1999'" in unknown.err


def test_the_report_matches_stats_and_names_nobody(two_events: Conference) -> None:
    md = cocmail(two_events.config, "transparency")
    assert md.code == 0, md.err
    assert "#4" in md.err and "details withheld" in md.err  # which case lacks a summary
    stats = cocmail(two_events.config, "stats", "--all-events", "--json").json()["events"]
    assert stats["PyConf 2026"] == {"reports": 2, "people named": 1, "actions by us": 1,
                                    "flagged/banned": 0, "no action": 1, "in progress": 0}
    assert stats["PyConf 2027"]["reports"] == 2 and stats["PyConf 2027"]["flagged/banned"] == 1
    for name, s in stats.items():
        row = f"| {name} | {s['reports']} | {s['people named']} | {s['actions by us']} | " \
              f"not recorded | {s['flagged/banned']} | {s['no action']} |"
        assert row in md.out
    text = md.out
    assert "1. Unwanted physical contact at the party. Outcome" in text
    assert "Outcome: A ban. Status: still open." in text
    assert "2. Details withheld. Outcome: no outcome yet. Status: still open." in text
    assert "Ana Lima" in text and "Ben Okafor" not in text  # public = true only
    assert "Attendees in person: 900" in text and "purple shirt" in text
    for secret in ("Zed", "Quint", "Wyatt", "Vole", "zora", "yann", "xena", "vera",
                   "attendee.example", "speaker.example", "grabbed", "slide"):
        assert secret not in text, secret
    initial = cocmail(two_events.config, "transparency", "--initial").out
    assert "(initial)" in initial and "Status: in progress." in initial


def test_markdown_and_html_tell_the_same_facts(two_events: Conference, tmp_path: Path
                                               ) -> None:
    out = tmp_path / "report.html"
    result = cocmail(two_events.config, "transparency", "--format", "html", "-o", str(out))
    assert result.code == 0, result.err
    page = out.read_text()
    md = cocmail(two_events.config, "transparency").out

    def facts(text: str) -> list[str]:
        plain = re.sub(r"(?m)^\d+\. ", "", text)  # Markdown's list numbers; <ol> has them too
        plain = re.sub(r"<[^>]+>", " ", plain)
        plain = re.sub(r"[|*#\s]+", " ", plain)
        return re.findall(r"(?:Outcome: [^.]+\. Status: [^.]+\.)|(?:\b\d+\b)", plain)

    body = page.split("</figure>", 1)[1]  # the chart's own numbers are checked below
    assert facts(body) == facts(md.split("## Statistics", 1)[1])
    assert "<svg" in page and "<script" not in page
    assert "Reports by outcome, per event" in page  # the chart's text alternative
    for secret in ("Zed", "Wyatt", "attendee.example"):
        assert secret not in page


# ------------------------------------------------------------------ never a name

def _case(n: int, people: list[tuple[str, str]], summary: str | None) -> Case:
    roles = ("reporter", "accused", "witness", "accused")
    persons = [Person(roles[i % 4], name, email) for i, (name, email) in enumerate(people)]
    return Case(number=n, opened=datetime(2027, 6, 2, tzinfo=UTC), event="E 2027",
                reporter=persons[0] if persons else None,
                accused=tuple(p for p in persons[1:] if p.role == "accused"),
                witnesses=tuple(p for p in persons[1:] if p.role == "witness"),
                outcome="warning", public_summary=summary)


NAME = st.from_regex(r"Zq[a-z]{3,8} X[a-z]{3,8}", fullmatch=True)
EMAIL = st.from_regex(r"zq[a-z]{3,8}@[a-z]{4,8}\.example", fullmatch=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(NAME, EMAIL), min_size=1, max_size=4), min_size=1,
                max_size=5))
def test_no_name_or_address_on_a_case_reaches_the_report(people: list) -> None:
    from cocmail.core.public_text import identifying_words

    cases = []
    for i, persons in enumerate(people):
        case = _case(i + 1, persons, None)
        # What staff might type: a summary that names them is refused, a plain one kept.
        assert identifying_words(f"{persons[0][0]} was rude", case)
        cases.append(replace(case, public_summary="rude remarks at the social event"))
    event = {"name": "E 2027", "starts": "2027-06-01", "ends": "2027-06-05",
             "attendees_in_person": 10, "attendees_online": None, "reporting_channels": None}
    rows = [{"event": "E 2027", "outcome": c.outcome, "people_named": len(c.accused)}
            for c in cases]
    ctx = report_context(event, [], cases, rows, ["Ana Lima"], initial=False)
    assert ctx["table"][0] == count("E 2027", rows)
    for fmt in ("md", "html"):
        text = render_report(ctx, fmt)
        for persons in people:
            for name, email in persons:
                for part in [*name.split(), email, email.split("@")[0]]:
                    assert part not in text


@pytest.mark.parametrize("summary", [
    "Eve's arm was grabbed", "Eve’s arm was grabbed", "O'Brien's remarks",
    "Dаn was rude",  # a Cyrillic "а"
    "Dan\u00ad was rude", "D\u00adan was rude", "Mueller was rude", "AnnMarie was rude",
    "DanOBrien was rude", "eveexample posted it", "eve_example posted it",
])
def test_a_public_summary_that_names_someone_in_disguise_is_refused(summary: str) -> None:
    from cocmail.core.public_text import identifying_words

    case = Case(number=1, opened=datetime(2027, 6, 1, tzinfo=UTC),
                reporter=Person("reporter", "Eve Example", "eve.example@attendee.example"),
                accused=(Person("accused", "Dan O'Brien", "dan@x.example"),
                         Person("accused", "Jürgen Müller", None)),
                witnesses=(Person("witness", "Ann-Marie Li", None),))
    assert identifying_words(summary, case), summary
    assert not identifying_words("rude remarks at the party, twice", case)


def test_a_summary_set_before_the_name_was_known_is_withheld(tmp_path: Path) -> None:
    """`#public-summary` is checked against the people on the case when it is set; a
    person added afterwards must still never be named in the published report."""
    conf = Conference(tmp_path)
    write_config(tmp_path, "PyConf 2027", "2027-06-01", "2027-06-05")
    case = conf.report("xena", "Someone grabbed my arm at the party.")
    done = conf.staff(case, "#public-summary Wyatt grabbed an arm at the party\n"
                            "#accused Wyatt Vole <wyatt@attendee.example>\n")
    assert "public summary set" in done
    later = conf.report("yola", "Someone was rude.")
    conf.staff(later, "#public-summary Quentin's rude remarks\n")
    conf.staff(later, "#witness Quentin Roe <qr@attendee.example>\n")
    md = cocmail(conf.config, "transparency")
    assert md.code == 0, md.err
    assert "Wyatt" not in md.out and "Quentin" not in md.out
    assert "1. Details withheld." in md.out and "2. Details withheld." in md.out
    assert f"#{case}" in md.err and f"#{later}" in md.err


# ------------------------------------------------------------------ in a browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_the_html_report_renders_its_chart_in_a_browser(two_events: Conference,
                                                        tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    image = pytest.importorskip("PIL.Image")
    out = tmp_path / "report.html"
    assert cocmail(two_events.config, "transparency", "--format", "html", "-o",
                   str(out)).code == 0
    errors: list[str] = []
    shot = tmp_path / "chart.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(out.as_uri())
            chart = page.locator("#chart")
            box = chart.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 150
            chart.screenshot(path=str(shot))
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    with image.open(shot) as img:
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
    non_white = sum(n for n, c in colours if c != (255, 255, 255))
    assert non_white > 0.05 * rgb.width * rgb.height  # bars, axis and legend were drawn
    assert any(abs(c[0] - 0xc0) < 12 and abs(c[1] - 0x50) < 12 and abs(c[2] - 0x4d) < 12
               for _, c in colours)  # the "removed, suspended or banned" bar of the ban
    shutil.copy(tmp_path / "page.png", Path(os.environ.get("COCMAIL_SCREENSHOT_DIR", tmp_path))
                / "transparency-page.png")


# ------------------------------------------------------------------ what the report says
# Decided in core/transparency.py, on values: no servers, no store.

def _closed(number: int, outcome: str | None, status: str = "closed",
            summary: str | None = None) -> Case:
    return Case(number=number, opened=datetime(2027, 6, number, tzinfo=UTC), status=status,
                outcome=outcome, public_summary=summary,
                accused=(Person("accused", "Dan Doe", "dan@x.example"),))


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_is_in_one_group_and_one_stats_count(outcome: Outcome) -> None:
    """A new outcome missing from a table would be counted "in progress" or "no outcome
    yet" for ever: the tables must name every outcome."""
    assert outcome in content.GROUP_OF and content.group_of(outcome) != "open"
    assert outcome in content.STAT_OF and content.STAT_OF[outcome] in STAT_KEYS
    assert content.outcome_words(_closed(1, outcome)) != "no outcome yet"


def test_the_report_groups_say_what_the_dsf_table_counts() -> None:
    outcomes = ("warning", "other", "ban", "removed-from-event", "no-action", "out-of-scope",
                None, "not-an-outcome")
    assert [content.group_of(o) for o in outcomes] == [
        "action", "action", "flagged", "flagged", "no_action", "no_action", "open", "open"]
    rows = [{"event": "E", "outcome": o, "people_named": n}
            for o, n in (("warning", 1), ("ban", 2), ("no-action", None), (None, 1))]
    rows.append({"event": "Other", "outcome": "ban", "people_named": 5})
    counts = count("E", rows)
    assert counts.as_json() == {"reports": 4, "people named": 4, "actions by us": 2,
                                "flagged/banned": 1, "no action": 1, "in progress": 1}


def test_stats_count_each_report_once_in_the_year_of_its_event_time_zone() -> None:
    rows = [{"opened": "2026-12-31T23:30:00+00:00", "outcome": "warning", "people_named": 1},
            {"opened": "2026-12-31T22:30:00+00:00", "outcome": None, "people_named": 2},
            {"opened": "2027-03-01T10:00:00+00:00", "outcome": "talk-ended",
             "people_named": None}]
    periods = content.yearly_counts(rows, ZoneInfo("Europe/Berlin"))
    assert set(periods) == {"2026", "2027"}  # 23:30 UTC on 31 December is 2027 in Berlin
    assert periods["2026"] == {**dict.fromkeys(STAT_KEYS, 0), "reports": 1,
                               "people named": 2, "no outcome yet": 1}
    assert periods["2027"]["reports"] == 2 and periods["2027"]["warnings"] == 1
    assert periods["2027"]["talk ended"] == 1 and periods["2027"]["people named"] == 1


def test_outcome_and_status_in_plain_words() -> None:
    assert content.outcome_words(_closed(1, "ban")) == "A ban"
    assert content.outcome_words(_closed(1, None)) == "no outcome yet"
    assert content.status_words(_closed(1, None, status="open"), initial=True) == "in progress"
    assert content.status_words(_closed(1, None, status="open"), initial=False) == "still open"
    assert content.status_words(_closed(1, "ban"), initial=True) == "closed"


def test_only_summaries_that_name_nobody_are_published() -> None:
    named = _closed(1, "ban", summary="Dan was rude")
    plain = _closed(2, "ban", summary="rude remarks. ")
    none = _closed(3, None)
    assert content.publishable_summary(named) is None
    assert content.publishable_summary(none) is None
    assert content.withheld([named, plain, none]) == [1, 3]
    event = {"name": "E", "starts": "2027-06-01", "ends": None, "attendees_in_person": None,
             "attendees_online": None, "reporting_channels": None}
    ctx = report_context(event, [], [plain, named], [], [], initial=True)
    assert ctx["dates"] == "1 June 2027"
    assert [(r["n"], r["summary"], r["withheld"]) for r in ctx["reports"]] == [
        (1, "Details withheld", True), (2, "Rude remarks", False)]  # oldest first


def test_the_team_is_named_only_in_this_years_report_and_only_who_agreed() -> None:
    @dataclass
    class Member:
        name: str
        public: bool

    staff = [Member("Ana Lima", True), Member("Ben Okafor", False)]
    assert content.public_team(staff, "PyConf 2027", "PyConf 2027") == ["Ana Lima"]
    assert content.public_team(staff, "PyConf 2026", "PyConf 2027") == []


def test_the_report_compares_with_at_most_four_earlier_events() -> None:
    events = [{"name": f"E{i}", "starts": None, "ends": None, "attendees_in_person": None,
               "attendees_online": None, "reporting_channels": None} for i in range(7)]
    ctx = report_context(events[-1], events[:-1], [], [], [], initial=False)
    assert [t.name for t in ctx["table"]] == ["E2", "E3", "E4", "E5", "E6"]
    assert ctx["dates"] == ""
