"""The documentation keeps up with the code: a command, mail command or setting that
exists but is not documented is one nobody at a conference will find in time."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cocmail.cli import main
from cocmail.config import Config, Secret, load_config
from cocmail.core.commands import KNOWN_COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE_PATH = ROOT / "config.example.toml"
EXAMPLE = EXAMPLE_PATH.read_text(encoding="utf-8")

# Config fields that are not settings: where the config came from.
NOT_SETTINGS = {"source"}
# A Secret field is spelled as one of these keys in the file (config.py's `_Reader.secret`).
SECRET_KEYS = ("password_env", "password_file", "password")


def command_paths(group: click.Group, prefix: str = "cocmail") -> Iterator[str]:
    """`cocmail run`, `cocmail cases`, `cocmail cases list`, ... for every (sub)command."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


def _mentions(text: str, phrase: str) -> bool:
    """`phrase` as whole words: `cocmail check` must not count as `cocmail check-attendees`."""
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


@pytest.mark.parametrize("path", list(command_paths(main)))
def test_readme_documents_every_cli_command(path: str) -> None:
    assert _mentions(README, path), f"README.md never mentions `{path}`"


@pytest.mark.parametrize("name", list(KNOWN_COMMANDS))
def test_readme_documents_every_mail_command(name: str) -> None:
    assert _mentions(README, f"#{name}"), f"README.md never mentions `#{name}`"


# ------------------------------------------------------------------ config.example.toml
def _sections(text: str) -> dict[str, str]:
    """The text of each [section] / [[section]] (all blocks of a repeated table joined),
    comments included: a commented-out key documents an optional setting."""
    sections: dict[str, list[str]] = {}
    current: list[str] = sections.setdefault("", [])
    for line in text.splitlines():
        header = re.match(r"\s*\[\[?\s*([\w.-]+)\s*\]\]?", line)
        if header:
            current = sections.setdefault(header.group(1), [])
        current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def _documents_key(section_text: str, key: str) -> bool:
    """`key = ...` at the start of a line, or after `#` / `or` in a comment."""
    return re.search(rf"(?:^|#|\bor)\s*{re.escape(key)}\s*=", section_text, re.M) is not None


def _section_classes() -> Iterator[tuple[str, type]]:
    """(section name, its dataclass) for every section of Config, from the type hints, so
    a new section is checked without touching this test."""
    hints = typing.get_type_hints(Config)
    for field in dataclasses.fields(Config):
        if field.name in NOT_SETTINGS:
            continue
        classes = [t for t in _flatten(hints[field.name]) if dataclasses.is_dataclass(t)]
        assert len(classes) == 1, f"Config.{field.name}: cannot tell its section class"
        yield field.name, classes[0]


def _flatten(hint: object) -> Iterator[object]:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) in (typing.Union, tuple):
        for arg in args:
            yield from _flatten(arg)
    else:
        yield hint


def _settings() -> Iterator[tuple[str, str, bool]]:
    """(section, key, whether it is a Secret) for every field of every section class."""
    for section, cls in _section_classes():
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            yield section, field.name, hints[field.name] is Secret


SETTINGS = list(_settings())


def test_example_config_parses() -> None:
    cfg = load_config(EXAMPLE_PATH)
    for section, _ in _section_classes():
        assert getattr(cfg, section) not in (None, ()), f"[{section}] is not in the example"


@pytest.mark.parametrize("section", [s for s, _ in _section_classes()])
def test_example_config_has_every_section(section: str) -> None:
    assert section in _sections(EXAMPLE), f"config.example.toml has no [{section}]"


@pytest.mark.parametrize("section, key, secret", SETTINGS,
                         ids=[f"{s}.{k}" for s, k, _ in SETTINGS])
def test_example_config_documents_every_setting(section: str, key: str, secret: bool) -> None:
    text = _sections(EXAMPLE).get(section, "")
    if secret:
        missing = [k for k in SECRET_KEYS if not _mentions(text, k)]
        assert _documents_key(text, SECRET_KEYS[0]) and not missing, \
            f"[{section}] does not explain {', '.join(missing) or SECRET_KEYS[0]}"
    else:
        assert _documents_key(text, key), f"config.example.toml: [{section}] lacks {key} ="


def test_example_config_keys_are_all_known() -> None:
    """The other direction: nothing in the example (even commented out) is a key that
    cocmail would refuse, so copying a commented line never breaks a config."""
    known = {(section, key) for section, key, _ in SETTINGS}
    for section, text in _sections(EXAMPLE).items():
        if not section:
            continue
        for key in re.findall(r"^\s*#?\s*([a-z_]+)\s*=", text, re.M):
            if key in SECRET_KEYS:
                continue
            assert (section, key) in known, f"config.example.toml: [{section}] {key} unknown"
