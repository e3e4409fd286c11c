"""Departments: the versioned org directory as it stood on a date (who existed, under whom).

Read from the org directory the desk was built with (``config/data/org.toml`` or the
deployment's): departments merge, split and are renamed over time (the 2026-10-16 merger made
营销部(客户服务中心) of 营销部, 乡镇供电所管理部 and 客户服务中心), so the answer
depends on the date.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.params import Day
from api.present import departments_at
from api.responses import as_json
from api.schemas import ERRORS, DepartmentsOut
from domain.errors import DomainError

router = APIRouter(tags=["departments"])

AsOfDay = Annotated[
    Day,
    Query(
        description="The date (2000-01-01 to 2099-12-31), read at its start in the hotline's "
        "time; default today."
    ),
]
Active = Annotated[
    bool | None,
    Query(description="true: only departments existing on that date; false: only the others."),
]


@router.get("/departments", response_model=DepartmentsOut, responses=ERRORS)
def departments(
    user: CurrentUser, runtime: RuntimeDep, as_of: AsOfDay = None, active: Active = None
) -> JSONResponse:
    """Every department the org directory ever had, as it stood on ``as_of``: id, Chinese and
    English names, kind and parent then, whether it existed then, and for one gone by then
    where its duties went (``successor``); with the front office (一口对外) of that date."""
    tz = runtime.settings.tz
    day: date = as_of or runtime.now().astimezone(tz).date()
    at = datetime.combine(day, time(0), tzinfo=tz)
    directory = runtime.desk.directory
    rows = departments_at(directory, at)
    try:
        front: str | None = directory.front_office(at)
    except DomainError:
        front = None  # before the directory begins
    body = {
        "as_of": day.isoformat(),
        "at": at,
        "release": directory.release,
        "version": directory.version,
        "front_office": front,
        "departments": [r for r in rows if active is None or r["active"] is active],
    }
    return as_json(runtime, body)


@router.get("/people", responses=ERRORS)
def people(
    user: CurrentUser,
    runtime: RuntimeDep,
    department: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[a-z0-9_.]+$",
            description="Only the people of this department or the units under it.",
        ),
    ] = None,
) -> JSONResponse:
    """The people who work tickets (agents and supervisors of the users file): id, name, role,
    department; what an owner picker offers, by name."""
    chosen = [
        {"id": u.id, "name": u.name, "role": u.role.value, "department": u.department}
        for u in runtime.users.all
        if u.role.value in ("agent", "supervisor")
        and (
            not department
            or u.department == department
            or u.department.startswith(department + ".")
        )
    ]
    return as_json(runtime, {"people": sorted(chosen, key=lambda p: (p["department"], p["name"]))})
