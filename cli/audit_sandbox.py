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

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bootstrap import sandbox as sandboxes
from bootstrap.catalogue import CatalogueError
from bootstrap.what_if import candidate_catalogue, what_if
from cli.audit_cmd import audit_app
from cli.options import instant_option
from config.settings import Settings

console = Console()


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
            horizon = instant_option(as_known_at, "--as-known-at", settings)
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


# ---------------------------------------------------------------------------- what-if


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=option) from None


def _rate(on_time: int, judged: int) -> str:
    return "–" if not judged else f"{on_time / judged:.1%} ({on_time}/{judged})"


@audit_app.command("what-if")
def what_if_cmd(
    date_from: Annotated[
        str, typer.Option("--from", help="First local day of receipt, YYYY-MM-DD")
    ],
    date_to: Annotated[str, typer.Option("--to", help="Last local day (included), YYYY-MM-DD")],
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", help="Candidate SLA policy catalogue (TOML, like sla_policies.toml)"
        ),
    ] = None,
    calendars: Annotated[
        Path | None,
        typer.Option("--calendars", help="Candidate calendars (TOML, like calendars.toml)"),
    ] = None,
    judged_at: Annotated[
        str | None,
        typer.Option(
            "--judged-at",
            help="ISO-8601 instant running clocks are judged at (default: the newest recorded)",
        ),
    ] = None,
    show: Annotated[
        int, typer.Option(min=0, help="Flipped clocks listed in the table (0: all; JSON: all)")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """Judge a period's tickets again under a candidate SLA catalogue: who would (not) breach.

    The recorded facts stay (receipt, dispatch, arrival, reply, pauses, with their business
    times); each ticket's policy is matched again in the candidate and its clocks' due
    instants re-derived from the candidate's targets and calendars. Prints the clocks whose
    verdict flips and the on-time rate per department before and after. Nothing is written.
    """
    settings = Settings()
    first, last = _day(date_from, "--from"), _day(date_to, "--to")
    if last < first:
        raise typer.BadParameter("--to lies before --from", param_hint="--to")
    if policy is None and calendars is None:
        raise typer.BadParameter("give a candidate --policy file (or --calendars)")
    at = None if judged_at is None else instant_option(judged_at, "--judged-at", settings)
    try:
        candidate = candidate_catalogue(settings, policy, calendars)
    except CatalogueError as error:
        console.print(f"[red]the candidate does not load[/red]:\n{error}")
        raise typer.Exit(code=2) from None
    with Progress(
        TextColumn("[bold]what-if[/bold] reading the log"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=as_json,
        transient=True,
    ) as bar:
        task = bar.add_task("log", total=None)
        run, live_version = what_if(
            settings,
            candidate,
            first,
            last,
            judged_at=at,
            progress=lambda done, head: bar.update(task, completed=done, total=head),
        )
    summary: dict[str, Any] = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "judged_at": run.judged_at.isoformat(),
        "catalogue": live_version,
        "candidate": candidate.version,
        "candidate_files": [str(p) for p in (policy, calendars) if p is not None],
        "tickets": run.tickets,
        "events": run.events,
        "seconds": round(run.seconds, 3),
        **run.diff.as_json(),
    }
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    _print_what_if(settings, run, summary, show)


def _print_what_if(settings: Settings, run: Any, summary: dict[str, Any], show: int) -> None:
    diff = run.diff
    console.print(
        f"what-if over the tickets received {summary['from']} – {summary['to']}: "
        f"{summary['catalogue']} (live) against {summary['candidate']} "
        f"({', '.join(summary['candidate_files'])}); running clocks judged at "
        f"{_local(run.judged_at, settings)}"
    )
    console.print(
        f"replayed {run.events:,} events of {run.tickets:,} tickets in {run.seconds:.1f} s "
        f"({run.events / max(run.seconds, 1e-6):,.0f} events/s); {diff.compared:,} clocks "
        f"compared"
        + "".join(f"; {n:,} not compared ({why})" for why, n in sorted(diff.not_compared.items()))
    )
    listed = diff.flips if not show else diff.flips[:show]
    flips = Table(
        title=f"would (not) have breached 是否超时: {len(diff.flips)} clocks flip"
        + (f" (the first {len(listed)} by ticket number)" if len(listed) < len(diff.flips) else "")
    )
    for column in ("ticket 工单", "kind", "milestone 节点", "department 部门"):
        flips.add_column(column, no_wrap=True)
    for column in ("due (live) 时限", "due (what-if)", "met/stopped 完成", "change"):
        flips.add_column(column, no_wrap=True)
    for f in listed:
        change = f.change
        colour = "red" if f.after in ("late", "breached") else "green"
        flips.add_row(
            f.number,
            f.kind,
            f.milestone if f.cycle == 1 else f"{f.milestone} #{f.cycle}",
            f.department or "–",
            _short(f.due_at, settings),
            _short(f.what_if_due_at, settings),
            _short(f.stopped_at, settings),
            f"[{colour}]{change}[/{colour}]",
        )
    console.print(flips)
    rates = Table(title="on-time rate per department 按时率 (on time / judged clocks)")
    rates.add_column("department 部门", no_wrap=True)
    for column in ("live 现行", "what-if 拟议", "change"):
        rates.add_column(column, justify="right")
    for r in diff.rates:
        before, after = r.before, r.after
        delta = "–" if before is None or after is None else f"{float(after - before) * 100:+.1f} pp"
        rates.add_row(
            "TOTAL 合计" if r.department == "TOTAL" else r.department,
            _rate(r.on_time_before, r.judged_before),
            _rate(r.on_time_after, r.judged_after),
            delta,
            end_section=r.department != "TOTAL" and r is diff.rates[-2],
        )
    console.print(rates)


def _short(value: datetime | None, settings: Settings) -> str:
    return "–" if value is None else value.astimezone(settings.tz).strftime("%m-%d %H:%M")
