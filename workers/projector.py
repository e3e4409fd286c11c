"""The projector: follows the event store's notification log and keeps the views up to date.

It reads the log once for all projections, in batches, decodes each event once, folds it
into every projection that has not seen it, and commits each projection's rows together with
its tracking position in one transaction. Restarted after a crash (even SIGKILL) it resumes
from the tracked positions: no event is lost and none is applied twice.

While catching up over many batches it overlaps the commit of one batch with the reading,
decoding and folding of the next: a single writer thread, at most one batch in flight. A
follower's position moves only once its commit succeeded; the next batch reads the rows of
the one in flight before the cache (see :class:`projections.core.Batch`), and is thrown away
if that commit fails.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from projections.core import (
    LRU,
    Batch,
    PositionMoved,
    Projection,
    ViewStore,
    aggregate_ids,
    prefetch_rows,
)

log = structlog.get_logger("casetrail.projector")

# From this many events a batch of views with rows of unknown origin prefetches its rows.
PREFETCH_MIN_EVENTS = 50


@dataclass
class Follower:
    """One projection with its store, its position and its row cache.

    ``position`` is what the store has committed; ``folded`` is how far the rows folded so
    far reach (ahead of ``position`` while a batch is being committed); ``in_flight`` is that
    batch. ``epoch`` changes whenever folded rows are given up, so a batch folded on top of
    them is known to be stale.
    """

    projection: Projection
    store: ViewStore
    cache: LRU = field(default_factory=LRU)
    position: int = 0

    def __post_init__(self) -> None:
        self.position = self.store.position() or 0
        self.folded = self.position
        self.in_flight: Batch | None = None
        self.epoch = 0
        self.started_empty = self.position == 0

    @property
    def fresh(self) -> bool:
        """Every row in the store was written by us.

        A store with no tracked position has no rows, since rows and position commit
        together; from then on a slot the cache never held (nor forgot) is an absence.
        """
        return self.started_empty

    def rewind(self) -> None:
        """Give up rows folded but not committed; fold again from the committed position."""
        self.folded = self.position
        self.in_flight = None
        self.epoch += 1

    def resync(self) -> None:
        """Forget what we knew and take the position the store has now."""
        self.cache = LRU(self.cache.size)
        self.cache.cleared = True  # the store has rows we never saw: always query misses
        self.position = self.store.position() or 0
        self.started_empty = False
        self.rewind()

    def reset(self) -> None:
        """Drop the view's tables and create them again: empty, position 0."""
        self.store.drop_tables()
        self.store.create_tables()
        self.cache = LRU(self.cache.size)
        self.position = 0
        self.started_empty = True
        self.rewind()


@dataclass
class _Fold:
    """One follower's share of a batch: its rows, and the position they must commit on."""

    follower: Follower
    batch: Batch
    epoch: int
    expected: int = 0


@dataclass
class _Work:
    """One batch of notifications, folded into every follower that had not seen it."""

    count: int  # notifications read
    last: int  # the last notification's id: each follower's position once committed
    folds: list[_Fold]


_NOT_WRITTEN = object()  # a later follower's batch, after an earlier one failed


@contextmanager
def _bulk_mode() -> Iterator[None]:
    """Interpreter settings for a catch-up over many batches, put back as they were after.

    - No automatic garbage collection; :meth:`Projector.catch_up` collects the young
      generations (of every thread) once per batch instead. The row caches hold hundreds of
      thousands of long-lived rows, and every automatic full collection walks them all: at
      100k events that was a third of a rebuild. Rows hold no reference cycles, so skipping
      those walks loses nothing.
    - A 1 ms GIL switch interval instead of 5 ms. The writer thread waits on the database
      about fifty times per batch, and each time it may then wait a whole switch interval
      for the folding thread to let go of the GIL: at 5 ms that stalled the writer for more
      than half of a rebuild.
    """
    enabled = gc.isenabled()
    interval = sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(min(interval, 0.001))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if enabled:
            gc.enable()


class Projector:
    """Feeds every projection from the application's notification log."""

    def __init__(
        self,
        app: Any,
        followers: Sequence[Follower],
        *,
        batch_size: int = 1000,
        overlap: bool = True,
    ) -> None:
        self.app = app
        self.followers = list(followers)
        self.batch_size = batch_size
        # Commit in a writer thread while the next batch is folded (catch_up only).
        self.overlap = overlap
        self.wakeup = threading.Event()

    def lag(self) -> dict[str, int]:
        """Events each projection still has to apply."""
        head = self.app.recorder.max_notification_id() or 0
        return {f.projection.name: head - f.position for f in self.followers}

    def step(self) -> int:
        """Apply at most one batch, committed when this returns; returns notifications read."""
        try:
            work = self._fold_next()
            if work is None:
                return 0
            self._start(work)
            self._settle(work, self._write(work))
        except BaseException:
            self._rewind()
            raise
        return work.count

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Apply everything recorded so far; returns the number of events read.

        Everything read is committed when this returns. A full batch is committed by the
        writer thread while the next one is folded; a short one (the head of the log) right
        away, since there is nothing to overlap it with.
        """
        total = 0

        def settle(work: _Work, outcomes: list[object]) -> None:
            nonlocal total
            self._settle(work, outcomes)
            total += work.count
            if progress is not None:
                progress(work.count)

        flight: tuple[_Work, Future[list[object]]] | None = None
        with ExitStack() as bulk:
            writer: ThreadPoolExecutor | None = None
            try:
                while True:
                    work = self._fold_next()
                    if flight is not None:
                        done, future = flight
                        flight = None
                        settle(done, future.result())
                        gc.collect(1)  # see _bulk_mode
                    if work is None:
                        break
                    self._start(work)
                    if not self.overlap or work.count < self.batch_size:
                        settle(work, self._write(work))
                        continue
                    if writer is None:  # many batches to go: a bulk catch-up
                        writer = bulk.enter_context(
                            ThreadPoolExecutor(1, thread_name_prefix="projector-writer")
                        )
                        bulk.enter_context(_bulk_mode())
                    flight = (work, writer.submit(self._write, work))
            except BaseException:
                if flight is not None:
                    # Let the commit in flight finish and keep what it committed; the first
                    # error is the one to report.
                    done, future = flight
                    try:
                        self._settle(done, future.result())
                    except Exception:
                        log.exception("commit in flight failed too")
                self._rewind()
                raise
        return total

    def run(self, stop: threading.Event, idle_wait: float = 0.2) -> None:
        """Follow the log until ``stop`` is set; ``wakeup`` cuts the idle wait short."""
        log.info(
            "projector started", positions={f.projection.name: f.position for f in self.followers}
        )
        while not stop.is_set():
            started = time.monotonic()
            n = self.catch_up()
            if n:
                log.info("projected", events=n, seconds=round(time.monotonic() - started, 3))
                continue
            self.wakeup.wait(idle_wait)
            self.wakeup.clear()
        log.info("projector stopped")

    # ------------------------------------------------------------ one batch

    def _fold_next(self) -> _Work | None:
        """Read the next batch after what every follower has folded, decode it, fold it."""
        start = min((f.folded for f in self.followers), default=0) + 1
        notifications = self.app.recorder.select_notifications(start=start, limit=self.batch_size)
        if not notifications:
            return None
        to_event = self.app.mapper.to_domain_event
        events = [(n.id, to_event(n)) for n in notifications]
        last = notifications[-1].id
        folds = []
        ids_after: dict[int, list[str]] = {}  # aggregates of the events after a position
        for follower in self.followers:
            if last <= follower.folded:
                continue
            batch = Batch(
                follower.projection,
                follower.store,
                follower.cache,
                fresh=follower.fresh,
                pending=follower.in_flight,
            )
            fold, seen = follower.projection.fold, follower.folded
            if not follower.fresh and len(events) >= PREFETCH_MIN_EVENTS:
                # Views with rows this projector never saw (after a restart): fetch the rows of
                # the batch's tickets and customers up front, one query per table, instead of
                # one query per row the folds ask for. Not for a few live events: a dozen
                # queries would cost more than the rows their folds read.
                mine = ids_after.get(seen)
                if mine is None:  # followers at one position share the batch's ids
                    mine = ids_after[seen] = aggregate_ids(e for nid, e in events if nid > seen)
                prefetch_rows(follower.cache, follower.projection, mine, follower.store.load_many)
            for nid, event in events:
                if nid > seen:
                    fold(event, batch)
            folds.append(_Fold(follower, batch, follower.epoch))
            follower.folded = last
        return _Work(len(notifications), last, folds)

    def _start(self, work: _Work) -> None:
        """Hand the batch to the store: drop stale folds, fix each one's expected position."""
        live = []
        for item in work.folds:
            follower = item.follower
            if item.epoch != follower.epoch:
                continue  # folded on rows whose commit failed: the follower reads them again
            item.expected = follower.position
            follower.in_flight = item.batch
            live.append(item)
        work.folds = live

    def _write(self, work: _Work) -> list[object]:
        """Commit each follower's rows with its position (runs in the writer thread).

        Returns one outcome per follower, in order: None (committed), :class:`PositionMoved`,
        or the error that stopped the batch (later followers are not written).
        """
        outcomes: list[object] = []
        for item in work.folds:
            try:
                item.batch.write(work.last, expected=item.expected)
            except PositionMoved as moved:
                outcomes.append(moved)
            except Exception as error:
                outcomes.append(error)
                break
            else:
                outcomes.append(None)
        return outcomes

    def _settle(self, work: _Work, outcomes: list[object]) -> None:
        """Move positions and caches by the outcomes of :meth:`_write`; raise its error."""
        error: BaseException | None = None
        for index, item in enumerate(work.folds):
            follower = item.follower
            outcome = outcomes[index] if index < len(outcomes) else _NOT_WRITTEN
            if follower.in_flight is item.batch:
                follower.in_flight = None
            if outcome is None:
                item.batch.remember()
                follower.position = work.last
            elif isinstance(outcome, PositionMoved):
                # Another projector got there first: start again from where it is.
                log.info("view moved on", projection=follower.projection.name, found=outcome.found)
                follower.resync()
            else:
                if isinstance(outcome, BaseException):
                    error = outcome
                    # The commit may or may not have happened: trust no cached row.
                    follower.cache.clear()
                follower.rewind()
        if error is not None:
            raise error

    def _rewind(self) -> None:
        for follower in self.followers:
            follower.rewind()


def hand_over_to_kafka_feeds(app: Any, followers: Sequence[Follower]) -> dict[str, int]:
    """After a rebuild from the log, make each rebuilt view's Kafka feed agree with its rows.

    A view that a Kafka-fed projector fed has that feed's table of applied versions
    (``<view>_applied``); a rebuild from the log leaves it as it was, so a feed resumed from
    its consumer offsets would apply again what the rebuild folded. Here it is set to each
    aggregate's last version among the events the view has folded (up to its position):
    the feed then skips those and applies only later ones. Returns {view: position} of the
    views handed over; views never fed from Kafka are left alone.
    """
    from projections.at_least_once import applied_table

    fed = [(f, applied_table(f.projection.name)) for f in followers]
    fed = [(f, table) for f, table in fed if f.store.has_table(table.name)]
    if not fed:
        return {}
    positions = {f.projection.name: f.store.position() or 0 for f, _ in fed}
    latest: dict[str, int] = {}
    at: dict[int, dict[str, int]] = {}
    start = 1
    for position in sorted(set(positions.values())):
        while start <= position:
            notes = app.recorder.select_notifications(start=start, limit=5000, stop=position)
            if not notes:
                break
            for note in notes:
                latest[str(note.originator_id)] = note.originator_version
            start = notes[-1].id + 1
        at[position] = dict(latest)
    for follower, table in fed:
        versions = at[positions[follower.projection.name]]
        rows = [{"originator_id": ident, "version": v} for ident, v in versions.items()]
        follower.store.replace_rows(table, rows)
        log.info("kafka feed handed over", view=follower.projection.name, aggregates=len(rows))
    return positions
