"""Key accounts (大客户) and problem customers (问题客户) at intake.

Two rules run at every intake, after the ticket bound its SLA policy (``INTAKE_HOOKS`` of
:mod:`domain.extensions`), and record their events in the intake's own write:

* **The account manager is informed.** A ticket of a grade-A/B customer or of a key account
  (the grade snapshot copied at intake) whose customer has an account manager (大客户经理)
  records ``AccountManagerInformed`` with the manager, grade and the policy lane it took. The
  lane itself is data: the policy catalogue matches grade and key-account flag
  (``config/data/sla_policies.toml``: grade-A/B key accounts take stricter targets and an
  earlier escalation ladder). A regrade changes the customer only: tickets already open keep
  the grade and policy copied at their intake.
* **Problem customers are flagged.** Each complaint of a registered customer is counted in a
  :class:`ComplaintTally` of the customer's quarter (business time, Beijing time: the quarter
  of the complaint's ``occurred_at``). The intake that brings the count to the threshold
  records ``ProblemCustomerFlagged`` with the quarter, the complaints (the evidence) and the
  threshold. The threshold is configured (``config/data/problem_customers.toml``, given to the
  desk by :func:`set_problem_threshold`), else :data:`DEFAULT_PROBLEM_THRESHOLD` (casetrail's
  own default: REQUIREMENTS gives no number).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import event

from domain.base import Meta, Recorded
from domain.errors import InvalidValue
from domain.extensions import INTAKE_HOOKS, aggregate
from domain.ticket import Ticket

KEY_GRADES = ("A", "B")
"""Grades whose tickets inform the account manager (besides any key account)."""

DEFAULT_PROBLEM_THRESHOLD = 3
"""Complaints in a quarter that flag a problem customer: a DEFAULT of casetrail's own."""

THRESHOLD_ATTRIBUTE = "problem_customer_threshold"


def set_problem_threshold(desk: Any, complaints: int) -> None:
    """Give the desk the configured threshold (``config/data/problem_customers.toml``)."""
    if complaints < 1:
        raise InvalidValue("complaints_per_quarter", f"{complaints} complaints cannot flag anyone")
    desk.__dict__[THRESHOLD_ATTRIBUTE] = complaints


TALLY_NAMESPACE = uuid.UUID("3b0f6a52-8a0e-4d7c-9c1e-2f4b5d6e7a81")
_BEIJING = ZoneInfo("Asia/Shanghai")


def quarter_of(at: datetime) -> str:
    """The quarter of a business instant in Beijing time, e.g. ``"2026Q4"``."""
    local = at.astimezone(_BEIJING)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def informs_account_manager(customer: dict[str, Any]) -> bool:
    """Whether a ticket of this customer snapshot informs its account manager."""
    keyed = customer.get("grade") in KEY_GRADES or bool(customer.get("key_account"))
    return keyed and bool(customer.get("account_manager"))


def tally_id(customer_id: str, quarter: str) -> UUID:
    """The id of a customer's complaint tally for a quarter (derived: one per pair)."""
    return uuid.uuid5(TALLY_NAMESPACE, f"complaints:{customer_id}:{quarter}")


class AccountManagerInformed(Ticket.Event):
    """The customer's account manager was told of the ticket at intake (on their worklist)."""

    meta: Meta
    manager: str
    customer_id: str
    grade: str
    key_account: bool
    policy: str

    def apply(self, aggregate: Any) -> None:
        aggregate.__dict__["account_manager_informed"] = self.manager


def inform_account_manager(ticket: Ticket, meta: Meta) -> bool:
    """Record ``AccountManagerInformed`` on a just-received ticket when its snapshot says so."""
    customer = ticket.customer
    if not informs_account_manager(customer):
        return False
    policy = f"{ticket.policy.get('id')}@{ticket.policy.get('version')}"
    ticket.trigger_event(
        AccountManagerInformed,
        meta=meta,
        manager=str(customer["account_manager"]),
        customer_id=str(customer.get("id")),
        grade=str(customer.get("grade", "none")),
        key_account=bool(customer.get("key_account")),
        policy=policy,
    )
    return True


@aggregate
class ComplaintTally(Recorded):
    """A customer's complaints in one quarter (business time), and whether they flagged it.

    Opened by the quarter's first complaint (one event: an intake writes as few rows as it
    can), each later one counted; the complaint that reaches the threshold flags the customer.
    """

    KIND = "complaint_tally"

    @event("ComplaintTallyOpened")
    def __init__(
        self, id: UUID, meta: Meta, customer_id: str, quarter: str, ticket_id: str, number: str
    ) -> None:
        self.customer_id = customer_id
        self.quarter = quarter
        self.complaints: list[dict[str, str]] = [{"ticket_id": ticket_id, "number": number}]
        self.flagged = False

    @classmethod
    def open(
        cls,
        meta: Meta,
        customer_id: str,
        ticket_id: str,
        number: str,
        threshold: int,
        manager: str | None,
    ) -> ComplaintTally:
        """The tally of the quarter of ``meta.occurred_at``, opened by its first complaint."""
        _check_threshold(threshold)
        quarter = quarter_of(meta.occurred_at)
        tally = cls(
            id=tally_id(customer_id, quarter),
            meta=meta,
            customer_id=customer_id,
            quarter=quarter,
            ticket_id=ticket_id,
            number=number,
        )
        tally._flag_if_reached(meta, threshold, manager)
        return tally

    def count(
        self, meta: Meta, ticket_id: str, number: str, threshold: int, manager: str | None
    ) -> None:
        """Count a complaint; the one that reaches ``threshold`` flags the customer."""
        _check_threshold(threshold)
        if quarter_of(meta.occurred_at) != self.quarter:
            raise InvalidValue(
                "occurred_at",
                f"{meta.occurred_at.isoformat()} lies outside {self.quarter}",
            )
        if any(c["ticket_id"] == ticket_id for c in self.complaints):
            return
        self._complaint_counted(meta=meta, ticket_id=ticket_id, number=number)
        self._flag_if_reached(meta, threshold, manager)

    def _flag_if_reached(self, meta: Meta, threshold: int, manager: str | None) -> None:
        if not self.flagged and len(self.complaints) >= threshold:
            self._problem_customer_flagged(
                meta=meta,
                customer_id=self.customer_id,
                quarter=self.quarter,
                complaints=[dict(c) for c in self.complaints],
                threshold=threshold,
                account_manager=manager,
            )

    @event("ComplaintCounted")
    def _complaint_counted(self, meta: Meta, ticket_id: str, number: str) -> None:
        self.complaints = [*self.complaints, {"ticket_id": ticket_id, "number": number}]

    @event("ProblemCustomerFlagged")
    def _problem_customer_flagged(
        self,
        meta: Meta,
        customer_id: str,
        quarter: str,
        complaints: list[dict[str, str]],
        threshold: int,
        account_manager: str | None,
    ) -> None:
        self.flagged = True


def _check_threshold(threshold: int) -> None:
    if threshold < 1:
        raise InvalidValue("threshold", f"{threshold} complaints cannot flag anyone")


def _on_intake(desk: Any, ticket: Ticket, meta: Meta, new_customer: bool) -> list[Recorded]:
    """The intake hook: inform the account manager; count a complaint of a known customer.

    A customer registered by this very intake has no tally yet: none is looked for.
    """
    inform_account_manager(ticket, meta)
    customer_id = ticket.customer.get("id")
    if ticket.kind != "complaint" or not customer_id:
        return []
    threshold = desk.__dict__.get(THRESHOLD_ATTRIBUTE) or DEFAULT_PROBLEM_THRESHOLD
    manager = ticket.customer.get("account_manager")
    ident = tally_id(str(customer_id), quarter_of(meta.occurred_at))
    tally: ComplaintTally | None = None if new_customer else desk._find(ident)
    if tally is None:
        tally = ComplaintTally.open(
            meta, str(customer_id), str(ticket.id), ticket.number, int(threshold), manager
        )
    else:
        tally.count(meta, str(ticket.id), ticket.number, int(threshold), manager)
    return [tally] if tally.pending_events else []


INTAKE_HOOKS.append(_on_intake)
