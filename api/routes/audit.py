"""The access log for auditors: every unmasked read of personal data, newest first.

Read straight from the event store (``DataAccessRecorded`` events, ``domain/access.py``):
one subject's log by its derived id, or a scan of the notification log selecting only that
event's topic.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.params import FilterValue, Limit
from api.responses import as_json
from api.schemas import ERRORS, AccessPage
from domain.access import ACCESS_TOPIC, access_log_id, access_records

router = APIRouter(tags=["audit"])
PAGE = 1000


@router.get("/audit/access", response_model=AccessPage, responses=ERRORS)
def access(
    user: CurrentUser,
    runtime: RuntimeDep,
    subject_id: UUID | None = None,
    actor: FilterValue = None,
    limit: Limit = 200,
) -> JSONResponse:
    """Who saw whose personal data unmasked: reader, subject, fields, reason, when."""
    runtime.policy.require_audit(user)
    desk = runtime.desk
    head = int(desk.recorder.max_notification_id() or 0)
    if subject_id is not None:
        events: list[Any] = list(desk.events.get(access_log_id(subject_id)))
    else:
        events = []
        start = 1
        while True:
            found = desk.recorder.select_notifications(
                start=start, limit=PAGE, stop=head, topics=[ACCESS_TOPIC]
            )
            events.extend(desk.mapper.to_domain_event(n) for n in found)
            if len(found) < PAGE:
                break
            start = found[-1].id + 1
    rows = [r for r in access_records(events) if actor is None or r["actor"] == actor]
    rows = list(reversed(rows))[:limit]
    return as_json(runtime, {"head": head, "count": len(rows), "rows": rows})
