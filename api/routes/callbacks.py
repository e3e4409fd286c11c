"""Callbacks (回访): schedule, record an unanswered attempt, the customer's verdict, cancel.

A verdict closes the source ticket (satisfied) or reopens it with a new SLA cycle
(dissatisfied) in the same write. Writes: front-office agents, supervisors, admins.
"""

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.params import IdempotencyKey, IfMatch
from api.present import callback_outcome, callback_view
from api.responses import as_json
from api.schemas import ERRORS, CallbackOut, body_of
from api.writes import execute
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


def _callback_route(
    name: str, command: type[c.Command], body_class: Any, doc: str
) -> Callable[..., JSONResponse]:
    """The route of one callback action: its body (``callback_id`` from the path) to the desk."""

    def route(
        callback_id: UUID,
        body: body_class,
        request: Request,
        user: CurrentUser,
        runtime: RuntimeDep,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        fields = body.model_dump(exclude_unset=True)
        return _on_callback(
            command, callback_id, fields, request, user, runtime, if_match, idempotency_key
        )

    route.__name__ = name
    route.__doc__ = doc
    return route


for _path, _name, _command, _body, _doc in (
    (
        "attempts",
        "attempt",
        c.RecordCallbackAttempt,
        AttemptBody,
        "A call that did not reach the customer; the last allowed one makes it unreachable.",
    ),
    (
        "outcome",
        "outcome",
        c.RecordCallbackOutcome,
        OutcomeBody,
        "The customer was reached: satisfaction 1-5; closes or reopens the source ticket.",
    ),
    ("cancel", "cancel", c.CancelCallback, CancelBody, "Cancel an open callback, with a reason."),
):
    router.add_api_route(
        f"/callbacks/{{callback_id}}/{_path}",
        _callback_route(_name, _command, _body, _doc),
        methods=["POST"],
        response_model=CallbackOut,
        responses=ERRORS,
    )


@router.get("/callbacks/{callback_id}", response_model=CallbackOut, responses=ERRORS)
def show(callback_id: UUID, user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """A callback: state, attempts, due time, verdict, source ticket."""
    callback = runtime.load(Callback, callback_id, "callback")
    return as_json(runtime, callback_view(callback), headers={"ETag": f'"{callback.version}"'})
