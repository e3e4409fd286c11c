"""The per-ticket facts several views keep, and the plumbing to keep them, written once.

``sla_deadlines``, ``escalation_queue``, ``worklists``, ``callback_plan`` and
``department_performance`` each keep a table of facts about every ticket (number, kind,
department, owner, priority, grade, cycle, live clocks, ...) beside their own rows. Each keeps
its *own* such table: a view is a pure fold into its own tables, rebuilt, tracked and (from
Kafka) fed alone, so it never reads another view's tables. What those tables share is here:
the type of each fact, the facts an intake carries, which events move which fact, and the map
of live clocks. A view declares which facts it keeps (:class:`TicketFacts`) and folds the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from domain.service_request import STEPS
from projections.core import Row, Rows, Table, canonical

# Facts kept by more than one view -> column type (a view's own columns come with theirs).
# Every one of them starts with the ticket's intake (:func:`intake_facts`).
FACT_TYPES = {
    "ticket_id": "text",
    "number": "text",
    "kind": "text",
    "department": "text",
    "owner": "text",
    "priority": "text",
    "grade": "text",
    "customer_id": "text",
    "customer_name": "text",
    "key_account": "bool",
    "category": "text",
    "policy": "text",
    "received_at": "ts",
    "cycle": "int",
    "transfers": "int",
    "callback_cycle": "int",
    # live clocks: {"milestone#cycle": what the view needs of that clock}
    "clocks": "json",
}

# Service-request step events (each carries ``owner``), by class name -> step of STEPS[kind].
SERVICE_STEP_EVENTS = {
    "CrewDispatched": "dispatch_crew",
    "CrewArrived": "record_arrival",
    "PowerRestored": "record_restoration",
    "SiteSurveyed": "record_survey",
    "SupplyPlanDrafted": "draft_plan",
    "SupplyPlanApproved": "approve_plan",
    "SupplyContractSigned": "sign_contract",
    "MeterInstalled": "install_meter",
    "Energized": "energize",
    "MeterTestScheduled": "schedule_test",
    "MeterTested": "record_test",
    "AdjustmentProposed": "propose_adjustment",
    "AdjustmentApproved": "approve_adjustment",
    "WorkStarted": "start_work",
}

_DEPARTMENT_OWNER = (("department", "department"), ("owner", "owner"))
_CATEGORY_PRIORITY = (("category", "category"), ("priority", "priority"))

# Events that move facts of a ticket -> (fact, the event's field holding its new value).
MOVES: dict[str, tuple[tuple[str, str], ...]] = {
    "WorkOrderDispatched": _DEPARTMENT_OWNER,
    "WorkOrderTransferred": _DEPARTMENT_OWNER,
    "WorkOrderHandedOver": (("department", "department"),),
    "WorkOrderAccepted": (("owner", "owner"),),
    "ComplaintClassified": _CATEGORY_PRIORITY,
    "Reclassified": _CATEGORY_PRIORITY,
    "PriorityRaised": (("priority", "new"),),
    # A service step names who holds the work now.
    **dict.fromkeys(SERVICE_STEP_EVENTS, (("owner", "owner"),)),
}


# Lifecycle events shared by every ticket kind -> the state they lead to (a service step's
# state: :func:`step_state`).
STATE_AFTER = {
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
# States a ticket leaves only by being reopened.
TERMINAL = frozenset({"closed", "resolved_at_front", "rejected", "withdrawn"})


def step_state(kind: str, name: str) -> str | None:
    """The state a service step event (a key of :data:`SERVICE_STEP_EVENTS`) leads a ticket of
    ``kind`` to; None when the step leaves the state as it is."""
    steps = STEPS.get(kind, {})
    _, target = steps.get(SERVICE_STEP_EVENTS[name], (frozenset(), None))
    return None if target is None else target.value


def intake_facts(event: Any) -> Row:
    """Every fact of :data:`FACT_TYPES` as a ``ComplaintReceived`` or ``ServiceRequestReceived``
    starts it."""
    details = event.details
    customer = details.get("customer") or {}
    return {
        "ticket_id": str(event.originator_id),
        "number": event.number,
        "kind": "complaint" if type(event).__name__ == "ComplaintReceived" else event.kind,
        "department": details.get("department"),
        "owner": None,  # nobody holds it before it is dispatched
        "priority": details.get("priority"),
        "grade": customer.get("grade"),
        "customer_id": customer.get("id"),
        "customer_name": customer.get("name"),
        "key_account": bool(customer.get("key_account", False)),
        "category": details.get("category"),
        "policy": None,  # bound next
        "received_at": event.meta.occurred_at,
        "cycle": 1,
        "transfers": 0,
        "callback_cycle": None,
        "clocks": {},
    }


class TicketFacts:
    """One view's own table of per-ticket facts, keyed by ``ticket_id``.

    ``columns`` names the facts it keeps (types from :data:`FACT_TYPES`) and, as
    ``(column, type)``, the view's own columns, in table order. A new ticket's own columns
    hold their (immutable) value in ``start``, or null.
    """

    def __init__(
        self, name: str, *columns: str | tuple[str, str], start: Mapping[str, Any] | None = None
    ) -> None:
        self.name = name
        self.table = Table(
            name,
            key=("ticket_id",),
            columns=tuple(c if isinstance(c, tuple) else (c, FACT_TYPES[c]) for c in columns),
        )
        names, kept = self.table.names, self.table.name_set
        # A new row is the intake facts without those not kept, plus the own columns' start.
        self._unkept = tuple(f for f in FACT_TYPES if f not in kept)
        self._start = {n: None for n in names if n not in FACT_TYPES} | dict(start or {})
        unknown = self._start.keys() - kept
        if unknown:
            raise ValueError(f"{name}: start values for unknown columns {sorted(unknown)}")
        # Only the moves of facts this table keeps (a view without owners ignores acceptance).
        self.moves = {
            event: kept_pairs
            for event, pairs in MOVES.items()
            if (kept_pairs := tuple(p for p in pairs if p[0] in kept))
        }

    def get(self, rows: Rows, ticket_id: str) -> Row | None:
        """The facts of a ticket by its id (None: a ticket this view never saw)."""
        return rows.get(self.name, (ticket_id,))

    def of(self, event: Any, rows: Rows) -> Row | None:
        """The facts of the ticket the event is about (None: not a ticket this view saw)."""
        return rows.get(self.name, (str(event.originator_id),))

    def received(self, event: Any, **own: Any) -> Row:
        """A new ticket's row: the intake facts kept, the own columns' start, then ``own``."""
        row = intake_facts(event)
        for fact in self._unkept:
            del row[fact]
        if self._start:
            row.update(self._start)
        if own:
            row.update(own)
        return row

    def moved(self, name: str, event: Any) -> dict[str, Any]:
        """The new values of the facts kept that an event of class ``name`` (in ``moves``) moves."""
        return {fact: getattr(event, field) for fact, field in self.moves[name]}

    def follow(self, head: Row, name: str, event: Any) -> bool:
        """The ticket's lifecycle moved by an event of class ``name``: its ``state`` (when
        kept) by :data:`STATE_AFTER` or a service step, the facts the event moves, a transfer
        counted (when ``transfers`` is kept). True when it moved a fact of ``moves``."""
        kept = self.table.name_set
        if "state" in kept:
            if name in STATE_AFTER:
                head["state"] = STATE_AFTER[name]
            elif name in SERVICE_STEP_EVENTS:
                head["state"] = step_state(head["kind"], name) or head["state"]
        if name not in self.moves:
            return False
        head.update(self.moved(name, event))
        if name == "WorkOrderTransferred" and "transfers" in kept:
            head["transfers"] += 1
        return True

    def change(self, event: Any, rows: Rows, changes: dict[str, Any]) -> Row | None:
        """The ticket's facts with ``changes``, put back; None for a ticket this view never saw."""
        head = self.of(event, rows)
        if head is None:
            return None
        head.update(changes)
        rows.put(self.name, head)
        return head


# ---------------------------------------------------------------- live clocks


def clock_key(milestone: str, cycle: int) -> str:
    """``milestone#cycle``: one clock of a ticket, as a JSON object key."""
    return f"{milestone}#{cycle}"


def set_clock(head: Row, key: str, value: Any) -> None:
    """A live clock's entry set (a clock already there keeps its place in the map)."""
    head["clocks"] = {**head["clocks"], key: value}


def set_dues(head: Row, payloads: Iterable[dict[str, Any]]) -> None:
    """Clocks (re)started from their payloads: each one's due instant, null while paused."""
    clocks = dict(head["clocks"])
    for payload in payloads:
        clocks[clock_key(payload["milestone"], int(payload["cycle"]))] = due_of(payload)
    head["clocks"] = clocks


def forget_clock(head: Row, milestone: str, cycle: int) -> None:
    """A clock stopped: it is no longer live."""
    key = clock_key(milestone, cycle)
    head["clocks"] = {k: v for k, v in head["clocks"].items() if k != key}


def follow_clocks(head: Row, name: str, event: Any) -> bool:
    """The ticket's live clocks (``clocks``, and ``cycle`` on a reopening) moved by an event of
    class ``name``; False when the event moves no clock."""
    match name:
        case "SlaPolicyBound" | "ClockResumed":
            set_dues(head, event.clocks)
        case "SlaClockStarted":
            set_dues(head, [event.clock])
        case "SlaPolicyRebound":
            for milestone in event.dropped:
                forget_clock(head, milestone, head["cycle"])
            set_dues(head, event.clocks)
        case "TicketReopened":
            head["cycle"] = int(event.cycle)
            set_dues(head, event.clocks)
        case "ClockPaused":
            for milestone in event.milestones:
                key = clock_key(milestone, head["cycle"])
                if key in head["clocks"]:
                    set_clock(head, key, None)
        case "SlaTargetMet" | "SlaClockCancelled":
            forget_clock(head, event.milestone, int(event.cycle))
        case _:
            return False
    return True


def next_due(
    clocks: Mapping[str, Any], skip: Iterable[str] = ()
) -> tuple[datetime, str] | tuple[None, None]:
    """``(due instant, milestone)`` of the running clock due first (paused ones have none),
    leaving out the clocks named in ``skip``; ``(None, None)`` when none runs."""
    left_out = frozenset(skip)
    return min(
        (
            (due, key.rpartition("#")[0])
            for key, value in clocks.items()
            if value is not None and key not in left_out and (due := instant(value)) is not None
        ),
        default=(None, None),
    )


def clock_rows(head: Row, rows: Rows, table: str) -> list[Row]:
    """The rows of ``table`` (keyed by ticket, milestone, cycle) of the live clocks, in order."""
    found = []
    for key in sorted(head["clocks"]):
        milestone, _, cycle = key.rpartition("#")
        row = rows.get(table, (head["ticket_id"], milestone, int(cycle)))
        if row is not None:
            found.append(row)
    return found


# Parsed instants stored as text. The same few come back on every event (a ticket's due
# times, read again to find its next deadline), and parsing one costs a string copy, a
# parse and a zone conversion. Bounded: cleared when full, it refills within a batch.
_INSTANTS: dict[str, datetime] = {}
_INSTANTS_SIZE = 16_384


def instant(value: Any) -> datetime | None:
    """An aware datetime from a ts column or from an instant stored in a JSON column."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if type(value) is not str:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    found = _INSTANTS.get(value)
    if found is None:
        found = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        if len(_INSTANTS) >= _INSTANTS_SIZE:
            _INSTANTS.clear()
        _INSTANTS[value] = found
    return found


def stamp(value: datetime | None) -> str | None:
    """An instant as stored inside JSON columns (UTC ISO, one spelling on every backend)."""
    if value is None:
        return None
    text: str = canonical(value)
    return text


def due_of(payload: dict[str, Any]) -> str | None:
    """A clock payload's due instant as stored in JSON, or None while the clock is paused."""
    pauses = payload.get("pauses") or []
    if pauses and pauses[-1][1] is None:
        return None
    return stamp(payload.get("due_at"))
