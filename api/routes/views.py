"""The views people work from: worklists, SLA deadlines, the escalation queue.

Each answer carries ``projection: {position, head, lag}`` (the view's last applied event, the
event log's head, the gap) and ``at``, the instant ages and time left are computed at.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.params import FilterValue, InstantQuery, Limit, MinLevel, Offset, parse_instant
from api.reads import Filter
from api.replays import Busy
from api.responses import as_json
from api.runtime import Runtime
from api.schemas import ERRORS, ViewPage
from domain.errors import DomainError
from projections.sla_deadlines import TABLE, SlaDeadlines, clock_named, time_used_and_left

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
    at: InstantQuery = None,
    as_known_at: InstantQuery = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> JSONResponse:
    """SLA clocks (ticket, milestone, cycle), earliest due first, with business time used/left.

    ``state`` is one or more of running, paused, breached, met, late, cancelled (comma
    separated); ``due_before`` an ISO-8601 instant. On two time axes (replayed, not from the
    live view): ``as_known_at`` gives the clocks as the SLA monitor saw them then (the events
    recorded by that instant), ``at`` as they truly stood at that business instant (the
    events that had happened by then, late entries included); both together, the state at
    ``at`` as known at ``as_known_at``. Time used and left are taken at that instant.
    """
    tz = runtime.settings.tz
    if at is not None or as_known_at is not None:
        return _deadlines_then(
            runtime,
            None if at is None else parse_instant(at, "at", tz),
            None if as_known_at is None else parse_instant(as_known_at, "as_known_at", tz),
            {"state": state, "department": department, "ticket_id": ticket_id},
            milestone,
            None if due_before is None else parse_instant(due_before, "due_before", tz),
            (limit, offset),
        )
    reader = runtime.reader
    filters: list[Filter] = []
    if state:
        filters.append(reader.one_of("state", state.split(",")))
    if department:
        filters.append(reader.department_filter("department", department))
    if due_before is not None:  # an empty value is refused, not read as "no filter"
        due = parse_instant(due_before, "due_before", tz)
        filters.append(reader.before("sla_deadlines", "due_at", due))
    if ticket_id:
        filters.append(reader.equals("ticket_id", ticket_id))
    if milestone:
        filters.append(reader.equals("milestone", milestone))
    progress = reader.progress("sla_deadlines")
    order = f'{_nulls_last("due_at")}, "ticket_id", "milestone", "cycle"'
    rows = reader.select("sla_deadlines", filters, order, limit=limit, offset=offset)
    now = runtime.now()
    _timed(runtime, rows, now)
    return _page(runtime, "sla_deadlines", progress, now, rows, limit, offset)


def _timed(runtime: Runtime, rows: list[dict[str, Any]], at: datetime) -> None:
    """Each clock row with its business time used and left at ``at``, less its schedule."""
    for row in rows:
        row.pop("schedule", None)  # the SLA clock's plan: bulky, and next_action says the gist
        try:
            clock = clock_named(row["clock"], runtime.desk.catalogue.calendar)
            row["used_seconds"], row["left_seconds"] = time_used_and_left(row, clock, at)
        except (DomainError, ValueError):
            row["left_seconds"] = None


def _deadlines_then(
    runtime: Runtime,
    at: datetime | None,
    as_known_at: datetime | None,
    equal: dict[str, str | None],
    milestone: str | None,
    due_before: datetime | None,
    page: tuple[int, int],
) -> JSONResponse:
    """``/sla/deadlines`` replayed on the business axis (``at``) and/or the recording axis."""
    projection = SlaDeadlines()
    replays = runtime.guards.replays
    try:
        if at is not None:
            rows = replays.rows_at(runtime.desk, projection, at, as_known_at)
        else:
            assert as_known_at is not None
            rows = replays.rows_as_of(runtime.desk, projection, as_known_at)
    except Busy as busy:
        return busy.response()
    states = set((equal["state"] or "").split(",")) - {""}
    department = equal["department"]

    def wanted(row: dict[str, Any]) -> bool:
        held = row["department"] or ""
        return (
            (not states or row["state"] in states)
            and (not department or held == department or held.startswith(department + "."))
            and (not equal["ticket_id"] or row["ticket_id"] == equal["ticket_id"])
            and (not milestone or row["milestone"] == milestone)
            and (due_before is None or (row["due_at"] is not None and row["due_at"] <= due_before))
        )

    found = [r for r in rows.dump(projection.table(TABLE)) if wanted(r)]
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(key=lambda r: (r["due_at"] or far, r["ticket_id"], r["milestone"], r["cycle"]))
    limit, offset = page
    chosen = found[offset : offset + limit]
    when = at or as_known_at
    assert when is not None
    _timed(runtime, chosen, when)
    head = int(runtime.desk.recorder.max_notification_id() or 0)
    progress = {"position": head, "head": head, "lag": 0}
    return _page(runtime, "sla_deadlines", progress, when, chosen, limit, offset)


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
