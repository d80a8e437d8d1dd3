"""A systemd `EnvironmentFile=` read the way systemd reads it, for `cocmail check --env-file`.

Why not `sh -c '. secrets.env'`: a shell expands what systemd keeps verbatim, so the
check saw another password than the service would (`Xy$$9z` became `Xy227509z`, `$$`
being the shell's pid). The rules below are systemd.exec(5)'s, "EnvironmentFile=", as
systemd's own parser (env-file.c) applies them:

- `#` or `;` first on a line (after blanks) makes a comment; a line without `=` is
  ignored. A `#` later in a value is part of the value.
- Around the key and the value, blanks are dropped; inside an unquoted value they stay.
- No variable expansion at all: `$` is an ordinary character.
- Unquoted: a backslash keeps the next character (`\\\\` is `\\`); a backslash at the
  end of a line continues the value on the next line (the newline dropped); a quote
  after the first character is kept as it is.
- `'...'`: everything verbatim, newlines too, until the closing quote; no escapes.
- `"..."`: may span lines; `\\` before one of `"`, `\\`, `` ` ``, `$` keeps that
  character, before a newline continues the line, before anything else stays.
- Text right after a closing quote is joined to the value (`A='x'y` is `xy`).
- Names that are not valid variable names are skipped (systemd logs and skips them),
  `export NAME=...` among them; so are values with a control character (a tab, say).

The warnings name, by line, what systemd will ignore or read otherwise than it
looks (an `export` line, a line without `=`, a `# comment` after a value), never a value:
the file holds passwords.

Pure: text in, pairs out.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_WHITESPACE = " \t\n\r"
_NEWLINE = "\n\r"
_DOUBLE_ESCAPES = '"\\`$'


def parse_env_file(text: str) -> tuple[dict[str, str], list[str]]:
    """(the variables `text` sets, a later assignment winning; what in `text` systemd
    ignores or reads otherwise than it looks, line by line): systemd's state machine."""
    out: dict[str, str] = {}
    warnings: list[str] = []
    line = start = 1  # the current line; the line the current assignment began on
    after_blank = False  # the last unquoted value character was a blank
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    key_blank = value_blank = -1  # where trailing blanks start, -1: none

    def push() -> None:
        name = "".join(key[:key_blank] if key_blank >= 0 else key)
        val = "".join(value[:value_blank] if value_blank >= 0 and state == "value"
                      else value)
        bare = name.split(None, 1)
        if not _NAME.match(name):
            if len(bare) == 2 and bare[0] == "export" and _NAME.match(bare[1]):
                warnings.append(f"line {start}: systemd ignores 'export {bare[1]}=...'"
                                f" ('export' makes it no variable name): write"
                                f" {bare[1]}=... without 'export'")
            else:
                warnings.append(f"line {start}: systemd ignores this assignment: what"
                                f" comes before '=' is not a variable name")
        elif any(ord(ch) < 32 and ch != "\n" or ord(ch) == 127 for ch in val):
            warnings.append(f"line {start}: systemd ignores {name}: its value has a control"
                            f" character (a tab?)")
        else:
            out[name] = val

    def comment_kept() -> None:
        warnings.append(f"line {start}: systemd keeps the '# ...' after"
                        f" {''.join(key).strip()}= as part of the value: a comment"
                        f" must be a line of its own")

    for c in text.removeprefix("\ufeff"):
        if c == "\n":
            line += 1
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in _WHITESPACE:
                state, key, key_blank, start = "key", [c], -1, line
        elif state == "key":
            if c in _NEWLINE:
                state = "pre_key"  # no "=" on the line: ignored
                warnings.append(f"line {start}: systemd ignores this line: it has no '='")
            elif c == "=":
                state, value, value_blank, after_blank = "pre_value", [], -1, False
            else:
                if c not in _WHITESPACE:
                    key_blank = -1
                elif key_blank < 0:
                    key_blank = len(key)
                key.append(c)
        elif state == "pre_value":
            if c in _NEWLINE:
                push()
                state = "pre_key"
            elif c == "'":
                state = "single"
            elif c == '"':
                state = "double"
            elif c == "\\":
                state = "value_escape"
            elif c not in _WHITESPACE:
                if c == "#" and after_blank:
                    comment_kept()
                state, value_blank, after_blank = "value", -1, False
                value.append(c)
            else:
                after_blank = True
        elif state == "value":
            if c in _NEWLINE:
                push()
                state = "pre_key"
            elif c == "\\":
                state, value_blank = "value_escape", -1
            else:
                if c == "#" and after_blank:
                    comment_kept()
                after_blank = c in _WHITESPACE
                if c not in _WHITESPACE:
                    value_blank = -1
                elif value_blank < 0:
                    value_blank = len(value)
                value.append(c)
        elif state == "value_escape":
            state = "value"
            if c not in _NEWLINE:  # an escaped newline is eaten whole
                value.append(c)
        elif state == "single":
            if c == "'":
                state, after_blank = "pre_value", False
            else:
                value.append(c)
        elif state == "double":
            if c == '"':
                state, after_blank = "pre_value", False
            elif c == "\\":
                state = "double_escape"
            else:
                value.append(c)
        elif state == "double_escape":
            state = "double"
            if c in _DOUBLE_ESCAPES:
                value.append(c)
            elif c != "\n":
                value.extend(("\\", c))
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c in _NEWLINE:
                state = "pre_key"
        elif state == "comment_escape":
            state = "comment"
    if state == "key":
        warnings.append(f"line {start}: systemd ignores this line: it has no '='")
    if state not in ("pre_key", "key", "comment", "comment_escape"):
        push()
    return out, warnings


def read_env_file(path: str) -> tuple[dict[str, str], list[str]]:
    """`path`'s variables and warnings (`parse_env_file`); an unreadable file is a UserError
    naming it."""
    from .errors import UserError

    try:
        with open(path, encoding="utf-8") as f:
            return parse_env_file(f.read())
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "not UTF-8"
        raise UserError(f"--env-file {path}: cannot read it: {why}") from None
