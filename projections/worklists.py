"""worklists: open tickets per department and owner, ordered by their next deadline.

One row per open ticket. ``state`` follows the lifecycle events as the aggregate moves it
(service steps through ``domain.service_request.STEPS``); ``next_due_at``/``next_milestone``
name the earliest due time among the ticket's running clocks (a paused clock has none; an
overdue one keeps its past due time, so it sorts first). A ticket leaves the list when it is
closed, withdrawn, rejected or resolved at first contact, and comes back when it is reopened.
``updated_at`` is the ``occurred_at`` of the last event that changed the row.

``worklists_tickets`` keeps every ticket's facts (closed ones too, so a reopened ticket comes
back whole) and the due times of its live clocks.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from domain.service_request import STEPS
from projections.core import Projection, Row, Rows, Table
from projections.sla_deadlines import SERVICE_STEP_EVENTS, clock_key, instant, stamp

WORKLISTS = "worklists"
TICKETS = "worklists_tickets"
TERMINAL = frozenset({"closed", "resolved_at_front", "rejected", "withdrawn"})

# Lifecycle events shared by every ticket kind -> the state they lead to.
_STATES = {
    "ComplaintVerified": "verified",
    "ComplaintClassified": "classified",
    "ComplaintRejected": "rejected",
    "CauseAnalysed": "in_progress",
    "WorkOrderDispatched": "dispatched",
    "WorkOrderAccepted": "accepted",
    "WorkOrderTransferred": "dispatched",
    "DepartmentReplied": "replied",
    "CustomerAnswered": "customer_answered",
    "CallbackRequested": "callback_pending",
    "CallbackReleased": "customer_answered",
    "TicketClosed": "closed",
    "TicketReopened": "reopened",
    "ResolvedAtFirstContact": "resolved_at_front",
    "TicketWithdrawn": "withdrawn",
}

# Columns a worklist row shows straight from the ticket's facts.
_SHOWN = (
    "ticket_id",
    "number",
    "kind",
    "state",
    "department",
    "owner",
    "priority",
    "grade",
    "customer_name",
    "category",
    "received_at",
    "supervised",
    "urges",
    "transfers",
    "paused",
)
_shown = itemgetter(*_SHOWN)
# Every column of a worklist row but ``updated_at``: what decides whether it changed.
_compared = itemgetter(*_SHOWN, "next_due_at", "next_milestone")


def _due_of(payload: dict[str, Any]) -> str | None:
    pauses = payload.get("pauses") or []
    if pauses and pauses[-1][1] is None:
        return None
    return stamp(payload.get("due_at"))


class Worklists(Projection):
    """Open tickets with who holds them and what falls due first."""

    name = "worklists"
    version = 1
    tables = (
        Table(
            WORKLISTS,
            key=("ticket_id",),
            columns=(
                ("ticket_id", "text"),
                ("number", "text"),
                ("kind", "text"),
                ("state", "text"),
                ("department", "text"),
                ("owner", "text"),
                ("priority", "text"),
                ("grade", "text"),
                ("customer_name", "text"),
                ("category", "text"),
                ("next_due_at", "ts"),
                ("next_milestone", "text"),
                ("received_at", "ts"),
                ("updated_at", "ts"),
                ("supervised", "bool"),
                ("urges", "int"),
                ("transfers", "int"),
                ("paused", "bool"),
            ),
        ),
        Table(
            TICKETS,
            key=("ticket_id",),
            columns=(
                ("ticket_id", "text"),
                ("number", "text"),
                ("kind", "text"),
                ("state", "text"),
                ("department", "text"),
                ("owner", "text"),
                ("priority", "text"),
                ("grade", "text"),
                ("customer_name", "text"),
                ("category", "text"),
                ("received_at", "ts"),
                ("supervised", "bool"),
                ("urges", "int"),
                ("transfers", "int"),
                ("paused", "bool"),
                ("cycle", "int"),
                # live clocks: {"milestone#cycle": due_at (UTC ISO) or null while paused}
                ("clocks", "json"),
            ),
        ),
    )

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in ("ComplaintReceived", "ServiceRequestReceived"):
            head = self._received(event, name)
        else:
            found = rows.get(TICKETS, (str(event.originator_id),))
            if found is None:
                return  # not a ticket (customers, callbacks) or one we never saw
            head = found
            if not self._apply(event, name, head):
                return
        rows.put(TICKETS, head)
        self._show(head, rows, event.meta.occurred_at)

    # ------------------------------------------------------------ the ticket's facts

    @staticmethod
    def _received(event: Any, name: str) -> Row:
        details = event.details
        customer = details.get("customer") or {}
        return {
            "ticket_id": str(event.originator_id),
            "number": event.number,
            "kind": "complaint" if name == "ComplaintReceived" else event.kind,
            "state": "received",
            "department": details.get("department"),
            "owner": None,
            "priority": details.get("priority"),
            "grade": customer.get("grade"),
            "customer_name": customer.get("name"),
            "category": details.get("category"),
            "received_at": event.meta.occurred_at,
            "supervised": False,
            "urges": 0,
            "transfers": 0,
            "paused": False,
            "cycle": 1,
            "clocks": {},
        }

    def _apply(self, event: Any, name: str, head: Row) -> bool:
        """Move the ticket's facts by one event; False when the event says nothing here."""
        if name in _STATES:
            head["state"] = _STATES[name]
        if name in SERVICE_STEP_EVENTS:
            steps = STEPS.get(head["kind"], {})
            _, target = steps.get(SERVICE_STEP_EVENTS[name], (frozenset(), None))
            if target is not None:
                head["state"] = target.value
            head["owner"] = event.owner
            return True
        match name:
            case "WorkOrderDispatched":
                head.update(department=event.department, owner=event.owner)
            case "WorkOrderTransferred":
                head.update(
                    department=event.department,
                    owner=event.owner,
                    transfers=head["transfers"] + 1,
                )
            case "WorkOrderHandedOver":
                head["department"] = event.department
            case "WorkOrderAccepted":
                head["owner"] = event.owner
            case "ComplaintClassified" | "Reclassified":
                head.update(category=event.category, priority=event.priority)
            case "PriorityRaised":
                head["priority"] = event.new
            case "Urged":
                head["urges"] = head["urges"] + 1
            case "SupervisionOpened":
                head["supervised"] = True
            case "SlaPolicyBound" | "ClockResumed":
                self._clocks(head, event.clocks)
                if name == "ClockResumed":
                    head["paused"] = False
            case "SlaClockStarted":
                self._clocks(head, [event.clock])
            case "SlaPolicyRebound":
                for milestone in event.dropped:
                    self._forget(head, milestone, head["cycle"])
                self._clocks(head, event.clocks)
            case "TicketReopened":
                head.update(cycle=int(event.cycle), paused=False)
                self._clocks(head, event.clocks)
            case "ClockPaused":
                head["paused"] = True
                for milestone in event.milestones:
                    key = clock_key(milestone, head["cycle"])
                    if key in head["clocks"]:
                        head["clocks"] = {**head["clocks"], key: None}
            case "SlaTargetMet" | "SlaClockCancelled":
                self._forget(head, event.milestone, int(event.cycle))
            case _:
                return name in _STATES
        return True

    @staticmethod
    def _clocks(head: Row, payloads: list[dict[str, Any]]) -> None:
        clocks = dict(head["clocks"])
        for payload in payloads:
            clocks[clock_key(payload["milestone"], int(payload["cycle"]))] = _due_of(payload)
        head["clocks"] = clocks

    @staticmethod
    def _forget(head: Row, milestone: str, cycle: int) -> None:
        key = clock_key(milestone, cycle)
        head["clocks"] = {k: v for k, v in head["clocks"].items() if k != key}

    # ------------------------------------------------------------ the worklist row

    @staticmethod
    def _show(head: Row, rows: Rows, at: Any) -> None:
        key = (head["ticket_id"],)
        old = rows.get(WORKLISTS, key)
        if head["state"] in TERMINAL:
            if old is not None:
                rows.delete(WORKLISTS, key)
            return
        due = min(
            (
                (instant(d), k.rpartition("#")[0])
                for k, d in head["clocks"].items()
                if d is not None
            ),
            default=(None, None),
        )
        row: Row = dict(zip(_SHOWN, _shown(head), strict=True))
        row["next_due_at"], row["next_milestone"] = due
        if old is not None and _compared(old) == _compared(row):
            return
        rows.put(WORKLISTS, {**row, "updated_at": at})
