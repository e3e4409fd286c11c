"""Reports ``as_of`` a past instant: replays from cached checkpoints, bounded in memory and time.

A report ``as_of`` T is the ``department_performance`` fold of the events recorded up to T
(``projections/replay.py``). Replaying the whole log per request cost 3.2 s at 51k events, and
four at once 14 s: the API's threads and CPU went to it. :class:`ReplayCache` keeps what replays
learn and bounds what they may take:

- **Checkpoints** (the rows after every event up to a position, valid from the latest
  recording time among them) in an LRU bounded by count (``max_checkpoints``, 32) and by the
  size of their pickled rows (``max_bytes``, 64 MiB). A checkpoint of the 51k-event demo month
  weighs 0.2 MB at its start to 1.9 MB at its end, a whole month of them (every 4,000 to 7,000
  events) 11 MB; a store twenty times larger keeps fewer, its most used. A request starts from
  the latest checkpoint valid for its instant and folds only the events after it.
- **Blocks** (per 1,000 notification ids: the earliest and latest recording time of the
  events the report folds), at most ``max_blocks`` (20,000: twenty million events, ~3 MB): a
  block all recorded after the instant is not read at all.
- **Concurrency**: at most ``max_replays`` (2) replays run at once; up to ``max_waiting`` (8)
  more requests wait for a turn, each at most ``wait_seconds`` (5 s). A request that finds the
  queue full, or waits longer, gets 503 ``busy`` with ``Retry-After`` (:class:`Busy`): a
  client retries later rather than holding one of the server's worker threads.

Every request first checks that the store still holds the last event the cache has read (one
indexed read); when it does not (the database was emptied or re-created) the cache forgets
everything. Answers are the same, byte for byte, as the full replay's
(``tests/unit/test_report_replay.py``); ``bench/reports_as_of.py`` prints the cost.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fastapi.responses import JSONResponse

from projections.core import Projection
from projections.replay import (
    CHECKPOINT_EVERY,
    PAGE,
    Anchor,
    Block,
    Checkpoint,
    Replayed,
    anchor_holds,
    replay_as_of,
)
from projections.reports import department_report, rows_as_of

CheckpointKey = tuple[Any, ...]


class Busy(Exception):
    """Too many replays running and waiting: answered 503 ``busy`` with ``Retry-After``."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"code": "busy", "message": self.message},
            headers={"Retry-After": str(self.retry_after)},
        )


@dataclass
class ReplayStats:
    """Counters since start (what the bench and the tests read)."""

    replays: int = 0
    hits: int = 0  # replays that started from a checkpoint
    refused: int = 0
    evicted: int = 0
    resets: int = 0


class ReplayCache:
    """Checkpoints and blocks of ``as_of`` replays, per projection, with bounded concurrency."""

    def __init__(
        self,
        *,
        max_checkpoints: int = 32,
        max_bytes: int = 64 * 1024 * 1024,
        max_blocks: int = 20_000,
        max_replays: int = 2,
        max_waiting: int = 8,
        wait_seconds: float = 5.0,
        retry_after: int = 2,
        checkpoint_every: int = CHECKPOINT_EVERY,
        page: int = PAGE,
    ) -> None:
        self.max_checkpoints = max_checkpoints
        self.max_bytes = max_bytes
        self.max_blocks = max_blocks
        self.max_waiting = max_waiting
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after
        self.checkpoint_every = checkpoint_every
        self.page = page
        self.stats = ReplayStats()
        self._lock = threading.Lock()
        self._turns = threading.BoundedSemaphore(max_replays)
        self._waiting = 0
        self._checkpoints: OrderedDict[CheckpointKey, Checkpoint] = OrderedDict()
        self._blocks: dict[tuple[Any, ...], dict[int, Block]] = {}
        self._bytes = 0
        self._anchor: Anchor | None = None

    # ------------------------------------------------------------------ public

    def rows_as_of(self, desk: Any, projection: Projection, as_of: datetime) -> Any:
        """The projection's rows as of ``as_of`` (a ``MemoryRows``); raises :class:`Busy`."""
        with self.turn():
            return self.replay(desk, projection, as_of).rows

    def rows_at(
        self, desk: Any, projection: Projection, at: datetime, as_known_at: datetime | None
    ) -> Any:
        """The projection's rows from the events that had happened by business instant ``at``
        (recorded by ``as_known_at``, default: all): a full replay, uncached (an auditor's
        question, rarely the same twice), in one of the same bounded turns; raises Busy."""
        with self.turn():
            horizon = as_known_at or datetime.max.replace(tzinfo=UTC)
            return rows_as_of(desk, projection, horizon, page=self.page, happened_by=at)

    def report_as_of(
        self,
        desk: Any,
        projection: Projection,
        as_of: datetime,
        date_from: date,
        date_to: date,
        *,
        total: bool = False,
    ) -> list[dict[str, Any]]:
        """:func:`projections.reports.report_as_of`, from the cache; raises :class:`Busy`."""
        rows = self.rows_as_of(desk, projection, as_of)
        directory = getattr(projection, "directory", None)
        return department_report(rows, date_from, date_to, as_of, directory=directory, total=total)

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def checkpoints(self, projection: Projection) -> list[Checkpoint]:
        """The checkpoints held for ``projection``, down the log (tests, bench)."""
        kind = _kind(projection)
        with self._lock:
            held = [c for key, c in self._checkpoints.items() if key[:-1] == kind]
        return sorted(held, key=lambda c: c.position)

    def positions(self, projection: Projection) -> list[int]:
        return [c.position for c in self.checkpoints(projection)]

    def clear(self) -> None:
        with self._lock:
            self._forget()

    def turn(self) -> _Turn:
        """One replay's turn (a context manager); raises :class:`Busy` when none comes."""
        return _Turn(self)

    def replay(self, desk: Any, projection: Projection, as_of: datetime) -> Replayed:
        """One replay from the best checkpoint, learning from it; takes no turn (see
        :meth:`rows_as_of`)."""
        kind = _kind(projection)
        with self._lock:
            anchor = self._anchor
        if anchor is not None and not anchor_holds(desk, anchor):
            with self._lock:
                if self._anchor == anchor:
                    self._forget()
                    self.stats.resets += 1
        with self._lock:
            start = self._best(kind, as_of)
            blocks = dict(self._blocks.get(kind, {}))
        done = replay_as_of(
            desk,
            projection,
            as_of,
            start=start,
            blocks=blocks,
            checkpoint_every=self.checkpoint_every,
            page=self.page,
        )
        with self._lock:
            self.stats.replays += 1
            self.stats.hits += start is not None
            self._learn(kind, done)
        return done

    # ----------------------------------------------------------------- internals

    def _best(self, kind: tuple[Any, ...], as_of: datetime) -> Checkpoint | None:
        """The valid checkpoint furthest down the log (marked as just used)."""
        best: tuple[CheckpointKey, Checkpoint] | None = None
        for key, checkpoint in self._checkpoints.items():
            if key[:-1] != kind or not checkpoint.valid_for(as_of):
                continue
            if best is None or checkpoint.position > best[1].position:
                best = (key, checkpoint)
        if best is None:
            return None
        self._checkpoints.move_to_end(best[0])
        return best[1]

    def _learn(self, kind: tuple[Any, ...], done: Replayed) -> None:
        if done.anchor is not None and (self._anchor is None or done.anchor[0] > self._anchor[0]):
            self._anchor = done.anchor
        blocks = self._blocks.setdefault(kind, {})
        for block in done.blocks:
            if len(blocks) >= self.max_blocks:
                break
            blocks.setdefault(block.first, block)
        for checkpoint in done.checkpoints:
            key = (*kind, checkpoint.position)
            if key in self._checkpoints or checkpoint.size > self.max_bytes:
                continue
            self._checkpoints[key] = checkpoint
            self._bytes += checkpoint.size
        while len(self._checkpoints) > self.max_checkpoints or self._bytes > self.max_bytes:
            _, dropped = self._checkpoints.popitem(last=False)
            self._bytes -= dropped.size
            self.stats.evicted += 1

    def _forget(self) -> None:
        self._checkpoints.clear()
        self._blocks.clear()
        self._bytes = 0
        self._anchor = None


class _Turn:
    """One replay's turn: a place in the queue, then one of ``max_replays`` slots."""

    def __init__(self, cache: ReplayCache) -> None:
        self.cache = cache

    def __enter__(self) -> None:
        cache = self.cache
        with cache._lock:
            if cache._waiting >= cache.max_waiting:
                cache.stats.refused += 1
                raise Busy(
                    f"{cache.max_waiting} as_of reports are already waiting; try again shortly",
                    cache.retry_after,
                )
            cache._waiting += 1
        try:
            got = cache._turns.acquire(timeout=cache.wait_seconds)
        finally:
            with cache._lock:
                cache._waiting -= 1
        if not got:
            with cache._lock:
                cache.stats.refused += 1
            raise Busy(
                f"as_of reports are busy (waited {cache.wait_seconds:g} s); try again shortly",
                cache.retry_after,
            )

    def __exit__(self, *exc: object) -> None:
        self.cache._turns.release()


def _kind(projection: Projection) -> tuple[Any, ...]:
    """What makes two projections' folds the same: class, version, zone and directory."""
    return (
        type(projection).__qualname__,
        projection.version,
        str(getattr(projection, "tz", "")),
        id(getattr(projection, "directory", None)),
    )
