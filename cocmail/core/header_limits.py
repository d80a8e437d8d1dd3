"""The header block as the parser is shown it, and what a message's MIME would cost.

The raw message is always stored whole; what is bounded here is only what the email
package and mail-parser are asked to parse, because both are slow (some super-linear) on
crafted header blocks and MIME trees. A cut is recorded as a defect by the caller.
"""

from __future__ import annotations

import re

# What the parser is shown of a header block (the raw message is stored whole). Real mail
# has a few dozen fields of a few hundred bytes; the email package and mail-parser are
# slow on more (mail-parser's address parsing is super-linear in a field's length), so a
# crafted header block is cut to these before parsing, and the cut is a defect.
MAX_HEADER_FIELDS = 1000
MAX_FIELD_BYTES = 32 * 1024
MAX_ADDRESS_FIELD_BYTES = 16 * 1024  # about 400 mailboxes
# Fields RFC 5322 allows once: a few copies are kept (two From fields must still be
# seen as two), thousands are not. Any other name may repeat up to MAX_SAME_FIELD times.
_SINGLE_FIELDS = frozenset({b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc",
                            b"message-id", b"in-reply-to", b"references", b"subject",
                            b"date", b"mime-version", b"content-type",
                            b"content-transfer-encoding", b"content-disposition"})
MAX_SINGLE_FIELD = 5
MAX_SAME_FIELD = 100
# Where a too-long field is cut: address lists after a whole mailbox, References
# before its oldest ids (the newest, last, are the ones that thread a reply).
_ADDRESS_FIELDS = frozenset({b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc",
                             b"resent-from", b"resent-to", b"resent-cc", b"resent-bcc"})
_TAIL_FIELDS = frozenset({b"references"})
# A line break not followed by folding white space: where the next header field starts.
_FIELD_START = re.compile(rb"\n(?![ \t])")
_SINGLE_FIELD_START = re.compile(
    rb"\n(?:" + b"|".join(sorted(_SINGLE_FIELDS)) + rb")[ \t]*:", re.IGNORECASE)
# A message with more MIME parts than this is quarantined before parsing: no client
# sends so many, and the email package spends about 0.1 ms on each.
MAX_MIME_PARTS = 2000
# ... and so is one whose parsing would take more boundary checks than this (about a
# second's work; see mime_cost). A 25 MB attachment five levels deep needs 1.7 million.
MAX_MIME_CHECKS = 2_500_000
_BOUNDARY_PARAM = re.compile(rb"""boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))""",
                             re.IGNORECASE)


def header_end(raw: bytes) -> int:
    """Offset of the blank line that ends the header block (len(raw) when there is none)."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(ends) if ends else len(raw)


def bound_header_block(raw: bytes) -> tuple[bytes, tuple[str, ...]]:
    """`raw` with its header block cut to what the parser can handle in linear time.

    At most MAX_HEADER_FIELDS fields, MAX_SINGLE_FIELD copies of a field RFC 5322
    allows once, MAX_SAME_FIELD of any other, each field at most MAX_FIELD_BYTES (an
    address list cut after a whole mailbox, References keeping its newest ids). The
    body is untouched. Returns the bytes to parse and a defect for each kind of cut.
    """
    end = header_end(raw)
    head = raw[:end]
    if len(head) <= MAX_FIELD_BYTES and head.count(b"\n") < MAX_SAME_FIELD:
        return raw, ()  # the common case: nothing to count
    kept: list[bytes] = []
    counts: dict[bytes, int] = {}
    cut = dropped = 0
    # Only the first MAX_HEADER_FIELDS fields are looked at one by one; past them, a
    # regex (C speed) picks out a few of the fields RFC 5322 allows once, and the rest
    # is dropped.
    fields = _FIELD_START.split(head, maxsplit=MAX_HEADER_FIELDS)
    if len(fields) > MAX_HEADER_FIELDS:
        rest = b"\n" + fields.pop()
        dropped = len(_FIELD_START.findall(rest))
        wanted = MAX_SINGLE_FIELD * len(_SINGLE_FIELDS)
        for m in _SINGLE_FIELD_START.finditer(rest):
            if not wanted:
                break
            stop = _FIELD_START.search(rest, m.end())
            fields.append(rest[m.start() + 1:stop.start() if stop else len(rest)])
            dropped -= 1
            wanted -= 1
    for field in fields:
        name = field[:field.find(b":")].strip().lower()  # no colon: the field's own text
        seen = counts[name] = counts.get(name, 0) + 1
        if name in _SINGLE_FIELDS:
            if seen > MAX_SINGLE_FIELD:
                dropped += 1
                continue
        elif seen > MAX_SAME_FIELD or len(kept) >= MAX_HEADER_FIELDS:
            dropped += 1
            continue
        if len(field) > (MAX_ADDRESS_FIELD_BYTES if name in _ADDRESS_FIELDS
                         else MAX_FIELD_BYTES):
            field = _cut_field(field, name)
            cut += 1
        kept.append(field)
    defects = []
    if dropped:
        defects.append(f"HeaderBudgetDefect: {dropped} header fields over the caps not read")
    if cut:
        defects.append(f"HeaderBudgetDefect: {cut} header fields cut to {MAX_FIELD_BYTES} bytes")
    if counts.get(b"from", 0) > MAX_SINGLE_FIELD:  # identity reads this as an unsure From
        defects.append("HeaderBudgetDefect: From header repeated")
    return b"\n".join(kept) + raw[end:], tuple(defects)


def _cut_field(field: bytes, name: bytes) -> bytes:
    """One field cut to about MAX_FIELD_BYTES, at a place that keeps it well-formed."""
    label, _, value = field.partition(b":")
    if name in _TAIL_FIELDS:
        tail = value[-MAX_FIELD_BYTES:]
        start = tail.find(b"<")
        return label + b": " + (tail[start:] if start >= 0 else b"").strip()
    if name in _ADDRESS_FIELDS:
        value = value[:MAX_ADDRESS_FIELD_BYTES]
        comma = value.rfind(b",")
        value = value[:comma] if comma > 0 else value
    else:
        value = value[:MAX_FIELD_BYTES]
    return (label + b":" + value).rstrip(b"\r")


def mime_cost(raw: bytes) -> tuple[int, int]:
    """(MIME parts, boundary checks the email package will make), by a linear byte scan.

    Every boundary declared anywhere in the message is a candidate; a delimiter line
    opens it, its close delimiter closes it. The email package tests each body line
    against every boundary still open around it, so the checks are the sum, over the
    lines, of the boundaries open there: 10 MB of lines inside 90 nested multiparts is
    13 million regex matches (six seconds) although each level is legal.
    """
    boundaries = {m.group(1) or m.group(2) for m in _BOUNDARY_PARAM.finditer(raw)}
    if not boundaries:
        return 1, 0
    parts = checks = 0
    open_: set[bytes] = set()
    for line in raw.split(b"\n"):
        checks += len(open_)
        if line[:2] != b"--":
            continue
        rest = line[2:].rstrip(b"\r\t ")
        if rest in boundaries:
            parts += 1
            open_.add(rest)
        elif rest[-2:] == b"--" and rest[:-2] in boundaries:
            open_.discard(rest[:-2])
    return parts, checks
