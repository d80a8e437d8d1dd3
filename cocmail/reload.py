"""Rereading the config in a running daemon (SIGHUP, `systemctl reload cocmail`).

Why: a member added to the team, a changed template or reminder setting must not need
a restart (a restart drops the IMAP IDLE and the listener's connections, and a team
at a live event does not know when it is safe). What a reload changes: everything the
worker reads per message or per pass (staff and their roles, texts and templates,
the event, [process] reminders and approvals, [security], the digest and retention
settings) and, in the courier, [smtp] (a fixed password). What it cannot change
without a restart: where mail comes from ([imap], [listen]) and where data lives
([storage]); a reload that changes those says so in the log and keeps them.

A config that does not load (a TOML error, an unknown key, a broken template) is
refused as a whole, with one log line naming the key: the running config stays.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from pathlib import Path

from .app import App, event_row
from .config import Config, load_config
from .delivery.outbox import Outbox
from .pipeline import Pipeline, delivery_failed_notice
from .redact import redact_addresses
from .store import cases as cases_db

log = logging.getLogger("cocmail.daemon")

EMBEDDED = "<embedded defaults>"
# Sections read once at start: a reload that changes them says a restart is needed.
RESTART_ONLY = ("imap", "listen", "storage")


def reread(cfg: Config) -> Config:
    """The config file `cfg` came from, loaded and checked again (templates too);
    raises the config's error (a UserError) when it is broken."""
    from .render import Renderer

    new = load_config(Path(cfg.source))
    Renderer(new.templates.dir).check()
    return new


def reload_app(app: App) -> bool:
    """Reread the config into the running `app` (the worker's side); False, with one
    log line, when there is nothing to reread or the new config is refused."""
    if app.cfg.source == EMBEDDED:
        log.warning("reload: no config file (the embedded defaults are in use); nothing "
                    "to reread")
        return False
    try:
        new = reread(app.cfg)
    except Exception as e:  # noqa: BLE001 - any failure: refused, the running config kept
        log.error("reload refused, still running with the previous config: %s",
                  redact_addresses(str(e)) if not isinstance(e, OSError) else e)
        return False
    kept = [name for name in RESTART_ONLY if getattr(new, name) != getattr(app.cfg, name)]
    if kept:
        new = replace(new, **{name: getattr(app.cfg, name) for name in kept})
    old = app.pipeline
    app.cfg = new
    app.pipeline = Pipeline(new, app.store, app.secret, clock=old.clock)
    app.outbox = Outbox(app.store, new.smtp, new.storage.spool_dir, oauth2=new.oauth2,
                        on_failed=partial(delivery_failed_notice, app.pipeline),
                        clock=old.clock)
    app.store.write(cases_db.file_cases_under, event_row(new), old.clock())
    log.info("config reloaded from %s: %d staff member(s), event %r", new.source,
             len(new.staff), new.event.name)
    if kept:
        log.warning("reload: changes to [%s] take effect only when cocmail restarts",
                    "], [".join(kept))
    return True

