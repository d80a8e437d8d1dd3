"""Forged reporters (issue 21 item 5): a report whose sender address failed the trusted
MX's DMARC check (or SPF and DKIM both) is not acknowledged, and staff see that the
sender's address may be forged, in their notification and in `cases show`.

Through the real flows: the daemon's IMAP path (`run --once` against Dovecot, where
Authentication-Results are trusted by default) and `cocmail ingest` when the team lists
it in `[security] authentication_results_via`. What a user would notice: the person
whose address was forged gets mail about a report they never wrote, perhaps a report
about themselves; staff answer the forger believing the address.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from testsupport.helpers import STAFF_TOML, body_of, parse, read_spooled
from testsupport.process import cocmail
from testsupport.servers import Dovecot, ImapUser, SmtpSink

FORGED = "Lena Forged <lena@victim.example>"
WARNING = "the sender's address may be forged"


def config(tmp: Path, *, via: str = '["imap", "ingest"]', imap: str = "",
           smtp: str = "") -> Path:
    path = tmp / "cocmail.toml"
    path.write_text(f"""
[event]
name = "Example Conf 2027"
timezone = "Europe/Berlin"

[inbox]
address = "conduct@example.org"

[storage]
dir = "{tmp / 'data'}"

[security]
trusted_authserv_ids = ["mx.example.org"]
authentication_results_via = {via}
{imap}
{smtp}
{STAFF_TOML}
""")
    return path


def report(authres: list[str], n: int = 1, frm: str = FORGED) -> bytes:
    msg = EmailMessage()
    for value in authres:  # topmost first, as MTAs prepend them
        msg["Authentication-Results"] = value
    msg["From"] = frm
    msg["To"] = "conduct@example.org"
    msg["Subject"] = "Something happened at the party"
    msg["Message-ID"] = f"<report{n}@victim.example>"
    msg["Date"] = "Wed, 02 Jun 2027 22:00:00 +0200"
    msg.set_content("Someone kept following me around the party.\n")
    return bytes(msg)


def spool(cfg: Path) -> list[EmailMessage]:
    """The mails in the spool, unsealed (issue 27: the spool is sealed like the store)."""
    return [parse(raw) for raw in read_spooled(sorted((cfg.parent / "data" / "spool")
                                                      .glob("*.eml")))]


def ingest(cfg: Path, raw: bytes) -> None:
    run = cocmail(cfg, "ingest", "-", stdin=raw)
    assert run.code == 0, run.err


@pytest.mark.parametrize("authres, why", [
    (["mx.example.org; spf=pass smtp.mailfrom=bounce@mailer.example;"
      " dkim=none; dmarc=fail (p=reject) header.from=victim.example"], "DMARC failed"),
    (["mx.example.org; spf=fail smtp.mailfrom=lena@victim.example;"
      " dkim=fail header.d=victim.example"], "SPF and DKIM failed"),
    # The forger's own header below ours says "pass": only the topmost trusted counts.
    (["mx.example.org; dmarc=fail header.from=victim.example",
      "mx.example.org; dmarc=pass header.from=victim.example"], "DMARC failed"),
])
def test_a_forged_reporter_gets_no_acknowledgement_and_staff_are_warned(
        tmp_path: Path, authres: list[str], why: str) -> None:
    cfg = config(tmp_path)
    ingest(cfg, report(authres))
    sent = spool(cfg)
    assert [m for m in sent if "victim.example" in str(m["To"])] == []
    notes = [m for m in sent if "example.org" in str(m["To"])]
    assert len(notes) == 2
    for note in notes:
        body = " ".join(body_of(note).split())
        top = body.split("A new report has arrived", 1)[0]
        assert f"{WARNING} (our mail server reports: {why})" in top, body
        assert "cocmail has not sent an acknowledgement to it" in top
    show = cocmail(cfg, "cases", "show", "1")
    assert show.code == 0, show.err
    assert show.out.splitlines()[1] == (f"  WARNING: {WARNING} ({why} at our mail server);"
                                        " no acknowledgement was sent to it")
    assert f"no acknowledgement: {WARNING} ({why} at our mail server)" in show.out
    assert "acknowledge the reporter" not in show.out  # not left as a step to do
    detail = json.loads(cocmail(cfg, "cases", "show", "1", "--json").out)
    assert detail["forged_sender"] == why
    assert detail["reporter"] == {"name": "Lena Forged", "email": "lena@victim.example"}
    assert detail["steps"]["acknowledged"] is None


@pytest.mark.parametrize("authres, via", [
    (["mx.example.org; dmarc=pass header.from=victim.example"], '["imap", "ingest"]'),
    (["mx.example.org; spf=softfail smtp.mailfrom=lena@victim.example; dkim=none"],
     '["imap", "ingest"]'),
    # SPF of a forwarder's envelope domain says nothing about the From address.
    (["mx.example.org; spf=fail smtp.mailfrom=list@lists.example; dkim=none"],
     '["imap", "ingest"]'),
    # A header from a server the team does not trust is the sender's own words.
    (["evil.example; dmarc=fail header.from=victim.example"], '["imap", "ingest"]'),
    # Headers are not trusted on mail piped into `ingest` unless the team says so.
    (["mx.example.org; dmarc=fail header.from=victim.example"], '["imap"]'),
])
def test_without_a_trusted_failure_the_reporter_is_acknowledged(
        tmp_path: Path, authres: list[str], via: str) -> None:
    cfg = config(tmp_path, via=via)
    ingest(cfg, report(authres))
    sent = spool(cfg)
    assert len([m for m in sent if "lena@victim.example" in str(m["To"])]) == 1
    assert all(WARNING not in body_of(m) for m in sent)
    show = cocmail(cfg, "cases", "show", "1")
    assert WARNING not in show.out
    detail = json.loads(cocmail(cfg, "cases", "show", "1", "--json").out)
    assert detail["forged_sender"] is None and detail["steps"]["acknowledged"]


def test_a_forged_report_through_imap(tmp_path: Path, dovecot: Dovecot, imap_user: ImapUser,
                                      smtp_sink: SmtpSink) -> None:
    """The daemon's own path: Authentication-Results are trusted on IMAP by default."""
    cfg = config(tmp_path, via='["imap"]', imap=dovecot.imap_toml(imap_user.name),
                 smtp=smtp_sink.smtp_toml())
    dovecot.append(imap_user.name, report(
        ["mx.example.org; dmarc=fail (p=quarantine) header.from=victim.example"]))
    dovecot.append(imap_user.name, report(
        ["mx.example.org; dmarc=pass header.from=real.example"], n=2,
        frm="Rae Real <rae@real.example>"))
    run = cocmail(cfg, "run", "--once")
    assert run.code == 0, run.err
    sent = smtp_sink.messages
    assert [m.rcpt_tos for m in sent if "lena@victim.example" in m.rcpt_tos] == []
    assert len([m for m in sent if "rae@real.example" in m.rcpt_tos]) == 1  # case 2: acked
    warned = [m for m in sent if "ana@example.org" in m.rcpt_tos
              and WARNING in body_of(m.message)]
    assert len(warned) == 1 and "[CoC #1]" in str(warned[0].message["Subject"])
    # ...and what to do about it, in lines a phone shows whole.
    told = body_of(warned[0].message)
    assert "check with the person in another way first" in " ".join(told.split())
    assert [line for line in told.splitlines() if len(line) > 72 and line[:1] != ">"] == []
    assert WARNING in cocmail(cfg, "cases", "show", "1").out
    assert WARNING not in cocmail(cfg, "cases", "show", "2").out


def test_a_forged_follow_up_on_a_case_is_relayed_with_the_warning(tmp_path: Path) -> None:
    """Anyone can write "Re: [CoC #1]" as the reporter; the subject tag matches it to
    the case (the reporter is on it), so staff must see that this mail is in doubt."""
    cfg = config(tmp_path)
    ingest(cfg, report(["mx.example.org; dmarc=pass header.from=victim.example"]))
    follow = EmailMessage()
    follow["Authentication-Results"] = "mx.example.org; dmarc=fail header.from=victim.example"
    follow["From"] = FORGED
    follow["To"] = "conduct@example.org"
    follow["Subject"] = "Re: [CoC #1] We have received your report"
    follow["Message-ID"] = "<followup@forger.example>"
    follow.set_content("Please drop it, I made it all up.\n")
    before = len(spool(cfg))
    ingest(cfg, bytes(follow))
    relays = spool(cfg)[before:]
    assert len(relays) == 2 and all("example.org" in str(m["To"]) for m in relays)
    for relay in relays:
        body = " ".join(body_of(relay).split())
        assert "The reporter wrote again on case 1" in body
        assert f"{WARNING} (our mail server reports: DMARC failed)" in body, body
    show = cocmail(cfg, "cases", "show", "1").out
    assert "message: from the reporter (the address may be forged: DMARC failed" in show
