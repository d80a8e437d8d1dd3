"""The weekly digest with a frozen clock: the right moment in the event's zone, once a week.

The daemon's housekeeping calls `send_due_digest(app, now)`; these tests call it the same
way with a clock the test moves, and read what the outbox delivers to the spool.
"""

from __future__ import annotations

import re
import string
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cocmail.digest import build_digest, send_due_digest
from testsupport.apps import Clock, Desk
from testsupport.helpers import approve_as, body_of

CLEO = """
[[staff]]
name = "Cleo Park"
email = "cleo@example.org"
lead = true
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def digests(msgs: list[EmailMessage]) -> list[EmailMessage]:
    return [m for m in msgs if "Weekly Code of Conduct digest" in str(m["Subject"])]


def tick(desk: Desk) -> bool:
    """One housekeeping pass at the clock's time, then delivery."""
    queued = send_due_digest(desk.app, desk.clock.now)
    desk.app.outbox.deliver_due()
    return queued


def case_numbers_in(text: str) -> set[int]:
    """Every case number a digest mentions (lists, case headings, counts excluded)."""
    found: set[int] = set()
    for run in re.findall(r"\bcases? ((?:\d+(?:, | and )?)+)", text):
        found |= {int(n) for n in re.findall(r"\d+", run)}
    found |= {int(n) for n in re.findall(r"^Case (\d+)", text, re.MULTILINE)}
    return found


@pytest.fixture
def auckland(make_desk: Callable[..., Desk]) -> Desk:
    """Leads Ana and Cleo, staff Ben; digest Monday 09:00 Pacific/Auckland (UTC+13/+12)."""
    return make_desk(CLEO + '[digest]\nweekday = "monday"\ntime = "09:00"\n',
                     clock=Clock(utc(2027, 3, 10, 0, 0)), timezone="Pacific/Auckland")


def test_first_run_is_a_baseline_then_leads_get_one_digest_at_the_local_time(
        auckland: Desk) -> None:
    desk = auckland
    desk.report("Eve <eve@a.example>", "Report.\n")
    desk.new()
    assert not tick(desk)  # a new installation does not mail at once
    assert digests(desk.new()) == []
    desk.clock.set(utc(2027, 3, 14, 19, 59))  # Monday 08:59 in Auckland (NZDT, +13)
    assert not tick(desk)
    desk.clock.set(utc(2027, 3, 14, 20, 0))  # Monday 09:00 in Auckland
    assert tick(desk)
    sent = digests(desk.new())
    assert sorted(m["To"].addresses[0].addr_spec for m in sent) == ["ana@example.org",
                                                                    "cleo@example.org"]
    for when in (utc(2027, 3, 14, 20, 0), utc(2027, 3, 14, 23, 0), utc(2027, 3, 20, 12, 0)):
        desk.clock.set(when)
        assert not tick(desk)
    desk.restart()
    assert not tick(desk)
    assert digests(desk.new()) == []
    desk.clock.set(utc(2027, 3, 21, 20, 0))  # the next Monday 09:00
    assert tick(desk)
    assert len(digests(desk.new())) == 2


def walk(desk: Desk, start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Housekeeping every `step` from `start` to `end`; the times a digest was queued."""
    due = []
    desk.clock.set(start)
    while desk.clock.now <= end:
        if tick(desk):
            due.append(desk.clock.now)
        desk.clock.advance(seconds=step.total_seconds())
    return due


def test_the_local_time_holds_across_the_end_of_daylight_saving_time(auckland: Desk) -> None:
    # New Zealand leaves DST on Sunday 2027-04-04 (03:00 NZDT -> 02:00 NZST): Monday 09:00
    # moves from 20:00 to 21:00 UTC.
    due = walk(auckland, utc(2027, 3, 24), utc(2027, 4, 14), timedelta(minutes=30))
    assert due == [utc(2027, 3, 28, 20, 0), utc(2027, 4, 4, 21, 0), utc(2027, 4, 11, 21, 0)]


def test_a_slot_inside_the_dst_gap_or_overlap_is_sent_once(tmp_path: Path) -> None:
    # Berlin skips 02:00-03:00 on 2027-03-28 and repeats it on 2027-10-31 (both Sundays).
    desk = Desk(tmp_path, '[digest]\nweekday = "sunday"\ntime = "02:30"\n',
                clock=Clock(utc(2027, 3, 17)))
    try:
        spring = walk(desk, utc(2027, 3, 17), utc(2027, 4, 6), timedelta(minutes=30))
        # 02:30 does not exist on 2027-03-28: it is due when the wall clock shows 03:00
        assert spring == [utc(2027, 3, 21, 1, 30), utc(2027, 3, 28, 1, 0),
                          utc(2027, 4, 4, 0, 30)]
        autumn = walk(desk, utc(2027, 10, 27), utc(2027, 11, 9), timedelta(minutes=30))
        # After the months in between, one catch-up digest; then 02:30 happens twice on
        # 2027-10-31 (00:30 and 01:30 UTC), and only the first counts.
        assert autumn == [utc(2027, 10, 27), utc(2027, 10, 31, 0, 30), utc(2027, 11, 7, 1, 30)]
    finally:
        desk.close()


def test_after_weeks_of_downtime_one_digest_catches_up(auckland: Desk) -> None:
    desk = auckland
    assert not tick(desk)  # baseline
    desk.clock.set(utc(2027, 3, 14, 20, 5))
    assert tick(desk)
    desk.new()
    desk.restart()  # down for five weeks and three days
    desk.clock.set(utc(2027, 4, 21, 3, 0))
    assert tick(desk)
    for _ in range(3):
        desk.clock.advance(hours=1)
        assert not tick(desk)
    desk.restart()
    assert not tick(desk)
    assert len(digests(desk.new())) == 2  # one per lead, once


def test_digest_content_counts_steps_and_stale_cases(tmp_path: Path) -> None:
    clock = Clock(utc(2027, 6, 1, 8, 0))  # a Tuesday; digest Monday 09:00 Berlin
    desk = Desk(tmp_path, clock=clock)
    try:
        tick(desk)  # baseline
        one = desk.report("Eve <eve@a.example>", "Report one.\n")
        desk.staff("ana@example.org", one, "#accused Dan <dan@x.example>\n#action Warned\n"
                                           "#outcome warning\n")
        clock.set(utc(2027, 6, 8, 10, 0))
        desk.staff("ana@example.org", one, "#close\n")
        two = desk.report("Zed <zed@a.example>", "Report two.\n")
        three = desk.report("Yan <yan@a.example>", "Report three.\n")
        desk.staff("ben@example.org", three, "#summary noted\n")
        clock.set(utc(2027, 6, 14, 6, 0))  # Monday 08:00 Berlin
        four = desk.report("Xia <xia@a.example>", "Report four.\n")
        clock.set(utc(2027, 6, 14, 7, 0))  # Monday 09:00 Berlin
        assert tick(desk)
        (mail,) = digests(desk.new())
        text = body_of(mail)
        assert "from 2027-06-07 to 2027-06-14" in text
        assert f"Opened this week: cases {two}, {three} and {four}" in text
        assert f"Closed this week: case {one}" in text
        assert f"No staff action 24 hours after opening: case {two}" in text
        assert f"Report to the DSF due: case {one}" in text
        assert "Open cases (3):" in text
        assert f"Case {two}: open for 5 days, last activity 2027-06-08 12:00" in text
        assert f"Case {four}: open for less than a day" in text
        flat = " ".join(text.split())  # the template wraps long lines
        assert (f"Case {four}: open for less than a day, last activity 2027-06-14 08:00 "
                "still to do: record the decision, tell the person affected the decision, "
                "report to the DSF") in flat
        assert case_numbers_in(text) == {one, two, three, four}
    finally:
        desk.close()


def test_a_recused_lead_sees_nothing_of_the_case_and_only_leads_get_it(auckland: Desk
                                                                        ) -> None:
    desk = auckland
    tick(desk)  # baseline
    desk.report("Eve <eve@a.example>", "Report one.\n")
    secret = desk.report("Zed <zed@a.example>", "Report two.\n")
    desk.staff("ana@example.org", secret, "#recuse cleo@example.org\n#action Talked\n")
    assert approve_as(desk.app, "ben@example.org") == 1  # a second member approves
    desk.report("Yan <yan@a.example>", "Report three.\n")
    desk.new()
    desk.clock.set(utc(2027, 3, 14, 20, 0))
    assert tick(desk)
    sent = {m["To"].addresses[0].addr_spec: body_of(m) for m in digests(desk.new())}
    assert set(sent) == {"ana@example.org", "cleo@example.org"}  # Ben is not a lead
    assert case_numbers_in(sent["ana@example.org"]) == {1, 2, 3}
    assert case_numbers_in(sent["cleo@example.org"]) == {1, 3}
    assert "Open cases (2):" in sent["cleo@example.org"]
    assert "Report to the DSF due" not in sent["cleo@example.org"]


def test_digest_print_shows_it_now(auckland: Desk) -> None:
    auckland.report("Eve <eve@a.example>", "Report.\n")
    out = auckland.cli("digest", "--print")
    assert out.startswith("Subject: [CoC] Weekly Code of Conduct digest\n")
    assert "Case 1: open" in out and "Eve" not in out and "eve@" not in out


def test_a_digest_queued_with_a_clock_behind_the_wall_clock_is_delivered(tmp_path: Path
                                                                         ) -> None:
    desk = Desk(tmp_path, clock=Clock(utc(2020, 1, 6, 7, 0)))  # Monday 08:00 Berlin
    try:
        tick(desk)
        desk.clock.set(utc(2020, 1, 13, 8, 0))
        assert tick(desk)
        assert len(digests(desk.new())) == 1
    finally:
        desk.close()


# ------------------------------------------------------------------ no names, ever
def _word(prefix: str) -> st.SearchStrategy[str]:
    letters = st.characters(categories=["Ll", "Lu"], max_codepoint=0x24F)
    return st.text(letters, min_size=3, max_size=10).map(lambda s: prefix + s)


_local = st.text(string.ascii_lowercase + string.digits, min_size=3, max_size=10)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reporter=st.tuples(_word("Zq"), _word("Xv")), accused=st.tuples(_word("Wk"), _word("Jy")),
       witness=_word("Qh"), mailbox=st.tuples(_local, _local, _local),
       story=st.lists(_word("Vb"), min_size=3, max_size=6))
def test_the_digest_never_holds_names_addresses_or_narrative(
        reporter: tuple[str, str], accused: tuple[str, str], witness: str,
        mailbox: tuple[str, str, str], story: list[str]) -> None:
    r_addr, a_addr, w_addr = (f"zq{m}@{d}.example" for m, d in zip(
        mailbox, ("rep", "acc", "wit"), strict=True))
    secrets = [*reporter, *accused, witness, r_addr, a_addr, w_addr, *story]
    narrative = " ".join(story)
    with tempfile.TemporaryDirectory() as tmp:
        desk = Desk(Path(tmp), clock=Clock(utc(2027, 6, 1, 8, 0)))
        try:
            tick(desk)  # baseline
            n = desk.report(f"{' '.join(reporter)} <{r_addr}>", f"{narrative}\n",
                            subject=story[0])
            desk.staff("ana@example.org", n,
                       f"#accused {' '.join(accused)} <{a_addr}>\n#witness {witness} <{w_addr}>\n"
                       f"#summary {narrative}\n#where {story[1]}\n#when {story[2]}\n"
                       f"#action {narrative}\n#others {witness}\n\n{narrative}\n")
            n2 = desk.report(f"{witness} <{w_addr}>", f"{story[-1]}\n")
            desk.staff("ben@example.org", n2, f"#accused {' '.join(reporter)}\n#close\n")
            desk.clock.set(utc(2027, 6, 7, 7, 0))  # Monday 09:00 Berlin
            assert tick(desk)
            (mail,) = digests(desk.new())
            shown = [str(mail["Subject"]), body_of(mail), build_digest(desk.app, desk.clock.now)]
            assert f"Case {n}: open" in shown[1]  # the digest is about these cases
            for text in shown:
                for secret in secrets:
                    assert secret.casefold() not in text.casefold(), secret
        finally:
            desk.close()
