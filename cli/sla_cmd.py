"""``casetrail sla run --until <ISO-8601>``: drive the SLA clock up to an instant, then exit.

Which clock records the steps depends on the store (:mod:`bootstrap.store`):

* a real store records with the real clock: every step due by ``--until`` is recorded now. An
  ``--until`` after now is refused (exit code 2, nothing recorded): a real store cannot record
  what has not happened yet.
* a store created as a simulation (``casetrail demo``, ``casetrail store init --simulation``)
  records on a simulated clock: each warning, breach and escalation at the instant it fell due,
  as if the SLA clock had been running live (tests, demos, what-if runs). A step due before the
  newest time the store already recorded is refused (exit code 2): recorded times never go
  backwards within a store.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from bootstrap import build_desk, build_projector, build_simulated_desk, system_clock
from bootstrap.store import (
    RecordedTimeWouldGoBack,
    StoreRefusal,
    describe,
    newest_recorded,
    read_store,
)
from cli.options import instant_option
from config.logging import configure
from config.settings import Settings
from domain.desk import Desk
from projections.due_queries import SLA_TABLE, ViewQueries
from workers.sla_clock import ProjectorViews, SimulatedClock, SlaClock

sla_app = typer.Typer(help="The SLA clock: warnings, breaches, escalations", no_args_is_help=True)
console = Console()


@sla_app.callback()
def sla() -> None:
    """The SLA clock: warnings, breaches and escalation steps, each recorded once."""


def run_sla_clock(
    settings: Settings, until: datetime, *, batch_size: int = 500
) -> tuple[SlaClock, int]:
    """The SLA clock over views projected here: every step due by ``until``, recorded with
    the clock the store's kind calls for (see the module docstring); then the views are caught
    up. Returns the clock and how many steps it recorded. ``sla run`` and the demo.

    Raises LookupError when no sla_deadlines view is registered, and
    :class:`bootstrap.store.StoreRefusal` when the store's kind forbids the run.
    """
    desk, clock, newest = _desk_for(settings, until)
    try:
        projector = build_projector(desk, settings)
        queries = ViewQueries.of(projector.followers)
        if not queries.has_table(SLA_TABLE):
            raise LookupError(SLA_TABLE)
        queries.ensure_indexes()
        if newest is not None:
            projector.catch_up()
            _refuse_going_back(queries.next_due(), newest, until)
        sla = SlaClock(desk, ProjectorViews(projector), queries, clock, batch_size=batch_size)
        sent = sla.run_until(until)
        sla.catch_up()
    finally:
        desk.close()
    return sla, sent


def _desk_for(
    settings: Settings, until: datetime
) -> tuple[Desk, Callable[[], datetime], datetime | None]:
    """The desk on the clock the store's kind calls for, that clock, and (on a simulation
    store) the newest time the store recorded; refuses an ``until`` after now on a real one."""
    if read_store(settings).simulation:
        sim = SimulatedClock()
        desk = build_simulated_desk(settings, sim)
        newest = newest_recorded(desk)
        # The simulated clock starts where the store's recorded time stands (an empty store
        # has nothing due: any start will do) and moves on to each due instant from there.
        sim.advance_to(newest or until)
        return desk, sim, newest
    now = system_clock()
    if until > now:
        raise StoreRefusal(
            f"{describe(settings)} is a real store: events are recorded with the real clock; "
            f"--until {until.isoformat()} lies after now "
            f"({now.astimezone(until.tzinfo).isoformat(timespec='seconds')}). Nothing was "
            "recorded."
        )
    return build_desk(settings), system_clock, None


def _refuse_going_back(first: datetime | None, newest: datetime, until: datetime) -> None:
    """A simulation records each step at its due instant: one due before the newest recorded
    time would go back in time, so the run is refused before it records anything."""
    if first is not None and first <= until and first < newest:
        raise RecordedTimeWouldGoBack(
            first.astimezone(until.tzinfo),
            newest.astimezone(until.tzinfo),
            what="the first step due falls due at",
        )


@sla_app.command("run")
def run(
    until: Annotated[str, typer.Option(help="ISO-8601 instant: process everything due by then")],
    batch_size: Annotated[int, typer.Option(help="Due clocks read per query")] = 500,
) -> None:
    """Process every SLA step due up to --until and exit.

    A real store records them now (an --until after now is refused); a simulation store
    records each at its due instant.
    """
    settings = Settings()
    if not structlog.is_configured():
        configure(json=settings.log_json, level="WARNING")  # the table below is the summary
    instant = instant_option(until, "--until", settings)
    try:
        clock, sent = run_sla_clock(settings, instant, batch_size=batch_size)
    except LookupError:
        console.print(f"[red]no {SLA_TABLE} view[/red]: the projection is not registered")
        raise typer.Exit(code=2) from None
    except StoreRefusal as refused:
        console.print(f"[red]refused:[/red] {refused.message}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    queries = clock.queries
    stats = clock.stats
    table = Table(title=f"SLA clock run until {instant.isoformat()}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for action, count in sorted(stats.by_action.items()):
        table.add_row(action, str(count))
    table.add_row("recorded", str(sent))
    table.add_row("recorded at", "each due instant (simulation)" if clock.simulated else "now")
    table.add_row("already recorded", str(stats.already_done))
    table.add_row("stale rows skipped", str(stats.stale))
    table.add_row("conflicts retried", str(stats.conflicts))
    if stats.lateness:
        table.add_row("lateness median (s)", f"{statistics.median(stats.lateness):.3f}")
        table.add_row("lateness max (s)", f"{max(stats.lateness):.3f}")
    console.print(table)
    nxt = queries.next_due()
    console.print(f"next due step: {nxt.isoformat() if nxt else 'none'}")
