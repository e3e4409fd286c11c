"""``casetrail customer erase <id> --reason ...``: destroy a customer's personal data.

Crypto-shredding (:mod:`bootstrap.personal`): the erasure is recorded (``CustomerErased``,
naming the customer's tickets), the customer's key is destroyed, the views catch up (they
blank the copies of the name, phone and address they hold) and the store is compacted so no
old row version keeps them. Events, SLA clocks and every department figure stay as they were.
Find a customer's id with ``GET /api/v1/customers?phone=...`` or a ticket's ``customer.id``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bootstrap import build_desk, build_projector
from bootstrap.personal import compact
from config.settings import Settings
from domain import commands as c
from domain.base import Role
from domain.customer import Customer
from domain.errors import DomainError

customer_app = typer.Typer(help="Customers' personal data: erase", no_args_is_help=True)
console = Console()


@customer_app.command("erase")
def erase(
    customer_id: Annotated[UUID, typer.Argument(help="The customer's id")],
    reason: Annotated[
        str,
        typer.Option(help="Why, for the record (e.g. the customer's written request of 11-02)"),
    ],
    actor: Annotated[str, typer.Option(help="Who erases (an administrator's id)")] = "admin",
    department: Annotated[str, typer.Option(help="The administrator's department")] = "marketing",
) -> None:
    """Erase a customer's personal data; every figure stays. Exit code 1 when refused."""
    settings = Settings()
    desk = build_desk(settings)
    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            step = progress.add_task("recording the erasure and destroying the key", total=3)
            try:
                out = desk.handle(
                    c.EraseCustomer(
                        actor_id=actor,
                        role=Role.ADMIN,
                        department=department,
                        customer_id=customer_id,
                        reason=reason,
                    )
                )
            except DomainError as error:
                progress.stop()
                console.print(f"[red]refused ({error.code}):[/red] {error.message}", soft_wrap=True)
                raise typer.Exit(code=1) from None
            progress.update(step, advance=1, description="views blanking their copies")
            projector = build_projector(desk, settings)
            applied = projector.catch_up()
            progress.update(step, advance=1, description="compacting the store")
            rewritten = compact(settings, [f.projection for f in projector.followers])
            progress.update(step, advance=1, description="done")
        customer: Customer = desk.repository.get(customer_id)
        table = Table(title=f"customer {customer_id} erased")
        table.add_column("what")
        table.add_column("result")
        table.add_row("recorded", ", ".join(out.events) or "already erased: key destroyed again")
        table.add_row("tickets blanked", str(len(customer.tickets_erased)))
        table.add_row("events the views applied", f"{applied:,}")
        table.add_row("rewritten", ", ".join(rewritten))
        console.print(table)
    finally:
        desk.close()
