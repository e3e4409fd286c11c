"""The views people work from: worklists, SLA deadlines, the escalation queue, the SLA summary.

Each answer carries ``projection: {position, head, lag}`` (the view's last applied event, the
event log's head, the gap) and ``at``, the instant ages and time left are computed at. The SLA
deadlines and the escalation queue also say how many rows their filters match in all
(``total``), so a board shows 611 breaches, not the 100 of its page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser, RuntimeDep
from api.params import (
    MAX_LEVEL,
    FilterValue,
    InstantQuery,
    Limit,
    MinLevel,
    Offset,
    parse_instant,
)
from api.reads import Filter, ViewReader
from api.replays import Busy
from api.responses import as_json
from api.runtime import Runtime
from api.schemas import ERRORS, Progress, ViewPage
from domain.errors import DomainError
from projections.escalation_queue import QUEUE, EscalationQueue
from projections.outages import CALLS, INCIDENTS
from projections.sla_deadlines import (
    TABLE,
    SlaDeadlines,
    clock_named,
    time_used_and_left,
)

router = APIRouter(tags=["views"])
CLOCK_STATES = ("running", "paused", "breached", "met", "late", "cancelled")
AT_RISK_SECONDS = 3600

Level = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_LEVEL,
        description="Only this escalation level (the highest reached; 0: breached or running, "
        "not escalated).",
    ),
]
DeadlineSort = Annotated[
    Literal["due_at", "-breached_at"],
    Query(
        description="A column, '-' first for descending. due_at: earliest due first, i.e. "
        "least time left first (clocks without a due instant, paused or stopped, last); "
        "-breached_at: the latest breached first (clocks never breached last). Ties go by "
        "ticket id, milestone, cycle.",
    ),
]
EscalationSort = Annotated[
    Literal["-level,first_escalated_at", "-level,-last_escalated_at", "-last_escalated_at"],
    Query(
        description="Columns, '-' first for descending. -level,first_escalated_at: highest "
        "level first, then the longest open; -level,-last_escalated_at: highest level first, "
        "then the latest escalated or breached; -last_escalated_at: the latest escalated or "
        "breached first, whatever the level. Ties go by ticket id, milestone, cycle.",
    ),
]
AtRiskSeconds = Annotated[
    int,
    Query(
        ge=60,
        le=7 * 86_400,
        description="A running clock due within this many seconds of now counts as at risk "
        "(60 s to 7 days).",
    ),
]


class CountedPage(ViewPage):
    """A page of a view and how many rows its filters match in all."""

    total: int = Field(description="Rows the filters match in all (every page together)")


class LevelCount(BaseModel):
    """Open escalations at one level."""

    level: int
    count: int


class SlaSummary(BaseModel):
    """What the SLA board's tiles show, counted in the views with the board's filters."""

    at: datetime = Field(description="The instant at-risk is measured from (the desk's now)")
    projection: dict[str, Progress] = Field(description="sla_deadlines and escalation_queue")
    states: dict[str, int] = Field(
        description="SLA clocks by state: running, paused, breached, met, late, cancelled"
    )
    at_risk: int = Field(description="Running clocks due within at_risk_seconds (or overdue)")
    at_risk_seconds: int
    escalations: int = Field(description="Open escalations (breached or escalated clocks)")
    levels: list[LevelCount] = Field(description="Open escalations by level, highest first")


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
    total: int | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "view": view,
        "at": at,
        "projection": progress,
        "count": len(rows),
        "limit": limit,
        "offset": offset,
        "rows": rows,
    }
    if total is not None:
        body["total"] = total
    return as_json(runtime, body)


def _clock_filters(
    reader: ViewReader,
    department: str | None,
    kind: str | None,
    milestone: str | None,
    level: tuple[str, int | None],
) -> list[Filter]:
    """The board's filters, shared by the deadlines, the queue and the summary: a department
    and the units under it, a kind, a milestone, a level (``level`` names its column)."""
    filters: list[Filter] = []
    if department:
        filters.append(reader.department_filter("department", department))
    if kind:
        filters.append(reader.equals("kind", kind))
    if milestone:
        filters.append(reader.equals("milestone", milestone))
    column, value = level
    if value is not None:
        filters.append(reader.equals(column, value))
    return filters


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


@router.get("/sla/deadlines", response_model=CountedPage, responses=ERRORS)
def sla_deadlines(
    user: CurrentUser,
    runtime: RuntimeDep,
    state: FilterValue = None,
    department: FilterValue = None,
    due_before: InstantQuery = None,
    ticket_id: FilterValue = None,
    milestone: FilterValue = None,
    kind: FilterValue = None,
    level: Level = None,
    sort: DeadlineSort = "due_at",
    at: InstantQuery = None,
    as_known_at: InstantQuery = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> JSONResponse:
    """SLA clocks (ticket, milestone, cycle) with business time used/left, one page of
    ``total``; earliest due first, or (``sort=-breached_at``) the latest breached first.

    ``state`` is one or more of running, paused, breached, met, late, cancelled (comma
    separated); ``department`` takes the units under it too; ``due_before`` an ISO-8601 instant;
    ``level`` the highest escalation level reached. Each row says when its clock was breached
    (``breached_at``, business time; null if it was not) and the outage incident its ticket is
    linked to now (``outage``: id, number, state, calls linked; null if none, and on the
    replayed axes). On two time axes (replayed, not from the live view): ``as_known_at`` gives
    the clocks as the SLA monitor saw them then (the events recorded by that instant), ``at``
    as they truly stood at that business instant (the events that had happened by then, late
    entries included); both together, the state at ``at`` as known at ``as_known_at``. Time
    used and left are taken at that instant.
    """
    tz = runtime.settings.tz
    if at is not None or as_known_at is not None:
        return _deadlines_then(
            runtime,
            None if at is None else parse_instant(at, "at", tz),
            None if as_known_at is None else parse_instant(as_known_at, "as_known_at", tz),
            {"state": state, "department": department, "ticket_id": ticket_id, "kind": kind},
            milestone,
            None if due_before is None else parse_instant(due_before, "due_before", tz),
            (limit, offset),
            level,
            sort,
        )
    reader = runtime.reader
    filters = _clock_filters(reader, department, kind, milestone, ("escalation_level", level))
    if state:
        filters.append(reader.one_of("state", state.split(",")))
    if due_before is not None:  # an empty value is refused, not read as "no filter"
        due = parse_instant(due_before, "due_before", tz)
        filters.append(reader.before("sla_deadlines", "due_at", due))
    if ticket_id:
        filters.append(reader.equals("ticket_id", ticket_id))
    progress = reader.progress("sla_deadlines")
    if sort == "-breached_at":
        order = '(CASE WHEN "breached_at" IS NULL THEN 1 ELSE 0 END), "breached_at" DESC'
    else:
        order = _nulls_last("due_at")
    order += ', "ticket_id", "milestone", "cycle"'
    extra = [reader.breached_at()]
    rows = reader.select("sla_deadlines", filters, order, extra=extra, limit=limit, offset=offset)
    total = reader.count("sla_deadlines", filters)
    now = runtime.now()
    _timed(runtime, rows, now)
    _with_outages(reader, rows)
    return _page(runtime, "sla_deadlines", progress, now, rows, limit, offset, total)


OUTAGES = "outages"


def _with_outages(reader: ViewReader, rows: list[dict[str, Any]]) -> None:
    """Each clock row's ``outage``: the incident (停电事件) its ticket is linked to — id, number,
    state and how many calls are linked — or null. Thirty callers of one tripped feeder are one
    repair: the SLA monitor works the incident, not thirty clocks one by one. Read from the
    ``outages`` view when this server keeps it (else every row's ``outage`` is null)."""
    for row in rows:
        row["outage"] = None
    if OUTAGES not in reader.followers or not rows:
        return
    tickets = sorted({r["ticket_id"] for r in rows})
    linked = Filter('"incident_id" IS NOT NULL', ())
    calls = reader.select(
        OUTAGES,
        [reader.one_of("ticket_id", tickets), linked],
        '"ticket_id"',
        table=CALLS,
        limit=len(tickets),
    )
    if not calls:
        return
    ids = sorted({c["incident_id"] for c in calls})
    found = reader.select(
        OUTAGES,
        [reader.one_of("incident_id", ids)],
        '"incident_id"',
        table=INCIDENTS,
        limit=len(ids),
    )
    incidents = {
        i["incident_id"]: {
            "incident_id": i["incident_id"],
            "number": i["number"],
            "state": i["state"],
            "linked": i["linked"],
        }
        for i in found
    }
    of_ticket = {c["ticket_id"]: incidents.get(c["incident_id"]) for c in calls}
    for row in rows:
        row["outage"] = of_ticket.get(row["ticket_id"])


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
    level: int | None = None,
    sort: str = "due_at",
) -> JSONResponse:
    """``/sla/deadlines`` replayed on the business axis (``at``) and/or the recording axis;
    the escalation queue is replayed beside it for the instants clocks were breached."""
    projection, queue = SlaDeadlines(), EscalationQueue()
    replays = runtime.guards.replays
    try:
        if at is not None:
            rows = replays.rows_at(runtime.desk, projection, at, as_known_at)
            queued = replays.rows_at(runtime.desk, queue, at, as_known_at)
        else:
            assert as_known_at is not None
            rows = replays.rows_as_of(runtime.desk, projection, as_known_at)
            queued = replays.rows_as_of(runtime.desk, queue, as_known_at)
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
            and (not equal["kind"] or row["kind"] == equal["kind"])
            and (not milestone or row["milestone"] == milestone)
            and (level is None or row["escalation_level"] == level)
            and (due_before is None or (row["due_at"] is not None and row["due_at"] <= due_before))
        )

    breaches = {
        (q["ticket_id"], q["milestone"], q["cycle"]): q["breached_at"]
        for q in queued.dump(queue.table(QUEUE))
    }
    found = [r for r in rows.dump(projection.table(TABLE)) if wanted(r)]
    for row in found:
        key = (row["ticket_id"], row["milestone"], row["cycle"])
        due = row["due_at"] if row["state"] == "breached" else None
        row["breached_at"] = breaches.get(key) or due
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(key=lambda r: (r["ticket_id"], r["milestone"], r["cycle"]))
    if sort == "-breached_at":  # stable, reverse too: equal instants keep the order above
        found.sort(
            key=lambda r: (r["breached_at"] is not None, r["breached_at"] or far), reverse=True
        )
    else:
        found.sort(key=lambda r: r["due_at"] or far)
    limit, offset = page
    chosen = found[offset : offset + limit]
    when = at or as_known_at
    assert when is not None
    _timed(runtime, chosen, when)
    for row in chosen:
        row["outage"] = None  # the links of then are not replayed (see sla_deadlines)
    head = int(runtime.desk.recorder.max_notification_id() or 0)
    progress = {"position": head, "head": head, "lag": 0}
    return _page(runtime, "sla_deadlines", progress, when, chosen, limit, offset, len(found))


@router.get("/escalations", response_model=CountedPage, responses=ERRORS)
def escalations(
    user: CurrentUser,
    runtime: RuntimeDep,
    department: FilterValue = None,
    min_level: MinLevel = 0,
    milestone: FilterValue = None,
    kind: FilterValue = None,
    level: Level = None,
    sort: EscalationSort = "-level,first_escalated_at",
    limit: Limit = 200,
    offset: Offset = 0,
) -> JSONResponse:
    """Open escalations (level 0: breached only), one page of ``total``: highest level first,
    then the oldest (``sort=-level,-last_escalated_at``: then the latest escalated or
    breached; ``-last_escalated_at``: that alone); ``department`` takes the units under it
    too; ``age_seconds`` at the desk's now; ``outage`` the outage incident the ticket is linked
    to (id, number, state, calls linked), or null."""
    reader = runtime.reader
    filters = _clock_filters(reader, department, kind, milestone, ("level", level))
    if min_level:
        filters.append(Filter('"level" >= ?', (min_level,)))
    progress = reader.progress("escalation_queue")
    order = {
        "-level,first_escalated_at": '"level" DESC, "first_escalated_at"',
        "-level,-last_escalated_at": '"level" DESC, "last_escalated_at" DESC',
        "-last_escalated_at": '"last_escalated_at" DESC',
    }[sort] + ', "ticket_id", "milestone", "cycle"'
    rows = reader.select("escalation_queue", filters, order, limit=limit, offset=offset)
    total = reader.count("escalation_queue", filters)
    now = runtime.now()
    for row in rows:
        first = row["first_escalated_at"]
        row["age_seconds"] = None if first is None else int((now - first).total_seconds())
    _with_outages(reader, rows)
    return _page(runtime, "escalation_queue", progress, now, rows, limit, offset, total)


@router.get("/sla/summary", response_model=SlaSummary, responses=ERRORS)
def sla_summary(
    user: CurrentUser,
    runtime: RuntimeDep,
    department: FilterValue = None,
    kind: FilterValue = None,
    milestone: FilterValue = None,
    level: Level = None,
    at_risk_seconds: AtRiskSeconds = AT_RISK_SECONDS,
) -> JSONResponse:
    """The SLA board's tiles from the views, with the lists' filters: clocks by state, the
    running ones due within ``at_risk_seconds`` (the same rows as ``/sla/deadlines?state=
    running&due_before=<now + at_risk_seconds>``), open escalations in all and by level."""
    reader = runtime.reader
    progress = {view: reader.progress(view) for view in ("sla_deadlines", "escalation_queue")}
    now = runtime.now()
    clocks = _clock_filters(reader, department, kind, milestone, ("escalation_level", level))
    by_state = reader.count_by("sla_deadlines", "state", clocks)
    horizon = now + timedelta(seconds=at_risk_seconds)
    soon = [
        *clocks,
        reader.equals("state", "running"),
        reader.before("sla_deadlines", "due_at", horizon),
    ]
    queued = _clock_filters(reader, department, kind, milestone, ("level", level))
    by_level = reader.count_by("escalation_queue", "level", queued)
    body = {
        "at": now,
        "projection": progress,
        "states": {s: by_state.get(s, 0) for s in CLOCK_STATES},
        "at_risk": reader.count("sla_deadlines", soon),
        "at_risk_seconds": at_risk_seconds,
        "escalations": sum(by_level.values()),
        "levels": [{"level": int(n), "count": by_level[n]} for n in sorted(by_level, reverse=True)],
    }
    return as_json(runtime, body)
