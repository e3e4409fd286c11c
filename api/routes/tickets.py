"""Tickets: intake, one route per lifecycle action, the ticket now or as of, its history.

No ``from __future__ import annotations`` here: the action routes are made in a loop and
FastAPI must see each one's body class itself, not its name.
"""

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.errors import ApiError
from api.params import (
    IdempotencyKey,
    IfMatch,
    InstantQuery,
    Reason,
    Reveal,
    parse_instant,
)
from api.present import history_rows, intake_outcome, ticket_outcome, ticket_view
from api.privacy import guard
from api.responses import as_json
from api.runtime import Runtime
from api.schemas import ERRORS, ActionResult, HistoryOut, IntakeResult, TicketOut, body_of
from api.writes import execute
from config.users import User
from domain import commands as c

router = APIRouter(tags=["tickets"])
IntakeBody = body_of(c.ReceiveTicket)


@router.post(
    "/tickets",
    status_code=201,
    response_model=IntakeResult,
    responses=ERRORS,
    summary="Intake (受理) of any ticket kind",
)
def intake(
    body: IntakeBody,  # type: ignore[valid-type]
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Take in a complaint or service request; binds the SLA policy and starts its clocks."""
    runtime.policy.require_intake(user)
    return execute(
        runtime,
        request,
        user,
        c.ReceiveTicket,
        body.model_dump(exclude_unset=True),  # type: ignore[attr-defined]
        present=intake_outcome,
        key=idempotency_key,
        created=True,
    )


def _action_route(action: str, command: type[c.TicketCommand]) -> Callable[..., JSONResponse]:
    """The route of one action; its body may be left out when none of its fields is required."""
    body_class = body_of(command, "ticket_id")

    def run(
        ticket_id: UUID,
        fields: dict[str, Any],
        request: Request,
        user: User,
        runtime: Runtime,
        if_match: str | None,
        idempotency_key: str | None,
    ) -> JSONResponse:
        ticket = runtime.desk.ticket(ticket_id, copy=False)  # read: department and number
        runtime.policy.require_action(user, action, ticket.number, ticket.department, runtime.now())
        return execute(
            runtime,
            request,
            user,
            command,
            {**fields, "ticket_id": ticket_id, "action": action},
            present=ticket_outcome,
            key=idempotency_key,
            if_match=if_match,
        )

    def with_body(
        ticket_id: UUID,
        body: body_class,  # type: ignore[valid-type]
        request: Request,
        user: CurrentUser,
        runtime: RuntimeDep,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        return run(ticket_id, fields, request, user, runtime, if_match, idempotency_key)

    def without_body(
        ticket_id: UUID,
        request: Request,
        user: CurrentUser,
        runtime: RuntimeDep,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
        body: body_class | None = None,  # type: ignore[valid-type]
    ) -> JSONResponse:
        fields: dict[str, Any] = {} if body is None else body.model_dump(exclude_unset=True)
        return run(ticket_id, fields, request, user, runtime, if_match, idempotency_key)

    required = any(info.is_required() for info in body_class.model_fields.values())
    act = with_body if required else without_body
    act.__name__ = f"ticket_{action}"
    act.__doc__ = (command.__doc__ or f"{action} a ticket").strip()
    return act


for _action, _command in sorted(c.TICKET_ACTIONS.items()):
    router.add_api_route(
        f"/tickets/{{ticket_id}}/{_action}",
        _action_route(_action, _command),
        methods=["POST"],
        response_model=ActionResult,
        responses=ERRORS,
        summary=f"{_action}",
        tags=["ticket actions"],
    )


@router.post("/tickets/{ticket_id}/{action}", include_in_schema=False)
def unknown_action(ticket_id: str, action: str, user: CurrentUser) -> None:
    raise ApiError(
        404,
        "unknown_action",
        f"unknown ticket action {action!r}",
        known_actions=sorted(c.TICKET_ACTIONS),
    )


@router.get("/tickets/{ticket_id}", response_model=TicketOut, responses=ERRORS)
def show(
    ticket_id: UUID,
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    as_of: InstantQuery = None,
    reveal: Reveal = None,
    reason: Reason = "",
) -> JSONResponse:
    """The ticket now, or as recorded at ``as_of``; SLA clocks used/left at that instant."""
    tz = runtime.settings.tz
    at = None if as_of is None else parse_instant(as_of, "as_of", tz)
    now = runtime.now()
    current = runtime.desk.ticket(ticket_id, copy=False)  # only read below
    ticket = current if at is None else runtime.desk.ticket(ticket_id, as_of=at)
    body = ticket_view(ticket, at or now, runtime.desk.catalogue)
    mine = runtime.policy.ticket_actions(user, current.department, now)
    body["as_of"] = at
    body["allowed_actions"] = [] if at is not None else sorted(set(body["legal_actions"]) & mine)
    body["contact"], body["contact_masked"] = guard(
        runtime,
        request,
        user,
        body["contact"],
        entitled=runtime.policy.sees_ticket_personal_data(user, current.department, now),
        reveal=reveal,
        reason=reason,
        subject_kind="ticket",
        subject_id=ticket.id,
        subject_number=ticket.number,
    )
    return as_json(runtime, body, headers={"ETag": f'"{ticket.version}"'})


@router.get("/tickets/{ticket_id}/history", response_model=HistoryOut, responses=ERRORS)
def history(
    ticket_id: UUID,
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    reveal: Reveal = None,
    reason: Reason = "",
) -> JSONResponse:
    """Every event of the ticket, oldest first: what, who, when it happened and was recorded."""
    ticket = runtime.desk.ticket(ticket_id, copy=False)  # read: its department
    events, masked = guard(
        runtime,
        request,
        user,
        history_rows(runtime.desk.history(ticket_id)),
        entitled=runtime.policy.sees_ticket_personal_data(user, ticket.department, runtime.now()),
        reveal=reveal,
        reason=reason,
        subject_kind="ticket",
        subject_id=ticket.id,
        subject_number=ticket.number,
    )
    body = {
        "id": str(ticket.id),
        "number": ticket.number,
        "contact_masked": masked,
        "events": events,
    }
    return as_json(runtime, body)
