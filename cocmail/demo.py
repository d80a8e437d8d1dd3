"""`cocmail demo`: a scripted walkthrough on the embedded defaults, with nothing to set up.

A report arrives, a staff member answers from their phone with commands, and every
mail cocmail sends is printed as its recipient would see it; then the internal report
and the weekly digest. It runs the real pipeline and outbox (spool mode) in a
throw-away directory, so what you read is exactly what cocmail would send.

`cocmail demo --config PATH` plays the same story with a team's own config (issue 25,
item 8): its event, inbox, staff, templates, phone, support text and committee, so a
team previews its own mails before the first real report. Only the config is read:
storage moves to the scratch directory and IMAP and SMTP are left out, so the walkthrough
never touches the team's mailbox, database or keys.
"""

from __future__ import annotations

import email
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import replace
from email.policy import default as default_policy
from pathlib import Path

from .app import App, open_app
from .config import AppealConfig, Config, load_config
from .core.evidence import describe
from .store import cases as cases_db
from .store import outbox as outbox_db

# Where the reported person may appeal: the embedded defaults have none ([appeal] is
# optional), so without this the walkthrough never shows the response's appeal line.
DEMO_APPEAL = "board@example.org"

REPORT = """\
From: Eve Example <eve@attendee.example>
To: conduct@example.org
Subject: Something happened at the party last night
Message-ID: <report-1@attendee.example>
Date: Fri, 04 Jun 2027 23:40:00 +0200

Hello,

At the party at the Brauhaus last night, around 22:00, a man called Dan
(I think Dan Doe, he gave the talk on async views) kept touching my arm and
shoulder after I had asked him twice to stop. He followed me to the bar.
A friend, Wanda Witness, saw it.

I do not feel safe if he is around tomorrow.

Eve
"""

STAFF_REPLY_1 = """\
#accused Dan Doe <dan@speaker.example>
#witness Wanda Witness <wanda@attendee.example>
#when Friday 4 June 2027, about 22:00
#where Conference party, Brauhaus, near the bar
#summary Unwanted touching after being asked to stop; followed the reporter
#notify-accused

Talked to Eve at breakfast, she is OK and has a friend with her today.
Ben and I will talk to Dan at 10:00.

Sent from my iPhone

> (the notification, quoted by the phone)
> #close
"""

STAFF_REPLY_2 = """\
#notified-accused He says he did not realise it bothered her; apologised.
#action A formal warning; no contact with the person concerned for the rest of the event
#outcome warning
#notify-harasser
#notify-victim
#report-dsf now Repeated touching at the party after being asked to stop; warned, no contact.
#public-summary unwanted touching at the conference party, after being asked to stop

At the conference party, an attendee repeatedly touched another attendee's
arm and shoulder after being asked to stop, and followed them to the bar.
A witness confirmed the account. Two team members spoke with him the next
morning; he apologised and accepted a formal warning and a no-contact
request for the rest of the event. The team checked in with the person
affected afterwards.

--
Ana
"""

# Dan answers the response (issue 25, item 1): an appeal, which reaches the team and the
# appeal contact; Ana answers him with `#reply accused`, which Ben approves.
APPEAL = """\
Hello,

I do not accept this warning. It was loud at the party and I only touched
her arm to get her attention; I stopped as soon as I understood. I would
like to appeal.

Dan
"""

STAFF_REPLY_3 = """\
#reply accused

Thank you for writing to us. Your appeal has been passed to the appeal
contact named in our last mail, who was not part of the decision; they
will be in touch with you within a week. The warning stands in the
meantime.

--
Ana
"""


def _appeal(app: App, number: int) -> bytes:
    """Dan's answer to the response he got on `number`, threaded to it."""
    row = app.store.read(outbox_db.mail_to, number, "dan@speaker.example",
                         kind="harasser_response")[-1]
    return (f"From: Dan Doe <dan@speaker.example>\nTo: {app.cfg.inbox.address}\n"
            f"Subject: Re: {row['subject']}\nMessage-ID: <dan-1@speaker.example>\n"
            f"In-Reply-To: <{row['message_id']}>\nReferences: <{row['message_id']}>\n"
            f"\n{APPEAL}").encode()


def _screenshot() -> bytes:
    """A tiny PNG such as a phone writes: a picture, and a text chunk naming its owner
    (which the team's copy in mail loses: core/evidence.py)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\0" + b"\xff\x00\x00" * 16 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"Author\0Eve Example's phone")
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _followup_with_screenshot(app: App, number: int) -> bytes:
    """Eve's second mail on the case, with a screenshot of the messages she got."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Eve Example <eve@attendee.example>"
    msg["To"] = app.cfg.inbox.address
    msg["Subject"] = f"Re: [{app.cfg.inbox.subject_tag} #{number}] We have received your report"
    msg["Message-ID"] = "<report-2@attendee.example>"
    msg["In-Reply-To"] = msg["References"] = "<report-1@attendee.example>"
    msg.set_content("He has just messaged me again, screenshot attached.\n\nEve\n")
    msg.add_attachment(_screenshot(), maintype="image", subtype="png",
                       filename="IMG_4821.PNG")
    return msg.as_bytes()


def _staff_reply(app: App, number: int, body: str, n: int) -> bytes:
    """A reply from the first member to their own notification on `number` (as a phone
    would write it)."""
    ana = app.cfg.staff[0]
    row = app.store.read(outbox_db.mail_to, number, ana.email)[-1]
    return (f"From: {ana.name} <{ana.email}>\nTo: {app.cfg.inbox.address}\n"
            f"Subject: Re: {row['subject']}\nMessage-ID: <ana-{n}@demo.invalid>\n"
            f"In-Reply-To: <{row['message_id']}>\nReferences: <{row['message_id']}>\n"
            f"\n{body}").encode()


def _ben_approves(app: App, number: int, n: int, answered: set[str]) -> int:
    """Ben replies #approve to each proposal mail he got on `number` (a second pair of
    eyes: [process] second_approval)."""
    if len(app.cfg.staff) < 2:
        return n
    ben = app.cfg.staff[1]
    rows = app.store.read(outbox_db.mail_to, number, ben.email, kind="proposal")
    for row in rows:
        if row["message_id"] in answered:
            continue
        answered.add(row["message_id"])
        n += 1
        app.receive((f"From: {ben.name} <{ben.email}>\nTo: {app.cfg.inbox.address}\n"
                     f"Subject: Re: {row['subject']}\nMessage-ID: <ben-{n}@demo.invalid>\n"
                     f"In-Reply-To: <{row['message_id']}>\nReferences: <{row['message_id']}>"
                     f"\n\n#approve\n\nLooks right to me.\n").encode(), "demo")
    return n


def _show_new_mail(app: App, seen: set[int], echo: Callable[[str], None]) -> None:
    for row in app.store.read(outbox_db.outbox_raw):
        if row["id"] in seen:
            continue
        seen.add(row["id"])
        msg = email.message_from_bytes(row["raw"], policy=default_policy)
        echo("+" + "-" * 76)
        for h in ("From", "To", "Reply-To", "Subject"):
            if msg[h]:
                echo(f"| {h}: {msg[h]}")
        echo("+" + "-" * 76)
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        for line in text.rstrip().splitlines():
            echo(f"| {line}")
        for part in msg.iter_attachments():
            data = part.get_payload(decode=True) or b""
            what = describe(part.get_filename() or "", part.get_content_type(), len(data))
            echo(f"| [attached: {what}]")
        echo("")


def demo_config(config: str | None, base: Path) -> Config:
    """The config the walkthrough runs on: the embedded defaults (with an appeal contact,
    so the response shows its appeal line), or the team's own file. Either way its data
    lives in `base`, and no mail server is used: outgoing mail goes to the spool there."""
    if config is None:
        cfg = replace(load_config(None), appeal=AppealConfig(contact=DEMO_APPEAL))
    else:
        cfg = load_config(Path(config))
        if len(cfg.staff) < 2:  # nobody to give the second approval
            cfg = replace(cfg, process=replace(cfg.process, second_approval=()))
    return replace(cfg, storage=replace(cfg.storage, dir=base / "data"), imap=None,
                   smtp=None, oauth2=None, source="demo")


def run_demo(directory: Path | None, echo: Callable[[str], None],
             config: str | None = None) -> None:
    """`config`: the team's config file (`cocmail demo --config PATH`), else the defaults."""
    base = directory or Path(tempfile.mkdtemp(prefix="cocmail-demo-"))
    cfg = demo_config(config, base)
    staff = cfg.staff
    ana = staff[0].name.split()[0]
    ben = staff[1].name.split()[0] if len(staff) > 1 else ""
    app = open_app(cfg)
    seen: set[int] = set()
    try:
        echo(f"cocmail demo: {cfg.event.name}, inbox {cfg.inbox.address}, staff "
             + ", ".join(f"{s.name} <{s.email}>" for s in cfg.staff))
        echo(f"(data in {base}; outgoing mail is written to {cfg.storage.spool_dir})")
        if config is None:
            echo(f'(the walkthrough sets [appeal] contact = "{DEMO_APPEAL}": the response to'
                 " the\n reported person says where to appeal)\n")
        else:
            echo(f"(your config {config}: its names, texts and staff; no mail server is used,"
                 "\n and your own data is not touched)\n")

        echo("=" * 78)
        echo("1. Eve writes to the conduct address. cocmail opens a case, acknowledges her,")
        echo("   and sends each staff member the report with a command cheat-sheet.")
        echo("=" * 78)
        app.receive(REPORT.replace("conduct@example.org", cfg.inbox.address).encode(), "demo")
        number = app.store.read(cases_db.case_numbers)[-1]
        _show_new_mail(app, seen, echo)

        echo("=" * 78)
        echo("1b. Eve writes again with a screenshot. Each member gets it attached (the")
        echo("    picture without its metadata); cocmail cases attachments N -o DIR saves")
        echo("    the original on the server.")
        echo("=" * 78)
        app.receive(_followup_with_screenshot(app, number), "demo")
        _show_new_mail(app, seen, echo)

        echo("=" * 78)
        echo(f"2. {ana} answers the notification from a phone: who, when, where, and")
        echo("   '#notify-accused'. (The '#close' in the quoted text is ignored.)")
        echo("=" * 78)
        app.receive(_staff_reply(app, number, STAFF_REPLY_1, 1), "demo")
        _show_new_mail(app, seen, echo)
        answered: set[str] = set()

        echo("=" * 78)
        echo("2b. Mail to the reported person waits for a second pair of eyes: "
             + (f"{ben}\n    replies '#approve' to the proposal, and only then is it sent."
                if ben else "\n    with one member on the team, it goes at once."))
        echo("=" * 78)
        n = _ben_approves(app, number, 0, answered)
        _show_new_mail(app, seen, echo)

        echo("=" * 78)
        echo(f"3. After the team meeting {ana} records the decision: it goes to Eve at once;")
        echo("   the response to Dan and the DSF report (with 'now': normally it waits until")
        echo("   the event ends) wait for a second member's #approve.")
        echo("=" * 78)
        app.receive(_staff_reply(app, number, STAFF_REPLY_2, 2), "demo")
        _show_new_mail(app, seen, echo)

        if ben:
            echo("=" * 78)
            echo(f"3b. {ben} approves the response to Dan and the DSF report.")
            echo("=" * 78)
            n = _ben_approves(app, number, n, answered)
            _show_new_mail(app, seen, echo)

        echo("=" * 78)
        echo("3c. Dan answers the response: an appeal. The team reads 'the reported person")
        echo("    wrote after the response'; the appeal contact, when the config names one,")
        echo("    gets his message and nothing else from the case.")
        echo("=" * 78)
        app.receive(_appeal(app, number), "demo")
        _show_new_mail(app, seen, echo)

        echo("=" * 78)
        echo(f"3d. {ana} answers Dan with '#reply accused' (checked by the identity guard)"
             + (f";\n    {ben} approves it, and it goes." if ben else "."))
        echo("=" * 78)
        app.receive(_staff_reply(app, number, STAFF_REPLY_3, 3), "demo")
        _ben_approves(app, number, n, answered)
        _show_new_mail(app, seen, echo)

        from .core.report import to_csv
        from .views import report_rows

        echo("=" * 78)
        echo("4. The internal report (cocmail report), as CSV:")
        echo("=" * 78)
        echo(to_csv(report_rows(app)))
        from .clock import utcnow
        from .digest import build_digest

        echo("=" * 78)
        echo("5. The weekly digest the leads get (cocmail digest --print):")
        echo("=" * 78)
        echo(build_digest(app, utcnow()))

        from .views import transparency

        echo("=" * 78)
        echo("6. After the event, the public transparency report (cocmail transparency):")
        echo("   no names, one line per report from its #public-summary.")
        echo("=" * 78)
        echo(transparency(app, cfg.event.name, initial=False, fmt="md")[0])
    finally:
        app.close()
