"""The callback scheduler (回访): post-service callbacks after an answer, periodic ones per grade.

Each pass (:meth:`CallbackScheduler.run_once`) reads the ``callback_plan`` view and sends

- ``ScheduleCallback(kind="post_service", ticket_id)`` for every ticket answered to the customer
  (答复客户) in its current cycle without a callback yet, command id ``callback:{ticket}:{cycle}``
  (a reopened ticket gets a new one when it is answered again);
- ``ScheduleCallback(kind="periodic", customer_id, due_at)`` for every graded customer whose next
  periodic callback falls within the lead time, command id ``periodic:{customer}:{index}``.

Command ids make a pass idempotent: the desk derives the callback's id from them, so a repeated
pass, or two schedulers at once, schedule each callback once. What the desk does with a
callback's outcome (close the ticket, or reopen it when the customer is dissatisfied) is the
desk's business, not the scheduler's. The cadence per grade is data: ``callback_plan.toml``
(the shipped one, or the deployment's: ``Settings.data_file("callback_plan")``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.data_files import DataFileError, read_toml, validation_problems
from domain import commands as c
from domain.base import Channel, Role
from domain.errors import DomainError, IllegalTransition, VersionConflict
from projections.callback_plan import next_periodic
from projections.due_queries import ViewQueries
from workers.faults import retry_after

log = structlog.get_logger("casetrail.callbacks")

PLAN_FILE = "callback_plan.toml"
ACTOR: dict[str, Any] = {
    "actor_id": "callback-scheduler",
    "role": Role.SYSTEM,
    "department": "system",
    "channel": Channel.SYSTEM,
}


class PostServicePlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: tuple[str, ...]
    max_attempts: int = Field(3, ge=1, le=10)


class PeriodicPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    every_days: dict[Literal["A", "B", "C"], int]
    max_attempts: int = Field(3, ge=1, le=10)
    lead_days: int = Field(0, ge=0)

    def every(self, grade: str) -> timedelta | None:
        days = self.every_days.get(grade)  # type: ignore[call-overload]
        return None if days is None else timedelta(days=days)


class CallbackPlanConfig(BaseModel):
    """The callback plan (回访计划) as configured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    post_service: PostServicePlan
    periodic: PeriodicPlan


def load_callback_plan(path: Path | None = None) -> CallbackPlanConfig:
    """Read and validate ``path`` (default: the shipped ``callback_plan.toml``); a bad file
    raises :class:`DataFileError` naming the file and each faulty field."""
    source, document = read_toml(path, PLAN_FILE)
    try:
        return CallbackPlanConfig.model_validate(document)
    except ValidationError as exc:
        raise DataFileError(validation_problems(exc, source, document)) from exc


class CallbackScheduler:
    """Schedules post-service and periodic callbacks from the callback_plan view."""

    def __init__(
        self,
        desk: Any,
        projector: Any | None,
        queries: ViewQueries,
        clock: Callable[[], datetime],
        *,
        plan: CallbackPlanConfig | None = None,
        batch_size: int = 500,
        safety_timeout: float = 60.0,
        name: str = "callbacks",
    ) -> None:
        self.desk = desk
        self.projector = projector
        self.queries = queries
        self.clock = clock
        self.plan = plan or load_callback_plan()
        self.batch_size = batch_size
        self.safety_timeout = safety_timeout
        self.changed = threading.Event()
        self.log = log.bind(worker=name)

    def wake(self) -> None:
        self.changed.set()

    def catch_up(self) -> None:
        """Bring the views up to the head of the log (see ``workers.sla_clock.ProjectorViews``)."""
        if self.projector is not None:
            self.projector.catch_up()

    def run_once(self, now: datetime) -> dict[str, int]:
        """Schedule every callback due by the plan at ``now``; returns counts by kind."""
        self.catch_up()
        counts = {"post_service": self._post_service(now), "periodic": self._periodic(now)}
        if any(counts.values()):
            self.log.info("callbacks scheduled", at=now.isoformat(), **counts)
        return counts

    def _post_service(self, now: datetime) -> int:
        scheduled = 0
        seen: set[str] = set()
        while True:
            rows = [
                r
                for r in self.queries.awaiting_callback(
                    self.plan.post_service.kinds, self.batch_size
                )
                if r.ticket_id not in seen
            ]
            if not rows:
                return scheduled
            for row in rows:
                seen.add(row.ticket_id)
                cmd = c.ScheduleCallback(
                    **ACTOR,
                    kind="post_service",
                    ticket_id=UUID(row.ticket_id),
                    max_attempts=self.plan.post_service.max_attempts,
                    occurred_at=max(now, row.answered_at),
                    command_id=f"callback:{row.ticket_id}:{row.cycle}",
                )
                bound = self.log.bind(ticket_id=row.ticket_id, department=row.department)
                scheduled += self._send(cmd, bound)
            self.catch_up()

    def _periodic(self, now: datetime) -> int:
        scheduled = 0
        lead = timedelta(days=self.plan.periodic.lead_days)
        for customer in list(self.queries.graded_customers()):
            every = self.plan.periodic.every(customer.grade)
            if every is None:
                continue
            nxt = next_periodic(
                graded_at=customer.graded_at,
                periodic_count=customer.periodic_count,
                last_due_at=customer.last_periodic_due_at,
                every=every,
                now=now,
            )
            if nxt.due_at - lead > now:
                continue
            cmd = c.ScheduleCallback(
                **ACTOR,
                kind="periodic",
                customer_id=UUID(customer.customer_id),
                due_at=nxt.due_at,
                max_attempts=self.plan.periodic.max_attempts,
                occurred_at=now,
                command_id=f"periodic:{customer.customer_id}:{nxt.index}",
            )
            bound = self.log.bind(customer_id=customer.customer_id, grade=customer.grade)
            scheduled += self._send(cmd, bound)
        return scheduled

    def _send(self, cmd: c.ScheduleCallback, bound: Any) -> int:
        bound = bound.bind(correlation_id=cmd.command_id)
        for _attempt in range(3):
            try:
                outcome = self.desk.handle(cmd)
            except VersionConflict:
                continue  # a peer scheduled it (same derived id) or the ticket moved: look again
            except IllegalTransition as refused:
                bound.info("callback not scheduled", reason=refused.message)
                return 0
            except DomainError as error:
                bound.warning("callback scheduling failed", error=error.as_dict())
                return 0
            if outcome.changed:
                bound.info(
                    "callback scheduled",
                    kind=cmd.kind,
                    callback_id=str(outcome.id),
                    number=outcome.number,
                    due_at=cmd.due_at.isoformat() if cmd.due_at else None,
                )
            return int(outcome.changed)
        bound.warning("callback scheduling gave up after conflicts")
        return 0

    def run_forever(self, stop: threading.Event) -> None:
        """Pass after every change (``wake``) and at least every ``safety_timeout`` seconds."""
        self.log.info("callback scheduler started")
        while not stop.is_set():
            self.changed.clear()
            wait = self.safety_timeout
            try:
                self.run_once(self.clock())
            except Exception as error:
                wait = retry_after(self.log, "callback pass failed; retrying", error)
            if not stop.is_set():
                self.changed.wait(wait)
        self.log.info("callback scheduler stopped")
