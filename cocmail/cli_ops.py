"""Operations commands of `cocmail`: `quarantine`, `inbound` and `outbox` (with `retry`,
failed mail sent again once the cause is fixed), `backup`, `oauth2 login`, `purge`, and
`--version` (the release and the database schema it writes).

cli.py imports this module last, which registers the commands on its group. Thin
wrappers, as there: the work is in store/, delivery/outbox.py, backup.py and retention.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli import State, command, config_option, debug_option, main
from .errors import UserError
from .safe_output import raw_stdout

# Characters of a quarantined mail's header block `quarantine show` prints: the headers a
# person needs to judge it, not a hostile message's thousands of lines (--raw prints all).
QUARANTINE_HEAD_CHARS = 5000


@main.group("quarantine")
@debug_option
@config_option
def quarantine_group() -> None:
    """Mail that could not be processed."""


@command(quarantine_group, "list")
def quarantine_list(state: State) -> None:
    """Quarantined messages and why."""
    from .store import inbound as inbound_db

    rows = state.app().store.read(inbound_db.quarantined)
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
    from .store import inbound as inbound_db

    row = state.app().store.read(inbound_db.inbound, item_id)
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
    from .store import inbound as inbound_db

    app = state.app()
    if not app.store.write(inbound_db.release, item_id):
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
    from .store import inbound as inbound_db

    if not machine:
        counts = state.app().store.read(inbound_db.inbound_counts)
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
    from .store import outbox as outbox_db

    rows = state.app().store.read(outbox_db.outbox_rows, pending_only=pending)
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


@command(outbox_group, "show")
@click.argument("item_id", type=int)
def outbox_show(state: State, item_id: int) -> None:
    """One outgoing mail as it was (or will be) sent: headers and text, unsealed."""
    from .store import outbox as outbox_db

    raw = state.app().store.read(outbox_db.outbox_mail, item_id)
    if raw is None:
        raise UserError(f"no outgoing mail {item_id} (or it was purged with its case)")
    click.echo(raw.decode("utf-8", "replace"))  # the output guard escapes control bytes


@command(main, "backup")
@click.argument("directory", type=click.Path(file_okay=False))
def backup_cmd(state: State, directory: str) -> None:
    """A consistent copy of the database, secret.key and (sealed records) the key store
    into DIRECTORY, as separate files (safe while `cocmail run` runs); files mode 0600."""
    from .backup import make_backup

    result = make_backup(state.cfg(), Path(directory))
    click.echo(f"backed up {result.cases} case(s) to {result.database}"
               + (f" and the key to {result.secret}" if result.secret else
                  " (no secret.key yet: nothing has been sent)"), err=True)
    if result.keys is not None:
        click.echo(f"the case keys are in {result.keys}: keep it apart from the data and"
                   " only for your key window (README, \"Keys and backups\"); without it"
                   " the data copy cannot be read", err=True)


@main.group("keys")
@debug_option
@config_option
def keys_group() -> None:
    """The keys that seal the records (README, "Keys and backups")."""


@command(keys_group, "accept-loss")
def keys_accept_loss(state: State) -> None:
    """After key loss: expunge the records whose keys no key backup holds, so cocmail
    can start again (README, "When the keys are lost")."""
    from .keyring import keyring_for
    from .store import Store
    from .store.sealed import accept_lost_keys

    cfg = state.cfg()
    keyring = keyring_for(cfg.storage)
    if keyring is None:
        raise UserError("[storage] encryption = false: there are no keys to lose")
    store = Store(cfg.storage.db_path, keyring=keyring)
    try:
        store.write(accept_lost_keys)
    finally:
        store.close()
    from .store import cases as cases_db

    app = state.app()  # opening expunges what lost its key, and logs each case
    left = app.store.read(cases_db.case_numbers, include_closed=True)
    click.echo(f"the records of {cfg.storage.db_path} whose keys are lost are expunged;"
               f" {len(left)} case(s) remain", err=True)


@command(keys_group, "rotate")
def keys_rotate(state: State) -> None:
    """Re-wrap every case key under a new key-encryption key; the old one is destroyed."""
    from .keyring import keyring_for

    cfg = state.cfg()
    keyring = keyring_for(cfg.storage)
    if keyring is None:
        raise UserError("[storage] encryption = false: there are no keys to rotate")
    try:
        n = keyring.rotate()
    finally:
        keyring.close()
    click.echo(f"re-wrapped {n} key(s) under a new key-encryption key in"
               f" {cfg.storage.kek_path}; the old one is destroyed", err=True)


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



def show_version(ctx: click.Context) -> None:
    """`cocmail --version`: this release, and the schema its migrations bring a database
    to (an older database is upgraded on first use; a newer one is refused)."""
    from . import __version__
    from .store.migrations import LATEST

    click.echo(f"cocmail {__version__} (database schema {LATEST})")
    ctx.exit()


@command(outbox_group, "retry")
@click.argument("outbox_id", metavar="[ID]", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Every mail marked failed.")
def outbox_retry(state: State, outbox_id: int | None, all_failed: bool) -> None:
    """Send failed mail again (one ID, or --all-failed), now.

    An ID may also be a mail still waiting for its next attempt: it goes now. Run it
    once the cause is fixed (a password, the server); a mail refused again fails again
    and staff are told again.
    """
    from .clock import utcnow
    from .former_members import cancel_mail_to_former_members
    from .store import outbox as outbox_db

    if (outbox_id is None) == (not all_failed):
        raise UserError("give one outbox ID (see `cocmail outbox list`) or --all-failed")
    app = state.app()
    if outbox_id is not None:
        ids = app.store.write(outbox_db.outbox_due_again, utcnow(), ids=[outbox_id])
        if not ids:
            raise UserError(f"no failed or waiting mail {outbox_id} (see `cocmail outbox "
                            "list`; sent, cancelled and purged mail cannot be retried)")
    else:
        ids = app.store.write(outbox_db.outbox_due_again, utcnow(), failed=True)
        if not ids:
            click.echo("no failed mail", err=True)
            return
    dropped = cancel_mail_to_former_members(app.store, app.cfg.staff)  # who left: nothing
    report = app.outbox.deliver_due()
    gone = f", {dropped} cancelled (no longer in [[staff]])" if dropped else ""
    click.echo(f"retried {len(ids)} mail(s): {report.sent} sent, {report.retrying} waiting "
               f"for another attempt, {report.failed} failed again{gone} (`cocmail outbox"
               " list`)", err=True)
