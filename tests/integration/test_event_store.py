"""The desk on the embedded SQLite file and on real PostgreSQL: same behaviour, both stores.

Every test here runs twice (``desk`` is parametrised); the PostgreSQL run uses a fresh
database created for this session.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from domain import commands as c
from domain.base import Meta, recording_clock
from domain.desk import Desk
from domain.errors import IllegalTransition, VersionConflict
from domain.ticket import Ctx, State
from tests.factories import (
    AGENT,
    HANDLER,
    FakeClock,
    act,
    bj,
    history,
    make_desk,
    names,
    receive,
    register_customer,
    stored_count,
)

pytestmark = pytest.mark.postgres


def test_a_complaint_goes_round_the_loop_and_reads_back_from_a_new_process(
    desk: Desk, clock: FakeClock
) -> None:
    o = receive(desk, command_id="intake-1")
    for action, fields in [
        ("verify", {}),
        ("classify", {"category": "service_attitude", "priority": "normal"}),
        ("dispatch", {"owner": "张伟"}),
    ]:
        o = act(desk, o, action, **fields)
    clock.advance(hours=1)
    o = act(desk, o, "accept", who=HANDLER)
    o = act(desk, o, "reply", who=HANDLER, result="已处理", measures="")
    o = act(desk, o, "answer", content="已答复")
    cb = desk.handle(c.ScheduleCallback(**AGENT, ticket_id=o.id))
    desk.handle(c.RecordCallbackOutcome(**AGENT, callback_id=cb.id, satisfaction=5))

    # A second application on the same store (another process in production) sees the same.
    other = make_desk(clock, env=dict(desk.env))
    ticket = other.ticket(o.id)
    assert ticket.state is State.CLOSED
    assert ticket.number == o.number
    names = [type(e).__name__ for e in other.history(o.id)]
    assert names[:2] == ["ComplaintReceived", "SlaPolicyBound"]
    assert "TicketClosed" in names
    assert names.count("SlaTargetMet") >= 2
    assert [r["outcome"] for r in ticket.sla_summary() if r["milestone"] == "department_reply"] == [
        "met"
    ]
    other.close()


def test_the_same_command_id_twice_records_one_event(desk: Desk) -> None:
    first = receive(desk, command_id="call-0001")
    again = receive(desk, command_id="call-0001")
    assert again.id == first.id
    assert again.changed is False

    o = act(desk, first, "verify", command_id="verify-0001")
    repeat = act(desk, first, "verify", command_id="verify-0001")
    assert repeat.changed is False
    assert repeat.version == o.version
    names = [type(e).__name__ for e in desk.history(first.id)]
    assert names.count("ComplaintReceived") == 1
    assert names.count("ComplaintVerified") == 1


def test_a_stale_expected_version_is_refused_and_records_nothing(desk: Desk) -> None:
    o = receive(desk)
    o = act(desk, o, "verify")
    with pytest.raises(VersionConflict) as refused:
        act(desk, o, "classify", category="x", priority="high", expected_version=o.version - 1)
    assert f"expected version {o.version - 1}" in refused.value.message
    assert desk.ticket(o.id).version == o.version


def test_two_writers_on_one_version_one_wins_the_other_gets_a_conflict(
    desk: Desk, clock: FakeClock
) -> None:
    o = receive(desk)
    o = act(desk, o, "verify")
    other = make_desk(clock, env=dict(desk.env))
    mine = desk.ticket(o.id)
    theirs = other.ticket(o.id)
    assert mine.version == theirs.version
    meta = Meta(
        actor="a",
        role="agent",
        department="service_center",
        channel="hotline",
        occurred_at=clock(),
        correlation_id="race",
    )
    with recording_clock(clock):
        mine.withdraw(Ctx(meta, desk.catalogue), "客户撤诉")
        theirs.reject(Ctx(meta, other.catalogue), "duplicate")
    desk._commit(mine)
    with pytest.raises(VersionConflict):
        other._commit(theirs)
    assert desk.ticket(o.id).state is State.WITHDRAWN
    other.close()


def test_concurrent_urges_are_never_lost(desk: Desk, clock: FakeClock) -> None:
    o = receive(desk)
    o = act(desk, o, "verify")
    o = act(desk, o, "classify", category="service_attitude", priority="normal")
    o = act(desk, o, "dispatch", owner="张伟")
    desks = [desk, make_desk(clock, env=dict(desk.env))]
    wins: list[int] = []
    conflicts: list[int] = []
    lock = threading.Lock()

    def urge(n: int) -> None:
        try:
            act(desks[n % 2], o, "urge", note=f"催办 {n}")
        except VersionConflict:
            with lock:
                conflicts.append(n)
        else:
            with lock:
                wins.append(n)

    threads = [threading.Thread(target=urge, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    urged = [e for e in desk.history(o.id) if type(e).__name__ == "Urged"]
    assert len(wins) + len(conflicts) == 8
    assert len(urged) == len(wins) >= 1
    assert desk.ticket(o.id).urges == len(wins)
    desks[1].close()


def test_an_intake_copies_the_customer_as_stored_when_another_process_changed_it(
    desk: Desk, clock: FakeClock
) -> None:
    # Given a customer this desk has read (and cached) for an earlier intake
    customer = register_customer(desk)
    first = receive(desk, customer_id=customer.id)
    assert desk.ticket(first.id).details["customer"]["grade"] == "none"
    # and another process that has since graded the customer A (a key account)
    other = make_desk(clock, env=dict(desk.env))
    other.handle(
        c.AssignGrade(
            **AGENT, customer_id=customer.id, grade="A", key_account=True, basis="年用电量大户"
        )
    )
    before = stored_count(desk)
    # When this desk takes another intake for that customer
    second = receive(desk, customer_id=customer.id, command_id="intake-after-regrade")
    # Then the ticket carries the customer as stored now, and is recorded once
    snapshot = desk.ticket(second.id).details["customer"]
    assert (snapshot["grade"], snapshot["key_account"]) == ("A", True)
    assert names(history(desk, second.id))[:2] == ["ComplaintReceived", "SlaPolicyBound"]
    # (and the complaint counted once in the customer's quarter tally: domain/key_accounts.py)
    assert stored_count(desk) == before + len(history(desk, second.id)) + 1
    other.close()


def test_a_ticket_moved_on_by_another_process_is_acted_on_as_stored(
    desk: Desk, clock: FakeClock
) -> None:
    # Given a ticket this desk has handled (and cached), then verified by another process
    o = receive(desk)
    desk.ticket(o.id)
    other = make_desk(clock, env=dict(desk.env))
    verified = act(other, o, "verify")
    # When this desk classifies it (legal only once verified), naming the version it saw
    done = act(
        desk,
        o,
        "classify",
        category="service_attitude",
        priority="normal",
        expected_version=verified.version,
    )
    # Then the ticket as stored was classified, once, after the other process's verify
    assert done.version == verified.version + len(done.events)
    assert names(history(desk, o.id))[2:] == ["ComplaintVerified", *done.events]
    assert desk.ticket(o.id).category == "service_attitude"
    # And a command the stored ticket refuses is refused with the stored state, not the
    # cached one: the other process withdraws it, this desk (cached: classified) urges.
    act(other, done, "withdraw", reason="客户撤诉")
    before = stored_count(desk)
    with pytest.raises(IllegalTransition, match="withdrawn"):
        act(desk, done, "urge", note="催办")
    assert stored_count(desk) == before
    other.close()


def test_occurred_at_may_lag_the_recording_and_both_are_kept(desk: Desk, clock: FakeClock) -> None:
    clock.set(bj(2026, 10, 12, 10, 30))
    o = receive(desk, occurred_at=bj(2026, 10, 12, 10, 5))
    received = desk.history(o.id)[0]
    assert received.meta.occurred_at == bj(2026, 10, 12, 10, 5)
    assert received.timestamp == bj(2026, 10, 12, 10, 30)
    clocks = desk.ticket(o.id).sla_summary()
    assert {r["started_at"] for r in clocks} == {bj(2026, 10, 12, 10, 5)}


def test_as_of_shows_the_ticket_as_it_was_recorded_then(desk: Desk, clock: FakeClock) -> None:
    clock.set(bj(2026, 10, 12, 9, 0))
    o = receive(desk)
    o = act(desk, o, "verify")
    clock.advance(hours=2)
    o = act(desk, o, "classify", category="billing", priority="high")
    before = desk.ticket(o.id, as_of=bj(2026, 10, 12, 10, 0))
    assert before.state is State.VERIFIED
    assert before.priority == "normal"
    now = desk.ticket(o.id, as_of=bj(2026, 10, 12, 11, 0) + timedelta(seconds=1))
    assert now.state is State.CLASSIFIED
    assert now.priority == "high"
