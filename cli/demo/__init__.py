"""``casetrail demo``: a seeded month of 95598 hotline traffic, driven through the real desk.

The county power-supply company of the sources (REQUIREMENTS.md §4.1, [001§6]): five supply
stations, a customer service center (客户服务中心) answering 95598 day and night, a marketing
department, a metering center; on 2026-10-16 营销部 merges (合署) with 乡镇供电所管理部 and
客户服务中心 and four internal teams appear. October 2026 also has the National Day holiday
(1-7 Oct) and a make-up working Saturday (10 Oct), so business-time SLA clocks stand still for a
week and then run on a Saturday.

How it works
------------
* Customers are registered first (residential most, commercial and industrial some, a few
  group key accounts graded A/B/C with an account manager).
* Every ticket is a small *process* (a Python generator) that issues commands and then yields
  the simulated instant it wants to be woken at. A heap orders all wake-ups (and the SLA
  monitor's due instants) globally, so the recording clock handed to the desk never goes
  backwards; business time (``occurred_at``) may lag it when a phone call is logged later.
* The demo needs an empty store and marks it a simulation before the first event
  (``bootstrap.store``): its events are recorded on the simulated month's clock, and
  ``casetrail sla run --until`` goes on recording at due instants there afterwards.
* Everything goes through ``Desk.handle``: no event is written by hand. The SLA monitor asks
  each open ticket for ``due_actions(now)`` at the exact instants its warnings, breaches and
  escalation steps fall due, and sends those commands as the system actor.
* The summary is computed by reading every event back from the store, so its figures are the
  store's truth, not the generator's intentions.

Where it lives
--------------
* ``generator``: the traffic shape, places and names; customers registered, arrivals planned.
* ``scenarios``: the scenario catalogue, one process per ticket kind and the steps they share.
* ``clock``: ``Sim`` (recording clock, wake-up heap, actors, SLA monitor) and the loop.
* ``readback`` and ``printer``: the store's events folded into facts, and the tables printed.
* this module: ``run_demo``, which opens the store and runs the month through them.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from bootstrap import build_simulated_desk
from bootstrap.store import SIMULATION, StoreNotEmpty, mark_store
from cli.demo.clock import Sim, simulate
from cli.demo.generator import KIND_SHARES, plan_traffic, register_customers
from cli.demo.loop import close_the_loop
from cli.demo.printer import DemoResult, render
from cli.demo.readback import pick_samples, read_back
from cli.demo.scenarios import PROCESSES
from config.settings import Settings
from domain.desk import Desk

__all__ = ["KIND_SHARES", "DemoResult", "prepare_store", "run_demo"]


def prepare_store(console: Console, settings: Settings, *, reset: bool, clock: Any) -> Desk:
    """Open the configured store as a new simulation, resetting it only where that is safe;
    refuse a store that holds events."""
    if settings.backend == "sqlite":
        path = settings.sqlite_path
        if reset and str(path) != ":memory:":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            console.print(f"[yellow]reset:[/yellow] deleted the SQLite store {path}")
    try:
        # The month is recorded on a simulated clock: the store says so, from its start.
        mark_store(settings, SIMULATION)
    except StoreNotEmpty as full:
        if settings.backend == "sqlite":
            console.print(
                f"[red]refused:[/red] the store {settings.sqlite_path} already holds "
                f"{full.events:,} events. Run `casetrail demo --reset` to delete it and start "
                "again."
            )
        elif reset:
            console.print(
                f"[red]refused:[/red] the PostgreSQL store holds {full.events:,} events; the demo "
                "never deletes data from a PostgreSQL database. Point CASETRAIL_DATABASE_URL at "
                "an empty database."
            )
        else:
            console.print(
                f"[red]refused:[/red] the PostgreSQL store already holds {full.events:,} events; "
                "the demo needs an empty database (CASETRAIL_DATABASE_URL)."
            )
        raise typer.Exit(code=1) from None
    return build_simulated_desk(settings, clock)


def _month(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=tz)
    except ValueError:
        raise typer.BadParameter(f"month must be YYYY-MM, got {month!r}") from None
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start, end


def run_demo(
    console: Console,
    *,
    reset: bool,
    tickets: int,
    seed: int,
    month: str,
    close_loop: bool = True,
) -> DemoResult:
    """Generate a month of 95598 traffic through the desk and print what the store holds;
    then (``close_loop``) the steps after the month (:mod:`cli.demo.loop`)."""
    began = time.perf_counter()
    if not console.is_terminal and console.width < 160:
        console.width = 160  # a log file or a pipe: room for the department table
    settings = Settings()
    tz = settings.tz
    start, end = _month(month, tz)
    holder: dict[str, Sim] = {}

    def sim_clock() -> datetime:
        return holder["sim"].clock() if "sim" in holder else start.astimezone(UTC)

    desk = prepare_store(console, settings, reset=reset, clock=sim_clock)
    rng = random.Random(seed)
    sim = Sim(desk, rng, tz, start, end, tag=f"demo{seed}-{month}")
    holder["sim"] = sim
    result = DemoResult()
    try:
        console.print(
            f"[b]casetrail demo[/b]: {tickets:,} tickets in {month}, seed {seed}, "
            f"store {settings.backend} ({settings.database_url})"
        )
        customers = max(40, min(400, tickets * 2 // 15))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("customers", total=customers, info="")
            register_customers(sim, customers)
            progress.update(task, completed=customers, info=f"{len(sim.customers)} registered")
            plan = plan_traffic(sim, tickets)
            simulate(sim, plan, PROCESSES, progress)
            result.generate_seconds = time.perf_counter() - began
            read_start = time.perf_counter()
            facts = read_back(desk, progress)
            result.read_seconds = time.perf_counter() - read_start
        result.commands = sim.commands
        result.domain_errors = len(sim.errors)
        result.error_messages = list(sim.errors)
        result.events = facts.events
        result.kinds = dict(facts.kinds)
        result.states = {k: dict(v) for k, v in facts.states.items()}
        result.event_types = dict(facts.event_types)
        result.samples = pick_samples(facts)
        result.elapsed_seconds = time.perf_counter() - began
        render(console, desk, facts, result, month)
        # The same month through the read side: projector, SLA board, department report.
        from cli.board import show_views

        month_end = end - timedelta(seconds=1)
        show_views(
            console, desk, settings, sim.directory, month_end, start.date(), month_end.date()
        )
        result.sla_clock_steps = _sla_clock_check(console, settings, month_end)
        if close_loop:
            result.loop = close_the_loop(console, sim, settings, month, result.event_types)
        _audit_check(console, desk, result)
    finally:
        desk.close()
    return result


def _sla_clock_check(console: Console, settings: Settings, month_end: datetime) -> int:
    """The SLA clock worker over the month, from the views: what is left to send by month end.

    The simulation's monitor asked each ticket for its due steps at their instants (the same
    ``Ticket.due_actions`` the worker uses), so the worker should find nothing left; whatever
    it finds it records at its due instant, like ``casetrail sla run --until`` on this
    simulation store (never before the newest time the month recorded).
    """
    from cli.sla_cmd import run_sla_clock

    _, sent = run_sla_clock(settings, month_end)
    colour = "green" if sent == 0 else "yellow"
    console.print(
        f"[{colour}]SLA clock worker (sla_deadlines view) up to {month_end:%Y-%m-%d %H:%M}: "
        f"{sent} step(s) left to send[/{colour}] — the simulation's monitor sent the rest at "
        "their due instants"
    )
    return sent


def _audit_check(console: Console, desk: Desk, result: DemoResult) -> None:
    """What an auditor checks first: the hash chain over the month, and the sealed data."""
    from bootstrap.chain_store import chain_of, verify
    from bootstrap.personal import TABLE

    started = time.perf_counter()
    check = verify(chain_of(desk.recorder))
    result.chain_checked, result.chain_intact = check.checked, check.ok
    result.store_events = int(desk.recorder.max_notification_id() or 0)
    recorder: Any = desk.recorder  # SQLite or PostgreSQL: a SQL datastore beside the events
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(f'SELECT count(*) AS n FROM "{TABLE}" WHERE "key" IS NOT NULL')
        result.sealed_customers = int(c.fetchone()["n"])
    colour = "green" if check.ok else "red"
    console.print(
        f"[{colour}]audit verify: {check.checked:,} events, hash chain "
        f"{'intact' if check.ok else 'BROKEN'} ({time.perf_counter() - started:.1f} s)"
        f"[/{colour}]; personal data sealed for {result.sealed_customers:,} customers "
        "(casetrail customer erase <id> destroys one's key; every figure stays)"
    )
