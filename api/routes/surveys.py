"""Satisfaction surveys (满意度调查), their CAPA items (纠正和预防措施), the year-end summary.

A survey is designed (purpose, plan, questions, target: 90 % unless chosen), fielded, its
responses recorded, analysed (satisfaction = satisfied ÷ responses), given CAPA items when it
falls short, and closed; below its target it cannot close before CAPA items are issued. Each
CAPA item's deadline shows among ``/sla/deadlines`` (kind ``survey``, milestone ``capa``) until
it is completed. Writes: supervisors and admins; agents may record responses too.

``/reports/year-end`` lists a year's complaints by category (year of intake, Beijing time) and
the most frequent ones as the next year's CAPA sources.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser, RuntimeDep
from api.errors import forbidden
from api.params import Limit, Offset
from api.reads import Filter
from api.responses import as_json, tagged
from api.routes.command import add_command_route
from api.runtime import Runtime
from api.schemas import ERRORS
from api.users import User
from domain.base import Role
from domain.survey import (
    AnalyseSurvey,
    CloseSurvey,
    CompleteCapaItem,
    DesignSurvey,
    FieldSurvey,
    IssueCapa,
    RecordSurveyResponse,
    Survey,
)
from projections.surveys import CAPA_ITEMS, SURVEYS
from projections.year_end import (
    DEFAULT_TOP,
    SOURCE_TABLE,
    SOURCE_VIEW,
    summary_of_counts,
    year_bounds,
)

router = APIRouter(tags=["surveys"])
VIEW = "surveys"


class CapaItemOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    item: str
    department: str
    owner: str | None
    description: str
    due_at: datetime = Field(description="When the action is due (business time)")
    completed_at: datetime | None = Field(
        description="When the action was completed (business time); null while open"
    )


class SurveyOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    number: str
    state: str
    version: int
    target_percent: float
    target_is_default: bool
    responses: int
    satisfied: int
    satisfaction_percent: float | None
    capa_items: list[CapaItemOut]
    legal_actions: list[str]
    changed: bool | None = None
    events: list[str] | None = None


class SurveyRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    survey_id: str
    number: str
    state: str
    designed_at: datetime = Field(description="When the survey was designed (business time)")
    fielded_at: datetime | None = Field(description="When it was fielded (business time)")
    analysed_at: datetime | None = Field(description="When it was analysed (business time)")
    closed_at: datetime | None = Field(description="When it was closed (business time)")
    updated_at: datetime = Field(description="Business time of its latest event")


class SurveyPage(BaseModel):
    at: datetime = Field(description="When the page was read (the server's clock)")
    projection: dict[str, int]
    total: int
    surveys: list[SurveyRow]


class YearEndOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    year: int
    complaints: int
    categories: list[dict[str, Any]]
    capa_sources: list[dict[str, Any]]


def survey_view(survey: Survey) -> dict[str, Any]:
    return {
        "id": str(survey.id),
        "number": survey.number,
        "kind": "survey",
        "state": survey.state.value,
        "version": survey.version,
        "title": survey.title,
        "purpose": survey.purpose,
        "plan": survey.plan,
        "questions": list(survey.questions),
        "target_percent": survey.target_percent,
        "target_is_default": survey.target_is_default,
        "responses": survey.responses,
        "satisfied": survey.satisfied,
        "satisfaction_percent": survey.satisfaction,
        "below_target": survey.below_target() if survey.satisfaction is not None else None,
        "capa_items": [dict(item) for item in survey.capa.values()],
        "legal_actions": survey.legal_actions(),
    }


def survey_outcome(survey: Any, events: Any, changed: bool) -> dict[str, Any]:
    return {**survey_view(survey), "changed": changed, "events": list(events)}


def _manages_surveys(runtime: Runtime, user: User, _: UUID | None) -> None:
    if user.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise forbidden(f"role {user.role.value} may not design or manage surveys")


def _records_responses(runtime: Runtime, user: User, _: UUID | None) -> None:
    if user.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
        raise forbidden(f"role {user.role.value} may not record survey responses")


post = partial(add_command_route, router, present=survey_outcome, response_model=SurveyOut)
post(
    "/surveys",
    DesignSurvey,
    name="design_survey",
    authorise=_manages_surveys,
    doc="Design a satisfaction survey: purpose, plan, questions, target (default 90 %).",
)
for _path, _name, _command, _authorise, _doc in (
    ("field", "field_survey", FieldSurvey, _manages_surveys, "Put the survey in the field."),
    (
        "responses",
        "record_survey_response",
        RecordSurveyResponse,
        _records_responses,
        "One respondent's answer: satisfied or not and/or a score 1-5 (4 and 5 satisfied).",
    ),
    (
        "analyse",
        "analyse_survey",
        AnalyseSurvey,
        _manages_surveys,
        "Compute and record satisfaction = satisfied ÷ responses against the target.",
    ),
    (
        "capa",
        "issue_capa",
        IssueCapa,
        _manages_surveys,
        "Issue corrective/preventive actions, each with a department, owner and due instant.",
    ),
    (
        "capa/complete",
        "complete_capa_item",
        CompleteCapaItem,
        _manages_surveys,
        "A CAPA item done: it leaves the SLA deadlines.",
    ),
    (
        "close",
        "close_survey",
        CloseSurvey,
        _manages_surveys,
        "Close the survey; below its target only once CAPA items are issued.",
    ),
):
    post(
        f"/surveys/{{survey_id}}/{_path}",
        _command,
        name=_name,
        address="survey_id",
        authorise=_authorise,
        doc=_doc,
    )


@router.get("/surveys", response_model=SurveyPage, responses=ERRORS)
def list_surveys(
    user: CurrentUser,
    runtime: RuntimeDep,
    state: Annotated[
        str | None, Query(max_length=200, description="designed, fielded, ... comma separated")
    ] = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> JSONResponse:
    """Surveys from the ``surveys`` view, latest designed first: state, target, responses,
    satisfaction, CAPA items issued and open."""
    reader = runtime.reader
    filters: list[Filter] = []
    if state:
        filters.append(reader.one_of("state", state.split(",")))
    order = '"designed_at" DESC, "survey_id"'
    rows = reader.select(VIEW, filters, order, table=SURVEYS, limit=limit, offset=offset)
    body = {
        "at": runtime.now(),
        "projection": reader.progress(VIEW),
        "total": reader.count(VIEW, filters, table=SURVEYS),
        "surveys": rows,
    }
    return as_json(runtime, body)


@router.get("/surveys/{survey_id}", response_model=SurveyOut, responses=ERRORS)
def show_survey(survey_id: UUID, user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """A survey: design, state, responses, satisfaction against its target, CAPA items."""
    survey = runtime.load(Survey, survey_id, "survey")
    return tagged(runtime, survey_view(survey), survey.version)


class CapaItemsOut(BaseModel):
    items: list[CapaItemOut]


@router.get("/surveys/{survey_id}/capa", response_model=CapaItemsOut, responses=ERRORS)
def capa_items(survey_id: UUID, user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """The survey's CAPA items from the ``surveys`` view: open or done, on time or not."""
    reader = runtime.reader
    rows = reader.select(
        VIEW, [reader.equals("survey_id", str(survey_id))], '"item"', table=CAPA_ITEMS
    )
    for row in rows:
        row["item"] = str(row["item"])
    return as_json(runtime, {"items": rows})


@router.get("/reports/year-end", response_model=YearEndOut, responses=ERRORS)
def year_end(
    user: CurrentUser,
    runtime: RuntimeDep,
    year: Annotated[int, Query(ge=2000, le=2099, description="The year (Beijing time)")],
    top: Annotated[int, Query(ge=1, le=50, description="Categories to list as sources")] = (
        DEFAULT_TOP
    ),
) -> JSONResponse:
    """The year's complaints by category (by business time of intake, Beijing time; the
    category each holds now), most frequent first; the ``top`` ones as next year's CAPA
    sources."""
    reader = runtime.reader
    start, end = year_bounds(year)
    dialect = reader.dialect(SOURCE_VIEW)
    filters = [
        reader.equals("kind", "complaint"),
        Filter('"received_at" >= ?', (dialect.ts_param(start),)),
        Filter('"received_at" < ?', (dialect.ts_param(end),)),
    ]
    counts = reader.count_by(SOURCE_VIEW, "category", filters, table=SOURCE_TABLE)
    body = summary_of_counts(counts, year, top)
    body["projection"] = reader.progress(SOURCE_VIEW)
    return as_json(runtime, body)
