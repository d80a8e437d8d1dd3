"""Evidence: the files that come with mail on a case, for the team (issue 25, item 2).

A screenshot of the messages, a photo of the badge, a PDF of the chat log are often the
report itself, so the staff notification of a report (and the relay of later mail on a
case) carries them as attachments, up to `[process] attachments_to_staff_mb` in all per
mail; what does not fit is listed with the command that saves it from the server
(`cocmail cases attachments N -o DIR`). Only staff mail carries them: whoever is
excluded from a case gets no mail of it at all, and mail to anyone outside the team
carries none (the DSF report's `[dsf] attach_correspondence` is core/correspondence.py).

Pictures go to staff without their metadata (image_meta), as to the DSF: a phone
photo's GPS position is where the reporter was or lives, and staff mail ends up in
members' own mailboxes (webmail providers, phones, forwards) that no purge reaches.
What a team needs to read is the picture; when the place or time it was taken matters,
the original, untouched, is one command away on the server. A picture that cannot be
cleaned (HEIC, TIFF) is listed, not sent.

The raw stored mail is the only copy cocmail keeps: purging a case (retention) removes
it, and with it every file.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass, replace
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from .compose import Attachment
from .correspondence import clean_images
from .effects import OutMail
from .header_text import decode
from .image_meta import is_image, strip_metadata

MB = 1024 * 1024
# The longest file name written (bytes of UTF-8): most file systems stop at 255.
MAX_NAME_BYTES = 200
# Parts looked at in one mail (parse_message already refuses mail with more).
MAX_PARTS = 1000
_POLICY = compat32.clone(mangle_from_=False)


@dataclass(frozen=True)
class File:
    """One attached file as the sender sent it. `name` is theirs, decoded, and may be
    anything ("../../x", control characters): `safe_name` makes a name to write."""

    name: str
    ctype: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def describe(self) -> str:
        return describe(self.name, self.ctype, self.size)


@dataclass(frozen=True)
class Carried:
    """What a staff mail carries (`attached`, cleaned) and what it only lists (`left`,
    each with why); `cleaned`: a picture lost its metadata on the way."""

    files: tuple[File, ...]
    attached: tuple[File, ...]
    left: tuple[tuple[File, str], ...]
    cleaned: bool


def size_text(n: int) -> str:
    """A size as staff read it: "312 bytes", "24 KB" (rounded up: a small screenshot
    is never "0 KB"), "22.5 MB"."""
    if n < 1024:
        return f"{n} byte{'s' if n != 1 else ''}"
    if n < MB:
        return f"{-(-n // 1024)} KB"
    return f"{n / MB:.1f}".removesuffix(".0") + " MB"


def describe(name: str, ctype: str, size: int) -> str:
    return f"{name} ({ctype}, {size_text(size)})"


def files_in(raw: bytes) -> tuple[File, ...]:
    """The files `raw` (a stored mail) carries, in order: every part that is not the
    sender's text. An attached mail is one file (.eml), as it came: its own pictures go
    with it."""
    try:
        msg = message_from_bytes(raw, policy=_POLICY)
    except Exception:  # noqa: BLE001 - a mail the email package cannot read has no files
        return ()
    found: list[File] = []
    stack: list[Message] = [msg]
    seen = 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        ctype = part.get_content_type()
        attached = (part.get_content_disposition() == "attachment"
                    or bool(part.get_filename()) or bool(part.get_param("name")))
        if part.is_multipart() and not ctype.startswith("message/"):
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(c for c in reversed(children) if isinstance(c, Message))
            continue
        if ctype in ("text/plain", "text/html") and not attached:
            continue  # the sender's own text
        found.append(File(_name(part), ctype, _data(part)))
    return tuple(found)


def _name(part: Message) -> str:
    name = part.get_filename() or part.get_param("name")
    if isinstance(name, tuple):  # an RFC 2231 value get_param left encoded
        name = str(name[2])
    return decode(str(name)) if name else "(no name)"


def _data(part: Message) -> bytes:
    if part.get_content_type().startswith("message/"):
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            try:
                return inner[0].as_bytes(policy=_POLICY)
            except Exception:  # noqa: BLE001 - fall back to the bytes as they came
                pass
        raw = part.get_payload(decode=True)
        return raw if isinstance(raw, bytes) else b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def carry(files: tuple[File, ...], limit_bytes: int) -> Carried:
    """Which of `files` a staff mail carries: in order, each that still fits within
    `limit_bytes` in all (a huge video does not keep the screenshot after it out),
    pictures without their metadata."""
    attached: list[File] = []
    left: list[tuple[File, str]] = []
    total, cleaned = 0, False
    for f in files:
        fit, why = _for_staff(f)
        if fit is None:
            left.append((f, why))
            continue
        if total + fit.size > limit_bytes:
            left.append((f, f"over the {size_text(limit_bytes)} a mail carries"
                         if limit_bytes else "files are not mailed (attachments_to_staff_mb = 0)"))
            continue
        total += fit.size
        cleaned = cleaned or fit.data != f.data
        attached.append(fit)
    return Carried(files, tuple(attached), tuple(left), cleaned)


def _for_staff(f: File) -> tuple[File | None, str]:
    """`f` as it may be mailed: a picture without its metadata, an attached mail with
    its pictures cleaned; None (and why) when that cannot be done."""
    if f.ctype.startswith("image/") or is_image(f.data):
        cleaned = strip_metadata(f.data)
        if cleaned is None:
            return None, "a picture whose metadata cocmail cannot take out"
        return replace(f, data=cleaned), ""
    if f.ctype == "message/rfc822":
        try:
            return replace(f, data=clean_images(f.data)), ""
        except Exception:  # noqa: BLE001 - too broken to clean: not mailed
            return None, "an attached mail cocmail cannot read through"
    return f, ""


def with_files(mail: OutMail, carried: Carried) -> tuple[OutMail, tuple[Attachment, ...]]:
    """`mail` (a staff mail that `carries_files`) saying what came and what is attached,
    and the attachments themselves."""
    if not carried.files:
        return mail, ()
    ctx = replace(  # a StaffNewCaseContext or StaffRelayContext
        mail.context,
        attachments=[f.describe() for f in carried.files],
        files={"left": [f"{f.describe()}: {why}" for f, why in carried.left],
               "cleaned": carried.cleaned,
               "command": f"cocmail cases attachments {mail.case} -o DIR"},
    )
    names: set[str] = set()
    parts = []
    for n, f in enumerate(carried.attached, 1):
        name = unique(safe_name(f.name, f.ctype, n), names)
        names.add(name.lower())
        parts.append(Attachment(name, raw=f.data) if f.ctype == "message/rfc822"
                     else Attachment(name, data=f.data, ctype=f.ctype))
    return replace(mail, context=ctx), tuple(parts)


_SEPARATORS = re.compile(r"[/\\]")
_RESERVED = re.compile(r'[<>:"|?*]')


def safe_name(name: str, ctype: str, n: int) -> str:
    """A file name safe to write anywhere: no directory part, no control or invisible
    formatting characters (a right-to-left override can make "gpj.exe" read as
    "exe.jpg"), no leading dots, at most MAX_NAME_BYTES; "attachment-N.ext" when
    nothing is left (or the part had no name)."""
    if name == "(no name)":
        name = ""
    name = _SEPARATORS.split(unicodedata.normalize("NFC", name))[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in "CZ" or ch == " ")
    name = _RESERVED.sub("_", name).strip().lstrip(".").strip()
    if not name:
        ext = mimetypes.guess_extension(ctype, strict=False) or ".bin"
        return f"attachment-{n}{ext}"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        ext = f".{ext}" if dot and stem and len(ext) <= 10 else ""
        stem = name[: len(name) - len(ext)] if ext else name
        while len((stem + ext).encode("utf-8")) > MAX_NAME_BYTES:
            stem = stem[:-1]
        name = stem.rstrip() + ext
    return name


def unique(name: str, taken: set[str]) -> str:
    """`name`, or "stem-2.ext", "stem-3.ext"... when `taken` (lower-cased) has it."""
    if name.lower() not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    else:
        ext = "." + ext
    k = 2
    while f"{stem}-{k}{ext}".lower() in taken:
        k += 1
    return f"{stem}-{k}{ext}"
