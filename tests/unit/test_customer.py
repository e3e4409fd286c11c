"""Customers (客户): registration, key-account grade with its basis, account manager, and
what a ticket copies from the customer at intake."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from domain import commands as c
from domain.customer import Customer
from domain.desk import Desk
from domain.errors import InvalidValue, NotFound, VersionConflict
from tests.factories import (
    AGENT,
    bj,
    history,
    meta_at,
    names,
    of_type,
    receive,
    register_customer,
    stored_count,
)

MON_0900 = bj(2026, 10, 12, 9, 0)


def a_customer() -> Customer:
    """A customer aggregate on its own, for the rules it enforces itself."""
    customer = Customer(
        meta=meta_at(MON_0900),
        name="城关镇第一中学",
        customer_type="commercial",
        area="urban",
        voltage="lv",
        station="station_1",
        contact={"phone": "0731-5550123"},
        group_id=None,
        id=uuid4(),
    )
    customer.collect_events()
    return customer


def grade(desk: Desk, customer_id: object, **fields: object) -> object:
    return desk.handle(
        c.AssignGrade(
            **{
                **AGENT,
                "customer_id": customer_id,
                "grade": "A",
                "key_account": True,
                "basis": "年购电量 180 万元，利润贡献 12%",
                **fields,
            }
        )
    )


# ---------------------------------------------------------------- registration


def test_a_registered_customer_starts_ungraded(memory_desk: Desk) -> None:
    out = register_customer(memory_desk, address="城关镇学府路1号")

    assert (out.kind, out.events) == ("customer", ["CustomerRegistered"])
    customer = memory_desk.repository.get(out.id)
    assert (customer.name, customer.grade, customer.key_account, customer.account_manager) == (
        "城关镇第一中学",
        "none",
        False,
        None,
    )
    assert customer.contact == {"phone": "0731-5550123", "address": "城关镇学府路1号"}


def test_a_customer_without_a_name_is_refused(memory_desk: Desk) -> None:
    with pytest.raises(ValidationError, match="name"):
        register_customer(memory_desk, name="  ")
    with pytest.raises(InvalidValue) as refused:
        Customer.check_new("  ", "commercial", "urban", "lv")
    assert refused.value.details == {"field": "name"}


def test_an_unknown_customer_type_is_refused_by_the_customer() -> None:
    with pytest.raises(InvalidValue, match="'farm' is not one of"):
        Customer.check_new("张三", "farm", "urban", "lv")


# ---------------------------------------------------------------- grade (分级)


def test_a_grade_is_recorded_with_its_basis(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)

    out = grade(memory_desk, customer.id)

    assert out.events == ["GradeAssigned"]
    assigned = of_type(history(memory_desk, customer.id), "GradeAssigned")[0]
    assert (assigned.grade, assigned.key_account, assigned.basis, assigned.previous) == (
        "A",
        True,
        "年购电量 180 万元，利润贡献 12%",
        "none",
    )


def test_a_regrade_records_the_previous_grade(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    grade(memory_desk, customer.id)

    grade(memory_desk, customer.id, grade="B", basis="季度评估：购电量下降至 90 万元")

    regraded = of_type(history(memory_desk, customer.id), "GradeAssigned")[-1]
    assert (regraded.grade, regraded.previous) == ("B", "A")


def test_a_grade_without_a_basis_is_refused_at_the_command(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    stored = stored_count(memory_desk)

    with pytest.raises(ValidationError, match="basis"):
        grade(memory_desk, customer.id, basis="")

    assert stored_count(memory_desk) == stored


def test_a_grade_without_a_basis_is_refused_by_the_customer() -> None:
    customer = a_customer()

    with pytest.raises(InvalidValue) as refused:
        customer.assign_grade(meta_at(MON_0900), "A", True, "   ")

    assert refused.value.details == {"field": "basis"}
    assert (customer.grade, customer.collect_events()) == ("none", [])


def test_an_unknown_grade_is_refused_by_the_customer() -> None:
    customer = a_customer()

    with pytest.raises(InvalidValue, match="grade: 'S' is not one of A, B, C, none"):
        customer.assign_grade(meta_at(MON_0900), "S", True, "年购电量 500 万元")


def test_grading_an_unknown_customer_is_refused(memory_desk: Desk) -> None:
    with pytest.raises(NotFound, match="customer"):
        grade(memory_desk, uuid4())


# ---------------------------------------------------------------- account manager (大客户经理)


def test_an_account_manager_assignment_is_recorded(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)

    out = memory_desk.handle(
        c.AssignAccountManager(**AGENT, customer_id=customer.id, manager="客户经理-陈敏")
    )

    assert out.events == ["AccountManagerAssigned"]
    assigned = of_type(history(memory_desk, customer.id), "AccountManagerAssigned")[0]
    assert (assigned.manager, assigned.previous) == ("客户经理-陈敏", None)
    assert memory_desk.repository.get(customer.id).account_manager == "客户经理-陈敏"


def test_a_new_account_manager_records_the_previous_one(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    memory_desk.handle(c.AssignAccountManager(**AGENT, customer_id=customer.id, manager="陈敏"))

    memory_desk.handle(c.AssignAccountManager(**AGENT, customer_id=customer.id, manager="刘洋"))

    last = of_type(history(memory_desk, customer.id), "AccountManagerAssigned")[-1]
    assert (last.manager, last.previous) == ("刘洋", "陈敏")


def test_an_empty_account_manager_is_refused_by_the_customer() -> None:
    with pytest.raises(InvalidValue, match="manager: must not be empty"):
        a_customer().assign_account_manager(meta_at(MON_0900), "  ")


# ---------------------------------------------------------------- what a ticket copies


def test_a_ticket_copies_grade_and_account_manager_at_intake(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    grade(memory_desk, customer.id)
    memory_desk.handle(c.AssignAccountManager(**AGENT, customer_id=customer.id, manager="陈敏"))

    ticket = receive(memory_desk, customer_id=customer.id)

    copied = memory_desk.ticket(ticket.id).customer
    assert copied == {
        "id": str(customer.id),
        "name": "城关镇第一中学",
        "customer_type": "commercial",
        "grade": "A",
        "key_account": True,
        "account_manager": "陈敏",
        "area": "urban",
        "voltage": "lv",
        "station": "station_1",
    }


def test_an_unknown_caller_is_registered_with_the_ticket(memory_desk: Desk) -> None:
    stored = stored_count(memory_desk)

    ticket = receive(memory_desk, customer_name="李秀英")

    customer_id = memory_desk.ticket(ticket.id).customer["id"]
    assert names(history(memory_desk, customer_id)) == ["CustomerRegistered"]
    # the customer, the ticket and its binding; the customer's quarter tally opened by the
    # complaint (domain/key_accounts.py): 3 + 1
    assert stored_count(memory_desk) == stored + 4


def test_an_intake_without_a_customer_is_refused(memory_desk: Desk) -> None:
    with pytest.raises(InvalidValue) as refused:
        memory_desk.handle(
            c.ReceiveTicket(**AGENT, kind="complaint", category="billing", content="电费偏高")
        )

    assert refused.value.details == {"field": "customer_id"}


def test_an_intake_for_an_unknown_customer_is_refused(memory_desk: Desk) -> None:
    stored = stored_count(memory_desk)

    with pytest.raises(NotFound, match="customer"):
        receive(memory_desk, customer_id=uuid4())

    assert stored_count(memory_desk) == stored


# ---------------------------------------------------------------- idempotency, versions


def test_the_same_registration_twice_creates_one_customer(memory_desk: Desk) -> None:
    first = register_customer(memory_desk, command_id="reg-0001")
    stored = stored_count(memory_desk)

    again = register_customer(memory_desk, command_id="reg-0001")

    assert (again.id, again.changed, again.events) == (first.id, False, [])
    assert stored_count(memory_desk) == stored


def test_the_same_grade_command_twice_records_one_grade(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    grade(memory_desk, customer.id, command_id="grade-2026Q3")

    again = grade(memory_desk, customer.id, command_id="grade-2026Q3")

    assert (again.changed, again.events) == (False, [])
    assert len(of_type(history(memory_desk, customer.id), "GradeAssigned")) == 1


def test_a_stale_expected_version_on_a_customer_is_refused(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    grade(memory_desk, customer.id)  # version 2
    stored = stored_count(memory_desk)

    with pytest.raises(VersionConflict) as conflict:
        memory_desk.handle(
            c.AssignAccountManager(
                **AGENT, customer_id=customer.id, manager="陈敏", expected_version=1
            )
        )

    assert conflict.value.details["expected"] == 1
    assert conflict.value.details["actual"] == 2
    assert stored_count(memory_desk) == stored
