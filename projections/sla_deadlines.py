"""sla_deadlines: one row per (ticket, milestone, cycle) — every SLA clock and where it stands.

The SLA clock worker reads this table to know what falls due next (``next_action_at`` and
``next_action``); monitors read due times, states and the department in charge. The schema of
``sla_deadlines`` is a contract with that worker: change it only together with it.

Columns of ``sla_deadlines``:

* ``state``: ``running``, ``paused``, ``met``, ``late`` (met after its due instant),
  ``breached`` (running, with ``SlaBreached`` recorded) or ``cancelled``.
* ``due_at``: the deadline recorded when the clock started or resumed; null while paused or
  once stopped. ``schedule``, ``pauses`` and ``target_seconds`` are the clock's own payload
  (instants in JSON as UTC ISO strings); the schedule is empty while paused, as on the ticket.
* ``warnings`` (thresholds raised), ``escalation_level`` (highest level reached, 0 for none),
  ``next_action_at``/``next_action``: the earliest schedule item not yet recorded, null unless
  the clock runs.
* ``department``/``owner``/``priority``: as they stand for a live clock; a stopped clock keeps
  the values it had when it stopped.
* ``updated_at``: ``occurred_at`` of the last event that changed the row.

Business time used and left depend on the instant asked about, so they are not stored:
:func:`time_used_and_left` computes them from a row at read time. The companion table
``sla_deadlines_tickets`` holds what the rows copy from the ticket (number, kind, department,
policy, ...) and, per live clock, the recorded breach and escalation levels (kept with the
plumbing of ``ticket_facts.py``).

A survey's corrective and preventive actions (CAPA) are deadlines too: one row per item, keyed
(survey, ``capa``, item number), kind ``survey``, on a 24x7 clock from the issue to the item's
due instant (``projections.surveys.capa_clock_row``), warned and breached when the SLA clock
records it so; the row leaves when the item is completed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.sla.calendar import Always, Clock
from domain.sla.clock import MilestoneClock, Pause, remaining_seconds, used_seconds
from projections.core import Projection, Row, Rows, Table, canonical
from projections.surveys import capa_clock_key, capa_clock_row
from projections.ticket_facts import (
    SERVICE_STEP_EVENTS,
    TicketFacts,
    clock_key,
    clock_rows,
    forget_clock,
    instant,
    set_clock,
    stamp,
)

TABLE = "sla_deadlines"
TICKETS = "sla_deadlines_tickets"
FACTS = TicketFacts(
    TICKETS,
    "ticket_id",
    "number",
    "kind",
    "department",
    "owner",
    "priority",
    "grade",
    "policy",
    "cycle",
    "clocks",  # {"milestone#cycle": {"breached": bool, "levels": [int]}}
)
LIVE_STATES = frozenset({"running", "paused", "breached"})
STOPPED_STATES = frozenset({"met", "late", "cancelled"})

__all__ = [
    "LIVE_STATES",
    "SERVICE_STEP_EVENTS",
    "STOPPED_STATES",
    "SlaDeadlines",
    "clock_key",
    "clock_named",
    "instant",
    "next_step",
    "policy_label",
    "stamp",
    "time_used_and_left",
]


# ---------------------------------------------------------------- shared helpers


def policy_label(policy: dict[str, Any]) -> str:
    """``id@vN``, the catalogue's own label of a policy version."""
    return f"{policy.get('id')}@v{policy.get('version')}"


def open_pause(pauses: list[Any]) -> bool:
    """True when the last pause has no end."""
    return bool(pauses) and pauses[-1][1] is None


def next_step(
    schedule: list[dict[str, Any]], warnings: list[float], breached: bool, levels: list[int]
) -> tuple[datetime | None, dict[str, Any] | None]:
    """The earliest schedule item not yet recorded, as (instant, action), or (None, None).

    Mirrors ``Ticket.due_actions``: a warning whose threshold is not in ``warnings``, the breach
    unless recorded, an escalation level not reached. Ties keep the schedule's own order.
    """
    best: tuple[datetime, int] | None = None
    action: dict[str, Any] | None = None
    for index, item in enumerate(schedule):
        at = instant(item.get("at"))
        if at is None:
            continue
        kind = item.get("type")
        if kind == "warning" and item["threshold"] not in warnings:
            candidate: dict[str, Any] = {
                "action": "raise_sla_warning",
                "threshold": item["threshold"],
            }
        elif kind == "breach" and not breached:
            candidate = {"action": "record_breach"}
        elif kind == "escalation" and item["level"] not in levels:
            candidate = {"action": "escalate", "level": item["level"]}
        else:
            continue
        if best is None or (at, index) < best:
            best, action = (at, index), candidate
    return (best[0] if best else None), action


def _required(value: Any) -> datetime:
    found = instant(value)
    if found is None:
        raise ValueError("an instant is required here")
    return found


def _pauses_of(payload: dict[str, Any]) -> list[list[Any]]:
    return [[stamp(s), stamp(e), r] for s, e, r in payload.get("pauses", [])]


def clock_named(clock_id: str, calendar: Callable[[str], Clock]) -> Clock:
    """The clock a row names: 24x7, or the business calendar ``calendar(clock_id)`` gives
    (e.g. ``catalogue.calendar``). The row does not pin the calendar's version."""
    return Always() if clock_id == "24x7" else calendar(clock_id)


def time_used_and_left(row: Row, clock: Clock, at: datetime) -> tuple[int, int]:
    """Business seconds used by ``at`` and left of the target (negative once overdue).

    ``clock`` is the clock the row names (``row["clock"]``), e.g.
    ``clock_named(row["clock"], catalogue.calendar)``. A stopped clock counts up to
    ``stopped_at``; an open pause counts as paused up to ``at``.
    """
    started = _required(row["started_at"])
    pauses = tuple(
        Pause(started_at=_required(s), ended_at=instant(e), reason=str(r))
        for s, e, r in (row.get("pauses") or [])
    )
    mc = MilestoneClock(
        milestone=row["milestone"],
        cycle=int(row["cycle"]),
        target_seconds=int(row["target_seconds"]),
        started_at=started,
        pauses=pauses,
        stopped_at=instant(row.get("stopped_at")),
    )
    return used_seconds(mc, clock, at), remaining_seconds(mc, clock, at)


# ---------------------------------------------------------------- the projection


class SlaDeadlines(Projection):
    """Folds the ticket's SLA events into one row per clock."""

    name = "sla_deadlines"
    version = 1
    tables = (
        Table(
            TABLE,
            key=("ticket_id", "milestone", "cycle"),
            columns=(
                ("ticket_id", "text"),
                ("milestone", "text"),
                ("cycle", "int"),
                ("number", "text"),
                ("kind", "text"),
                ("department", "text"),
                ("owner", "text"),
                ("priority", "text"),
                ("grade", "text"),
                ("policy", "text"),
                ("clock", "text"),
                ("target_seconds", "int"),
                ("started_at", "ts"),
                ("pauses", "json"),
                ("due_at", "ts"),
                ("state", "text"),
                ("warnings", "json"),
                ("escalation_level", "int"),
                ("next_action_at", "ts"),
                ("next_action", "json"),
                ("schedule", "json"),
                ("stopped_at", "ts"),
                ("used_seconds", "int"),
                ("updated_at", "ts"),
            ),
        ),
        FACTS.table,
    )

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _row(event: Any, rows: Rows, milestone: str, cycle: int) -> Row | None:
        return rows.get(TABLE, (str(event.originator_id), milestone, cycle))

    @staticmethod
    def _flags(head: Row, milestone: str, cycle: int) -> tuple[bool, list[int]]:
        flags = head["clocks"].get(clock_key(milestone, cycle)) or {}
        return bool(flags.get("breached", False)), list(flags.get("levels", []))

    @staticmethod
    def _set_flags(
        head: Row, milestone: str, cycle: int, breached: bool, levels: list[int]
    ) -> None:
        flags = {"breached": breached, "levels": sorted(levels)}
        set_clock(head, clock_key(milestone, cycle), flags)

    def _refresh(self, row: Row, head: Row) -> None:
        """Recompute state and next action from the row's schedule and the recorded flags."""
        breached, levels = self._flags(head, row["milestone"], row["cycle"])
        row["escalation_level"] = max(levels, default=0)
        if row["state"] in STOPPED_STATES:
            row["next_action_at"] = row["next_action"] = None
            return
        if open_pause(row["pauses"]):
            row["state"] = "paused"
            row["next_action_at"] = row["next_action"] = None
            return
        row["state"] = "breached" if breached else "running"
        row["next_action_at"], row["next_action"] = next_step(
            row["schedule"], row["warnings"], breached, levels
        )

    @staticmethod
    def _put_if_changed(rows: Rows, old: Row | None, new: Row, at: datetime) -> None:
        # Equal but for ``updated_at``: nothing changed (C-level copies beat comprehensions).
        if old is not None and {**old, "updated_at": None} == {**new, "updated_at": None}:
            return
        rows.put(TABLE, {**new, "updated_at": at})

    def _start(
        self, event: Any, rows: Rows, head: Row, payload: dict[str, Any], keep: bool
    ) -> None:
        """A clock (re)starts from a payload: a new row, or a replaced one keeping its flags."""
        milestone, cycle = payload["milestone"], int(payload["cycle"])
        old = self._row(event, rows, milestone, cycle)
        if keep:
            breached, levels = self._flags(head, milestone, cycle)
            warnings = list(old["warnings"]) if old is not None else []
        else:
            breached, levels, warnings = False, [], []
        self._set_flags(head, milestone, cycle, breached, levels)
        pauses = _pauses_of(payload)
        row: Row = {
            "ticket_id": head["ticket_id"],
            "milestone": milestone,
            "cycle": cycle,
            "number": head["number"],
            "kind": head["kind"],
            "department": head["department"],
            "owner": head["owner"],
            "priority": head["priority"],
            "grade": head["grade"],
            "policy": head["policy"],
            "clock": payload["clock"],
            "target_seconds": int(payload["target_seconds"]),
            "started_at": payload["started_at"],
            "pauses": pauses,
            "due_at": None if open_pause(pauses) else payload.get("due_at"),
            "state": "running",
            "warnings": warnings,
            "escalation_level": 0,
            "next_action_at": None,
            "next_action": None,
            "schedule": [] if open_pause(pauses) else canonical(payload.get("schedule", [])),
            "stopped_at": None,
            "used_seconds": None,
        }
        self._refresh(row, head)
        self._put_if_changed(rows, old, row, event.meta.occurred_at)

    def _stop(
        self,
        event: Any,
        rows: Rows,
        head: Row,
        milestone: str,
        cycle: int,
        state: str,
        used: int | None,
    ) -> None:
        row = self._row(event, rows, milestone, cycle)
        forget_clock(head, milestone, cycle)
        if row is None or row["state"] in STOPPED_STATES:
            return
        at = event.meta.occurred_at
        pauses = [list(p) for p in row["pauses"]]
        if open_pause(pauses):
            pauses[-1][1] = stamp(at)  # stopping a paused clock ends its pause there
        row.update(
            state=state,
            pauses=pauses,
            due_at=None,
            stopped_at=at,
            used_seconds=used,
            next_action_at=None,
            next_action=None,
            updated_at=at,
        )
        rows.put(TABLE, row)

    def _recorded(self, event: Any, rows: Rows, change: str, value: Any = None) -> None:
        """A warning, a breach or an escalation level recorded on a live clock."""
        head = FACTS.of(event, rows)
        if head is None:
            return
        milestone, cycle = event.milestone, int(event.cycle)
        row = self._row(event, rows, milestone, cycle)
        if row is None or row["state"] not in LIVE_STATES:
            return
        breached, levels = self._flags(head, milestone, cycle)
        if change == "warning":
            row["warnings"] = sorted({*row["warnings"], value})
        elif change == "unwarn":
            row["warnings"] = [w for w in row["warnings"] if w != value]
        elif change == "breach":
            breached = True
        elif change == "unbreach":
            breached = False
        else:
            levels = sorted({*levels, value})
        self._set_flags(head, milestone, cycle, breached, levels)
        rows.put(TICKETS, head)
        new = dict(row)
        self._refresh(new, head)
        self._put_if_changed(rows, row, new, event.meta.occurred_at)

    def _ticket_fields(self, event: Any, rows: Rows, fields: dict[str, Any]) -> None:
        """Department, owner or priority changed: the ticket and every live clock follow."""
        head = FACTS.change(event, rows, fields)
        if head is None:
            return
        for row in clock_rows(head, rows, TABLE):
            self._put_if_changed(rows, row, {**row, **fields}, event.meta.occurred_at)

    # ------------------------------------------------------------ intake

    def on_ComplaintReceived(self, event: Any, rows: Rows) -> None:
        rows.put(TICKETS, FACTS.received(event))

    on_ServiceRequestReceived = on_ComplaintReceived

    # ------------------------------------------------------------ SLA events

    def on_SlaPolicyBound(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        head["policy"] = policy_label(event.policy)
        for payload in event.clocks:
            self._start(event, rows, head, payload, keep=False)
        rows.put(TICKETS, head)

    def on_SlaClockStarted(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        self._start(event, rows, head, event.clock, keep=False)
        rows.put(TICKETS, head)

    def on_ClockPaused(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        at = event.meta.occurred_at
        for milestone in event.milestones:
            row = self._row(event, rows, milestone, head["cycle"])
            if row is None or row["state"] not in LIVE_STATES or open_pause(row["pauses"]):
                continue
            new = {
                **row,
                "pauses": [*row["pauses"], [stamp(at), None, event.reason]],
                "due_at": None,
                "schedule": [],  # nothing falls due while paused; resuming schedules anew
            }
            self._refresh(new, head)
            self._put_if_changed(rows, row, new, at)

    def on_ClockResumed(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        for payload in event.clocks:
            self._start(event, rows, head, payload, keep=True)
        rows.put(TICKETS, head)

    def on_SlaTargetMet(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        state = "met" if event.on_time else "late"
        self._stop(
            event, rows, head, event.milestone, int(event.cycle), state, int(event.used_seconds)
        )
        rows.put(TICKETS, head)

    def on_SlaClockCancelled(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        self._stop(event, rows, head, event.milestone, int(event.cycle), "cancelled", None)
        rows.put(TICKETS, head)

    def on_SlaWarningRaised(self, event: Any, rows: Rows) -> None:
        self._recorded(event, rows, "warning", event.threshold)

    def on_SlaBreached(self, event: Any, rows: Rows) -> None:
        self._recorded(event, rows, "breach")

    def on_Escalated(self, event: Any, rows: Rows) -> None:
        self._recorded(event, rows, "level", int(event.level))

    def on_SlaWarningWithdrawn(self, event: Any, rows: Rows) -> None:
        self._recorded(event, rows, "unwarn", event.threshold)

    def on_SlaBreachWithdrawn(self, event: Any, rows: Rows) -> None:
        self._recorded(event, rows, "unbreach")

    def on_SlaPolicyRebound(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        for milestone in event.dropped:
            self._stop(event, rows, head, milestone, head["cycle"], "cancelled", None)
        head["policy"] = policy_label(event.policy)
        for payload in event.clocks:
            self._start(event, rows, head, payload, keep=True)
        rows.put(TICKETS, head)

    def on_TicketReopened(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is None:
            return
        head["cycle"] = int(event.cycle)
        for payload in event.clocks:
            self._start(event, rows, head, payload, keep=False)
        rows.put(TICKETS, head)

    # ------------------------------------------------------------ CAPA items of surveys

    def on_CapaIssued(self, event: Any, rows: Rows) -> None:
        """Each corrective/preventive action's deadline, a clock like a ticket's milestone."""
        for item in event.items:
            rows.put(TABLE, capa_clock_row(event, item))

    def on_CapaItemWarned(self, event: Any, rows: Rows) -> None:
        """The SLA clock warned the item's owner: the breach is next."""
        row = rows.get(TABLE, capa_clock_key(event))
        if row is not None and row["state"] == "running":
            warnings = sorted({*row["warnings"], event.threshold})
            at, action = next_step(row["schedule"], warnings, False, [])
            rows.put(
                TABLE,
                {
                    **row,
                    "warnings": warnings,
                    "next_action_at": at,
                    "next_action": action,
                    "updated_at": event.meta.occurred_at,
                },
            )

    def on_CapaItemBreached(self, event: Any, rows: Rows) -> None:
        """The SLA clock recorded the item overdue: breached, nothing more to schedule."""
        row = rows.get(TABLE, capa_clock_key(event))
        if row is not None and row["state"] == "running":
            rows.put(
                TABLE,
                {
                    **row,
                    "state": "breached",
                    "next_action_at": None,
                    "next_action": None,
                    "updated_at": event.meta.occurred_at,
                },
            )

    def on_CapaItemCompleted(self, event: Any, rows: Rows) -> None:
        """A completed action leaves the deadlines (the survey view keeps it, on time or not)."""
        rows.delete(TABLE, capa_clock_key(event))

    # ------------------------------------------------------------ who and how urgent

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in FACTS.moves:
            # Department, owner or priority moved (a service step names who holds the work).
            self._ticket_fields(event, rows, FACTS.moved(name, event))
            return
        super().fold(event, rows)
