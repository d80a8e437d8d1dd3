"""The words for each situation (issue 25): emergencies, the team's own details, the
decision to a person affected, and subjects that tell staff what arrived.

Everything here goes through the real pipeline (reports and staff replies as mail, the
reminders as the daemon asks for them) and reads what cocmail sent, as its reader would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cocmail.app import open_app
from cocmail.config import ConfigError, parse_config
from cocmail.core.urgency import urgent_words
from cocmail.reminders_due import send_due_reminders
from testsupport.apps import Clock, Desk
from testsupport.helpers import body_of, mail

START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)  # a Monday, long before any event
TEAM = """\
coc_url = "https://example.org/coc"
emergency_phone = "+351 21 000 0000"
support = "Local support: APAV 116 006 (free, 24h)"
"""
ORDINARY = "At the party last night someone kept touching my arm after I asked him to stop.\n"


def team_desk(tmp: Path, event: str = TEAM, extra: str = "", dsf: str = "") -> Desk:
    """A Desk whose config has `event` lines in [event] and `dsf` lines in [dsf]."""
    desk = Desk(tmp, extra + (f"\n[dsf]\n{dsf}" if dsf else ""), clock=Clock(START))
    desk.close()
    path = Path(desk.cfg.source)
    path.write_text(path.read_text().replace('timezone = "Europe/Berlin"\n',
                                             f'timezone = "Europe/Berlin"\n{event}', 1))
    desk.cfg = parse_config(path.read_text(), str(path), tmp)
    desk.app = open_app(desk.cfg, clock=desk.clock)
    return desk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = team_desk(tmp_path, extra="first_response_minutes_outside = 360\n")
    yield d
    d.close()


def flat(text: str) -> str:
    return " ".join(text.split())


def to(sent: list, who: str) -> list:  # type: ignore[type-arg]
    return [m for m in sent if who in str(m["To"])]


# ------------------------------------------------------------------ emergencies
def test_the_ack_gives_the_emergency_phone_and_the_configured_time(desk: Desk) -> None:
    case = desk.report("Rita Reporter <rita@example.net>", ORDINARY)
    (ack,) = to(desk.new(), "rita@example.net")
    text = flat(body_of(ack))
    assert "call the local emergency services first, then call us on +351 21 000 0000" in text
    # first_response_minutes_outside = 360, and the event is months away: six hours.
    assert "will read it within 6 hours" in text and "few hours" not in text
    assert "Local support: APAV 116 006 (free, 24h)" in text
    assert "https://example.org/coc" in text
    assert "urgent" not in text.lower()
    notes = [m for m in to(desk.sent(), "example.org>") if "ana@" in str(m["To"])]
    assert notes[0]["Subject"] == f"[CoC #{case}] New report"


def test_an_urgent_report_is_marked_and_reminded_every_quarter_until_a_member_acts(
        desk: Desk) -> None:
    case = desk.report("Rita Reporter <rita@example.net>",
                       "He is outside my hotel room now and keeps knocking.\n",
                       subject="please help")
    sent = desk.new()
    notes = to(sent, "example.org>")
    assert {str(m["Subject"]) for m in notes} == {f"[CoC #{case}] Possibly urgent: new report"}
    assert 'POSSIBLY URGENT' in body_of(notes[0]) and '"outside my hotel"' in flat(
        body_of(notes[0]))
    (ack,) = to(sent, "rita@example.net")
    body = body_of(ack)
    # The danger comes first, before any thanks, and no slow promise is made.
    assert body.index("in danger right now") < body.index("Thank you for writing")
    assert "within 6 hours" not in flat(body) and "as soon as they can" in flat(body)
    assert str(ack["Subject"]) == f"[CoC #{case}] We have received your report"  # no alarm

    desk.clock.advance(minutes=14)
    assert send_due_reminders(desk.app, desk.clock.now) == 0
    desk.clock.advance(minutes=1)
    assert send_due_reminders(desk.app, desk.clock.now) == 2  # Ana and Ben
    desk.app.outbox.deliver_due()
    reminders = desk.new()
    assert {str(m["Subject"]) for m in reminders} == {
        f"[CoC #{case}] Reminder: possibly urgent, still unanswered"}
    assert "reads as if someone may be in danger now" in flat(body_of(reminders[0]))
    assert send_due_reminders(desk.app, desk.clock.now) == 0  # once
    desk.staff("ben@example.org", case, "#note calling her now\n")
    desk.clock.advance(hours=2)
    assert send_due_reminders(desk.app, desk.clock.now) == 0  # Ben acted: in hand


def test_without_a_member_the_leads_hear_of_it_after_half_an_hour(desk: Desk) -> None:
    desk.report("Rita Reporter <rita@example.net>", "Hi,\n\nI am scared, he has a knife.\n")
    desk.new()
    desk.clock.advance(minutes=31)
    # Both levels fell due together: Ben gets level 1, Ana (the lead) only level 2.
    assert send_due_reminders(desk.app, desk.clock.now) == 2
    desk.app.outbox.deliver_due()
    ana = to(desk.new(), "ana@example.org")
    assert len(ana) == 1 and "because you lead the team" in flat(body_of(ana[0]))


@pytest.mark.parametrize("subject, body", [
    ("Something happened at the party",
     "Hello,\n\nI am afraid I have to report something. Thanks for your help.\n"),
    ("Talk feedback", "This is not urgent, but a speaker made a joke about women.\n"),
    ("Report", "He followed me on Twitter and keeps replying to my posts.\n"),
    ("Policies", "Are the venue's policies on photos written down anywhere?\n"),
])
def test_ordinary_reports_stay_ordinary(desk: Desk, subject: str, body: str) -> None:
    case = desk.report("Rita Reporter <rita@example.net>", body, subject=subject)
    notes = to(desk.new(), "ana@example.org")
    assert [str(m["Subject"]) for m in notes] == [f"[CoC #{case}] New report"]
    desk.clock.advance(minutes=40)
    assert send_due_reminders(desk.app, desk.clock.now) == 0


def test_the_team_adds_its_own_urgent_words(tmp_path: Path) -> None:
    desk = team_desk(tmp_path, extra='urgent_words = ["purple van"]\n')
    try:
        case = desk.report("Rita Reporter <rita@example.net>",
                           "There is a PURPLE  van parked by the entrance again.\n")
        notes = to(desk.new(), "ana@example.org")
        assert str(notes[0]["Subject"]) == f"[CoC #{case}] Possibly urgent: new report"
    finally:
        desk.close()


def test_shipped_words_in_other_languages() -> None:
    assert urgent_words("Ayuda", "Me está siguiendo ahora mismo") == ("me esta siguiendo",)
    assert urgent_words("", "Ele está me seguindo, não me sinto segura") == (
        "esta me seguindo", "nao me sinto segura")
    assert urgent_words("", "Il est devant ma chambre, je ne me sens pas en sécurité")
    assert urgent_words("Notfall", "") == ("notfall",)
    assert urgent_words("", "Mi sta seguendo, non mi sento al sicuro")
    # Words far down a long account are read by the team with the rest, not alarmed on.
    long = "\n".join(f"line {n} of what happened" for n in range(8)) + "\npolice\n"
    assert urgent_words("Report", long) == ()
    # "ich bin mir nicht sicher" (I am not sure) is not "ich fühle mich nicht sicher".
    assert urgent_words("", "Ich bin mir nicht sicher, ob das ein Verstoß war.") == ()


# ------------------------------------------------------------------ subjects that tell
def test_each_relay_says_who_wrote(desk: Desk) -> None:
    case = desk.report("Rita Reporter <rita@example.net>", ORDINARY)
    desk.new()
    desk.staff("ana@example.org", case,
               "#accused Dan Doe <dan@example.com>\n#witness Wanda <wanda@example.net>\n")
    ben = to(desk.new(), "ben@example.org")
    assert [str(m["Subject"]) for m in ben] == [f"[CoC #{case}] A colleague's commands"]
    desk.staff("ana@example.org", case, "Talked to Rita, she is fine.\n")
    assert [str(m["Subject"]) for m in to(desk.new(), "ben@example.org")] == [
        f"[CoC #{case}] A colleague's note"]
    for who, subject in (("Rita Reporter <rita@example.net>", "The reporter wrote again"),
                         ("Dan Doe <dan@example.com>", "The reported person wrote"),
                         ("Wanda <wanda@example.net>", "A witness wrote")):
        desk.receive(mail(who, f"Re: [CoC #{case}] something", "One more thing.\n",
                          message_id=f"<{subject.split()[1]}@example.net>"))
        got = to(desk.new(), "ben@example.org")
        assert [str(m["Subject"]) for m in got] == [f"[CoC #{case}] {subject}"], who
        assert "Dan" not in str(got[0]["Subject"])


# ------------------------------------------------------------------ the decision
def test_the_decision_to_a_person_affected_who_did_not_report(desk: Desk) -> None:
    case = desk.report("Wanda Witness <wanda@example.net>", ORDINARY)
    desk.staff("ana@example.org", case,
               "#victim Sam Okafor <sam@example.net>\n#accused Dan Doe <dan@example.com>\n"
               "#action No further action.\n#outcome not-a-violation\n#notify-victim\n")
    (decision,) = to(desk.new(), "sam@example.net")
    assert str(decision["Subject"]).endswith(
        "A decision about something that happened to you at Example Conf 2027")
    text = flat(body_of(decision))
    assert "your report" not in text and "Thank you" not in text
    assert "A report reached us about something that happened to you" in text
    assert "we did not find that what happened broke our Code of Conduct" in text
    assert "the action we have taken" not in text and "No further action" not in text
    assert "Local support: APAV 116 006" in text  # shown to the person affected


def test_the_decision_to_a_reporter_names_the_action(desk: Desk) -> None:
    case = desk.report("Rita Reporter <rita@example.net>", ORDINARY)
    desk.staff("ana@example.org", case,
               "#accused Dan Doe <dan@example.com>\n#action A formal warning.\n"
               "#outcome warning\n#notify-victim\n")
    (decision,) = [m for m in to(desk.new(), "rita@example.net")
                   if "decision" in str(m["Subject"])]
    text = flat(body_of(decision))
    assert "Thank you for your report" in text
    assert "This is the action we have taken: A formal warning." in text


# ------------------------------------------------------------------ the committee
def test_the_committee_is_the_teams_own(tmp_path: Path) -> None:
    desk = team_desk(tmp_path, dsf='address = "conduct@pycon.example"\n'
                                   'name = "the PyCon Code of Conduct Working Group"\n')
    try:
        case = desk.report("Rita Reporter <rita@example.net>", ORDINARY)
        desk.staff("ana@example.org", case,
                   "#accused Dan Doe <dan@example.com>\n#when Friday\n#where the party\n"
                   "#summary touching after being asked to stop\n#report-dsf now\n")
        (report,) = to(desk.new(), "conduct@pycon.example")
        assert str(report["To"]) == ("PyCon Code of Conduct Working Group "
                                     "<conduct@pycon.example>")
        assert "our report to the PyCon Code of Conduct Working Group" in flat(body_of(report))
    finally:
        desk.close()


@pytest.mark.parametrize("lines, key", [
    ('[process]\nurgent_words = [""]\n', "urgent_words"),
    ('[process]\nurgent_words = "following me"\n', "urgent_words"),
    ('[dsf]\nname = " "\n', "name"),
    ('[event]\nemergency_phone = 112\n', "emergency_phone"),
])
def test_wrong_values_name_the_key(tmp_path: Path, lines: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_config(lines, str(tmp_path / "c.toml"), tmp_path)


def test_the_ack_promises_what_the_event_schedule_says(tmp_path: Path) -> None:
    """During the event, first_response_minutes (here 30) is the promise."""
    desk = team_desk(tmp_path, event=TEAM + "starts = 2027-05-01\nends = 2027-05-05\n",
                     extra="first_response_minutes = 30\n")
    try:
        desk.report("Rita Reporter <rita@example.net>", ORDINARY)
        (ack,) = to(desk.new(), "rita@example.net")
        assert "will read it within 30 minutes" in flat(body_of(ack))
    finally:
        desk.close()


def test_the_ack_without_team_details_still_says_what_to_do(tmp_path: Path) -> None:
    desk = Desk(tmp_path, clock=Clock(START + timedelta(days=1)))
    try:
        desk.report("Rita Reporter <rita@example.net>", ORDINARY)
        (ack,) = to(desk.new(), "rita@example.net")
        text = flat(body_of(ack))
        assert "call the local emergency services first, then find any conference staff" in text
        assert "call us on" not in text and "support" not in text
        assert "within a day" in text  # the default first_response_minutes_outside
    finally:
        desk.close()


# ------------------------------------------------------------------ cocmail demo --config
TEAM_CONFIG = """\
[event]
name = "PyCon Lusitania 2027"
timezone = "Europe/Lisbon"
coc_url = "https://pycon.example/coc"
emergency_phone = "+351 21 000 0000"
support = "Local support: APAV 116 006 (free, 24h)"

[inbox]
address = "cocteam@pycon.example"

[storage]
dir = "team-data"

[smtp]
host = "smtp.invalid"
port = 587

[[staff]]
name = "Rui Costa"
email = "rui@pycon.example"
lead = true

[[staff]]
name = "Inês Duarte"
email = "ines@pycon.example"

[dsf]
address = "wg@psf.example"
name = "the PSF Code of Conduct Working Group"
"""


def test_demo_with_the_teams_config_shows_its_own_mails(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "team" / "cocmail.toml"
    config.parent.mkdir()
    config.write_text(TEAM_CONFIG, encoding="utf-8")
    scratch = tmp_path / "scratch"
    run = subprocess.run([sys.executable, "-m", "cocmail", "demo", "--config", str(config),
                          "--dir", str(scratch)], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "PYTHONIOENCODING": "utf-8"})
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "cocmail demo: PyCon Lusitania 2027, inbox cocteam@pycon.example" in out
    assert "Rui answers the notification" in out and "Inês approves" in out
    assert "Ana Lima" not in out and "Ben Okafor" not in out and "example.org" not in out
    assert "then call us on +351 21 000 0000" in flat(out.replace("| ", ""))
    assert "Local support: APAV 116 006" in out
    assert "| To: PSF Code of Conduct Working Group <wg@psf.example>" in out
    assert "| To: Rui Costa <rui@pycon.example>" in out
    # Only the scratch directory was written: not the team's storage, no mail server.
    assert not (config.parent / "team-data").exists()
    assert (scratch / "data" / "spool").is_dir()



def test_a_member_entering_an_urgent_report_alerts_the_others_without_reminders(
        desk: Desk) -> None:
    case = desk.enter("ana@example.org", "Rita says he is outside her hotel room now.\n")
    (note,) = to(desk.new(), "ben@example.org")
    assert str(note["Subject"]) == f"[CoC #{case}] Possibly urgent: new report"
    assert "reminds all of you" not in flat(body_of(note))  # Ana took it: it is in hand
    desk.clock.advance(minutes=40)
    assert send_due_reminders(desk.app, desk.clock.now) == 0
