"""Feeding the views at least once: relay keys and message codec, and the deduplicating fold."""

from __future__ import annotations

from typing import Any

from bootstrap.org_loader import load_directory
from domain import commands as c
from domain.desk import Desk
from projections.at_least_once import Deduplicated
from projections.ticket_timeline import TicketTimeline
from tests.factories import AGENT, act, receive, register_customer
from tests.unit.test_projection_sla import MemoryRows
from workers.relay import Relay, decode, encode


def _answered(desk: Desk) -> Any:
    ticket = receive(desk)
    act(desk, ticket, "verify")
    act(desk, ticket, "classify", category="service_attitude", priority="normal")
    act(desk, ticket, "dispatch", owner="zhang-san")
    act(desk, ticket, "accept")
    act(desk, ticket, "reply", result="已处理")
    act(desk, ticket, "answer", content="已答复客户")
    return ticket


def _relay(desk: Desk) -> Relay:
    return Relay(desk, tracking=None, producer=None, topic="t")


def _notes(desk: Desk) -> list[Any]:
    return list(desk.recorder.select_notifications(start=1, limit=10_000))


def test_a_ticket_and_its_callback_share_a_key(memory_desk: Desk) -> None:
    ticket = _answered(memory_desk)
    callback = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    memory_desk.handle(
        c.RecordCallbackAttempt(**AGENT, callback_id=callback.id, outcome="no_answer")
    )

    relay = _relay(memory_desk)
    keys = {
        (str(n.originator_id), n.originator_version): relay.key_of(n) for n in _notes(memory_desk)
    }

    callback_keys = {k for (who, _), k in keys.items() if who == str(callback.id)}
    assert callback_keys == {str(ticket.id).encode()}  # scheduled and attempted alike
    assert keys[(str(ticket.id), 1)] == str(ticket.id).encode()


def test_a_periodic_callback_goes_with_its_customer(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk)
    callback = memory_desk.handle(
        c.ScheduleCallback(**AGENT, kind="periodic", customer_id=customer.id)
    )

    relay = _relay(memory_desk)
    keys = {n.originator_id: relay.key_of(n) for n in _notes(memory_desk)}

    assert keys[callback.id] == keys[customer.id] == str(customer.id).encode()


def test_a_relayed_message_decodes_to_the_stored_event(memory_desk: Desk) -> None:
    receive(memory_desk)
    [first, *_] = _notes(memory_desk)

    notification_id, stored = decode(encode(first))

    assert notification_id == first.id
    assert (stored.originator_id, stored.originator_version) == (
        first.originator_id,
        first.originator_version,
    )
    assert (stored.topic, stored.state) == (first.topic, first.state)
    event = memory_desk.mapper.to_domain_event(stored)
    assert type(event).__name__ == type(memory_desk.mapper.to_domain_event(first)).__name__


def test_given_events_folded_when_they_come_again_then_the_rows_do_not_change(
    memory_desk: Desk,
) -> None:
    ticket = _answered(memory_desk)
    events = [memory_desk.mapper.to_domain_event(n) for n in _notes(memory_desk)]
    view = Deduplicated(TicketTimeline())
    rows = MemoryRows(view)
    for event in events:
        view.fold(event, rows)
    once = {name: dict(table) for name, table in rows.data.items()}

    for event in events[2:] + events[:3]:  # a redelivered tail and a replayed head
        view.fold(event, rows)

    assert rows.data == once
    assert view.skipped == len(events) + 1
    assert view.gaps == 0
    mine = [e for e in events if e.originator_id == ticket.id]
    assert rows.data["ticket_timeline_applied"][(str(ticket.id),)]["version"] == len(mine)


def test_a_missing_version_is_counted_as_a_gap(memory_desk: Desk) -> None:
    ticket = _answered(memory_desk)
    events = [memory_desk.mapper.to_domain_event(n) for n in _notes(memory_desk)]
    view = Deduplicated(TicketTimeline())
    rows = MemoryRows(view)

    ticket_events = [e for e in events if e.originator_id == ticket.id]
    for event in ticket_events[:2] + ticket_events[3:]:  # version 3 never came
        view.fold(event, rows)

    assert view.gaps == 1
    assert view.skipped == 0


class _Store:
    """load_many_in over rows held in a dict, counting queries."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows
        self.queries: list[str] = []

    def load_many_in(self, c: Any, table: Any, column: str, values: Any) -> list[dict[str, Any]]:
        self.queries.append(table.name)
        return [r for r in self.rows.get(table.name, []) if r[column] in set(values)]


def test_a_prefetch_answers_for_every_aggregate_of_the_batch_and_only_those() -> None:
    from projections.at_least_once import prefetch
    from projections.department_performance import PERFORMANCE, TICKETS, DepartmentPerformance
    from projections.ticket_timeline import TicketTimeline

    view = Deduplicated(DepartmentPerformance(load_directory()))
    known = {"ticket_id": "t-1", "number": "N1"}
    store = _Store({TICKETS: [known]})

    cache = prefetch(store, None, view, ["t-1", "t-2"])

    assert cache.get((TICKETS, ("t-1",))) == (True, known)
    assert cache.get((TICKETS, ("t-2",))) == (True, None)  # fetched with the batch: absent
    assert cache.get((TICKETS, ("t-3",))) == (False, None)  # not in the batch: ask the store
    assert cache.get((PERFORMANCE, ("dept", "2026-10-12", "complaint")))[0] is False
    assert PERFORMANCE not in store.queries  # counters are shared: read one by one
    assert f"{view.name}_applied" in store.queries
    timeline = Deduplicated(TicketTimeline())
    store.queries.clear()
    prefetch(store, None, timeline, ["t-1"])
    assert "ticket_timeline" not in store.queries  # append-only rows are never read back


def test_the_aggregates_of_a_batch_include_the_tickets_its_callbacks_are_about(
    memory_desk: Desk,
) -> None:
    from projections.at_least_once import aggregate_ids

    ticket = _answered(memory_desk)
    callback = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    scheduled = [
        memory_desk.mapper.to_domain_event(n)
        for n in _notes(memory_desk)
        if n.originator_id == callback.id
    ]

    assert set(aggregate_ids(scheduled)) >= {str(callback.id), str(ticket.id)}
