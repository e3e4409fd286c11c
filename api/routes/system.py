"""Who am I, and is the service up (the one route without a token)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import AGENT_ACTIONS, CurrentUser
from api.errors import ApiError
from api.params import RuntimeDep
from api.schemas import Health, Me
from api.writes import as_json
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


@router.get("/health", response_model=Health)
def health(runtime: RuntimeDep) -> JSONResponse:
    """Up, which backend, the event log's head and every view's progress. No token needed."""
    reader = runtime.reader
    progress = {name: reader.progress(name) for name in sorted(reader.followers)}
    head = int(runtime.desk.recorder.max_notification_id() or 0)
    body = {
        "status": "ok",
        "backend": runtime.settings.backend,
        "head": head,
        "projections": progress,
        "workers": runtime.workers is not None,
    }
    return as_json(runtime, body)
