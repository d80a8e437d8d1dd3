"""Everything cocmail prints or logs passes `core.safe_text.shown`: no reader is attacked.

Names, subjects and Message-IDs come from strangers' mail and reach a volunteer's
terminal through `cases show`, `people`, `outbox list`, the logs... An escape sequence in
them could retitle the terminal, hide lines or plant links. Rather than trusting every
command (and every future one) to escape each value, the CLI runs each command with its
stdout and stderr behind `guarded_output`, and the log handlers format through
`SafeFormatter`: the escaping happens where text leaves the program.

JSON passes through the guard unharmed: json.dumps escapes C0 controls itself, and the
guard writes the others as `\\uXXXX`, a valid JSON escape of the same character.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from .core.safe_text import shown


class _GuardedText(io.TextIOBase):
    """A text stream that writes `shown(text)` to the stream it wraps."""

    def __init__(self, inner: TextIO):
        self.inner = inner

    def write(self, text: str) -> int:  # type: ignore[override]
        if not isinstance(text, str):  # click asks with b"" whether a stream is binary
            raise TypeError("a text stream")
        self.inner.write(shown(text))
        return len(text)

    @property
    def buffer(self) -> _GuardedBinary:
        return _GuardedBinary(self)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()


class _GuardedBinary(io.RawIOBase):
    """Bytes written to a guarded stream: decoded, escaped, written as text."""

    def __init__(self, text: _GuardedText):
        self.text = text

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.text.write(bytes(data).decode(self.text.encoding, "replace"))
        return len(data)


@contextmanager
def guarded_output() -> Iterator[None]:
    """Run a command with stdout and stderr escaped (see the module's docstring)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout = _GuardedText(out)  # type: ignore[assignment]
    sys.stderr = _GuardedText(err)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def raw_stdout() -> Any:
    """Where `quarantine show --raw` writes the exact bytes: the real stdout when it is
    a file or a pipe (`> saved.eml`), the escaping one when it is a terminal."""
    stream = sys.stdout
    if isinstance(stream, _GuardedText) and not stream.isatty():
        return stream.inner.buffer
    return stream.buffer


class SafeFormatter(logging.Formatter):
    """A log line is one line, whatever the message holds: the message (a subject, a
    Message-ID, an SMTP reply) has every control character escaped, newlines too, so
    no log line can be forged or hide another; tracebacks keep their lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's
        return shown(super().formatMessage(record), lines=False)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return shown(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return shown(super().formatStack(stack_info))
