"""Callbacks (回访): schedule, record an unanswered attempt, the customer's verdict, cancel.

A verdict closes the source ticket (satisfied) or reopens it with a new SLA cycle
(dissatisfied) in the same write. Writes: front-office agents, supervisors, admins.
"""

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import CurrentUser
from api.params import IdempotencyKey, IfMatch, RuntimeDep
from api.present import callback_outcome, callback_view
from api.schemas import ERRORS, CallbackOut, body_of
from api.writes import as_json, execute
from domain import commands as c
from domain.callback import Callback

router = APIRouter(tags=["callbacks"])
ScheduleBody = body_of(c.ScheduleCallback)
AttemptBody = body_of(c.RecordCallbackAttempt, "callback_id")
OutcomeBody = body_of(c.RecordCallbackOutcome, "callback_id")
CancelBody = body_of(c.CancelCallback, "callback_id")


@router.post("/callbacks", status_code=201, response_model=CallbackOut, responses=ERRORS)
def schedule(
    body: ScheduleBody,  # type: ignore[valid-type]
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Schedule a post-service callback for an answered ticket, or a periodic one for a customer."""
    runtime.policy.require_callbacks(user, runtime.now())
    return execute(
        runtime,
        request,
        user,
        c.ScheduleCallback,
        body.model_dump(exclude_unset=True),  # type: ignore[attr-defined]
        present=callback_outcome,
        key=idempotency_key,
        created=True,
    )


def _on_callback(
    command: type[c.Command],
    callback_id: UUID,
    fields: dict[str, object],
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    if_match: str | None,
    idempotency_key: str | None,
) -> JSONResponse:
    runtime.policy.require_callbacks(user, runtime.now())
    return execute(
        runtime,
        request,
        user,
        command,
        {**fields, "callback_id": callback_id},
        present=callback_outcome,
        key=idempotency_key,
        if_match=if_match,
    )


@router.post("/callbacks/{callback_id}/attempts", response_model=CallbackOut, responses=ERRORS)
def attempt(
    callback_id: UUID,
    body: AttemptBody,  # type: ignore[valid-type]
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A call that did not reach the customer; the last allowed one makes it unreachable."""
    fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    return _on_callback(
        c.RecordCallbackAttempt,
        callback_id,
        fields,
        request,
        user,
        runtime,
        if_match,
        idempotency_key,
    )


@router.post("/callbacks/{callback_id}/outcome", response_model=CallbackOut, responses=ERRORS)
def outcome(
    callback_id: UUID,
    body: OutcomeBody,  # type: ignore[valid-type]
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The customer was reached: satisfaction 1-5; closes or reopens the source ticket."""
    fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    return _on_callback(
        c.RecordCallbackOutcome,
        callback_id,
        fields,
        request,
        user,
        runtime,
        if_match,
        idempotency_key,
    )


@router.post("/callbacks/{callback_id}/cancel", response_model=CallbackOut, responses=ERRORS)
def cancel(
    callback_id: UUID,
    body: CancelBody,  # type: ignore[valid-type]
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Cancel an open callback, with a reason."""
    fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    return _on_callback(
        c.CancelCallback,
        callback_id,
        fields,
        request,
        user,
        runtime,
        if_match,
        idempotency_key,
    )


@router.get("/callbacks/{callback_id}", response_model=CallbackOut, responses=ERRORS)
def show(callback_id: UUID, user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """A callback: state, attempts, due time, verdict, source ticket."""
    callback = runtime.load(Callback, callback_id, "callback")
    return as_json(runtime, callback_view(callback), headers={"ETag": f'"{callback.version}"'})
