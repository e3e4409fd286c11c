"""Complaints (投诉) through the desk: given events, when a command, then events or a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain import commands as c
from domain.desk import Desk, Outcome
from domain.errors import (
    IllegalTransition,
    InvariantViolated,
    UnknownDepartment,
    VersionConflict,
)
from domain.sla.policy import SlaPolicy
from domain.ticket import State
from tests.factories import (
    AGENT,
    HANDLER,
    SUPERVISOR,
    SYSTEM,
    FakeClock,
    act,
    bj,
    ctx_at,
    deadlines,
    history,
    make_desk_with_policies,
    names,
    of_type,
    receive,
    recorded_after,
    register_customer,
    stored_count,
)

DAY = 27_000  # one cn-office working day (08:30-12:00, 13:30-17:30)


# ---------------------------------------------------------------- givens


def verified_and_classified(desk: Desk, **intake: Any) -> Outcome:
    ticket = receive(desk, **intake)
    act(desk, ticket, "verify", note="核实为本单位责任")
    act(desk, ticket, "classify", category="service_attitude", priority="normal")
    return ticket


def accepted(desk: Desk, **intake: Any) -> Outcome:
    ticket = verified_and_classified(desk, **intake)
    act(desk, ticket, "dispatch", owner="zhang-san")
    act(desk, ticket, "accept", HANDLER)
    return ticket


def answered(desk: Desk) -> Outcome:
    ticket = accepted(desk)
    act(desk, ticket, "record_cause", HANDLER, cause="窗口人员态度生硬", solution="批评教育")
    act(desk, ticket, "reply", HANDLER, result="已批评教育当事人并登门致歉")
    act(desk, ticket, "answer", content="已向客户说明处理结果")
    return ticket


def callback_pending(desk: Desk) -> tuple[Outcome, Outcome]:
    ticket = answered(desk)
    callback = desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    return ticket, callback


def then(desk: Desk, ticket: Outcome, version: int) -> list[str]:
    return names(recorded_after(desk, ticket.id, version))


# ---------------------------------------------------------------- the closed loop


def test_intake_binds_the_complaint_policy_and_starts_three_clocks(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)

    assert ticket.events == ["ComplaintReceived", "SlaPolicyBound"]
    assert ticket.number.startswith("TS20261012")
    bound = of_type(history(memory_desk, ticket.id), "SlaPolicyBound")[0]
    assert (bound.policy["id"], bound.policy["version"], bound.basis) == (
        "complaint",
        1,
        "from_receipt",
    )
    assert deadlines(memory_desk, ticket.id) == {
        "first_contact#1": bj(2026, 10, 13, 9, 0),
        "department_reply#1": bj(2026, 10, 19, 9, 0),
        "resolution#1": bj(2026, 10, 21, 9, 0),
    }


def test_a_complaint_goes_the_full_loop_and_a_satisfied_callback_closes_it(
    memory_desk: Desk,
) -> None:
    desk = memory_desk
    ticket = receive(desk)

    steps: list[tuple[str, dict[str, Any], str, list[str]]] = [
        ("verify", {}, "verified", ["ComplaintVerified"]),
        (
            "classify",
            {"category": "service_attitude", "priority": "normal"},
            "classified",
            ["ComplaintClassified"],
        ),
        ("dispatch", {"owner": "zhang-san"}, "dispatched", ["WorkOrderDispatched"]),
        ("accept", {}, "accepted", ["WorkOrderAccepted"]),
        (
            "record_cause",
            {"cause": "态度生硬", "solution": "致歉"},
            "in_progress",
            ["CauseAnalysed"],
        ),
        ("reply", {"result": "已致歉"}, "replied", ["DepartmentReplied", "SlaTargetMet"]),
        (
            "answer",
            {"content": "已答复客户"},
            "customer_answered",
            ["CustomerAnswered", "SlaTargetMet", "SlaTargetMet", "SlaClockStarted"],
        ),
    ]
    for action, fields, state, events in steps:
        out = act(desk, ticket, action, **fields)
        assert (action, out.state, out.events) == (action, state, events)

    callback = desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    assert desk.ticket(ticket.id).state is State.CALLBACK_PENDING
    before = desk.ticket(ticket.id).version

    done = desk.handle(c.RecordCallbackOutcome(**AGENT, callback_id=callback.id, satisfaction=5))

    assert done.events == ["CallbackCompleted"]
    assert then(desk, ticket, before) == ["SlaTargetMet", "TicketClosed"]
    closed = desk.ticket(ticket.id)
    assert (closed.state, closed.replied, closed.answered) == (State.CLOSED, True, True)
    assert of_type(history(desk, ticket.id), "TicketClosed")[0].satisfied is True
    assert {r["milestone"]: r["outcome"] for r in closed.sla_summary()} == {
        "first_contact": "met",
        "department_reply": "met",
        "resolution": "met",
        "callback": "met",
    }


def test_dispatch_without_a_department_follows_the_routing_table(memory_desk: Desk) -> None:
    ticket = verified_and_classified(memory_desk)

    out = act(memory_desk, ticket, "dispatch", owner="zhang-san")

    dispatched = of_type(history(memory_desk, ticket.id), "WorkOrderDispatched")[0]
    assert (dispatched.department, dispatched.owner) == ("marketing", "zhang-san")
    assert out.state == "dispatched"


def test_dispatch_after_the_reorganisation_routes_to_the_general_office(
    memory_desk: Desk, clock: FakeClock
) -> None:
    clock.set(bj(2026, 10, 20, 10, 0))  # the merged 营销部 exists from 16 Oct 2026
    ticket = verified_and_classified(memory_desk)

    act(memory_desk, ticket, "dispatch", owner="zhang-san")

    assert memory_desk.ticket(ticket.id).department == "general_office"


def test_dispatch_to_a_named_department_overrides_the_routing(memory_desk: Desk) -> None:
    ticket = verified_and_classified(memory_desk)

    act(memory_desk, ticket, "dispatch", to_department="station_3", owner="wang-wu")

    assert memory_desk.ticket(ticket.id).department == "station_3"


# ---------------------------------------------------------------- 有答复有结果


def test_close_is_refused_before_the_customer_has_been_answered(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk)
    act(memory_desk, ticket, "reply", HANDLER, result="已处理")
    before = stored_count(memory_desk)

    with pytest.raises(IllegalTransition, match="is replied; cannot close"):
        act(memory_desk, ticket, "close")

    assert "close" not in memory_desk.ticket(ticket.id).legal_actions()
    assert stored_count(memory_desk) == before


def test_close_without_a_department_reply_is_refused_by_the_aggregate(
    memory_desk: Desk, clock: FakeClock
) -> None:
    # Through commands CUSTOMER_ANSWERED always follows a reply (answer is legal only in
    # REPLIED, reopen clears both flags), so the rule is defence in depth: we model a history
    # in which the answer was recorded without the reply flag (e.g. an imported legacy ticket).
    ticket = answered(memory_desk)
    complaint = memory_desk.ticket(ticket.id)
    complaint.replied = False

    with pytest.raises(InvariantViolated) as refused:
        complaint.close(ctx_at(memory_desk, clock.now))

    assert str(refused.value) == (
        f"complaint {complaint.number} is customer_answered; cannot close: "
        "有答复有结果: no department reply"
    )
    assert refused.value.details["rule"] == "有答复有结果: no department reply"
    assert complaint.collect_events() == []
    assert "close" not in complaint.legal_actions()


def test_close_without_reply_and_answer_names_both_missing(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = answered(memory_desk)
    complaint = memory_desk.ticket(ticket.id)
    complaint.replied = complaint.answered = False

    with pytest.raises(
        InvariantViolated, match="no department reply and no answer to the customer"
    ):
        complaint.close(ctx_at(memory_desk, clock.now))

    assert complaint.collect_events() == []


def test_close_after_the_answer_closes_and_cancels_the_callback_clock(memory_desk: Desk) -> None:
    ticket = answered(memory_desk)

    out = act(memory_desk, ticket, "close", note="客户表示无需回访")

    assert out.events == ["TicketClosed", "SlaClockCancelled"]
    cancelled = of_type(history(memory_desk, ticket.id), "SlaClockCancelled")[0]
    assert (cancelled.milestone, cancelled.reason) == ("callback", "ticket closed")


# ---------------------------------------------------------------- transfer (一口对外)


def test_transfer_keeps_the_ticket_and_every_deadline(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk)
    due_before = deadlines(memory_desk, ticket.id)

    out = act(
        memory_desk, ticket, "transfer", to_department="station_2", owner="li-si", reason="属二所"
    )

    assert (out.id, out.number, out.state) == (ticket.id, ticket.number, "dispatched")
    assert out.events == ["WorkOrderTransferred"]
    moved = of_type(history(memory_desk, ticket.id), "WorkOrderTransferred")[0]
    assert (moved.from_department, moved.department, moved.owner) == (
        "marketing",
        "station_2",
        "li-si",
    )
    assert deadlines(memory_desk, ticket.id) == due_before


def test_transfers_are_counted(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk)

    act(memory_desk, ticket, "transfer", to_department="station_2", owner="li-si", reason="属二所")
    act(memory_desk, ticket, "transfer", to_department="station_3", owner="wang", reason="属三所")

    complaint = memory_desk.ticket(ticket.id)
    assert (complaint.transfers, complaint.department) == (2, "station_3")


def test_transfer_to_the_department_already_in_charge_is_refused(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk)
    before = memory_desk.ticket(ticket.id).version

    with pytest.raises(InvariantViolated) as refused:
        act(memory_desk, ticket, "transfer", to_department="marketing", owner="x", reason="误转")

    assert refused.value.details["rule"] == "already with marketing"
    assert ticket.number in str(refused.value)
    assert memory_desk.ticket(ticket.id).version == before


def test_transfer_to_an_unknown_department_is_refused(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk)
    before = memory_desk.ticket(ticket.id).version

    with pytest.raises(UnknownDepartment) as refused:
        act(memory_desk, ticket, "transfer", to_department="moon_base", owner="x", reason="?")

    assert refused.value.details == {"department": "moon_base"}
    assert memory_desk.ticket(ticket.id).version == before


def test_transfer_to_a_department_merged_away_is_refused(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = accepted(memory_desk)
    clock.set(bj(2026, 10, 19, 9, 0))  # 客户服务中心 merged into 营销部 on 16 Oct

    with pytest.raises(UnknownDepartment, match="'service_center' on 2026-10-19"):
        act(memory_desk, ticket, "transfer", to_department="service_center", owner="x", reason="?")


# ---------------------------------------------------------------- urge, supervise


def test_urges_are_counted_and_name_the_department_in_charge(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk)

    act(memory_desk, ticket, "urge", note="客户再次来电催问")
    out = act(memory_desk, ticket, "urge", note="第二次催办")

    assert out.events == ["Urged"]
    urged = of_type(history(memory_desk, ticket.id), "Urged")
    assert [(u.department, u.note) for u in urged] == [
        ("marketing", "客户再次来电催问"),
        ("marketing", "第二次催办"),
    ]
    assert memory_desk.ticket(ticket.id).urges == 2


def test_supervision_opens_once(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk)
    act(memory_desk, ticket, "supervise", SUPERVISOR, reason="超期未回复")

    with pytest.raises(InvariantViolated, match="already under supervision"):
        act(memory_desk, ticket, "supervise", SUPERVISOR, reason="再次督办")

    opened = of_type(history(memory_desk, ticket.id), "SupervisionOpened")
    assert [(o.reason, o.by) for o in opened] == [("超期未回复", "marketing")]


# ---------------------------------------------------------------- early endings


def test_a_duplicate_is_rejected_and_its_clocks_cancelled(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)
    act(memory_desk, ticket, "verify")

    out = act(memory_desk, ticket, "reject", reason="duplicate", note="同 TS20261011A1B2C3")

    assert out.state == "rejected"
    assert out.events == ["ComplaintRejected"] + ["SlaClockCancelled"] * 3
    rejected = of_type(history(memory_desk, ticket.id), "ComplaintRejected")[0]
    assert (rejected.reason, rejected.note) == ("duplicate", "同 TS20261011A1B2C3")
    cancelled = of_type(history(memory_desk, ticket.id), "SlaClockCancelled")
    assert {x.reason for x in cancelled} == {"rejected: duplicate"}


def test_a_reject_reason_outside_the_list_is_refused_at_the_command(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)

    with pytest.raises(ValidationError, match="reason"):
        act(memory_desk, ticket, "reject", reason="dont_like_it")


def test_resolution_at_first_contact_meets_every_clock(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)

    out = act(memory_desk, ticket, "resolve_at_first_contact", answer="当场解释，客户认可")

    assert out.state == "resolved_at_front"
    met = of_type(history(memory_desk, ticket.id), "SlaTargetMet")
    assert [(m.milestone, m.fact, m.on_time, m.used_seconds) for m in met] == [
        ("first_contact", "customer_contacted", True, 0),
        ("department_reply", "department_replied", True, 0),
        ("resolution", "customer_answered", True, 0),
    ]
    complaint = memory_desk.ticket(ticket.id)
    assert (complaint.replied, complaint.answered, complaint.running_clocks()) == (True, True, [])


def test_withdrawal_cancels_the_running_clocks(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = accepted(memory_desk)
    act(memory_desk, ticket, "contact_customer", note="已联系客户")
    clock.advance(hours=2)
    before = memory_desk.ticket(ticket.id).version

    out = act(memory_desk, ticket, "withdraw", reason="客户撤诉")

    assert out.state == "withdrawn"
    assert then(memory_desk, ticket, before) == ["TicketWithdrawn"] + ["SlaClockCancelled"] * 2
    cancelled = recorded_after(memory_desk, ticket.id, before)[1:]
    assert [(x.milestone, x.cycle, x.reason) for x in cancelled] == [
        ("department_reply", 1, "ticket withdrawn"),
        ("resolution", 1, "ticket withdrawn"),
    ]
    summary = {r["milestone"]: r["outcome"] for r in memory_desk.ticket(ticket.id).sla_summary()}
    assert summary == {
        "first_contact": "met",
        "department_reply": "cancelled",
        "resolution": "cancelled",
    }
    assert memory_desk.ticket(ticket.id).due_actions(bj(2027, 1, 1)) == []


# ---------------------------------------------------------------- reopen (new SLA cycle)


def test_a_dissatisfied_callback_reopens_with_a_second_cycle_and_keeps_the_first(
    memory_desk: Desk, clock: FakeClock
) -> None:
    desk = memory_desk
    ticket = accepted(desk)  # Mon 12 Oct 09:00
    clock.set(bj(2026, 10, 13, 10, 0))  # first contact was due Tue 09:00
    act(desk, ticket, "record_breach", SYSTEM, milestone="first_contact", cycle=1)
    act(desk, ticket, "contact_customer", note="迟到的首次联系")
    act(desk, ticket, "reply", HANDLER, result="已处理")
    act(desk, ticket, "answer", content="已答复")
    callback = desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    before = desk.ticket(ticket.id).version

    desk.handle(
        c.RecordCallbackOutcome(**AGENT, callback_id=callback.id, satisfaction=2, comment="没解决")
    )

    assert then(desk, ticket, before) == ["SlaTargetMet", "TicketReopened"]
    reopened = of_type(history(desk, ticket.id), "TicketReopened")[0]
    assert reopened.cycle == 2
    assert reopened.reason == "回访不满意 (satisfaction 2): 没解决"
    complaint = desk.ticket(ticket.id)
    assert (complaint.state, complaint.cycle, complaint.replied, complaint.answered) == (
        State.REOPENED,
        2,
        False,
        False,
    )
    rows = {(r["milestone"], r["cycle"]): r for r in complaint.sla_summary()}
    assert {k: (r["outcome"], r["breached"]) for k, r in rows.items() if k[1] == 1} == {
        ("first_contact", 1): ("late", True),
        ("department_reply", 1): ("met", False),
        ("resolution", 1): ("met", False),
        ("callback", 1): ("met", False),
    }
    assert {
        k: (r["outcome"], r["started_at"], r["due_at"]) for k, r in rows.items() if k[1] == 2
    } == {
        ("first_contact", 2): ("running", bj(2026, 10, 13, 10), bj(2026, 10, 14, 10)),
        ("department_reply", 2): ("running", bj(2026, 10, 13, 10), bj(2026, 10, 20, 10)),
        ("resolution", 2): ("running", bj(2026, 10, 13, 10), bj(2026, 10, 22, 10)),
    }
    assert "dispatch" in complaint.legal_actions()


def test_a_reopened_complaint_can_be_dispatched_again(memory_desk: Desk, clock: FakeClock) -> None:
    ticket, callback = callback_pending(memory_desk)
    memory_desk.handle(c.RecordCallbackOutcome(**AGENT, callback_id=callback.id, satisfaction=1))
    clock.advance(hours=1)

    out = act(memory_desk, ticket, "dispatch", to_department="station_2", owner="li-si")

    assert (out.state, out.events) == ("dispatched", ["WorkOrderDispatched"])


def test_reopen_from_closed_starts_the_next_cycle(memory_desk: Desk) -> None:
    ticket = answered(memory_desk)
    act(memory_desk, ticket, "close")

    out = act(memory_desk, ticket, "reopen", reason="客户投诉问题再次出现")

    assert out.events == ["TicketReopened"]
    complaint = memory_desk.ticket(ticket.id)
    assert (complaint.state, complaint.cycle) == (State.REOPENED, 2)
    assert sorted((r.clock.milestone, r.clock.cycle) for r in complaint.running_clocks()) == [
        ("department_reply", 2),
        ("first_contact", 2),
        ("resolution", 2),
    ]


# ---------------------------------------------------------------- SLA policy binding


def test_a_grade_a_key_account_gets_the_stricter_policy_at_intake(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    memory_desk.handle(
        c.AssignGrade(
            **AGENT,
            customer_id=customer.id,
            grade="A",
            key_account=True,
            basis="年购电量 180 万元，利润贡献 12%",
        )
    )

    ticket = receive(memory_desk, customer_id=customer.id)

    bound = of_type(history(memory_desk, ticket.id), "SlaPolicyBound")[0]
    assert bound.policy["id"] == "complaint-key-account-a"
    targets = {
        r["milestone"]: r["target_seconds"] for r in memory_desk.ticket(ticket.id).sla_summary()
    }
    assert targets == {
        "first_contact": 4 * 3600,
        "department_reply": 3 * DAY,
        "resolution": 5 * DAY,
    }
    assert deadlines(memory_desk, ticket.id)["first_contact#1"] == bj(2026, 10, 12, 14, 30)


def test_a_grade_assigned_after_intake_does_not_change_the_binding(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    ticket = receive(memory_desk, customer_id=customer.id)
    due = deadlines(memory_desk, ticket.id)

    memory_desk.handle(
        c.AssignGrade(
            **AGENT, customer_id=customer.id, grade="A", key_account=True, basis="年购电量 180 万元"
        )
    )

    complaint = memory_desk.ticket(ticket.id)
    assert (complaint.policy["id"], complaint.customer["grade"]) == ("complaint", "none")
    assert deadlines(memory_desk, ticket.id) == due


URGENT = SlaPolicy.model_validate(
    {
        "id": "complaint-urgent",
        "version": 1,
        "title_zh": "紧急投诉",
        "title_en": "Urgent complaint (test policy)",
        "effective_from": "2024-01-01T00:00:00+08:00",
        "match": {"kinds": ["complaint"], "priorities": ["urgent"]},
        "rebind_basis": "from_now",
        "milestones": [
            {
                "name": "first_contact",
                "target": "2h",
                "clock": "business",
                "calendar": "cn-office",
                "met_on": ["customer_contacted", "customer_answered"],
            },
            {
                "name": "department_reply",
                "target_seconds": 2 * DAY,
                "clock": "business",
                "calendar": "cn-office",
                "met_on": ["department_replied"],
            },
        ],
    }
)


def test_reclassify_that_matches_another_policy_rebinds_with_basis_and_reason(
    clock: FakeClock,
) -> None:
    # The shipped catalogue distinguishes complaints only by grade and key account, which a
    # ticket copies at intake; a test policy keyed on priority shows the re-binding itself.
    desk = make_desk_with_policies(clock, URGENT)
    ticket = receive(desk)
    clock.set(bj(2026, 10, 12, 14, 0))
    before = desk.ticket(ticket.id).version

    act(
        desk,
        ticket,
        "reclassify",
        category="outage_complaint",
        priority="urgent",
        basis="from_receipt",
    )

    assert then(desk, ticket, before) == ["Reclassified", "SlaPolicyRebound"]
    rebound = of_type(history(desk, ticket.id), "SlaPolicyRebound")[0]
    assert (rebound.policy["id"], rebound.previous["id"], rebound.previous["version"]) == (
        "complaint-urgent",
        "complaint",
        1,
    )
    assert rebound.basis == "from_receipt"
    assert rebound.reason == "reclassified: now matches complaint-urgent@1"
    assert rebound.dropped == ["resolution"]
    due = deadlines(desk, ticket.id)
    assert due["first_contact#1"] == bj(2026, 10, 12, 11, 0)  # 2 working hours from Mon 09:00
    assert due["department_reply#1"] == bj(2026, 10, 14, 9, 0)
    outcomes = {r["milestone"]: r["outcome"] for r in desk.ticket(ticket.id).sla_summary()}
    assert outcomes == {
        "first_contact": "running",
        "department_reply": "running",
        "resolution": "cancelled",
    }


def test_reclassify_without_a_basis_uses_the_policys_own_basis(clock: FakeClock) -> None:
    desk = make_desk_with_policies(clock, URGENT)
    ticket = receive(desk)
    clock.set(bj(2026, 10, 12, 14, 0))

    act(desk, ticket, "reclassify", category="outage_complaint", priority="urgent")

    rebound = of_type(history(desk, ticket.id), "SlaPolicyRebound")[0]
    assert rebound.basis == "from_now"
    assert deadlines(desk, ticket.id)["first_contact#1"] == bj(2026, 10, 12, 16, 0)


def test_reclassify_that_matches_the_same_policy_keeps_the_binding(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)
    due = deadlines(memory_desk, ticket.id)

    out = act(memory_desk, ticket, "reclassify", category="billing", priority="urgent")

    assert out.events == ["Reclassified"]
    assert memory_desk.ticket(ticket.id).priority == "urgent"
    assert deadlines(memory_desk, ticket.id) == due


def test_reclassify_after_a_new_policy_version_keeps_the_version_bound_at_intake(
    memory_desk: Desk, clock: FakeClock
) -> None:
    clock.set(bj(2026, 10, 30, 9, 0))  # complaint@v1 in force; v2 from 1 Nov 2026
    ticket = receive(memory_desk)
    clock.set(bj(2026, 11, 2, 9, 0))

    out = act(memory_desk, ticket, "reclassify", category="billing", priority="normal")

    assert out.events == ["Reclassified"]
    assert memory_desk.ticket(ticket.id).policy["version"] == 1


def test_an_explicit_rebind_is_recorded_with_its_basis_and_reason(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = receive(memory_desk)
    clock.set(bj(2026, 10, 12, 15, 0))

    out = act(
        memory_desk, ticket, "rebind_sla", SUPERVISOR, basis="from_now", reason="受理时录错客户"
    )

    assert out.events == ["SlaPolicyRebound"]
    rebound = of_type(history(memory_desk, ticket.id), "SlaPolicyRebound")[0]
    assert (rebound.basis, rebound.reason, rebound.dropped) == ("from_now", "受理时录错客户", [])
    assert deadlines(memory_desk, ticket.id)["first_contact#1"] == bj(2026, 10, 13, 15, 0)


# ---------------------------------------------------------------- idempotency, versions


def test_the_same_intake_twice_creates_one_ticket(memory_desk: Desk) -> None:
    first = receive(memory_desk, command_id="call-20261012-0001")
    stored = stored_count(memory_desk)

    again = receive(memory_desk, command_id="call-20261012-0001")

    assert (again.id, again.number, again.changed, again.events) == (
        first.id,
        first.number,
        False,
        [],
    )
    assert stored_count(memory_desk) == stored
    assert names(history(memory_desk, first.id)) == ["ComplaintReceived", "SlaPolicyBound"]


def test_the_same_action_twice_records_one_event(memory_desk: Desk) -> None:
    ticket = accepted(memory_desk)
    act(memory_desk, ticket, "urge", note="催办", command_id="urge-1")
    version = memory_desk.ticket(ticket.id).version

    again = act(memory_desk, ticket, "urge", note="催办", command_id="urge-1")

    assert (again.changed, again.events, again.version) == (False, [], version)
    assert memory_desk.ticket(ticket.id).urges == 1
    assert len(of_type(history(memory_desk, ticket.id), "Urged")) == 1


def test_a_stale_expected_version_is_refused_and_records_nothing(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)  # version 2
    act(memory_desk, ticket, "verify")  # version 3
    stored = stored_count(memory_desk)

    with pytest.raises(VersionConflict) as conflict:
        act(memory_desk, ticket, "contact_customer", note="已联系", expected_version=2)

    assert conflict.value.details == {"ticket": ticket.number, "expected": 2, "actual": 3}
    assert stored_count(memory_desk) == stored


def test_the_current_expected_version_is_accepted(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)

    out = act(memory_desk, ticket, "verify", expected_version=2)

    assert (out.version, out.events) == (3, ["ComplaintVerified"])
