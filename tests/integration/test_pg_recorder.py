"""The PostgreSQL recorder the desk uses (bootstrap/pg_recorder.py), against a real server.

Given stored events, when more are inserted (a few: one parameter per value; many: one list
per column), then they read back in order with notification ids; a version already taken and
an aggregate that moved on since it was read are both refused, and refused writes store nothing.
"""

from __future__ import annotations

import copy
import pickle
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, UUIDAsHex
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from bootstrap.pg_recorder import SCALAR_CALL_MAX_EVENTS, ArrayInsertRecorder, text_uuid
from domain.transcoder import FastJSONTranscoder

pytestmark = pytest.mark.postgres


@pytest.fixture
def recorder(fresh_pg_url: str) -> Iterator[ArrayInsertRecorder]:
    url = urlparse(fresh_pg_url)
    datastore = PostgresDatastore(
        dbname=url.path.lstrip("/"),
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or "",
        enable_db_functions=True,
    )
    recorder = ArrayInsertRecorder(datastore, events_table_name="t_events")
    recorder.create_table()
    yield recorder
    recorder.close_writers()
    datastore.close()


def _events(ident: uuid.UUID, versions: range) -> list[StoredEvent]:
    return [StoredEvent(ident, v, f"topic-{v}", f'{{"v":{v}}}'.encode()) for v in versions]


@pytest.mark.parametrize("count", [1, 2, SCALAR_CALL_MAX_EVENTS, SCALAR_CALL_MAX_EVENTS + 5])
def test_events_read_back_in_order_with_their_notification_ids(
    recorder: ArrayInsertRecorder, count: int
) -> None:
    ident = uuid.uuid4()
    ids = recorder.insert_events(_events(ident, range(1, count + 1)))
    assert ids == list(range(1, count + 1))
    stored = recorder.select_events(ident)
    assert [(e.originator_version, e.topic, e.state) for e in stored] == [
        (v, f"topic-{v}", f'{{"v":{v}}}'.encode()) for v in range(1, count + 1)
    ]
    assert [n.id for n in recorder.select_notifications(start=1, limit=100)] == ids


def test_a_version_already_taken_is_refused_and_nothing_of_the_write_is_stored(
    recorder: ArrayInsertRecorder,
) -> None:
    ident, other = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events(_events(ident, range(1, 3)))
    with pytest.raises(IntegrityError):
        recorder.insert_events([*_events(other, range(1, 2)), *_events(ident, range(2, 3))])
    assert recorder.select_events(other) == []
    assert recorder.max_notification_id() == 2


def test_a_write_decided_on_an_aggregate_that_moved_on_is_refused(
    recorder: ArrayInsertRecorder,
) -> None:
    customer, ticket = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events(_events(customer, range(1, 3)))
    # Read at version 2, still at 2: accepted.
    recorder.insert_events(_events(ticket, range(1, 2)), unchanged=[(customer, 2)])
    # Read at version 1, but version 2 exists: refused, nothing stored.
    late = uuid.uuid4()
    with pytest.raises(IntegrityError, match="changed after it was read"):
        recorder.insert_events(_events(late, range(1, 3)), unchanged=[(customer, 1)])
    assert recorder.select_events(late) == []
    # The same through the list-per-column call.
    many = uuid.uuid4()
    with pytest.raises(IntegrityError, match="changed after it was read"):
        recorder.insert_events(
            _events(many, range(1, SCALAR_CALL_MAX_EVENTS + 3)), unchanged=[(customer, 1)]
        )
    assert recorder.select_events(many) == []


def test_a_writer_connection_the_server_dropped_is_replaced_and_the_write_goes_through(
    recorder: ArrayInsertRecorder, fresh_pg_url: str
) -> None:
    # Given a write made (its connection is kept for the next one)
    first = uuid.uuid4()
    recorder.insert_events(_events(first, range(1, 2)))
    # When the server ends every other connection to the database (a restart, a failover)
    with psycopg.connect(fresh_pg_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t"
        ).fetchone()
    assert ended is not None
    assert ended[0] >= 1
    # Then the next write goes through on a new connection, once
    second = uuid.uuid4()
    recorder.insert_events(_events(second, range(1, 3)))
    assert [e.originator_version for e in recorder.select_events(second)] == [1, 2]
    assert recorder.max_notification_id() == 3


def test_the_notification_log_reads_as_the_librarys_query_for_every_argument(
    recorder: ArrayInsertRecorder,
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([*_events(first, range(1, 4)), *_events(second, range(1, 5))])
    library = PostgresApplicationRecorder.select_notifications.__wrapped__  # type: ignore[attr-defined]
    cases = [
        {"start": 1, "limit": 100},
        {"start": 3, "limit": 2},
        {"start": 3, "limit": 100, "inclusive_of_start": False},
        {"start": None, "limit": 4},
        {"start": 2, "limit": 100, "stop": 5},
        {"start": 1, "limit": 100, "topics": ["topic-1", "topic-3"]},
        {"start": 2, "limit": 100, "stop": 6, "topics": ("topic-2",)},
        {"start": 99, "limit": 10},
    ]
    for case in cases:
        ours = recorder.select_notifications(**case)  # type: ignore[arg-type]
        theirs = library(recorder, **case)
        assert ours == theirs, case
        assert [str(n.originator_id) for n in ours] == [str(n.originator_id) for n in theirs]
        assert all(type(n.state) is bytes and type(n.id) is int for n in ours)
    assert len(recorder.select_notifications(start=1, limit=100, topics=["topic-4"])) == 1


def test_ids_read_from_the_log_are_uuids_equal_to_the_stored_ones() -> None:
    ident = uuid.uuid4()
    read = text_uuid(str(ident))
    assert isinstance(read, uuid.UUID)
    assert (read == ident, hash(read) == hash(ident), str(read), read.hex) == (
        True,
        True,
        str(ident),
        ident.hex,
    )
    assert {ident: "row"}[read] == "row"
    # Copies and pickles are plain UUIDs; the library's transcoder-based encoding takes it.
    assert type(copy.deepcopy(read)) is uuid.UUID
    assert copy.deepcopy(read) == ident
    assert pickle.loads(pickle.dumps(read)) == ident
    transcoder = FastJSONTranscoder()
    transcoder.register(UUIDAsHex())
    assert transcoder.encode({"id": read}) == transcoder.encode({"id": ident})
