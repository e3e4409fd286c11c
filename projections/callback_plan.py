"""callback_plan: what the callback scheduler (回访计划) works from.

Two tables:

- ``callback_plan_tickets``: one row per ticket with its customer, department and cycle, and
  ``awaiting`` = answered to the customer (答复客户) in the current cycle and no post-service
  callback requested yet. A dissatisfied callback reopens the ticket (new cycle, not awaiting);
  the next answer makes it await its next callback.
- ``callback_plan_customers``: one row per customer with its grade (A/B/C, 分级), since when it
  holds that grade, and how many periodic callbacks it has had, the last one due when.

:func:`next_periodic` says, from such a row, which periodic callback is next and when it is
due; the cadence per grade is data (``config/data/callback_plan.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.personal import ERASED
from projections.core import Projection, Rows, Table, meta_of
from projections.ticket_facts import TicketFacts

TICKETS = "callback_plan_tickets"
CUSTOMERS = "callback_plan_customers"
FACTS = TicketFacts(
    TICKETS,
    "ticket_id",
    "number",
    "kind",
    "customer_id",
    "department",
    "cycle",
    ("awaiting", "bool"),
    ("answered_at", "ts"),
    ("callback_id", "text"),
    "callback_cycle",
    start={"awaiting": False},
)

# Events after which a ticket no longer waits for a post-service callback.
_ENDS_WAIT = (
    "TicketClosed",
    "TicketWithdrawn",
    "ComplaintRejected",
    "ResolvedAtFirstContact",
)


class CallbackPlan(Projection):
    """Tickets waiting for their post-service callback; customers' periodic callback plan."""

    name = "callback_plan"
    holds_personal_data = True  # customers' names: erasure blanks them
    version = 1
    tables = (
        FACTS.table,
        Table(
            CUSTOMERS,
            key=("customer_id",),
            columns=(
                ("customer_id", "text"),
                ("name", "text"),
                ("grade", "text"),
                ("key_account", "bool"),
                ("graded_at", "ts"),
                ("periodic_count", "int"),
                ("last_periodic_due_at", "ts"),
                ("last_periodic_id", "text"),
            ),
        ),
    )

    # -------------------------------------------------------------- tickets

    def on_ComplaintReceived(self, event: Any, rows: Rows) -> None:
        rows.put(TICKETS, FACTS.received(event))

    on_ServiceRequestReceived = on_ComplaintReceived

    def _update(self, event: Any, rows: Rows, **changes: Any) -> None:
        FACTS.change(event, rows, changes)

    def on_CustomerAnswered(self, event: Any, rows: Rows) -> None:
        self._update(event, rows, awaiting=True, answered_at=meta_of(event).occurred_at)

    def on_CallbackRequested(self, event: Any, rows: Rows) -> None:
        row = FACTS.of(event, rows)
        if row is not None:
            rows.put(
                TICKETS,
                {
                    **row,
                    "awaiting": False,
                    "callback_id": str(event.callback_id),
                    "callback_cycle": row["cycle"],
                },
            )

    def on_CallbackReleased(self, event: Any, rows: Rows) -> None:
        # Its callback was cancelled: the agent decides what next, the scheduler does not.
        self._update(event, rows, awaiting=False, callback_id=None, callback_cycle=None)

    def on_TicketReopened(self, event: Any, rows: Rows) -> None:
        self._update(event, rows, awaiting=False, cycle=event.cycle, answered_at=None)

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in _ENDS_WAIT:
            self._update(event, rows, awaiting=False)
            return
        if name in FACTS.moves:  # dispatched, transferred or handed over: the department
            FACTS.change(event, rows, FACTS.moved(name, event))
            return
        super().fold(event, rows)

    # ------------------------------------------------------------ customers

    def on_CustomerRegistered(self, event: Any, rows: Rows) -> None:
        rows.put(
            CUSTOMERS,
            {
                "customer_id": str(event.originator_id),
                "name": event.name,
                "grade": "none",
                "key_account": False,
                "periodic_count": 0,
            },
        )

    def on_CustomerErased(self, event: Any, rows: Rows) -> None:
        row = rows.get(CUSTOMERS, (str(event.originator_id),))
        if row is not None:
            rows.put(CUSTOMERS, {**row, "name": ERASED})

    def on_GradeAssigned(self, event: Any, rows: Rows) -> None:
        row = rows.get(CUSTOMERS, (str(event.originator_id),))
        if row is None:
            return
        changed = event.grade != row["grade"]
        rows.put(
            CUSTOMERS,
            {
                **row,
                "grade": event.grade,
                "key_account": bool(event.key_account),
                # The cadence counts from when the customer took this grade, not from a
                # re-assignment of the same grade with a new basis.
                "graded_at": meta_of(event).occurred_at if changed else row["graded_at"],
            },
        )

    def on_CallbackScheduled(self, event: Any, rows: Rows) -> None:
        if event.kind != "periodic" or event.customer_id is None:
            return
        row = rows.get(CUSTOMERS, (str(event.customer_id),))
        if row is None:
            return
        last = row["last_periodic_due_at"]
        rows.put(
            CUSTOMERS,
            {
                **row,
                "periodic_count": (row["periodic_count"] or 0) + 1,
                "last_periodic_due_at": event.due_at if last is None else max(last, event.due_at),
                "last_periodic_id": str(event.originator_id),
            },
        )


@dataclass(frozen=True)
class NextPeriodic:
    """The next periodic callback of a customer: its index (1, 2, ...) and due instant."""

    index: int
    due_at: datetime


def next_periodic(
    *,
    graded_at: datetime | None,
    periodic_count: int,
    last_due_at: datetime | None,
    every: timedelta,
    now: datetime,
) -> NextPeriodic:
    """The customer's next periodic callback.

    It falls ``every`` after the later of the last periodic callback and the day the customer
    took its grade (so a regrade to A shortens the wait at once). When that lies in the past
    (the scheduler was not running) it is due now: one call to catch up, not a burst.
    """
    anchors = [a for a in (graded_at, last_due_at) if a is not None]
    if not anchors:
        return NextPeriodic(periodic_count + 1, now)
    due = max(anchors) + every
    return NextPeriodic(periodic_count + 1, max(due, now))
