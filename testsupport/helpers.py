"""Shared test helpers: a config in a temp dir, raw mail builders, reading the spool."""

from __future__ import annotations

import email
import sqlite3
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from cocmail.config import Config, parse_config
from cocmail.store import cases as cases_db
from cocmail.store import proposals as proposals_db

STAFF_TOML = """
[[staff]]
name = "Ana Lima"
email = "ana@example.org"
aliases = ["ana.lima@gmail.example"]
lead = true

[[staff]]
name = "Ben Okafor"
email = "ben@example.org"
"""


# Mail to the reported person and the DSF sent at once, without a second member's
# #approve: for tests of what that mail says, not of the approval (tests/test_approval.py).
SEND_AT_ONCE = "[process]\nsecond_approval = []\n"
# The circuit breaker off (issue 21): for tests that feed a dozen or more reports from one
# domain within minutes to check something else, and count each one's mail.
FLOOD_OFF = ("[process]\nflood_reports_per_domain = 0\nflood_reports = 0\n"
             "flood_followups_per_case = 0\n")


def make_config(tmp: Path, extra: str = "", *, imap: str = "", smtp: str = "",
                ends: str = "") -> Config:
    text = f"""
[event]
name = "Example Conf 2027"
timezone = "Europe/Berlin"
{f'ends = {ends}' if ends else ''}

[inbox]
address = "conduct@example.org"

[storage]
dir = "{tmp / 'data'}"

[security]
trusted_authserv_ids = ["mx.example.org"]
{imap}
{smtp}
{STAFF_TOML}
{extra}
"""
    path = tmp / "cocmail.toml"
    path.write_text(text)
    return parse_config(text, str(path), tmp)


def own_names(config: Path) -> Path:
    """The config file at `config` with its example.org names made a team's own (on the
    reserved .test domain): `cocmail check` fails on example.org placeholders."""
    config.write_text(config.read_text().replace("example.org", "conference.test"))
    return config


def mail(frm: str, subject: str, body: str, *, message_id: str | None = None,
         in_reply_to: str | None = None, to: str = "conduct@example.org",
         extra: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for k, v in (extra or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msg.as_bytes()


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    return part.get_content() if part is not None else ""


def spool(cfg: Config) -> list[EmailMessage]:
    """The mails in the spool, unsealed with the storage dir's keys (issue 27)."""
    return [parse(raw) for raw in spool_raw(cfg)]


def spool_raw(cfg: Config) -> list[bytes]:
    return read_spooled(sorted(cfg.storage.spool_dir.glob("*.eml")))


def read_spooled(files: list[Path]) -> list[bytes]:
    """The mails in these spool files (of one storage dir's spool/), unsealed with that
    storage dir's keys when it has them (issue 27: the spool is sealed like the store)."""
    from cocmail.keyring import Keyring, unsealed

    if not files:
        return []
    storage = files[0].parent.parent
    keyring = (Keyring.open(storage, must_exist=True)
               if (storage / "cocmail.keys").exists() else None)
    try:
        return [unsealed(keyring, p.read_bytes()) for p in files]
    finally:
        if keyring is not None:
            keyring.close()


def approve_as(app, who: str) -> int:  # type: ignore[no-untyped-def]
    """`who` replies #approve to each mail cocmail sent them about a proposal still waiting
    (a second member's approval: a recusal, or mail to the reported person or the DSF).
    Returns how many were approved."""
    waiting = {p.nonce for n in app.store.read(cases_db.case_numbers, include_closed=True)
               for p in app.store.read(proposals_db.proposals, n) if p.state == "waiting"}
    rows = [r for r in app.store.query("SELECT message_id, subject, recipients FROM outbox"
                                       " WHERE kind='proposal' ORDER BY id")
            if who in r["recipients"]]  # sealed (issue 27): compared after reading
    done = 0
    for row in rows:
        nonce = row["message_id"].split(".")[3]
        if nonce not in waiting:
            continue
        waiting.discard(nonce)
        done += 1
        app.receive(mail(f"Staff <{who}>", "Re: " + row["subject"], "#approve\n",
                         message_id=f"<approve-{nonce}@example.org>",
                         in_reply_to=f"<{row['message_id']}>"), "test")
    return done


def unsealed_connection(db: Path) -> sqlite3.Connection:
    """A read-only connection to the database at `db` that reads sealed values back
    (issue 27), as a test harness looks at the tables behind the app's back."""
    from cocmail.keyring import Keyring
    from cocmail.store.sealed import unsealing_rows

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    if (db.parent / "cocmail.keys").exists():
        keyring = Keyring.open(db.parent, must_exist=True)
        conn.row_factory = unsealing_rows(keyring)
    return conn
