"""The department performance report (部门绩效), from the view or as of a past instant.

Without ``as_of`` the rows come from the ``department_performance`` view (``source: views``),
backlog aged at the desk's now. With ``as_of`` the report is replayed in memory from the
events recorded up to that instant only (``source: replay``): exactly what was known then,
resumed from cached checkpoints and at most two at a time (``api/replays.py``: 503 ``busy``
with ``Retry-After`` when more wait too long).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.errors import invalid_input
from api.params import Day, InstantQuery, parse_instant
from api.replays import Busy
from api.responses import as_json
from api.schemas import ERRORS, ReportOut
from projections.department_performance import DepartmentPerformance
from projections.reports import department_report

router = APIRouter(tags=["reports"])
VIEW = "department_performance"
MAX_DAYS = 366


@router.get("/reports/departments", response_model=ReportOut, responses=ERRORS)
def departments(
    user: CurrentUser,
    runtime: RuntimeDep,
    date_from: Annotated[Day, Query(alias="from")] = None,
    date_to: Annotated[Day, Query(alias="to")] = None,
    as_known_at: InstantQuery = None,
    as_of: InstantQuery = None,
) -> JSONResponse:
    """Per department (and TOTAL): volumes, on-time rates, durations, satisfaction, backlog.

    Two time axes. ``from``/``to`` are local dates of business time, both included (default:
    this month up to today): every fact counts on the day it happened (``occurred_at``), so
    October traffic entered in November shows in October, and breaches withdrawn by later
    facts are out (counted in ``breaches_withdrawn``). ``as_known_at`` (older name
    ``as_of``) is the recording horizon: the report as it could be made then, from the
    events recorded by that instant (replayed); without it, everything known now.
    """
    horizon_field = "as_of" if as_known_at is None else "as_known_at"
    if as_known_at is not None:
        as_of = as_known_at
    tz = runtime.settings.tz
    now = runtime.now()
    today = now.astimezone(tz).date()
    first = date_from or today.replace(day=1)
    last = date_to or today
    if last < first:
        raise invalid_input("to", f"{last} lies before from ({first})")
    if (last - first) > timedelta(days=MAX_DAYS):
        raise invalid_input("to", f"a report covers at most {MAX_DAYS} days")
    directory = runtime.desk.directory
    if as_of is None:
        progress = runtime.reader.progress(VIEW)
        store = runtime.reader.follower(VIEW).store
        rows = department_report(store, first, last, now, directory=directory, total=True)
        at, source = now, "views"
    else:
        at = parse_instant(as_of, horizon_field, tz)
        head = int(runtime.desk.recorder.max_notification_id() or 0)
        progress = {"position": head, "head": head, "lag": 0}
        projection = DepartmentPerformance(directory, runtime.settings.timezone)
        try:
            # From cached checkpoints, at most two replays at once (api/replays.py).
            replays = runtime.guards.replays
            rows = replays.report_as_of(runtime.desk, projection, at, first, last, total=True)
        except Busy as busy:
            return busy.response()
        source = "replay"
    body = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "as_of": at,
        "source": source,
        "projection": progress,
        "rows": rows,
    }
    return as_json(runtime, body)
