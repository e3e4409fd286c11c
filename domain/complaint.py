"""Complaint (投诉): received, verified, classified, dispatched to one department at a time.

Lifecycle per REQUIREMENTS.md §2.1. A complaint can be settled at first contact (一次解决),
rejected after verification (duplicate, not ours), or go the full loop: dispatch → accept →
cause analysed → department reply → answer to the customer → callback → closed.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from domain.base import Meta
from domain.errors import InvalidValue
from domain.ticket import COMMON, Ctx, State, Ticket, Transitions

REJECT_REASONS = ("duplicate", "not_ours", "invalid")

COMPLAINT: Transitions = {
    **COMMON,
    "verify": (frozenset({State.RECEIVED}), State.VERIFIED),
    "classify": (frozenset({State.VERIFIED}), State.CLASSIFIED),
    "resolve_at_first_contact": (frozenset({State.RECEIVED}), State.RESOLVED_AT_FRONT),
    "reject": (frozenset({State.RECEIVED, State.VERIFIED}), State.REJECTED),
    "dispatch": (frozenset({State.CLASSIFIED, State.REOPENED}), State.DISPATCHED),
    "record_cause": (frozenset({State.ACCEPTED}), State.IN_PROGRESS),
    "reply": (frozenset({State.ACCEPTED, State.IN_PROGRESS}), State.REPLIED),
}


class Complaint(Ticket):
    """A customer complaint handled by one department at a time (一口对外)."""

    KIND = "complaint"
    TRANSITIONS: ClassVar[Transitions] = COMPLAINT

    @event("ComplaintReceived")
    def __init__(self, id: UUID, meta: Meta, number: str, details: dict[str, Any]) -> None:
        self._init_common(meta, number, "complaint", details)

    def verify(self, ctx: Ctx, note: str = "") -> None:
        """Confirm the complaint is genuine and ours (验证)."""
        self._require("verify")
        self._complaint_verified(meta=ctx.meta, note=note)

    @event("ComplaintVerified")
    def _complaint_verified(self, meta: Meta, note: str) -> None:
        self.state = State.VERIFIED

    def classify(self, ctx: Ctx, category: str, priority: str, ticket_class: str) -> None:
        """Fix category, priority and class 抢修/非抢修 (分类)."""
        self._require("classify")
        self._check_priority(priority)
        if ticket_class not in ("repair", "non_repair"):
            raise InvalidValue("ticket_class", "must be repair or non_repair")
        self._complaint_classified(
            meta=ctx.meta,
            category=self._text("category", category),
            priority=priority,
            ticket_class=ticket_class,
        )

    @event("ComplaintClassified")
    def _complaint_classified(
        self, meta: Meta, category: str, priority: str, ticket_class: str
    ) -> None:
        self.category = category
        self.priority = priority
        self.ticket_class = ticket_class
        self.state = State.CLASSIFIED

    def reject(self, ctx: Ctx, reason: str, note: str = "") -> None:
        """Refuse the complaint after verification: a duplicate, not ours, or invalid."""
        self._require("reject")
        if reason not in REJECT_REASONS:
            raise InvalidValue("reason", f"must be one of {', '.join(REJECT_REASONS)}")
        self._complaint_rejected(meta=ctx.meta, reason=reason, note=note)
        self._cancel_running(ctx, f"rejected: {reason}")

    @event("ComplaintRejected")
    def _complaint_rejected(self, meta: Meta, reason: str, note: str) -> None:
        self.state = State.REJECTED

    def record_cause(self, ctx: Ctx, cause: str, solution: str) -> None:
        """The handling department analyses the cause and proposes a solution."""
        self._require("record_cause")
        self._cause_analysed(
            meta=ctx.meta,
            cause=self._text("cause", cause),
            solution=self._text("solution", solution),
        )

    @event("CauseAnalysed")
    def _cause_analysed(self, meta: Meta, cause: str, solution: str) -> None:
        self.state = State.IN_PROGRESS
