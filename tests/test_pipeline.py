"""The whole pipeline on a real SQLite store, spool delivery: what each person receives."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from cocmail.app import App, open_app
from cocmail.store import cases as cases_db
from testsupport.helpers import body_of, mail, make_config, spool


def deliver(app: App, raw: bytes) -> str:
    state = app.receive(raw, "test")
    assert state != "already stored"
    return state


def sent(app: App) -> list:
    return spool(app.cfg)


REPORT = mail("Eve Example <eve@attendee.example>", "Something happened",
              "Dan Doe touched my arm at the party.\n", message_id="<r1@attendee.example>")


def test_report_gets_one_ack_and_one_notification_per_staff(app: App) -> None:
    assert deliver(app, REPORT) == "done"
    out = sent(app)
    assert sorted(m["To"].addresses[0].addr_spec for m in out) == [
        "ana@example.org", "ben@example.org", "eve@attendee.example"]
    ack = next(m for m in out if "eve@" in str(m["To"]))
    assert ack["Subject"].startswith("[CoC #1]")
    assert ack["In-Reply-To"] == "<r1@attendee.example>"
    assert ack["Auto-Submitted"] == "auto-replied"
    staff = [m for m in out if "example.org>" in str(m["To"]) or "@example.org" in str(m["To"])
             if "eve@" not in str(m["To"])]
    for m in staff:
        assert ".s" in m["Message-ID"] and m["Message-ID"].startswith("<cocmail.1.s")
        assert m["Reply-To"].addresses[0].addr_spec.startswith("conduct+1.s")
        assert "touched my arm" in body_of(m)
        assert m["Auto-Submitted"] == "auto-generated"


def test_same_message_twice_takes_effect_once(app: App) -> None:
    deliver(app, REPORT)
    assert deliver(app, REPORT) == "duplicate"
    assert len(sent(app)) == 3
    assert app.store.read(cases_db.case_numbers) == [1]


def test_reporter_followup_is_relayed_not_acknowledged(app: App) -> None:
    deliver(app, REPORT)
    ack = next(m for m in sent(app) if "eve@" in str(m["To"]))
    follow = mail("Eve Example <eve@attendee.example>", "Re: " + ack["Subject"],
                  "I remembered: it was near the bar.\n", message_id="<r2@attendee.example>",
                  in_reply_to=ack["Message-ID"])
    deliver(app, follow)
    new = sent(app)[3:]
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in new) == [
        "ana@example.org", "ben@example.org"]
    assert all("near the bar" in body_of(m) for m in new)
    assert app.store.read(cases_db.case_numbers) == [1]


def staff_reply(app: App, who: str, body: str, n: int = 1) -> bytes:
    note = next(m for m in sent(app) if who in str(m["To"]))
    return mail(f"Staff <{who}>", "Re: " + note["Subject"], body,
                message_id=f"<staff{n}@example.org>", in_reply_to=note["Message-ID"])


def test_staff_commands_run_and_the_harasser_never_learns_the_reporter(app: App) -> None:
    deliver(app, REPORT)
    deliver(app, staff_reply(app, "ana@example.org",
                             "#accused Dan Doe <dan@speaker.example>\n#action Warned\n"
                             "#notify-harasser\n#notify-victim\n\nSpoke to both.\n"))
    relay = [m for m in sent(app) if "ben@example.org" in str(m["To"])
             and "A colleague's commands" in str(m["Subject"])][-1]
    # The mail to the harasser waits for a second member ([process] second_approval).
    proposal = [m for m in sent(app) if "Approval needed" in str(m["Subject"])][-1]
    deliver(app, mail("Ben <ben@example.org>", "Re: " + proposal["Subject"], "#approve\n",
                      message_id="<staff2@example.org>", in_reply_to=proposal["Message-ID"]))
    out = sent(app)
    to_dan = [m for m in out if "dan@speaker.example" in str(m["To"])]
    assert len(to_dan) == 1
    raw = to_dan[0].as_string()
    for leak in ("Eve", "eve@attendee", "touched", "r1@attendee"):
        assert leak not in raw
    assert "Warned" in body_of(to_dan[0])
    assert any("eve@attendee.example" in str(m["To"]) and "Warned" in body_of(m) for m in out)
    transcript = [m for m in out if "ana@example.org" in str(m["To"])
                  and "Commands" in str(m["Subject"])][0]
    assert "Commands done" in transcript["Subject"]
    assert "Spoke to both" in body_of(relay)
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.step("harasser_informed") is not None


def test_forged_staff_mail_runs_nothing_and_confirm_runs_it(app: App) -> None:
    deliver(app, REPORT)
    forged = mail("Ana Lima <ana@example.org>", "[CoC #1] close it", "#close\n",
                  message_id="<forged@evil.example>")
    deliver(app, forged)
    assert app.store.read(cases_db.load_case, 1).status == "open"  # type: ignore[union-attr]
    held = [m for m in sent(app) if "ana@example.org" in str(m["To"])][-1]
    assert "held" in held["Subject"].lower()
    assert "forged" in body_of(held).lower()
    confirm = mail("Ana Lima <ana@example.org>", "Re: " + held["Subject"], "#confirm\n",
                   message_id="<confirm@example.org>", in_reply_to=held["Message-ID"])
    deliver(app, confirm)
    assert app.store.read(cases_db.load_case, 1).status == "closed"  # type: ignore[union-attr]


def test_quoted_commands_never_run(app: App) -> None:
    deliver(app, REPORT)
    deliver(app, staff_reply(app, "ana@example.org",
                             "Thanks, looking at it.\n\nOn Fri, Ana wrote:\n> #close\n"))
    assert app.store.read(cases_db.load_case, 1).status == "open"  # type: ignore[union-attr]


def test_auto_reply_gets_no_answer(app: App) -> None:
    auto = mail("Away <away@x.example>", "Out of office", "I am away.\n",
                message_id="<auto@x.example>", extra={"Auto-Submitted": "auto-replied"})
    deliver(app, auto)
    assert all("away@x.example" not in str(m["To"]) for m in sent(app))


def test_files_are_private(app: App) -> None:
    deliver(app, REPORT)
    data = app.cfg.storage.dir
    for p in [data / "cocmail.db", data / "secret.key", *data.glob("spool/*.eml")]:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


def test_a_case_opened_by_another_process_meanwhile_is_not_overwritten(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline reads (parses) a message before its write transaction and decides
    inside it; if another process (here: a second connection processing its own
    report) opens a case in between, the report is decided on what the transaction
    sees and gets the next number, and its mail says so."""
    import cocmail.pipeline

    other = open_app(app.cfg)
    real_read = cocmail.pipeline.read
    raced: list[str] = []
    racing: list[bool] = []

    def read_while_another_process_writes(*args, **kwargs):  # type: ignore[no-untyped-def]
        reading = real_read(*args, **kwargs)
        if not racing:
            racing.append(True)  # the other process reads through here too
            raced.append(other.receive(mail("Zed <zed@attendee.example>", "Another thing",
                                            "Someone shouted.\n",
                                            message_id="<z1@attendee.example>"), "test"))
        return reading

    monkeypatch.setattr(cocmail.pipeline, "read", read_while_another_process_writes)
    try:
        assert deliver(app, REPORT) == "done"
    finally:
        other.close()
    assert raced == ["done"]
    assert app.store.read(cases_db.case_numbers) == [1, 2]
    acks = {m["To"].addresses[0].addr_spec: str(m["Subject"]) for m in sent(app)
            if "attendee" in str(m["To"])}
    assert acks["zed@attendee.example"].startswith("[CoC #1]")
    assert acks["eve@attendee.example"].startswith("[CoC #2]")
    assert len(sent(app)) == 6


def test_a_failure_quoting_an_address_logs_no_address_even_with_debug(
        app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Logs never carry addresses, at any level: not in an exception's text, which may
    quote what it choked on, nor in the traceback --debug adds."""
    import logging

    import cocmail.core.decide

    def choke(msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyError(f"no such sender {msg.from_[0].email}")

    monkeypatch.setattr(cocmail.core.decide, "open_case", choke)
    caplog.set_level(logging.DEBUG)
    raw = mail("Eve Secret <eve.secret@attendee.example>", "Report", "Dan was rude.\n",
               message_id="<r-log@attendee.example>")
    app.receive(raw, "test")
    assert "failed" in caplog.text and "<address>" in caplog.text
    assert "eve.secret" not in caplog.text


def test_staff_tokens_stop_authenticating_a_month_after_the_case_closed(tmp_path: Path) -> None:
    """Tokens sit in every staff mail's References: one found in an old mail must not
    act on a case for ever. Within 30 days of closing a reply still runs; after, held."""
    from datetime import timedelta

    from cocmail.clock import utcnow

    now = [utcnow()]
    a = open_app(make_config(tmp_path), clock=lambda: now[0])
    try:
        deliver(a, REPORT)
        deliver(a, staff_reply(a, "ana@example.org", "#close\n", n=1))
        assert a.store.read(cases_db.load_case, 1).status == "closed"  # type: ignore[union-attr]
        now[0] += timedelta(days=10)
        deliver(a, staff_reply(a, "ana@example.org", "#reopen\n", n=2))
        assert a.store.read(cases_db.load_case, 1).status == "open"  # type: ignore[union-attr]
        deliver(a, staff_reply(a, "ana@example.org", "#close\n", n=3))
        now[0] += timedelta(days=31)
        old_note = next(m for m in sent(a) if "ana@example.org" in str(m["To"]))
        stale = mail("Staff <ana@example.org>", "Re: " + old_note["Subject"], "#reopen\n",
                     message_id="<staff9@example.org>", in_reply_to=old_note["Message-ID"])
        deliver(a, stale)
        assert a.store.read(cases_db.load_case, 1).status == "closed"  # type: ignore[union-attr]
        held = [m for m in sent(a) if "ana@example.org" in str(m["To"])][-1]
        assert "held" in held["Subject"].lower()
        assert "30 days after a case closes" in " ".join(body_of(held).split())
    finally:
        a.close()


# ---------------------------------------------------------------- one pure decision

def test_decide_is_pure_and_quarantines_as_a_decision_with_its_notices(app: App) -> None:
    """The same facts give the same decision, and nothing is written: an over-cap
    message is a Decision to quarantine it, carrying one notice per staff member."""
    from cocmail.core.decide import Facts, decide, read

    big = mail("Eve <eve@attendee.example>", "Video", "x" * 200_000,
               message_id="<big@attendee.example>")
    settings = replace(app.pipeline.settings, max_bytes=100 * 1024)
    reading = read(big, "imap", app.pipeline.roster, settings)
    facts = Facts(7, reading, app.pipeline.env())
    decision = decide(facts)
    assert decision == decide(facts)
    assert decision.state == "quarantined" and "over the 100 KB cap" in (decision.error or "")
    assert sorted(m.to.email for m in decision.mails) == ["ana@example.org", "ben@example.org"]
    assert {m.kind for m in decision.mails} == {"quarantined"}
    assert all(m.context.item_id == 7 for m in decision.mails)
    assert app.store.query("SELECT * FROM outbox") == []  # nothing was done


def test_decide_opens_a_case_under_the_number_the_facts_give(app: App) -> None:
    from cocmail.core.decide import Facts, decide, read

    reading = read(REPORT, "imap", app.pipeline.roster, app.pipeline.settings)
    decision = decide(Facts(1, reading, app.pipeline.env(), next_number=41, acks_today=0))
    assert decision.created and decision.case is not None and decision.case.number == 41
    assert "ack" in {m.kind for m in decision.mails}
    limited = decide(Facts(1, reading, app.pipeline.env(), next_number=41, acks_today=5))
    assert "ack" not in {m.kind for m in limited.mails}  # the rate limit is a fact too
    copy = decide(Facts(1, reading, app.pipeline.env(), duplicate_of=3))
    assert (copy.state, copy.error, copy.mails) == ("duplicate", "copy of #3", ())


def test_a_message_is_decided_once_before_the_write_lock_and_committed_on_those_facts(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decided (and composed) before the write lock, so the courier is not kept waiting;
    the transaction finds the facts unchanged and commits that one decision."""
    import cocmail.pipeline

    calls: list[bool] = []
    real = cocmail.pipeline.decide

    def counting(facts):  # type: ignore[no-untyped-def]
        calls.append(app.store.conn.in_transaction)
        return real(facts)

    monkeypatch.setattr(cocmail.pipeline, "decide", counting)
    deliver(app, REPORT)
    deliver(app, staff_reply(app, "ana@example.org", "#urgent\n"))
    assert calls == [False, False]
    assert app.store.read(cases_db.load_case, 1).urgent  # type: ignore[union-attr]


def test_a_case_opened_by_another_process_meanwhile_is_decided_again_under_the_lock(
        make_app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Between the decision made ahead and the commit, `ingest` (another process, another
    connection) opens case 1: the daemon's report must become case 2, its mails too."""
    import cocmail.pipeline

    daemon, ingest = make_app(), make_app()
    calls: list[bool] = []
    real = cocmail.pipeline.decide

    def racing(facts):  # type: ignore[no-untyped-def]
        decision = real(facts)
        if facts.reading.msg.message_id != "r1@attendee.example":
            return decision  # ingest's own decision
        calls.append(daemon.store.conn.in_transaction)
        if len(calls) == 1:  # decided ahead on "the next case is 1"; now ingest commits
            other = mail("Zed <zed@attendee.example>", "Another thing", "It was loud.\n",
                         message_id="<z1@attendee.example>")
            assert ingest.receive(other, "test") == "done"
        return decision

    monkeypatch.setattr(cocmail.pipeline, "decide", racing)
    assert deliver(daemon, REPORT) == "done"
    assert calls == [False, True]  # the facts changed: decided again, in the transaction
    cases = {n: daemon.store.read(cases_db.load_case, n) for n in (1, 2)}
    assert cases[1].reporter.email == "zed@attendee.example"  # type: ignore[union-attr]
    assert cases[2].reporter.email == "eve@attendee.example"  # type: ignore[union-attr]
    acks = {m["To"]: m["Subject"] for m in sent(daemon) if "received" in m["Subject"]}
    assert "#2]" in acks["Eve Example <eve@attendee.example>"]
    assert "#1]" in acks["Zed <zed@attendee.example>"]
