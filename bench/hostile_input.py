"""Hostile input: one crafted mail must never stall the inbox (issue 11, item 3).

Each mail below carries about `--mb` megabytes (default 10) of one kind of attacker-sized
input: a huge References header, a huge number of headers, huge To/Cc address lists,
many MIME parts, deeply nested MIME, deeply nested HTML, a huge subject, a long body of
quote lines in a staff reply. Each is fed through the real pipeline (`App.receive` on a
spool config, so SQLite, screening, identity, matching, intake, compose and the spool
outbox all run) and timed with `time.monotonic()`; the figure is seconds per mail, and
the goal is under a second each.

    .venv/bin/python bench/hostile_input.py [--mb 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, banner, scratch_dir, write_config  # noqa: E402

from cocmail.app import App, open_app  # noqa: E402
from cocmail.config import load_config  # noqa: E402

HEAD = ("From: Mallory <mallory@attendee.example>\r\nTo: conduct@example.org\r\n"
        "Subject: {subject}\r\nMessage-ID: <hostile-{n}@attendee.example>\r\n"
        "MIME-Version: 1.0\r\n")


def _mail(n: int, extra: str = "", body: str = "Something happened.\r\n", *,
          subject: str = "A report", content_type: str = "text/plain") -> bytes:
    return (HEAD.format(subject=subject, n=n) + extra
            + f"Content-Type: {content_type}\r\n\r\n" + body).encode()


def references(size: int, n: int) -> bytes:
    count = size // 40
    ids = " ".join(f"<id{i}.{'x' * 20}@attendee.example>" for i in range(count))
    return _mail(n, f"In-Reply-To: <id0.{'x' * 20}@attendee.example>\r\nReferences: {ids}\r\n")


def many_headers(size: int, n: int) -> bytes:
    count = size // 40
    return _mail(n, "".join(f"X-Filler-{i}: {'v' * 20}\r\n" for i in range(count)))


def same_header_repeated(size: int, n: int) -> bytes:
    count = size // 40
    return _mail(n, "".join(f"Received: from h{i} by mx; {'v' * 10}\r\n" for i in range(count)))


def address_lists(size: int, n: int) -> bytes:
    count = size // 2 // 40
    people = ", ".join(f"Person {i} <p{i}@attendee.example>" for i in range(count))
    return _mail(n, f"Cc: {people}\r\n").replace(
        b"To: conduct@example.org", f"To: conduct@example.org, {people}".encode())


def mime_parts(size: int, n: int) -> bytes:
    count = size // 60
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
                    for i in range(count))
    return _mail(n, body=parts + "--b--\r\n", content_type='multipart/mixed; boundary="b"')


def nested_mime(size: int, n: int) -> bytes:
    depth = 90  # below the email package's own recursion limit; deeper is quarantined
    opening = "".join(f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
                      for i in range(depth))
    closing = "".join(f"--b{i}--\r\n" for i in reversed(range(depth + 1)))
    filler = "x" * 70 + "\r\n"
    inner = f"--b{depth}\r\nContent-Type: text/plain\r\n\r\n" + filler * (size // 72)
    return _mail(n, body=opening + inner + closing,
                 content_type='multipart/mixed; boundary="b0"')


def nested_html(size: int, n: int) -> bytes:
    depth = size // 11 // 2
    html = "<div><b>" * (depth // 2) + "deep" + "</b></div>" * (depth // 2)
    return _mail(n, body=html, content_type='text/html; charset="utf-8"')


def long_subject(size: int, n: int) -> bytes:
    return _mail(n, subject="Re: " * (size // 8) + "x " * (size // 4))


def quoted_body(size: int, n: int) -> bytes:
    lines = "".join(f"> On Mon, Ana wrote: line {i} wrote:\r\n" for i in range(size // 40))
    return _mail(n, body="Thanks.\r\n\r\n" + lines)


CASES: dict[str, Callable[[int, int], bytes]] = {
    "References header": references,
    "distinct headers": many_headers,
    "one header repeated": same_header_repeated,
    "To/Cc address lists": address_lists,
    "MIME parts": mime_parts,
    "nested MIME (90 levels)": nested_mime,
    "nested HTML": nested_html,
    "subject": long_subject,
    "quote lines in body": quoted_body,
}


def measure(app: App, raw: bytes) -> tuple[float, str]:
    started = time.monotonic()
    state = app.receive(raw, "bench")
    return time.monotonic() - started, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of each mail's payload")
    args = parser.parse_args()
    banner("hostile input: seconds to process one crafted mail through App.receive")
    size = int(args.mb * 1024 * 1024)
    tmp = scratch_dir("hostile")
    cfg = load_config(write_config(tmp))
    app = open_app(cfg)
    try:
        measure(app, _mail(0))  # warm up: imports, templates, the database
        worst = 0.0
        for n, (label, build) in enumerate(CASES.items(), start=1):
            raw = build(size, n)
            seconds, state = measure(app, raw)
            worst = max(worst, seconds)
            print(f"{label:>24}: {len(raw) / 1e6:6.1f} MB  {seconds:6.2f} s  ({state})")
        print(f"slowest: {worst:.2f} s ({'under' if worst < 1 else 'OVER'} the 1 s goal)")
    finally:
        app.close()
    print(f"repo: {REPO}")


if __name__ == "__main__":
    main()
