"""The desk's transcoder writes exactly what eventsourcing's JSONTranscoder writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

from domain import commands as c
from domain.desk import Desk
from domain.transcoder import FastJSONTranscoder
from tests.factories import AGENT, act, receive


def _library_transcoder(desk: Desk) -> JSONTranscoder:
    reference = JSONTranscoder()
    desk.register_transcodings(reference)
    return reference


def test_every_event_of_a_ticket_and_its_callback_is_written_byte_for_byte_the_same(
    memory_desk: Desk,
) -> None:
    # Given a ticket taken part of the way, paused and resumed, and a periodic callback of its
    # customer (UUIDs in its events)
    o = receive(memory_desk)
    for action, fields in [
        ("verify", {}),
        ("classify", {"category": "service_attitude", "priority": "normal"}),
        ("dispatch", {"owner": "张伟"}),
        ("pause", {"reason": "等待客户提供材料"}),
        ("resume", {}),
    ]:
        o = act(memory_desk, o, action, **fields)
    customer = UUID(memory_desk.ticket(o.id).details["customer"]["id"])
    callback = memory_desk.handle(
        c.ScheduleCallback(**AGENT, kind="periodic", customer_id=customer)
    )
    events = [*memory_desk.history(o.id), *memory_desk.events.get(callback.id)]
    ours = memory_desk.mapper.transcoder
    assert isinstance(ours, FastJSONTranscoder)
    reference = _library_transcoder(memory_desk)
    # When each event's state is written by both
    for event in events:
        state = dict(event.__dict__)
        # Then the bytes are the same, and read back to the same state
        assert ours.encode(state) == reference.encode(state), type(event).__name__
        assert ours.decode(ours.encode(state)) == reference.decode(reference.encode(state))


def test_custom_values_nesting_and_unicode_are_written_the_same(memory_desk: Desk) -> None:
    ours, reference = memory_desk.mapper.transcoder, _library_transcoder(memory_desk)
    value = {
        "utc": datetime(2026, 11, 24, 1, 2, 3, 4, tzinfo=UTC),
        "beijing": datetime(2026, 11, 24, 9, 0, tzinfo=timezone(timedelta(hours=8))),
        "id": uuid4(),
        "amount": Decimal("12.30"),
        "nested": [{"a": (1, 2.5, None, True)}, '城关镇 "引号" \\ \n'],
        "nan": float("nan"),
    }
    assert ours.encode(value) == reference.encode(value)
    with pytest.raises(TranscodingNotRegisteredError):
        ours.encode({"unknown": {1, 2}})
