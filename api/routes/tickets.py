"""Tickets: intake, one route per lifecycle action, the ticket now or as of, its history.

The write routes are made by ``api.routes.command``: this module says only which command each
path sends and who may send it (an action: the policy, against the ticket's department).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.errors import ApiError
from api.params import InstantQuery, parse_instant
from api.present import history_rows, intake_outcome, ticket_outcome, ticket_view
from api.privacy import PersonalRead
from api.responses import as_json, tagged
from api.routes.command import Authorise, add_command_route
from api.runtime import Runtime
from api.schemas import ERRORS, ActionResult, HistoryOut, IntakeResult, TicketOut
from api.users import User
from domain import commands as c

router = APIRouter(tags=["tickets"])


def _takes_in(runtime: Runtime, user: User, _: UUID | None) -> None:
    runtime.policy.require_intake(user)


def _may(action: str) -> Authorise:
    """Whether the user may send ``action`` to the ticket, as its department stands now."""

    def authorise(runtime: Runtime, user: User, ticket_id: UUID | None) -> None:
        assert ticket_id is not None  # action routes address a ticket
        ticket = runtime.desk.ticket(ticket_id, copy=False)  # read: department and number
        runtime.policy.require_action(user, action, ticket.number, ticket.department, runtime.now())

    return authorise


add_command_route(
    router,
    "/tickets",
    c.ReceiveTicket,
    name="intake",
    authorise=_takes_in,
    present=intake_outcome,
    response_model=IntakeResult,
    doc="Take in a complaint or service request; binds the SLA policy and starts its clocks.",
    summary="Intake (受理) of any ticket kind",
)
for _action, _command in sorted(c.TICKET_ACTIONS.items()):
    add_command_route(
        router,
        f"/tickets/{{ticket_id}}/{_action}",
        _command,
        name=f"ticket_{_action}",
        address="ticket_id",
        fixed={"action": _action},
        authorise=_may(_action),
        present=ticket_outcome,
        response_model=ActionResult,
        doc=(_command.__doc__ or f"{_action} a ticket").strip(),
        summary=_action,
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
    user: CurrentUser,
    runtime: RuntimeDep,
    read: PersonalRead,
    at: InstantQuery = None,
    as_known_at: InstantQuery = None,
    as_of: InstantQuery = None,
) -> JSONResponse:
    """The ticket now, or on two time axes, each defaulting to now:

    * ``at``: a business instant: the ticket as it stood then, from the facts that had
      happened by then (``occurred_at``), late entries included: what truly happened;
    * ``as_known_at`` (older name ``as_of``): the recording horizon: only what had been
      recorded by then: what the system, and the SLA monitor, knew.

    Both together: the state at ``at`` as known at ``as_known_at``. SLA clocks show business
    time used and left at ``at`` (or ``as_known_at``, or now).
    """
    tz = runtime.settings.tz
    business = None if at is None else parse_instant(at, "at", tz)
    horizon_text, horizon_field = (as_known_at, "as_known_at") if as_known_at else (as_of, "as_of")
    horizon = None if horizon_text is None else parse_instant(horizon_text, horizon_field, tz)
    now = runtime.now()
    current = runtime.desk.ticket(ticket_id, copy=False)  # only read below
    unplaced: list[Any] = []
    if business is not None:
        ticket, unplaced = runtime.desk.ticket_at(ticket_id, business, horizon)
    elif horizon is not None:
        ticket = runtime.desk.ticket(ticket_id, as_of=horizon)
    else:
        ticket = current
    body = ticket_view(ticket, business or horizon or now, runtime.desk.catalogue)
    mine = runtime.policy.ticket_actions(user, current.department, now)
    body["at"], body["as_known_at"], body["as_of"] = business, horizon, horizon
    body["unplaced"] = [f"{type(e).__name__}#{e.originator_version}" for e in unplaced]
    past = business is not None or horizon is not None
    body["allowed_actions"] = [] if past else sorted(set(body["legal_actions"]) & mine)
    body["contact"], body["contact_masked"] = read.guard(
        body["contact"],
        entitled=runtime.policy.sees_ticket_personal_data(user, current.department, now),
        subject_kind="ticket",
        subject_id=ticket.id,
        subject_number=ticket.number,
    )
    return tagged(runtime, body, ticket.version)


@router.get("/tickets/{ticket_id}/history", response_model=HistoryOut, responses=ERRORS)
def history(
    ticket_id: UUID, user: CurrentUser, runtime: RuntimeDep, read: PersonalRead
) -> JSONResponse:
    """Every event of the ticket, oldest first: what, who, when it happened and was recorded."""
    ticket = runtime.desk.ticket(ticket_id, copy=False)  # read: its department
    events, masked = read.guard(
        history_rows(runtime.desk.history(ticket_id)),
        entitled=runtime.policy.sees_ticket_personal_data(user, ticket.department, runtime.now()),
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
