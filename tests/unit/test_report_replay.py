"""Reports ``as_of`` from cached checkpoints say exactly what the full replay says.

The full replay (``projections.reports.report_as_of``) folds the whole log per instant; the
cache (``api/replays.py`` over ``projections/replay.py``) starts from the latest checkpoint valid
for the instant and skips pages recorded after it. Every answer must be the same JSON, byte for
byte: before the first event, between two checkpoints, on a checkpoint, after the last event,
asked cold and warm, in any order, and on a log whose recording times go backwards.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from api.replays import Busy, ReplayCache
from bootstrap import build_desk
from cli.demo import run_demo
from config.settings import Settings
from domain.desk import Desk
from projections.department_performance import DepartmentPerformance
from projections.replay import Checkpoint, _Handled, restore
from projections.reports import report_as_of
from tests.factories import FakeClock, act, bj, receive

OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
# Small pages and close checkpoints: a 150-ticket month (~2,600 events) meets many of both.
PAGE = 100
EVERY = 300


@dataclass
class Month:
    desk: Desk
    projection: DepartmentPerformance
    first: datetime  # recording time of the first event
    last: datetime  # and of the last


def _json(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, default=str).encode("utf-8")


def _full(month: Month, at: datetime) -> bytes:
    return _json(report_as_of(month.desk, month.projection, at, *OCTOBER, total=True))


def _cached(cache: ReplayCache, month: Month, at: datetime) -> bytes:
    return _json(cache.report_as_of(month.desk, month.projection, at, *OCTOBER, total=True))


def _times(desk: Desk) -> list[datetime]:
    notifications = desk.recorder.select_notifications(start=1, limit=1_000_000)
    return [desk.mapper.to_domain_event(n).timestamp for n in notifications]


def _demo_desk(path: Path) -> Desk:
    url = f"sqlite:///{path}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CASETRAIL_DATABASE_URL", url)
        console = Console(file=io.StringIO(), width=200, color_system=None)
        run_demo(console, reset=True, tickets=150, seed=1, month="2026-10")
    return build_desk(Settings(database_url=url))


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Month]:
    desk = _demo_desk(tmp_path_factory.mktemp("replay") / "month.sqlite")
    times = _times(desk)
    projection = DepartmentPerformance(desk.directory, "Asia/Shanghai")
    yield Month(desk, projection, min(times), max(times))
    desk.close()


def _cache(**options: Any) -> ReplayCache:
    return ReplayCache(checkpoint_every=EVERY, page=PAGE, **options)


def test_cached_reports_equal_the_full_replay_byte_for_byte(month: Month) -> None:
    cache = _cache()
    mid = month.first + (month.last - month.first) * 3 / 4
    # Cold, late in the month: checkpoints up to there, blocks for the whole log.
    assert _cached(cache, month, mid) == _full(month, mid)
    assert cache.stats.hits == 0
    checkpoints = cache.checkpoints(month.projection)
    assert len(checkpoints) >= 3
    a, b = checkpoints[1], checkpoints[2]
    assert a.recorded_up_to is not None
    assert b.recorded_up_to is not None
    instants = [
        month.first - timedelta(days=1),  # before the first event: an empty report
        a.recorded_up_to,  # exactly a checkpoint's instant
        a.recorded_up_to + (b.recorded_up_to - a.recorded_up_to) / 2,  # between two of them
        mid,  # asked again: warm
        mid + timedelta(days=2),  # past every checkpoint: folds on from the last one
        month.last,  # the last event
        month.last + timedelta(days=30),  # after it
        month.first + timedelta(days=2),  # back to the start once checkpoints lie beyond it
    ]
    for at in instants:
        assert _cached(cache, month, at) == _full(month, at), at
    assert cache.stats.hits >= 5
    empty = json.loads(_cached(cache, month, instants[0]))
    assert empty[-1]["department"] == "TOTAL"
    assert empty[-1]["received"] == 0


def test_a_warm_request_reads_only_past_its_checkpoint(month: Month) -> None:
    cache = _cache()
    at = month.first + (month.last - month.first) / 3
    cold = cache.replay(month.desk, month.projection, at)
    warm = cache.replay(month.desk, month.projection, at)
    assert cold.rows.data == warm.rows.data
    head = int(month.desk.recorder.max_notification_id() or 0)
    assert cold.read == head  # the first one reads every notification
    # The second starts at the last checkpoint before ``at`` and skips every page after it.
    assert warm.read <= EVERY + PAGE
    assert warm.skipped > 0
    assert warm.decoded < cold.decoded / 4
    # ... and leaves a checkpoint at the last page end before ``at``: the next reads the page
    # holding ``at``, and the log's unfinished last page (never summed up as a block).
    again = cache.replay(month.desk, month.projection, at)
    assert again.rows.data == cold.rows.data
    assert 0 < again.read <= PAGE + head % PAGE


def test_a_checkpoint_is_restored_as_a_copy(month: Month) -> None:
    cache = _cache()
    cache.rows_as_of(month.desk, month.projection, month.last)
    checkpoint: Checkpoint = cache.checkpoints(month.projection)[0]
    one = restore(month.projection, checkpoint)
    two = restore(month.projection, checkpoint)
    assert one.data == two.data
    table = next(name for name, rows in one.data.items() if rows)
    key = next(iter(one.data[table]))
    one.data[table][key]["department"] = "changed"
    one.data[table].clear()
    three = restore(month.projection, checkpoint)
    assert three.data == two.data
    assert three.data[table][key]["department"] != "changed"


def test_memory_is_bounded_by_count_and_bytes(month: Month) -> None:
    few = _cache(max_checkpoints=2)
    few.rows_as_of(month.desk, month.projection, month.last)
    assert len(few.checkpoints(month.projection)) == 2
    assert few.stats.evicted > 0
    # The most recent ones stay: the furthest down the log.
    head = int(month.desk.recorder.max_notification_id() or 0)
    assert max(few.positions(month.projection)) > head - EVERY - PAGE
    small = _cache(max_bytes=1)
    small.rows_as_of(month.desk, month.projection, month.last)
    assert (small.cached_bytes, small.positions(month.projection)) == (0, [])
    assert _cached(small, month, month.last) == _full(month, month.last)


def test_another_store_behind_the_same_cache_is_noticed(
    month: Month, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = _cache()
    cache.rows_as_of(month.desk, month.projection, month.last)
    assert cache.positions(month.projection)
    # The database is re-created: another month, with other ids, under the same projection.
    path = tmp_path_factory.mktemp("recreated") / "month.sqlite"
    url = f"sqlite:///{path}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CASETRAIL_DATABASE_URL", url)
        console = Console(file=io.StringIO(), width=200, color_system=None)
        run_demo(console, reset=True, tickets=60, seed=7, month="2026-10")
    other = build_desk(Settings(database_url=url))
    try:
        again = Month(other, month.projection, month.first, month.last)
        assert _cached(cache, again, month.last) == _full(again, month.last)
        assert cache.stats.resets == 1
    finally:
        other.close()


# ------------------------------------------------------------------- recorded out of order


@pytest.fixture
def backfilled(memory_desk: Desk, clock: FakeClock) -> Month:
    """Tickets recorded at 10:00, 12:00, then one backfilled at 11:00, then 13:00 and 14:00."""
    for hour in (10, 12, 11, 13, 14):
        clock.set(bj(2026, 10, 12, hour, 0))
        t = receive(memory_desk)
        act(memory_desk, t, "verify")
        act(memory_desk, t, "classify", category="service_attitude", priority="normal")
        act(memory_desk, t, "dispatch", to_department="station_1", owner="张伟")
    times = _times(memory_desk)
    assert times != sorted(times)  # the log's recording times do go backwards
    projection = DepartmentPerformance(memory_desk.directory, "Asia/Shanghai")
    return Month(memory_desk, projection, min(times), max(times))


@pytest.mark.parametrize("order", ["forwards", "backwards"])
def test_events_recorded_out_of_order_are_replayed_as_the_full_replay_does(
    backfilled: Month, order: str
) -> None:
    cache = ReplayCache(checkpoint_every=1, page=2)
    instants = [bj(2026, 10, 12, h, m) for h in range(9, 15) for m in (0, 30)]
    if order == "backwards":
        instants.reverse()
    for at in [*instants, *instants]:
        assert _cached(cache, backfilled, at) == _full(backfilled, at), at
    # No checkpoint past the backfilled ticket is valid before 12:00 (it holds 12:00's ticket):
    # its time is the latest of the events up to it that the view handles (events it ignores,
    # such as a customer's complaint tally, are not folded and do not count).
    handled = _Handled(backfilled.projection)
    notes = backfilled.desk.recorder.select_notifications(start=1, limit=1_000_000)
    times = _times(backfilled.desk)
    for checkpoint in cache.checkpoints(backfilled.projection):
        assert checkpoint.recorded_up_to is not None
        upto = zip(times[: checkpoint.position], notes[: checkpoint.position], strict=True)
        assert checkpoint.recorded_up_to == max(t for t, n in upto if handled(n.topic))


# ------------------------------------------------------------------------ turns


def test_replays_beyond_two_wait_then_are_refused_busy(month: Month) -> None:
    cache = _cache(wait_seconds=0.05, retry_after=3)
    first, second = cache.turn(), cache.turn()
    first.__enter__()
    second.__enter__()
    try:
        with pytest.raises(Busy) as refused:
            cache.rows_as_of(month.desk, month.projection, month.last)
    finally:
        second.__exit__()
        first.__exit__()
    response = refused.value.response()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert json.loads(bytes(response.body))["code"] == "busy"
    assert cache.stats.refused == 1
    # Turns given back: the next one runs.
    assert _cached(cache, month, month.last) == _full(month, month.last)


def test_a_full_queue_is_refused_at_once(month: Month) -> None:
    cache = _cache(max_waiting=0, wait_seconds=60)
    with pytest.raises(Busy, match="already waiting"):
        cache.rows_as_of(month.desk, month.projection, month.last)
