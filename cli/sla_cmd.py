"""``casetrail sla run --until <ISO-8601>``: drive the SLA clock up to an instant, then exit.

By default the clock is simulated: the desk records each warning, breach and escalation at the
instant it fell due, as if the SLA clock had been running live (tests, demos, what-if runs).
With ``--from-now`` the simulated clock starts at the wall clock: steps already due are recorded
now (catching up a backlog), later ones (up to ``--until``) at their due instants.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from bootstrap import build_desk, build_projector, system_clock
from config.logging import configure
from config.settings import Settings
from projections.due_queries import SLA_TABLE, ViewQueries
from workers.sla_clock import ProjectorViews, SimulatedClock, SlaClock

sla_app = typer.Typer(help="The SLA clock: warnings, breaches, escalations", no_args_is_help=True)
console = Console()


@sla_app.callback()
def sla() -> None:
    """The SLA clock: warnings, breaches and escalation steps, each recorded once."""


def parse_instant(value: str, settings: Settings) -> datetime:
    """ISO-8601; without an offset it is local time in the configured timezone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO-8601 instant: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.tz)
    return parsed


def run_simulated(
    settings: Settings,
    until: datetime,
    *,
    start: datetime | None = None,
    batch_size: int = 500,
) -> tuple[SlaClock, int]:
    """The SLA clock on a simulated clock over views projected here: every step due by
    ``until``, each recorded at its due instant (from ``start`` on, if given); then the views
    are caught up. Returns the clock and how many steps it recorded. ``sla run`` and the demo.

    Raises LookupError when no sla_deadlines view is registered.
    """
    sim = SimulatedClock(start)
    desk = build_desk(settings, clock=sim)
    try:
        projector = build_projector(desk, settings)
        queries = ViewQueries.of(projector.followers)
        if not queries.has_table(SLA_TABLE):
            raise LookupError(SLA_TABLE)
        queries.ensure_indexes()
        clock = SlaClock(desk, ProjectorViews(projector), queries, sim, batch_size=batch_size)
        sent = clock.run_until(until)
        clock.catch_up()
    finally:
        desk.close()
    return clock, sent


@sla_app.command("run")
def run(
    until: Annotated[str, typer.Option(help="ISO-8601 instant: process everything due by then")],
    from_now: Annotated[
        bool,
        typer.Option(
            "--from-now",
            help="Start the clock at the wall clock (record past-due steps now) "
            "instead of recording each step at its due instant",
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Due clocks read per query")] = 500,
) -> None:
    """Process every SLA step due up to --until and exit."""
    settings = Settings()
    if not structlog.is_configured():
        configure(json=settings.log_json, level="WARNING")  # the table below is the summary
    instant = parse_instant(until, settings)
    try:
        clock, sent = run_simulated(
            settings,
            instant,
            start=system_clock() if from_now else None,
            batch_size=batch_size,
        )
    except LookupError:
        console.print(f"[red]no {SLA_TABLE} view[/red]: the projection is not registered")
        raise typer.Exit(code=2) from None
    queries = clock.queries
    stats = clock.stats
    table = Table(title=f"SLA clock run until {instant.isoformat()}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for action, count in sorted(stats.by_action.items()):
        table.add_row(action, str(count))
    table.add_row("recorded", str(sent))
    table.add_row("already recorded", str(stats.already_done))
    table.add_row("stale rows skipped", str(stats.stale))
    table.add_row("conflicts retried", str(stats.conflicts))
    if stats.lateness:
        table.add_row("lateness median (s)", f"{statistics.median(stats.lateness):.3f}")
        table.add_row("lateness max (s)", f"{max(stats.lateness):.3f}")
    console.print(table)
    nxt = queries.next_due()
    console.print(f"next due step: {nxt.isoformat() if nxt else 'none'}")
