"""What of a case's mail the DSF committee may see (`[dsf] attach_correspondence`).

The committee gets the mail between the team and the people of the case (never staff
notes, relays or transcripts), and only what may leave the team:

- images without their metadata (`image_meta`: a photo's GPS position is where the
  reporter was, or lives); a picture that cannot be cleaned is left out, with a line
  saying so;
- for an anonymous reporter ("not named outside the team", docs/process.md), nothing that
  names them: every item goes as text with their name and address taken out
  (`public_text.redact`, the folding of the name checks), the acknowledgement's
  greeting included, with no attachments, and the file names say who by role, not by
  address.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from typing import Any

from .case import Case
from .compose import Attachment, proposed
from .effects import OutMail
from .image_meta import is_image, strip_metadata
from .public_text import person_terms, redact
from .vocabulary import MailKind, Party

# Every mail kind cocmail writes, and whether the committee may read it as the case's
# correspondence: the mail the team sent to the people of a case, never staff mail. A
# kind is declared here when it is added (tests/test_vocabulary.py fails until then),
# so a new mail to the reporter is not silently left out of the DSF report.
AS_CORRESPONDENCE: dict[MailKind, bool] = {
    MailKind.ACK: True, MailKind.REPORTER_REPLY: True, MailKind.VICTIM_DECISION: True,
    MailKind.ACCUSED_COMPLAINT: True, MailKind.HARASSER_RESPONSE: True,
    MailKind.STAFF_NEW_CASE: False, MailKind.STAFF_RELAY: False, MailKind.TRANSCRIPT: False,
    MailKind.DSF_REPORT: False, MailKind.HELP: False, MailKind.STATUS: False,
    MailKind.PREVIEW: False, MailKind.DIGEST: False, MailKind.DELIVERY_FAILED: False,
    MailKind.QUARANTINED: False, MailKind.SENT_AS_YOU: False, MailKind.PROPOSAL: False,
    MailKind.PROPOSAL_REJECTED: False, MailKind.MEMBER_EXCLUDED: False,
    MailKind.STILL_UNANSWERED: False, MailKind.REPORTER_WAITING: False,
    MailKind.CONFLICT_REPORT: False, MailKind.FLOOD_SUMMARY: False,
    MailKind.VICTIM_REPLY: True, MailKind.ACCUSED_REPLY: True,
    # Witnesses' mail is not correspondence (ROLE_FILE), so neither is ours to them; the
    # committee's own mail is not sent back to it; the appeal contact is outside the case.
    MailKind.WITNESS_REPLY: False, MailKind.COMMITTEE_REPLY: False,
    MailKind.APPEAL_NOTICE: False,
    MailKind.SANCTION_ENDED: False,
}
# Mail the team sent to the people of a case that the committee may read.
CORRESPONDENCE_OUT: frozenset[str] = frozenset(k for k, yes in AS_CORRESPONDENCE.items()
                                               if yes)
# What a case's inbound mail from its people is stored as (messages.kind): a report and
# the follow-ups to it; staff mail, relays and commands are never correspondence.
CORRESPONDENCE_IN = ("report", "followup")
# Whose an item is, in file names and first lines (person-first words).
ROLE_FILE = {"reporter": "the-reporter", "victim": "the-person-affected",
             "accused": "the-reported-person"}
ROLE_TEXT = {"reporter": "the reporter (anonymous)", "victim": "the person affected",
             "accused": "the reported person"}
ANONYMOUS_NOTE = ("[The reporter asked not to be named outside the Code of Conduct team: "
                  "their name and address are taken out of this copy, and it carries no "
                  "attachments.]")
# compat32 writes the headers back as they came; no ">From " mangling of the body.
_POLICY = compat32.clone(mangle_from_=False)


def carries_correspondence(mail: OutMail, attach: bool) -> bool:
    """Does `mail` name or carry the case's correspondence? A DSF report does, and so do
    a proposal or preview of one (they list the files that would go along), when the
    team chose to send it (`[dsf] attach_correspondence`, `attach`)."""
    if mail.case is None or not attach:
        return False
    return mail.kind == MailKind.DSF_REPORT or any(
        m.kind == MailKind.DSF_REPORT for m in proposed(mail))


def with_correspondence(mail: OutMail, files: tuple[Attachment, ...]
                        ) -> tuple[OutMail, tuple[Attachment, ...]]:
    """`mail` and what it carries: a DSF report goes with `files` (its case's
    correspondence, `dsf_attachments`); a proposal or preview of one only names them
    ("attached" in its context), so staff see what would leave the team."""
    if mail.kind == MailKind.DSF_REPORT:
        return mail, files
    return replace(mail, context=replace(mail.context,  # a PreviewContext or ProposalContext
                                         attached=[a.filename for a in files])), ()


def correspondence(case: Case, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of `case`'s stored messages (direction, sender, kind, ...; oldest first), those
    the committee may see: mail from the reporter, the person affected or the reported
    person, and the team's mail to the people of the case (CORRESPONDENCE_OUT). Never
    staff mail, relays, transcripts, or a witness's mail."""
    people = {p.email.lower() for p in case.people() if p.email and p.role != Party.WITNESS}

    def seen(r: dict[str, Any]) -> bool:
        if r["direction"] == "in":
            return r["kind"] in CORRESPONDENCE_IN and (r["sender"] or "").lower() in people
        return r["kind"] in CORRESPONDENCE_OUT

    return [r for r in rows if seen(r)]


def dsf_attachments(case: Case, rows: list[dict[str, Any]]) -> tuple[Attachment, ...]:
    """The correspondence of `case` (store rows: direction, sender, kind, body, date,
    recipients, raw; oldest first) as attachments fit to leave the team."""
    hidden: dict[str, str] = {}
    if case.reporter_anonymous and case.reporter is not None:
        hidden = person_terms(case.reporter.name, case.reporter.email)
    out: list[Attachment] = []
    for r in correspondence(case, rows):
        n = len(out) + 1  # numbered as attached: no gap where staff mail was
        sender = (r["sender"] or "").lower()
        if r["direction"] == "in":
            if case.reporter_anonymous:
                role = case.role_of(sender) or "reporter"
                out.append(Attachment(
                    f"{n:02d}-from-{ROLE_FILE.get(role, 'someone')}.txt",
                    text=(f"From: {ROLE_TEXT.get(role, 'someone')}\nDate: {r['date']}\n\n"
                          f"{ANONYMOUS_NOTE}\n\n{redact(r['body'] or '', hidden)}")))
            elif r["raw"] and (cleaned := _cleaned_or_none(r["raw"])) is not None:
                out.append(Attachment(f"{n:02d}-from-{r['sender']}.eml", raw=cleaned))
            else:
                out.append(Attachment(f"{n:02d}-from-{r['sender']}.txt", text=r["body"] or ""))
        else:
            recipients = json.loads(r["recipients"] or "[]")
            to = ", ".join(recipients)
            if case.reporter_anonymous:
                role = next((case.role_of(a) for a in recipients if case.role_of(a)), None)
                label = ROLE_TEXT.get(role or "", "someone")
                out.append(Attachment(
                    f"{n:02d}-to-{ROLE_FILE.get(role or '', 'someone')}.txt",
                    text=(f"To: {label}\nDate: {r['date']}\n\n{ANONYMOUS_NOTE}\n\n"
                          f"{redact(r['body'] or '', hidden)}")))
            else:
                out.append(Attachment(f"{n:02d}-to-{to}.txt",
                                      text=f"To: {to}\nDate: {r['date']}\n\n{r['body'] or ''}"))
    return tuple(out)


def _cleaned_or_none(raw: bytes) -> bytes | None:
    """`clean_images(raw)`, or None when the stored mail is too broken for the email
    package to write back: then only its text goes (a broken mail must not stop the
    DSF report, and must not go with its pictures as they are)."""
    try:
        return clean_images(raw)
    except Exception:  # noqa: BLE001 - any failure means: do not send the raw mail
        return None


def clean_images(raw: bytes) -> bytes:
    """`raw` (a stored mail) with every image's metadata stripped, and every image that
    cannot be cleaned replaced by a short note; unchanged bytes when it has no image."""
    msg = message_from_bytes(raw, policy=_POLICY)
    changed = False
    for part in msg.walk():
        if part.get_content_type() == "text/html" and not part.is_multipart():
            changed = _clean_inline_images(part) or changed
            continue
        if part.is_multipart() or part.get_content_maintype() in ("text", "multipart",
                                                                  "message"):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        if part.get_content_maintype() != "image" and not is_image(data):
            continue
        cleaned = strip_metadata(data)
        if cleaned is None:
            _left_out(part)
        elif cleaned != data:
            part.set_payload(base64.encodebytes(cleaned).decode("ascii"))
            _set(part, "Content-Transfer-Encoding", "base64")
        else:
            continue
        changed = True
    return msg.as_bytes(policy=_POLICY) if changed else raw


# A picture inside HTML as a data: URI (<img src="data:image/jpeg;base64,...">).
_DATA_URI = re.compile(rb"data:image/[\w.+-]+;base64,([A-Za-z0-9+/=\s]+)", re.IGNORECASE)


def _clean_inline_images(part: Message) -> bool:
    """Strip the pictures an HTML part carries inline; True when it changed."""
    html = part.get_payload(decode=True)
    if not isinstance(html, bytes) or not _DATA_URI.search(html):
        return False

    def clean(m: re.Match[bytes]) -> bytes:
        try:
            data = base64.b64decode(m.group(1), validate=False)
        except ValueError:
            return b"data:,"
        cleaned = strip_metadata(data)
        if cleaned is None:
            return b"data:,"  # left out: it could not be cleaned
        if cleaned == data:
            return m.group(0)
        kind = m.group(0).split(b";", 1)[0]
        return kind + b";base64," + base64.b64encode(cleaned)

    new = _DATA_URI.sub(clean, html)
    if new == html:
        return False
    part.set_payload(base64.encodebytes(new).decode("ascii"))
    _set(part, "Content-Transfer-Encoding", "base64")
    return True


def _left_out(part: Message) -> None:
    """`part` (a picture) replaced by a note of the same name that says why."""
    name = part.get_filename() or "picture"
    note = (f"[{name} was left out of this copy: cocmail cannot take the place and time "
            "it was taken out of this kind of file. The Code of Conduct team still has "
            "it.]\n")
    part.set_payload(base64.encodebytes(note.encode("utf-8")).decode("ascii"))
    _set(part, "Content-Type", 'text/plain; charset="utf-8"')
    _set(part, "Content-Transfer-Encoding", "base64")
    del part["Content-Disposition"]
    part.add_header("Content-Disposition", "attachment", filename=f"{name} (left out).txt")


def _set(part: Message, name: str, value: str) -> None:
    del part[name]
    part[name] = value
