"""What of a case's mail the DSF committee may see (`[dsf] attach_correspondence`).

The committee gets the mail between the team and the people of the case (never staff
notes, relays or transcripts), and only what may leave the team:

- images without their metadata (`image_meta`: a photo's GPS position is where the
  reporter was, or lives); a picture that cannot be cleaned is left out, with a line
  saying so;
- for an anonymous reporter ("not named outside the team", process.md), nothing that
  names them: every item goes as text with their name and address taken out
  (`public_text.redact`, the folding of the name checks), the acknowledgement's
  greeting included, with no attachments, and the file names say who by role, not by
  address.
"""

from __future__ import annotations

import base64
import json
import re
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from typing import Any

from .case import Case
from .compose import Attachment
from .image_meta import is_image, strip_metadata
from .public_text import person_terms, redact

# Mail the team sent to the people of a case that the committee may read.
CORRESPONDENCE_OUT = ("ack", "reporter_reply", "victim_decision", "accused_complaint",
                      "harasser_response")
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


def dsf_attachments(case: Case, rows: list[dict[str, Any]]) -> tuple[Attachment, ...]:
    """The correspondence of `case` (store rows: direction, sender, kind, body, date,
    recipients, raw; oldest first) as attachments fit to leave the team."""
    people = {p.email.lower() for p in case.people() if p.email and p.role != "witness"}
    hidden: dict[str, str] = {}
    if case.reporter_anonymous and case.reporter is not None:
        hidden = person_terms(case.reporter.name, case.reporter.email)
    out: list[Attachment] = []
    for r in rows:
        n = len(out) + 1  # numbered as attached: no gap where staff mail was
        sender = (r["sender"] or "").lower()
        if r["direction"] == "in":
            if r["kind"] not in ("report", "followup") or sender not in people:
                continue
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
        elif r["kind"] in CORRESPONDENCE_OUT:
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
