"""Tickets: the part of the lifecycle that complaints and service requests share.

A ticket is one customer matter handled end to end by the front office (一口对外): it is
dispatched to one department at a time, may be transferred (same ticket, same deadlines),
urged (催办), put under supervision (督办), paused with a reason, replied to by the department,
answered to the customer, closed only with a reply *and* an answer (有答复有结果), and reopened
after a dissatisfied callback, which starts a new SLA cycle without erasing the old one.

SLA clocks live on the ticket as explicit events: ``SlaPolicyBound`` pins the policy and the
calendar versions at intake and starts the first clocks; ``SlaClockStarted``, ``ClockPaused``,
``ClockResumed``, ``SlaTargetMet``, ``SlaWarningRaised``, ``SlaBreached`` and ``Escalated``
follow. Every deadline is computed once, when its clock starts or resumes, and recorded in the
event, so a replay never depends on today's calendar or policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from eventsourcing.domain import event

from domain.base import Meta, Recorded
from domain.errors import IllegalTransition, InvalidValue, InvariantViolated
from domain.sla.calendar import Clock
from domain.sla.clock import (
    MilestoneClock,
    Pause,
    as_instant,
    instants_of_fractions,
    reached_by,
    stop,
    used_seconds,
    utc_text,
)
from domain.sla.clock import state as clock_state
from domain.sla.policy import MilestoneSpec, SlaPolicy, bound_specs, specs_of


class State(StrEnum):
    """Where a ticket stands. Complaint and service-request kinds use subsets."""

    RECEIVED = "received"  # 受理
    VERIFIED = "verified"  # 验证
    CLASSIFIED = "classified"  # 分类
    DISPATCHED = "dispatched"  # 派发
    ACCEPTED = "accepted"  # 接单
    IN_PROGRESS = "in_progress"
    CREW_EN_ROUTE = "crew_en_route"  # 抢修人员出发
    ON_SITE = "on_site"  # 到达现场
    RESTORED = "restored"  # 恢复送电
    SURVEYED = "surveyed"  # 现场勘察
    PLAN_DRAFTED = "plan_drafted"  # 供电方案
    PLAN_APPROVED = "plan_approved"
    CONTRACT_SIGNED = "contract_signed"  # 供用电合同
    METER_INSTALLED = "meter_installed"  # 装表
    ENERGIZED = "energized"  # 送电
    TEST_SCHEDULED = "test_scheduled"  # 计量检定
    TESTED = "tested"
    ADJUSTMENT_PROPOSED = "adjustment_proposed"  # 退补
    ADJUSTMENT_APPROVED = "adjustment_approved"
    REPLIED = "replied"  # 部门回复
    CUSTOMER_ANSWERED = "customer_answered"  # 答复客户
    CALLBACK_PENDING = "callback_pending"  # 待回访
    REOPENED = "reopened"
    CLOSED = "closed"
    RESOLVED_AT_FRONT = "resolved_at_front"  # 一次解决
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


TERMINAL = frozenset({State.CLOSED, State.RESOLVED_AT_FRONT, State.REJECTED, State.WITHDRAWN})
OPEN = frozenset(State) - TERMINAL
# States in which a department holds the work order and has not replied yet.
WORKING = frozenset(
    {
        State.DISPATCHED,
        State.ACCEPTED,
        State.IN_PROGRESS,
        State.CREW_EN_ROUTE,
        State.ON_SITE,
        State.RESTORED,
        State.SURVEYED,
        State.PLAN_DRAFTED,
        State.PLAN_APPROVED,
        State.CONTRACT_SIGNED,
        State.METER_INSTALLED,
        State.ENERGIZED,
        State.TEST_SCHEDULED,
        State.TESTED,
        State.ADJUSTMENT_PROPOSED,
        State.ADJUSTMENT_APPROVED,
    }
)

PRIORITIES = ("low", "normal", "high", "urgent")

# action -> (states it is legal in, state it leads to or None to stay)
Transitions = dict[str, tuple[frozenset[State], State | None]]

COMMON: Transitions = {
    "accept": (frozenset({State.DISPATCHED}), State.ACCEPTED),
    "transfer": (
        frozenset({State.DISPATCHED, State.ACCEPTED, State.IN_PROGRESS}),
        State.DISPATCHED,
    ),
    "hand_over": (WORKING | {State.REPLIED, State.CUSTOMER_ANSWERED, State.CALLBACK_PENDING}, None),
    "urge": (WORKING, None),
    "supervise": (OPEN, None),
    "contact_customer": (OPEN, None),
    "pause": (OPEN, None),
    "resume": (OPEN, None),
    "answer": (frozenset({State.REPLIED}), State.CUSTOMER_ANSWERED),
    "request_callback": (frozenset({State.CUSTOMER_ANSWERED}), State.CALLBACK_PENDING),
    "release_callback": (frozenset({State.CALLBACK_PENDING}), State.CUSTOMER_ANSWERED),
    "close": (frozenset({State.CUSTOMER_ANSWERED, State.CALLBACK_PENDING}), State.CLOSED),
    "reopen": (frozenset({State.CALLBACK_PENDING, State.CLOSED}), State.REOPENED),
    "withdraw": (OPEN, State.WITHDRAWN),
    "reclassify": (OPEN, None),
    "rebind_sla": (OPEN, None),
    "open_dispute": (OPEN, None),
    "resolve_dispute": (OPEN, None),
}


class ClockSource(Protocol):
    """Gives the clock (24x7 or a pinned business calendar) a milestone runs on."""

    def clock_for(self, spec: MilestoneSpec) -> Clock: ...


@dataclass(frozen=True)
class Ctx:
    """Everything a command needs from outside the aggregate: who, when, which clocks."""

    meta: Meta
    clocks: ClockSource

    @property
    def at(self) -> datetime:
        return self.meta.occurred_at


@dataclass
class Run:
    """One milestone clock in one cycle, as the aggregate knows it (rebuilt on replay)."""

    spec: MilestoneSpec
    clock: MilestoneClock
    clock_version: str
    due_at: datetime | None
    schedule: list[dict[str, Any]]
    warnings: set[float] = field(default_factory=set)
    breached: bool = False
    levels: set[int] = field(default_factory=set)
    outcome: str | None = None  # "met", "late" or "cancelled" once stopped
    # The breach as recorded (its business instant and the department it was credited to),
    # and the business instant of each warning: what a later-recorded fact is checked against.
    breach: dict[str, Any] | None = None
    warned: dict[float, datetime] = field(default_factory=dict)

    def __deepcopy__(self, memo: dict[int, Any]) -> Run:
        # spec, clock and the schedule's items are never changed in place: share them.
        return Run(
            self.spec,
            self.clock,
            self.clock_version,
            self.due_at,
            list(self.schedule),
            set(self.warnings),
            self.breached,
            set(self.levels),
            self.outcome,
            None if self.breach is None else dict(self.breach),
            dict(self.warned),
        )

    def carry(self, old: Run, *, judged: bool = True) -> None:
        """Take over what was recorded on the clock this one replaces (resumed, re-bound).

        ``judged``: also the instants of its warnings and breach, so that later-recorded facts
        check them again (a resumed clock is the same clock). A re-bound clock counts anew
        under another policy: what was recorded before stands as it was, never re-judged.
        """
        self.warnings, self.breached, self.levels = old.warnings, old.breached, old.levels
        if judged:
            self.breach, self.warned = old.breach, old.warned

    @property
    def key(self) -> str:
        return run_key(self.clock.milestone, self.clock.cycle)

    @property
    def running(self) -> bool:
        return self.outcome is None


def _has_open_pause(pauses: tuple[Pause, ...]) -> bool:
    """True when the last of these pauses is still open."""
    return bool(pauses) and pauses[-1].ended_at is None


def run_key(milestone: str, cycle: int) -> str:
    return f"{milestone}#{cycle}"


def _schedule(
    spec: MilestoneSpec, mc: MilestoneClock, clock: Clock
) -> tuple[datetime | None, list[dict[str, Any]]]:
    """The run's due instant, and every instant at which the SLA clock worker must act on it,
    in order.

    The instants are written as :func:`utc_text` strings (read back with :func:`as_instant`):
    a ticket's binding carries a dozen of them, and as datetimes each one cost the event's JSON
    encoder a Python call. Events recorded with datetimes there read the same.
    """
    due, at = instants_of_fractions(
        mc, clock, [*spec.warn_at, *(step.at_fraction for step in spec.escalation)]
    )
    items: list[dict[str, Any]] = [
        {"type": "warning", "threshold": threshold, "at": at[threshold]}
        for threshold in spec.warn_at
    ]
    items.append({"type": "breach", "at": due})
    for step in spec.escalation:
        items.append(
            {
                "type": "escalation",
                "level": step.level,
                "action": step.action,
                "at": at[step.at_fraction],
            }
        )
    items.sort(key=lambda i: (i["at"] is None, i["at"] or mc.started_at))
    for item in items:
        if item["at"] is not None:
            item["at"] = utc_text(item["at"])
    return due, items


class Ticket(Recorded):
    """Shared lifecycle of complaints and service requests. Subclasses add their steps."""

    KIND = "ticket"
    TRANSITIONS: ClassVar[Transitions] = COMMON

    # ------------------------------------------------------------------ guards

    def transitions(self) -> Transitions:
        return self.TRANSITIONS

    def legal_actions(self) -> list[str]:
        """The actions this ticket's state and flags allow now (for the client's buttons)."""
        flags_say_no = {
            "pause": self.paused is not None
            or not any(r.spec.pausable for r in self.running_clocks()),
            "resume": self.paused is None,
            "supervise": self.supervised,
            "open_dispute": self.disputed,
            "resolve_dispute": not self.disputed,
            "close": not (self.replied and self.answered),
            "request_callback": True,  # the desk does it when a callback is scheduled
            "release_callback": True,  # ... and this when that callback is cancelled
        }
        return sorted(
            a
            for a, (legal, _) in self.transitions().items()
            if self.state in legal and not flags_say_no.get(a, False)
        )

    def due_actions(self, until: datetime) -> list[dict[str, Any]]:
        """SLA steps (warnings, breaches, escalations) due by ``until`` and not yet recorded.

        Each item names the command the SLA clock should send: ``raise_sla_warning``,
        ``record_breach`` or ``escalate``, with milestone, cycle and threshold or level.
        """
        due: list[dict[str, Any]] = []
        for run in self.running_clocks():
            for item in run.schedule:
                at = as_instant(item["at"])
                if at is None or at > until:
                    continue
                base = {"milestone": run.clock.milestone, "cycle": run.clock.cycle, "at": at}
                if item["type"] == "warning" and item["threshold"] not in run.warnings:
                    due.append(
                        {**base, "action": "raise_sla_warning", "threshold": item["threshold"]}
                    )
                elif item["type"] == "breach" and not run.breached:
                    due.append({**base, "action": "record_breach"})
                elif item["type"] == "escalation" and item["level"] not in run.levels:
                    due.append({**base, "action": "escalate", "level": item["level"]})
        due.sort(key=lambda d: d["at"])
        return due

    def _require(self, action: str, *, reason: str = "") -> State | None:
        table = self.transitions()
        if action not in table:
            raise IllegalTransition(
                kind=self.kind,
                ticket=self.number,
                state=self.state.value,
                action=action,
                reason=reason or f"{action} is not a step of a {self.kind}",
            )
        legal, target = table[action]
        if self.state not in legal:
            raise IllegalTransition(
                kind=self.kind, ticket=self.number, state=self.state.value, action=action
            )
        return target

    def _refuse(self, action: str, rule: str) -> InvariantViolated:
        return InvariantViolated(
            kind=self.kind, ticket=self.number, state=self.state.value, action=action, rule=rule
        )

    @staticmethod
    def _text(field_name: str, value: str) -> str:
        if not value or not value.strip():
            raise InvalidValue(field_name, "must not be empty")
        return value.strip()

    # --------------------------------------------------------------- intake

    def _init_common(self, meta: Meta, number: str, kind: str, details: dict[str, Any]) -> None:
        self.number = number
        self.kind = kind
        self.state = State.RECEIVED
        self.department: str | None = details.get("department")
        # Who held the ticket from when, in business time (occurred_at), sorted by it: a
        # transfer entered late still counts from when it happened.
        self.custody: list[tuple[datetime, str | None]] = [(meta.occurred_at, self.department)]
        self.owner: str | None = None
        self.priority: str = details["priority"]
        self.category: str = details["category"]
        self.ticket_class: str = details["ticket_class"]
        self.customer: dict[str, Any] = dict(details["customer"])
        self.details: dict[str, Any] = details
        self.received_at: datetime = meta.occurred_at
        self.callback_id: str | None = None
        self.cycle = 1
        self.supervised = False
        self.disputed = False
        self.paused: dict[str, Any] | None = None
        self.transfers = 0
        self.urges = 0
        self.replied = False
        self.answered = False
        self.policy: dict[str, Any] = {}
        self.specs: list[MilestoneSpec] = []
        self.runs: dict[str, Run] = {}

    def bind_sla(self, ctx: Ctx, policy: SlaPolicy, catalogue_version: str) -> None:
        """Pin the matched policy at intake and start the clocks that start on receipt."""
        specs = list(policy.milestones)
        clocks = [
            self._start_payload(ctx, spec, ctx.at, self.cycle, ())
            for spec in specs
            if spec.starts_on == "received"
        ]
        self._sla_policy_bound(
            meta=ctx.meta,
            policy=_policy_ref(policy, catalogue_version),
            basis="from_receipt",
            specs=bound_specs(policy),
            clocks=clocks,
        )

    @event("SlaPolicyBound")
    def _sla_policy_bound(
        self,
        meta: Meta,
        policy: dict[str, Any],
        basis: str,
        specs: list[dict[str, Any]],
        clocks: list[dict[str, Any]],
    ) -> None:
        self.policy = policy
        self.specs = specs_of(specs)
        for payload in clocks:
            self._apply_start(payload)

    # ----------------------------------------------------------- SLA clocks

    def _spec(self, milestone: str) -> MilestoneSpec:
        for spec in self.specs:
            if spec.name == milestone:
                return spec
        raise InvalidValue("milestone", f"{milestone!r} is not in policy {self.policy.get('id')}")

    def _start_payload(
        self,
        ctx: Ctx,
        spec: MilestoneSpec,
        started_at: datetime,
        cycle: int,
        pauses: tuple[Pause, ...],
    ) -> dict[str, Any]:
        clock = ctx.clocks.clock_for(spec)
        mc = MilestoneClock(
            milestone=spec.name,
            cycle=cycle,
            target_seconds=spec.target_seconds,
            started_at=started_at,
            pauses=pauses,
        )
        due, schedule = _schedule(spec, mc, clock)
        return {
            "milestone": spec.name,
            "cycle": cycle,
            "target_seconds": spec.target_seconds,
            "clock": clock.id,
            "clock_version": clock.version,
            "started_at": started_at,
            "pauses": [[p.started_at, p.ended_at, p.reason] for p in pauses],
            "due_at": due,
            "schedule": schedule,
        }

    def _apply_start(self, payload: dict[str, Any]) -> None:
        spec = self._spec(payload["milestone"])
        mc = MilestoneClock(
            milestone=payload["milestone"],
            cycle=payload["cycle"],
            target_seconds=payload["target_seconds"],
            started_at=payload["started_at"],
            pauses=tuple(Pause(s, e, r) for s, e, r in payload.get("pauses", [])),
        )
        run = Run(
            spec=spec,
            clock=mc,
            clock_version=payload["clock_version"],
            due_at=payload["due_at"],
            schedule=list(payload["schedule"]),
        )
        self.runs[run.key] = run

    def running_clocks(self) -> list[Run]:
        return [r for r in self.runs.values() if r.running and r.clock.cycle == self.cycle]

    def _facts(self, ctx: Ctx, *facts: str) -> None:
        """Stop the clocks these facts meet, then start the clocks they start."""
        for fact in facts:
            for run in self.running_clocks():
                if fact in run.spec.met_on:
                    clock = ctx.clocks.clock_for(run.spec)
                    used = used_seconds(run.clock, clock, ctx.at)
                    # Breached means the due instant passed before the fact (clock.state's rule).
                    verdict = clock_state(stop(run.clock, ctx.at), clock, ctx.at)
                    self._sla_target_met(
                        meta=ctx.meta,
                        milestone=run.clock.milestone,
                        cycle=run.clock.cycle,
                        fact=fact,
                        used_seconds=used,
                        target_seconds=run.clock.target_seconds,
                        on_time=verdict == "met",
                    )
            for spec in self.specs:
                if spec.starts_on == fact and run_key(spec.name, self.cycle) not in self.runs:
                    payload = self._start_payload(ctx, spec, ctx.at, self.cycle, ())
                    self._sla_clock_started(meta=ctx.meta, clock=payload)
                    if self.paused is not None and spec.pausable:
                        self._clock_paused(
                            meta=ctx.meta, reason=self.paused["reason"], milestones=[spec.name]
                        )

    @event("SlaClockStarted")
    def _sla_clock_started(self, meta: Meta, clock: dict[str, Any]) -> None:
        self._apply_start(clock)

    @event("SlaTargetMet")
    def _sla_target_met(
        self,
        meta: Meta,
        milestone: str,
        cycle: int,
        fact: str,
        used_seconds: int,
        target_seconds: int,
        on_time: bool,
    ) -> None:
        run = self.runs[run_key(milestone, cycle)]
        run.outcome = "met" if on_time else "late"
        run.clock = stop(run.clock, meta.occurred_at)

    def _cancel_running(self, ctx: Ctx, reason: str) -> None:
        for run in self.running_clocks():
            self._sla_clock_cancelled(
                meta=ctx.meta, milestone=run.clock.milestone, cycle=run.clock.cycle, reason=reason
            )

    @event("SlaClockCancelled")
    def _sla_clock_cancelled(self, meta: Meta, milestone: str, cycle: int, reason: str) -> None:
        run = self.runs[run_key(milestone, cycle)]
        run.outcome = "cancelled"
        run.clock = stop(run.clock, meta.occurred_at)

    def pause(self, ctx: Ctx, reason: str) -> None:
        """Stop the pausable clocks, e.g. while waiting for the customer's documents."""
        self._require("pause")
        reason = self._text("reason", reason)
        if self.paused is not None:
            raise self._refuse("pause", f"clock already paused since {self.paused['at']}")
        names = [r.clock.milestone for r in self.running_clocks() if r.spec.pausable]
        if not names:
            raise self._refuse("pause", "no pausable SLA clock is running")
        self._clock_paused(meta=ctx.meta, reason=reason, milestones=names)

    @event("ClockPaused")
    def _clock_paused(self, meta: Meta, reason: str, milestones: list[str]) -> None:
        # A clock started during a pause is paused by this event too: the pause began earlier.
        self.paused = self.paused or {"at": meta.occurred_at, "reason": reason}
        for name in milestones:
            run = self.runs[run_key(name, self.cycle)]
            run.clock = MilestoneClock(
                milestone=run.clock.milestone,
                cycle=run.clock.cycle,
                target_seconds=run.clock.target_seconds,
                started_at=run.clock.started_at,
                pauses=(*run.clock.pauses, Pause(meta.occurred_at, None, reason)),
            )
            run.due_at = None
            run.schedule = []  # nothing is due while paused; resume schedules anew

    def resume(self, ctx: Ctx) -> None:
        """Restart paused clocks; the deadline moves by the paused business time."""
        self._require("resume")
        if self.paused is None:
            raise self._refuse("resume", "no SLA clock is paused")
        clocks = []
        for run in self.running_clocks():
            if run.clock.pauses and run.clock.pauses[-1].ended_at is None:
                last = run.clock.pauses[-1]
                closed = (*run.clock.pauses[:-1], Pause(last.started_at, ctx.at, last.reason))
                clocks.append(
                    self._start_payload(
                        ctx, run.spec, run.clock.started_at, run.clock.cycle, closed
                    )
                )
        self._clock_resumed(meta=ctx.meta, clocks=clocks)

    @event("ClockResumed")
    def _clock_resumed(self, meta: Meta, clocks: list[dict[str, Any]]) -> None:
        self.paused = None
        for payload in clocks:
            old = self.runs[run_key(payload["milestone"], payload["cycle"])]
            self._apply_start(payload)
            self.runs[run_key(payload["milestone"], payload["cycle"])].carry(old)

    def _due_item(self, run: Run, kind: str, key: str, value: float | int) -> dict[str, Any]:
        for item in run.schedule:
            if item["type"] == kind and item.get(key) == value:
                return item
        raise InvalidValue(key, f"{value} is not a {kind} step of {run.key}")

    def _live_run(self, milestone: str, cycle: int) -> Run | None:
        run = self.runs.get(run_key(milestone, cycle))
        if run is None:
            raise InvalidValue("milestone", f"{run_key(milestone, cycle)} never started")
        return run if run.running else None

    def _not_yet(self, ctx: Ctx, action: str, due: datetime | None) -> None:
        if due is None:
            raise self._refuse(action, "the clock is paused")
        if ctx.at < due:
            raise self._refuse(action, f"not due until {due.isoformat()}")

    def raise_sla_warning(self, ctx: Ctx, milestone: str, cycle: int, threshold: float) -> bool:
        """Record a warning once per (milestone, cycle, threshold); False when nothing to do."""
        run = self._live_run(milestone, cycle)
        if run is None or threshold in run.warnings:
            return False
        if run.due_at is None:  # paused: its schedule is empty until it resumes
            self._not_yet(ctx, "raise an SLA warning", None)
        item = self._due_item(run, "warning", "threshold", threshold)
        self._not_yet(ctx, "raise an SLA warning", as_instant(item["at"]))
        self._sla_warning_raised(
            meta=ctx.meta, milestone=milestone, cycle=cycle, threshold=threshold, due_at=run.due_at
        )
        return True

    @event("SlaWarningRaised")
    def _sla_warning_raised(
        self, meta: Meta, milestone: str, cycle: int, threshold: float, due_at: datetime | None
    ) -> None:
        run = self.runs[run_key(milestone, cycle)]
        run.warnings.add(threshold)
        run.warned[threshold] = meta.occurred_at

    def record_breach(self, ctx: Ctx, milestone: str, cycle: int) -> bool:
        """Record the breach of a running clock once; False when nothing to do."""
        run = self._live_run(milestone, cycle)
        if run is None or run.breached:
            return False
        self._not_yet(ctx, "record an SLA breach", run.due_at)
        assert run.due_at is not None
        self._sla_breached(
            meta=ctx.meta,
            milestone=milestone,
            cycle=cycle,
            due_at=run.due_at,
            department=self.department_at(run.due_at),
        )
        return True

    @event("SlaBreached")
    def _sla_breached(
        self,
        meta: Meta,
        milestone: str,
        cycle: int,
        due_at: datetime | None,
        department: str | None,
    ) -> None:
        run = self.runs[run_key(milestone, cycle)]
        run.breached = True
        run.breach = {"at": meta.occurred_at, "department": department}

    def escalate(self, ctx: Ctx, milestone: str, cycle: int, level: int) -> bool:
        """Take one step of the policy's escalation ladder, once per level."""
        run = self._live_run(milestone, cycle)
        if run is None or level in run.levels:
            return False
        if run.due_at is None:  # paused: its schedule is empty until it resumes
            self._not_yet(ctx, f"escalate to level {level}", None)
        item = self._due_item(run, "escalation", "level", level)
        step_at = as_instant(item["at"])
        self._not_yet(ctx, f"escalate to level {level}", step_at)
        assert step_at is not None
        step = next(s for s in run.spec.escalation if s.level == level)
        self._escalated(
            meta=ctx.meta,
            milestone=milestone,
            cycle=cycle,
            level=level,
            action=step.action,
            target_role=step.target_role,
            target_department=step.target_department,
            department=self.department_at(step_at),
        )
        if step.action == "open_supervision" and not self.supervised:
            self._supervision_opened(
                meta=ctx.meta,
                reason=f"escalation level {level} of {milestone}",
                by=step.target_department,
            )
        elif step.action == "raise_priority" and self.priority != PRIORITIES[-1]:
            new = PRIORITIES[PRIORITIES.index(self.priority) + 1]
            self._priority_raised(
                meta=ctx.meta, old=self.priority, new=new, reason=f"escalation {level}"
            )
        return True

    @event("Escalated")
    def _escalated(
        self,
        meta: Meta,
        milestone: str,
        cycle: int,
        level: int,
        action: str,
        target_role: str | None,
        target_department: str | None,
        department: str | None,
    ) -> None:
        self.runs[run_key(milestone, cycle)].levels.add(level)

    # ------------------------------------------- business-time custody and corrections

    def _take_custody(self, at: datetime, department: str | None) -> None:
        """``department`` holds the ticket from ``at`` (business time) on."""
        custody = self.__dict__.setdefault("custody", [])
        index = len(custody)
        while index and custody[index - 1][0] > at:
            index -= 1
        custody.insert(index, (at, department))

    def department_at(self, at: datetime) -> str | None:
        """The department in charge at business instant ``at`` (the front office before the
        first dispatch): a transfer counts from when it happened, however late it was entered.
        """
        custody: list[tuple[datetime, str | None]] = self.__dict__.get("custody") or [
            (self.received_at, self.department)
        ]
        holder = custody[0][1]
        for since, department in custody:
            if since > at:
                break
            holder = department
        return holder

    def review_sla(self, ctx: Ctx, evidence: dict[str, Any]) -> None:
        """Check every recorded warning and breach against the facts as known now.

        A fact recorded late (a crew's arrival phoned in after the clock fired, a pause dated
        earlier) can show that a milestone was met before its due instant, or that its due
        instant lay later: the warning or breach is then withdrawn by an event naming the
        reason and the evidence, never deleted; a breach that stands but happened while
        another department held the ticket (a transfer dated earlier) is credited anew.
        A withdrawn step of a running clock falls due again at its new instant.
        """
        for run in list(self.runs.values()):
            if run.breach is None and not run.warned:
                continue
            clock = ctx.clocks.clock_for(run.spec)
            milestone, cycle = run.clock.milestone, run.clock.cycle
            for threshold, at in sorted(run.warned.items()):
                if not reached_by(run.clock, clock, threshold, at):
                    code, reason = self._why_not_reached(run, at)
                    self._sla_warning_withdrawn(
                        meta=ctx.meta,
                        milestone=milestone,
                        cycle=cycle,
                        threshold=threshold,
                        warned_at=at,
                        reason_code=code,
                        reason=reason,
                        evidence=evidence,
                    )
            if run.breach is None:
                continue
            at, credited = run.breach["at"], run.breach["department"]
            if not reached_by(run.clock, clock, 1, at):
                code, reason = self._why_not_reached(run, at)
                self._sla_breach_withdrawn(
                    meta=ctx.meta,
                    milestone=milestone,
                    cycle=cycle,
                    breached_at=at,
                    department=credited,
                    reason_code=code,
                    reason=reason,
                    evidence=evidence,
                )
            elif (holder := self.department_at(at)) != credited:
                self._sla_breach_reattributed(
                    meta=ctx.meta,
                    milestone=milestone,
                    cycle=cycle,
                    breached_at=at,
                    from_department=credited,
                    department=holder,
                    evidence=evidence,
                )

    @staticmethod
    def _why_not_reached(run: Run, at: datetime) -> tuple[str, str]:
        stopped = run.clock.stopped_at
        if stopped is not None and stopped <= at:
            return "met_before", f"met at {stopped.isoformat()}, before {at.isoformat()}"
        return "paused_before", f"a pause dated earlier moves the instant past {at.isoformat()}"

    @event("SlaWarningWithdrawn")
    def _sla_warning_withdrawn(
        self,
        meta: Meta,
        milestone: str,
        cycle: int,
        threshold: float,
        warned_at: datetime,
        reason_code: str,
        reason: str,
        evidence: dict[str, Any],
    ) -> None:
        run = self.runs[run_key(milestone, cycle)]
        run.warnings.discard(threshold)
        run.warned.pop(threshold, None)

    @event("SlaBreachWithdrawn")
    def _sla_breach_withdrawn(
        self,
        meta: Meta,
        milestone: str,
        cycle: int,
        breached_at: datetime,
        department: str | None,
        reason_code: str,
        reason: str,
        evidence: dict[str, Any],
    ) -> None:
        run = self.runs[run_key(milestone, cycle)]
        run.breached = False
        run.breach = None

    @event("SlaBreachReattributed")
    def _sla_breach_reattributed(
        self,
        meta: Meta,
        milestone: str,
        cycle: int,
        breached_at: datetime,
        from_department: str | None,
        department: str | None,
        evidence: dict[str, Any],
    ) -> None:
        run = self.runs[run_key(milestone, cycle)]
        run.breach = {"at": breached_at, "department": department}

    @event("PriorityRaised")
    def _priority_raised(self, meta: Meta, old: str, new: str, reason: str) -> None:
        self.priority = new

    def rebind_sla(
        self, ctx: Ctx, policy: SlaPolicy, catalogue_version: str, basis: str, reason: str
    ) -> None:
        """Bind another policy explicitly, counting from receipt or from now (recorded)."""
        self._require("rebind_sla")
        if basis not in ("from_receipt", "from_now"):
            raise InvalidValue("basis", "must be from_receipt or from_now")
        reason = self._text("reason", reason)
        clocks = []
        for spec in policy.milestones:
            old = self.runs.get(run_key(spec.name, self.cycle))
            if old is not None and not old.running:
                continue  # a met or cancelled clock stays as it was
            if old is not None:
                start = old.clock.started_at if basis == "from_receipt" else ctx.at
                pauses = old.clock.pauses if basis == "from_receipt" else ()
            elif spec.starts_on == "received":
                start = self.received_at if basis == "from_receipt" else ctx.at
                pauses = ()
            else:
                continue
            if self.paused is not None and spec.pausable and not _has_open_pause(pauses):
                # The ticket is paused: a clock (re)started by the re-binding starts paused too,
                # or it would run (and fall due) while the ticket waits.
                ends = [p.ended_at for p in pauses if p.ended_at is not None]
                since = max(start, self.paused["at"], *ends)
                pauses = (*pauses, Pause(since, None, self.paused["reason"]))
            clocks.append(self._start_payload(ctx, spec, start, self.cycle, pauses))
        dropped = [
            r.clock.milestone
            for r in self.running_clocks()
            if r.clock.milestone not in {s.name for s in policy.milestones}
        ]
        self._sla_policy_rebound(
            meta=ctx.meta,
            policy=_policy_ref(policy, catalogue_version),
            previous=self.policy,
            basis=basis,
            reason=reason,
            specs=bound_specs(policy),
            clocks=clocks,
            dropped=dropped,
        )

    @event("SlaPolicyRebound")
    def _sla_policy_rebound(
        self,
        meta: Meta,
        policy: dict[str, Any],
        previous: dict[str, Any],
        basis: str,
        reason: str,
        specs: list[dict[str, Any]],
        clocks: list[dict[str, Any]],
        dropped: list[str],
    ) -> None:
        self.policy = policy
        self.specs = specs_of(specs)
        for name in dropped:
            run = self.runs[run_key(name, self.cycle)]
            run.outcome = "cancelled"
        for payload in clocks:
            old = self.runs.get(run_key(payload["milestone"], payload["cycle"]))
            self._apply_start(payload)
            if old is not None:
                self.runs[run_key(payload["milestone"], payload["cycle"])].carry(old, judged=False)

    # ------------------------------------------------------ shared lifecycle

    def dispatch(self, ctx: Ctx, department: str, owner: str, note: str = "") -> None:
        """Send the work order to a department with a named owner (派发, 明确责任人)."""
        target = self._require("dispatch")
        assert target is not None
        self._work_order_dispatched(
            meta=ctx.meta,
            department=self._text("department", department),
            owner=self._text("owner", owner),
            note=note,
        )
        self._facts(ctx, "dispatched")

    @event("WorkOrderDispatched")
    def _work_order_dispatched(self, meta: Meta, department: str, owner: str, note: str) -> None:
        self.department = department
        self._take_custody(meta.occurred_at, department)
        self.owner = owner
        self.state = State.DISPATCHED

    def accept(self, ctx: Ctx, owner: str | None = None) -> None:
        """The handling department takes the work order (接单)."""
        self._require("accept")
        self._work_order_accepted(meta=ctx.meta, owner=owner or self.owner or meta_actor(ctx))
        self._facts(ctx, "accepted")

    @event("WorkOrderAccepted")
    def _work_order_accepted(self, meta: Meta, owner: str) -> None:
        self.owner = owner
        self.state = State.ACCEPTED

    def transfer(self, ctx: Ctx, department: str, owner: str, reason: str) -> None:
        """Hand the work order to another department; same ticket, same deadlines (一口对外)."""
        self._require("transfer")
        department = self._text("department", department)
        if department == self.department:
            raise self._refuse("transfer", f"already with {department}")
        self._work_order_transferred(
            meta=ctx.meta,
            from_department=self.department,
            department=department,
            owner=self._text("owner", owner),
            reason=self._text("reason", reason),
        )

    @event("WorkOrderTransferred")
    def _work_order_transferred(
        self, meta: Meta, from_department: str | None, department: str, owner: str, reason: str
    ) -> None:
        self.department = department
        self._take_custody(meta.occurred_at, department)
        self.owner = owner
        self.transfers += 1
        self.state = State.DISPATCHED

    def hand_over(self, ctx: Ctx, department: str, reason: str) -> None:
        """Move the work order to the unit that took over its department's duties (合署).

        Unlike a transfer (wrong routing, counted against the sender), an organisational
        handover keeps the step the work is in, its owner and its deadlines.
        """
        self._require("hand_over")
        department = self._text("department", department)
        if department == self.department:
            raise self._refuse("hand_over", f"already with {department}")
        self._work_order_handed_over(
            meta=ctx.meta,
            from_department=self.department,
            department=department,
            reason=self._text("reason", reason),
        )

    @event("WorkOrderHandedOver")
    def _work_order_handed_over(
        self, meta: Meta, from_department: str | None, department: str, reason: str
    ) -> None:
        self.department = department
        self._take_custody(meta.occurred_at, department)

    def urge(self, ctx: Ctx, note: str) -> None:
        """Chase the department holding the work order (催办)."""
        self._require("urge")
        self._urged(meta=ctx.meta, department=self.department, note=self._text("note", note))

    @event("Urged")
    def _urged(self, meta: Meta, department: str | None, note: str) -> None:
        self.urges += 1

    def supervise(self, ctx: Ctx, reason: str) -> None:
        """Put the ticket under formal supervision (督办) by 营销部 / 客服中心."""
        self._require("supervise")
        if self.supervised:
            raise self._refuse("supervise", "already under supervision")
        self._supervision_opened(
            meta=ctx.meta, reason=self._text("reason", reason), by=ctx.meta.department
        )

    @event("SupervisionOpened")
    def _supervision_opened(self, meta: Meta, reason: str, by: str | None) -> None:
        self.supervised = True

    def contact_customer(self, ctx: Ctx, note: str) -> None:
        """First contact with the customer after intake (e.g. within one working day)."""
        self._require("contact_customer")
        self._customer_contacted(meta=ctx.meta, note=self._text("note", note))
        self._facts(ctx, "customer_contacted")

    @event("CustomerContacted")
    def _customer_contacted(self, meta: Meta, note: str) -> None:
        pass

    def reply(self, ctx: Ctx, result: str, measures: str = "") -> None:
        """The department's reply with result and measures (部门回复)."""
        self._require("reply")
        self._department_replied(
            meta=ctx.meta,
            department=self.department,
            result=self._text("result", result),
            measures=measures,
        )
        self._facts(ctx, "department_replied")

    @event("DepartmentReplied")
    def _department_replied(
        self, meta: Meta, department: str | None, result: str, measures: str
    ) -> None:
        self.replied = True
        self.state = State.REPLIED

    def answer(self, ctx: Ctx, content: str, via: str = "phone") -> None:
        """Give the department's answer to the customer (答复客户)."""
        self._require("answer")
        self._customer_answered(meta=ctx.meta, content=self._text("content", content), via=via)
        self._facts(ctx, "customer_answered")

    @event("CustomerAnswered")
    def _customer_answered(self, meta: Meta, content: str, via: str) -> None:
        self.answered = True
        self.state = State.CUSTOMER_ANSWERED

    def request_callback(self, ctx: Ctx, callback_id: str) -> None:
        """Note that a post-service callback (回访) has been scheduled for this ticket."""
        self._require("request_callback")
        self._callback_requested(meta=ctx.meta, callback_id=callback_id)

    @event("CallbackRequested")
    def _callback_requested(self, meta: Meta, callback_id: str) -> None:
        self.state = State.CALLBACK_PENDING
        self.callback_id = callback_id

    def release_callback(self, ctx: Ctx, callback_id: str, reason: str) -> None:
        """Its pending callback was cancelled: back to answered, free to schedule another."""
        self._require("release_callback")
        if callback_id != self.callback_id:
            raise self._refuse(
                "release_callback", f"callback {callback_id} is not the one it waits for"
            )
        self._callback_released(meta=ctx.meta, callback_id=callback_id, reason=reason)

    @event("CallbackReleased")
    def _callback_released(self, meta: Meta, callback_id: str, reason: str) -> None:
        self.state = State.CUSTOMER_ANSWERED
        self.callback_id = None

    def close(self, ctx: Ctx, note: str = "", satisfied: bool | None = None) -> None:
        """Close the loop; refused without a department reply and an answer (有答复有结果)."""
        self._require("close")
        if not (self.replied and self.answered):
            missing = [
                n
                for n, ok in (
                    ("department reply", self.replied),
                    ("answer to the customer", self.answered),
                )
                if not ok
            ]
            raise self._refuse("close", "有答复有结果: no " + " and no ".join(missing))
        if self.state is State.CALLBACK_PENDING:
            self._facts(ctx, "callback_completed")
        self._ticket_closed(
            meta=ctx.meta, note=note, satisfied=satisfied, department=self.department
        )
        self._facts(ctx, "closed")
        self._cancel_running(ctx, "ticket closed")

    @event("TicketClosed")
    def _ticket_closed(
        self, meta: Meta, note: str, satisfied: bool | None, department: str | None
    ) -> None:
        self.state = State.CLOSED

    def reopen(self, ctx: Ctx, reason: str) -> None:
        """Reopen after a dissatisfied callback: a new SLA cycle, the old breaches stay."""
        self._require("reopen")
        reason = self._text("reason", reason)
        if self.state is State.CALLBACK_PENDING:
            self._facts(ctx, "callback_completed")
        self._cancel_running(ctx, "ticket reopened")
        clocks = [
            self._start_payload(ctx, spec, ctx.at, self.cycle + 1, ())
            for spec in self.specs
            if spec.starts_on == "received"
        ]
        self._ticket_reopened(meta=ctx.meta, reason=reason, cycle=self.cycle + 1, clocks=clocks)

    @event("TicketReopened")
    def _ticket_reopened(
        self, meta: Meta, reason: str, cycle: int, clocks: list[dict[str, Any]]
    ) -> None:
        self.cycle = cycle
        self.state = State.REOPENED
        self.replied = False
        self.answered = False
        self.paused = None
        for payload in clocks:
            self._apply_start(payload)

    def resolve_at_first_contact(self, ctx: Ctx, answer: str) -> None:
        """Settle the matter during the call itself (一次解决); nothing is dispatched."""
        self._require("resolve_at_first_contact")
        self._resolved_at_first_contact(meta=ctx.meta, answer=self._text("answer", answer))
        self._facts(ctx, "customer_contacted", "department_replied", "customer_answered", "closed")
        self._cancel_running(ctx, "resolved at first contact")

    @event("ResolvedAtFirstContact")
    def _resolved_at_first_contact(self, meta: Meta, answer: str) -> None:
        self.replied = True
        self.answered = True
        self.state = State.RESOLVED_AT_FRONT

    def withdraw(self, ctx: Ctx, reason: str) -> None:
        """The customer withdraws the matter (撤单)."""
        self._require("withdraw")
        self._ticket_withdrawn(meta=ctx.meta, reason=self._text("reason", reason))
        self._cancel_running(ctx, "ticket withdrawn")

    @event("TicketWithdrawn")
    def _ticket_withdrawn(self, meta: Meta, reason: str) -> None:
        self.state = State.WITHDRAWN

    def reclassify(self, ctx: Ctx, category: str, priority: str, ticket_class: str) -> None:
        """Change category, priority or class; the desk re-binds the SLA explicitly if needed."""
        self._require("reclassify")
        self._check_priority(priority)
        self._reclassified(
            meta=ctx.meta,
            category=self._text("category", category),
            priority=priority,
            ticket_class=ticket_class,
        )

    @event("Reclassified")
    def _reclassified(self, meta: Meta, category: str, priority: str, ticket_class: str) -> None:
        self.category = category
        self.priority = priority
        self.ticket_class = ticket_class

    @staticmethod
    def _check_priority(priority: str) -> None:
        if priority not in PRIORITIES:
            raise InvalidValue("priority", f"must be one of {', '.join(PRIORITIES)}")

    def open_dispute(self, ctx: Ctx, subject: str) -> None:
        """The customer disputes a finding (e.g. a meter reading → technical test)."""
        self._require("open_dispute")
        if self.disputed:
            raise self._refuse("open_dispute", "a dispute is already open")
        self._dispute_opened(meta=ctx.meta, subject=self._text("subject", subject))

    @event("DisputeOpened")
    def _dispute_opened(self, meta: Meta, subject: str) -> None:
        self.disputed = True

    def resolve_dispute(self, ctx: Ctx, outcome: str) -> None:
        self._require("resolve_dispute")
        if not self.disputed:
            raise self._refuse("resolve_dispute", "no dispute is open")
        self._dispute_resolved(meta=ctx.meta, outcome=self._text("outcome", outcome))

    @event("DisputeResolved")
    def _dispute_resolved(self, meta: Meta, outcome: str) -> None:
        self.disputed = False

    # ------------------------------------------------------------- reading

    def sla_summary(
        self, at: datetime | None = None, clocks: ClockSource | None = None
    ) -> list[dict[str, Any]]:
        """The clocks of every cycle, oldest first, as plain data.

        Given an instant and the clocks, each row also says how much of its budget was used
        and is left then (business seconds; negative left means overdue).
        """
        rows = []
        for run in sorted(self.runs.values(), key=lambda r: (r.clock.cycle, r.clock.started_at)):
            timing: dict[str, Any] = {}
            if clocks is not None:
                clock = clocks.clock_for(run.spec)
                day = getattr(clock, "standard_day_seconds", None)
                timing["working_day_seconds"] = day if isinstance(day, int) else None
                if at is not None:
                    used = used_seconds(run.clock, clock, at)
                    timing["used_seconds"] = used
                    timing["left_seconds"] = run.clock.target_seconds - used
            rows.append(
                {
                    "milestone": run.clock.milestone,
                    "cycle": run.clock.cycle,
                    "target_seconds": run.clock.target_seconds,
                    "target": run.spec.target,
                    "clock": run.spec.clock,
                    "started_at": run.clock.started_at,
                    "due_at": run.due_at,
                    "paused": bool(run.clock.pauses and run.clock.pauses[-1].ended_at is None),
                    "outcome": run.outcome or "running",
                    "breached": run.breached,
                    "warnings": sorted(run.warnings),
                    "escalation_levels": sorted(run.levels),
                    **timing,
                }
            )
        return rows


def meta_actor(ctx: Ctx) -> str:
    return ctx.meta.actor


def _policy_ref(policy: SlaPolicy, catalogue_version: str) -> dict[str, Any]:
    return {
        "id": policy.id,
        "version": policy.version,
        "title_zh": policy.title_zh,
        "title_en": policy.title_en,
        "catalogue": catalogue_version,
    }
