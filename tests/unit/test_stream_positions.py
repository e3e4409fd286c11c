"""What the live stream announces: positions in facts, so that reading is never news.

An unmasked read of personal data is recorded as an access event; the views pass it without
folding it. A page woken by that re-read the data, which recorded another: a loop. These tests
feed a log by hand to :class:`api.stream_positions.LogWatch` and read what it would announce.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.persistence import Notification

from api.stream_positions import ACCESS_TOPICS, Fact, LogWatch

TICKET = str(uuid.UUID(int=1))
OTHER = str(uuid.UUID(int=2))
ACCESS_LOG = str(uuid.UUID(int=3))
RECEIVED = "domain.ticket:Ticket.ComplaintReceived"
URGED = "domain.ticket:Ticket.Urged"
READ = ACCESS_TOPICS + "DataAccessRecorded"


class Log:
    """An event log by hand: notifications, and how often it was asked."""

    def __init__(self) -> None:
        self.notes: list[Notification] = []
        self.selects = 0

    def add(self, aggregate: str, topic: str) -> int:
        version = 1 + sum(1 for n in self.notes if str(n.originator_id) == aggregate)
        note = Notification(
            id=len(self.notes) + 1,
            originator_id=uuid.UUID(aggregate),
            originator_version=version,
            topic=topic,
            state=b"",
        )
        self.notes.append(note)
        return note.id

    def max_notification_id(self) -> int | None:
        return self.notes[-1].id if self.notes else None

    def select_notifications(
        self, start: int, limit: int, stop: int | None = None, topics: Any = ()
    ) -> list[Notification]:
        self.selects += 1
        last = stop if stop is not None else len(self.notes)
        return [n for n in self.notes if start <= n.id <= last][:limit]

    def select_events(self, originator_id: Any, *, desc: bool, limit: int) -> list[Notification]:
        mine = [n for n in self.notes if str(n.originator_id) == str(originator_id)]
        return list(reversed(mine))[:limit] if desc else mine[:limit]


class Views:
    """Tracked positions, moved by the test as a projector would."""

    def __init__(self, **positions: int) -> None:
        self.positions = positions

    def __call__(self) -> dict[str, int]:
        return dict(self.positions)


def watch_of(log: Log, views: Views, **options: Any) -> LogWatch:
    return LogWatch(log, views, interval=0, **options)


def test_an_access_record_moves_neither_a_view_nor_the_head() -> None:
    log, views = Log(), Views(worklists=0)
    watch = watch_of(log, views)
    fact = log.add(TICKET, RECEIVED)
    views.positions["worklists"] = fact
    before, _ = watch.poll(None)
    read = log.add(ACCESS_LOG, READ)
    views.positions["worklists"] = read  # the projector passed it, folding nothing
    after, moved = watch.poll(before.read)
    assert after.views == before.views == {"worklists": fact}
    assert after.head == before.head == fact
    assert after.read == read
    assert moved == []


def test_a_view_moves_when_a_fact_reaches_it_not_before() -> None:
    log, views = Log(), Views(worklists=0, sla_deadlines=0)
    watch = watch_of(log, views)
    watch.poll(None)
    first = log.add(TICKET, RECEIVED)
    log.add(ACCESS_LOG, READ)
    second = log.add(TICKET, URGED)
    views.positions.update(worklists=second, sla_deadlines=first + 1)  # one behind the other
    positions, _ = watch.poll(None)
    assert positions.views == {"sla_deadlines": first, "worklists": second}
    assert positions.head == second


def test_poll_says_which_aggregates_moved_since_a_read_and_to_which_version() -> None:
    log, views = Log(), Views(worklists=0)
    watch = watch_of(log, views)
    log.add(TICKET, RECEIVED)
    start, moved = watch.poll(None)
    assert moved is None  # nothing to compare with: the caller asks for versions itself
    log.add(ACCESS_LOG, READ)
    urged = log.add(TICKET, URGED)
    other = log.add(OTHER, RECEIVED)
    _, moved = watch.poll(start.read)
    assert moved == [Fact(urged, TICKET, 2), Fact(other, OTHER, 1)]


def test_facts_no_longer_remembered_are_reported_unknown() -> None:
    log, views = Log(), Views(worklists=0)
    watch = watch_of(log, views, keep=2)
    early, _ = watch.poll(None)
    for _ in range(3):
        log.add(TICKET, URGED)
    latest, moved = watch.poll(early.read)
    assert moved is None  # the first of the three is forgotten
    assert watch.poll(latest.read)[1] == []


def test_a_view_behind_what_was_read_shows_its_raw_position() -> None:
    log, views = Log(), Views(worklists=0)
    for _ in range(10):
        log.add(TICKET, URGED)
    watch = watch_of(log, views, backlog=4)  # starts reading at 6
    views.positions["worklists"] = 3
    assert watch.poll(None)[0].views == {"worklists": 3}
    views.positions["worklists"] = 8
    assert watch.poll(None)[0].views == {"worklists": 8}


def test_a_version_is_a_fact_s_never_an_access_log_s() -> None:
    log, views = Log(), Views()
    watch = watch_of(log, views)
    log.add(TICKET, RECEIVED)
    log.add(TICKET, URGED)
    log.add(ACCESS_LOG, READ)
    assert watch.version(TICKET) == 2
    assert watch.version(ACCESS_LOG) is None
    assert watch.version(OTHER) is None


def test_the_log_is_read_once_per_interval_however_many_streams_poll() -> None:
    log, views = Log(), Views(worklists=0)
    now = [0.0]
    watch = LogWatch(log, views, interval=0.4, clock=lambda: now[0])
    log.add(TICKET, RECEIVED)
    for _ in range(5):
        watch.poll(None)
    assert log.selects == 1
    log.add(TICKET, URGED)
    assert watch.poll(None)[0].head == 1  # not looked again yet
    now[0] += 0.5
    assert watch.poll(None)[0].head == 2
    assert log.selects == 2
