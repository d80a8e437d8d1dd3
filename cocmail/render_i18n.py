"""Template filters that write values the local way, and the per-language subjects (issue 26).

A translation must be only template files and a subjects.toml: any word Python would
put into an outward mail (a date, "2 hours", a language's name) is written here, in the
mail's language, by Babel's CLDR data, from a value the core passes as data (a date, a
number of minutes, a language code). Each filter reads the mail's language from the
template's `language` variable (cocmail/core/compose.py passes it; English without it).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from .core.reminders import within_words


def _language(ctx: Any) -> str:
    return str(ctx.get("language") or "en") if ctx is not None else "en"


def _as_date(value: Any) -> date | datetime | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


@jinja2.pass_context
def local_date(ctx: Any, value: Any, form: str = "long") -> str:
    """A date as the mail's language writes it ("6 de dezembro de 2026"); text that is
    not a date is left as it is."""
    when = _as_date(value)
    if when is None:
        return "" if value is None else str(value)
    from babel.dates import format_date  # Babel loads on the first mail that needs it

    day = when.date() if isinstance(when, datetime) else when
    return format_date(day, format=form, locale=_language(ctx))


@jinja2.pass_context
def local_datetime(ctx: Any, value: Any, form: str = "long") -> str:
    """A date and time the local way; a date alone as `local_date` writes it."""
    when = _as_date(value)
    if not isinstance(when, datetime):
        return local_date(ctx, value, form)
    from babel.dates import format_datetime

    return format_datetime(when, format="medium" if form == "long" else form,
                           tzinfo=when.tzinfo, locale=_language(ctx))


@jinja2.pass_context
def duration(ctx: Any, value: Any) -> str:
    """A promised time, rounded up to its unit: an int of minutes ("2 hours", "2 horas").
    English keeps the words a person says ("an hour", "a day"); text passes unchanged."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "" if value is None else str(value)
    language = _language(ctx)
    if language == "en":
        return within_words(timedelta(minutes=value))
    from babel.units import format_unit

    minutes = max(value, 1)
    if minutes < 60:
        return format_unit(minutes, "duration-minute", length="long", locale=language)
    if minutes < 24 * 60:
        return format_unit(-(-minutes // 60), "duration-hour", length="long", locale=language)
    return format_unit(-(-minutes // (24 * 60)), "duration-day", length="long",
                       locale=language)


@jinja2.pass_context
def language_name(ctx: Any, code: Any) -> str:
    """A language's name in the mail's language: "es" is "Spanish" to an English-speaking
    team, "espanhol" in a Portuguese mail."""
    from babel import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(_language(ctx)).languages.get(str(code), str(code)))
    except (ValueError, UnknownLocaleError):
        return str(code)


I18N_FILTERS = {"date": local_date, "datetime": local_datetime, "duration": duration,
                "language_name": language_name}


def read_subjects(path: Path) -> dict[str, str]:
    """The `[subjects]` table of a language's subjects.toml ({} when there is none)."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        from .render import TemplateError

        raise TemplateError(f"subjects {path}: {exc}") from exc
    table = data.get("subjects", {})
    return {str(k): str(v) for k, v in table.items() if isinstance(v, str)}
