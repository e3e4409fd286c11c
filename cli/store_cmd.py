"""``casetrail store init [--simulation]`` and ``casetrail store show``: the store's kind.

A store is *real* (events recorded with the real clock; the default, and what a store without a
mark is) or *created as a simulation* (events may be recorded on a simulated clock: the demo,
tests, what-if runs). The kind is chosen while the store is empty and fixed from its first
event on (:mod:`bootstrap.store`).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from bootstrap import build_desk, store
from config.settings import Settings

store_app = typer.Typer(help="The store's kind: real, or a simulation", no_args_is_help=True)
console = Console()


@store_app.command("init")
def init(
    simulation: Annotated[
        bool,
        typer.Option(
            "--simulation",
            help="A store for simulated time (tests, what-if runs): `sla run --until` records "
            "each step at its due instant. Only on an empty store.",
        ),
    ] = False,
) -> None:
    """Create the store's tables and write its kind (real unless --simulation).

    On a store that already holds events the kind is fixed: asking for the kind it has is
    harmless, asking for the other is refused (exit code 2) and changes nothing.
    """
    settings = Settings()
    wanted = store.SIMULATION if simulation else store.REAL
    where = store.describe(settings)
    facts = store.read_store(settings)
    if facts.events and facts.kind == wanted:
        console.print(f"{where} is a {wanted} store already ({facts.events:,} events)")
        return
    try:
        store.mark_store(settings, wanted)
    except store.StoreNotEmpty as full:
        console.print(f"[red]refused:[/red] {full.message}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    build_desk(settings).close()  # the event store's own tables
    console.print(f"{where} is now an empty {wanted} store")


@store_app.command("show")
def show() -> None:
    """The store's kind, how many events it holds and the newest time it recorded."""
    settings = Settings()
    facts = store.read_store(settings)
    newest = None
    if facts.events:
        desk = build_desk(settings)
        try:
            newest = store.newest_recorded(desk)
        finally:
            desk.close()
    how = "simulated clock allowed" if facts.simulation else "real clock only"
    default = "" if facts.marked else " (no mark: real by default)"
    console.print(f"{store.describe(settings)}: {facts.kind} store{default}, {how}")
    console.print(f"events: {facts.events:,}")
    when = newest.astimezone(settings.tz).isoformat() if newest else "none"
    console.print(f"newest recorded time: {when}")
