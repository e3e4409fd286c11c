"""Request bodies and response shapes of the HTTP API (what /openapi.json documents).

Request bodies are derived from the domain's own commands (``domain/commands.py``) less the
fields the API fills in itself: who acts (``actor_id``, ``role``, ``department``: from the
token), ``command_id`` (from ``Idempotency-Key``), ``expected_version`` (from ``If-Match``),
correlation ids and the addressed aggregate (from the path). Unknown fields are refused (422),
so an ``actor_id`` smuggled into a body never goes unnoticed.

Responses are documented by the models below; times are ISO-8601 with the hotline's offset.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.commands import Command

ENVELOPE = frozenset(
    {
        "actor_id",
        "role",
        "department",
        "command_id",
        "expected_version",
        "correlation_id",
        "causation_id",
        "action",
    }
)


@cache
def body_of(command: type[Command], *addressed: str) -> type[BaseModel]:
    """The request body of ``command``: its own fields, less the envelope and ``addressed``."""
    skip = ENVELOPE | set(addressed)
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in command.model_fields.items()
        if name not in skip
    }
    model: type[BaseModel] = create_model(
        f"{command.__name__}Body",
        __config__=ConfigDict(extra="forbid"),
        __doc__=(command.__doc__ or command.__name__).strip(),
        **fields,
    )
    return model


# ----------------------------------------------------------------------- shared


class Problem(BaseModel):
    """Every error: a stable code, a human message, and details by kind."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["illegal_transition"])
    message: str = Field(examples=["complaint TS20261012AB12CD is received; cannot close"])


class FieldError(BaseModel):
    field: str
    in_: str = Field(alias="in")
    message: str
    type: str


class InvalidInput(Problem):
    errors: list[FieldError] = []


class Progress(BaseModel):
    """How far a view has caught up: last event applied, head of the log, and the gap."""

    position: int
    head: int
    lag: int


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown bearer token"},
    403: {"model": Problem, "description": "role or department may not (read_only_role: auditor)"},
    404: {"model": Problem, "description": "not found"},
    409: {"model": Problem, "description": "illegal transition, invariant, or version conflict"},
    422: {"model": InvalidInput, "description": "invalid input or value"},
}


# ---------------------------------------------------------------------- tickets


class SlaClock(BaseModel):
    model_config = ConfigDict(extra="allow")

    milestone: str
    cycle: int
    target_seconds: int
    started_at: datetime = Field(
        description="When the clock started (business time: receipt, the fact that starts it, "
        "or a reopening)"
    )
    due_at: datetime | None = Field(
        description="The instant its budget runs out (business time; null while paused or "
        "once stopped)"
    )
    paused: bool
    outcome: str
    breached: bool
    warnings: list[float]
    escalation_levels: list[int]
    used_seconds: int | None = None
    left_seconds: int | None = None
    clock: str | None = Field(
        default=None, description="24x7, or business (working time of a calendar)"
    )
    target: str | None = Field(default=None, description="The policy's words, e.g. 5 working days")
    working_day_seconds: int | None = Field(
        default=None,
        description="On a business clock: seconds of one working day, to show working-time "
        "budgets as working days and hours",
    )


class ActionResult(BaseModel):
    """Where a ticket stands after a lifecycle action."""

    id: str
    number: str
    kind: str
    state: str
    version: int
    department: str | None
    owner: str | None
    changed: bool
    events: list[str]
    legal_actions: list[str]


class IntakeResult(ActionResult):
    """A new ticket with the SLA policy bound at intake and its first deadlines."""

    policy: dict[str, Any]
    deadlines: list[SlaClock]


class TicketOut(BaseModel):
    """A ticket now, at a business instant ``at`` and/or as known at ``as_known_at``; contact
    data masked unless the role needs it."""

    model_config = ConfigDict(extra="allow")

    id: str
    number: str
    kind: str
    state: str
    version: int
    department: str | None
    owner: str | None
    customer: dict[str, Any]
    contact: dict[str, Any]
    contact_masked: bool
    sla: list[SlaClock]
    sla_evaluated_at: datetime = Field(
        description="The instant time used and left were computed at"
    )
    at: datetime | None = Field(
        default=None, description="The business instant shown (facts that had happened by then)"
    )
    as_known_at: datetime | None = Field(
        default=None, description="The recording horizon: what the system knew then"
    )
    as_of: datetime | None = Field(description="Same as as_known_at (older name)")
    unplaced: list[str] = Field(
        default=[],
        description="Events that had happened by `at` but need a later fact to be applied",
    )
    legal_actions: list[str]
    allowed_actions: list[str]


class HistoryEvent(BaseModel):
    name: str
    version: int
    occurred_at: datetime | None = Field(
        description="When it happened (business time); null for events without metadata"
    )
    recorded_at: datetime = Field(description="When it was recorded in the store")
    actor: str | None
    role: str | None
    department: str | None
    channel: str | None
    correlation_id: str | None
    policy_version: str | None
    backdated_reason: str | None = Field(
        default=None, description="Set on a late entry: why it was recorded after later facts"
    )
    details: dict[str, Any]


class HistoryOut(BaseModel):
    id: str
    number: str
    contact_masked: bool
    events: list[HistoryEvent]


# ------------------------------------------------------------------------ views


class ViewPage(BaseModel):
    """Rows of a view, one page, with the view's progress and the instant ages are taken at."""

    view: str
    at: datetime = Field(
        description="The instant ages and time left are computed at (now, or the instant asked for)"
    )
    projection: Progress
    count: int
    limit: int
    offset: int
    rows: list[dict[str, Any]]


class ReportOut(BaseModel):
    date_from: str = Field(alias="from")
    date_to: str = Field(alias="to")
    as_of: datetime = Field(
        description="The recording horizon the report was made from (now, or as_known_at)"
    )
    source: str
    projection: Progress
    rows: list[dict[str, Any]]


# --------------------------------------------------------- callbacks, customers


class CallbackOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    number: str
    kind: str
    state: str
    version: int
    attempts: int
    max_attempts: int
    due_at: datetime = Field(description="When the callback is due (business time)")
    legal_actions: list[str]
    changed: bool | None = None
    events: list[str] | None = None


class CustomerOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    grade: str
    key_account: bool
    account_manager: str | None
    version: int
    changed: bool | None = None
    events: list[str] | None = None
    contact: dict[str, Any] | None = None
    contact_masked: bool | None = None


# ------------------------------------------------------------------ audit, me


class AccessRecord(BaseModel):
    recorded_at: datetime = Field(description="When the read was recorded")
    occurred_at: datetime = Field(description="When the read happened")
    actor: str
    role: str
    department: str
    correlation_id: str
    subject_kind: str
    subject_id: str
    subject_number: str | None
    fields: list[str]
    reason: str
    endpoint: str


class AccessPage(BaseModel):
    head: int
    count: int
    rows: list[AccessRecord]


class Me(BaseModel):
    id: str
    name: str
    role: str
    department: str
    front_office: bool
    front_office_department: str | None
    ticket_actions: list[str]
    may_intake: bool
    may_handle_callbacks: bool
    read_only: bool


class ViewFailureOut(BaseModel):
    """The event a view stopped at, and why (the other views go on)."""

    view: str
    notification_id: int
    event: str
    originator_id: str
    originator_version: int
    error: str
    failed_at: datetime = Field(description="When the view stopped")


class ViewHealth(Progress):
    """A view's progress, and whether it runs or stopped at an event it cannot apply."""

    state: str = Field(description="running | failed")
    failure: ViewFailureOut | None = None


class WorkerHealth(BaseModel):
    """A supervised worker thread of this process."""

    state: str = Field(description="starting | running | restarting | stopped")
    restarts: int
    last_error: str | None = None
    last_error_at: datetime | None = Field(default=None, description="When the worker last failed")
    since: datetime = Field(description="Since when the worker is in its present state")


class DatabaseHealth(BaseModel):
    """Whether the event store answered this health check."""

    state: str = Field(description="up | down")
    code: str | None = Field(
        default=None, description="why it is down: database_unavailable | schema_missing"
    )
    since: datetime | None = Field(
        default=None, description="Since when the database is in its present state"
    )
    error: str | None = None


class Health(BaseModel):
    """``ok``: all runs; ``degraded``: a view stopped or a worker restarts; ``unavailable``:
    the event store does not answer (HTTP 503)."""

    status: str = Field(description="ok | degraded | unavailable")
    backend: str
    head: int | None
    projections: dict[str, ViewHealth]
    workers: dict[str, WorkerHealth]
    database: DatabaseHealth
    checked_at: datetime = Field(description="When this health reading was taken")


# ------------------------------------------------ finding tickets and callers, departments


class OpenTicket(BaseModel):
    """A ticket as a search finds it (view ``ticket_search``): where it stands, who took it
    in, its next deadline."""

    ticket_id: str
    number: str
    kind: str
    state: str
    department: str | None = Field(description="The department holding it now")
    owner: str | None
    priority: str | None
    category: str | None
    customer_id: str | None
    customer_name: str | None
    content: str | None = Field(description="The content's first 1,000 characters")
    intake_actor: str | None = Field(description="Who took it in (受理)")
    intake_department: str | None = Field(description="Their department then")
    received_at: datetime | None = Field(description="When it was received (business time)")
    next_due_at: datetime | None = Field(
        description="The running SLA clock due first (business time; past when overdue)"
    )
    next_milestone: str | None
    due_in_seconds: int | None = Field(description="From now to next_due_at (negative: overdue)")
    at_risk: bool = Field(description="A running clock not recorded breached is due within 1 h")
    breached: bool = Field(description="A breach stands (withdrawn ones do not count)")
    breaches: list[str] = Field(description="The breaches that stand, as milestone#cycle")
    escalation_level: int = Field(description="The highest escalation level reached")
    supervised: bool
    reopened: bool
    cycle: int
    transfers: int
    closed_at: datetime | None = Field(
        description="When it was closed, resolved at first contact, rejected or withdrawn "
        "(business time); null while open"
    )


class TicketHit(OpenTicket):
    """A ticket found by ``GET /tickets``, with the phone given at intake."""

    phone: str | None = Field(description="Masked unless the caller may see it (contact_masked)")
    contact_masked: bool


class TicketPage(BaseModel):
    """One page of a ticket search, and how many tickets match in all."""

    at: datetime = Field(description="The instant at_risk and due_in_seconds are taken at (now)")
    projection: Progress
    total: int = Field(description="Tickets matching the search, on every page")
    count: int
    limit: int
    offset: int
    rows: list[TicketHit]


class CustomerMatch(BaseModel):
    """A customer found by phone or name."""

    customer_id: str
    name: str | None
    customer_type: str | None
    grade: str | None
    key_account: bool | None
    area: str | None
    station: str | None
    phone: str | None = Field(description="Masked unless the caller may see it (contact_masked)")
    contact_masked: bool
    registered_at: datetime | None = Field(description="When the customer was registered")
    quarter: str = Field(description="This quarter in business time (Beijing), e.g. 2026Q4")
    complaints_this_quarter: int = Field(
        description="Complaints taken in from the customer this quarter (their tally, as stored)"
    )
    problem_customer: bool = Field(
        description="Flagged as a problem customer (问题客户) this quarter: the complaint that "
        "reached the configured number flagged them"
    )


class CustomerLookup(BaseModel):
    """Customers matching a phone or name, and their open tickets (a repeat caller's)."""

    at: datetime = Field(description="The instant due_in_seconds and at_risk are taken at (now)")
    projection: Progress
    customers_total: int
    customers: list[CustomerMatch]
    open_tickets_total: int
    open_tickets: list[OpenTicket] = Field(
        description="Open tickets of these customers or called in from the phone, next "
        "deadline first (at most 100)"
    )


class DepartmentOut(BaseModel):
    """A department as the org directory has it on the date asked about."""

    id: str
    name_zh: str
    name_en: str
    kind: str
    parent: str | None
    active: bool = Field(description="Whether it exists on that date")
    valid_from: datetime = Field(description="When the record shown comes into force")
    valid_to: datetime | None = Field(description="When the record shown ends (null: open)")
    successor: str | None = Field(
        description="For a department gone by then: where its duties went"
    )


class DepartmentsOut(BaseModel):
    """The org directory as of a date: every department it ever had, active or not."""

    as_of: str = Field(description="The date asked about (the hotline's calendar)")
    at: datetime = Field(description="The instant read: the start of that day, local time")
    release: str
    version: str
    front_office: str | None = Field(description="The front office (一口对外) on that date")
    departments: list[DepartmentOut]
