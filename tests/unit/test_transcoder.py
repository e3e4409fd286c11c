"""The desk's transcoder writes exactly what eventsourcing's JSONTranscoder writes, and reads it
back to the same values (a binding's specs decoded once and shared)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_bindings_read_back_as_the_library_reads_them_and_share_their_specs(
    memory_desk: Desk,
) -> None:
    # Given two tickets bound to the same policy, stored in the desk's format
    first, second = receive(memory_desk), receive(memory_desk)
    bindings = [
        next(e for e in memory_desk.history(o.id) if type(e).__name__ == "SlaPolicyBound")
        for o in (first, second)
    ]
    ours, reference = FastJSONTranscoder(), _library_transcoder(memory_desk)
    memory_desk.register_transcodings(ours)
    stored = [reference.encode(dict(event.__dict__)) for event in bindings]
    # When a fresh transcoder reads them back
    read = [ours.decode(data) for data in stored]
    # Then each reads as the library reads it, and the two share one specs list
    assert read == [reference.decode(data) for data in stored]
    assert read[0]["specs"]
    assert read[0]["specs"] is read[1]["specs"]
    assert read[0]["clocks"] is not read[1]["clocks"]


@pytest.mark.parametrize(
    "value",
    [
        # "specs" nested, not at the top: the cut is not the event's specs
        {"meta": {"specs": [1], "clocks": 2}, "specs": [{"a": 1}], "clocks": []},
        {"meta": {"x": 1, "specs": [{"a": [1]}], "clocks": 0}},
        # the end marker inside the specs: the cut is not a whole list
        {"x": 0, "specs": [{"a": [1], "clocks": 3}, 2], "clocks": [4]},
        # a stand-in lookalike, and text that merely looks like the markers
        {"x": 0, "specs": ["\x00specs"], "clocks": []},
        {"x": ',"specs":[', "y": '],"clocks":', "specs": [], "clocks": [5]},
        {"x": 1, "specs": [], "clocks": 1},
        {"x": 1, "specs": {"not": "a list"}, "clocks": 1},
    ],
)
def test_specs_markers_anywhere_read_back_as_the_library_reads_them(
    memory_desk: Desk, value: dict[str, object]
) -> None:
    ours, reference = memory_desk.mapper.transcoder, _library_transcoder(memory_desk)
    data = reference.encode(value)
    assert ours.decode(data) == reference.decode(data) == value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["specs", "clocks", "]", ","]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["specs", "clocks", "a", "_type_"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "specs", "clocks", "meta"]), json_values))
def test_any_state_reads_back_as_the_library_reads_it(state: dict[str, object]) -> None:
    ours, reference = FastJSONTranscoder(), JSONTranscoder()
    data = reference.encode(state)
    assert ours.decode(data) == reference.decode(data)
    assert ours.decode(data) == reference.decode(data)  # the second time from what it shared
