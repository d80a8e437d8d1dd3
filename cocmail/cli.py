"""The `cocmail` command: thin click wrappers over the library; no logic of its own.

Imports of the heavy modules happen inside each command so `cocmail --help` stays fast.
Library errors become one clear line and a non-zero exit; `--debug` shows tracebacks.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from .errors import OperationalError, UserError, as_operational, os_error_text
from .safe_output import SafeFormatter, guarded_output, raw_stdout

EX_TEMPFAIL = 75
# Characters of a quarantined mail's header block `quarantine show` prints: the headers a
# person needs to judge it, not a hostile message's thousands of lines (--raw prints all).
QUARANTINE_HEAD_CHARS = 5000


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


# ------------------------------------------------------------------ mail flow
@command(main, "run")
@click.option("--once", is_flag=True, help="Catch up on everything pending, then exit.")
def run_cmd(state: State, once: bool) -> None:
    """The daemon: watch the inbox, process mail, send due mail, digests, purges."""
    from . import early_hup

    if not once:
        early_hup.hold()  # `systemctl reload` while starting must not end the daemon
    from .app import start_courier
    from .daemon import Daemon
    from .runlock import AlreadyRunning, RunLock

    cfg = state.cfg()
    make_storage_dir(cfg.storage.dir)
    # One daemon per storage dir. `--once` is a catch-up like `ingest` and may run
    # beside it: messages and outgoing mail are claimed atomically in the database.
    lock = RunLock(cfg.storage.dir)
    if not once:
        try:
            lock.acquire()
        except AlreadyRunning as e:
            raise UserError(str(e)) from None
    try:
        _startup_line(cfg, once)
        # The courier is forked before this process opens the database or starts a
        # thread: SQLite must never be carried across a fork.
        daemon = Daemon(state.app(), courier=start_courier(cfg, fail_fast=once))
        if once:
            processed, sent = _run_once(daemon, cfg)
            click.echo(f"processed {processed} message(s), delivered {sent} mail(s)", err=True)
        else:
            daemon.run()
    finally:
        lock.release()


def _run_once(daemon: Any, cfg: Any) -> tuple[int, int]:
    """`run --once`; a refused IMAP login is one clear line (the daemon backs off instead)."""
    from imapclient.exceptions import LoginError

    try:
        return daemon.run_once()
    except LoginError as e:
        from .oauth import redact

        how = (" with OAuth2 (a freshly fetched token was refused too)"
               if cfg.imap.auth == "oauth2" else "")
        raise UserError(f"IMAP login as {cfg.imap.username} to {cfg.imap.host}:"
                        f"{cfg.imap.port} refused{how}: {redact(str(e))}; "
                        "`cocmail check` says more") from None


def _startup_line(cfg: Any, once: bool) -> None:
    """One line that tells a mail admin reading the journal what this daemon is."""
    from . import __version__

    source = (f"IMAP {cfg.imap.host}:{cfg.imap.port} folder {cfg.imap.folder}" if cfg.imap
              else f"the embedded SMTP listener on {cfg.listen.host}:{cfg.listen.port}")
    out = (f"SMTP {cfg.smtp.host}:{cfg.smtp.port}" if cfg.smtp
           else f"the spool {cfg.storage.spool_dir}")
    logging.getLogger("cocmail.daemon").info(
        "cocmail %s %s: config %s, storage %s, mail in from %s, out to %s",
        __version__, "catching up (--once)" if once else "starting", cfg.source,
        cfg.storage.dir, source, out)


def make_storage_dir(path: Path) -> None:
    """Create the storage dir mode 0700; an existing one keeps the mode its admin gave it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


@command(main, "ingest")
@click.argument("file", default="-", type=click.Path(allow_dash=True, dir_okay=False))
def ingest_cmd(state: State, file: str) -> None:
    """Process one raw message (FILE or - for stdin), e.g. from an MTA pipe.

    Exits 0 once the message is stored (processed or quarantined), 75 when it could not
    be stored, so the MTA keeps it and retries.
    """
    raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    try:
        app = state.app()
        inbound_id = app.store.add_inbound(raw, "ingest")
    except Exception as e:  # noqa: BLE001 - anything here means "not stored"
        why = as_operational(e) or e  # a full disk named as such
        click.echo(f"cocmail: could not store the message (the MTA keeps it and retries):"
                   f" {why}", err=True)
        sys.exit(EX_TEMPFAIL)
    if inbound_id is None:
        click.echo("already stored", err=True)
        return
    try:
        result = app.pipeline.process(inbound_id)
    except OperationalError as e:
        # Stored, so accepted (exit 0): `cocmail run` processes it once the database or
        # template is right again. Exit 75 would make the MTA store a second copy.
        click.echo(f"message {inbound_id}: stored, not processed yet ({e}); cocmail run"
                   " will retry it", err=True)
        return
    from .former_members import cancel_mail_to_former_members

    cancel_mail_to_former_members(app.store, app.cfg.staff)  # as the daemon does
    app.outbox.deliver_due()
    click.echo(f"message {inbound_id}: {result}", err=True)


@command(main, "check")
@click.option("--env-file", metavar="FILE", default=None,
              help="Read FILE as systemd reads EnvironmentFile= (no shell expansion) first.")
def check_cmd(state: State, env_file: str | None) -> None:
    """Validate the config and try the IMAP login and the SMTP connection."""
    import os

    from .checks import run_checks
    from .envfile import read_env_file

    warnings: list[str] = []
    if env_file:  # what the service will see: systemd's reading, not a shell's
        variables, warnings = read_env_file(env_file)
        os.environ.update(variables)
    cfg = state.cfg()
    ok = True
    for warning in warnings:
        click.echo(f"ok    env file: warning: {env_file}, {warning}")
    for name, good, detail in run_checks(cfg):
        click.echo(f"{'ok  ' if good else 'FAIL'}  {name}: {detail}")
        ok = ok and good
    if not ok:
        raise click.ClickException("some checks failed (see above)")


@command(main, "demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Where to keep the demo's data (default: a new temporary directory).")
def demo_cmd(state: State, directory: str | None) -> None:
    """A scripted walkthrough: a report arrives, staff answer, every mail is shown."""
    from .demo import run_demo

    run_demo(Path(directory) if directory else None, click.echo)


# ------------------------------------------------------------------ cases
@main.group("cases")
@debug_option
@config_option
def cases_group() -> None:
    """Look at cases."""


@command(cases_group, "list")
@click.option("--all", "show_all", is_flag=True, help="Include closed cases.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@event_options
def cases_list(state: State, show_all: bool, as_json: bool, event: str | None,
               all_events: bool) -> None:
    """Open cases (all with --all) of the current event (or --event NAME, --all-events)."""
    from .views import case_summaries

    rows = case_summaries(state.app(), include_closed=show_all,
                          events=chosen_events(state, event, all_events))
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no open cases" if not show_all else "no cases")
    for r in rows:
        missing = ", ".join(r["missing_steps"]) or "nothing (ready to close)"
        urgent = " URGENT" if r.get("urgent") else ""
        click.echo(f"#{r['number']:<4} {r['status']:<6} opened {r['opened'][:16]}{urgent}  "
                   f"{r['summary'] or '(no summary yet)'}  -- to do: {missing}")


@command(cases_group, "show")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cases_show(state: State, number: int, as_json: bool) -> None:
    """One case: people, facts, steps done and missing, messages, audit trail."""
    from .views import case_detail, format_case_detail

    detail = case_detail(state.app(), number)
    if detail is None:
        raise UserError(f"no case #{number}")
    click.echo(json.dumps(detail, indent=2, ensure_ascii=False) if as_json
               else format_case_detail(detail))


# ------------------------------------------------------------------ memory
@command(main, "report")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "json"]), default="csv",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (required for xlsx; default stdout).")
@event_options
def report_cmd(state: State, fmt: str, output: str | None, event: str | None,
               all_events: bool) -> None:
    """The internal report (the central sheet), one row per case of the event."""
    from .core.report import to_csv, to_json
    from .spreadsheet import write_xlsx
    from .views import report_rows

    app = state.app()
    rows = report_rows(app, chosen_events(state, event, all_events))
    if fmt == "xlsx":
        if not output:
            raise UserError("--format xlsx needs -o FILE")
        write_xlsx(rows, Path(output), f"{app.cfg.event.name} incidents")
        _private(Path(output))
        click.echo(f"wrote {len(rows)} case(s) to {output}", err=True)
        return
    text = to_csv(rows) if fmt == "csv" else to_json(rows) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8", newline="")
        _private(Path(output))
        click.echo(f"wrote {len(rows)} case(s) to {output}", err=True)
    else:
        click.echo(text, nl=False)


def _private(path: Path) -> None:
    path.chmod(0o600)


@command(main, "digest")
@click.option("--print", "mode", flag_value="print", default=True, help="Show it (default).")
@click.option("--send", "mode", flag_value="send", help="Mail it to the leads now.")
@event_options
def digest_cmd(state: State, mode: str, event: str | None, all_events: bool) -> None:
    """The weekly digest, now, of the current event's cases (or --event, --all-events).

    The digest the daemon mails each week covers every event's cases."""
    from .clock import utcnow
    from .digest import build_digest, queue_digest

    app = state.app()
    events = chosen_events(state, event, all_events)
    if mode == "send":
        n = queue_digest(app, utcnow(), record_week=False, events=events)
        report = app.outbox.deliver_due()
        click.echo(f"digest queued for {n} lead(s); delivered {report.sent} mail(s)", err=True)
    else:
        click.echo(build_digest(app, utcnow(), events), nl=False)


@command(main, "people")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def people_cmd(state: State, as_json: bool) -> None:
    """People named in cases, with case counts and outcomes."""
    from .views import people_rows

    rows = people_rows(state.app())
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("nobody is named in a case")
    for r in rows:
        outcomes = ", ".join(f"#{c}: {o or 'open'}" for c, o in r["outcomes"])
        click.echo(f"{r['name'] or '-'} <{r['email'] or '-'}>  roles: {', '.join(r['roles'])}"
                   f"  cases: {r['cases']}  ({outcomes})")


@command(main, "check-attendees")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def check_attendees_cmd(state: State, file: str) -> None:
    """Attendees (CSV with name,email) named in earlier cases with a warning or worse."""
    from .views import check_attendees

    hits = check_attendees(state.app(), Path(file))
    if not hits:
        click.echo("no registered attendee was named in an earlier case with a warning or worse")
    for h in hits:
        cases = ", ".join(f"#{c} ({o})" for c, o in h["cases"])
        click.echo(f"{h['name'] or '-'} <{h['email'] or '-'}>: {cases}")


@command(main, "stats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@event_options
def stats_cmd(state: State, as_json: bool, event: str | None, all_events: bool) -> None:
    """Anonymised counts per year and per event, for a transparency report."""
    from .views import stats

    data = stats(state.app(), chosen_events(state, event, all_events))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for period, counts in data["periods"].items():
        click.echo(f"{period}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for name, counts in data["events"].items():
        click.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if not data["periods"]:
        click.echo("no cases yet")


@command(main, "transparency")
@click.option("--event", "event", metavar="NAME", default=None,
              help="The event to report on (default: the current [event] name).")
@click.option("--initial", is_flag=True,
              help="The closing-ceremony version: open cases are shown as in progress.")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (default stdout).")
def transparency_cmd(state: State, event: str | None, initial: bool, fmt: str,
                     output: str | None) -> None:
    """The public transparency report of an event: no names, one line per report."""
    from .views import transparency

    name = event or state.cfg().event.name
    text, withheld = transparency(state.app(), name, initial=initial, fmt=fmt)
    if withheld:
        click.echo("cases without a #public-summary (or whose summary names someone on "
                   "the case), listed as 'details withheld': "
                   + ", ".join(f"#{n}" for n in withheld), err=True)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote the transparency report of {name} to {output}", err=True)
    else:
        click.echo(text, nl=False)


# ------------------------------------------------------------------ operations
@main.group("quarantine")
@debug_option
@config_option
def quarantine_group() -> None:
    """Mail that could not be processed."""


@command(quarantine_group, "list")
def quarantine_list(state: State) -> None:
    """Quarantined messages and why."""
    rows = state.app().store.quarantined()
    if not rows:
        click.echo("quarantine is empty")
    for r in rows:
        click.echo(f"{r['id']:>6}  {r['received_at'][:16]}  {r['size']:>9} bytes  {r['error']}")


@command(quarantine_group, "show")
@click.argument("item_id", type=int)
@click.option("--raw", is_flag=True, help="Print the raw message.")
def quarantine_show(state: State, item_id: int, raw: bool) -> None:
    """One quarantined message: its reason and headers (or --raw)."""
    from .core.safe_text import shown

    row = state.app().store.inbound(item_id)
    if row is None or row["state"] != "quarantined":
        raise UserError(f"no quarantined message {item_id}")
    if raw:
        raw_stdout().write(row["raw"] or b"")  # exact into a file, escaped on a terminal
        return
    head = (row["raw"] or b"").split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    click.echo(shown(  # a stranger's header lines: shown escaped (core/safe_text.py)
        f"id: {row['id']}\nreceived: {row['received_at']}\nsize: {row['size']} bytes\n"
        f"attempts: {row['attempts']}\nreason: {row['error']}\n\n"
        + head.decode("utf-8", "replace").replace("\r\n", "\n")[:QUARANTINE_HEAD_CHARS]))


@command(quarantine_group, "release")
@click.argument("item_id", type=int)
def quarantine_release(state: State, item_id: int) -> None:
    """Retry a quarantined message now."""
    app = state.app()
    if not app.store.release(item_id):
        raise UserError(f"no quarantined message {item_id}")
    result = app.pipeline.process(item_id)
    app.outbox.deliver_due()
    click.echo(f"message {item_id}: {result}")


@main.group("inbound")
@debug_option
@config_option
def inbound_group() -> None:
    """Mail that arrived and what became of it."""


@command(inbound_group, "list")
@click.option("--machine", is_flag=True,
              help="List the machine mail kept aside: no case, no answer (out-of-office "
                   "replies, newsletters, read receipts, bounces of unknown mail).")
def inbound_list(state: State, machine: bool) -> None:
    """How many messages arrived, by what became of them; with --machine, the machine mail
    that opened no case, newest first, and why."""
    from .machine_mail import machine_mail

    if not machine:
        counts = state.app().store.inbound_counts()
        for r in counts:
            click.echo(f"{r['state']:<12} {r['n']:>7}")
        if not counts:
            click.echo("no mail has arrived yet")
        return
    rows = machine_mail(state.app().store)
    if not rows:
        click.echo("no machine mail kept aside")
    for r in rows:
        # The output guard (safe_output.py) escapes what the sender wrote.
        click.echo(f"{r['id']:>6}  {r['received_at'][:16]}  {(r['sender'] or '(no sender)')[:60]}\n"
                   f"        subject: {(r['subject'] or '(no subject)')[:100]}\n"
                   f"        why: {(r['error'] or 'automatic mail')[:300]}")


@main.group("outbox")
@debug_option
@config_option
def outbox_group() -> None:
    """Outgoing mail and its delivery state."""


@command(outbox_group, "list")
@click.option("--pending", is_flag=True, help="Only mail not delivered yet.")
def outbox_list(state: State, pending: bool) -> None:
    """Outgoing mail and its delivery state."""
    rows = state.app().store.outbox_rows(pending_only=pending)
    if not rows:
        click.echo("nothing pending" if pending else "outbox is empty")
    for r in rows:
        case = f"#{r['case_number']}" if r["case_number"] else "-"
        extra = ""
        if r["state"] == "pending":
            extra = f" next attempt {r['next_attempt'][:16]}"
        if r["last_error"]:
            extra += f" ({r['last_error']})"
        click.echo(f"{r['id']:>6}  {r['created'][:16]}  {case:<6} {r['kind']:<18} "
                   f"{r['state']:<8} attempts {r['attempts']}{extra}")


@command(main, "backup")
@click.argument("directory", type=click.Path(file_okay=False))
def backup_cmd(state: State, directory: str) -> None:
    """A consistent copy of the database and secret.key into DIRECTORY (safe while
    `cocmail run` runs); files mode 0600."""
    from .backup import make_backup

    result = make_backup(state.cfg(), Path(directory))
    click.echo(f"backed up {result.cases} case(s) to {result.database}"
               + (f" and the key to {result.secret}" if result.secret else
                  " (no secret.key yet: nothing has been sent)"), err=True)


@main.group("oauth2")
@debug_option
@config_option
def oauth2_group() -> None:
    """OAuth2 tokens for IMAP and SMTP (see docs/providers.md)."""


@command(oauth2_group, "login")
@click.option("--port", type=int, default=0, show_default=True,
              help="Port of the loopback redirect (0: any free one); fix it to forward it "
                   "over ssh from a laptop's browser.")
def oauth2_login_cmd(state: State, port: int) -> None:
    """Make the refresh-token file for [oauth2] provider = "google" (a browser sign-in)."""
    from .oauth import google_login

    cfg = state.cfg()
    if cfg.oauth2 is None:
        raise UserError("the config has no [oauth2] section (see docs/providers.md)")
    path = google_login(cfg.oauth2, port)
    click.echo(f"wrote the refresh token to {path} (mode 0600); `cocmail check` tries it",
               err=True)


@command(main, "purge")
@click.option("--dry-run", is_flag=True, help="List what would be expunged; change nothing.")
def purge_cmd(state: State, dry_run: bool) -> None:
    """Expunge what the retention policy says is due."""
    from .clock import utcnow
    from .retention import purge_due

    numbers = purge_due(state.app(), utcnow(), dry_run=dry_run)
    verb = "would expunge" if dry_run else "expunged"
    click.echo(f"{verb} {len(numbers)} case(s)" + (": " + ", ".join(f"#{n}" for n in numbers)
                                                   if numbers else ""))


from . import cli_ops  # noqa: E402, F401 - registers the day-two commands (outbox retry)

if __name__ == "__main__":
    main()
