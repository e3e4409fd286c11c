"""ticket_search: events recorded by the real desk, folded into rows (given events -> rows).

The desk runs on eventsourcing's in-memory store; its log is folded into the dict-backed rows
of ``test_projection_sla`` (typed like the adapters: JSON through JSON, instants aware).
"""

from __future__ import annotations

from typing import Any

import pytest

from domain import commands as c
from domain.desk import Desk, Outcome
from projections.core import Row
from projections.ticket_search import CUSTOMERS, TICKETS, TicketSearch, phone_columns
from tests.factories import (
    AGENT,
    HANDLER,
    SUPERVISOR,
    SYSTEM,
    FakeClock,
    act,
    bj,
    receive,
    register_customer,
)
from tests.unit.test_business_time import arrive, breach_arrival, repair_with_crew
from tests.unit.test_projection_sla import MemoryRows, breach, dispatched, escalate


def fold_all(desk: Desk) -> MemoryRows:
    """Every event of the desk's log folded into a fresh view."""
    view = TicketSearch()
    rows = MemoryRows(view)
    for note in desk.recorder.select_notifications(start=1, limit=100_000):
        view.fold(desk.mapper.to_domain_event(note), rows)
    return rows


def ticket_row(desk: Desk, o: Outcome) -> Row:
    row = fold_all(desk).get(TICKETS, (str(o.id),))
    assert row is not None
    return row


def earliest_running(desk: Desk, o: Outcome, *, breached: bool) -> Any:
    """The earliest due instant of the ticket's running clocks (breached ones too, or not)."""
    return min(
        r["due_at"]
        for r in desk.ticket(o.id).sla_summary()
        if r["outcome"] == "running" and r["due_at"] is not None and (breached or not r["breached"])
    )


def test_an_intake_is_found_by_number_phone_name_and_content_with_who_took_it_in(
    memory_desk: Desk,
) -> None:
    o = receive(memory_desk, phone="138-0013-8000")

    row = ticket_row(memory_desk, o)

    assert (row["number"], row["kind"], row["state"]) == (o.number, "complaint", "received")
    assert (row["customer_name"], row["content"]) == ("王建国", CALLER_CONTENT)
    assert (row["phone"], row["phone_digits"], row["phone_last4"]) == (
        "138-0013-8000",
        "13800138000",
        "8000",
    )
    assert (row["intake_actor"], row["intake_department"]) == ("agent-007", "service_center")
    assert (row["department"], row["received_at"]) == ("service_center", bj(2026, 10, 12, 9, 0))
    assert row["next_due_at"] == earliest_running(memory_desk, o, breached=True)
    assert row["next_due_at"] == bj(2026, 10, 13, 9, 0)  # first contact: one working day
    assert (row["next_milestone"], row["risk_due_at"]) == ("first_contact", row["next_due_at"])
    assert (row["breached"], row["breaches"], row["escalation_level"]) == (False, [], 0)
    assert (row["supervised"], row["reopened"], row["closed_at"], row["cycle"]) == (
        False,
        False,
        None,
        1,
    )
    # The caller was registered on the fly: the customer is found by phone too.
    customer = fold_all(memory_desk).get(CUSTOMERS, (row["customer_id"],))
    assert customer is not None
    assert (customer["name"], customer["phone_last4"]) == ("王建国", "8000")


def test_a_routed_ticket_keeps_who_took_it_in_and_shows_breach_escalation_and_supervision(
    memory_desk: Desk, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    o = act(memory_desk, o, "contact_customer", note="已致电")  # first contact met
    o = act(memory_desk, o, "accept", HANDLER)
    clock.set(bj(2026, 10, 19, 9, 0))
    o = breach(memory_desk, o, "department_reply")
    o = escalate(memory_desk, o, "department_reply", 1)
    o = escalate(memory_desk, o, "department_reply", 2)  # 督办: supervision opens with it

    row = ticket_row(memory_desk, o)

    assert (row["state"], row["department"], row["owner"]) == ("accepted", "station_1", "张伟")
    assert (row["intake_actor"], row["intake_department"]) == ("agent-007", "service_center")
    assert (row["breached"], row["breaches"]) == (True, ["department_reply#1"])
    assert (row["escalation_level"], row["supervised"]) == (2, True)
    # The overdue clock sorts first; the risk is the first clock not yet breached.
    assert (row["next_due_at"], row["next_milestone"]) == (
        bj(2026, 10, 19, 9, 0),
        "department_reply",
    )
    assert row["next_due_at"] == earliest_running(memory_desk, o, breached=True)
    assert row["risk_due_at"] == earliest_running(memory_desk, o, breached=False)
    assert row["risk_due_at"] > row["next_due_at"]


def test_a_breach_withdrawn_by_a_late_fact_no_longer_counts(
    memory_desk: Desk, clock: FakeClock
) -> None:
    o = repair_with_crew(memory_desk, clock)
    breach_arrival(memory_desk, clock, o)
    assert ticket_row(memory_desk, o)["breaches"] == ["arrival#1"]

    clock.set(bj(2026, 10, 12, 10, 5))
    arrive(memory_desk, o, bj(2026, 10, 12, 9, 40))  # on site at 09:40, phoned in at 10:05

    row = ticket_row(memory_desk, o)
    assert (row["breached"], row["breaches"], row["state"]) == (False, [], "on_site")


def test_a_closed_ticket_stays_with_its_closing_time_and_a_reopening_clears_it(
    memory_desk: Desk, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    o = act(memory_desk, o, "accept", HANDLER)
    o = act(memory_desk, o, "reply", HANDLER, result="已处理")
    o = act(memory_desk, o, "answer", content="已答复")
    first = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=o.id))
    clock.set(bj(2026, 10, 13, 10, 0))
    memory_desk.handle(c.RecordCallbackOutcome(**AGENT, callback_id=first.id, satisfaction=5))

    closed = ticket_row(memory_desk, o)
    assert (closed["state"], closed["closed_at"]) == ("closed", bj(2026, 10, 13, 10, 0))
    assert (closed["next_due_at"], closed["risk_due_at"], closed["clocks"]) == (None, None, {})

    clock.set(bj(2026, 10, 14, 10, 0))
    act(memory_desk, o, "reopen", SUPERVISOR, reason="客户再次来电不满意")

    row = ticket_row(memory_desk, o)
    assert (row["state"], row["reopened"], row["cycle"], row["closed_at"]) == (
        "reopened",
        True,
        2,
        None,
    )
    assert row["next_due_at"] == earliest_running(memory_desk, o, breached=True)


def test_a_registered_customer_is_found_by_the_digits_of_its_phone_and_keeps_its_grade(
    memory_desk: Desk,
) -> None:
    registered = register_customer(memory_desk, phone="0731-5550123")
    memory_desk.handle(
        c.AssignGrade(**SUPERVISOR, customer_id=registered.id, grade="A", basis="年用电量大")
    )

    row = fold_all(memory_desk).get(CUSTOMERS, (str(registered.id),))

    assert row is not None
    assert (row["name"], row["grade"], row["customer_type"]) == (
        "城关镇第一中学",
        "A",
        "commercial",
    )
    assert (row["phone"], row["phone_digits"], row["phone_last4"]) == (
        "0731-5550123",
        "07315550123",
        "0123",
    )


def test_phone_columns_of_a_short_or_missing_phone() -> None:
    assert phone_columns(None) == {"phone": None, "phone_digits": None, "phone_last4": None}
    assert phone_columns("110") == {"phone": "110", "phone_digits": "110", "phone_last4": None}


@pytest.mark.parametrize(
    ("given", "digits"),
    [
        ("+86 139 1234 5678", "13912345678"),
        ("86-139-1234-5678", "13912345678"),
        ("+86 0731-5550123", "07315550123"),
        ("0731 5550123", "07315550123"),
        ("13986001234", "13986001234"),  # 86 inside a number stays
        ("86123", "86123"),  # too short for a country code (stored before phones were checked)
    ],
)
def test_a_phone_is_kept_as_dialled_within_china(given: str, digits: str) -> None:
    assert phone_columns(given)["phone_digits"] == digits
    assert phone_columns(given)["phone_last4"] == digits[-4:]


def test_sla_clock_steps_alone_leave_the_row_as_it_was(memory_desk: Desk, clock: FakeClock) -> None:
    o = dispatched(memory_desk)
    before = ticket_row(memory_desk, o)
    clock.set(bj(2026, 10, 14, 14, 15))
    act(
        memory_desk,
        o,
        "raise_sla_warning",
        SYSTEM,
        milestone="department_reply",
        cycle=1,
        threshold=0.5,
    )

    assert ticket_row(memory_desk, o) == before


CALLER_CONTENT = "营业厅工作人员态度恶劣，要求道歉并说明处理结果"
