"""``casetrail audit replay | what-if``: history replayed beside the live views.

- ``audit replay --as-known-at T [NAME]`` rebuilds every view from the events recorded up to
  ``T`` into a sandbox of its own (a schema on PostgreSQL, a file on SQLite:
  :mod:`bootstrap.sandbox`); ``--list`` lists them with their horizons, ``--drop NAME`` drops
  one. The live views are never touched.
- ``audit what-if --policy FILE --from D --to D`` judges the SLA clocks of the tickets
  received in those days again under a candidate policy catalogue (and calendars), from the
  same recorded facts, and prints which would (not) have breached and the on-time rate per
  department before and after (:mod:`bootstrap.what_if`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bootstrap import sandbox as sandboxes
from cli.audit_cmd import audit_app
from config.settings import Settings

console = Console()


def _instant(value: str, option: str, settings: Settings) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 instant", param_hint=option
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=settings.tz)


def _local(value: datetime | None, settings: Settings) -> str:
    if value is None:
        return "–"
    return value.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S %Z")


# ---------------------------------------------------------------------------- replay


@audit_app.command("replay")
def replay(
    name: Annotated[
        str | None,
        typer.Argument(help="The sandbox's name (default: asof_<horizon, local>)"),
    ] = None,
    as_known_at: Annotated[
        str | None,
        typer.Option(
            "--as-known-at",
            help="ISO-8601 recording horizon: only the events recorded by then (what was known)",
        ),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the sandboxes with their horizons")
    ] = False,
    drop_: Annotated[bool, typer.Option("--drop", help="Drop the sandbox NAME")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per transaction")] = 2000,
) -> None:
    """Rebuild every view as the system knew it at an instant, in a sandbox beside the live ones.

    Only events *recorded* up to --as-known-at are replayed (a fact entered late is left out,
    whenever it happened). The sandbox is a schema (PostgreSQL) or a file (SQLite) of its own;
    the live views are not touched. Read it with `casetrail report departments --sandbox NAME`.
    """
    settings = Settings()
    try:
        if list_:
            _list(settings)
        elif drop_:
            _drop(settings, name)
        elif as_known_at is None:
            raise typer.BadParameter("give --as-known-at (or --list, --drop)")
        else:
            horizon = _instant(as_known_at, "--as-known-at", settings)
            _replay(
                settings, name or sandboxes.default_name(horizon, settings), horizon, batch_size
            )
    except sandboxes.SandboxError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from None


def _replay(settings: Settings, name: str, horizon: datetime, batch_size: int) -> None:
    sandboxes.check_name(name)
    console.print(
        f"replaying the events recorded up to {_local(horizon, settings)} into sandbox "
        f"[bold]{name}[/bold] ({sandboxes.where(settings, name)})"
    )
    with Progress(
        TextColumn("[bold]replay[/bold] as known at " + _local(horizon, settings)),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("log", total=None)

        def progress(read_to: int, head: int) -> None:
            bar.update(task, completed=read_to, total=head)

        done = sandboxes.replay(settings, name, horizon, batch_size=batch_size, progress=progress)
        bar.update(task, completed=done.read, total=done.read)
    console.print(
        f"replayed {done.events:,} events (of {done.read:,} in the log; {done.left_out:,} "
        f"recorded later left out) in {done.seconds:.1f} s "
        f"({done.events / max(done.seconds, 1e-6):,.0f} events/s)"
    )
    console.print(f"sandbox [bold]{name}[/bold]: {done.sandbox.where}")
    console.print(
        "read it with:\n"
        f"  casetrail report departments --sandbox {name} --from <day> --to <day>\n"
        + _how_to_read(settings, name)
        + f"\n  drop it with: casetrail audit replay --drop {name}"
    )


def _how_to_read(settings: Settings, name: str) -> str:
    if settings.backend == "sqlite":
        return f"  sqlite3 {sandboxes.file_of(settings, name)} 'SELECT * FROM sla_deadlines'"
    env = settings.eventsourcing_env()
    return (
        f"  psql -h {env['POSTGRES_HOST']} -p {env['POSTGRES_PORT']} -U {env['POSTGRES_USER']} "
        f"{env['POSTGRES_DBNAME']} -c 'SET search_path = {sandboxes.schema_of(name)}' "
        "-c 'SELECT * FROM sla_deadlines'"
    )


def _list(settings: Settings) -> None:
    found = sandboxes.listed(settings)
    if not found:
        console.print("no sandboxes")
        return
    table = Table(title="audit sandboxes")
    for column in ("name", "as known at", "events", "log head", "built", "where"):
        table.add_column(column)
    for box in found:
        table.add_row(
            box.name,
            _local(box.horizon, settings) if box.complete else "[yellow]incomplete[/yellow]",
            "–" if box.events is None else f"{box.events:,}",
            "–" if box.head is None else f"{box.head:,}",
            _local(box.built_at, settings),
            box.where,
        )
    console.print(table)


def _drop(settings: Settings, name: str | None) -> None:
    if name is None:
        found = sandboxes.listed(settings)
        if len(found) != 1:
            names = ", ".join(b.name for b in found) or "none"
            raise sandboxes.SandboxError(f"name the sandbox to drop (there are: {names})")
        name = found[0].name
    if sandboxes.drop(settings, sandboxes.check_name(name)):
        console.print(f"dropped sandbox {name} ({sandboxes.where(settings, name)})")
    else:
        raise sandboxes.SandboxError(f"no sandbox {name!r} ({sandboxes.where(settings, name)})")
