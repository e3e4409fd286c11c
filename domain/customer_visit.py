"""A customer visit (客户走访) by the account manager, its plan and report approved and archived.

The account manager (大客户经理) plans a visit to a customer, typically a problem customer
flagged in a quarter (``ProblemCustomerFlagged``: the visit names that quarter); a supervisor
approves the plan; the manager reports the visit; a supervisor approves the report, which
archives the visit::

    planned --approve_plan--> plan_approved --report--> reported --approve_report--> archived

Each step is an event (``VisitPlanned``, ``VisitPlanApproved``, ``VisitReported``,
``VisitReportApproved`` then ``VisitArchived`` in the same write). Only the customer's account
manager plans and reports (the ``manager`` named must be the customer's); only supervisors
approve. A step the state does not allow is refused naming the transition; a field that is
wrong is refused naming the field.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field, StringConstraints

from domain.base import Meta, Recorded, Role, recording_clock
from domain.commands import Command, Instant, Name, OptionalNote, Text
from domain.customer import Customer
from domain.errors import IllegalTransition, InvalidValue
from domain.extensions import aggregate, handles

QUARTER = re.compile(r"^\d{4}Q[1-4]$")
Quarter = Annotated[str, StringConstraints(pattern=QUARTER.pattern)]


class VisitState(StrEnum):
    PLANNED = "planned"
    PLAN_APPROVED = "plan_approved"
    REPORTED = "reported"
    ARCHIVED = "archived"


@aggregate
class CustomerVisit(Recorded):
    """One planned visit to a customer, from plan to archived report."""

    KIND = "customer_visit"

    @event("VisitPlanned")
    def __init__(
        self,
        id: UUID,
        meta: Meta,
        customer_id: str,
        manager: str,
        quarter: str | None,
        purpose: str,
        planned_for: datetime,
    ) -> None:
        self.customer_id = customer_id
        self.manager = manager
        self.quarter = quarter
        self.purpose = purpose
        self.planned_for = planned_for
        self.state = VisitState.PLANNED
        self.findings = ""
        self.visited_at: datetime | None = None

    @property
    def number(self) -> str:
        return f"ZF-{self.id.hex[:8].upper()}"  # 走访

    @staticmethod
    def check_new(manager: str, assigned: str | None, quarter: str | None, purpose: str) -> None:
        if assigned is None:
            raise InvalidValue("customer_id", "the customer has no account manager to visit it")
        if manager.strip() != assigned:
            raise InvalidValue(
                "manager", f"{manager!r} is not the customer's account manager ({assigned!r})"
            )
        if quarter is not None and not QUARTER.match(quarter):
            raise InvalidValue("quarter", f"{quarter!r} is not a quarter like 2026Q4")
        if not purpose.strip():
            raise InvalidValue("purpose", "a visit plan needs its purpose")

    def _require(self, action: str, state: VisitState) -> None:
        if self.state is not state:
            raise IllegalTransition(
                kind="customer_visit",
                ticket=self.number,
                state=self.state.value,
                action=action,
                reason=f"only a {state.value} visit can {action.replace('_', ' ')}",
            )

    @staticmethod
    def _supervisor(meta: Meta, action: str) -> None:
        if meta.role != Role.SUPERVISOR.value:
            raise InvalidValue("role", f"only supervisors {action.replace('_', ' ')}s")

    def _manager(self, meta: Meta, manager: str) -> None:
        if manager.strip() != self.manager:
            raise InvalidValue(
                "manager", f"{manager!r} is not the visit's account manager ({self.manager!r})"
            )

    def approve_plan(self, meta: Meta, note: str) -> None:
        self._require("approve_plan", VisitState.PLANNED)
        self._supervisor(meta, "approve_plan")
        self._plan_approved(meta=meta, note=note.strip())

    @event("VisitPlanApproved")
    def _plan_approved(self, meta: Meta, note: str) -> None:
        self.state = VisitState.PLAN_APPROVED

    def report(self, meta: Meta, manager: str, visited_at: datetime, findings: str) -> None:
        self._require("report", VisitState.PLAN_APPROVED)
        self._manager(meta, manager)
        if not findings.strip():
            raise InvalidValue("findings", "a visit report needs its findings")
        if visited_at > meta.occurred_at:
            raise InvalidValue("visited_at", "a visit is reported after it took place")
        self._reported(meta=meta, visited_at=visited_at, findings=findings.strip())

    @event("VisitReported")
    def _reported(self, meta: Meta, visited_at: datetime, findings: str) -> None:
        self.state = VisitState.REPORTED
        self.visited_at = visited_at
        self.findings = findings

    def approve_report(self, meta: Meta, note: str) -> None:
        self._require("approve_report", VisitState.REPORTED)
        self._supervisor(meta, "approve_report")
        self._report_approved(meta=meta, note=note.strip())
        self._archived(meta=meta)

    @event("VisitReportApproved")
    def _report_approved(self, meta: Meta, note: str) -> None:
        pass

    @event("VisitArchived")
    def _archived(self, meta: Meta) -> None:
        self.state = VisitState.ARCHIVED


# ---------------------------------------------------------------- commands


class PlanVisit(Command):
    """The account manager plans a visit to their customer (for a flagged quarter, or not)."""

    customer_id: UUID
    manager: Name
    quarter: Quarter | None = Field(
        default=None, description="The quarter the customer was flagged in, e.g. 2026Q4"
    )
    purpose: Text
    planned_for: Instant = Field(
        description="Business time the visit is planned for (RFC 3339 with offset)"
    )


class VisitCommand(Command):
    """A command addressed to one customer visit."""

    visit_id: UUID


class ApproveVisitPlan(VisitCommand):
    """A supervisor approves the visit plan."""

    note: OptionalNote = ""


class ReportVisit(VisitCommand):
    """The account manager reports the visit: when it took place and what was found."""

    manager: Name
    visited_at: Instant = Field(description="Business time the visit took place (not later)")
    findings: Text


class ApproveVisitReport(VisitCommand):
    """A supervisor approves the visit report; the visit is archived."""

    note: OptionalNote = ""


VISIT_NAMESPACE = uuid.UUID("8d7f2c1a-5b3e-4f60-a9d4-1c2b3e4f5a6b")


@handles(PlanVisit)
def plan_visit(desk: Any, cmd: PlanVisit) -> Any:
    ident = uuid.uuid5(VISIT_NAMESPACE, cmd.command_id) if cmd.command_id else None
    if ident is not None and (existing := desk._find(ident)) is not None:
        return desk._outcome(existing, [], changed=False)
    customer: Customer = desk._load(Customer, cmd.customer_id, "customer", copy=False)
    CustomerVisit.check_new(cmd.manager, customer.account_manager, cmd.quarter, cmd.purpose)
    meta = desk._meta(cmd)
    with recording_clock(desk.clock):
        visit = CustomerVisit(
            id=ident or uuid.uuid4(),
            meta=meta,
            customer_id=str(customer.id),
            manager=cmd.manager.strip(),
            quarter=cmd.quarter,
            purpose=cmd.purpose.strip(),
            planned_for=cmd.planned_for,
        )
    return desk._outcome(visit, desk._save_all(visit))


@handles(ApproveVisitPlan, ReportVisit, ApproveVisitReport)
def act_on_visit(desk: Any, cmd: VisitCommand) -> Any:
    visit: CustomerVisit = desk._load(CustomerVisit, cmd.visit_id, "customer visit")
    if visit.seen(cmd.command_id):
        return desk._outcome(visit, [], changed=False)
    desk._check_version(visit, cmd.expected_version)
    meta = desk._meta(cmd)
    with recording_clock(desk.clock):
        match cmd:
            case ApproveVisitPlan():
                visit.approve_plan(meta, cmd.note)
            case ReportVisit():
                visit.report(meta, cmd.manager, cmd.visited_at, cmd.findings)
            case ApproveVisitReport():
                visit.approve_report(meta, cmd.note)
    return desk._outcome(visit, desk._save_all(visit))
