"""SLA clocks on tickets: pause and resume, the SLA worker's commands, due actions, and
business-day deadlines across the National Day holiday (国庆) and its make-up working day."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.desk import Desk, Outcome
from domain.errors import InvalidValue, InvariantViolated
from domain.sla.clock import as_instant
from tests.factories import (
    HANDLER,
    SUPERVISOR,
    SYSTEM,
    FakeClock,
    act,
    bj,
    ctx_at,
    deadlines,
    history,
    of_type,
    receive,
    recorded_after,
    stored_count,
)

MON_0900 = bj(2026, 10, 12, 9, 0)  # the FakeClock's start


def utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def dispatched_complaint(desk: Desk) -> Outcome:
    ticket = receive(desk)
    act(desk, ticket, "verify")
    act(desk, ticket, "classify", category="service_attitude", priority="normal")
    act(desk, ticket, "dispatch", owner="zhang-san")
    return ticket


def worker(desk: Desk, ticket: Outcome, action: str, **fields: object) -> Outcome:
    """A command as the SLA clock worker sends it."""
    return act(desk, ticket, action, SYSTEM, **fields)


# ---------------------------------------------------------------- pause and resume


def test_pause_stops_every_pausable_clock(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = receive(memory_desk)
    clock.set(bj(2026, 10, 12, 10, 0))

    out = act(memory_desk, ticket, "pause", reason="等待客户提供购电凭证")

    assert out.events == ["ClockPaused"]
    paused = of_type(history(memory_desk, ticket.id), "ClockPaused")[0]
    assert (paused.reason, paused.milestones) == (
        "等待客户提供购电凭证",
        ["first_contact", "department_reply", "resolution"],
    )
    assert set(deadlines(memory_desk, ticket.id).values()) == {None}
    assert "resume" in memory_desk.ticket(ticket.id).legal_actions()
    assert "pause" not in memory_desk.ticket(ticket.id).legal_actions()


def test_pause_with_an_empty_reason_is_refused_at_the_command(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)

    with pytest.raises(ValidationError, match="reason"):
        act(memory_desk, ticket, "pause", reason="   ")


def test_pause_with_an_empty_reason_is_refused_by_the_ticket(memory_desk: Desk) -> None:
    ticket = memory_desk.ticket(receive(memory_desk).id)

    with pytest.raises(InvalidValue) as refused:
        ticket.pause(ctx_at(memory_desk, MON_0900), "   ")

    assert refused.value.details == {"field": "reason"}
    assert ticket.collect_events() == []


def test_pause_twice_is_refused(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = receive(memory_desk)
    act(memory_desk, ticket, "pause", reason="等待资料")
    clock.advance(minutes=10)
    stored = stored_count(memory_desk)

    with pytest.raises(InvariantViolated, match="clock already paused since"):
        act(memory_desk, ticket, "pause", reason="再次等待")

    assert stored_count(memory_desk) == stored


def test_resume_when_not_paused_is_refused(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)
    stored = stored_count(memory_desk)

    with pytest.raises(InvariantViolated) as refused:
        act(memory_desk, ticket, "resume")

    assert refused.value.details["rule"] == "no SLA clock is paused"
    assert ticket.number in str(refused.value)
    assert stored_count(memory_desk) == stored


def test_pause_is_refused_when_no_pausable_clock_runs(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = receive(memory_desk, "fault_repair")
    act(memory_desk, ticket, "dispatch", owner="duty")
    act(
        memory_desk,
        ticket,
        "dispatch_crew",
        HANDLER,
        crew="抢修一班",
        promised_arrival_at=MON_0900 + timedelta(minutes=40),
    )
    act(memory_desk, ticket, "record_arrival", HANDLER, crew="抢修一班")
    act(memory_desk, ticket, "record_restoration", HANDLER, crew="抢修一班", cause="断线")

    with pytest.raises(InvariantViolated, match="no pausable SLA clock is running"):
        act(memory_desk, ticket, "pause", reason="等待客户")


def test_a_pause_moves_each_pausable_deadline_by_the_paused_business_time(
    memory_desk: Desk, clock: FakeClock
) -> None:
    office = memory_desk.catalogue.calendar("cn-office")
    ticket = receive(memory_desk)
    before = deadlines(memory_desk, ticket.id)
    paused_at, resumed_at = bj(2026, 10, 12, 10, 0), bj(2026, 10, 13, 14, 0)
    clock.set(paused_at)
    act(memory_desk, ticket, "pause", reason="等待客户提供购电凭证")
    clock.set(resumed_at)

    out = act(memory_desk, ticket, "resume")

    assert out.events == ["ClockResumed"]
    paused_business_seconds = office.between(paused_at, resumed_at)
    assert paused_business_seconds == 10 * 3600  # Mon 10:00-17:30 (6 h) + Tue 08:30-14:00 (4 h)
    after = deadlines(memory_desk, ticket.id)
    for key, due in before.items():
        assert due is not None
        assert after[key] == office.add(due, paused_business_seconds), key
        assert office.between(due, after[key]) == paused_business_seconds, key
    assert after["first_contact#1"] == bj(2026, 10, 14, 11, 30)
    resumed = of_type(history(memory_desk, ticket.id), "ClockResumed")[0]
    assert {f"{p['milestone']}#{p['cycle']}": p["due_at"] for p in resumed.clocks} == after


def test_a_pause_leaves_the_fault_arrival_clock_running(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk, "fault_repair")
    clock.set(bj(2026, 10, 12, 9, 10))

    act(memory_desk, ticket, "pause", reason="客户不在家，约定稍后入户")

    paused = of_type(history(memory_desk, ticket.id), "ClockPaused")[0]
    assert paused.milestones == ["restoration"]
    assert deadlines(memory_desk, ticket.id) == {
        "arrival#1": bj(2026, 10, 12, 9, 45),
        "restoration#1": None,
    }
    clock.set(bj(2026, 10, 12, 9, 30))
    act(memory_desk, ticket, "resume")
    assert deadlines(memory_desk, ticket.id) == {
        "arrival#1": bj(2026, 10, 12, 9, 45),
        "restoration#1": bj(2026, 10, 12, 12, 20),  # 24x7: 20 paused minutes added
    }


def test_a_paused_ticket_has_no_due_actions(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)
    act(memory_desk, ticket, "pause", reason="等待资料")

    assert memory_desk.ticket(ticket.id).due_actions(bj(2027, 1, 1)) == []


def test_a_paused_fault_repair_still_has_its_arrival_actions_due(memory_desk: Desk) -> None:
    ticket = receive(memory_desk, "fault_repair")
    act(memory_desk, ticket, "pause", reason="等待客户")

    due = memory_desk.ticket(ticket.id).due_actions(bj(2027, 1, 1))

    assert {d["milestone"] for d in due} == {"arrival"}
    assert len(due) == 6  # two warnings, the breach and three escalation levels


def test_a_rebinding_during_a_pause_keeps_the_clocks_paused(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk)
    clock.set(bj(2026, 10, 12, 10, 0))
    act(memory_desk, ticket, "pause", reason="等待客户提供购电凭证")
    clock.set(bj(2026, 10, 12, 11, 0))

    act(memory_desk, ticket, "rebind_sla", SUPERVISOR, basis="from_now", reason="受理时录错客户")

    assert set(deadlines(memory_desk, ticket.id).values()) == {None}
    assert memory_desk.ticket(ticket.id).due_actions(bj(2027, 1, 1)) == []
    clock.set(bj(2026, 10, 13, 11, 0))
    act(memory_desk, ticket, "resume")
    # restarted at Mon 11:00, paused at once, resumed Tue 11:00: one working day from then
    assert deadlines(memory_desk, ticket.id)["first_contact#1"] == bj(2026, 10, 14, 11, 0)


def test_a_clock_started_during_a_pause_starts_paused(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = dispatched_complaint(memory_desk)
    act(memory_desk, ticket, "accept", HANDLER)
    clock.set(bj(2026, 10, 12, 10, 0))
    act(memory_desk, ticket, "pause", reason="等待客户确认")
    act(memory_desk, ticket, "reply", HANDLER, result="已处理")
    clock.set(bj(2026, 10, 12, 11, 0))

    out = act(memory_desk, ticket, "answer", content="已答复")

    assert out.events[-2:] == ["SlaClockStarted", "ClockPaused"]
    assert of_type(history(memory_desk, ticket.id), "ClockPaused")[-1].milestones == ["callback"]
    assert deadlines(memory_desk, ticket.id)["callback#1"] is None
    # the ticket's pause still began at 10:00, not when the callback clock joined it
    assert memory_desk.ticket(ticket.id).paused == {
        "at": bj(2026, 10, 12, 10, 0),
        "reason": "等待客户确认",
    }


# ---------------------------------------------------------------- due actions


def test_due_actions_lists_what_is_due_by_the_instant_and_nothing_later(
    memory_desk: Desk,
) -> None:
    ticket = receive(memory_desk)

    due = memory_desk.ticket(ticket.id).due_actions(bj(2026, 10, 13, 9, 0))

    assert [
        (d["action"], d["milestone"], d.get("threshold"), d.get("level"), d["at"]) for d in due
    ] == [
        ("raise_sla_warning", "first_contact", 0.5, None, bj(2026, 10, 12, 14, 15)),
        ("raise_sla_warning", "first_contact", 0.8, None, bj(2026, 10, 12, 16, 30)),
        ("record_breach", "first_contact", None, None, bj(2026, 10, 13, 9, 0)),
        ("escalate", "first_contact", None, 1, bj(2026, 10, 13, 9, 0)),
    ]
    assert memory_desk.ticket(ticket.id).due_actions(bj(2026, 10, 12, 14, 14)) == []


def test_due_actions_no_longer_lists_what_has_been_recorded(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk)
    clock.set(bj(2026, 10, 13, 9, 0))
    for item in memory_desk.ticket(ticket.id).due_actions(clock.now):
        fields = {k: item[k] for k in ("milestone", "cycle", "threshold", "level") if k in item}
        worker(memory_desk, ticket, item["action"], **fields)

    assert memory_desk.ticket(ticket.id).due_actions(clock.now) == []
    assert [d["at"] for d in memory_desk.ticket(ticket.id).due_actions(bj(2026, 10, 15))] == [
        bj(2026, 10, 14, 14, 15)  # the next one: department reply, 50 %
    ]


def test_a_met_milestone_has_no_due_actions(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)

    act(memory_desk, ticket, "contact_customer", note="已回电")

    due = memory_desk.ticket(ticket.id).due_actions(bj(2026, 10, 14))
    assert {d["milestone"] for d in due} == set()


# ---------------------------------------------------------------- the SLA worker's commands


def test_a_warning_before_its_instant_is_refused(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = receive(memory_desk)
    clock.set(bj(2026, 10, 12, 14, 14))
    stored = stored_count(memory_desk)

    with pytest.raises(InvariantViolated) as refused:
        worker(
            memory_desk,
            ticket,
            "raise_sla_warning",
            milestone="first_contact",
            cycle=1,
            threshold=0.5,
        )

    assert refused.value.details["rule"] == f"not due until {utc(bj(2026, 10, 12, 14, 15))}"
    assert stored_count(memory_desk) == stored


def test_a_warning_at_its_instant_is_recorded_once(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = receive(memory_desk)
    clock.set(bj(2026, 10, 12, 14, 15))

    first = worker(
        memory_desk, ticket, "raise_sla_warning", milestone="first_contact", cycle=1, threshold=0.5
    )
    clock.advance(minutes=5)
    again = worker(
        memory_desk, ticket, "raise_sla_warning", milestone="first_contact", cycle=1, threshold=0.5
    )

    assert (first.changed, first.events) == (True, ["SlaWarningRaised"])
    assert (again.changed, again.events, again.version) == (False, [], first.version)
    raised = of_type(history(memory_desk, ticket.id), "SlaWarningRaised")
    assert [(w.milestone, w.cycle, w.threshold, w.due_at) for w in raised] == [
        ("first_contact", 1, 0.5, bj(2026, 10, 13, 9, 0))
    ]


def test_a_warning_for_a_threshold_the_policy_lacks_is_refused(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk)
    clock.set(bj(2026, 10, 12, 17, 0))

    with pytest.raises(InvalidValue, match=r"0\.6 is not a warning step of first_contact#1"):
        worker(
            memory_desk,
            ticket,
            "raise_sla_warning",
            milestone="first_contact",
            cycle=1,
            threshold=0.6,
        )


def test_a_warning_for_a_milestone_never_started_is_refused(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)

    with pytest.raises(InvalidValue, match="callback#1 never started"):
        worker(
            memory_desk, ticket, "raise_sla_warning", milestone="callback", cycle=1, threshold=0.5
        )


def test_a_warning_for_a_met_milestone_changes_nothing(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = receive(memory_desk)
    act(memory_desk, ticket, "contact_customer", note="已回电")
    clock.set(bj(2026, 10, 12, 15, 0))

    out = worker(
        memory_desk, ticket, "raise_sla_warning", milestone="first_contact", cycle=1, threshold=0.5
    )

    assert (out.changed, out.events) == (False, [])


def test_a_warning_on_a_paused_clock_is_refused_as_paused(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk)
    act(memory_desk, ticket, "pause", reason="等待资料")
    clock.set(bj(2026, 10, 12, 15, 0))

    with pytest.raises(InvariantViolated) as refused:
        worker(
            memory_desk,
            ticket,
            "raise_sla_warning",
            milestone="first_contact",
            cycle=1,
            threshold=0.5,
        )

    assert refused.value.details["rule"] == "the clock is paused"


def test_a_breach_before_the_deadline_is_refused(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = receive(memory_desk)
    clock.set(bj(2026, 10, 13, 8, 59))

    with pytest.raises(InvariantViolated) as refused:
        worker(memory_desk, ticket, "record_breach", milestone="first_contact", cycle=1)

    assert refused.value.details["rule"] == f"not due until {utc(bj(2026, 10, 13, 9, 0))}"


def test_a_breach_is_recorded_once(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = dispatched_complaint(memory_desk)
    clock.set(bj(2026, 10, 13, 9, 0))

    first = worker(memory_desk, ticket, "record_breach", milestone="first_contact", cycle=1)
    again = worker(memory_desk, ticket, "record_breach", milestone="first_contact", cycle=1)

    assert (first.changed, first.events) == (True, ["SlaBreached"])
    assert (again.changed, again.events) == (False, [])
    breached = of_type(history(memory_desk, ticket.id), "SlaBreached")
    assert [(b.milestone, b.due_at, b.department) for b in breached] == [
        ("first_contact", bj(2026, 10, 13, 9, 0), "marketing")
    ]
    row = memory_desk.ticket(ticket.id).sla_summary()[0]
    assert (row["milestone"], row["outcome"], row["breached"]) == ("first_contact", "running", True)


def test_an_escalation_that_opens_supervision_opens_it_once(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = dispatched_complaint(memory_desk)
    clock.set(bj(2026, 10, 19, 9, 0))  # department reply due: level 2 = 督办 by 营销部

    first = worker(memory_desk, ticket, "escalate", milestone="department_reply", cycle=1, level=2)
    again = worker(memory_desk, ticket, "escalate", milestone="department_reply", cycle=1, level=2)

    assert first.events == ["Escalated", "SupervisionOpened"]
    assert (again.changed, again.events) == (False, [])
    escalated = of_type(history(memory_desk, ticket.id), "Escalated")[0]
    assert (
        escalated.level,
        escalated.action,
        escalated.target_role,
        escalated.target_department,
        escalated.department,
    ) == (2, "open_supervision", "marketing_supervisor", "marketing", "marketing")
    opened = of_type(history(memory_desk, ticket.id), "SupervisionOpened")[0]
    assert (opened.reason, opened.by) == ("escalation level 2 of department_reply", "marketing")
    assert memory_desk.ticket(ticket.id).supervised is True


def test_an_escalation_on_a_supervised_ticket_does_not_open_supervision_again(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = dispatched_complaint(memory_desk)
    act(memory_desk, ticket, "supervise", SUPERVISOR, reason="客户投诉升级")
    clock.set(bj(2026, 10, 19, 9, 0))
    version = memory_desk.ticket(ticket.id).version

    out = worker(memory_desk, ticket, "escalate", milestone="department_reply", cycle=1, level=2)

    assert out.events == ["Escalated"]
    assert len(of_type(recorded_after(memory_desk, ticket.id, version), "SupervisionOpened")) == 0


def test_an_escalation_before_its_instant_is_refused(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = dispatched_complaint(memory_desk)
    clock.set(bj(2026, 10, 16, 9, 0))  # level 1 (80 %) is due, level 2 (100 %) is not

    with pytest.raises(InvariantViolated, match="cannot escalate to level 2: not due until"):
        worker(memory_desk, ticket, "escalate", milestone="department_reply", cycle=1, level=2)

    out = worker(memory_desk, ticket, "escalate", milestone="department_reply", cycle=1, level=1)
    assert out.events == ["Escalated"]


def test_an_escalation_that_raises_priority_raises_it_one_step(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk, "fault_repair")
    clock.set(bj(2026, 10, 12, 12, 0))  # restoration due: level 2 raises the priority

    out = worker(memory_desk, ticket, "escalate", milestone="restoration", cycle=1, level=2)

    assert out.events == ["Escalated", "PriorityRaised"]
    raised = of_type(history(memory_desk, ticket.id), "PriorityRaised")[0]
    assert (raised.old, raised.new, raised.reason) == ("normal", "high", "escalation 2")
    assert memory_desk.ticket(ticket.id).priority == "high"


# ---------------------------------------------------------------- business days and holidays


def test_a_complaint_received_before_national_day_is_due_after_the_holiday(
    memory_desk: Desk, clock: FakeClock
) -> None:
    # Wed 30 Sep 16:00: 1.5 h that day, 1-7 Oct off, then Thu 8, Fri 9, the make-up Sat 10,
    # Mon 12 (7.5 h each) and 6 h on Tue 13 make the 5 working days of complaint@v1.
    received = bj(2026, 9, 30, 16, 0)
    clock.set(received)

    ticket = receive(memory_desk, occurred_at=received)

    complaint = memory_desk.ticket(ticket.id)
    assert (complaint.policy["id"], complaint.policy["version"]) == ("complaint", 1)
    assert deadlines(memory_desk, ticket.id) == {
        "first_contact#1": bj(2026, 10, 8, 16, 0),
        "department_reply#1": bj(2026, 10, 13, 16, 0),
        "resolution#1": bj(2026, 10, 15, 16, 0),
    }
    office = memory_desk.catalogue.calendar("cn-office")
    assert office.between(received, bj(2026, 10, 13, 16, 0)) == 5 * office.standard_day_seconds
    assert office.is_working(bj(2026, 10, 10, 10, 0))  # the make-up Saturday counts


def test_a_complaint_logged_later_counts_from_when_the_call_happened(
    memory_desk: Desk, clock: FakeClock
) -> None:
    clock.set(bj(2026, 10, 12, 9, 20))

    ticket = receive(memory_desk, occurred_at=bj(2026, 10, 12, 9, 0))

    bound = of_type(history(memory_desk, ticket.id), "SlaPolicyBound")[0]
    assert bound.meta.occurred_at == bj(2026, 10, 12, 9, 0)
    assert bound.timestamp == bj(2026, 10, 12, 9, 20)
    assert deadlines(memory_desk, ticket.id)["first_contact#1"] == bj(2026, 10, 13, 9, 0)


def test_a_copied_ticket_equals_the_original_and_shares_nothing_it_can_change(
    memory_desk: Desk, clock: FakeClock
) -> None:
    # Given a ticket with running clocks and a pause (the desk copies the cached aggregate
    # for every command, with domain/base.py's faster deep copy)
    o = receive(memory_desk)
    act(memory_desk, o, "pause", reason="等待客户提供材料")
    ticket = memory_desk.ticket(o.id)
    # When it is copied
    twin = copy.deepcopy(ticket)
    # Then the copy is equal, field by field, and changing it leaves the original alone
    assert twin is not ticket
    assert twin.__dict__ == ticket.__dict__
    run = next(iter(twin.runs.values()))
    run.warnings.add(0.5)
    run.levels.add(1)
    run.schedule.append({"type": "changed"})
    twin.details["contact"]["phone"] = "0"
    twin.command_ids.add("changed")
    twin.paused["reason"] = "changed"
    original = memory_desk.ticket(o.id)
    assert original.__dict__ == ticket.__dict__
    assert {"type": "changed"} not in next(iter(ticket.runs.values())).schedule
    assert ticket.details["contact"]["phone"] == "13800138000"
    assert ticket.paused["reason"] == "等待客户提供材料"


def test_schedule_instants_are_stored_as_utc_text_and_datetimes_read_the_same(
    memory_desk: Desk,
) -> None:
    # Given a ticket just received: its binding's schedule instants are UTC text
    o = receive(memory_desk)
    bound = of_type(history(memory_desk, o.id), "SlaPolicyBound")[0]
    instants = [i["at"] for c in bound.clocks for i in c["schedule"] if i["at"] is not None]
    assert instants
    assert all(isinstance(at, str) and at.endswith("+00:00") for at in instants)
    # When the SLA clock asks what is due within a month
    ticket = memory_desk.ticket(o.id)
    until = MON_0900 + timedelta(days=30)
    due = ticket.due_actions(until)
    # Then it gets datetimes, in order, and a ticket recorded with datetimes there (as events
    # were before) answers exactly the same
    assert due
    assert all(isinstance(a["at"], datetime) for a in due)
    assert [a["at"] for a in due] == sorted(a["at"] for a in due)
    older = copy.deepcopy(ticket)
    for run in older.runs.values():
        run.schedule = [{**i, "at": as_instant(i["at"])} for i in run.schedule]
    assert older.due_actions(until) == due
