"""Keeping addresses out of logs: logs carry case numbers and Message-IDs, not people.

Used wherever text from outside (a server's answer, an exception, a traceback) reaches
the log: the CLI's log formatter, the pipeline, the daemon and delivery.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"[^\s<>()\[\]@,;:\"']+@[\w-]+(\.[\w-]+)+")


def redact_addresses(text: str) -> str:
    """`text` with every mail address replaced by `<address>`."""
    return _ADDRESS.sub("<address>", text)
