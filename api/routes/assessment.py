"""The monthly assessment (考核): the month's report, and the steps of a department's month.

``GET /reports/assessment?month=YYYY-MM`` reads the ``assessment`` view: per department the
items (proposed, or as computed now), points standing, state; per responsible leader the points
answered for jointly (连带责任). The steps of one department's month, each an event on its
``AssessmentMonth``:

- ``POST /assessment/{department}/{month}/self-assess``: the unit (its staff, or anyone over
  it) records a fault it assessed itself; the proposal will not assess it again;
- ``POST .../propose``: supervisors (and admins) send the items computed from the view under the
  assessment rules in force (``config/data/assessment_rules.toml``);
- ``POST .../dispute``: the unit disputes an item, saying why; ``POST .../resolve``: supervisors
  uphold or cancel it;
- ``POST .../sign-off``: the responsible leader signs the month off (anyone else: refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser, RuntimeDep
from api.errors import forbidden
from api.params import IdempotencyKey, IfMatch
from api.responses import as_json
from api.runtime import Runtime
from api.schemas import ERRORS, Progress
from api.users import User
from api.writes import execute
from bootstrap.assessment_rules import load_assessment_rules
from domain.assessment import (
    MONTH_PATTERN,
    AssessmentRules,
    DisputeAssessment,
    ProposeAssessment,
    ResolveAssessmentDispute,
    SelfAssessItem,
    SignOffAssessment,
)
from domain.base import Role
from domain.commands import Command, Instant, Name, OptionalNote, Text
from projections.assessment import (
    assessment_report,
    month_rows,
    parents_of,
    proposal_for,
)

router = APIRouter(tags=["assessment"])
VIEW = "assessment"
MONTH = MONTH_PATTERN
MonthQuery = Annotated[str, Query(pattern=MONTH, description="The month, YYYY-MM (local).")]
MonthPath = Annotated[str, Path(pattern=MONTH, description="The month, YYYY-MM (local).")]
DepartmentPath = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$",
        max_length=80,
        description="The department assessed (org id, e.g. station_1).",
    ),
]


class ItemOut(BaseModel):
    key: str
    ticket: str
    reason: str
    kind: str | None = None
    milestone: str | None = None
    occurred_at: datetime = Field(description="When the fact happened, in business time.")
    points: int
    skipped: str | None = None


class LiabilityOut(BaseModel):
    person: str
    department: str
    level: int
    points: int


class DepartmentMonthOut(BaseModel):
    department: str
    month_id: str
    state: str
    leader: str
    rules_version: str
    points: int
    counts: dict[str, int]
    by_reason: dict[str, int]
    skipped: list[str]
    cancelled: list[str]
    items: list[ItemOut]
    liability: list[LiabilityOut]
    self_assessed: list[dict[str, Any]]
    disputes: dict[str, Any]
    signed_by: str | None = None
    signed_at: datetime | None = Field(
        default=None, description="When the leader signed the month off, in business time."
    )
    proposed_at: datetime | None = Field(
        default=None, description="When the month was proposed, in business time."
    )
    stale: bool


class PersonOut(BaseModel):
    person: str
    leads: list[str]
    departments: list[str]
    liability: int


class AssessmentReportOut(BaseModel):
    month: str
    rules_version: str
    projection: Progress
    departments: list[DepartmentMonthOut]
    people: list[PersonOut]
    total_points: int


class AssessmentMonthOut(BaseModel):
    id: str
    department: str
    month: str
    state: str
    points: int
    self_assessed: list[dict[str, Any]]
    disputes: dict[str, Any]
    signed_by: str | None = None
    changed: bool
    events: list[str]


_WHEN = Command.model_fields["occurred_at"].description


class SelfAssessBody(BaseModel):
    """The unit assessed this fault itself (子公司已自行考核)."""

    model_config = ConfigDict(extra="forbid")
    ticket: Name = Field(description="The ticket number.")
    reason: Literal["breach", "urge", "supervision", "reopen", "dissatisfied"]
    note: Text = Field(description="How the unit assessed it.")
    occurred_at: Instant | None = Field(default=None, description=_WHEN)


class DisputeBody(BaseModel):
    """An item of the proposal disputed, and why."""

    model_config = ConfigDict(extra="forbid")
    item: Name = Field(description="The item's key.")
    reason: OptionalNote = Field(description="Why the item is disputed (required).")
    occurred_at: Instant | None = Field(default=None, description=_WHEN)


class ResolveBody(BaseModel):
    """An item's dispute resolved: upheld, or cancelled."""

    model_config = ConfigDict(extra="forbid")
    item: Name = Field(description="The item's key.")
    decision: Literal["upheld", "cancelled"]
    note: Text = Field(description="Why.")
    occurred_at: Instant | None = Field(default=None, description=_WHEN)


class StepBody(BaseModel):
    """When the step happened (optional)."""

    model_config = ConfigDict(extra="forbid")
    occurred_at: Instant | None = Field(default=None, description=_WHEN)


def _rules(runtime: Runtime) -> AssessmentRules:
    return load_assessment_rules(settings=runtime.settings)


def _present(month: Any, events: list[str], changed: bool) -> dict[str, Any]:
    return {**month.summary(), "changed": changed, "events": events}


def _supervises(user: User) -> None:
    if user.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise forbidden(f"role {user.role.value} may not propose or resolve an assessment")


def _of_unit(runtime: Runtime, user: User, department: str) -> None:
    if user.role is Role.ADMIN:
        return
    if user.role in (Role.AGENT, Role.SUPERVISOR) and runtime.policy.covers(
        user, department, runtime.now()
    ):
        return
    raise forbidden(f"{user.id} may not act for {department}'s assessment: not of that unit")


def _writes(user: User) -> None:
    if user.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
        raise forbidden(f"role {user.role.value} may not sign an assessment off")


@dataclass(frozen=True)
class Step:
    """What every step of a department's month is sent with: the month it addresses (path),
    the caller, and the write headers (``If-Match``, ``Idempotency-Key``)."""

    department: str
    month: str
    request: Request
    user: User
    runtime: Runtime
    if_match: str | None
    idempotency_key: str | None

    def send(self, command: type[Command], fields: dict[str, Any]) -> JSONResponse:
        """Run ``command`` for this department's month and answer with the month."""
        return execute(
            self.runtime,
            self.request,
            self.user,
            command,
            {"assessed_department": self.department, "month": self.month, **fields},
            present=_present,
            key=self.idempotency_key,
            if_match=self.if_match,
        )


def _step(
    department: DepartmentPath,
    month: MonthPath,
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Step:
    return Step(department, month, request, user, runtime, if_match, idempotency_key)


StepDep = Annotated[Step, Depends(_step)]


@router.get("/reports/assessment", response_model=AssessmentReportOut, responses=ERRORS)
def report(user: CurrentUser, runtime: RuntimeDep, month: MonthQuery) -> JSONResponse:
    """The month's assessment per department (items, points standing, state) and per
    responsible leader (joint liability, 连带责任; the total counts every item once)."""
    facts, months = month_rows(runtime.reader.follower(VIEW).store, month)
    departments = {f["department"] for f in facts} | {m["department"] for m in months}
    parents = parents_of(runtime.desk.directory, departments, month, runtime.settings.timezone)
    body = assessment_report(month, facts, months, _rules(runtime), parents)
    return as_json(runtime, {**body, "projection": runtime.reader.progress(VIEW)})


@router.post(
    "/assessment/{department}/{month}/propose",
    response_model=AssessmentMonthOut,
    responses=ERRORS,
)
def propose(step: StepDep, body: StepBody | None = None) -> JSONResponse:
    """Propose the month: the items computed from the view under the rules in force, less the
    items the unit assessed itself (supervisors, admins)."""
    _supervises(step.user)
    runtime, department, month = step.runtime, step.department, step.month
    facts, months = month_rows(runtime.reader.follower(VIEW).store, month)
    parents = parents_of(runtime.desk.directory, [department], month, runtime.settings.timezone)
    proposal = proposal_for(department, month, facts, months, _rules(runtime), parents)
    return step.send(
        ProposeAssessment, {"proposal": proposal.model_dump(mode="json"), **_when(body)}
    )


def _when(body: BaseModel | None) -> dict[str, Any]:
    occurred = getattr(body, "occurred_at", None)
    return {} if occurred is None else {"occurred_at": occurred}


@router.post(
    "/assessment/{department}/{month}/self-assess",
    response_model=AssessmentMonthOut,
    responses=ERRORS,
)
def self_assess(body: SelfAssessBody, step: StepDep) -> JSONResponse:
    """The unit assessed this fault itself (子公司已自行考核): not assessed again."""
    _of_unit(step.runtime, step.user, step.department)
    return step.send(SelfAssessItem, body.model_dump(exclude_none=True))


@router.post(
    "/assessment/{department}/{month}/dispute",
    response_model=AssessmentMonthOut,
    responses=ERRORS,
)
def dispute(body: DisputeBody, step: StepDep) -> JSONResponse:
    """The unit disputes an item of the proposal, saying why."""
    _of_unit(step.runtime, step.user, step.department)
    return step.send(DisputeAssessment, body.model_dump(exclude_none=True))


@router.post(
    "/assessment/{department}/{month}/resolve",
    response_model=AssessmentMonthOut,
    responses=ERRORS,
)
def resolve(body: ResolveBody, step: StepDep) -> JSONResponse:
    """Resolve an item's dispute: upheld, or cancelled (its points go) (supervisors, admins)."""
    _supervises(step.user)
    return step.send(ResolveAssessmentDispute, body.model_dump(exclude_none=True))


@router.post(
    "/assessment/{department}/{month}/sign-off",
    response_model=AssessmentMonthOut,
    responses=ERRORS,
)
def sign_off(step: StepDep, body: StepBody | None = None) -> JSONResponse:
    """The responsible leader signs the month off (考核分值由分管领导签发); anyone else: 422."""
    _writes(step.user)
    return step.send(SignOffAssessment, _when(body))
