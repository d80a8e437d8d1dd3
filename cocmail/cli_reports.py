"""The commands that read the record: `cases list/show`, `report`, `digest`, `people`,
`check-attendees`, `stats` and `transparency`. Thin click wrappers over views.py and its
kin; cli.py imports this module, which registers them on its group."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from .cli import State, chosen_events, command, config_option, debug_option, event_options, main
from .errors import UserError


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


@command(cases_group, "attachments")
@click.argument("number", type=int)
@click.option("-o", "--output", "directory", type=click.Path(file_okay=False), default=None,
              help="Save them into this directory (created 0700 if missing; files 0600).")
def cases_attachments(state: State, number: int, directory: str | None) -> None:
    """The files that came with case N's mail; with -o DIR, save them there (as they
    came, metadata included; never overwriting a file)."""
    from .evidence_files import case_files, save_files
    from .store import cases as cases_db

    app = state.app()
    if app.store.read(cases_db.load_case, number) is None:
        raise UserError(f"no case #{number}")
    files = case_files(app, number)
    if directory is None:
        for f in files:
            click.echo(f.line())
        if not files:
            click.echo(f"case #{number} has no attachments")
        return
    for f, path in zip(files, save_files(files, Path(directory)), strict=True):
        click.echo(f"saved {path}  ({f.line()})")
    click.echo(f"saved {len(files)} file(s) of case #{number} into {directory}", err=True)


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
@click.option("--on", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              metavar="YYYY-MM-DD",
              help="Say whether sanctions with an end are in force on this day "
                   "(default: today), e.g. the first day of the event.")
def check_attendees_cmd(state: State, file: str, on: datetime | None) -> None:
    """Attendees (CSV with name,email) named in earlier cases with a warning or worse."""
    from .views import check_attendees

    hits = check_attendees(state.app(), Path(file), on.date() if on else None)
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

