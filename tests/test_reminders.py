"""Nobody is left waiting (issue 14 part 3): reminders on a frozen clock.

The pure rules first (core/reminders.py: during and outside the event, urgent cases,
the leads at twice the time, quiet hours, recusals, the reporter waiting for news), then
through the shell as the daemon runs it: queued and delivered once, never again after a
restart, and a reminder that fell due while cocmail was down goes out once when it is back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cocmail.clock import utcnow
from cocmail.config import ConfigError, parse_config
from cocmail.core.case import Case, Person
from cocmail.core.env import Env, NoHistory
from cocmail.core.model import Roster, StaffMember
from cocmail.core.reminders import (
    CaseFacts,
    Reminder,
    ReminderRules,
    due_reminders,
    first_response_due,
    in_quiet_hours,
    waited,
)
from cocmail.daemon import Daemon
from cocmail.nonces import new_nonce
from cocmail.reminders_due import send_due_reminders
from cocmail.render import Renderer
from cocmail.store import cases as cases_db
from testsupport.apps import Clock, Desk
from testsupport.helpers import body_of
from testsupport.servers import SmtpSink

BERLIN = ZoneInfo("Europe/Berlin")
ANA = StaffMember(1, "Ana Lima", "ana@example.org", lead=True)
BEN = StaffMember(2, "Ben Okafor", "ben@example.org")
CLEO = StaffMember(3, "Cleo Park", "cleo@example.org", lead=True)
ROSTER = Roster((ANA, BEN, CLEO))
EVENT = ReminderRules(event_starts=date(2027, 6, 1), event_ends=date(2027, 6, 5))
NOBODY: frozenset[tuple[int, str]] = frozenset()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def env_at(now: datetime) -> Env:
    return Env(event="Example Conf 2027", event_ends=date(2027, 6, 5), tz=BERLIN,
               inbox="conduct@example.org", dsf="conduct@djangoproject.com", appeal=None,
               roster=ROSTER, now=now, history=NoHistory(), nonce=new_nonce)


def new_case(opened: datetime, **kw: object) -> Case:
    kw.setdefault("reporter", Person("reporter", "Rita Reporter", "rita@example.net"))
    kw.setdefault("report_text", "He grabbed my arm.")
    return Case(number=kw.pop("number", 7), opened=opened,  # type: ignore[arg-type]
                root_message_id="m1@example.net", **kw)  # type: ignore[arg-type]


def due(case: Case, now: datetime, rules: ReminderRules = EVENT,
        sent: frozenset[tuple[int, str]] = NOBODY, **facts: object) -> list[Reminder]:
    return due_reminders([CaseFacts(case, **facts)], rules, env_at(now), sent)  # type: ignore[arg-type]


def to(reminders: list[Reminder]) -> dict[str, list[str]]:
    return {r.key: sorted(m.to.email for m in r.mails) for r in reminders}


def walk(case: Case, start: datetime, end: datetime, rules: ReminderRules = EVENT,
         step: timedelta = timedelta(minutes=1), **facts: object) -> list[tuple[datetime, str]]:
    """Housekeeping every `step` from `start` to `end`, recording what it sends, as the
    daemon does: (when, key) for every reminder queued."""
    sent: set[tuple[int, str]] = set()
    out = []
    now = start
    while now <= end:
        for r in due(case, now, rules, frozenset(sent), **facts):
            sent.add((r.case, r.key))
            out.append((now, r.key))
        now += step
    return out


# ------------------------------------------------------------------ first response


def test_during_the_event_staff_are_reminded_after_two_hours_and_leads_after_four() -> None:
    case = new_case(local(2027, 6, 2, 10, 0))
    assert due(case, local(2027, 6, 2, 11, 59)) == []
    first = due(case, local(2027, 6, 2, 12, 0))
    assert to(first) == {"unanswered-1": ["ana@example.org", "ben@example.org",
                                          "cleo@example.org"]}
    assert first[0].mails[0].context.waited == "2 hours"
    assert first[0].mails[0].role == "s1" and first[0].mails[0].case == 7
    assert walk(case, local(2027, 6, 2, 10, 0), local(2027, 6, 3, 10, 0)) == [
        (local(2027, 6, 2, 12, 0), "unanswered-1"), (local(2027, 6, 2, 14, 0), "unanswered-2")]
    assert to(due(case, local(2027, 6, 2, 14, 0), sent=frozenset({(7, "unanswered-1")}))) == {
        "unanswered-2": ["ana@example.org", "cleo@example.org"]}


def test_outside_the_event_the_wait_is_a_day_then_two_for_the_leads() -> None:
    case = new_case(local(2027, 5, 10, 10, 0))
    assert walk(case, local(2027, 5, 10, 10, 0), local(2027, 5, 13, 10, 0),
                step=timedelta(minutes=30)) == [
        (local(2027, 5, 11, 10, 0), "unanswered-1"), (local(2027, 5, 12, 10, 0), "unanswered-2")]


def test_a_report_from_the_night_before_is_reminded_two_hours_after_it_came() -> None:
    # Sent at 23:00 the evening before the event: two hours later the event has begun.
    assert first_response_due(local(2027, 5, 31, 23, 0), EVENT, env_at(local(2027, 5, 31))) \
        == local(2027, 6, 1, 1, 0)
    # Three days before: the outside value, then the event's when it starts first.
    assert first_response_due(local(2027, 5, 29, 10, 0), EVENT, env_at(local(2027, 5, 29))) \
        == local(2027, 5, 30, 10, 0)
    assert first_response_due(local(2027, 5, 31, 12, 0), EVENT, env_at(local(2027, 5, 31))) \
        == local(2027, 6, 1, 0, 0)
    # After the last day (the end of `ends`): the outside value again.
    assert first_response_due(local(2027, 6, 5, 23, 30), EVENT, env_at(local(2027, 6, 5))) \
        == local(2027, 6, 6, 23, 30)


def test_without_event_dates_the_outside_value_applies() -> None:
    rules = ReminderRules(first_response_outside=timedelta(minutes=300))
    case = new_case(local(2027, 6, 2, 10, 0))
    assert [k for _, k in walk(case, local(2027, 6, 2, 10, 0), local(2027, 6, 3, 0, 0),
                               rules)] == ["unanswered-1", "unanswered-2"]
    assert walk(case, local(2027, 6, 2, 10, 0), local(2027, 6, 2, 20, 0), rules)[0][0] \
        == local(2027, 6, 2, 15, 0)


def test_zero_turns_a_reminder_off() -> None:
    rules = ReminderRules(first_response=timedelta(0), first_response_outside=timedelta(0),
                          reporter_update=timedelta(0))
    assert walk(new_case(local(2027, 6, 2, 10, 0)), local(2027, 6, 2, 10, 0),
                local(2027, 6, 20, 10, 0), rules, step=timedelta(hours=1)) == []


def test_a_case_someone_acted_on_or_entered_is_not_reminded() -> None:
    opened = local(2027, 6, 2, 10, 0)
    acted = new_case(opened, last_staff_action=opened + timedelta(minutes=30),
                     handlers=("ben@example.org",))
    entered = new_case(opened, received_by="ben@example.org", handlers=("ben@example.org",),
                       reporter=None)
    closed = new_case(opened, status="closed")
    for case in (acted, entered, closed):
        assert walk(case, opened, opened + timedelta(days=3), step=timedelta(minutes=10)) == []


def test_recused_staff_are_never_reminded() -> None:
    case = new_case(local(2027, 6, 2, 10, 0), recused=("ben@example.org", "cleo@example.org"))
    assert to(due(case, local(2027, 6, 2, 12, 0))) == {"unanswered-1": ["ana@example.org"]}
    assert to(due(case, local(2027, 6, 2, 14, 0), sent=frozenset({(7, "unanswered-1")}))) == {
        "unanswered-2": ["ana@example.org"]}
    alone = new_case(local(2027, 6, 2, 10, 0), recused=("ana@example.org", "cleo@example.org"))
    late = due(alone, local(2027, 6, 2, 14, 0), sent=frozenset({(7, "unanswered-1")}))
    assert to(late) == {"unanswered-2": []}  # no lead may hear of it: recorded, mailed to none


def test_after_downtime_both_levels_go_out_once_and_a_lead_gets_one_mail() -> None:
    case = new_case(local(2027, 6, 2, 10, 0))
    both = due(case, local(2027, 6, 2, 18, 0))
    assert to(both) == {"unanswered-1": ["ben@example.org"],
                        "unanswered-2": ["ana@example.org", "cleo@example.org"]}
    sent = frozenset((r.case, r.key) for r in both)
    assert due(case, local(2027, 6, 2, 18, 1), sent=sent) == []
    assert due(case, local(2027, 6, 9, 18, 1), sent=sent,
               reporter_heard=local(2027, 6, 9, 18, 0)) == []


# ------------------------------------------------------------------ urgent


def test_marking_a_case_urgent_is_acting_on_it_so_no_reminder_says_nobody_did() -> None:
    """Issue 25, item 4: #urgent (alone, or with a #reply) is a member's command like any
    other; its alert went to everyone at once. Nobody may be told 15 minutes later that
    nobody on the team has acted on the case."""
    marked = local(2027, 6, 2, 10, 0)
    case = new_case(marked - timedelta(minutes=5), urgent=True, last_staff_action=marked,
                    handlers=("ben@example.org",),
                    report_text="He is outside my hotel room now.")
    assert walk(case, marked, marked + timedelta(hours=3)) == []


def test_a_possibly_urgent_report_is_reminded_after_15_and_30_minutes() -> None:
    opened = local(2027, 6, 2, 10, 0)
    case = new_case(opened, report_text="He is outside my hotel room now.")
    got = walk(case, opened, opened + timedelta(hours=1))
    assert got == [(opened + timedelta(minutes=15), "possibly-urgent-1"),
                   (opened + timedelta(minutes=30), "possibly-urgent-2")]
    first = due(case, opened + timedelta(minutes=15))
    assert to(first)["possibly-urgent-1"] == ["ana@example.org", "ben@example.org",
                                              "cleo@example.org"]
    assert first[0].mails[0].subject == "Reminder: possibly urgent, still unanswered"
    # A member acted: no reminder.
    taken = replace(case, last_staff_action=opened + timedelta(minutes=5))
    assert walk(taken, opened, opened + timedelta(hours=1)) == []


def test_quiet_hours_wrap_midnight_hold_reminders_until_they_end_but_not_urgent_ones() -> None:
    rules = replace(EVENT, quiet_hours=(time(23, 0), time(7, 0)))
    env = env_at(local(2027, 6, 2))
    assert in_quiet_hours(local(2027, 6, 2, 23, 0), env, rules.quiet_hours)
    assert in_quiet_hours(local(2027, 6, 3, 2, 0), env, rules.quiet_hours)
    assert not in_quiet_hours(local(2027, 6, 3, 7, 0), env, rules.quiet_hours)
    assert not in_quiet_hours(local(2027, 6, 2, 22, 59), env, rules.quiet_hours)
    # Opened 21:30: the two hours end at 23:30, in the quiet hours; it goes out at 07:00,
    # and the leads' reminder (due 01:30) with it, once each.
    case = new_case(local(2027, 6, 2, 21, 30))
    assert walk(case, local(2027, 6, 2, 21, 30), local(2027, 6, 3, 12, 0), rules) == [
        (local(2027, 6, 3, 7, 0), "unanswered-1"), (local(2027, 6, 3, 7, 0), "unanswered-2")]
    # A possibly urgent report at 01:00 is reminded at 01:15 all the same.
    opened = local(2027, 6, 3, 1, 0)
    urgent = new_case(opened, report_text="I don't feel safe, he is following me.")
    assert walk(urgent, opened, local(2027, 6, 3, 1, 59), rules) == [
        (local(2027, 6, 3, 1, 15), "possibly-urgent-1"),
        (local(2027, 6, 3, 1, 30), "possibly-urgent-2")]
    # A window within one day works too.
    lunch = replace(rules, quiet_hours=(time(12, 0), time(13, 0)))
    assert not in_quiet_hours(local(2027, 6, 3, 2, 0), env, lunch.quiet_hours)
    assert in_quiet_hours(local(2027, 6, 3, 12, 30), env, lunch.quiet_hours)


# ------------------------------------------------------------------ the reporter waiting


def test_handlers_are_reminded_when_the_reporter_heard_nothing_for_a_week() -> None:
    opened = local(2027, 6, 2, 10, 0)
    case = new_case(opened, last_staff_action=opened + timedelta(minutes=20),
                    handlers=("ben@example.org",))
    got = walk(case, opened, opened + timedelta(days=22), step=timedelta(hours=1),
               reporter_heard=opened)
    assert [t for t, _ in got] == [opened + timedelta(days=7), opened + timedelta(days=14),
                                   opened + timedelta(days=21)]
    (r,) = due(case, opened + timedelta(days=7), reporter_heard=opened)
    assert to([r]) == {r.key: ["ben@example.org"]}  # the handler; never the reporter
    assert r.mails[0].kind == "reporter_waiting" and r.mails[0].role == "s2"
    # A mail to the reporter on day 10 starts a new week.
    later = walk(case, opened + timedelta(days=10), opened + timedelta(days=18),
                 step=timedelta(hours=1), reporter_heard=opened + timedelta(days=10))
    assert [t for t, _ in later] == [opened + timedelta(days=17)]


def test_after_weeks_of_downtime_one_reporter_reminder_not_one_per_week() -> None:
    opened = local(2027, 6, 2, 10, 0)
    case = new_case(opened, last_staff_action=opened, handlers=("ben@example.org",))
    first = due(case, opened + timedelta(days=30), reporter_heard=opened)
    assert len(first) == 1
    sent = frozenset({(first[0].case, first[0].key)})
    assert due(case, opened + timedelta(days=31), sent=sent, reporter_heard=opened) == []


def test_no_reporter_reminder_without_a_reporter_to_write_to() -> None:
    opened = local(2027, 6, 2, 10, 0)
    for case in (new_case(opened, last_staff_action=opened, reporter_anonymous=True),
                 new_case(opened, last_staff_action=opened, reporter=None)):
        assert due(case, opened + timedelta(days=8)) == []


def test_a_case_nobody_handles_reminds_all_staff_of_the_reporter() -> None:
    opened = local(2027, 6, 2, 10, 0)
    case = new_case(opened, last_staff_action=opened, recused=("cleo@example.org",))
    (r,) = due(case, opened + timedelta(days=7), reporter_heard=opened)
    assert to([r]) == {r.key: ["ana@example.org", "ben@example.org"]}
    assert r.mails[0].context.handling is False


def test_told_the_decision_in_person_counts_as_news() -> None:
    opened = local(2027, 6, 2, 10, 0)
    told = opened + timedelta(days=5)
    case = new_case(opened, last_staff_action=told, handlers=("ben@example.org",)
                    ).with_step("victim_informed", told)
    assert due(case, opened + timedelta(days=7), reporter_heard=opened) == []
    assert len(due(case, told + timedelta(days=7), reporter_heard=opened)) == 1


def test_waited_reads_as_people_say_it() -> None:
    assert waited(timedelta(minutes=15)) == "15 minutes"
    assert waited(timedelta(hours=2)) == "2 hours"
    assert waited(timedelta(hours=1, minutes=1)) == "1 hour and 1 minute"
    assert waited(timedelta(days=7, hours=2, minutes=5)) == "7 days and 2 hours"


# ------------------------------------------------------------------ the words


def test_reminders_carry_no_words_of_the_report_nor_names() -> None:
    renderer = Renderer()
    opened = local(2027, 6, 2, 10, 0)
    cases = [(new_case(opened), {}),
             (new_case(opened + timedelta(days=7, hours=23), number=8,
                       report_text="He grabbed my arm, he is outside my room now."), {}),
             (new_case(opened, last_staff_action=opened), {"reporter_heard": opened})]
    seen = set()
    for case, facts in cases:
        for r in due(case, opened + timedelta(days=8), **facts):
            for m in r.mails:
                seen.add(r.key.split("-")[0])
                common = {"event": "Example Conf 2027", "case": 7, "tag": "[CoC #7]",
                          "team": "The Example Conf 2027 Code of Conduct team",
                          "inbox": "conduct@example.org"}
                text = renderer.render(m.kind, **common, **m.context.variables())
                for secret in ("grabbed", "Rita", "rita@example.net", "harasser", "victim"):
                    assert secret not in text, (m.kind, secret)
                assert "Case 7" in text or "case 7" in text
    assert seen == {"unanswered", "possibly", "reporter"}


def test_the_urgent_and_leads_reminders_say_why_they_come() -> None:
    renderer = Renderer()
    common = {"event": "E", "case": 3, "tag": "[CoC #3]", "team": "The E team", "inbox": "c@e.org"}
    base = {"recipient_name": "Ana", "opened": "2027-06-02 10:00", "missing_steps": [],
            "level": 2, "waited": "30 minutes", "possibly_urgent": []}
    urgent = renderer.render("still_unanswered", **common, **base, urgent=True, leads=True)
    assert "was marked urgent 30 minutes ago" in urgent
    assert "Someone may be unsafe" in urgent
    assert "because you lead the team" in urgent
    plain = renderer.render("still_unanswered", **common, **base, urgent=False, leads=False)
    assert "waiting 30 minutes for a first response" in plain
    assert "lead the team" not in plain and "#note I am looking at this" in plain


# ------------------------------------------------------------------ config


def test_config_reads_the_reminder_keys() -> None:
    cfg = parse_config('[event]\nstarts = 2027-06-01\nends = 2027-06-05\n'
                       '[process]\nfirst_response_minutes = 60\n'
                       'first_response_minutes_outside = 600\nreporter_update_days = 3\n'
                       'quiet_hours = "22:30-06:45"\n')
    p = cfg.process
    assert (p.first_response_minutes, p.first_response_minutes_outside,
            p.reporter_update_days) == (60, 600, 3)
    assert p.quiet_hours == (time(22, 30), time(6, 45))
    assert cfg.event.starts == date(2027, 6, 1)
    default = parse_config("").process
    assert (default.first_response_minutes, default.first_response_minutes_outside,
            default.reporter_update_days, default.quiet_hours) == (120, 1440, 7, None)


@pytest.mark.parametrize(("text", "message"), [
    ('quiet_hours = "11pm-7am"', 'line 3: process.quiet_hours \'11pm-7am\' is not a time range'
                                 ' like "23:00-07:00"'),
    ('quiet_hours = "23:00-24:00"', "process.quiet_hours '23:00-24:00' is not a time range"),
    ('quiet_hours = "07:00-07:00"', "process.quiet_hours '07:00-07:00' starts and ends at the"
                                    " same time"),
    ("quiet_hours = 23", "process.quiet_hours must be a string"),
    ("first_response_minutes = -5", "process.first_response_minutes cannot be negative"),
    ('reporter_update_days = "a week"', "process.reporter_update_days must be a number"),
    ("first_response_minute = 5", "process.first_response_minute is not a known setting"),
])
def test_a_bad_reminder_key_is_named_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(f"# cocmail\n[process]\n{text}\n", "cocmail.toml")
    assert message in str(e.value)
    assert str(e.value).startswith("cocmail.toml, line 3: ")


def test_event_starts_after_ends_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"event\.starts 2027-06-06 is after ends"):
        parse_config("[event]\nstarts = 2027-06-06\nends = 2027-06-05\n")


# ------------------------------------------------------------------ through the shell

START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)  # a Monday, long before any event
FAST = "first_response_minutes_outside = 60\n"
REPORT = "Someone at the party kept touching my arm after I asked him to stop.\n"


def unanswered(received: list) -> list:  # type: ignore[type-arg]
    return [m for m in received if "still unanswered" in str(m["Subject"])]


@pytest.fixture
def sink_desk(make_desk: Callable[..., Desk], smtp_sink: SmtpSink) -> Desk:
    return make_desk(FAST + smtp_sink.smtp_toml(), clock=Clock(START))


def test_a_reminder_reaches_smtp_once_survives_restarts_and_catches_up_after_downtime(
        sink_desk: Desk, smtp_sink: SmtpSink) -> None:
    desk = sink_desk
    desk.report("Rita Reporter <rita@example.net>", REPORT)
    smtp_sink.wait_for(3)  # the acknowledgement and the two staff notifications
    smtp_sink.clear()

    def tick() -> int:
        queued = send_due_reminders(desk.app, desk.clock.now)
        desk.app.outbox.deliver_due()
        return queued

    desk.clock.set(START + timedelta(minutes=59))
    assert tick() == 0
    desk.clock.set(START + timedelta(minutes=60))
    assert tick() == 2
    got = [r.message for r in smtp_sink.wait_for(2)]
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.messages) == ["ana@example.org",
                                                                 "ben@example.org"]
    for m in got:
        assert m["Subject"] == "[CoC #1] Reminder: still unanswered"
        assert m["Auto-Submitted"] == "auto-generated"
        body = body_of(m)
        assert "Case 1 has been waiting 1 hour for a first response" in body
        assert "touching" not in body and "rita" not in body.lower()
    for _ in range(3):
        desk.clock.advance(minutes=5)
        assert tick() == 0
    desk.restart()
    assert tick() == 0
    # Down from 01:15 to 05:00 after the report: the leads' reminder (due at 2 hours)
    # goes out once on the first pass after the restart, and never again.
    desk.clock.set(START + timedelta(hours=5))
    desk.restart()
    assert tick() == 1
    desk.restart()
    assert tick() == 0
    smtp_sink.wait_for(3)
    assert len(unanswered([r.message for r in smtp_sink.messages])) == 3
    to_ana = [r for r in smtp_sink.messages if r.rcpt_tos == ("ana@example.org",)]
    assert len(to_ana) == 2  # Ana: the staff reminder, then the leads' one
    assert "because you lead the team" in body_of(to_ana[-1].message)


def test_replying_with_a_command_to_the_reminder_takes_the_case(tmp_path: Path) -> None:
    desk = Desk(tmp_path, FAST + '[[staff]]\nname = "Cleo Park"\nemail = "cleo@example.org"\n',
                clock=Clock(START))
    try:
        case = desk.report("Rita Reporter <rita@example.net>", REPORT)
        desk.new()
        desk.clock.advance(minutes=61)
        assert send_due_reminders(desk.app, desk.clock.now) == 3
        desk.app.outbox.deliver_due()
        sent = unanswered(desk.new())
        assert sorted(str(m["To"]) for m in sent) == [
            "Ana Lima <ana@example.org>", "Ben Okafor <ben@example.org>",
            "Cleo Park <cleo@example.org>"]
        # Ben answers the reminder itself: its token authenticates him, the case is his.
        assert desk.staff("ben@example.org", case, "#note I am looking at this\n") == "done"
        assert "ben@example.org" in desk.app.store.read(cases_db.load_case, case).handlers  # type: ignore[union-attr]
        desk.clock.advance(hours=3)
        assert send_due_reminders(desk.app, desk.clock.now) == 0  # no leads' reminder now
    finally:
        desk.close()


def test_recused_staff_get_no_reminder_through_the_shell(tmp_path: Path) -> None:
    desk = Desk(tmp_path, FAST, clock=Clock(START))
    try:
        case = desk.report("Rita Reporter <rita@example.net>", REPORT)
        desk.new()
        # Ben is excluded without anyone acting on the case (a #recuse would be an action).
        loaded = desk.app.store.read(cases_db.load_case, case)
        with desk.app.store.tx() as c:
            cases_db.save_case(c, replace(loaded, recused=("ben@example.org",)))  # type: ignore[type-var]
        desk.clock.advance(hours=3)
        # Both levels are due: Ana, the lead, gets the leads' one only; Ben nothing.
        assert send_due_reminders(desk.app, desk.clock.now) == 1
        desk.app.outbox.deliver_due()
        assert {str(m["To"]) for m in unanswered(desk.new())} == {"Ana Lima <ana@example.org>"}
    finally:
        desk.close()


def test_the_reporter_waiting_reminds_the_handler_who_then_replies(tmp_path: Path) -> None:
    desk = Desk(tmp_path, clock=Clock(START))
    try:
        case = desk.report("Rita Reporter <rita@example.net>", REPORT)
        desk.staff("ben@example.org", case, "#summary touching after being asked to stop\n")
        desk.new()
        week = timedelta(days=7)
        desk.clock.set(START + week - timedelta(minutes=1))
        assert send_due_reminders(desk.app, desk.clock.now) == 0
        desk.clock.set(START + week)
        assert send_due_reminders(desk.app, desk.clock.now) == 1
        desk.app.outbox.deliver_due()
        (note,) = desk.new()
        assert str(note["To"]) == "Ben Okafor <ben@example.org>"
        assert note["Subject"] == f"[CoC #{case}] Reminder: the reporter is waiting for news"
        assert "heard nothing from the team for 7 days" in body_of(note)
        desk.restart()
        assert send_due_reminders(desk.app, desk.clock.now) == 0
        desk.clock.advance(minutes=1)
        desk.staff("ben@example.org", case, "#reply\n\nWe are still looking into it.\n")
        desk.new()
        desk.clock.set(START + 2 * week)
        assert send_due_reminders(desk.app, desk.clock.now) == 0  # Ben wrote a minute later
        desk.clock.advance(minutes=1)
        assert send_due_reminders(desk.app, desk.clock.now) == 1
    finally:
        desk.close()


def test_the_daemons_housekeeping_sends_reminders(tmp_path: Path) -> None:
    desk = Desk(tmp_path, clock=Clock(utcnow() - timedelta(hours=30)))
    try:
        desk.report("Rita Reporter <rita@example.net>", REPORT)
        desk.new()
        Daemon(desk.app).housekeeping(force=True)  # the real clock: 30 hours later
        desk.clock.set(utcnow() + timedelta(minutes=1))
        desk.app.outbox.deliver_due()
        assert len(unanswered(desk.new())) == 2
        Daemon(desk.app).housekeeping(force=True)
        desk.clock.set(utcnow() + timedelta(minutes=1))
        desk.app.outbox.deliver_due()
        assert unanswered(desk.new()) == []
    finally:
        desk.close()


def test_run_once_sends_a_reminder_that_fell_due_while_cocmail_was_down(tmp_path: Path) -> None:
    desk = Desk(tmp_path, clock=Clock(utcnow() - timedelta(hours=50)))
    desk.report("Rita Reporter <rita@example.net>", REPORT)
    desk.new()
    desk.close()
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "COCMAIL_CONFIG"}
    env["PYTHONPATH"] = str(root)
    for _ in range(2):
        run = subprocess.run([sys.executable, "-m", "cocmail", "--config", desk.cfg.source,
                              "run", "--once"], capture_output=True, cwd=tmp_path, env=env,
                             timeout=60)
        assert run.returncode == 0, run.stderr.decode()
    sent = unanswered(desk.new())
    # 50 hours: the staff reminder (24 h) and the leads' (48 h), each once over two runs;
    # Ana, the lead, gets the leads' one only.
    assert sorted(str(m["To"]) for m in sent) == ["Ana Lima <ana@example.org>",
                                                  "Ben Okafor <ben@example.org>"]
