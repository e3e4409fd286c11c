"""Key accounts: an account manager's worklist, customer visits, the quarterly report.

The reads use the ``account_manager_worklist`` view. The worklist lists the open tickets of the
manager's key customers (grade A/B or key account at intake), the problem customers flagged for
them (those without a visit plan await one) and their visits awaiting a report; the report
gives, per key customer, a quarter's tickets (by quarter of receipt, business time in Beijing),
SLA breaches and satisfaction (satisfied / tickets with a verdict). Visits (客户走访) are
planned and reported by the account manager and approved by supervisors (plan, then report,
which archives the visit).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser, RuntimeDep
from api.errors import forbidden, invalid_input
from api.reads import Extra, Filter, ViewReader
from api.responses import as_json
from api.routes.command import add_command_route
from api.runtime import Runtime
from api.schemas import ERRORS, Progress
from api.users import User
from domain.base import Role
from domain.customer_visit import (
    ApproveVisitPlan,
    ApproveVisitReport,
    CustomerVisit,
    PlanVisit,
    ReportVisit,
)
from projections.account_manager_worklist import (
    FLAGS,
    NAMES,
    TICKETS,
    VISITS,
    customer_name_sql,
    quarter_report,
)

router = APIRouter(tags=["key accounts"])
VIEW = "account_manager_worklist"
QUARTER = re.compile(r"^\d{4}Q[1-4]$")


def _named(reader: ViewReader) -> list[Extra]:
    """Each row's ``customer_name`` beside its ``customer_id`` (erased: "[erased]")."""
    return [Extra("customer_name", customer_name_sql(reader.table(VIEW, NAMES).name))]


class WorklistOut(BaseModel):
    """An account manager's open key-account tickets and flagged problem customers; every row
    names its customer (``customer_name``) beside the id."""

    manager: str
    at: datetime = Field(description="The desk's now when the worklist was read")
    projection: Progress
    tickets: list[dict[str, Any]] = Field(
        description="Open tickets of the manager's key customers, oldest receipt first; "
        "received_at is the business instant the ticket was received"
    )
    flagged: list[dict[str, Any]] = Field(
        description="Problem customers flagged for the manager, newest quarter first; "
        "flagged_at is the business instant of the complaint that reached the threshold"
    )
    awaiting_visit_plan: list[dict[str, Any]] = Field(
        description="Flagged customers without a visit plan yet (rows as in flagged)"
    )
    visits_awaiting_report: list[dict[str, Any]] = Field(
        description="The manager's visits whose plan is approved and report not yet given; "
        "planned_for and planned_at are business instants"
    )
    visits: list[dict[str, Any]] = Field(
        description="Every visit of the manager's, latest planned first, with its state "
        "(planned: awaiting a supervisor's approval; plan_approved: awaiting the report; "
        "reported: awaiting approval; archived)"
    )


class ManagerOut(BaseModel):
    """An account manager named on customers, with what awaits them."""

    name: str
    open_tickets: int
    flagged: int = Field(description="Problem customers flagged for them (every quarter)")
    visits_open: int = Field(description="Their visits not yet archived")


class ManagersOut(BaseModel):
    """The account managers the view knows, by name."""

    at: datetime = Field(description="The desk's now when the list was read")
    projection: Progress
    managers: list[ManagerOut]


class KeyAccountReportOut(BaseModel):
    """Per key customer: a quarter's tickets, SLA breaches and satisfaction."""

    quarter: str
    at: datetime = Field(description="The desk's now when the report was read")
    projection: Progress
    rows: list[dict[str, Any]]


@router.get("/account-managers/{name}/worklist", response_model=WorklistOut, responses=ERRORS)
def worklist(name: str, user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """Open tickets of the manager's key customers, and problem customers flagged for them."""
    reader = runtime.reader
    mine = reader.equals("manager", name)
    named = _named(reader)
    tickets = reader.select(
        VIEW,
        [mine, reader.equals("open", True)],
        '"received_at", "ticket_id"',
        table=TICKETS,
        extra=named,
        limit=1000,
    )
    flagged = reader.select(
        VIEW, [mine], '"quarter" DESC, "customer_id"', table=FLAGS, extra=named, limit=1000
    )
    awaiting = reader.select(
        VIEW,
        [mine, reader.equals("state", "plan_approved")],
        '"planned_for", "visit_id"',
        table=VISITS,
        extra=named,
        limit=1000,
    )
    visits = reader.select(
        VIEW, [mine], '"planned_at" DESC, "visit_id"', table=VISITS, extra=named, limit=1000
    )
    body = {
        "manager": name,
        "at": runtime.now(),
        "projection": reader.progress(VIEW),
        "tickets": tickets,
        "flagged": flagged,
        "awaiting_visit_plan": [f for f in flagged if f["visit_id"] is None],
        "visits_awaiting_report": awaiting,
        "visits": visits,
    }
    return as_json(runtime, body)


@router.get("/account-managers", response_model=ManagersOut, responses=ERRORS)
def managers(user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """Every account manager the view knows (on a key ticket, a flag or a visit), by name, with
    their open key-account tickets, flagged problem customers and visits not yet archived."""
    reader = runtime.reader
    anyone = Filter('"manager" IS NOT NULL', ())
    tickets = reader.count_by(VIEW, "manager", [anyone, reader.equals("open", True)], table=TICKETS)
    flagged = reader.count_by(VIEW, "manager", [anyone], table=FLAGS)
    visits = reader.count_by(
        VIEW, "manager", [anyone, Filter('"state" <> ?', ("archived",))], table=VISITS
    )
    every = set(reader.count_by(VIEW, "manager", [anyone], table=TICKETS)) | set(flagged)
    every |= set(reader.count_by(VIEW, "manager", [anyone], table=VISITS))
    body = {
        "at": runtime.now(),
        "projection": reader.progress(VIEW),
        "managers": [
            {
                "name": name,
                "open_tickets": tickets.get(name, 0),
                "flagged": flagged.get(name, 0),
                "visits_open": visits.get(name, 0),
            }
            for name in sorted(every)
        ],
    }
    return as_json(runtime, body)


@router.get("/reports/key-accounts", response_model=KeyAccountReportOut, responses=ERRORS)
def key_account_report(
    user: CurrentUser,
    runtime: RuntimeDep,
    quarter: Annotated[str, Query(description="A quarter of business time, e.g. 2026Q4")],
) -> JSONResponse:
    """Per key customer: the quarter's tickets, breaches and satisfaction (季度大客户评估)."""
    if not QUARTER.match(quarter):
        raise invalid_input("quarter", f"{quarter!r} is not a quarter like 2026Q4")
    reader = runtime.reader
    rows = reader.select(
        VIEW,
        [reader.equals("quarter", quarter)],
        '"customer_id", "ticket_id"',
        table=TICKETS,
        extra=_named(reader),
        limit=1_000_000,
    )
    body = {
        "quarter": quarter,
        "at": runtime.now(),
        "projection": reader.progress(VIEW),
        "rows": quarter_report(rows),
    }
    return as_json(runtime, body)


# ---------------------------------------------------------------- visits


class VisitOut(BaseModel):
    """A customer visit as it stands after the command."""

    id: str
    number: str
    kind: str
    state: str
    version: int
    customer_id: str
    manager: str
    quarter: str | None
    purpose: str
    planned_for: datetime = Field(description="Business time the visit is planned for")
    visited_at: datetime | None = Field(
        description="Business time the visit took place (once reported)"
    )
    findings: str
    changed: bool
    events: list[str]


def visit_outcome(visit: CustomerVisit, events: Any, changed: bool) -> dict[str, Any]:
    return {
        "id": str(visit.id),
        "number": visit.number,
        "kind": "customer_visit",
        "state": visit.state.value,
        "version": visit.version,
        "customer_id": visit.customer_id,
        "manager": visit.manager,
        "quarter": visit.quarter,
        "purpose": visit.purpose,
        "planned_for": visit.planned_for,
        "visited_at": visit.visited_at,
        "findings": visit.findings,
        "changed": changed,
        "events": list(events),
    }


def _works_visits(runtime: Runtime, user: User, _: UUID | None) -> None:
    if user.role not in (Role.AGENT, Role.SUPERVISOR):
        raise forbidden(f"role {user.role.value} may not plan or report customer visits")


def _approves(runtime: Runtime, user: User, _: UUID | None) -> None:
    if user.role is not Role.SUPERVISOR:
        raise forbidden(f"role {user.role.value} may not approve visits (supervisors only)")


post = partial(add_command_route, router, present=visit_outcome, response_model=VisitOut)
post(
    "/customers/{customer_id}/visits",
    PlanVisit,
    name="plan_visit",
    address="customer_id",
    authorise=_works_visits,
    doc="The account manager plans a visit to their customer (客户走访计划).",
)
post(
    "/visits/{visit_id}/plan-approval",
    ApproveVisitPlan,
    name="approve_visit_plan",
    address="visit_id",
    authorise=_approves,
    doc="A supervisor approves the visit plan.",
)
post(
    "/visits/{visit_id}/report",
    ReportVisit,
    name="report_visit",
    address="visit_id",
    authorise=_works_visits,
    doc="The account manager reports the visit: when, and what was found.",
)
post(
    "/visits/{visit_id}/report-approval",
    ApproveVisitReport,
    name="approve_visit_report",
    address="visit_id",
    authorise=_approves,
    doc="A supervisor approves the visit report; the visit is archived.",
)
