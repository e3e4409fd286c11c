"""``casetrail visit plan|approve-plan|report|approve-report``: customer visits (客户走访).

The account manager plans a visit to their customer (a problem customer flagged in a quarter,
or any other), a supervisor approves the plan, the manager reports what was found, a supervisor
approves the report and the visit is archived. Each step is a command through the desk, as over
the API (``POST /api/v1/customers/{id}/visits``, ``/visits/{id}/plan-approval``, ...): the same
rules refuse the same things, by name (only the
customer's own account manager plans and reports, only supervisors approve, a report before
its plan is approved is an illegal transition). ``casetrail account-manager worklist NAME``
shows what awaits a plan or a report.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console

from bootstrap import build_desk
from cli.options import instant_option
from config.settings import Settings
from domain.base import Role
from domain.commands import Command
from domain.customer_visit import ApproveVisitPlan, ApproveVisitReport, PlanVisit, ReportVisit
from domain.desk import Outcome
from domain.errors import DomainError

visit_app = typer.Typer(
    help="Customer visits (客户走访): plan, approve, report, archive", no_args_is_help=True
)
console = Console()

Department = Annotated[str, typer.Option(help="The department of whoever acts")]
Note = Annotated[str, typer.Option(help="The approver's note, for the record")]
Supervisor = Annotated[str, typer.Option(help="The approving supervisor's id")]


def _send(command: Command) -> Outcome:
    """Run ``command`` on the desk; a refusal is printed with its reason and exits 1."""
    desk = build_desk(Settings())
    try:
        return desk.handle(command)
    except DomainError as error:
        console.print(f"[red]refused ({error.code}):[/red] {error.message}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    finally:
        desk.close()


def _said(out: Outcome, step: str) -> None:
    events = ", ".join(out.events) if out.changed else "nothing new (already done)"
    console.print(f"visit {out.id} {step}: {out.state} ({events})", soft_wrap=True)


@visit_app.command("plan")
def plan(
    customer_id: Annotated[UUID, typer.Argument(help="The customer visited")],
    manager: Annotated[str, typer.Option(help="The customer's account manager, who visits")],
    purpose: Annotated[str, typer.Option(help="Why (e.g. 本季度三次投诉，上门了解诉求)")],
    planned_for: Annotated[
        str, typer.Option(help="When, ISO 8601 (without an offset: local business time)")
    ],
    quarter: Annotated[
        str | None, typer.Option(help="The quarter the customer was flagged in, e.g. 2026Q4")
    ] = None,
    department: Department = "marketing",
) -> None:
    """The account manager plans a visit; it awaits a supervisor's approval."""
    settings = Settings()
    out = _send(
        PlanVisit(
            actor_id=manager,
            role=Role.AGENT,
            department=department,
            customer_id=customer_id,
            manager=manager,
            quarter=quarter,
            purpose=purpose,
            planned_for=instant_option(planned_for, "--planned-for", settings),
        )
    )
    _said(out, "planned")


def _approve(step: type[ApproveVisitPlan | ApproveVisitReport], visit_id: UUID, who: str,
             note: str, department: str, said: str) -> None:  # fmt: skip
    out = _send(
        step(
            actor_id=who,
            role=Role.SUPERVISOR,
            department=department,
            visit_id=visit_id,
            note=note,
        )
    )
    _said(out, said)


@visit_app.command("approve-plan")
def approve_plan(
    visit_id: Annotated[UUID, typer.Argument(help="The visit")],
    supervisor: Supervisor,
    note: Note = "",
    department: Department = "marketing",
) -> None:
    """A supervisor approves the visit plan."""
    _approve(ApproveVisitPlan, visit_id, supervisor, note, department, "plan approved")


@visit_app.command("report")
def report(
    visit_id: Annotated[UUID, typer.Argument(help="The visit")],
    manager: Annotated[str, typer.Option(help="The account manager who visited")],
    visited_at: Annotated[
        str, typer.Option(help="When it took place, ISO 8601 (not later than now)")
    ],
    findings: Annotated[str, typer.Option(help="What was found and agreed")],
    department: Department = "marketing",
) -> None:
    """The account manager reports the visit; the report awaits a supervisor's approval."""
    settings = Settings()
    out = _send(
        ReportVisit(
            actor_id=manager,
            role=Role.AGENT,
            department=department,
            visit_id=visit_id,
            manager=manager,
            visited_at=instant_option(visited_at, "--visited-at", settings),
            findings=findings,
        )
    )
    _said(out, "reported")


@visit_app.command("approve-report")
def approve_report(
    visit_id: Annotated[UUID, typer.Argument(help="The visit")],
    supervisor: Supervisor,
    note: Note = "",
    department: Department = "marketing",
) -> None:
    """A supervisor approves the visit report; the visit is archived."""
    _approve(ApproveVisitReport, visit_id, supervisor, note, department, "report approved")
