"""Business time decides: late-recorded facts correct recorded SLA judgements by events.

Given events / when command / then events or error. The desk's recording clock (FakeClock)
and each command's ``occurred_at`` move separately: a fact can be recorded well after it
happened, and the SLA clock may have judged in between.

Fault repair (urban): the crew must be on site 45 minutes (24x7) after the call; escalation
level 1 at 80 % (36 min), level 2 at 100 %, level 3 (督办) at 150 %.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from domain.desk import Desk, Outcome
from domain.errors import InvalidValue
from tests.factories import (
    HANDLER,
    SYSTEM,
    FakeClock,
    act,
    bj,
    history,
    of_type,
    receive,
)

CALL = bj(2026, 10, 12, 9, 0)  # the customer's call, recorded at once
ARRIVAL_DUE = bj(2026, 10, 12, 9, 45)


def repair_with_crew(desk: Desk, clock: FakeClock) -> Outcome:
    """Received 09:00, dispatched to station_1 at 09:05, crew sent at 09:10 (each recorded
    when it happened)."""
    ticket = receive(desk, kind="fault_repair", category="outage")
    clock.set(bj(2026, 10, 12, 9, 5))
    act(desk, ticket, "dispatch", owner="李四")
    clock.set(bj(2026, 10, 12, 9, 10))
    act(desk, ticket, "dispatch_crew", HANDLER, crew="抢修一班", promised_arrival_at=ARRIVAL_DUE)
    return ticket


def breach_arrival(desk: Desk, clock: FakeClock, ticket: Outcome) -> None:
    """The SLA clock records the arrival breach at its due instant."""
    clock.set(ARRIVAL_DUE)
    act(
        desk, ticket, "record_breach", SYSTEM, milestone="arrival", cycle=1, occurred_at=ARRIVAL_DUE
    )


def events_after(desk: Desk, ticket: Outcome, version: int) -> list[Any]:
    return [e for e in history(desk, ticket.id) if e.originator_version > version]


def arrive(desk: Desk, ticket: Outcome, at: datetime) -> Outcome:
    """The crew on site at ``at`` (business time), entered whenever the clock says."""
    return act(desk, ticket, "record_arrival", HANDLER, crew="抢修一班", occurred_at=at)


def transfer_to_station_2(desk: Desk, ticket: Outcome, at: datetime) -> Outcome:
    """The work order handed to station_2 at ``at`` (business time)."""
    return act(
        desk,
        ticket,
        "transfer",
        to_department="station_2",
        owner="王五",
        reason="线路属二站",
        occurred_at=at,
    )


def verified_at_1030_entered_at_1100(desk: Desk, clock: FakeClock) -> Outcome:
    ticket = receive(desk)
    clock.set(bj(2026, 10, 12, 11, 0))
    act(desk, ticket, "verify", occurred_at=bj(2026, 10, 12, 10, 30))
    return ticket


def contacted_late(desk: Desk, ticket: Outcome, **late: Any) -> Outcome:
    """Contact at 10:00, entered after the 10:30 verification, with ``late`` (flag, reason)."""
    return act(
        desk, ticket, "contact_customer", note="已致电", occurred_at=bj(2026, 10, 12, 10, 0), **late
    )


def test_an_arrival_phoned_in_late_withdraws_the_breach_it_disproves(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = repair_with_crew(memory_desk, clock)
    breach_arrival(memory_desk, clock, ticket)
    version = memory_desk.ticket(ticket.id).version

    # The crew arrived at 09:40; the station phoned it in at 10:05.
    clock.set(bj(2026, 10, 12, 10, 5))
    out = arrive(memory_desk, ticket, bj(2026, 10, 12, 9, 40))

    assert out.events == ["CrewArrived", "SlaTargetMet", "SlaBreachWithdrawn"]
    new = events_after(memory_desk, ticket, version)
    met = of_type(new, "SlaTargetMet")[0]
    assert (met.milestone, met.on_time, met.used_seconds) == ("arrival", True, 40 * 60)
    withdrawn = of_type(new, "SlaBreachWithdrawn")[0]
    assert (withdrawn.milestone, withdrawn.cycle, withdrawn.reason_code) == (
        "arrival",
        1,
        "met_before",
    )
    assert withdrawn.breached_at == ARRIVAL_DUE
    assert withdrawn.department == "station_1"
    assert withdrawn.evidence["event"] == "CrewArrived"
    assert withdrawn.evidence["occurred_at"] == bj(2026, 10, 12, 9, 40)
    # History keeps both: the breach as recorded, and its withdrawal.
    assert len(of_type(history(memory_desk, ticket.id), "SlaBreached")) == 1
    run = memory_desk.ticket(ticket.id).runs["arrival#1"]
    assert (run.outcome, run.breached, run.breach) == ("met", False, None)


@pytest.mark.parametrize(
    ("arrived", "then"),
    [
        # After the due instant: the breach stands.
        (bj(2026, 10, 12, 9, 50), ["CrewArrived", "SlaTargetMet"]),
        # Exactly at it: on time, and the breach is withdrawn.
        (ARRIVAL_DUE, ["CrewArrived", "SlaTargetMet", "SlaBreachWithdrawn"]),
    ],
)
def test_an_arrival_at_or_after_the_due_instant(
    memory_desk: Desk, clock: FakeClock, arrived: datetime, then: list[str]
) -> None:
    ticket = repair_with_crew(memory_desk, clock)
    breach_arrival(memory_desk, clock, ticket)

    clock.set(bj(2026, 10, 12, 10, 5))
    out = arrive(memory_desk, ticket, arrived)

    assert out.events == then
    breached = memory_desk.ticket(ticket.id).runs["arrival#1"].breached
    assert breached is ("SlaBreachWithdrawn" not in then)


def test_a_fact_dated_before_the_latest_fact_needs_the_backdated_flag(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = verified_at_1030_entered_at_1100(memory_desk, clock)
    before = len(history(memory_desk, ticket.id))

    with pytest.raises(InvalidValue) as refused:
        contacted_late(memory_desk, ticket)

    assert refused.value.details["field"] == "occurred_at"
    assert "ComplaintVerified" in refused.value.message
    assert "2026-10-12T10:30:00+08:00" in refused.value.message
    assert "backdated" in refused.value.message
    assert len(history(memory_desk, ticket.id)) == before  # nothing recorded


def test_backdated_needs_a_reason_and_a_reason_needs_the_flag(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = verified_at_1030_entered_at_1100(memory_desk, clock)

    with pytest.raises(InvalidValue) as no_reason:
        contacted_late(memory_desk, ticket, backdated=True)
    with pytest.raises(InvalidValue) as no_flag:
        contacted_late(memory_desk, ticket, backdated_reason="纸质登记")

    assert no_reason.value.details["field"] == "backdated_reason"
    assert no_flag.value.details["field"] == "backdated"


def test_a_backdated_fact_is_recorded_with_its_reason(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = verified_at_1030_entered_at_1100(memory_desk, clock)

    contacted_late(memory_desk, ticket, backdated=True, backdated_reason="坐席高峰后补录")

    contacted = of_type(history(memory_desk, ticket.id), "CustomerContacted")[0]
    assert contacted.meta.occurred_at == bj(2026, 10, 12, 10, 0)
    assert contacted.meta.backdated_reason == "坐席高峰后补录"
    verified = of_type(history(memory_desk, ticket.id), "ComplaintVerified")
    assert verified
    assert verified[0].meta.backdated_reason is None


def test_the_sla_clock_steps_do_not_count_as_the_latest_fact(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = repair_with_crew(memory_desk, clock)
    breach_arrival(memory_desk, clock, ticket)

    # 09:40 lies before the breach (09:45, the clock's) but after the crew dispatch (09:10).
    clock.set(bj(2026, 10, 12, 10, 5))
    arrive(memory_desk, ticket, bj(2026, 10, 12, 9, 40))

    assert memory_desk.ticket(ticket.id).latest_fact == (bj(2026, 10, 12, 9, 40), "CrewArrived")


def test_a_breach_is_credited_to_the_department_holding_the_ticket_at_its_due_instant(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk, kind="fault_repair", category="outage")
    clock.set(bj(2026, 10, 12, 9, 5))
    act(memory_desk, ticket, "dispatch", owner="李四", to_department="station_1")
    # Transferred at 09:30 (business time), entered at 09:31: before the breach is due.
    clock.set(bj(2026, 10, 12, 9, 31))
    transfer_to_station_2(memory_desk, ticket, bj(2026, 10, 12, 9, 30))
    breach_arrival(memory_desk, clock, ticket)

    breached = of_type(history(memory_desk, ticket.id), "SlaBreached")[0]
    assert breached.department == "station_2"


def test_a_transfer_entered_after_the_breach_credits_the_breach_anew(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk, kind="fault_repair", category="outage")
    clock.set(bj(2026, 10, 12, 9, 5))
    act(memory_desk, ticket, "dispatch", owner="李四", to_department="station_1")
    breach_arrival(memory_desk, clock, ticket)
    assert of_type(history(memory_desk, ticket.id), "SlaBreached")[0].department == "station_1"

    # The transfer happened at 09:30 but was typed in at 10:00.
    clock.set(bj(2026, 10, 12, 10, 0))
    out = transfer_to_station_2(memory_desk, ticket, bj(2026, 10, 12, 9, 30))

    assert out.events == ["WorkOrderTransferred", "SlaBreachReattributed"]
    moved = of_type(history(memory_desk, ticket.id), "SlaBreachReattributed")[0]
    assert (moved.from_department, moved.department) == ("station_1", "station_2")
    assert moved.breached_at == ARRIVAL_DUE
    assert moved.evidence["event"] == "WorkOrderTransferred"


def test_a_backdated_pause_withdraws_a_breach_and_the_clock_breaches_again_at_the_new_instant(
    memory_desk: Desk, clock: FakeClock
) -> None:
    # A complaint: first contact is due one working day after receipt (business clock).
    ticket = receive(memory_desk)
    due = memory_desk.ticket(ticket.id).runs["first_contact#1"].due_at
    assert due is not None
    clock.set(due)
    act(
        memory_desk,
        ticket,
        "record_breach",
        SYSTEM,
        milestone="first_contact",
        cycle=1,
        occurred_at=due,
    )

    # The customer asked us to wait from 10:00 to 11:00 on the first day (a paper note
    # entered late): paused since 10:00, the clock had not run out at the breach instant.
    paused = act(
        memory_desk,
        ticket,
        "pause",
        reason="客户要求暂缓联系",
        occurred_at=bj(2026, 10, 12, 10, 0),
    )
    assert paused.events == ["ClockPaused", "SlaBreachWithdrawn"]
    # Resumed at 11:00: the hour did not count, the due instant moves one working hour on.
    resumed = act(memory_desk, ticket, "resume", occurred_at=bj(2026, 10, 12, 11, 0))
    assert resumed.events == ["ClockResumed"]
    withdrawn = of_type(history(memory_desk, ticket.id), "SlaBreachWithdrawn")[0]
    assert withdrawn.reason_code == "paused_before"
    run = memory_desk.ticket(ticket.id).runs["first_contact#1"]
    assert run.breached is False
    assert run.due_at == bj(2026, 10, 13, 10, 0)
    assert due == bj(2026, 10, 13, 9, 0)
    # The SLA clock finds the breach due again at the new instant, not before.
    ticket_now = memory_desk.ticket(ticket.id)
    assert "record_breach" not in [a["action"] for a in ticket_now.due_actions(due)]
    assert "record_breach" in [a["action"] for a in ticket_now.due_actions(run.due_at)]


def test_every_correction_is_idempotent_on_replay(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = repair_with_crew(memory_desk, clock)
    breach_arrival(memory_desk, clock, ticket)
    clock.set(bj(2026, 10, 12, 10, 5))
    arrive(memory_desk, ticket, bj(2026, 10, 12, 9, 40))
    clock.set(bj(2026, 10, 12, 10, 30))
    out = act(memory_desk, ticket, "record_restoration", HANDLER, crew="抢修一班", cause="树障")

    # A later fact finds nothing more to correct: one withdrawal in all.
    assert "SlaBreachWithdrawn" not in out.events
    assert len(of_type(history(memory_desk, ticket.id), "SlaBreachWithdrawn")) == 1


# ------------------------------------------------------------------ what the views show


def test_views_count_the_corrected_truth_and_show_the_correction(
    memory_desk: Desk, clock: FakeClock
) -> None:
    from tests.unit.test_department_performance import json_of, project, totals
    from tests.unit.test_projection_sla import Views

    views = Views(memory_desk)
    ticket = repair_with_crew(memory_desk, clock)
    breach_arrival(memory_desk, clock, ticket)
    assert views.sla(ticket, "arrival")["state"] == "breached"
    assert views.escalation(ticket, "arrival") is not None
    rows, _ = project(memory_desk)
    assert totals(rows, "station_1")["breaches_total"] == 1

    clock.set(bj(2026, 10, 12, 10, 5))
    arrive(memory_desk, ticket, bj(2026, 10, 12, 9, 40))

    row = views.sla(ticket, "arrival")
    assert (row["state"], row["used_seconds"]) == ("met", 40 * 60)
    assert views.escalation(ticket, "arrival") is None
    rows, _ = project(memory_desk)
    counted = totals(rows, "station_1", "2026-10-12")
    assert (counted["breaches_total"], counted["breaches_withdrawn"]) == (0, 1)
    assert json_of(rows, "station_1", "breaches") == {}
    assert json_of(rows, "station_1", "sla")["arrival"] == [1, 0]


def test_a_reattributed_breach_moves_between_departments_in_the_report(
    memory_desk: Desk, clock: FakeClock
) -> None:
    from tests.unit.test_department_performance import json_of, project, totals

    ticket = receive(memory_desk, kind="fault_repair", category="outage")
    clock.set(bj(2026, 10, 12, 9, 5))
    act(memory_desk, ticket, "dispatch", owner="李四", to_department="station_1")
    breach_arrival(memory_desk, clock, ticket)
    clock.set(bj(2026, 10, 12, 10, 0))
    transfer_to_station_2(memory_desk, ticket, bj(2026, 10, 12, 9, 30))

    rows, _ = project(memory_desk)
    assert totals(rows, "station_1")["breaches_total"] == 0
    assert totals(rows, "station_2")["breaches_total"] == 1
    assert json_of(rows, "station_2", "breaches") == {"arrival": 1}
    assert json_of(rows, "station_1", "breaches") == {}


def test_the_timeline_marks_a_late_entry_with_its_reason(
    memory_desk: Desk, clock: FakeClock
) -> None:
    from projections.reports import MemoryRows
    from projections.ticket_timeline import TicketTimeline

    ticket = verified_at_1030_entered_at_1100(memory_desk, clock)
    contacted_late(memory_desk, ticket, backdated=True, backdated_reason="坐席高峰后补录")
    timeline = TicketTimeline()
    rows = MemoryRows(timeline)
    for note in memory_desk.recorder.select_notifications(start=1, limit=1000):
        timeline.fold(memory_desk.mapper.to_domain_event(note), rows)

    entries = {r["event"]: r for r in rows.dump(timeline.tables[0])}
    late = entries["CustomerContacted"]
    assert late["details"]["backdated_reason"] == "坐席高峰后补录"
    assert late["occurred_at"] == bj(2026, 10, 12, 10, 0)
    assert late["recorded_at"] == bj(2026, 10, 12, 11, 0)
    assert "backdated_reason" not in entries["ComplaintVerified"]["details"]
