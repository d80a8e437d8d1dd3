"""BlackBerry 10's HTML-only replies: the member's own lines apart from the original.

The BB10 Hub sends a reply as HTML only. The new text is a run of
`<div id="BB10_response_div">` lines (and a `response_div_spacer`); below come the
signature placeholder, a table with the original's header block (From:, Sent:, To:,
Reply To:, Subject:, one `<div>` each) and the original itself in
`<div id="_originalContent">`, none of it marked as a quote. Converted to text as it
is, the header block runs into one line the reply parser cannot take for a boundary, and
the header block and the original landed in the internal note (issue 25, item 9).
`bb10_split` finds where the member's lines end, so core/message.py quotes the rest
("> ") like any other client's quote: the note, a `#reply`'s text and the commands are
then the member's own lines only.

Pure; regular expressions over HTML already cut to core/message.MAX_HTML_CHARS, each
read once (linear time).
"""

from __future__ import annotations

import re

# The member's lines: BB10 writes each as one of these (response_div_spacer: the blank
# line it keeps under them).
_RESPONSE = re.compile(r"""\bid\s*=\s*["']?(?:BB10_response_div|response_div_spacer)\b""",
                       re.IGNORECASE)
# What follows them: the signature, the "Original Message" separator (when the device did
# not remove it), the header block's table and containers, the original.
_BELOW = re.compile(r"""<table\b|\bid\s*=\s*["']?(?:_signaturePlaceholder|_bb10TempSeparator"""
                    r"""|_pHCWrapper|_persistentHeader|_originalContent)\b""", re.IGNORECASE)


def bb10_split(html: str) -> tuple[str, str] | None:
    """(the member's part, the signature, header block and original below it), or None
    when `html` is not a BB10 reply with something below its lines."""
    first = _RESPONSE.search(html)
    if first is None:
        return None
    below = _BELOW.search(html, first.end())
    if below is None:
        return None
    cut = below.start() if below.group().startswith("<") else html.rfind("<", 0, below.start())
    if cut <= first.start():
        return None
    return html[:cut], html[cut:]
