"""``casetrail audit verify | anchor | export``: the tamper-evident chain over the events.

- ``verify`` re-checks every stored event's hashes in store order (:mod:`bootstrap.chain`)
  against the anchors and the last clean verification recorded in the store, and against
  anchors kept outside (``--anchors FILE``); it records what it found (the auditor page shows
  it) and exits 0 when clean, 1 when a link is broken, naming the first: aggregate, version,
  store position. ``verify --file EXPORT`` checks a ticket's export instead (nothing recorded).
- ``anchor`` records the store's head (position and chain hash) and prints it as one JSON line:
  ``casetrail audit anchor >> anchors.jsonl`` on a schedule (say daily) keeps the anchors
  outside the system; ``--list`` prints every anchor recorded in the store the same way.
- ``export --ticket ID|NUMBER`` writes a ticket's whole history as JSON Lines, each event with
  its hashes: checkable offline with the standard-library snippet in :mod:`bootstrap.chain`.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from bootstrap import build_desk, build_followers
from bootstrap.chain import CHAIN_VERSION, Anchor, Verifier, describe, export_lines, verify_export
from bootstrap.chain_store import chain_of, check_aggregate, verify
from cli.audit_cmd import audit_app
from config.settings import Settings
from projections.ticket_search import TICKETS, TicketSearch

console = Console()
err = Console(stderr=True)
BROKEN = 1  # exit code of a broken chain (2 and up: usage errors, unreadable files)
SHOWN_BREAKS = 10


class _Rate(ProgressColumn):
    """Events checked per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} events/s", style="progress.data.speed")


def _report(check: Verifier, what: str) -> None:
    """Say what a check found; exit 1 when a link is broken."""
    if check.ok:
        console.print(
            f"[green]chain intact[/green]: {what}: {check.checked:,} events verified, "
            f"up to position {check.position:,} (head {check.head.hex()})"
        )
        return
    first = check.first
    assert first is not None
    console.print(
        f"[red]chain broken[/red]: {what}: {check.broken:,} broken link(s) in "
        f"{check.checked:,} events; the first at {describe(first)}",
        soft_wrap=True,
    )
    for b in check.breaks[1:SHOWN_BREAKS]:
        console.print(f"  then {describe(b)}", soft_wrap=True)
    if check.broken > SHOWN_BREAKS:
        console.print(f"  ... and {check.broken - SHOWN_BREAKS:,} more")
    raise typer.Exit(code=BROKEN)


def _read_anchors(path: Path) -> list[tuple[Anchor, str]]:
    """Anchors kept outside: JSON Lines as ``audit anchor`` prints them (blank and ``#`` lines
    skipped)."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            anchor = Anchor.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError) as error:
            err.print(f"[red]{path}:{number}[/red]: not an anchor: {error}")
            raise typer.Exit(code=2) from None
        found.append((anchor, f"the anchor kept in {path.name} (line {number})"))
    return found


@audit_app.command("verify")
def verify_command(
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            exists=True,
            dir_okay=False,
            help="Anchors kept outside the system (JSON Lines from `audit anchor`): the store "
            "must still hold each one's chain hash at its position",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            exists=True,
            dir_okay=False,
            help="Check a ticket's export (from `audit export`) instead of the store",
        ),
    ] = None,
    record: Annotated[
        bool, typer.Option(help="Record the result in the store (the auditor page shows it)")
    ] = True,
) -> None:
    """Re-check the hash chain of every stored event; name the first broken link.

    Exit code 0: intact. 1: a row was altered, removed or moved (aggregate, version and store
    position of the first broken link are printed).
    """
    if file is not None:
        with file.open(encoding="utf-8") as lines:
            header, check = verify_export(lines)
        ticket = header.get("number") or header.get("ticket_id") or file.name
        _report(check, f"export of ticket {ticket}")
        return
    settings = Settings()
    kept = _read_anchors(anchors) if anchors is not None else []
    desk = build_desk(settings)  # a store made before the chain is hashed here, once
    try:
        chain = chain_of(desk.recorder)
        with Progress(
            TextColumn("[bold]verifying[/bold] the chain"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeRemainingColumn(),
            console=err,
            transient=not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task("chain", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            check = verify(chain, anchors=kept, progress=advance, record=record)
    finally:
        desk.close()
    _report(check, "the store")


@audit_app.command("anchor")
def anchor_command(
    list_: Annotated[
        bool,
        typer.Option("--list", help="Print every anchor recorded in the store instead"),
    ] = False,
) -> None:
    """Record the store's head (position, chain hash) as an anchor and print it as JSON.

    Keep the printed lines outside the system (``casetrail audit anchor >> anchors.jsonl``,
    daily say); ``audit verify --anchors anchors.jsonl`` then proves the store still holds them.
    Every 10,000 positions the store also records an anchor by itself (``--list`` shows all).
    """
    desk = build_desk(Settings())
    try:
        chain = chain_of(desk.recorder)
        found = chain.anchors() if list_ else [chain.record_anchor()]
    finally:
        desk.close()
    for anchor in found:
        typer.echo(json.dumps(anchor.as_dict()))


def _ticket_id(text: str, settings: Settings) -> UUID:
    """A ticket by its id, or by its number (looked up in the ticket_search view)."""
    try:
        return UUID(text)
    except ValueError:
        pass
    (follower,) = build_followers(settings, [TicketSearch()])
    param = "?" if settings.backend == "sqlite" else "%s"
    store: Any = follower.store
    with store.datastore.transaction(commit=False) as c:
        c.execute(f'SELECT ticket_id FROM "{TICKETS}" WHERE number = {param}', (text.upper(),))
        row = c.fetchone()
    if row is None:
        err.print(
            f"[red]no ticket numbered {text}[/red] in the ticket_search view (give the ticket's "
            "id, or let the projector catch up)"
        )
        raise typer.Exit(code=2)
    return UUID(str(row["ticket_id"]))


@audit_app.command("export")
def export_command(
    ticket: Annotated[str, typer.Option("--ticket", help="The ticket's id or number")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: standard output)")
    ] = None,
) -> None:
    """Write a ticket's whole history as JSON Lines, each event with its chain hashes.

    Check it offline with the procedure in the README (a few lines of standard-library
    Python), or with ``casetrail audit verify --file``.
    """
    settings = Settings()
    ident = _ticket_id(ticket, settings)
    desk = build_desk(settings)
    try:
        chain = chain_of(desk.recorder)
        rows = chain.aggregate_rows(ident)
        if not rows:
            err.print(f"[red]no events of ticket {ticket}[/red] in the store")
            raise typer.Exit(code=2)
        number = getattr(desk.repository.get(ident), "number", None)
        head_position, head_hash = chain.head()
    finally:
        desk.close()
    live = check_aggregate(rows)
    header = {
        "chain_version": CHAIN_VERSION,
        "ticket_id": str(ident),
        "number": number,
        "events": len(rows),
        "exported_at": datetime.now(tz=UTC).isoformat(),
        "store_head": {"position": head_position, "chain_hash": head_hash.hex()},
        "checked_on_export": live.ok,
    }
    lines = export_lines(header, rows)
    if out is None:
        for line in lines:
            typer.echo(line)
    else:
        with out.open("w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        err.print(f"{len(rows)} events of ticket {number} written to {out}")
    if not live.ok and live.first is not None:
        err.print(f"[red]warning[/red]: the ticket's chain is broken: {describe(live.first)}")
