"""The month as the store holds it: every event read back and folded into the summary's facts.

The figures printed at the end are the store's truth, not the generator's intentions: each
stored event (in notification order) is applied with the aggregates' own code, counted per kind,
state, department in charge and SLA milestone, and flagged per ticket so that sample tickets can
be chosen for the reader to inspect.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from rich.progress import Progress

from cli.demo.clock import HANDOVER
from domain.desk import Desk
from domain.errors import UnknownDepartment


def stored_events(desk: Desk) -> int:
    """How many events the store holds (its last notification id)."""
    return int(desk.recorder.max_notification_id() or 0)


@dataclass
class DeptRow:
    """What one department in charge did in the month."""

    received: int = 0
    replied: int = 0
    first_contact: int = 0
    ontime: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    breaches: int = 0
    transfers: int = 0
    handovers: int = 0
    urges: int = 0
    supervisions: int = 0
    reopenings: int = 0
    callbacks: int = 0
    satisfied: int = 0
    first_seen: datetime | None = None


@dataclass
class Facts:
    """Everything the summary prints, counted from the stored events."""

    events: int = 0
    event_types: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    states: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    depts: dict[str, DeptRow] = field(default_factory=lambda: defaultdict(DeptRow))
    milestones: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    warnings: int = 0
    withdrawn: int = 0  # breaches withdrawn by facts recorded later
    escalations: Counter[int] = field(default_factory=Counter)
    unreachable: int = 0
    late_crews: int = 0
    customers: int = 0
    graded: int = 0
    callbacks_scheduled: int = 0
    tickets: dict[UUID, Any] = field(default_factory=dict)
    flags: dict[UUID, set[str]] = field(default_factory=lambda: defaultdict(set))
    directory: Any = None

    def in_charge(self, dept: str, at: datetime | None) -> str:
        """The department answering for ``dept`` at ``at``: itself, or its heir once a
        reorganisation merged it away (a ticket may still name the old id)."""
        if self.directory is None or at is None or self.directory.exists(dept, at):
            return dept
        try:
            return str(self.directory.successor(dept, at))
        except UnknownDepartment:
            return dept


def read_back(desk: Desk, progress: Progress | None = None) -> Facts:
    """Fold every stored event (in notification order) with the aggregates' own code."""
    facts = Facts(directory=desk.directory)
    aggregates: dict[UUID, Any] = {}
    total = stored_events(desk)
    task = progress.add_task("reading back", total=total, info="") if progress else None
    start = 1
    while True:
        batch = desk.recorder.select_notifications(start=start, limit=2000)
        if not batch:
            break
        for notification in batch:
            event = desk.mapper.to_domain_event(notification)
            _fold(facts, aggregates, event)
        start = batch[-1].id + 1
        if progress is not None and task is not None:
            progress.update(task, completed=min(total, start - 1))
    for ident, agg in aggregates.items():
        if hasattr(agg, "cycle") and hasattr(agg, "kind"):
            facts.tickets[ident] = agg
            facts.kinds[agg.kind] += 1
            facts.states[agg.kind][agg.state.value] += 1
    return facts


def _fold(facts: Facts, aggregates: dict[UUID, Any], event: Any) -> None:
    name = type(event).__name__
    ident = event.originator_id
    before = aggregates.get(ident)
    dept_before = getattr(before, "department", None)
    agg = event.mutate(before)
    aggregates[ident] = agg
    facts.events += 1
    facts.event_types[name] += 1
    at = event.meta.occurred_at if getattr(event, "meta", None) else None

    def row(dept: str | None) -> DeptRow | None:
        if not dept:
            return None
        r = facts.depts[facts.in_charge(dept, at)]
        if r.first_seen is None:
            r.first_seen = at
        return r

    if name in ("ComplaintReceived", "ServiceRequestReceived"):
        if (r := row(agg.department)) is not None:
            r.received += 1
    elif name == "WorkOrderDispatched":
        if (r := row(event.department)) is not None:
            r.received += 1
    elif name == "WorkOrderTransferred":
        facts.flags[ident].add("transferred")
        if (r := row(event.from_department)) is not None:
            if event.reason.startswith(HANDOVER):
                r.handovers += 1
            else:
                r.transfers += 1
        if (r := row(event.department)) is not None:
            r.received += 1
    elif name == "DepartmentReplied":
        if (r := row(event.department)) is not None:
            r.replied += 1
    elif name == "ResolvedAtFirstContact":
        if (r := row(dept_before)) is not None:
            r.first_contact += 1
    elif name == "SlaTargetMet":
        cell = facts.milestones[event.milestone]
        cell[0 if event.on_time else 1] += 1
        if (r := row(dept_before)) is not None:
            r.ontime[event.milestone][0 if event.on_time else 1] += 1
    elif name == "SlaBreached":
        facts.flags[ident].add("breached")
        facts.milestones[event.milestone][2] += 1
        if (r := row(event.department)) is not None:
            r.breaches += 1
    elif name == "SlaBreachWithdrawn":  # a late-recorded fact showed it met in time
        facts.withdrawn += 1
        facts.milestones[event.milestone][2] -= 1
        if (r := row(event.department)) is not None:
            r.breaches -= 1
    elif name == "SlaBreachReattributed":  # it happened while another department held it
        if (r := row(event.from_department)) is not None:
            r.breaches -= 1
        if (r := row(event.department)) is not None:
            r.breaches += 1
    elif name == "SlaWarningRaised":
        facts.warnings += 1
    elif name == "Escalated":
        facts.escalations[event.level] += 1
    elif name == "Urged":
        facts.flags[ident].add("urged")
        if (r := row(event.department)) is not None:
            r.urges += 1
    elif name == "SupervisionOpened":
        facts.flags[ident].add("supervised")
        if (r := row(dept_before)) is not None:
            r.supervisions += 1
    elif name == "TicketReopened":
        facts.flags[ident].add("reopened")
        if (r := row(dept_before)) is not None:
            r.reopenings += 1
    elif name == "CallbackScheduled":
        facts.callbacks_scheduled += 1
    elif name == "CallbackCompleted":
        if (r := row(event.department)) is not None:
            r.callbacks += 1
            r.satisfied += int(bool(event.satisfied))
    elif name == "CallbackUnreachable":
        facts.unreachable += 1
    elif name == "CustomerRegistered":
        facts.customers += 1
    elif name == "GradeAssigned":
        facts.graded += 1
    elif name == "CrewArrived" and not event.data.get("on_time", True):
        facts.late_crews += 1
        facts.flags[ident].add("late_crew")


def pick_samples(facts: Facts) -> list[tuple[str, str, str]]:
    wanted = [
        ("reopened complaint 投诉(回访不满意重办)", "complaint", {"reopened"}),
        ("fault repair with a late crew 抢修(超时到场)", "fault_repair", {"late_crew", "breached"}),
        ("transferred work order 转派工单", None, {"transferred", "urged"}),
    ]
    fallbacks = [set(), set(), {"transferred"}]
    chosen: list[tuple[str, str, str]] = []
    used: set[UUID] = set()
    for (label, kind, flags), fallback in zip(wanted, fallbacks, strict=True):
        for need in (flags, fallback, set()):
            found = next(
                (
                    (ident, t)
                    for ident, t in sorted(facts.tickets.items(), key=lambda x: x[1].number)
                    if ident not in used
                    and (kind is None or t.kind == kind)
                    and need <= facts.flags.get(ident, set())
                ),
                None,
            )
            if found:
                used.add(found[0])
                chosen.append((label, str(found[0]), found[1].number))
                break
    return chosen
