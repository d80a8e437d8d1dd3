"""Day-two commands of `cocmail`: failed mail sent again once the cause is fixed, and
`--version` (the release and the database schema it writes).

Kept out of cli.py (which holds the commands of the interface's first issue) so that
each module stays small; cli.py imports this module last, which registers the commands
on its groups. Thin wrappers, as there: the work is in store.py and outbox.py.
"""

from __future__ import annotations

import click

from .cli import State, command, outbox_group
from .errors import UserError


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

    if (outbox_id is None) == (not all_failed):
        raise UserError("give one outbox ID (see `cocmail outbox list`) or --all-failed")
    app = state.app()
    if outbox_id is not None:
        ids = app.store.outbox_due_again(utcnow(), ids=[outbox_id])
        if not ids:
            raise UserError(f"no failed or waiting mail {outbox_id} (see `cocmail outbox "
                            "list`; sent, cancelled and purged mail cannot be retried)")
    else:
        ids = app.store.outbox_due_again(utcnow(), failed=True)
        if not ids:
            click.echo("no failed mail", err=True)
            return
    dropped = cancel_mail_to_former_members(app.store, app.cfg.staff)  # who left: nothing
    report = app.outbox.deliver_due()
    gone = f", {dropped} cancelled (no longer in [[staff]])" if dropped else ""
    click.echo(f"retried {len(ids)} mail(s): {report.sent} sent, {report.retrying} waiting "
               f"for another attempt, {report.failed} failed again{gone} (`cocmail outbox"
               " list`)", err=True)
