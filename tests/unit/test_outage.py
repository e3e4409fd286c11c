"""Outage incidents (停电事件) through the desk: one repair, every linked call answered."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain import commands as c
from domain.desk import Desk, Outcome
from domain.errors import IllegalTransition, InvalidValue, UnknownDepartment
from domain.outage import (
    DispatchOutageCrew,
    LinkOutageTicket,
    OpenOutageIncident,
    RecordOutageArrival,
    RecordOutageRestoration,
)
from domain.ticket import State
from tests.factories import (
    AGENT,
    HANDLER,
    SUPERVISOR,
    FakeClock,
    act,
    bj,
    history,
    names,
    receive,
    recorded_after,
)

FEEDER = "10kV城关线#3"


def _call(desk: Desk, clock: FakeClock, minute: int, **more: Any) -> Outcome:
    clock.set(bj(2026, 10, 12, 9, minute))
    fields: dict[str, Any] = {"category": "outage", "feeder": FEEDER, "content": "家里停电了"}
    return receive(desk, kind="fault_repair", **{**fields, **more})


def _open(desk: Desk, clock: FakeClock, minute: int = 5, **more: Any) -> Outcome:
    clock.set(bj(2026, 10, 12, 9, minute))
    fields: dict[str, Any] = {
        **SUPERVISOR,
        "area": "urban",
        "feeder": FEEDER,
        "repair_department": "station_1",
        "started_at": bj(2026, 10, 12, 9, 0),
    }
    return desk.handle(OpenOutageIncident(**{**fields, **more}))


def _link(desk: Desk, incident: Outcome, ticket: Outcome, **more: Any) -> Outcome:
    return desk.handle(
        LinkOutageTicket(**AGENT, incident_id=incident.id, ticket_id=ticket.id, **more)
    )


def test_opening_binds_the_fault_repair_targets_from_the_outage_start(
    memory_desk: Desk, clock: FakeClock
) -> None:
    out = _open(memory_desk, clock)
    (opened,) = history(memory_desk, out.id)
    assert type(opened).__name__ == "OutageIncidentOpened"
    # fault-repair-urban@v1: arrival 45 min, restoration 3 h, 24x7, from 09:00
    assert opened.sla["policy_id"] == "fault-repair-urban"
    assert opened.sla["arrival"]["due_at"] == bj(2026, 10, 12, 9, 45)
    assert opened.sla["restoration"]["due_at"] == bj(2026, 10, 12, 12, 0)
    assert out.number.startswith("TD20261012")
    assert out.state == "open"


def test_an_intake_carries_its_feeder(memory_desk: Desk, clock: FakeClock) -> None:
    t = _call(memory_desk, clock, 1)
    assert memory_desk.ticket(t.id).details["feeder"] == FEEDER
    plain = receive(memory_desk, kind="fault_repair", category="outage")
    assert "feeder" not in memory_desk.ticket(plain.id).details


def test_a_feeder_with_spaces_or_controls_is_refused() -> None:
    for bad in ("a b", "线路\n1", "x" * 61, ""):
        with pytest.raises(ValidationError):
            c.ReceiveTicket(**AGENT, kind="fault_repair", category="o", content="c", feeder=bad)


def test_linking_a_received_call_records_the_link_and_claims_the_ticket(
    memory_desk: Desk, clock: FakeClock
) -> None:
    t = _call(memory_desk, clock, 1)
    incident = _open(memory_desk, clock)
    out = _link(memory_desk, incident, t)
    assert out.events == ["OutageTicketLinked"]
    assert memory_desk.ticket(t.id).state is State.RECEIVED  # nothing to carry yet


def test_a_non_fault_ticket_is_refused_naming_why(memory_desk: Desk, clock: FakeClock) -> None:
    complaint = receive(memory_desk)
    incident = _open(memory_desk, clock)
    with pytest.raises(InvalidValue, match="complaint, not a fault repair"):
        _link(memory_desk, incident, complaint)


def test_a_ticket_linked_already_is_refused_here_and_elsewhere(
    memory_desk: Desk, clock: FakeClock
) -> None:
    t = _call(memory_desk, clock, 1)
    first = _open(memory_desk, clock)
    other = _open(memory_desk, clock, 6)
    _link(memory_desk, first, t)
    with pytest.raises(InvalidValue, match=r"linked to .* already"):
        _link(memory_desk, first, t)
    with pytest.raises(InvalidValue, match=f"linked to outage {first.number} already"):
        _link(memory_desk, other, t)


def test_a_closed_incident_takes_no_links(memory_desk: Desk, clock: FakeClock) -> None:
    incident = _open(memory_desk, clock)
    clock.set(bj(2026, 10, 12, 9, 10))
    memory_desk.handle(
        DispatchOutageCrew(
            **HANDLER,
            incident_id=incident.id,
            crew="抢修一班",
            promised_arrival_at=bj(2026, 10, 12, 9, 40),
        )
    )
    clock.set(bj(2026, 10, 12, 9, 30))
    memory_desk.handle(RecordOutageArrival(**HANDLER, incident_id=incident.id, crew="抢修一班"))
    clock.set(bj(2026, 10, 12, 10, 0))
    memory_desk.handle(
        RecordOutageRestoration(
            **HANDLER,
            incident_id=incident.id,
            crew="抢修一班",
            cause="跌落保险熔断",
            answer="已恢复供电",
        )
    )
    late = _call(memory_desk, clock, 59)
    clock.set(bj(2026, 10, 12, 10, 5))
    with pytest.raises(IllegalTransition, match="closed"):
        _link(memory_desk, incident, late)


def test_an_arrival_before_the_dispatch_is_refused(memory_desk: Desk, clock: FakeClock) -> None:
    incident = _open(memory_desk, clock)
    with pytest.raises(
        IllegalTransition,
        match=r"is open; cannot record_arrival: .* needs the incident crew_en_route",
    ):
        memory_desk.handle(RecordOutageArrival(**HANDLER, incident_id=incident.id, crew="一班"))


def test_an_auditor_or_monitor_cannot_open_one(memory_desk: Desk, clock: FakeClock) -> None:
    monitor = {"actor_id": "mon-1", "role": "monitor", "department": "marketing"}
    with pytest.raises(InvalidValue, match="role"):
        _open(memory_desk, clock, **monitor)


def test_restoration_answers_every_linked_call_with_the_tickets_own_events(
    memory_desk: Desk, clock: FakeClock
) -> None:
    desk = memory_desk
    early = _call(desk, clock, 1)
    incident = _open(desk, clock)
    _link(desk, incident, early)
    clock.set(bj(2026, 10, 12, 9, 10))
    out = desk.handle(
        DispatchOutageCrew(
            **HANDLER,
            incident_id=incident.id,
            crew="抢修一班",
            promised_arrival_at=bj(2026, 10, 12, 9, 40),
        )
    )
    assert out.events == ["OutageCrewDispatched"]
    assert desk.ticket(early.id).state is State.CREW_EN_ROUTE
    late = _call(desk, clock, 20)  # called after the crew left: brought to its stage on link
    clock.set(bj(2026, 10, 12, 9, 21))
    before = desk.ticket(late.id).version
    _link(desk, incident, late)
    assert names(recorded_after(desk, late.id, before))[:2] == [
        "WorkOrderDispatched",
        "CrewDispatched",
    ]
    clock.set(bj(2026, 10, 12, 9, 50))  # 50 min after the 09:00 start: 5 min past the 45 min
    arrived = desk.handle(RecordOutageArrival(**HANDLER, incident_id=incident.id, crew="抢修一班"))
    (fact,) = recorded_after(desk, incident.id, arrived.version - 1)
    assert (fact.on_time, fact.used_seconds) == (False, 50 * 60)
    clock.set(bj(2026, 10, 12, 11, 0))
    before = {t.id: desk.ticket(t.id).version for t in (early, late)}
    restored = desk.handle(
        RecordOutageRestoration(
            **HANDLER,
            incident_id=incident.id,
            crew="抢修一班",
            cause="跌落保险熔断",
            answer="已恢复供电，给您带来不便深表歉意",
        )
    )
    assert restored.state == "restored"
    (fact,) = recorded_after(desk, incident.id, restored.version - 1)
    assert (fact.on_time, fact.used_seconds) == (True, 2 * 3600)  # within 3 h
    for t in (early, late):
        ticket = desk.ticket(t.id)
        assert ticket.state is State.CUSTOMER_ANSWERED
        got = names(recorded_after(desk, t.id, before[t.id]))
        assert [
            n for n in got if n in {"PowerRestored", "DepartmentReplied", "CustomerAnswered"}
        ] == [
            "PowerRestored",
            "DepartmentReplied",
            "CustomerAnswered",
        ]
    # the callback is scheduled as for any answered ticket
    desk.handle(c.ScheduleCallback(**AGENT, ticket_id=early.id))
    assert desk.ticket(early.id).state is State.CALLBACK_PENDING


def test_a_step_dated_before_a_linked_tickets_latest_fact_is_refused(
    memory_desk: Desk, clock: FakeClock
) -> None:
    t = _call(memory_desk, clock, 1)
    incident = _open(memory_desk, clock)
    _link(memory_desk, incident, t)
    clock.set(bj(2026, 10, 12, 9, 30))
    act(memory_desk, t, "contact_customer", note="告知正在抢修")
    with pytest.raises(InvalidValue, match="latest fact"):
        memory_desk.handle(
            DispatchOutageCrew(
                **HANDLER,
                incident_id=incident.id,
                crew="一班",
                promised_arrival_at=bj(2026, 10, 12, 9, 40),
                occurred_at=bj(2026, 10, 12, 9, 20),
            )
        )


def test_a_repeated_link_command_has_one_effect(memory_desk: Desk, clock: FakeClock) -> None:
    t = _call(memory_desk, clock, 1)
    incident = _open(memory_desk, clock)
    first = _link(memory_desk, incident, t, command_id="link-1")
    again = _link(memory_desk, incident, t, command_id="link-1")
    assert (first.changed, again.changed) == (True, False)


def test_an_arrival_dated_before_the_dispatch_is_refused(
    memory_desk: Desk, clock: FakeClock
) -> None:
    incident = _open(memory_desk, clock)
    clock.set(bj(2026, 10, 12, 9, 30))
    memory_desk.handle(
        DispatchOutageCrew(
            **HANDLER,
            incident_id=incident.id,
            crew="一班",
            promised_arrival_at=bj(2026, 10, 12, 9, 40),
        )
    )
    with pytest.raises(InvalidValue, match="latest fact, OutageCrewDispatched"):
        memory_desk.handle(
            RecordOutageArrival(
                **HANDLER, incident_id=incident.id, crew="一班", occurred_at=bj(2026, 10, 12, 9, 20)
            )
        )


def test_an_incident_cannot_begin_after_it_is_opened(memory_desk: Desk, clock: FakeClock) -> None:
    with pytest.raises(InvalidValue, match="started_at"):
        _open(memory_desk, clock, started_at=bj(2026, 10, 12, 9, 30))


def test_an_unknown_repair_department_is_refused(memory_desk: Desk, clock: FakeClock) -> None:
    with pytest.raises(UnknownDepartment):
        _open(memory_desk, clock, repair_department="station_99")
