"""The views people work from: worklists, SLA deadlines, the escalation queue.

Each answer carries ``projection: {position, head, lag}`` (the view's last applied event, the
event log's head, the gap) and ``at``, the instant ages and time left are computed at.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.params import FilterValue, InstantQuery, Limit, MinLevel, Offset, parse_instant
from api.reads import Filter
from api.responses import as_json
from api.runtime import Runtime
from api.schemas import ERRORS, ViewPage
from domain.errors import DomainError
from projections.sla_deadlines import clock_named, time_used_and_left

router = APIRouter(tags=["views"])


def _nulls_last(column: str) -> str:
    return f'(CASE WHEN "{column}" IS NULL THEN 1 ELSE 0 END), "{column}"'


def _page(
    runtime: Runtime,
    view: str,
    progress: dict[str, int],
    at: datetime,
    rows: list[dict[str, Any]],
    limit: int,
    offset: int,
) -> JSONResponse:
    body = {
        "view": view,
        "at": at,
        "projection": progress,
        "count": len(rows),
        "limit": limit,
        "offset": offset,
        "rows": rows,
    }
    return as_json(runtime, body)


@router.get("/worklists", response_model=ViewPage, responses=ERRORS)
def worklists(
    user: CurrentUser,
    runtime: RuntimeDep,
    department: FilterValue = None,
    owner: FilterValue = None,
    kind: FilterValue = None,
    state: FilterValue = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> JSONResponse:
    """Open tickets of a department (and the units under it) and/or owner, next deadline first."""
    reader = runtime.reader
    filters: list[Filter] = []
    if department:
        filters.append(reader.department_filter("department", department))
    if owner:
        filters.append(reader.equals("owner", owner))
    if kind:
        filters.append(reader.equals("kind", kind))
    if state:
        filters.append(reader.one_of("state", state.split(",")))
    progress = reader.progress("worklists")
    order = f'{_nulls_last("next_due_at")}, "received_at", "ticket_id"'
    rows = reader.select("worklists", filters, order, limit=limit, offset=offset)
    now = runtime.now()
    for row in rows:
        due = row["next_due_at"]
        row["due_in_seconds"] = None if due is None else int((due - now).total_seconds())
    return _page(runtime, "worklists", progress, now, rows, limit, offset)


@router.get("/sla/deadlines", response_model=ViewPage, responses=ERRORS)
def sla_deadlines(
    user: CurrentUser,
    runtime: RuntimeDep,
    state: FilterValue = None,
    department: FilterValue = None,
    due_before: InstantQuery = None,
    ticket_id: FilterValue = None,
    milestone: FilterValue = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> JSONResponse:
    """SLA clocks (ticket, milestone, cycle), earliest due first, with business time used/left.

    ``state`` is one or more of running, paused, breached, met, late, cancelled (comma
    separated); ``due_before`` an ISO-8601 instant.
    """
    reader = runtime.reader
    filters: list[Filter] = []
    if state:
        filters.append(reader.one_of("state", state.split(",")))
    if department:
        filters.append(reader.department_filter("department", department))
    if due_before is not None:  # an empty value is refused, not read as "no filter"
        at = parse_instant(due_before, "due_before", runtime.settings.tz)
        filters.append(reader.before("sla_deadlines", "due_at", at))
    if ticket_id:
        filters.append(reader.equals("ticket_id", ticket_id))
    if milestone:
        filters.append(reader.equals("milestone", milestone))
    progress = reader.progress("sla_deadlines")
    order = f'{_nulls_last("due_at")}, "ticket_id", "milestone", "cycle"'
    rows = reader.select("sla_deadlines", filters, order, limit=limit, offset=offset)
    now = runtime.now()
    for row in rows:
        row.pop("schedule", None)  # the SLA clock's plan: bulky, and next_action says the gist
        try:
            clock = clock_named(row["clock"], runtime.desk.catalogue.calendar)
            row["used_seconds"], row["left_seconds"] = time_used_and_left(row, clock, now)
        except (DomainError, ValueError):
            row["left_seconds"] = None
    return _page(runtime, "sla_deadlines", progress, now, rows, limit, offset)


@router.get("/escalations", response_model=ViewPage, responses=ERRORS)
def escalations(
    user: CurrentUser,
    runtime: RuntimeDep,
    department: FilterValue = None,
    min_level: MinLevel = 0,
    milestone: FilterValue = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> JSONResponse:
    """Open escalations, highest level first, then oldest; ``age_seconds`` at the desk's now."""
    reader = runtime.reader
    filters: list[Filter] = []
    if department:
        filters.append(reader.department_filter("department", department))
    if min_level:
        filters.append(Filter('"level" >= ?', (min_level,)))
    if milestone:
        filters.append(reader.equals("milestone", milestone))
    progress = reader.progress("escalation_queue")
    order = '"level" DESC, "first_escalated_at", "ticket_id", "milestone", "cycle"'
    rows = reader.select("escalation_queue", filters, order, limit=limit, offset=offset)
    now = runtime.now()
    for row in rows:
        first = row["first_escalated_at"]
        row["age_seconds"] = None if first is None else int((now - first).total_seconds())
    return _page(runtime, "escalation_queue", progress, now, rows, limit, offset)
