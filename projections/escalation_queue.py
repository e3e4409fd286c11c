"""escalation_queue: the open escalations SLA monitors work from, one row per clock.

A clock (ticket, milestone, cycle) enters the queue when it is breached or reaches escalation
level 1, and leaves it when the clock stops (met, late or cancelled) or the ticket is closed,
withdrawn, rejected or resolved at first contact. A paused clock stays in the queue
(``paused`` true, ``due_at`` null): its escalation is still open.

Columns of ``escalation_queue``: ``level`` is the highest level reached (0 when only breached),
with that level's ``action``, ``target_role`` and ``target_department``; ``department`` is the
department in charge now; ``first_escalated_at`` is when the clock entered the queue (its first
escalation or its breach, whichever came first), ``last_escalated_at`` the latest of those,
``breached_at`` when the breach was recorded. Age is computed at read time from
``first_escalated_at``. ``escalation_queue_tickets`` keeps, per ticket, what the rows copy and
the due time of every live clock (with the plumbing of ``ticket_facts.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.core import Projection, Row, Rows, Table
from projections.ticket_facts import (
    TicketFacts,
    clock_key,
    clock_rows,
    due_of,
    forget_clock,
    instant,
    set_clock,
)

QUEUE = "escalation_queue"
TICKETS = "escalation_queue_tickets"
FACTS = TicketFacts(
    TICKETS,
    "ticket_id",
    "number",
    "kind",
    "priority",
    "grade",
    "department",
    "cycle",
    "clocks",  # {"milestone#cycle": due_at (UTC ISO) or null while paused}
)
_CLOSING = ("TicketClosed", "TicketWithdrawn", "ComplaintRejected", "ResolvedAtFirstContact")


class EscalationQueue(Projection):
    """Open escalations by level, department and age."""

    name = "escalation_queue"
    version = 1
    tables = (
        Table(
            QUEUE,
            key=("ticket_id", "milestone", "cycle"),
            columns=(
                ("ticket_id", "text"),
                ("milestone", "text"),
                ("cycle", "int"),
                ("number", "text"),
                ("kind", "text"),
                ("priority", "text"),
                ("grade", "text"),
                ("department", "text"),
                ("level", "int"),
                ("action", "text"),
                ("target_role", "text"),
                ("target_department", "text"),
                ("first_escalated_at", "ts"),
                ("last_escalated_at", "ts"),
                ("breached_at", "ts"),
                ("due_at", "ts"),
                ("paused", "bool"),
                ("updated_at", "ts"),
            ),
        ),
        FACTS.table,
    )

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _update(rows: Rows, row: Row, at: datetime, **fields: Any) -> None:
        if all(row.get(k) == v for k, v in fields.items()):
            return
        rows.put(QUEUE, {**row, **fields, "updated_at": at})

    def _clock_due(self, event: Any, rows: Rows, head: Row, payload: dict[str, Any]) -> None:
        """A clock starts or restarts: remember its due time; a queued row follows it."""
        milestone, cycle = payload["milestone"], int(payload["cycle"])
        due = due_of(payload)
        set_clock(head, clock_key(milestone, cycle), due)
        row = rows.get(QUEUE, (head["ticket_id"], milestone, cycle))
        if row is not None:
            self._update(rows, row, event.meta.occurred_at, due_at=instant(due), paused=due is None)

    def _leave(self, event: Any, rows: Rows, head: Row, milestone: str, cycle: int) -> None:
        """A clock stops: it is no longer live and its escalation is no longer open."""
        forget_clock(head, milestone, cycle)
        if rows.get(QUEUE, (head["ticket_id"], milestone, cycle)) is not None:
            rows.delete(QUEUE, (head["ticket_id"], milestone, cycle))

    def _enter(self, event: Any, head: Row, rows: Rows) -> tuple[Row | None, Row]:
        """The queued row of the event's clock, or a new one (None when the clock is not live)."""
        milestone, cycle = event.milestone, int(event.cycle)
        key = clock_key(milestone, cycle)
        if key not in head["clocks"]:
            return None, {}
        old = rows.get(QUEUE, (head["ticket_id"], milestone, cycle))
        if old is not None:
            return old, dict(old)
        at = event.meta.occurred_at
        due = head["clocks"][key]
        return None, {
            "ticket_id": head["ticket_id"],
            "milestone": milestone,
            "cycle": cycle,
            "number": head["number"],
            "kind": head["kind"],
            "priority": head["priority"],
            "grade": head["grade"],
            "department": head["department"],
            "level": 0,
            "action": None,
            "target_role": None,
            "target_department": None,
            "first_escalated_at": at,
            "last_escalated_at": at,
            "breached_at": None,
            "due_at": instant(due),
            "paused": due is None,
        }

    def _ticket_fields(self, event: Any, rows: Rows, fields: dict[str, Any]) -> None:
        """Department or priority changed: the ticket and its queued clocks follow."""
        head = FACTS.change(event, rows, fields)
        if head is None:
            return
        for row in clock_rows(head, rows, QUEUE):
            self._update(rows, row, event.meta.occurred_at, **fields)

    # ------------------------------------------------------------ intake

    def on_ComplaintReceived(self, event: Any, rows: Rows) -> None:
        rows.put(TICKETS, FACTS.received(event))

    on_ServiceRequestReceived = on_ComplaintReceived

    # ------------------------------------------------------------ clocks

    def _payloads(self, event: Any, rows: Rows, payloads: list[dict[str, Any]]) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        for payload in payloads:
            self._clock_due(event, rows, head, payload)
        rows.put(TICKETS, head)

    def on_SlaPolicyBound(self, event: Any, rows: Rows) -> None:
        self._payloads(event, rows, event.clocks)

    def on_SlaClockStarted(self, event: Any, rows: Rows) -> None:
        self._payloads(event, rows, [event.clock])

    def on_ClockResumed(self, event: Any, rows: Rows) -> None:
        self._payloads(event, rows, event.clocks)

    def on_TicketReopened(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        head["cycle"] = int(event.cycle)
        rows.put(TICKETS, head)
        self._payloads(event, rows, event.clocks)

    def on_SlaPolicyRebound(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        for milestone in event.dropped:
            self._leave(event, rows, head, milestone, head["cycle"])
        for payload in event.clocks:
            self._clock_due(event, rows, head, payload)
        rows.put(TICKETS, head)

    def on_ClockPaused(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        for milestone in event.milestones:
            key = clock_key(milestone, head["cycle"])
            if key not in head["clocks"]:
                continue
            set_clock(head, key, None)
            row = rows.get(QUEUE, (head["ticket_id"], milestone, head["cycle"]))
            if row is not None:
                self._update(rows, row, event.meta.occurred_at, due_at=None, paused=True)
        rows.put(TICKETS, head)

    def _stopped(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        self._leave(event, rows, head, event.milestone, int(event.cycle))
        rows.put(TICKETS, head)

    def on_SlaTargetMet(self, event: Any, rows: Rows) -> None:
        self._stopped(event, rows)

    def on_SlaClockCancelled(self, event: Any, rows: Rows) -> None:
        self._stopped(event, rows)

    # ------------------------------------------------------------ escalations

    def on_SlaBreached(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        old, row = self._enter(event, head, rows)
        if not row:
            return
        at = event.meta.occurred_at
        row["breached_at"] = at
        row["last_escalated_at"] = max(row["last_escalated_at"], at)
        if event.department is not None:
            row["department"] = event.department
        if old is None or row != old:
            rows.put(QUEUE, {**row, "updated_at": at})

    def on_SlaBreachWithdrawn(self, event: Any, rows: Rows) -> None:
        """A later-recorded fact shows the breach was wrong: a clock queued only for it
        leaves the queue; one queued for escalation steps too stays, without the breach."""
        head = FACTS.of(event, rows)
        if head is None:
            return
        key = (head["ticket_id"], event.milestone, int(event.cycle))
        row = rows.get(QUEUE, key)
        if row is None:
            return
        if row["level"] == 0:
            rows.delete(QUEUE, key)
        else:
            rows.put(QUEUE, {**row, "breached_at": None, "updated_at": event.meta.occurred_at})

    def on_SlaBreachReattributed(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        row = rows.get(QUEUE, (head["ticket_id"], event.milestone, int(event.cycle)))
        if row is not None and row["department"] != event.department:
            rows.put(QUEUE, {**row, "department": event.department})

    def on_Escalated(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        old, row = self._enter(event, head, rows)
        if not row:
            return
        at = event.meta.occurred_at
        level = int(event.level)
        if level >= row["level"]:
            row.update(
                level=level,
                action=event.action,
                target_role=event.target_role,
                target_department=event.target_department,
            )
        row["last_escalated_at"] = max(row["last_escalated_at"], at)
        if event.department is not None:
            row["department"] = event.department
        if old is None or row != old:
            rows.put(QUEUE, {**row, "updated_at": at})

    # ------------------------------------------------------------ the ticket

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in FACTS.moves:  # department or priority
            self._ticket_fields(event, rows, FACTS.moved(name, event))
            return
        if name in _CLOSING:
            # The ticket is done: its escalations are closed (its clocks are cancelled next).
            head = FACTS.of(event, rows)
            if head is not None:
                for row in clock_rows(head, rows, QUEUE):
                    rows.delete(QUEUE, (row["ticket_id"], row["milestone"], row["cycle"]))
            return
        super().fold(event, rows)
