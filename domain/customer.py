"""Customer (客户): residential, commercial or a group / key account (集团客户, 大客户).

A key account has a grade A/B/C assigned with a recorded basis (contribution, potential, e.g.
purchases over 100万元 or over 10 % of profit) and an account manager (大客户经理). Tickets copy
the customer's grade at intake, so SLA matching and reports use the grade in force then.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import Meta, Recorded
from domain.errors import InvalidValue
from domain.personal import ERASED

CUSTOMER_TYPES = ("residential", "commercial", "industrial", "group")
GRADES = ("A", "B", "C", "none")
AREAS = ("urban", "rural", "remote")
VOLTAGES = ("lv_residential", "lv", "10kV", "35kV")


def check_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidValue(field, f"{value!r} is not one of {', '.join(choices)}")
    return value


class Customer(Recorded):
    """A customer account with grade, key-account flag and account manager."""

    KIND = "customer"

    @event("CustomerRegistered")
    def __init__(
        self,
        id: UUID,
        meta: Meta,
        name: str,
        customer_type: str,
        area: str,
        voltage: str,
        station: str,
        contact: dict[str, Any],
        group_id: str | None,
    ) -> None:
        self.name = name
        self.customer_type = customer_type
        self.area = area
        self.voltage = voltage
        self.station = station
        self.contact = dict(contact)
        self.group_id = group_id
        self.grade = "none"
        self.key_account = False
        self.grade_basis = ""
        self.account_manager: str | None = None
        self.erased = False
        self.tickets_erased: list[str] = []

    @classmethod
    def check_new(cls, name: str, customer_type: str, area: str, voltage: str) -> None:
        if not name.strip():
            raise InvalidValue("name", "must not be empty")
        check_choice("customer_type", customer_type, CUSTOMER_TYPES)
        check_choice("area", area, AREAS)
        check_choice("voltage", voltage, VOLTAGES)

    def assign_grade(self, meta: Meta, grade: str, key_account: bool, basis: str) -> None:
        """Grade A/B/C by contribution and potential, with the basis recorded (分级)."""
        check_choice("grade", grade, GRADES)
        if not basis.strip():
            raise InvalidValue("basis", "a grade needs its basis (contribution, potential)")
        self._grade_assigned(
            meta=meta,
            grade=grade,
            key_account=key_account,
            basis=basis.strip(),
            previous=self.grade,
        )

    @event("GradeAssigned")
    def _grade_assigned(
        self, meta: Meta, grade: str, key_account: bool, basis: str, previous: str
    ) -> None:
        self.grade = grade
        self.key_account = key_account
        self.grade_basis = basis

    def assign_account_manager(self, meta: Meta, manager: str) -> None:
        """Name the account manager (大客户经理) who owns the relationship."""
        if not manager.strip():
            raise InvalidValue("manager", "must not be empty")
        self._account_manager_assigned(
            meta=meta, manager=manager.strip(), previous=self.account_manager
        )

    @event("AccountManagerAssigned")
    def _account_manager_assigned(self, meta: Meta, manager: str, previous: str | None) -> None:
        self.account_manager = manager

    def update_contact(self, meta: Meta, contact: dict[str, Any]) -> None:
        self.refuse_if_erased("contact")
        self._contact_updated(meta=meta, contact=dict(contact))

    @event("ContactUpdated")
    def _contact_updated(self, meta: Meta, contact: dict[str, Any]) -> None:
        self.contact.update(contact)

    def refuse_if_erased(self, field: str) -> None:
        """Nothing personal is recorded for an erased customer any more."""
        if self.__dict__.get("erased"):
            raise InvalidValue(
                field,
                f"customer {self.id} was erased (personal data destroyed): register the caller "
                "anew to record their details",
            )

    def erase(self, meta: Meta, reason: str, tickets: list[str]) -> None:
        """Record that this customer's personal data is destroyed (crypto-shredding).

        ``tickets`` are the customer's tickets, whose copies of the name, phone and address
        the read models blank too. Erasing again (tickets found since) records them as well.
        """
        if not reason.strip():
            raise InvalidValue(
                "reason", "an erasure needs its reason (e.g. the customer's request)"
            )
        self._customer_erased(meta=meta, reason=reason.strip(), tickets=list(tickets))

    @event("CustomerErased")
    def _customer_erased(self, meta: Meta, reason: str, tickets: list[str]) -> None:
        self.erased = True
        self.tickets_erased = [*self.tickets_erased, *tickets]
        self.name = ERASED
        self.contact = {key: ERASED for key, value in self.contact.items() if value is not None}

    def snapshot_for_ticket(self) -> dict[str, Any]:
        """What a ticket copies at intake: the facts SLA matching and reports need then."""
        return {
            "id": str(self.id),
            "name": self.name,
            "customer_type": self.customer_type,
            "grade": self.grade,
            "key_account": self.key_account,
            "account_manager": self.account_manager,
            "area": self.area,
            "voltage": self.voltage,
            "station": self.station,
        }
