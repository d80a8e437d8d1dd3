"""Placeholders left in a config: example.org names that would hurt if they stayed.

config.example.toml is written with example.org names (RFC 2606 reserves them for
examples), and a team copies it. A server name left as it is only fails to connect,
but others do harm quietly: `trusted_authserv_ids = ["mx.example.org"]` makes cocmail
believe any sender who writes `Authentication-Results: mx.example.org; dmarc=pass` in
their own mail, and so lets anyone run staff commands; an inbox, staff or appeal
address at example.org sends reports nowhere; an [event] text with example.org ends up
in mail and on the published transparency page. `cocmail check` fails on each of them,
trusted_authserv_ids first, naming the key.

Pure: a walk over the frozen Config; no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import Config, EventConfig, Secret

PLACEHOLDER = re.compile(r"(?<![\w-])(?:[\w-]+\.)*example\.(?:org|com|net)(?![\w-])", re.I)
# The event name a config gets when it sets none: it would head every mail.
DEFAULT_EVENT_NAME = EventConfig().name
# config.example.toml's values outside example.org that must not stay either: Ana's
# alias is a real mail domain's address, and whoever owns it would count as Ana.
EXAMPLE_VALUES = {"ana.lima@gmail.com"}
# Keys whose placeholder is harmless or not a setting at all.
IGNORED = {"source"}


def placeholder_keys(cfg: Config) -> list[tuple[str, str]]:
    """(dotted key, value) of every setting that still holds a placeholder, the trusted
    authserv-ids first (they are the ones that let a stranger in)."""
    found = list(_walk(cfg, ""))
    if cfg.event.name == DEFAULT_EVENT_NAME:
        found.append(("event.name", cfg.event.name))
    return sorted(found, key=lambda kv: not kv[0].startswith("security."))


def explain(key: str, value: str) -> str:
    """One line for `check` on a placeholder left in `key`."""
    if key.startswith("security.trusted_authserv_ids"):
        return (f"{key} = {value!r} is the example config's placeholder, and it is "
                "dangerous: anyone can write an Authentication-Results header naming it "
                "and run staff commands. Put the authserv-id your own MX writes (it "
                "strips forged copies; see README, \"Who may run commands\"), or [] if "
                "you do not know it")
    if value.lower() in EXAMPLE_VALUES:
        return (f"{key} = {value!r} is the example config's, a real mailbox that is not "
                "yours: whoever owns it would count as that staff member. Put the "
                "member's own other addresses, or remove the line")
    if key == "event.name":
        return (f"event.name is {value!r}, the default: every mail and the transparency "
                "report would carry it; set [event] name")
    return (f"{key} = {value!r} is an example.org placeholder from the example config: "
            "put your own")


def _walk(value: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if PLACEHOLDER.search(value) or value.lower() in EXAMPLE_VALUES:
            yield key, value
    elif isinstance(value, Secret | Path | bool | int | float) or value is None:
        return
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{key}[{i}]")
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            if field.name in IGNORED:
                continue
            yield from _walk(getattr(value, field.name),
                             f"{key}.{field.name}" if key else field.name)
