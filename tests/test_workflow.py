"""The command workflow as a pure function: gates, whole-block refusal, no leaks."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.core import commands
from cocmail.core.case import Case, Person
from cocmail.core.commands import Command, parse_command_block
from cocmail.core.compose import Composer
from cocmail.core.effects import OutMail, Proposal
from cocmail.core.env import Env, NoHistory
from cocmail.core.mail_commands.registry import COMMANDS, spellings, table
from cocmail.core.mail_commands.run import _check_mails, apply_block
from cocmail.core.mail_commands.work import STAFF, MailCommand
from cocmail.core.mail_contexts import HarasserResponseContext
from cocmail.core.model import Address, Roster, StaffMember
from cocmail.nonces import new_nonce
from cocmail.render import Renderer

NOW = datetime(2027, 6, 4, 22, 30, tzinfo=UTC)
ANA = StaffMember(1, "Ana Lima", "ana@example.org", lead=True)
BEN = StaffMember(2, "Ben Okafor", "ben@example.org")
ROSTER = Roster((ANA, BEN))
RENDERER = Renderer()
COMPOSER = Composer(secret=b"s" * 64, renderer=RENDERER, inbox="conduct@example.org",
                    tag="CoC", event="Example Conf", plus_addressing=True, nonce=new_nonce)


class FakeHistory:
    def earlier(self, person, exclude_case):  # type: ignore[no-untyped-def]
        if person.email == "repeat@x.org":
            return [{"case": 1, "person": person.display(), "outcome": "warning",
                     "status": "closed"}]
        return []

    def staff_text(self, case):  # type: ignore[no-untyped-def]
        return ""


def env(now: datetime = NOW, ends: date | None = None, appeal: str | None = None) -> Env:
    return Env(event="Example Conf", event_ends=ends, tz=ZoneInfo("Europe/Berlin"),
               inbox="conduct@example.org", dsf="conduct@djangoproject.com", appeal=appeal,
               roster=ROSTER, now=now, history=FakeHistory(), nonce=new_nonce)


def new_case() -> Case:
    return Case(number=5, opened=NOW - timedelta(hours=1),
                reporter=Person("reporter", "Eve Example", "eve@a.org"),
                report_text="He touched my arm repeatedly at the party.")


def run(text: str, case: Case | None = None, e: Env | None = None, actor: StaffMember = ANA,
        proposals: tuple[Proposal, ...] = ()):
    block = parse_command_block(text)
    assert not block.errors, block.errors
    return apply_block(case or new_case(), block.commands, block.body, actor, e or env(),
                       proposals)


def test_phone_reply_runs_the_whole_procedure() -> None:
    r = run("#accused Dan Doe <dan@x.org>\n#action Warned, must keep away from the reporter\n"
            "#notify-harasser\n#notify-victim\n")
    assert not r.rejected
    kinds = sorted((m.kind, m.to.email) for m in r.mails)
    assert kinds == [("harasser_response", "dan@x.org"), ("victim_decision", "eve@a.org")]
    assert r.case.step("decision") == NOW and r.case.step("harasser_informed") == NOW
    assert r.case.step("victim_informed") == NOW
    assert ANA.email in r.case.handlers
    assert [x.ok for x in r.lines] == [True, True, True, True]


def test_gate_failure_refuses_the_whole_block_and_names_the_line() -> None:
    case = new_case()
    r = run("#accused Dan Doe <dan@x.org>\n#notify-harasser\n#action Warned\n", case)
    assert r.rejected and r.mails == ()
    assert r.case == case  # nothing half-applied
    assert r.reason is not None and r.reason.startswith("line 2:") and "#action" in r.reason
    assert [x.ok for x in r.lines] == [True, False, False]


def test_notify_victim_needs_an_address_and_a_decision() -> None:
    anon = replace(new_case(), reporter=None, reporter_anonymous=True)
    assert run("#notify-victim\n", anon).rejected
    r = run("#action Warned\n#notify-victim\n", anon)
    assert r.rejected and "person affected has no email address" in (r.reason or "")
    r = run("#action Warned\n#notified-victim\n", anon)
    assert not r.rejected and r.case.step("victim_informed") == NOW


def test_not_a_violation_skips_harasser_steps() -> None:
    r = run("#accused Dan <dan@x.org>\n#action Looked into it\n#outcome not-a-violation\n"
            "#notify-harasser\n")
    assert r.rejected and "no response to give the reported person" in (r.reason or "")
    r = run("#accused Dan <dan@x.org>\n#action Looked into it\n#outcome not a violation\n")
    assert not r.rejected
    assert "harasser_informed" not in r.case.missing_steps()
    assert "victim_informed" in r.case.missing_steps()


def test_dsf_report_is_held_until_the_day_after_the_event() -> None:
    e = env(ends=date(2027, 6, 5))
    text = ("#when Friday 22:00\n#where Party\n#report-dsf He touched someone's arm "
            "repeatedly; he was warned.")
    r = run(text, e=e)
    assert not r.rejected
    (dsf,) = r.mails
    assert dsf.to.email == "conduct@djangoproject.com"
    assert dsf.not_before == datetime(2027, 6, 6, 0, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    r2 = run("#report-dsf now narrative", r.case, e)
    assert r2.rejected and "already reported" in (r2.reason or "")
    now = run(text.replace("#report-dsf", "#report-dsf now"), e=e)
    assert now.mails[0].not_before is None


def test_dsf_report_needs_when_where_and_what() -> None:
    r = run("#report-dsf now\n")
    assert r.rejected and "#when" in (r.reason or "") and "#where" in (r.reason or "")


def test_repeat_offender_is_named_in_the_transcript() -> None:
    r = run("#accused Rita Repeat <repeat@x.org>\n")
    assert "earlier cases #1 (warning)" in r.lines[0].result
    assert r.earlier[0]["case"] == 1


def test_recuse_stops_mail_to_that_member() -> None:
    # Excluding another member is a proposal (issue 11, item 7) that a member other than
    # the one it is about decides (issue 21); with nobody else on the team, at once.
    r = run("#recuse ben@example.org\n#urgent\n")
    assert not r.rejected and r.case.recused == ("ben@example.org",) and not r.proposals
    assert {m.to.email for m in r.mails} == {"ana@example.org"}
    assert env().staff_recipients(r.case.recused) == [(ANA.address, "s1")]


def test_close_lists_missing_steps_and_reopen() -> None:
    r = run("#close\n")
    assert r.case.status == "closed" and "record the decision" in r.lines[0].result
    r2 = run("#accused X\n", r.case)
    assert r2.rejected and "#reopen" in (r2.reason or "")
    r3 = run("#reopen\n", r.case)
    assert r3.case.status == "open" and r3.case.step("closed") is None


def test_preview_sends_only_to_the_sender() -> None:
    r = run("#accused Dan <dan@x.org>\n#action Warned\n#preview harasser\n")
    (m,) = r.mails
    assert m.kind == "preview" and m.to.email == ANA.email
    body = COMPOSER.body(m)
    assert "Warned" in body and "nothing" in body.lower()


def test_handler_must_be_staff() -> None:
    assert run("#handler mallory@evil.org\n").rejected
    assert run("#handler ben@example.org\n").case.handlers == ("ben@example.org", ANA.email)


name_st = st.text(alphabet=string.ascii_letters, min_size=4, max_size=12)


@settings(max_examples=60, deadline=None)
@given(reporter=name_st, victim=name_st, witness=name_st, local=name_st)
def test_mail_to_the_accused_never_names_reporter_victim_or_witnesses(
        reporter: str, victim: str, witness: str, local: str) -> None:
    names = {f"Rep{reporter}", f"Vic{victim}", f"Wit{witness}"}
    case = replace(new_case(), reporter=Person("reporter", f"Rep{reporter}",
                                               f"r{local}@rep.org"),
                   report_text=f"Rep{reporter} says Vic{victim} was hurt, Wit{witness} saw it")
    text = (f"#victim Vic{victim} <v{local}@vic.org>\n#witness Wit{witness} <w{local}@wit.org>\n"
            "#accused Dan Doe <dan@x.org>\n#notify-accused\n#action Warned\n"
            "#notify-harasser\n")
    r = run(text, case, env(appeal="board@example.org"))
    assert not r.rejected
    to_accused = [m for m in r.mails if m.to.email == "dan@x.org"]
    assert len(to_accused) == 2
    for m in to_accused:
        composed = COMPOSER.compose(m, NOW)
        raw = composed.raw.decode("utf-8", "replace")
        for secret in names | {f"r{local}@rep.org", f"v{local}@vic.org", f"w{local}@wit.org",
                               "touched", "hurt"}:
            assert secret not in raw, secret


def test_unused_history_default() -> None:
    assert NoHistory().earlier(Person("accused", "x", None), 1) == []


COMMAND_LINES = [
    "#accused Dan Doe <dan@x.org>", "#accused Sam", "#victim reporter",
    "#victim Vic Tim <vic@x.org>", "#reporter anonymous", "#witness Wit <w@x.org>",
    "#when Friday 22:00", "#where Party", "#summary Unwanted touching",
    "#notify-accused", "#notified-accused he disagrees", "#action Warned",
    "#outcome warning", "#outcome not-a-violation", "#notify-harasser", "#notified-harasser",
    "#notify-victim", "#notified-victim", "#report-dsf now", "#report-dsf", "#reported-dsf",
    "#close", "#reopen", "#urgent", "#recuse ben@example.org", "#status", "#help",
    "#preview harasser", "#note checked in", "#reply",
]


@settings(max_examples=150, deadline=None)
@given(blocks=st.lists(st.lists(st.sampled_from(COMMAND_LINES), min_size=1, max_size=4),
                       max_size=8),
       bodies=st.lists(st.sampled_from(["", "A neutral account of what happened."]),
                       min_size=8, max_size=8),
       ends=st.sampled_from([None, date(2027, 6, 5)]))
def test_any_command_sequence_keeps_the_case_consistent(blocks, bodies, ends) -> None:  # type: ignore[no-untyped-def]
    case = new_case()
    e = env(ends=ends)
    dsf_reports = 0
    for block_lines, body in zip(blocks, bodies, strict=False):
        text = "\n".join(block_lines) + ("\n\n" + body if body else "\n")
        before = case
        r = run(text, case, e)
        if r.rejected:
            assert r.case == before and r.mails == ()  # all or nothing
            assert any(not x.ok for x in r.lines)
            continue
        case = r.case
        dsf_reports += sum(1 for m in r.mails if m.kind == "dsf_report")
        # Invariants of docs/process.md's gates, whatever the order of commands.
        if case.step("harasser_informed") or case.step("victim_informed"):
            assert case.action
        if case.step("dsf_reported"):
            assert case.when and case.where
        assert (case.status == "closed") == (case.step("closed") is not None)
        for m in r.mails:
            if m.kind in ("harasser_response", "accused_complaint"):
                assert m.to.email in {p.email for p in case.accused}
            if m.kind in ("preview", "status", "help"):
                assert m.to.email == ANA.email
            assert m.to.email not in case.recused
    assert dsf_reports <= 1  # one DSF report per incident, ever


OUTSIDE_KINDS = ("accused_complaint", "harasser_response", "dsf_report")


@settings(max_examples=150, deadline=None)
@given(blocks=st.lists(st.tuples(st.sampled_from([ANA, BEN]),
                                 st.lists(st.sampled_from(COMMAND_LINES + [
                                     "#approve", "#reject not yet", "#recuse ana@example.org"]),
                                     min_size=1, max_size=4)), max_size=8))
def test_with_second_approval_nothing_leaves_without_a_second_member(blocks) -> None:  # type: ignore[no-untyped-def]
    """Any sequence of blocks by Ana and Ben: mail to the accused or the DSF goes out only
    in a block that approves another member's proposal, and is exactly the proposed mail
    (unless the sender is the only member who can see the case); a case is never hidden
    from both; one DSF report at most."""
    case = new_case()
    e = replace(env(), second_approval=("accused", "harasser", "dsf"))
    known: list[Proposal] = []
    dsf_reports = 0
    for actor, lines in blocks:
        if case.is_recused(actor.email):
            continue  # a recused member's mail runs no command
        r = run("\n".join(lines) + "\n\nA neutral account of what happened.\n", case, e,
                actor, tuple(known))
        if r.rejected:
            assert r.case == case and r.mails == () and not r.proposals and not r.decided
            continue
        decided = {nonce: state for nonce, state, _ in r.decided}
        approved = [p for p in known if decided.get(p.nonce) == "approved" and p.kind != "recuse"]
        outside = [m for m in r.mails if m.kind in OUTSIDE_KINDS]
        assert all(p.proposed_by != actor.email for p in known if p.nonce in decided
                   and decided[p.nonce] == "approved")
        alone = not (e.staff_recipients(case.recused, exclude=actor.email)
                     and e.staff_recipients(r.case.recused, exclude=actor.email))
        if not alone:  # a member nobody else can check is never blocked
            assert sorted(m.to.email for m in outside) == sorted(
                m.to.email for p in approved for m in p.mails)
        known = [replace(p, state=decided[p.nonce], decided_by=actor.email)
                 if p.nonce in decided else p for p in known] + list(r.proposals)
        case = r.case
        dsf_reports += sum(1 for m in outside if m.kind == "dsf_report")
        assert len(case.recused) < 2  # never hidden from the whole team
    assert dsf_reports <= 1


# ------------------------------------------------------------------ the registry
@pytest.mark.parametrize("name", [n for n, c in COMMANDS.items() if c.value.needed])
def test_a_command_whose_value_is_missing_is_refused_with_its_syntax(name: str) -> None:
    case = new_case()
    r = run(f"#{name}\n", case)
    assert r.rejected and r.case == case and r.mails == ()
    assert r.lines[0].result == f"#{name} needs a value: {COMMANDS[name].syntax}"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_on_a_closed_case_only_the_commands_declared_for_it_run(name: str) -> None:
    closed = replace(new_case(), status="closed")
    line = Command(name=name, value="x", line=1, raw=f"#{name} x")
    r = apply_block(closed, (line,), "", ANA, env())
    refused = r.lines[0].result == "the case is closed: #reopen it first"
    assert refused == (not COMMANDS[name].on_closed_case)


def test_the_commands_that_run_on_a_closed_case() -> None:
    # Reading it, a note, or reopening it: nothing that changes what was decided.
    assert sorted(n for n, c in COMMANDS.items() if c.on_closed_case) == [
        "help", "note", "preview", "reopen", "status"]


def test_a_handler_mailing_someone_its_declaration_does_not_name_is_stopped() -> None:
    note = COMMANDS["note"]
    to_accused = OutMail(to=Address("Dan Doe", "dan@x.org"), role="a", case=5,
                         context=HarasserResponseContext(accused_name="Dan Doe", action="",
                                                         appeal_contact=""))
    with pytest.raises(AssertionError):
        _check_mails(note, [to_accused])
    _check_mails(replace(note, mails_to=frozenset({"a", STAFF})), [to_accused])


def test_the_registry_refuses_a_name_a_place_or_a_spelling_twice() -> None:
    note, reply = COMMANDS["note"], COMMANDS["reply"]
    for clash in ([note, replace(note, place=999)], [note, replace(reply, place=note.place)],
                  [replace(note, syntax="#nota ...")]):
        with pytest.raises(ValueError):
            table(clash)
    with pytest.raises(ValueError):
        spellings([replace(note, spellings=("comment",)), replace(reply, spellings=("comment",))])
    assert spellings([replace(note, spellings=("comment",))]) == {"note": "note",
                                                                  "comment": "note"}
    assert isinstance(note, MailCommand) and list(COMMANDS) == list(table(COMMANDS.values()))


def test_a_declared_spelling_is_read_as_its_command(monkeypatch: pytest.MonkeyPatch) -> None:
    assert commands.parse_command_block("#comment hi\n").errors  # not a command today
    monkeypatch.setitem(commands.SPELLINGS, "comment", "note")
    block = commands.parse_command_block("#Comment: hi\n")
    assert [(c.name, c.value) for c in block.commands] == [("note", "hi")]


# ------------------------------------------------------------------ #remove
def test_remove_takes_a_witness_off_by_address_and_an_accused_by_name() -> None:
    r = run("#accused Dan Doe <dan@x.org>\n#accused Max\n#witness Wes <wes@x.org>\n"
            "#remove witness WES@x.org\n#remove accused dan doe\n")
    assert not r.rejected
    assert [p.name for p in r.case.accused] == ["Max"] and r.case.witnesses == ()
    assert r.lines[3].result == "witness removed: Wes <wes@x.org>"
    assert r.lines[4].result == "accused removed: Dan Doe <dan@x.org>"
    assert ("remove", "accused dan doe") in [(a.action, a.detail) for a in r.audit]


def test_remove_of_someone_the_case_does_not_name_refuses_the_block_naming_who_it_has() -> None:
    case = replace(new_case(), accused=(Person("accused", "Dan Doe", "dan@x.org"),))
    r = run("#when Friday\n#remove accused Dana Doe\n", case)
    assert r.rejected and r.case == case
    assert r.lines[1].result == ("no accused on the case is Dana Doe (as accused, the case "
                                 "names: Dan Doe <dan@x.org>)")
    for bad in ("#remove Dan Doe\n", "#remove victim Eve\n", "#remove accused\n"):
        assert run(bad, case).lines[0].result.startswith("#remove needs accused or witness")


def test_remove_after_the_complaint_notice_says_it_stays_recorded() -> None:
    r = run("#accused Dan Doe <dan@x.org>\n#notify-accused\n#remove accused Dan Doe\n")
    assert not r.rejected and r.case.accused == ()
    assert r.lines[2].result.startswith("accused removed: Dan Doe <dan@x.org>. The complaint "
                                        "notice went out on ")
    assert r.case.step("accused_informed") == NOW


def test_a_member_named_by_mistake_can_be_brought_back_once_removed() -> None:
    named = run("#accused Ben Okafor\n")
    assert not named.rejected and BEN.email in named.case.recused
    refused = run("#include ben@example.org\n", named.case)
    assert refused.rejected and "is a reported person" in refused.lines[0].result
    assert "#remove accused" in refused.lines[0].result
    r = run("#remove accused Ben Okafor\n#include ben@example.org\n", named.case)
    assert not r.rejected
    assert "Ben Okafor stays excluded from the case" in r.lines[0].result
    assert r.lines[1].result.startswith("Ben Okafor is back on this case")  # nobody else to ask
    assert BEN.email not in r.case.recused


# ------------------------------------------------------------------ #clear
def test_clear_empties_a_fact_and_is_audited() -> None:
    r = run("#when Friday\n#where The bar\n#public-summary Unwanted contact at the party\n"
            "#clear WHERE\n#clear public_summary\n#clear others\n")
    assert not r.rejected
    assert (r.case.when, r.case.where, r.case.public_summary) == ("Friday", None, None)
    assert [x.result for x in r.lines[3:]] == ["where cleared", "public summary cleared",
                                               "others aware was not set"]
    assert ("clear", "WHERE") in [(a.action, a.detail) for a in r.audit]


def test_clear_action_before_anyone_was_told_takes_the_decision_back() -> None:
    r = run("#action Warned\n#outcome warning\n#clear action\n")
    assert not r.rejected and r.case.action is None and r.case.outcome == "warning"
    assert r.case.step("decision") is None and "decision" in r.case.missing_steps()
    assert r.lines[2].result == "decision cleared: no decision is recorded now"
    gated = run("#notify-victim\n", r.case)  # the gates see no decision again
    assert gated.rejected and "no decision recorded yet" in gated.lines[0].result


def test_clear_of_what_someone_was_told_is_refused_and_points_to_the_correction() -> None:
    told = run("#accused Dan Doe <dan@x.org>\n#action Warned\n#response You were warned\n"
               "#notify-harasser\n").case
    for field in ("action", "response"):
        r = run(f"#clear {field}\n", told)
        assert r.rejected and r.case == told
        assert r.lines[0].result.startswith("the reported person was told the ")
        assert f"it stays on record; to change it, send #{field} with the new text" \
            in r.lines[0].result
    victim_told = run("#action Warned\n#notified-victim\n").case
    r = run("#clear action\n", victim_told)
    assert r.rejected and r.lines[0].result.startswith("the person affected was told the decision")
    assert not run("#clear outcome\n#clear when\n", told).rejected  # not what they read


def test_clear_names_the_fields_it_knows() -> None:
    for bad in ("#clear\n", "#clear reporter\n"):
        r = run(bad)
        assert r.rejected
        assert r.lines[0].result == ("#clear needs one of: when, where, summary, others, action, "
                                     "response, outcome, public-summary")
