"""The `cocmail` command: thin click wrappers over the library; no logic of its own.

This module holds the group, its options, logging and how errors are shown; the
commands are in cli_mailflow.py (run, ingest, check, demo), cli_reports.py (cases,
report, digest, stats...) and cli_ops.py (quarantine, inbound, outbox, backup...).

Imports of the heavy modules happen inside each command so `cocmail --help` stays fast.
Library errors become one clear line and a non-zero exit; `--debug` shows tracebacks.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from .errors import UserError, as_operational, os_error_text
from .safe_output import SafeFormatter, guarded_output

EX_TEMPFAIL = 75


class State:
    def __init__(self) -> None:
        self.config_path: str | None = None
        self.debug = False
        self._cfg: Any = None
        self._app: Any = None

    def cfg(self) -> Any:
        if self._cfg is None:
            from .config import find_config_path, load_config

            path = find_config_path(self.config_path)
            self._cfg = load_config(path)
            if path is None:
                # Never silently: a command run in the wrong directory would otherwise
                # show "no cases" and start a fresh database with the demo's fake staff.
                click.echo("cocmail: no config file (no --config, no $COCMAIL_CONFIG, no "
                           f"{Path.cwd() / 'cocmail.toml'}): using the embedded demo "
                           f"defaults, data in {self._cfg.storage.dir}", err=True)
        return self._cfg

    def app(self) -> Any:
        if self._app is None:
            from .app import open_app

            self._app = open_app(self.cfg())
        return self._app


def _set_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(State).config_path = value


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).debug = True


config_option = click.option("--config", "config", metavar="PATH", expose_value=False,
                             callback=_set_config, is_eager=True,
                             help="Config file (default: $COCMAIL_CONFIG, ./cocmail.toml, "
                                  "else the embedded defaults).")
debug_option = click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug,
                            is_eager=True, help="Show tracebacks and debug logs.")


def command(group: click.Group, name: str | None = None, **kw: Any
            ) -> Callable[[Callable[..., Any]], click.Command]:
    """A subcommand that also accepts --config/--debug and turns library errors into one line."""

    def deco(fn: Callable[..., Any]) -> click.Command:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            state = ctx.ensure_object(State)
            _logging(state.debug)
            # click would silently drop CSI sequences when stdout is not a terminal, and
            # pass them raw when it is; the guard shows them escaped either way.
            ctx.color = True
            try:
                with guarded_output():  # no stranger's escape sequence reaches the terminal
                    return fn(state, *args, **kwargs)
            except click.ClickException:
                raise
            except Exception as e:
                if state.debug:
                    raise
                raise cli_error(e) from e

        return group.command(name, **kw)(debug_option(config_option(wrapper)))

    return deco


class TemporaryFailure(click.ClickException):
    """Printed like any error, but exits 75 (EX_TEMPFAIL): try again later."""

    exit_code = EX_TEMPFAIL


def cli_error(e: Exception) -> click.ClickException:
    """`e` as one line and the exit code of its family (errors.py).

    A UserError (bad config, unknown case; ConfigError, StoreError, BackupError and
    TokenError are ones) and an OSError say what to fix: their text, exit 1. An
    OperationalError (database locked, server unreachable, a broken template;
    sqlite3's OperationalError too) is temporary: its text, exit 75, the code an MTA
    and a cron job read as "try again". Anything else is a bug: its class and text,
    exit 1, and --debug shows the traceback.
    """
    from .core.safe_text import shown

    operational = as_operational(e)
    if operational is not None:
        return TemporaryFailure(shown(f"{operational} (a temporary failure: try again later)"))
    if isinstance(e, OSError):
        return click.ClickException(shown(os_error_text(e)))
    if isinstance(e, UserError):
        return click.ClickException(shown(str(e)))
    return click.ClickException(shown(f"{type(e).__name__}: {e} (use --debug for details)"))




# Loggers of the protocol libraries. Theirs log what crosses the wire: aiosmtpd's
# `mail.log` every MAIL FROM/RCPT TO at INFO and every DATA line at DEBUG, imapclient
# (with imaplib's debug) every command and literal, requests-oauthlib and msal the
# tokens they obtain. That is reporters' addresses, report text and OAuth2 tokens, so
# they stay at WARNING whatever --debug says.
PROTOCOL_LOGGERS = ("mail.log", "mail.debug", "imapclient", "imapclient.imaplib",
                    # OAuth2 libraries: at DEBUG they log token requests and answers
                    "msal", "google", "google_auth_oauthlib", "requests_oauthlib",
                    "oauthlib", "urllib3")


def _logging(debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, _RedactingFormatter):
            handler.setFormatter(_RedactingFormatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in PROTOCOL_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if not any(isinstance(f, _RedactAddresses) for f in logger.filters):
            logger.addFilter(_RedactAddresses())


class _RedactingFormatter(SafeFormatter):
    """Tracebacks quote exception texts, which may hold an address (a parser's complaint
    about a header, an SMTP reply): they are logged with addresses replaced. Control
    characters are escaped in every line (SafeFormatter)."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        from .redact import redact_addresses

        return redact_addresses(super().formatException(ei))


class _RedactAddresses(logging.Filter):
    """What the protocol libraries still log (warnings: `unrecognised: <command>`) may
    quote a client's line; addresses in it are replaced before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        from .redact import redact_addresses

        record.msg, record.args = redact_addresses(record.getMessage()), ()
        return True


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", metavar="PATH", expose_value=False, callback=_set_config,
              help="Config file (default: $COCMAIL_CONFIG, ./cocmail.toml, else embedded "
                   "defaults).")
@click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug,
              help="Show tracebacks and debug logs.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda ctx, _p, value: cli_ops.show_version(ctx) if value else None,
              help="Show the version and the database schema it writes, and exit.")
@click.pass_context
def main(ctx: click.Context) -> None:
    """cocmail runs a conference's Code of Conduct inbox by email."""
    import os

    os.umask(0o077)  # everything cocmail writes holds personal data
    ctx.ensure_object(State)


def event_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--event NAME / --all-events: which event's cases (default: the current event)."""
    fn = click.option("--all-events", is_flag=True,
                      help="Cases of every event, not only the current one.")(fn)
    return click.option("--event", "event", metavar="NAME", default=None,
                        help="Cases of this event (default: the current [event] name).")(fn)


def chosen_events(state: State, event: str | None, all_events: bool) -> list[str] | None:
    """None for every event; else the one asked for (an unknown name is an error)."""
    from .views import known_events

    if all_events:
        if event:
            raise UserError("give either --event NAME or --all-events, not both")
        return None
    name = event or state.cfg().event.name
    known = known_events(state.app())
    if name not in known:
        raise UserError(f"no event {name!r}; known: {', '.join(known) or 'none'}")
    return [name]


# Importing these registers their commands on `main` (they import it from here).
from . import cli_mailflow, cli_ops, cli_reports  # noqa: E402, F401

if __name__ == "__main__":
    main()
