"""Service requests (工单) through the desk: fault repair, new connection, meter dispute,
billing adjustment and inquiry, each as given events / when a command / then events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.desk import Desk, Outcome
from domain.errors import InvalidValue
from tests.factories import (
    HANDLER,
    FakeClock,
    act,
    bj,
    deadlines,
    history,
    of_type,
    receive,
    recorded_after,
    stored_count,
)

RECEIVED_AT = bj(2026, 10, 12, 9, 0)  # the FakeClock's start: Monday 09:00 Beijing time
DAY = 27_000


def dispatched(desk: Desk, kind: str, **intake: object) -> Outcome:
    ticket = receive(desk, kind, **intake)
    act(desk, ticket, "dispatch", owner="duty-officer")
    return ticket


def accepted(desk: Desk, kind: str, **intake: object) -> Outcome:
    ticket = dispatched(desk, kind, **intake)
    act(desk, ticket, "accept", HANDLER)
    return ticket


def crew_en_route(desk: Desk, promised_minutes: int = 40) -> Outcome:
    ticket = dispatched(desk, "fault_repair")
    act(
        desk,
        ticket,
        "dispatch_crew",
        HANDLER,
        crew="抢修一班",
        promised_arrival_at=RECEIVED_AT + timedelta(minutes=promised_minutes),
    )
    return ticket


# ---------------------------------------------------------------- fault repair (抢修)


def test_a_fault_repair_is_bound_to_the_urban_policy_on_a_24x7_clock(memory_desk: Desk) -> None:
    ticket = receive(memory_desk, "fault_repair")

    assert memory_desk.ticket(ticket.id).policy["id"] == "fault-repair-urban"
    assert deadlines(memory_desk, ticket.id) == {
        "arrival#1": RECEIVED_AT + timedelta(minutes=45),
        "restoration#1": RECEIVED_AT + timedelta(hours=3),
    }


def test_a_fault_reported_at_night_counts_every_minute(memory_desk: Desk, clock: FakeClock) -> None:
    clock.set(bj(2026, 10, 17, 23, 40))  # Saturday night

    ticket = receive(memory_desk, "fault_repair")

    assert deadlines(memory_desk, ticket.id)["arrival#1"] == bj(2026, 10, 18, 0, 25)


def test_a_fault_repair_is_routed_to_the_customers_station(memory_desk: Desk) -> None:
    ticket = dispatched(memory_desk, "fault_repair", station="station_4")

    assert memory_desk.ticket(ticket.id).department == "station_4"


def test_dispatching_a_crew_records_the_promised_arrival(memory_desk: Desk) -> None:
    ticket = dispatched(memory_desk, "fault_repair")
    promised = RECEIVED_AT + timedelta(minutes=40)

    out = act(
        memory_desk, ticket, "dispatch_crew", HANDLER, crew="抢修一班", promised_arrival_at=promised
    )

    assert (out.state, out.events) == ("crew_en_route", ["CrewDispatched"])
    sent = of_type(history(memory_desk, ticket.id), "CrewDispatched")[0]
    assert (sent.owner, sent.data["promised_arrival_at"]) == ("抢修一班", promised)
    repair = memory_desk.ticket(ticket.id)
    assert (repair.owner, repair.promised_arrival_at) == ("抢修一班", promised)


def test_a_promised_arrival_before_the_dispatch_is_refused(memory_desk: Desk) -> None:
    ticket = dispatched(memory_desk, "fault_repair")
    version = memory_desk.ticket(ticket.id).version
    stored = stored_count(memory_desk)

    with pytest.raises(InvalidValue) as refused:
        act(
            memory_desk,
            ticket,
            "dispatch_crew",
            HANDLER,
            crew="抢修一班",
            promised_arrival_at=RECEIVED_AT - timedelta(minutes=5),
        )

    assert refused.value.details == {"field": "promised_arrival_at"}
    assert str(refused.value) == "promised_arrival_at: lies before the dispatch time"
    assert memory_desk.ticket(ticket.id).version == version
    assert stored_count(memory_desk) == stored


def test_an_arrival_within_the_promise_is_on_time(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = crew_en_route(memory_desk, promised_minutes=40)
    clock.advance(minutes=35)

    out = act(memory_desk, ticket, "record_arrival", HANDLER, crew="抢修一班")

    assert (out.state, out.events) == ("on_site", ["CrewArrived", "SlaTargetMet"])
    arrived = of_type(history(memory_desk, ticket.id), "CrewArrived")[0]
    assert arrived.data == {
        "on_time": True,
        "promised_arrival_at": RECEIVED_AT + timedelta(minutes=40),
    }


def test_an_arrival_after_the_promise_is_recorded_as_late(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = crew_en_route(memory_desk, promised_minutes=30)
    clock.advance(minutes=38)  # still inside the 45-minute policy, but after the promise

    act(memory_desk, ticket, "record_arrival", HANDLER, crew="抢修一班")

    arrived = of_type(history(memory_desk, ticket.id), "CrewArrived")[0]
    assert arrived.data["on_time"] is False
    met = of_type(history(memory_desk, ticket.id), "SlaTargetMet")[0]
    assert (met.milestone, met.on_time) == ("arrival", True)


@pytest.mark.parametrize(
    ("minutes", "on_time"),
    [(44, True), (45, True), (46, False), (90, False)],
    ids=["44min", "45min-exactly", "46min", "90min"],
)
def test_the_arrival_milestone_is_met_within_45_minutes(
    memory_desk: Desk, clock: FakeClock, minutes: int, on_time: bool
) -> None:
    ticket = crew_en_route(memory_desk, promised_minutes=120)
    clock.advance(minutes=minutes)
    version = memory_desk.ticket(ticket.id).version

    act(memory_desk, ticket, "record_arrival", HANDLER, crew="抢修一班")

    met = of_type(recorded_after(memory_desk, ticket.id, version), "SlaTargetMet")
    assert [(m.milestone, m.fact, m.used_seconds, m.target_seconds, m.on_time) for m in met] == [
        ("arrival", "crew_arrived", minutes * 60, 45 * 60, on_time)
    ]
    row = next(
        r for r in memory_desk.ticket(ticket.id).sla_summary() if r["milestone"] == "arrival"
    )
    assert row["outcome"] == ("met" if on_time else "late")


def test_restoration_stops_the_restoration_clock(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = crew_en_route(memory_desk)
    clock.advance(minutes=30)
    act(memory_desk, ticket, "record_arrival", HANDLER, crew="抢修一班")
    clock.advance(hours=1)

    out = act(
        memory_desk, ticket, "record_restoration", HANDLER, crew="抢修一班", cause="熔断器熔断"
    )

    assert (out.state, out.events) == ("restored", ["PowerRestored", "SlaTargetMet"])
    restored = of_type(history(memory_desk, ticket.id), "PowerRestored")[0]
    assert (restored.owner, restored.note) == ("抢修一班", "熔断器熔断")
    met = of_type(history(memory_desk, ticket.id), "SlaTargetMet")[-1]
    assert (met.milestone, met.used_seconds, met.on_time) == ("restoration", 5400, True)


def test_a_restored_fault_is_replied_and_answered_like_any_ticket(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = crew_en_route(memory_desk)
    act(memory_desk, ticket, "record_arrival", HANDLER, crew="抢修一班")
    act(memory_desk, ticket, "record_restoration", HANDLER, crew="抢修一班", cause="断线")

    replied = act(memory_desk, ticket, "reply", HANDLER, result="已恢复送电")
    answered = act(memory_desk, ticket, "answer", content="已恢复供电")

    assert (replied.state, replied.events) == ("replied", ["DepartmentReplied"])
    assert (answered.state, answered.events) == (
        "customer_answered",
        ["CustomerAnswered", "SlaClockStarted"],
    )
    assert deadlines(memory_desk, ticket.id)["callback#1"] == bj(2026, 10, 13, 9, 0)


# ---------------------------------------------------------------- new connection (业扩报装)

# step, its event, the state it leads to, the milestones it meets, the milestones it starts
NEW_CONNECTION_STEPS = [
    ("record_survey", "SiteSurveyed", "surveyed", ["site_survey"], ["supply_plan"]),
    ("draft_plan", "SupplyPlanDrafted", "plan_drafted", [], []),
    ("approve_plan", "SupplyPlanApproved", "plan_approved", ["supply_plan"], ["contract"]),
    ("sign_contract", "SupplyContractSigned", "contract_signed", ["contract"], ["meter_install"]),
    ("install_meter", "MeterInstalled", "meter_installed", ["meter_install"], ["energize"]),
    ("energize", "Energized", "energized", ["energize", "total"], []),
]


@pytest.mark.parametrize(
    ("index", "step", "event", "state", "meets", "starts"),
    [(i, *row) for i, row in enumerate(NEW_CONNECTION_STEPS)],
    ids=[row[0] for row in NEW_CONNECTION_STEPS],
)
def test_each_new_connection_step_records_its_owner_and_its_milestones(
    memory_desk: Desk,
    clock: FakeClock,
    index: int,
    step: str,
    event: str,
    state: str,
    meets: list[str],
    starts: list[str],
) -> None:
    ticket = accepted(memory_desk, "new_connection")
    for earlier, *_ in NEW_CONNECTION_STEPS[:index]:
        act(memory_desk, ticket, earlier, HANDLER, owner=f"{earlier}-owner")
    clock.advance(hours=2)
    version = memory_desk.ticket(ticket.id).version

    out = act(memory_desk, ticket, step, HANDLER, owner="周工")

    assert out.state == state
    new = recorded_after(memory_desk, ticket.id, version)
    assert out.events == [event] + ["SlaTargetMet"] * len(meets) + ["SlaClockStarted"] * len(starts)
    assert (new[0].owner, new[0].meta.actor) == ("周工", HANDLER["actor_id"])
    assert sorted(m.milestone for m in of_type(new, "SlaTargetMet")) == sorted(meets)
    assert all(m.on_time for m in of_type(new, "SlaTargetMet"))
    assert [s.clock["milestone"] for s in of_type(new, "SlaClockStarted")] == starts
    request = memory_desk.ticket(ticket.id)
    assert request.steps[-1] == {"step": step, "owner": "周工", "at": clock()}
    assert request.owner == "周工"


def test_a_new_connection_step_clock_counts_working_days(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = accepted(memory_desk, "new_connection")
    clock.set(bj(2026, 10, 13, 10, 0))  # survey one working day + 1 h after receipt: late

    act(memory_desk, ticket, "record_survey", HANDLER, owner="周工")

    met = of_type(history(memory_desk, ticket.id), "SlaTargetMet")[0]
    assert (met.milestone, met.used_seconds, met.target_seconds, met.on_time) == (
        "site_survey",
        DAY + 3600,
        DAY,
        False,
    )
    assert deadlines(memory_desk, ticket.id)["supply_plan#1"] == bj(2026, 10, 14, 10, 0)


def test_a_new_connection_is_replied_after_energizing(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk, "new_connection")
    for step, *_ in NEW_CONNECTION_STEPS:
        act(memory_desk, ticket, step, HANDLER, owner=f"{step}-owner")

    out = act(memory_desk, ticket, "reply", HANDLER, result="已送电")

    assert (out.state, out.events) == ("replied", ["DepartmentReplied"])
    assert [s["owner"] for s in memory_desk.ticket(ticket.id).steps] == [
        f"{step}-owner" for step, *_ in NEW_CONNECTION_STEPS
    ]


# ---------------------------------------------------------------- meter dispute, billing


def test_a_meter_dispute_goes_to_the_metering_centre(memory_desk: Desk) -> None:
    ticket = dispatched(memory_desk, "meter_dispute")

    assert memory_desk.ticket(ticket.id).department == "metering_center"


def test_a_meter_test_result_meets_the_meter_test_milestone(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = accepted(memory_desk, "meter_dispute")
    act(memory_desk, ticket, "schedule_test", HANDLER, owner="计量班-刘")
    clock.set(bj(2026, 10, 14, 15, 0))

    out = act(
        memory_desk,
        ticket,
        "record_test",
        HANDLER,
        owner="计量班-刘",
        result="超差",
        error_percent=3.2,
    )

    assert (out.state, out.events) == ("tested", ["MeterTested", "SlaTargetMet"])
    tested = of_type(history(memory_desk, ticket.id), "MeterTested")[0]
    assert (tested.owner, tested.note, tested.data) == ("计量班-刘", "超差", {"error_percent": 3.2})
    met = of_type(history(memory_desk, ticket.id), "SlaTargetMet")[0]
    assert (met.milestone, met.on_time) == ("meter_test", True)


def test_a_meter_dispute_with_an_adjustment_is_replied_after_approval(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk, "meter_dispute")
    act(memory_desk, ticket, "schedule_test", HANDLER, owner="计量班-刘")
    act(memory_desk, ticket, "record_test", HANDLER, owner="计量班-刘", result="超差")

    proposed = act(
        memory_desk,
        ticket,
        "propose_adjustment",
        HANDLER,
        owner="核算班-陈",
        kwh=-86.0,
        amount_yuan=-48.2,
    )
    approved = act(memory_desk, ticket, "approve_adjustment", HANDLER, owner="核算班-赵")
    replied = act(memory_desk, ticket, "reply", HANDLER, result="退还电费 48.20 元")

    assert (proposed.state, proposed.events) == ("adjustment_proposed", ["AdjustmentProposed"])
    assert (approved.state, approved.events) == ("adjustment_approved", ["AdjustmentApproved"])
    assert (replied.state, replied.events) == ("replied", ["DepartmentReplied"])
    data = of_type(history(memory_desk, ticket.id), "AdjustmentProposed")[0].data
    assert data == {"kwh": -86.0, "amount_yuan": -48.2}


def test_a_meter_found_accurate_is_replied_without_an_adjustment(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk, "meter_dispute")
    act(memory_desk, ticket, "schedule_test", HANDLER, owner="计量班-刘")
    act(
        memory_desk,
        ticket,
        "record_test",
        HANDLER,
        owner="计量班-刘",
        result="合格",
        error_percent=0.4,
    )

    out = act(memory_desk, ticket, "reply", HANDLER, result="电表检定合格")

    assert (out.state, out.events) == ("replied", ["DepartmentReplied"])


def test_an_approved_billing_adjustment_meets_the_adjustment_milestone(
    memory_desk: Desk,
) -> None:
    ticket = accepted(memory_desk, "billing_adjustment")
    act(
        memory_desk,
        ticket,
        "propose_adjustment",
        HANDLER,
        owner="核算班-陈",
        kwh=120.0,
        amount_yuan=66.0,
    )

    out = act(memory_desk, ticket, "approve_adjustment", HANDLER, owner="核算班-赵")

    assert (out.state, out.events) == (
        "adjustment_approved",
        ["AdjustmentApproved", "SlaTargetMet"],
    )
    met = of_type(history(memory_desk, ticket.id), "SlaTargetMet")[0]
    assert (met.milestone, met.fact) == ("adjustment", "adjustment_approved")
    replied = act(memory_desk, ticket, "reply", HANDLER, result="已退补")
    assert replied.state == "replied"


# ---------------------------------------------------------------- inquiry (咨询)


def test_an_inquiry_resolved_at_first_contact_meets_its_reply_milestone(memory_desk: Desk) -> None:
    ticket = receive(memory_desk, "inquiry", category="tariff")

    out = act(memory_desk, ticket, "resolve_at_first_contact", answer="已解释阶梯电价")

    assert (out.state, out.events) == (
        "resolved_at_front",
        ["ResolvedAtFirstContact", "SlaTargetMet"],
    )
    met = of_type(history(memory_desk, ticket.id), "SlaTargetMet")[0]
    assert (met.milestone, met.fact, met.on_time) == ("reply", "customer_answered", True)
    assert memory_desk.ticket(ticket.id).running_clocks() == []


def test_an_inquiry_can_be_worked_and_replied(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk, "inquiry")

    started = act(memory_desk, ticket, "start_work", HANDLER, owner="综合室-孙")
    replied = act(memory_desk, ticket, "reply", HANDLER, result="已书面答复")

    assert (started.state, started.events) == ("in_progress", ["WorkStarted"])
    assert (replied.state, replied.events) == ("replied", ["DepartmentReplied"])
