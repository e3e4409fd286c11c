"""Tickets: intake, one route per lifecycle action, search, the ticket now or as of, its history.

The write routes are made by ``api.routes.command``: this module says only which command each
path sends and who may send it (an action: the policy, against the ticket's department).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import search
from api.deps import CurrentUser, RuntimeDep
from api.errors import ApiError
from api.params import (
    AtRisk,
    Breached,
    DepartmentQuery,
    DueAfter,
    DueBefore,
    EscalationLevel,
    InstantQuery,
    KindsQuery,
    Limit,
    Offset,
    OpenQuery,
    Reopened,
    SearchText,
    Sort,
    StatesQuery,
    Supervised,
    TakenInBy,
    parse_instant,
)
from api.present import history_rows, intake_outcome, ticket_outcome, ticket_view
from api.privacy import PersonalRead
from api.responses import as_json, tagged
from api.routes.command import Authorise, add_command_route
from api.runtime import Runtime
from api.schemas import ERRORS, ActionResult, HistoryOut, IntakeResult, TicketOut, TicketPage
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


@router.get("/tickets", response_model=TicketPage, responses=ERRORS)
def find(
    user: CurrentUser,
    runtime: RuntimeDep,
    read: PersonalRead,
    q: SearchText = None,
    state: StatesQuery = None,
    kind: KindsQuery = None,
    department: DepartmentQuery = None,
    taken_in_by: TakenInBy = None,
    at_risk: AtRisk = None,
    breached: Breached = None,
    escalation_level: EscalationLevel = None,
    supervised: Supervised = None,
    reopened: Reopened = None,
    open: OpenQuery = None,
    due_before: DueBefore = None,
    due_after: DueAfter = None,
    sort: Sort = "next_due_at",
    limit: Limit = 50,
    offset: Offset = 0,
) -> JSONResponse:
    """Find tickets, open and closed: by ``q`` (number or its start, phone or its last 4
    digits, a part of the customer's name or of the content, customer or ticket id) and by
    filters, all of which must hold. ``total`` counts every ticket that matches; pages never
    overlap (ties are ordered by ticket id). Phones are masked as on a single ticket read,
    row by row; each unmasked row is recorded in the access log (``reveal=false``: none is).
    """
    now = runtime.now()
    tz = runtime.settings.tz
    query = search.TicketQuery(
        q=q,
        state=state,
        kind=kind,
        department=department,
        taken_in_by=taken_in_by,
        at_risk=at_risk,
        breached=breached,
        escalation_level=escalation_level,
        supervised=supervised,
        reopened=reopened,
        open=open,
        due_before=None if due_before is None else parse_instant(due_before, "due_before", tz),
        due_after=None if due_after is None else parse_instant(due_after, "due_after", tz),
        sort=sort,
        limit=limit,
        offset=offset,
    )
    progress = runtime.reader.progress(search.VIEW)
    rows, total = search.find_tickets(runtime, user, query, now)
    search.masked_hits(runtime, user, read, rows, now)
    body = {
        "at": now,
        "projection": progress,
        "total": total,
        "count": len(rows),
        "limit": limit,
        "offset": offset,
        "rows": rows,
    }
    return as_json(runtime, body)


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
