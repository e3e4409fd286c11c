"""Service requests (工单) of the 95598 hotline, one aggregate with a step table per kind.

- ``fault_repair`` 故障报修 (抢修类): dispatch → crew dispatched → crew arrived (vs the promised
  arrival time) → power restored → reply → answer → callback → closed.
- ``new_connection`` 业扩报装: accept → site survey → supply plan drafted → approved → contract
  signed → meter installed → energized → reply → answer → closed; each step names its owner.
- ``meter_dispute`` 计量争议 / 校验: accept → test scheduled → tested → [adjustment proposed →
  approved] → reply …
- ``billing_adjustment`` 退补电量电费: accept → adjustment proposed → approved → reply …
- ``inquiry`` 咨询, ``suggestion`` 建议, ``report`` 举报: accept → in progress → reply …
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from domain.base import Meta
from domain.errors import InvalidValue
from domain.ticket import COMMON, Ctx, State, Ticket, Transitions

KINDS = (
    "fault_repair",
    "new_connection",
    "meter_dispute",
    "billing_adjustment",
    "inquiry",
    "suggestion",
    "report",
)

_START = frozenset({State.RECEIVED, State.REOPENED})


def _table(**steps: tuple[frozenset[State], State | None]) -> Transitions:
    return {**COMMON, "dispatch": (_START, State.DISPATCHED), **steps}


STEPS: dict[str, Transitions] = {
    "fault_repair": _table(
        dispatch_crew=(frozenset({State.DISPATCHED, State.ACCEPTED}), State.CREW_EN_ROUTE),
        record_arrival=(frozenset({State.CREW_EN_ROUTE}), State.ON_SITE),
        record_restoration=(frozenset({State.ON_SITE}), State.RESTORED),
        reply=(frozenset({State.RESTORED}), State.REPLIED),
    ),
    "new_connection": _table(
        record_survey=(frozenset({State.ACCEPTED}), State.SURVEYED),
        draft_plan=(frozenset({State.SURVEYED}), State.PLAN_DRAFTED),
        approve_plan=(frozenset({State.PLAN_DRAFTED}), State.PLAN_APPROVED),
        sign_contract=(frozenset({State.PLAN_APPROVED}), State.CONTRACT_SIGNED),
        install_meter=(frozenset({State.CONTRACT_SIGNED}), State.METER_INSTALLED),
        energize=(frozenset({State.METER_INSTALLED}), State.ENERGIZED),
        reply=(frozenset({State.ENERGIZED}), State.REPLIED),
    ),
    "meter_dispute": _table(
        schedule_test=(frozenset({State.ACCEPTED}), State.TEST_SCHEDULED),
        record_test=(frozenset({State.TEST_SCHEDULED}), State.TESTED),
        propose_adjustment=(frozenset({State.TESTED}), State.ADJUSTMENT_PROPOSED),
        approve_adjustment=(frozenset({State.ADJUSTMENT_PROPOSED}), State.ADJUSTMENT_APPROVED),
        reply=(frozenset({State.TESTED, State.ADJUSTMENT_APPROVED}), State.REPLIED),
    ),
    "billing_adjustment": _table(
        propose_adjustment=(frozenset({State.ACCEPTED}), State.ADJUSTMENT_PROPOSED),
        approve_adjustment=(frozenset({State.ADJUSTMENT_PROPOSED}), State.ADJUSTMENT_APPROVED),
        reply=(frozenset({State.ADJUSTMENT_APPROVED}), State.REPLIED),
    ),
    **{
        kind: _table(
            start_work=(frozenset({State.ACCEPTED}), State.IN_PROGRESS),
            reply=(frozenset({State.ACCEPTED, State.IN_PROGRESS}), State.REPLIED),
            resolve_at_first_contact=(frozenset({State.RECEIVED}), State.RESOLVED_AT_FRONT),
        )
        for kind in ("inquiry", "suggestion", "report")
    },
}

# The event each step records (its method is ``_<name>``).
_EVENTS = {
    "dispatch_crew": "crew_dispatched",
    "record_arrival": "crew_arrived",
    "record_restoration": "power_restored",
    "record_survey": "site_surveyed",
    "draft_plan": "supply_plan_drafted",
    "approve_plan": "supply_plan_approved",
    "sign_contract": "supply_contract_signed",
    "install_meter": "meter_installed",
    "energize": "energized",
    "schedule_test": "meter_test_scheduled",
    "record_test": "meter_tested",
    "propose_adjustment": "adjustment_proposed",
    "approve_adjustment": "adjustment_approved",
    "start_work": "work_started",
}

# Which fact each step establishes; the SLA policy's milestones start and stop on facts.
STEP_FACTS = {
    "record_arrival": "crew_arrived",
    "record_restoration": "power_restored",
    "record_survey": "site_surveyed",
    "approve_plan": "plan_approved",
    "sign_contract": "contract_signed",
    "install_meter": "meter_installed",
    "energize": "energized",
    "record_test": "meter_tested",
    "approve_adjustment": "adjustment_approved",
}


class ServiceRequest(Ticket):
    """A work order of one of the service kinds; its steps come from ``STEPS[kind]``."""

    KIND = "service_request"
    TRANSITIONS: ClassVar[Transitions] = COMMON

    @event("ServiceRequestReceived")
    def __init__(
        self, id: UUID, meta: Meta, number: str, kind: str, details: dict[str, Any]
    ) -> None:
        self._init_common(meta, number, kind, details)
        self.steps: list[dict[str, Any]] = []
        self.promised_arrival_at: datetime | None = None

    def transitions(self) -> Transitions:
        return STEPS[self.kind]

    def _step(self, ctx: Ctx, action: str, owner: str, note: str, **data: Any) -> None:
        """Guard a step, record its own event (one event class per fact), then its SLA fact."""
        self._require(action)
        recorder = getattr(self, f"_{_EVENTS[action]}")
        recorder(meta=ctx.meta, owner=self._text("owner", owner), note=note, data=data)
        if action in STEP_FACTS:
            self._facts(ctx, STEP_FACTS[action])

    def _apply_step(self, step: str, meta: Meta, owner: str, data: dict[str, Any]) -> None:
        _, target = self.transitions()[step]
        if target is not None:
            self.state = target
        self.owner = owner
        self.steps.append({"step": step, "owner": owner, "at": meta.occurred_at, **data})

    # Fault repair (抢修) ------------------------------------------------------

    def dispatch_crew(self, ctx: Ctx, crew: str, promised_arrival_at: datetime) -> None:
        """Send a repair crew with the arrival time promised to the customer."""
        if promised_arrival_at < ctx.at:
            raise InvalidValue("promised_arrival_at", "lies before the dispatch time")
        self._step(ctx, "dispatch_crew", crew, "", promised_arrival_at=promised_arrival_at)

    @event("CrewDispatched")
    def _crew_dispatched(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("dispatch_crew", meta, owner, data)
        self.promised_arrival_at = data["promised_arrival_at"]

    def record_arrival(self, ctx: Ctx, crew: str) -> None:
        """The crew is on site; on time if not later than promised (按承诺时限到达现场)."""
        promised = self.promised_arrival_at
        on_time = promised is None or ctx.at <= promised
        self._step(ctx, "record_arrival", crew, "", on_time=on_time, promised_arrival_at=promised)

    @event("CrewArrived")
    def _crew_arrived(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("record_arrival", meta, owner, data)

    def record_restoration(self, ctx: Ctx, crew: str, cause: str) -> None:
        self._step(ctx, "record_restoration", crew, self._text("cause", cause))

    @event("PowerRestored")
    def _power_restored(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("record_restoration", meta, owner, data)

    # New connection (业扩报装) -------------------------------------------------

    def record_survey(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "record_survey", owner, note)

    @event("SiteSurveyed")
    def _site_surveyed(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("record_survey", meta, owner, data)

    def draft_plan(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "draft_plan", owner, note)

    @event("SupplyPlanDrafted")
    def _supply_plan_drafted(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("draft_plan", meta, owner, data)

    def approve_plan(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "approve_plan", owner, note)

    @event("SupplyPlanApproved")
    def _supply_plan_approved(
        self, meta: Meta, owner: str, note: str, data: dict[str, Any]
    ) -> None:
        self._apply_step("approve_plan", meta, owner, data)

    def sign_contract(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "sign_contract", owner, note)

    @event("SupplyContractSigned")
    def _supply_contract_signed(
        self, meta: Meta, owner: str, note: str, data: dict[str, Any]
    ) -> None:
        self._apply_step("sign_contract", meta, owner, data)

    def install_meter(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "install_meter", owner, note)

    @event("MeterInstalled")
    def _meter_installed(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("install_meter", meta, owner, data)

    def energize(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "energize", owner, note)

    @event("Energized")
    def _energized(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("energize", meta, owner, data)

    # Meter dispute and billing adjustment -----------------------------------

    def schedule_test(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "schedule_test", owner, note)

    @event("MeterTestScheduled")
    def _meter_test_scheduled(
        self, meta: Meta, owner: str, note: str, data: dict[str, Any]
    ) -> None:
        self._apply_step("schedule_test", meta, owner, data)

    def record_test(
        self, ctx: Ctx, owner: str, result: str, error_percent: float | None = None
    ) -> None:
        self._step(
            ctx, "record_test", owner, self._text("result", result), error_percent=error_percent
        )

    @event("MeterTested")
    def _meter_tested(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("record_test", meta, owner, data)

    def propose_adjustment(self, ctx: Ctx, owner: str, kwh: float, amount_yuan: float) -> None:
        self._step(ctx, "propose_adjustment", owner, "", kwh=kwh, amount_yuan=amount_yuan)

    @event("AdjustmentProposed")
    def _adjustment_proposed(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("propose_adjustment", meta, owner, data)

    def approve_adjustment(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "approve_adjustment", owner, note)

    @event("AdjustmentApproved")
    def _adjustment_approved(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("approve_adjustment", meta, owner, data)

    # Generic non-repair ------------------------------------------------------

    def start_work(self, ctx: Ctx, owner: str, note: str = "") -> None:
        self._step(ctx, "start_work", owner, note)

    @event("WorkStarted")
    def _work_started(self, meta: Meta, owner: str, note: str, data: dict[str, Any]) -> None:
        self._apply_step("start_work", meta, owner, data)
