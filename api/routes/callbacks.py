"""Callbacks (回访): schedule, record an unanswered attempt, the customer's verdict, cancel.

A verdict closes the source ticket (satisfied) or reopens it with a new SLA cycle
(dissatisfied) in the same write. Writes: front-office agents, supervisors, admins.
"""

from __future__ import annotations

from functools import partial
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.present import callback_outcome, callback_view
from api.responses import tagged
from api.routes.command import add_command_route
from api.runtime import Runtime
from api.schemas import ERRORS, CallbackOut
from api.users import User
from domain import commands as c
from domain.callback import Callback

router = APIRouter(tags=["callbacks"])


def _handles_callbacks(runtime: Runtime, user: User, _: UUID | None) -> None:
    runtime.policy.require_callbacks(user, runtime.now())


post = partial(
    add_command_route,
    router,
    authorise=_handles_callbacks,
    present=callback_outcome,
    response_model=CallbackOut,
)
post(
    "/callbacks",
    c.ScheduleCallback,
    name="schedule",
    doc="Schedule a post-service callback for an answered ticket, "
    "or a periodic one for a customer.",
)
for _path, _name, _command, _doc in (
    (
        "attempts",
        "attempt",
        c.RecordCallbackAttempt,
        "A call that did not reach the customer; the last allowed one makes it unreachable.",
    ),
    (
        "outcome",
        "outcome",
        c.RecordCallbackOutcome,
        "The customer was reached: satisfaction 1-5; closes or reopens the source ticket.",
    ),
    ("cancel", "cancel", c.CancelCallback, "Cancel an open callback, with a reason."),
):
    post(
        f"/callbacks/{{callback_id}}/{_path}",
        _command,
        name=_name,
        address="callback_id",
        doc=_doc,
    )


@router.get("/callbacks/{callback_id}", response_model=CallbackOut, responses=ERRORS)
def show(callback_id: UUID, user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """A callback: state, attempts, due time, verdict, source ticket."""
    callback = runtime.load(Callback, callback_id, "callback")
    return tagged(runtime, callback_view(callback), callback.version)
