"""worklists: open tickets per department and owner, ordered by their next deadline.

One row per open ticket. ``state`` follows the lifecycle events as the aggregate moves it
(service steps through ``domain.service_request.STEPS``); ``next_due_at``/``next_milestone``
name the earliest due time among the ticket's running clocks (a paused clock has none; an
overdue one keeps its past due time, so it sorts first). A ticket leaves the list when it is
closed, withdrawn, rejected or resolved at first contact, and comes back when it is reopened.
``updated_at`` is the ``occurred_at`` of the last event that changed the row.

``worklists_tickets`` keeps every ticket's facts (closed ones too, so a reopened ticket comes
back whole) and the due times of its live clocks, with the plumbing of ``ticket_facts.py``.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from domain.personal import ERASED
from projections.core import Projection, Row, Rows, Table
from projections.ticket_facts import STATE_AFTER, TERMINAL, TicketFacts, follow_clocks, next_due

WORKLISTS = "worklists"
TICKETS = "worklists_tickets"
FACTS = TicketFacts(
    TICKETS,
    "ticket_id",
    "number",
    "kind",
    ("state", "text"),
    "department",
    "owner",
    "priority",
    "grade",
    "customer_name",
    "category",
    "received_at",
    ("supervised", "bool"),
    ("urges", "int"),
    "transfers",
    ("paused", "bool"),
    "cycle",
    "clocks",  # {"milestone#cycle": due_at (UTC ISO) or null while paused}
    start={"state": "received", "supervised": False, "urges": 0, "paused": False},
)
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


class Worklists(Projection):
    """Open tickets with who holds them and what falls due first."""

    name = "worklists"
    version = 1
    holds_personal_data = True  # names and phones: erasure blanks them, compaction rewrites
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
        FACTS.table,
    )

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in ("ComplaintReceived", "ServiceRequestReceived"):
            head = FACTS.received(event)
        elif name == "CustomerErased":
            self._erased(event, rows)
            return
        else:
            found = FACTS.of(event, rows)
            if found is None:
                return  # not a ticket (customers, callbacks) or one we never saw
            head = found
            if not self._apply(event, name, head):
                return
        rows.put(TICKETS, head)
        self._show(head, rows, event.meta.occurred_at)

    # ------------------------------------------------------------ the ticket's facts

    def _apply(self, event: Any, name: str, head: Row) -> bool:
        """Move the ticket's facts by one event; False when the event says nothing here."""
        if FACTS.follow(head, name, event):  # department, owner, priority or category
            return True
        if follow_clocks(head, name, event):
            if name in ("ClockResumed", "TicketReopened"):
                head["paused"] = False
            elif name == "ClockPaused":
                head["paused"] = True
            return True
        match name:
            case "Urged":
                head["urges"] = head["urges"] + 1
            case "SupervisionOpened":
                head["supervised"] = True
            case _:
                return name in STATE_AFTER
        return True

    @staticmethod
    def _erased(event: Any, rows: Rows) -> None:
        """The customer's name reads as erased on their tickets, as a rebuild writes it."""
        for ticket in event.tickets:
            for table in (TICKETS, WORKLISTS):
                row = rows.get(table, (ticket,))
                if row is not None and row["customer_name"] is not None:
                    rows.put(table, {**row, "customer_name": ERASED})

    # ------------------------------------------------------------ the worklist row

    @staticmethod
    def _show(head: Row, rows: Rows, at: Any) -> None:
        key = (head["ticket_id"],)
        old = rows.get(WORKLISTS, key)
        if head["state"] in TERMINAL:
            if old is not None:
                rows.delete(WORKLISTS, key)
            return
        row: Row = dict(zip(_SHOWN, _shown(head), strict=True))
        row["next_due_at"], row["next_milestone"] = next_due(head["clocks"])
        if old is not None and _compared(old) == _compared(row):
            return
        rows.put(WORKLISTS, {**row, "updated_at": at})
