"""Who am I, and is the service up (the one route without a token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import AGENT_ACTIONS
from api.deps import CurrentUser, RuntimeDep
from api.errors import ApiError
from api.responses import as_json
from api.schemas import Health, Me
from domain.base import Role
from domain.errors import DomainError

router = APIRouter(tags=["system"])


@router.get("/me", response_model=Me)
def me(user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """The caller: role, department, and what that lets them do."""
    now = runtime.now()
    policy = runtime.policy
    try:
        front: str | None = runtime.desk.directory.front_office(now)
    except DomainError:
        front = None
    in_front = policy.in_front_office(user, now)
    if user.role is Role.AGENT:
        # An agent's actions depend on the ticket: these, on their own or any (front office).
        actions = sorted(AGENT_ACTIONS)
    else:
        actions = sorted(policy.ticket_actions(user, None, now))
    try:
        policy.require_callbacks(user, now)
        callbacks = True
    except ApiError:
        callbacks = False
    body = {
        "id": user.id,
        "name": user.name,
        "role": user.role.value,
        "department": user.department,
        "front_office": in_front,
        "front_office_department": front,
        "ticket_actions": actions,
        "may_intake": user.role in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN),
        "may_handle_callbacks": callbacks,
        "read_only": user.role is Role.AUDITOR,
    }
    return as_json(runtime, body)


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(runtime: RuntimeDep) -> JSONResponse:
    """Up, which backend, the log's head, every view's progress or failure, every worker.

    No token needed. Answers within about a second whatever the database does: the database
    part is read in a thread of its own, and a database that does not answer in time is
    reported as down (HTTP 503) with the last reading it gave.
    """
    probe = runtime.health
    reading, trouble = (None, "no health probe") if probe is None else await probe.aread()
    gate = runtime.gate
    database: dict[str, Any] = {"state": "up", "code": None, "since": None, "error": None}
    if trouble is not None or not gate.open:
        database = {**gate.as_dict(), "state": "down", "error": trouble}
        database["code"] = gate.code or "database_unavailable"
    workers = runtime.workers.states() if runtime.workers is not None else {}
    projections = reading["projections"] if reading else {}
    degraded = any(v["state"] != "running" for v in projections.values()) or any(
        w["state"] != "running" for w in workers.values()
    )
    status = "unavailable" if database["state"] == "down" else "degraded" if degraded else "ok"
    body = {
        "status": status,
        "backend": runtime.settings.backend,
        "head": reading["head"] if reading else None,
        "projections": projections,
        "workers": workers,
        "database": database,
        "checked_at": reading["read_at"] if reading and trouble is None else runtime_now(),
    }
    return as_json(runtime, body, status=503 if status == "unavailable" else 200)


def runtime_now() -> datetime:
    """The wall clock of this check (when no fresh reading could be made)."""
    return datetime.now(UTC)
