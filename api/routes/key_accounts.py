"""Key accounts: an account manager's worklist and the quarterly key-account report.

Both read the ``account_manager_worklist`` view. The worklist lists the open tickets of the
manager's key customers (grade A/B or key account at intake) and the problem customers flagged
for them; the report gives, per key customer, a quarter's tickets (by quarter of receipt,
business time in Beijing), SLA breaches and satisfaction (satisfied / tickets with a verdict).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser, RuntimeDep
from api.errors import invalid_input
from api.responses import as_json
from api.schemas import ERRORS, Progress
from projections.account_manager_worklist import FLAGS, TICKETS, quarter_report

router = APIRouter(tags=["key accounts"])
VIEW = "account_manager_worklist"
QUARTER = re.compile(r"^\d{4}Q[1-4]$")


class WorklistOut(BaseModel):
    """An account manager's open key-account tickets and flagged problem customers."""

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
    tickets = reader.select(
        VIEW,
        [mine, reader.equals("open", True)],
        '"received_at", "ticket_id"',
        table=TICKETS,
        limit=1000,
    )
    flagged = reader.select(VIEW, [mine], '"quarter" DESC, "customer_id"', table=FLAGS, limit=1000)
    body = {
        "manager": name,
        "at": runtime.now(),
        "projection": reader.progress(VIEW),
        "tickets": tickets,
        "flagged": flagged,
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
        limit=1_000_000,
    )
    body = {
        "quarter": quarter,
        "at": runtime.now(),
        "projection": reader.progress(VIEW),
        "rows": quarter_report(rows),
    }
    return as_json(runtime, body)
