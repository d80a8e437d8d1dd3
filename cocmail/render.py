"""Mail bodies from Jinja2 templates.

The mails are the product: what a reporter, an accused person or the DSF reads is written
here, in `templates/<name>.txt`, not in code. A CoC team may replace any template by putting
a file of the same name in its own directory (`[templates] dir` in the config); the project's
templates fill in the rest.

Only bodies are rendered. Headers are built by the caller through the email package, so that
nothing a template or a value does can ever add a header.

Templates are plain text: no autoescaping, `StrictUndefined`, and every variable a template
mentions must be passed, checked before rendering so that a missing value fails the same way
whichever branch the template takes (not only on the day a rare branch runs). Besides Jinja's
built-ins, templates can use these helpers (see each function for why it exists):

filters: ``oneline``, ``wrap``, ``quote``, ``cell``, ``days``, ``case_list``, ``useful``,
and the local-language ones of cocmail/render_i18n.py (``date``, ``datetime``,
``duration``, ``language_name``); test: ``greeting`` (``{% if text is greeting %}``).

Languages (issue 26): the English template of a mail is `templates/<kind>.txt`, its
translation the whole template `templates/<lang>/<kind>.txt`, and the subjects of a
language are in `templates/<lang>/subjects.toml`. A team's directory overrides per
language the same way (`<dir>/<lang>/<kind>.txt`) and falls back to the shipped file of
that same language, never to English: a mail is never half one language.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from .core.errors import OperationalError
from .core.languages import SHIPPED_LANGUAGES
from .core.vocabulary import OUTWARD_KINDS, MailKind
from .render_i18n import I18N_FILTERS, read_subjects


def _builtin_templates_dir() -> Path:
    """Where the project's own templates are.

    Installed (wheel, sdist, `pip install .`): inside the package, as package data
    (`cocmail/templates/`, mapped from the top-level `templates/` by pyproject.toml),
    found through importlib.resources so the working directory never matters. In a
    source checkout that was not installed, the top-level `templates/` itself.
    """
    packaged = Path(str(resources.files("cocmail") / "templates"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


TEMPLATES_DIR = _builtin_templates_dir()

# One template per mail kind, named after it (`templates/ack.txt`); `cocmail check`
# compiles them all.
TEMPLATE_NAMES: tuple[str, ...] = tuple(kind.value for kind in MailKind)

# The commands a staff member most often needs on a fresh case, in the order they are
# usually needed. The full list is one `#help` away; a long list in every notification
# would bury the report itself.
CHEAT_SHEET: tuple[str, ...] = (
    "#accused",
    "#when",
    "#where",
    "#summary",
    "#notify-accused",
    "#action",
    "#reply",
    "#status",
)
CHEAT_SHEET_FALLBACK = 8

# First words that show a staff member already opened their message with a greeting, so
# the template does not add a second "Hello" above it.
_GREETINGS = frozenset(
    {
        "hi", "hello", "hey", "dear", "hallo", "hej", "hei", "hoi", "moin", "servus",
        "hola", "bonjour", "salut", "ciao", "buongiorno", "olá", "ola", "cześć", "ahoj",
        "good morning", "good afternoon", "good evening", "guten tag", "bom dia",
        "buenos días", "buenos dias",
    }
)


class TemplateError(OperationalError):
    """A template could not be found, compiled or rendered; the message names the template."""


# ----------------------------------------------------------------- helpers for templates


def oneline(value: object) -> str:
    """Collapse every run of whitespace, line breaks included, into one space.

    Names, subjects and addresses come from mail headers and staff commands; a stray CR or
    LF in one must not break a greeting or a `Label: value` line in two.
    """
    if value is None:
        return ""
    return " ".join(str(value).split())


def _text(value: object) -> str:
    """`str(value)`, with None as the empty string."""
    return "" if value is None else str(value)


def wrap(text: object, width: int = 72) -> str:
    """Wrap each line of `text` to `width`, keeping its line breaks.

    For short values that staff typed on one command line (`#action ...`): a long line
    reads badly in plain text. Words, addresses, links and phone numbers ("+49 30 1234
    5678", which a reader in danger taps) are never cut, not even at hyphens, so nothing
    a reader might copy is broken.
    """
    out: list[str] = []
    for line in _normalise_newlines(_text(text)).split("\n"):
        line = _PHONE.sub(_glued, line)
        wrapped = textwrap.wrap(
            line, width, break_long_words=False, break_on_hyphens=False
        )
        out.extend(w.replace(_GLUE, " ") for w in wrapped or [""])
    return "\n".join(out)


# A phone number as people write one: groups of digits, perhaps a leading + or brackets
# ("+351 21 000 0000", "116 006"); five digits at least, so "21 30" stays two numbers.
_PHONE = re.compile(r"\+?\(?\d[\d()]*(?: \(?\d[\d()]*)+")
_GLUE = "\ue000"  # stands for a space wrap() must not break at (a private-use character)


def _glued(match: re.Match[str]) -> str:
    number = match.group(0)
    return number.replace(" ", _GLUE) if sum(c.isdigit() for c in number) >= 5 else number


def quote(text: object, prefix: str = "> ") -> str:
    """Quote a block of someone else's words mail-style, without blank lines around it.

    Quoting keeps the report visibly apart from cocmail's own words, and a quoted line is
    never read as a command if it comes back in a staff reply.
    """
    lines = _normalise_newlines(_text(text)).strip("\n").split("\n")
    bare = prefix.rstrip()
    return "\n".join(prefix + line if line.strip() else bare for line in lines)


def cell(value: object, empty: str = "-") -> str:
    """A value for one `Column: value` line; empty values show as a dash, not as nothing."""
    text = oneline(value)
    return text if text else empty


def days(n: int) -> str:
    """An age in days, as a person would say it."""
    if n <= 0:
        return "less than a day"
    return "1 day" if n == 1 else f"{n} days"


def case_list(numbers: Iterable[int]) -> str:
    """`case 3`, `cases 3 and 7`, `cases 3, 7 and 9`, or `none`."""
    nums = [str(n) for n in numbers]
    if not nums:
        return "none"
    if len(nums) == 1:
        return f"case {nums[0]}"
    return f"cases {', '.join(nums[:-1])} and {nums[-1]}"


def _command_name(syntax: str) -> str:
    words = syntax.split()
    return words[0].lower().replace("_", "-") if words else ""


def useful(
    commands: Sequence[Sequence[str]], names: Sequence[str] = CHEAT_SHEET
) -> list[tuple[str, str]]:
    """The cheat-sheet subset of (syntax, help) pairs, in the order of `names`.

    When none of `names` is in the list (a future rename, or a caller that already chose),
    the first few pairs are shown rather than an empty cheat-sheet.
    """
    pairs = [(str(c[0]), str(c[1])) for c in commands]
    by_name: dict[str, tuple[str, str]] = {}
    for pair in pairs:
        by_name.setdefault(_command_name(pair[0]), pair)
    chosen = [by_name[n] for n in names if n in by_name]
    return chosen if chosen else pairs[:CHEAT_SHEET_FALLBACK]


def is_greeting(text: object) -> bool:
    """True when the first non-blank line of `text` opens with a greeting word."""
    for line in _normalise_newlines(_text(text)).split("\n"):
        words = re.sub(r"[^\w\s]", " ", line.lower()).split()
        if not words:
            continue
        return words[0] in _GREETINGS or " ".join(words[:2]) in _GREETINGS
    return False


# ----------------------------------------------------------------------------- rendering


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def tidy(text: str) -> str:
    """Plain-text hygiene for a body: LF line ends, no trailing blanks, one final newline.

    Trailing spaces are invisible and some transports mangle them; blank lines at the start
    or the end only look like a mistake.
    """
    lines = [line.rstrip() for line in _normalise_newlines(text).split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


class Renderer:
    """Renders mail bodies; an override directory wins over the project's templates."""

    def __init__(self, override_dir: Path | None = None):
        self.override_dir = override_dir
        search = [str(override_dir)] if override_dir is not None else []
        search.append(str(TEMPLATES_DIR))
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search, encoding="utf-8"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self.env.filters.update(
            oneline=oneline, quote=quote, cell=cell, days=days, case_list=case_list,
            useful=useful, wrap=wrap, **I18N_FILTERS,
        )
        self.env.tests["greeting"] = is_greeting
        self._compiled: dict[str, tuple[jinja2.Template, frozenset[str]]] = {}
        self._subjects: dict[str, dict[str, str]] = {}
        self._found: dict[str, bool] = {}  # has(): templates are read once, like _compiled

    def has(self, name: str, language: str) -> bool:
        """Is there a template of mail `name` in `language` (English always has one)?"""
        if language == "en":
            return True
        key = f"{language}/{name}"
        if key not in self._found:
            self._found[key] = any(
                (Path(d) / language / f"{name}.txt").is_file()
                for d in ([self.override_dir] if self.override_dir else []) + [TEMPLATES_DIR])
        return self._found[key]

    def subject(self, kind: str, language: str) -> str | None:
        """The subject of mail `kind` in `language` (templates/<lang>/subjects.toml, a
        team's own file first, key by key); None when neither has one."""
        if language not in self._subjects:
            table: dict[str, str] = {}
            for d in [TEMPLATES_DIR] + ([self.override_dir] if self.override_dir else []):
                table.update(read_subjects(Path(d) / language / "subjects.toml"))
            self._subjects[language] = table
        return self._subjects[language].get(str(kind))

    def _load(self, name: str) -> tuple[jinja2.Template, frozenset[str]]:
        """Compile a template once, with the names of the variables it needs from the caller.
        `name` may be `<lang>/<kind>`: the translation."""
        if name in self._compiled:
            return self._compiled[name]
        filename = f"{name}.txt"
        try:
            source, _, _ = self.env.loader.get_source(self.env, filename)  # type: ignore[union-attr]
            needed = meta.find_undeclared_variables(self.env.parse(source, filename))
            template = self.env.get_template(filename)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name!r}: no file {filename}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template {name!r}: syntax error on line {exc.lineno}: {exc.message}"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"template {name!r}: cannot read {filename}: {exc}") from exc
        entry = (template, frozenset(needed) - set(self.env.globals))
        self._compiled[name] = entry
        return entry

    def check(self) -> None:
        """Load and compile every template now (for `cocmail check`); raises TemplateError.

        A team's own template may only use variables the project's template of the same
        name gets: any other one would fail the day that mail is sent.
        """
        builtin = Renderer(None) if self.override_dir is not None else None
        translated = [f"{lang}/{kind}" for lang in SHIPPED_LANGUAGES[1:]
                      for kind in sorted(OUTWARD_KINDS) if self.has(kind, lang)]
        for lang in SHIPPED_LANGUAGES[1:]:
            self.subject(MailKind.ACK, lang)  # a subjects.toml that does not parse fails here
        for name in (*TEMPLATE_NAMES, *translated):
            _, needed = self._load(name)
            if builtin is not None:
                unknown = sorted(needed - builtin._load(name)[1])
                if unknown:
                    raise TemplateError(
                        f"template {name!r} in {self.override_dir}: cocmail passes no "
                        + ", ".join(repr(u) for u in unknown))

    def render(self, name: str, **context: Any) -> str:
        """The body of mail `name` (without `.txt`), tidied; TemplateError on any failure.
        A `language` other than English in `context` picks `templates/<lang>/<name>.txt`."""
        name = str(name)  # a MailKind is named by its value in errors, not its repr
        language = context.get("language") or "en"
        if language != "en":
            name = f"{language}/{name}"
        template, needed = self._load(name)
        missing = sorted(needed - context.keys())
        if missing:
            raise TemplateError(
                f"template {name!r}: missing variable{'s' if len(missing) > 1 else ''} "
                + ", ".join(repr(m) for m in missing)
            )
        try:
            text = template.render(**context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {name!r}: {exc.message}") from exc
        except Exception as exc:  # a filter on a value of the wrong type, and the like
            raise TemplateError(f"template {name!r}: {type(exc).__name__}: {exc}") from exc
        return tidy(text)
