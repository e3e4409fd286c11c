"""Callbacks (回访): scheduling, attempts, unreachable customers, outcomes and idempotency."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from domain import commands as c
from domain.callback import Callback, CallbackState
from domain.desk import Desk, Outcome
from domain.errors import IllegalTransition, InvalidValue, VersionConflict
from domain.ticket import State
from tests.factories import (
    AGENT,
    HANDLER,
    act,
    bj,
    history,
    meta_at,
    names,
    of_type,
    receive,
    recorded_after,
    register_customer,
    stored_count,
)

MON_0900 = bj(2026, 10, 12, 9, 0)


def answered(desk: Desk) -> Outcome:
    ticket = receive(desk)
    act(desk, ticket, "verify")
    act(desk, ticket, "classify", category="service_attitude", priority="normal")
    act(desk, ticket, "dispatch", owner="zhang-san")
    act(desk, ticket, "accept", HANDLER)
    act(desk, ticket, "reply", HANDLER, result="已处理")
    act(desk, ticket, "answer", content="已答复客户")
    return ticket


def scheduled(desk: Desk, max_attempts: int = 3) -> tuple[Outcome, Outcome]:
    ticket = answered(desk)
    callback = desk.handle(
        c.ScheduleCallback(**AGENT, ticket_id=ticket.id, max_attempts=max_attempts)
    )
    return ticket, callback


def attempt(desk: Desk, callback: Outcome, **fields: object) -> Outcome:
    return desk.handle(
        c.RecordCallbackAttempt(
            **{**AGENT, "callback_id": callback.id, "outcome": "no_answer", **fields}
        )
    )


def outcome(desk: Desk, callback: Outcome, satisfaction: int, **fields: object) -> Outcome:
    return desk.handle(
        c.RecordCallbackOutcome(
            **{**AGENT, "callback_id": callback.id, "satisfaction": satisfaction, **fields}
        )
    )


def a_callback(max_attempts: int = 3) -> Callback:
    """A callback aggregate on its own, for the rules it enforces itself."""
    return Callback(
        meta=meta_at(MON_0900),
        number="HF20261012ABCDEF",
        kind="post_service",
        customer_id=None,
        source_ticket_id=None,
        source_number=None,
        department="marketing",
        due_at=bj(2026, 10, 13, 9, 0),
        max_attempts=max_attempts,
        id=uuid4(),
    )


# ---------------------------------------------------------------- scheduling


def test_a_post_service_callback_waits_on_its_ticket(memory_desk: Desk) -> None:
    ticket = answered(memory_desk)
    version = memory_desk.ticket(ticket.id).version

    callback = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))

    assert (callback.kind, callback.state, callback.events) == (
        "post_service",
        "scheduled",
        ["CallbackScheduled"],
    )
    assert names(recorded_after(memory_desk, ticket.id, version)) == ["CallbackRequested"]
    complaint = memory_desk.ticket(ticket.id)
    assert (complaint.state, complaint.callback_id) == (State.CALLBACK_PENDING, str(callback.id))
    made = of_type(history(memory_desk, callback.id), "CallbackScheduled")[0]
    assert (made.source_ticket_id, made.source_number, made.department) == (
        ticket.id,
        ticket.number,
        "marketing",
    )
    assert made.customer_id is not None
    # due when the policy's callback milestone is due: one 12-hour hotline day
    assert made.due_at == bj(2026, 10, 13, 9, 0)


def test_a_post_service_callback_needs_its_ticket(memory_desk: Desk) -> None:
    with pytest.raises(InvalidValue) as refused:
        memory_desk.handle(c.ScheduleCallback(**AGENT, kind="post_service"))

    assert refused.value.details == {"field": "ticket_id"}


def test_a_callback_for_a_ticket_not_yet_answered_is_refused(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)
    stored = stored_count(memory_desk)

    with pytest.raises(IllegalTransition, match="is received; cannot request_callback"):
        memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))

    assert stored_count(memory_desk) == stored


def test_a_periodic_callback_needs_a_customer(memory_desk: Desk) -> None:
    stored = stored_count(memory_desk)

    with pytest.raises(InvalidValue) as refused:
        memory_desk.handle(c.ScheduleCallback(**AGENT, kind="periodic"))

    assert refused.value.details == {"field": "customer_id"}
    assert str(refused.value) == "customer_id: a periodic callback needs its customer"
    assert stored_count(memory_desk) == stored


def test_a_periodic_callback_is_due_one_office_day_later_by_default(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)

    callback = memory_desk.handle(
        c.ScheduleCallback(**AGENT, kind="periodic", customer_id=customer.id)
    )

    made = of_type(history(memory_desk, callback.id), "CallbackScheduled")[0]
    assert (made.kind, made.customer_id, made.source_ticket_id, made.due_at) == (
        "periodic",
        customer.id,
        None,
        bj(2026, 10, 13, 9, 0),
    )


def test_more_than_ten_attempts_are_refused_at_the_command(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)

    with pytest.raises(ValidationError, match="max_attempts"):
        c.ScheduleCallback(**AGENT, kind="periodic", customer_id=customer.id, max_attempts=11)


# ---------------------------------------------------------------- attempts


def test_an_attempt_below_the_maximum_keeps_the_callback_open(memory_desk: Desk) -> None:
    ticket, callback = scheduled(memory_desk, max_attempts=3)

    out = attempt(memory_desk, callback, outcome="busy", note="占线")

    assert (out.state, out.events) == ("attempted", ["CallbackAttempted"])
    tried = of_type(history(memory_desk, callback.id), "CallbackAttempted")[0]
    assert (tried.attempt, tried.outcome, tried.note) == (1, "busy", "占线")
    assert memory_desk.ticket(ticket.id).state is State.CALLBACK_PENDING


def test_the_last_allowed_attempt_makes_the_customer_unreachable_and_closes_the_ticket(
    memory_desk: Desk,
) -> None:
    ticket, callback = scheduled(memory_desk, max_attempts=3)
    attempt(memory_desk, callback)
    attempt(memory_desk, callback)
    version = memory_desk.ticket(ticket.id).version

    out = attempt(memory_desk, callback)

    assert (out.state, out.events) == ("unreachable", ["CallbackAttempted", "CallbackUnreachable"])
    assert of_type(history(memory_desk, callback.id), "CallbackUnreachable")[0].attempts == 3
    assert names(recorded_after(memory_desk, ticket.id, version)) == [
        "SlaTargetMet",
        "TicketClosed",
    ]
    closed = of_type(history(memory_desk, ticket.id), "TicketClosed")[0]
    assert (closed.satisfied, closed.note) == (None, "回访失败: customer unreachable")
    assert memory_desk.ticket(ticket.id).state is State.CLOSED


def test_an_attempt_on_an_unreachable_callback_is_refused(memory_desk: Desk) -> None:
    _, callback = scheduled(memory_desk, max_attempts=1)
    attempt(memory_desk, callback)

    with pytest.raises(IllegalTransition) as refused:
        attempt(memory_desk, callback)

    assert refused.value.details == {
        "ticket": callback.number,
        "state": "unreachable",
        "action": "record_attempt",
    }


# ---------------------------------------------------------------- outcomes


@pytest.mark.parametrize("satisfaction", [0, 6, -1])
def test_a_satisfaction_outside_one_to_five_is_refused_at_the_command(satisfaction: int) -> None:
    with pytest.raises(ValidationError, match="satisfaction"):
        c.RecordCallbackOutcome(**AGENT, callback_id=uuid4(), satisfaction=satisfaction)


@pytest.mark.parametrize("satisfaction", [0, 6])
def test_a_satisfaction_outside_one_to_five_is_refused_by_the_callback(satisfaction: int) -> None:
    callback = a_callback()
    callback.collect_events()

    with pytest.raises(InvalidValue) as refused:
        callback.record_outcome(meta_at(MON_0900), satisfaction)

    assert refused.value.details == {"field": "satisfaction"}
    assert (callback.state, callback.collect_events()) == (CallbackState.SCHEDULED, [])


def test_a_score_of_four_or_more_counts_as_satisfied(memory_desk: Desk) -> None:
    ticket, callback = scheduled(memory_desk)

    out = outcome(memory_desk, callback, 4, comment="处理及时")

    done = of_type(history(memory_desk, callback.id), "CallbackCompleted")[0]
    assert (out.state, done.satisfaction, done.satisfied, done.department) == (
        "completed",
        4,
        True,
        "marketing",
    )
    assert memory_desk.ticket(ticket.id).state is State.CLOSED


def test_a_score_of_three_counts_as_dissatisfied_and_reopens(memory_desk: Desk) -> None:
    ticket, callback = scheduled(memory_desk)

    outcome(memory_desk, callback, 3, comment="一般")

    assert of_type(history(memory_desk, callback.id), "CallbackCompleted")[0].satisfied is False
    assert memory_desk.ticket(ticket.id).state is State.REOPENED


def test_an_explicit_verdict_overrides_the_score(memory_desk: Desk) -> None:
    ticket, callback = scheduled(memory_desk)

    outcome(memory_desk, callback, 3, satisfied=True, comment="客户表示可以接受")

    assert memory_desk.ticket(ticket.id).state is State.CLOSED


def test_an_outcome_on_a_completed_callback_is_refused(memory_desk: Desk) -> None:
    _, callback = scheduled(memory_desk)
    outcome(memory_desk, callback, 5)
    stored = stored_count(memory_desk)

    with pytest.raises(IllegalTransition) as refused:
        outcome(memory_desk, callback, 1)

    assert str(refused.value) == f"callback {callback.number} is completed; cannot record_outcome"
    assert stored_count(memory_desk) == stored


def test_a_cancelled_callback_takes_no_outcome(memory_desk: Desk) -> None:
    _, callback = scheduled(memory_desk)
    memory_desk.handle(
        c.CancelCallback(**AGENT, callback_id=callback.id, reason="客户要求不再回访")
    )

    with pytest.raises(IllegalTransition, match="is cancelled; cannot record_outcome"):
        outcome(memory_desk, callback, 5)


def test_cancelling_the_pending_callback_puts_its_ticket_back_to_answered(
    memory_desk: Desk,
) -> None:
    ticket, callback = scheduled(memory_desk)
    before = memory_desk.ticket(ticket.id).version

    memory_desk.handle(c.CancelCallback(**AGENT, callback_id=callback.id, reason="排错了回访对象"))

    assert names(recorded_after(memory_desk, callback.id, 1)) == ["CallbackCancelled"]
    assert names(recorded_after(memory_desk, ticket.id, before)) == ["CallbackReleased"]
    [released] = of_type(history(memory_desk, ticket.id), "CallbackReleased")
    assert (released.callback_id, released.reason) == (str(callback.id), "排错了回访对象")
    assert memory_desk.ticket(ticket.id).state is State.CUSTOMER_ANSWERED


def test_after_a_cancelled_callback_another_can_be_scheduled_and_closes_the_ticket(
    memory_desk: Desk,
) -> None:
    ticket, first = scheduled(memory_desk)
    memory_desk.handle(c.CancelCallback(**AGENT, callback_id=first.id, reason="号码有误"))

    second = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    outcome(memory_desk, second, 5)

    assert second.id != first.id
    assert memory_desk.ticket(ticket.id).state is State.CLOSED


def test_while_a_callback_is_pending_a_second_one_is_refused(memory_desk: Desk) -> None:
    ticket, _ = scheduled(memory_desk)
    stored = stored_count(memory_desk)

    with pytest.raises(IllegalTransition, match="is callback_pending; cannot request_callback"):
        memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))

    assert stored_count(memory_desk) == stored


def test_cancelling_an_older_callback_leaves_the_ticket_alone(memory_desk: Desk) -> None:
    ticket, first = scheduled(memory_desk)
    memory_desk.handle(c.CancelCallback(**AGENT, callback_id=first.id, reason="号码有误"))
    second = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    before = memory_desk.ticket(ticket.id).version

    with pytest.raises(IllegalTransition, match="is cancelled; cannot cancel"):
        memory_desk.handle(c.CancelCallback(**AGENT, callback_id=first.id, reason="again"))

    assert memory_desk.ticket(ticket.id).version == before
    assert memory_desk.ticket(ticket.id).callback_id == str(second.id)


def test_a_release_the_desk_did_not_ask_for_is_not_an_action(memory_desk: Desk) -> None:
    ticket, _ = scheduled(memory_desk)

    assert "release_callback" not in memory_desk.ticket(ticket.id).legal_actions()


# ---------------------------------------------------------------- idempotency, versions


def test_the_same_outcome_twice_records_one_outcome_and_one_closure(memory_desk: Desk) -> None:
    ticket, callback = scheduled(memory_desk)
    first = outcome(memory_desk, callback, 5, command_id="cb-outcome-1")
    stored = stored_count(memory_desk)

    again = outcome(memory_desk, callback, 5, command_id="cb-outcome-1")

    assert (again.changed, again.events, again.version) == (False, [], first.version)
    assert stored_count(memory_desk) == stored
    assert len(of_type(history(memory_desk, callback.id), "CallbackCompleted")) == 1
    assert len(of_type(history(memory_desk, ticket.id), "TicketClosed")) == 1


def test_the_same_schedule_twice_creates_one_callback(memory_desk: Desk) -> None:
    ticket = answered(memory_desk)
    first = memory_desk.handle(
        c.ScheduleCallback(**AGENT, ticket_id=ticket.id, command_id="sched-1")
    )

    again = memory_desk.handle(
        c.ScheduleCallback(**AGENT, ticket_id=ticket.id, command_id="sched-1")
    )

    assert (again.id, again.changed, again.events) == (first.id, False, [])
    assert len(of_type(history(memory_desk, ticket.id), "CallbackRequested")) == 1


def test_a_stale_expected_version_on_a_callback_is_refused(memory_desk: Desk) -> None:
    _, callback = scheduled(memory_desk)
    attempt(memory_desk, callback)  # version 2
    stored = stored_count(memory_desk)

    with pytest.raises(VersionConflict) as conflict:
        outcome(memory_desk, callback, 5, expected_version=1)

    assert conflict.value.details == {"ticket": callback.number, "expected": 1, "actual": 2}
    assert stored_count(memory_desk) == stored
