"""`cocmail run`, `ingest`, `check` and `demo`: the commands that move mail (or prove
they can). Thin click wrappers, as everywhere in the CLI; cli.py imports this module,
which registers them on its group."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from .cli import EX_TEMPFAIL, State, command, main
from .errors import OperationalError, UserError, as_operational


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
        _keys_usable(cfg)
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


def _keys_usable(cfg: Any) -> None:
    """A lost key store stops the daemon before it says it starts: one line, and no new
    data beside records it cannot read (keyring.py)."""
    from .keyring import keyring_for

    keyring = keyring_for(cfg.storage)
    if keyring is not None:
        keyring.close()


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
        inbound_id = app.add_inbound(raw, "ingest")
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
    """A scripted walkthrough: a report arrives, staff answer, every mail is shown.
    With --config, on your own config (names, texts, staff), still in a scratch dir."""
    from .demo import run_demo

    run_demo(Path(directory) if directory else None, click.echo, config=state.config_path)

