"""Callback (回访): a follow-up call after service, or a periodic call per customer grade.

SCHEDULED → ATTEMPTED (n failed attempts) → COMPLETED (reached: satisfaction 1–5, satisfied or
not), or UNREACHABLE after the maximum number of attempts, or CANCELLED. A dissatisfied
post-service callback makes the desk reopen the source ticket with a new SLA cycle.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import Meta, Recorded
from domain.errors import IllegalTransition, InvalidValue

ATTEMPT_OUTCOMES = ("no_answer", "busy", "wrong_number", "call_back_later")
KINDS = ("post_service", "periodic")


class CallbackState(StrEnum):
    SCHEDULED = "scheduled"
    ATTEMPTED = "attempted"
    COMPLETED = "completed"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


_OPEN = frozenset({CallbackState.SCHEDULED, CallbackState.ATTEMPTED})


class Callback(Recorded):
    """One callback to one customer, with its attempts and outcome."""

    KIND = "callback"

    @event("CallbackScheduled")
    def __init__(
        self,
        id: UUID,
        meta: Meta,
        number: str,
        kind: str,
        customer_id: UUID | None,
        source_ticket_id: UUID | None,
        source_number: str | None,
        department: str | None,
        due_at: datetime,
        max_attempts: int,
    ) -> None:
        self.number = number
        self.kind = kind
        self.customer_id = customer_id
        self.source_ticket_id = source_ticket_id
        self.source_number = source_number
        self.department = department
        self.due_at = due_at
        self.max_attempts = max_attempts
        self.attempts = 0
        self.state = CallbackState.SCHEDULED
        self.satisfaction: int | None = None
        self.satisfied: bool | None = None

    @staticmethod
    def check_new(kind: str, max_attempts: int) -> None:
        if kind not in KINDS:
            raise InvalidValue("kind", f"must be one of {', '.join(KINDS)}")
        if not 1 <= max_attempts <= 10:
            raise InvalidValue("max_attempts", "must be between 1 and 10")

    def _require(self, action: str) -> None:
        if self.state not in _OPEN:
            raise IllegalTransition(
                kind="callback", ticket=self.number, state=self.state.value, action=action
            )

    def legal_actions(self) -> list[str]:
        return ["cancel", "record_attempt", "record_outcome"] if self.state in _OPEN else []

    def record_attempt(self, meta: Meta, outcome: str, note: str = "") -> None:
        """A call that did not reach the customer; the last allowed one makes it unreachable."""
        self._require("record_attempt")
        if outcome not in ATTEMPT_OUTCOMES:
            raise InvalidValue("outcome", f"must be one of {', '.join(ATTEMPT_OUTCOMES)}")
        self._callback_attempted(meta=meta, outcome=outcome, note=note, attempt=self.attempts + 1)
        if self.attempts >= self.max_attempts:
            self._callback_unreachable(meta=meta, attempts=self.attempts)

    @event("CallbackAttempted")
    def _callback_attempted(self, meta: Meta, outcome: str, note: str, attempt: int) -> None:
        self.attempts = attempt
        self.state = CallbackState.ATTEMPTED

    @event("CallbackUnreachable")
    def _callback_unreachable(self, meta: Meta, attempts: int) -> None:
        self.state = CallbackState.UNREACHABLE

    def record_outcome(
        self,
        meta: Meta,
        satisfaction: int,
        satisfied: bool | None = None,
        comment: str = "",
        follow_up: bool = False,
    ) -> bool:
        """The customer was reached. Returns whether they were satisfied (score >= 4 by default)."""
        self._require("record_outcome")
        if not 1 <= satisfaction <= 5:
            raise InvalidValue("satisfaction", "must be between 1 and 5")
        verdict = satisfaction >= 4 if satisfied is None else satisfied
        self._callback_completed(
            meta=meta,
            satisfaction=satisfaction,
            satisfied=verdict,
            comment=comment,
            follow_up=follow_up,
            source_ticket_id=self.source_ticket_id,
            department=self.department,
        )
        return verdict

    @event("CallbackCompleted")
    def _callback_completed(
        self,
        meta: Meta,
        satisfaction: int,
        satisfied: bool,
        comment: str,
        follow_up: bool,
        source_ticket_id: UUID | None,
        department: str | None,
    ) -> None:
        self.attempts += 1
        self.satisfaction = satisfaction
        self.satisfied = satisfied
        self.state = CallbackState.COMPLETED

    def cancel(self, meta: Meta, reason: str) -> None:
        self._require("cancel")
        if not reason.strip():
            raise InvalidValue("reason", "must not be empty")
        self._callback_cancelled(meta=meta, reason=reason.strip())

    @event("CallbackCancelled")
    def _callback_cancelled(self, meta: Meta, reason: str) -> None:
        self.state = CallbackState.CANCELLED

    def summary(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "number": self.number,
            "kind": self.kind,
            "state": self.state.value,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "due_at": self.due_at,
            "satisfaction": self.satisfaction,
            "satisfied": self.satisfied,
            "source_number": self.source_number,
            "department": self.department,
        }
