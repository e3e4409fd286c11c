"""``casetrail projections status|rebuild|digest``: look after the read models."""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bootstrap import build_desk, build_followers
from config.settings import Settings
from projections.core import ViewFailure, digest_rows
from projections.due_queries import ViewQueries
from workers.projector import Follower, Projector, adopt_rebuilt, hand_over_to_kafka_feeds
from workers.relay import RELAY_NAME

projections_app = typer.Typer(
    help="Status, rebuild and digest of the read models", no_args_is_help=True
)
console = Console()


def _stopped(failure: ViewFailure) -> str:
    """One line on a view stopped at an event: which event, whose, and the error."""
    return (
        f"[red]{failure.view}[/red] stopped at event {failure.notification_id:,} "
        f"({failure.event} of {failure.originator_id} v{failure.originator_version}): "
        f"{failure.error}"
    )


def _selected(followers: list[Follower], names: list[str] | None) -> list[Follower]:
    if not names:
        return followers
    known = {f.projection.name for f in followers}
    unknown = set(names) - known
    if unknown:
        console.print(
            f"[red]unknown projection(s)[/red]: {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
        raise typer.Exit(code=2)
    return [f for f in followers if f.projection.name in names]


@projections_app.command("status")
def status() -> None:
    """Where each projection stands against the head of the event log."""
    desk = build_desk()
    head = desk.recorder.max_notification_id() or 0
    table = Table(title=f"projections (event log head: {head})")
    for col in ("projection", "version", "position", "lag (events)", "state"):
        table.add_column(col)
    followers = build_followers()
    failures = []
    for f in followers:
        failure = f.recorded_failure
        state = "[green]running[/green]"
        if failure is not None:
            state = f"[red]stopped at event {failure.notification_id:,}[/red]"
            failures.append(failure)
        table.add_row(
            f.projection.name,
            str(f.projection.version),
            f"{f.position:,}",
            f"{head - f.position:,}",
            state,
        )
    console.print(table)
    for failure in failures:
        console.print(
            f"{_stopped(failure)} (at {failure.failed_at:%Y-%m-%d %H:%M:%S} UTC)\n"
            "  the other views go on. Mend the cause, then run `casetrail projections "
            "catch-up` (or restart the projector): the view tries the event again."
        )
    # The view stores are eventsourcing tracking recorders: the relay tracks in the same table.
    tracking: Any = followers[0].store if followers else None
    relayed = tracking.max_tracking_id(RELAY_NAME) if tracking is not None else None
    if relayed is not None:  # the Kafka relay has run against this store
        console.print(f"relay to Kafka: position {relayed}, lag {head - relayed} events")


# Relative CPU cost of rebuilding each view (fold and commit, measured on the bench's data);
# only used to balance ``rebuild --jobs``. A view not listed counts 1.
_REBUILD_COST = {
    "sla_deadlines": 5.0,
    "ticket_timeline": 3.8,
    "worklists": 1.8,
    "department_performance": 1.0,
    "escalation_queue": 0.9,
    "callback_plan": 0.4,
}


def _partition(names: list[str], jobs: int) -> list[list[str]]:
    """Split the views into at most ``jobs`` groups of similar cost (greedy, costliest first)."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(jobs, len(names))))]
    costs = [0.0] * len(groups)
    for name in sorted(names, key=lambda n: -_REBUILD_COST.get(n, 1.0)):
        lightest = costs.index(min(costs))
        groups[lightest].append(name)
        costs[lightest] += _REBUILD_COST.get(name, 1.0)
    return [sorted(g, key=names.index) for g in groups if g]


def rebuild_followers(
    settings: Settings, names: list[str] | None, batch_size: int, jobs: int = 1
) -> tuple[int, float]:
    """Replay the chosen projections beside the live views, then swap; returns (events, s).

    The views are built into shadow tables (``<table>__next``) while the live ones go on
    serving, and swapped in by one transaction only when every one of them replayed the whole
    log. A rebuild that fails (an error, an event a view cannot apply, an interrupt) drops
    its shadow tables and leaves the live views as they were.

    With ``jobs`` > 1 the views are split into that many groups, each replayed by a projector
    of its own in a child process (the views share no tables). Every child reads and decodes
    the whole log: worth it while folding and writing cost more. A view that a Kafka feed
    used is then handed over to it (see :func:`workers.projector.hand_over_to_kafka_feeds`).
    """
    desk = build_desk(settings)
    followers = _selected(build_followers(settings), names)
    chosen = [f.projection.name for f in followers]
    shadows = _selected(build_followers(settings, shadow=True), chosen)
    for f in shadows:
        f.reset()
    head = desk.recorder.max_notification_id() or 0
    if jobs > 1 and settings.backend == "sqlite":
        # One writer at a time in an SQLite file: processes would only queue for its lock.
        console.print("[yellow]--jobs ignored on SQLite[/yellow] (one writer at a time)")
        jobs = 1
    groups = _partition(chosen, jobs)
    started = time.monotonic()
    try:
        with Progress(
            TextColumn("[bold]rebuild[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            tasks = [progress.add_task(", ".join(g), total=head, rate="-") for g in groups]

            def advance(job: int, n: int) -> None:
                elapsed = max(time.monotonic() - started, 1e-6)
                done = progress.tasks[job].completed + n
                progress.update(tasks[job], advance=n, rate=f"{done / elapsed:,.0f}")

            if len(groups) == 1:
                total = Projector(desk, shadows, batch_size=batch_size).catch_up(
                    progress=lambda n: advance(0, n)
                )
            else:
                total = _rebuild_in_processes(settings, groups, batch_size, advance)
                for f in shadows:
                    f.resync()  # the children filled them
        failed = [f for f in shadows if f.failed is not None or f.store.failure() is not None]
        if failed:
            for f in failed:
                failure = f.failed or f.store.failure()
                assert failure is not None
                console.print(_stopped(failure))
            raise RebuildFailed(", ".join(f.projection.name for f in failed))
        adopt_rebuilt(followers, shadows)
    except BaseException:
        _drop(shadows)
        desk.close()
        raise
    seconds = time.monotonic() - started
    ViewQueries.of(followers).ensure_indexes()
    for view, position in hand_over_to_kafka_feeds(desk, followers).items():
        console.print(f"{view}: Kafka feed's applied versions set as of event {position:,}")
    desk.close()
    return total, seconds


class RebuildFailed(Exception):
    """A view could not be rebuilt; the live views are untouched."""


def _drop(shadows: list[Follower]) -> None:
    """Drop a failed rebuild's shadow tables (and their failure records)."""
    for f in shadows:
        try:
            f.store.clear_failure()
            f.store.drop_tables()
        except Exception as error:  # the database may be what failed
            console.print(
                f"[yellow]could not drop {f.projection.name}'s shadow tables[/yellow]: {error}"
            )


def _rebuild_in_processes(
    settings: Settings,
    groups: list[list[str]],
    batch_size: int,
    advance: Callable[[int, int], None],
) -> int:
    """Run one child projector per group; report their progress; fail if any child fails."""
    context = multiprocessing.get_context("spawn")  # no inherited pools or threads
    messages: Any = context.Queue()
    children = [
        context.Process(
            target=_rebuild_part,
            args=(settings, group, batch_size, job, messages, os.getpid()),
            name=f"rebuild-{job}",
        )
        for job, group in enumerate(groups)
    ]
    for child in children:
        child.start()
    totals: dict[int, int] = {}
    failure: str | None = None
    try:
        while len(totals) < len(children) and failure is None:
            try:
                job, n, outcome = messages.get(timeout=0.5)
            except queue.Empty:
                dead = [c for c in children if c.exitcode not in (None, 0)]
                if dead:
                    failure = f"{dead[0].name} died (exit code {dead[0].exitcode})"
                continue
            if isinstance(outcome, str):
                failure = f"rebuild-{job} failed:\n{outcome}"
            elif outcome is not None:
                totals[job] = outcome
            else:
                advance(job, n)
    finally:
        if failure is not None:
            for child in children:
                if child.is_alive():
                    child.terminate()
        for child in children:
            child.join()
    if failure is not None:
        console.print(f"[red]{failure}[/red]")
        raise typer.Exit(code=1)
    return max(totals.values(), default=0)


def _rebuild_part(
    settings: Settings, names: list[str], batch_size: int, job: int, messages: Any, parent: int
) -> None:
    """A child of :func:`_rebuild_in_processes`: catch the (just emptied) views up.

    If the parent dies (even SIGKILL), the child stops after the batch it is on: what it
    committed stands, and ``catch-up`` resumes from there.
    """

    def report(n: int) -> None:
        if os.getppid() != parent:
            raise SystemExit(f"rebuild-{job}: the parent process is gone")
        messages.put((job, n, None))

    try:
        desk = build_desk(settings)
        shadows = _selected(build_followers(settings, shadow=True), names)
        projector = Projector(desk, shadows, batch_size=batch_size)
        total = projector.catch_up(progress=report)
        desk.close()
    except BaseException:
        messages.put((job, 0, traceback.format_exc()))
        raise
    messages.put((job, 0, total))


@projections_app.command("rebuild")
def rebuild(
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Only this projection (repeatable)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Events per transaction")] = 2000,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Rebuild the views in this many processes in parallel (each reads the log)",
        ),
    ] = 1,
) -> None:
    """Replay the whole event log into new views and swap them in; the old ones serve until then.

    A failed rebuild leaves the views as they were. Stop the Kafka-fed members of a view
    before rebuilding it: its feed's applied versions are set to what the rebuild folded, and
    members resumed from their offsets go on from there.
    """
    try:
        total, seconds = rebuild_followers(Settings(), name, batch_size, jobs)
    except RebuildFailed as failed:
        console.print(f"[red]rebuild failed[/red] ({failed}); the live views are unchanged")
        raise typer.Exit(code=1) from None
    console.print(
        f"rebuilt from {total:,} events in {seconds:.1f} s "
        f"({total / max(seconds, 1e-6):,.0f} events/s)"
    )


@projections_app.command("catch-up")
def catch_up_cmd(
    batch_size: Annotated[int, typer.Option(help="Events per transaction")] = 2000,
) -> None:
    """Apply every event not yet projected, resuming from the tracked positions."""
    desk = build_desk()
    projector = Projector(desk, build_followers(), batch_size=batch_size)
    started = time.monotonic()
    total = projector.catch_up()
    seconds = time.monotonic() - started
    console.print(
        f"applied {total:,} events in {seconds:.1f} s ({total / max(seconds, 1e-6):,.0f} events/s)"
    )
    stopped = [f.failed for f in projector.followers if f.failed is not None]
    for failure in stopped:
        console.print(_stopped(failure))
    if stopped:
        raise typer.Exit(code=1)


@projections_app.command("digest")
def digest(
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Only this projection (repeatable)")
    ] = None,
    catch_up: Annotated[bool, typer.Option(help="Apply pending events first")] = True,
) -> None:
    """A stable hash of every view table: equal for a live view and its rebuild."""
    desk = build_desk()
    followers = _selected(build_followers(), name)
    if catch_up:
        Projector(desk, followers).catch_up()
    table = Table(title="view digests")
    for col in ("projection", "table", "rows"):
        table.add_column(col)
    table.add_column("sha256", overflow="fold")
    for f in followers:
        for spec in f.projection.tables:
            rows, sha = digest_rows(spec, f.store.dump(spec))
            table.add_row(f.projection.name, spec.name, str(rows), sha)
    console.print(table)
