"""Key accounts at intake: the account manager informed, the lane and its earlier escalation,
a regrade for future tickets only; problem customers flagged by complaints in a quarter."""

from __future__ import annotations

from typing import Any

import pytest

from domain import commands as c
from domain.desk import Desk, Outcome
from domain.errors import InvariantViolated
from domain.key_accounts import (
    DEFAULT_PROBLEM_THRESHOLD,
    quarter_of,
    set_problem_threshold,
    tally_id,
)
from tests.factories import (
    SUPERVISOR,
    SYSTEM,
    FakeClock,
    act,
    bj,
    history,
    names,
    of_type,
    receive,
    register_customer,
)


def key_customer(
    desk: Desk, grade: str = "A", key_account: bool = True, manager: str | None = "li-manager"
) -> Outcome:
    customer = register_customer(desk, name="湘江钢铁集团", customer_type="group", voltage="10kV")
    if grade != "none":
        desk.handle(
            c.AssignGrade(
                **SUPERVISOR,
                customer_id=customer.id,
                grade=grade,
                key_account=key_account,
                basis="年购电量 180 万元，利润贡献 12%",
            )
        )
    if manager:
        desk.handle(c.AssignAccountManager(**SUPERVISOR, customer_id=customer.id, manager=manager))
    return customer


def complaint_of(desk: Desk, customer: Outcome, **fields: Any) -> Outcome:
    return receive(desk, customer_id=customer.id, **fields)


def escalations_due(desk: Desk, ticket: Outcome, milestone: str, until: Any) -> list[Any]:
    due = desk.ticket(ticket.id).due_actions(until)
    return [
        (d["level"], d["at"])
        for d in due
        if d["action"] == "escalate" and d["milestone"] == milestone
    ]


# ---------------------------------------------------------------- the account manager informed


def test_an_a_grade_ticket_informs_the_account_manager_at_intake(memory_desk: Desk) -> None:
    customer = key_customer(memory_desk)

    out = complaint_of(memory_desk, customer)

    assert "AccountManagerInformed" in out.events
    informed = of_type(history(memory_desk, out.id), "AccountManagerInformed")[0]
    assert (informed.manager, informed.grade, informed.key_account, informed.policy) == (
        "li-manager",
        "A",
        True,
        "complaint-key-account-a@1",
    )
    assert informed.customer_id == str(customer.id)
    assert memory_desk.ticket(out.id).__dict__["account_manager_informed"] == "li-manager"


def test_a_b_grade_customer_without_the_key_flag_informs_its_manager_in_the_ordinary_lane(
    memory_desk: Desk,
) -> None:
    customer = key_customer(memory_desk, grade="B", key_account=False)

    out = complaint_of(memory_desk, customer)

    informed = of_type(history(memory_desk, out.id), "AccountManagerInformed")[0]
    assert (informed.grade, informed.policy) == ("B", "complaint@1")


@pytest.mark.parametrize(
    ("grade", "key_account", "manager"),
    [("none", False, "li-manager"), ("C", False, "li-manager"), ("A", True, None)],
)
def test_no_manager_is_informed_without_a_key_grade_or_without_a_manager(
    memory_desk: Desk, grade: str, key_account: bool, manager: str | None
) -> None:
    customer = key_customer(memory_desk, grade=grade, key_account=key_account, manager=manager)

    out = complaint_of(memory_desk, customer)

    assert "AccountManagerInformed" not in out.events
    assert "AccountManagerInformed" not in names(history(memory_desk, out.id))


def test_a_repeated_intake_informs_the_manager_once(memory_desk: Desk) -> None:
    customer = key_customer(memory_desk)

    first = complaint_of(memory_desk, customer, command_id="intake-1")
    again = complaint_of(memory_desk, customer, command_id="intake-1")

    assert (again.id, again.changed) == (first.id, False)
    assert names(history(memory_desk, first.id)).count("AccountManagerInformed") == 1


# ---------------------------------------------------------------- the lane escalates earlier


def test_an_a_grade_ticket_escalates_at_its_grades_earlier_threshold(
    memory_desk: Desk, clock: FakeClock
) -> None:
    # Both received Mon 2026-10-12 09:00 (Beijing), complaint policy v1 then in force.
    # cn-office working day: 09:00-12:00 and 13:30-18:00 = 7.5 h.
    a_ticket = complaint_of(memory_desk, key_customer(memory_desk))
    plain_ticket = complaint_of(memory_desk, key_customer(memory_desk, grade="none", manager=None))
    assert memory_desk.ticket(a_ticket.id).policy["id"] == "complaint-key-account-a"
    assert memory_desk.ticket(plain_ticket.id).policy["id"] == "complaint"

    # A lane, department_reply: 3 working days = 22.5 h; level 1 at 50 % = 11.25 h:
    # Mon 7.5 h (to 18:00) + Tue 3 h (09:00-12:00) + 0.75 h from 13:30 = Tue 2026-10-13 14:15.
    level_1 = bj(2026, 10, 13, 14, 15)
    assert escalations_due(memory_desk, a_ticket, "department_reply", level_1) == [(1, level_1)]
    # Ordinary complaint v1, department_reply: 5 working days = 37.5 h; level 1 at 80 % = 30 h
    # = four whole working days, Mon-Thu: the budget runs out at Thu 18:00, which the calendar
    # names as the next working instant, Fri 2026-10-16 09:00. Nothing due on Tue 14:15.
    assert escalations_due(memory_desk, plain_ticket, "department_reply", level_1) == []
    plain_level_1 = bj(2026, 10, 16, 9, 0)
    assert escalations_due(memory_desk, plain_ticket, "department_reply", plain_level_1) == [
        (1, plain_level_1)
    ]

    clock.set(bj(2026, 10, 13, 14, 14))  # a minute early: refused
    with pytest.raises(InvariantViolated, match="not due until"):
        act(
            memory_desk,
            a_ticket,
            "escalate",
            SYSTEM,
            milestone="department_reply",
            cycle=1,
            level=1,
        )
    clock.set(level_1)
    out = act(
        memory_desk, a_ticket, "escalate", SYSTEM, milestone="department_reply", cycle=1, level=1
    )
    assert out.events == ["Escalated"]
    escalated = of_type(history(memory_desk, a_ticket.id), "Escalated")[0]
    assert escalated.level == 1
    with pytest.raises(InvariantViolated, match="not due until"):
        act(
            memory_desk,
            plain_ticket,
            "escalate",
            SYSTEM,
            milestone="department_reply",
            cycle=1,
            level=1,
        )


def test_a_b_grade_key_account_takes_the_key_account_lane(memory_desk: Desk) -> None:
    out = complaint_of(memory_desk, key_customer(memory_desk, grade="B"))

    # department_reply 4 working days = 30 h; level 1 at 60 % = 18 h: Mon 7.5 h + Tue 7.5 h
    # = 15 h, + 3 h on Wed 09:00-12:00 = Wed 2026-10-14 12:00.
    assert memory_desk.ticket(out.id).policy["id"] == "complaint-key-account"
    due = escalations_due(memory_desk, out, "department_reply", bj(2026, 10, 14, 12, 0))
    assert due == [(1, bj(2026, 10, 14, 12, 0))]


# ---------------------------------------------------------------- a regrade applies to new tickets


def test_a_regrade_from_b_to_a_applies_to_future_tickets_only(memory_desk: Desk) -> None:
    customer = key_customer(memory_desk, grade="B")
    open_ticket = complaint_of(memory_desk, customer)

    memory_desk.handle(
        c.AssignGrade(
            **SUPERVISOR,
            customer_id=customer.id,
            grade="A",
            key_account=True,
            basis="季度评估：购电量升至 260 万元",
        )
    )
    new_ticket = complaint_of(memory_desk, customer)

    kept = memory_desk.ticket(open_ticket.id)
    assert (kept.customer["grade"], kept.policy["id"]) == ("B", "complaint-key-account")
    fresh = memory_desk.ticket(new_ticket.id)
    assert (fresh.customer["grade"], fresh.policy["id"]) == ("A", "complaint-key-account-a")
    informed = of_type(history(memory_desk, new_ticket.id), "AccountManagerInformed")[0]
    assert (informed.grade, informed.policy) == ("A", "complaint-key-account-a@1")


# ---------------------------------------------------------------- problem customers


def test_quarters_are_counted_in_beijing_business_time() -> None:
    assert quarter_of(bj(2026, 9, 30, 23, 59)) == "2026Q3"
    assert quarter_of(bj(2026, 10, 1, 0, 10)) == "2026Q4"  # 2026-09-30 16:10 UTC
    assert quarter_of(bj(2026, 12, 31, 23, 59)) == "2026Q4"


def test_the_nth_complaint_in_a_quarter_flags_the_customer(memory_desk: Desk) -> None:
    assert DEFAULT_PROBLEM_THRESHOLD == 3
    customer = key_customer(memory_desk, grade="C", key_account=False)
    # Q3 (Wed 2026-09-30 23:30 Beijing): counted for 2026Q3, not for Q4.
    complaint_of(memory_desk, customer, occurred_at=bj(2026, 9, 30, 23, 30))
    # A fault repair is no complaint: never counted.
    receive(memory_desk, "fault_repair", customer_id=customer.id, occurred_at=bj(2026, 10, 1, 8, 0))
    first = complaint_of(memory_desk, customer, occurred_at=bj(2026, 10, 1, 0, 10))
    second = complaint_of(memory_desk, customer, occurred_at=bj(2026, 10, 9, 10, 0))
    assert "ProblemCustomerFlagged" not in names(
        history(memory_desk, tally_id(str(customer.id), "2026Q4"))
    )

    # Q4 complaints: 1 (10-01) + 1 (10-09) + 1 (now) = 3 = the default threshold.
    third = complaint_of(memory_desk, customer, occurred_at=bj(2026, 10, 12, 8, 30))

    tally = history(memory_desk, tally_id(str(customer.id), "2026Q4"))
    # opened by the first (10-01), then the second and the third counted
    assert names(tally) == [
        "ComplaintTallyOpened",
        "ComplaintCounted",
        "ComplaintCounted",
        "ProblemCustomerFlagged",
    ]
    flagged = tally[-1]
    assert (flagged.customer_id, flagged.quarter, flagged.threshold) == (
        str(customer.id),
        "2026Q4",
        3,
    )
    assert [x["number"] for x in flagged.complaints] == [first.number, second.number, third.number]
    assert flagged.account_manager == "li-manager"
    q3 = history(memory_desk, tally_id(str(customer.id), "2026Q3"))
    assert names(q3) == ["ComplaintTallyOpened"]  # one complaint: the one that opened it

    # A fourth complaint is counted but flags nobody again.
    complaint_of(memory_desk, customer, occurred_at=bj(2026, 10, 12, 8, 45))
    tally = history(memory_desk, tally_id(str(customer.id), "2026Q4"))
    assert names(tally).count("ComplaintCounted") == 3  # + the one that opened it = 4
    assert names(tally).count("ProblemCustomerFlagged") == 1


def test_a_threshold_of_four_flags_at_the_fourth_complaint(memory_desk: Desk) -> None:
    set_problem_threshold(memory_desk, 4)  # as problem_customers.toml would
    customer = key_customer(memory_desk, grade="none", manager=None)
    outs = [
        complaint_of(memory_desk, customer, occurred_at=bj(2026, 10, day, 10, 0))
        for day in (5, 6, 7)
    ]
    tally = tally_id(str(customer.id), "2026Q4")
    assert "ProblemCustomerFlagged" not in names(history(memory_desk, tally))

    fourth = complaint_of(memory_desk, customer, occurred_at=bj(2026, 10, 8, 10, 0))

    flagged = of_type(history(memory_desk, tally), "ProblemCustomerFlagged")[0]
    # 3 complaints (10-05, 10-06, 10-07) + this one = 4 = the threshold.
    assert flagged.threshold == 4
    assert [x["ticket_id"] for x in flagged.complaints] == [str(o.id) for o in (*outs, fourth)]
    assert flagged.account_manager is None


def test_a_walk_in_complaint_counts_for_the_customer_it_registers(memory_desk: Desk) -> None:
    out = receive(memory_desk)  # customer_name only: registered on the fly
    customer_id = memory_desk.ticket(out.id).customer["id"]
    tally = history(memory_desk, tally_id(str(customer_id), "2026Q4"))
    assert names(tally) == ["ComplaintTallyOpened"]  # opened by its first complaint


def test_the_threshold_is_read_from_the_data_file(tmp_path: Any) -> None:
    from bootstrap.problem_customers import load_problem_threshold
    from config.data_files import DataFileError

    assert load_problem_threshold() == 3  # the shipped file's default
    (tmp_path / "problem_customers.toml").write_text("version = 1\ncomplaints_per_quarter = 4\n")
    assert load_problem_threshold(tmp_path) == 4
    (tmp_path / "problem_customers.toml").write_text("version = 1\ncomplaints_per_quarter = 0\n")
    with pytest.raises(DataFileError, match="complaints_per_quarter"):
        load_problem_threshold(tmp_path)


def test_a_threshold_of_one_flags_at_the_complaint_that_opens_the_quarter(
    memory_desk: Desk,
) -> None:
    set_problem_threshold(memory_desk, 1)
    customer = key_customer(memory_desk, grade="none", manager=None)

    out = complaint_of(memory_desk, customer)

    tally = history(memory_desk, tally_id(str(customer.id), "2026Q4"))
    assert names(tally) == ["ComplaintTallyOpened", "ProblemCustomerFlagged"]  # 1 >= 1
    assert [x["number"] for x in tally[-1].complaints] == [out.number]
