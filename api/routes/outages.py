"""Outage incidents (停电事件): open, link fault calls, one repair, restoration answers every call.

Writes (agents, supervisors, admins): ``POST /outages`` opens one for an area and feeder;
``/outages/{id}/link`` links a fault call; ``dispatch-crew``, ``arrive`` and ``restore`` record
the one repair on the incident and, in the same write, on every linked ticket (restoration
replies to and answers each caller; the callback scheduler then calls each back). Reads:
``/outages`` and ``/outages/{id}`` from the ``outages`` view, ``/outages/suggestions`` (what the
rule suggests to an agent at intake) and ``/reports/outages`` (per department and day: 1 repair
beside N contacts, answers and callbacks).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser, RuntimeDep
from api.errors import forbidden, invalid_input
from api.params import Day, InstantQuery, parse_instant
from api.reads import Filter
from api.responses import as_json
from api.routes.command import add_command_route
from api.runtime import Runtime
from api.schemas import ERRORS
from api.users import User
from bootstrap.outage_rule import load_outage_rule
from domain.base import Role
from domain.outage import (
    DispatchOutageCrew,
    LinkOutageTicket,
    OpenOutageIncident,
    OutageIncident,
    RecordOutageArrival,
    RecordOutageRestoration,
)
from projections.outages import CALLS, DAILY, INCIDENTS, suggestions

router = APIRouter(tags=["outages"])
VIEW = "outages"
MAX_DAYS = 366
FEEDER_PATTERN = r"^[0-9A-Za-z\u4e00-\u9fff#_-]{1,60}$"


class OutageOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    number: str
    state: str
    version: int
    area: str
    feeder: str
    department: str
    started_at: datetime = Field(description="When the outage began (business time)")
    arrival_due_at: datetime = Field(
        description="The crew's arrival is due (business time): the fault repair policy's "
        "arrival target counted from started_at"
    )
    restoration_due_at: datetime = Field(
        description="Power is due back (business time): the restoration target from started_at"
    )
    promised_arrival_at: datetime | None = Field(
        description="The arrival promised to callers at dispatch (business time); null before"
    )
    dispatched_at: datetime | None = Field(description="Crew dispatched (business time)")
    arrived_at: datetime | None = Field(description="Crew on site (business time)")
    restored_at: datetime | None = Field(description="Power restored (business time)")
    tickets: list[str]
    changed: bool | None = None
    events: list[str] | None = None


class OutageRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    incident_id: str
    number: str
    state: str
    started_at: datetime = Field(description="When the outage began (business time)")
    opened_at: datetime = Field(description="When the incident was opened (business time)")
    arrival_due_at: datetime = Field(description="Arrival due (business time)")
    restoration_due_at: datetime = Field(description="Restoration due (business time)")
    promised_arrival_at: datetime | None = Field(
        description="Arrival promised at dispatch (business time)"
    )
    dispatched_at: datetime | None = Field(description="Crew dispatched (business time)")
    arrived_at: datetime | None = Field(description="Crew on site (business time)")
    restored_at: datetime | None = Field(description="Power restored (business time)")
    linked: int
    answered: int
    callbacks: int


class OutageCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    ticket_id: str
    number: str
    state: str | None
    received_at: datetime = Field(description="When the call was received (business time)")
    linked_at: datetime | None = Field(description="When it was linked (business time)")
    answered_at: datetime | None = Field(description="When the caller was answered (business time)")


class OutagePage(BaseModel):
    at: datetime = Field(description="When the page was read (the server's clock)")
    projection: dict[str, int]
    total: int
    incidents: list[OutageRow]


class OutageDetail(BaseModel):
    at: datetime = Field(description="When the page was read (the server's clock)")
    projection: dict[str, int]
    incident: OutageRow
    current: OutageOut = Field(
        description="The incident as recorded now (its version for If-Match, its state and "
        "crew), which the view's row may not show yet"
    )
    calls: list[OutageCall]


class SuggestedIncident(BaseModel):
    incident_id: str
    number: str
    area: str
    feeder: str
    started_at: datetime = Field(description="When the outage began (business time)")


class SuggestionsOut(BaseModel):
    at: datetime = Field(description="The instant suggested for (business time)")
    window_start: datetime = Field(
        description="Calls received from this instant up to `at` count (business time)"
    )
    min_calls: int
    window_minutes: int
    projection: dict[str, int]
    suggest: bool
    incidents: list[SuggestedIncident]
    cluster: list[OutageCall]


class OutageReportOut(BaseModel):
    projection: dict[str, int]
    days: list[dict[str, Any]]


def outage_view(incident: OutageIncident) -> dict[str, Any]:
    return {
        "id": str(incident.id),
        "number": incident.number,
        "kind": "outage",
        "state": incident.state.value,
        "version": incident.version,
        "area": incident.area,
        "feeder": incident.feeder,
        "department": incident.department,
        "description": incident.description,
        "started_at": incident.started_at,
        "policy": f"{incident.sla['policy_id']}@v{incident.sla['policy_version']}",
        "arrival_due_at": incident.sla["arrival"]["due_at"],
        "restoration_due_at": incident.sla["restoration"]["due_at"],
        "crew": incident.crew,
        "promised_arrival_at": incident.promised_arrival_at,
        "dispatched_at": incident.dispatched_at,
        "arrived_at": incident.arrived_at,
        "restored_at": incident.restored_at,
        "cause": incident.cause,
        "tickets": list(incident.tickets),
    }


def outage_outcome(incident: Any, events: list[str], changed: bool) -> dict[str, Any]:
    return {**outage_view(incident), "changed": changed, "events": list(events)}


def _handles_outages(runtime: Runtime, user: User, _: UUID | None) -> None:
    if user.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
        raise forbidden(f"role {user.role.value} may not handle outage incidents")


post = partial(
    add_command_route,
    router,
    present=outage_outcome,
    response_model=OutageOut,
    authorise=_handles_outages,
)
post(
    "/outages",
    OpenOutageIncident,
    name="open_outage",
    doc="Open an outage incident (停电事件) for an area and feeder, with when it began; the "
    "fault repair policy's arrival and restoration targets count from then.",
)
for _path, _name, _command, _doc in (
    (
        "link",
        "link_outage_ticket",
        LinkOutageTicket,
        "Link a fault call (故障报修) to the incident; refused for other kinds, a call linked "
        "already (here or elsewhere), one restored on its own, or a restored incident. The "
        "call is brought to the incident's stage.",
    ),
    (
        "dispatch-crew",
        "dispatch_outage_crew",
        DispatchOutageCrew,
        "Send the crew once for the outage; every linked call is dispatched with it.",
    ),
    (
        "arrive",
        "record_outage_arrival",
        RecordOutageArrival,
        "The crew is on site, judged against the arrival target; recorded on every linked call.",
    ),
    (
        "restore",
        "record_outage_restoration",
        RecordOutageRestoration,
        "Power restored: judged against the restoration target; every linked call gets the "
        "restoration, the department's reply and this answer (then its callback as usual).",
    ),
):
    post(
        f"/outages/{{incident_id}}/{_path}",
        _command,
        name=_name,
        address="incident_id",
        doc=_doc,
    )


@router.get("/outages/suggestions", response_model=SuggestionsOut, responses=ERRORS)
def outage_suggestions(
    user: CurrentUser,
    runtime: RuntimeDep,
    area: Annotated[Literal["urban", "rural", "remote"], Query(description="The caller's area")],
    feeder: Annotated[str, Query(pattern=FEEDER_PATTERN, description="The caller's feeder (线路)")],
    at: InstantQuery = None,
) -> JSONResponse:
    """What to show the agent at intake: open incidents of the area and feeder, and a cluster
    of fault calls not yet linked when the rule holds (default: at least 3 calls within 30
    minutes up to ``at``, both ends included; ``config/data/outage_rule.toml``)."""
    now = runtime.now()
    when = parse_instant(at, "at", runtime.settings.tz) if at is not None else now
    rule = load_outage_rule(runtime.settings.data_dir)
    store = runtime.reader.follower(VIEW).store
    found = suggestions(store, area=area, feeder=feeder.strip(), at=when, rule=rule)
    body = {
        "at": when,
        "window_start": found.window_start,
        "min_calls": rule.min_calls,
        "window_minutes": int(rule.window.total_seconds() // 60),
        "projection": runtime.reader.progress(VIEW),
        "suggest": found.any,
        "incidents": [vars(i) for i in found.incidents],
        "cluster": [
            {
                "ticket_id": c.ticket_id,
                "number": c.number,
                "state": "received",
                "received_at": c.received_at,
                "linked_at": None,
                "answered_at": None,
            }
            for c in found.cluster
        ],
    }
    return as_json(runtime, body)


@router.get("/outages", response_model=OutagePage, responses=ERRORS)
def list_outages(
    user: CurrentUser,
    runtime: RuntimeDep,
    state: Annotated[
        Literal["open", "crew_en_route", "on_site", "restored"] | None,
        Query(description="Only incidents in this state"),
    ] = None,
    feeder: Annotated[str | None, Query(pattern=FEEDER_PATTERN)] = None,
) -> JSONResponse:
    """Outage incidents from the ``outages`` view, latest start first: state, SLA, calls."""
    reader = runtime.reader
    filters = []
    if state is not None:
        filters.append(reader.equals("state", state))
    if feeder is not None:
        filters.append(reader.equals("feeder", feeder))
    order = '"started_at" DESC, "number"'
    rows = reader.select(VIEW, filters, order, table=INCIDENTS, limit=500)
    body = {
        "at": runtime.now(),
        "projection": reader.progress(VIEW),
        "total": reader.count(VIEW, filters, table=INCIDENTS),
        "incidents": rows,
    }
    return as_json(runtime, body)


@router.get("/outages/{incident_id}", response_model=OutageDetail, responses=ERRORS)
def show_outage(incident_id: UUID, user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """One incident from the view with its linked calls (state, answered when), and as it is
    recorded now (``current``: the version an ``If-Match`` names)."""
    current = runtime.load(OutageIncident, incident_id, "outage incident")  # 404 when none
    reader = runtime.reader
    found = reader.select(
        VIEW, [reader.equals("incident_id", str(incident_id))], '"number"', table=INCIDENTS
    )
    if not found:
        raise invalid_input("incident_id", "not in the outages view yet: try again shortly")
    calls = reader.select(
        VIEW,
        [reader.equals("incident_id", str(incident_id))],
        '"received_at", "number"',
        table=CALLS,
    )
    body = {
        "at": runtime.now(),
        "projection": reader.progress(VIEW),
        "incident": found[0],
        "current": outage_view(current),
        "calls": calls,
    }
    return as_json(runtime, body)


@router.get("/reports/outages", response_model=OutageReportOut, responses=ERRORS)
def outage_report(
    user: CurrentUser,
    runtime: RuntimeDep,
    date_from: Annotated[Day, Query(alias="from")] = None,
    date_to: Annotated[Day, Query(alias="to")] = None,
) -> JSONResponse:
    """Per repairing department and local day: incidents, crews dispatched, arrivals (on
    time), repairs (one per restored incident, on time), and beside them the contacts linked,
    answers given and callbacks scheduled for those calls (default: this month to today)."""
    today = runtime.now().astimezone(runtime.settings.tz).date()
    first = date_from or today.replace(day=1)
    last = date_to or today
    if last < first:
        raise invalid_input("to", f"{last} lies before from ({first})")
    if (last - first).days > MAX_DAYS:
        raise invalid_input("to", f"a report covers at most {MAX_DAYS} days")
    reader = runtime.reader
    filters = [
        Filter('"day" >= ?', (first.isoformat(),)),
        Filter('"day" <= ?', (last.isoformat(),)),
    ]
    rows = reader.select(VIEW, filters, '"day", "department"', table=DAILY, limit=10_000)
    body = {"projection": reader.progress(VIEW), "days": rows}
    return as_json(runtime, body)
