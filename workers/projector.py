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
from datetime import UTC, datetime
from typing import Any

import structlog

from projections.core import (
    LRU,
    Batch,
    PositionMoved,
    Projection,
    ViewFailure,
    ViewStore,
    aggregate_ids,
    prefetch_rows,
)
from workers.faults import error_text, is_transient

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
        # Stopped at an event it could not fold or store (None: running). A failure recorded
        # by an earlier run is tried again: the code or the data may have been mended since.
        self.failed: ViewFailure | None = None
        self.recorded_failure = self.store.failure()
        # While set, the view folds and commits one event at a time up to this id, to find
        # which event of a batch its store refused.
        self.one_by_one_until: int | None = None

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
        """Forget what we knew and take the position (and failure record) the store has now.

        A view stopped at an event stays stopped while its failure is on record; a record
        that is gone (cleared by hand, or a database made anew) lets it try again.
        """
        self.cache = LRU(self.cache.size)
        self.cache.cleared = True  # the store has rows we never saw: always query misses
        self.position = self.store.position() or 0
        self.started_empty = False
        self.recorded_failure = self.store.failure()
        if self.recorded_failure is None:
            self.failed = None
        self.one_by_one_until = None
        self.rewind()

    def reset(self) -> None:
        """Drop the view's tables and create them again: empty, position 0."""
        self.store.drop_tables()
        self.store.create_tables()
        self.cache = LRU(self.cache.size)
        self.position = 0
        self.started_empty = True
        self.failed = None
        self.one_by_one_until = None
        self.rewind()


@dataclass
class _Fold:
    """One follower's share of a batch: its rows, and the positions they span."""

    follower: Follower
    batch: Batch
    epoch: int
    first: int  # the first event folded (its notification id)
    last: int  # the last one: the follower's position once committed
    expected: int = 0


@dataclass
class _Work:
    """One batch of notifications, folded into every follower that had not seen it."""

    count: int  # notifications read
    folds: list[_Fold]
    notes: dict[int, Any]  # notification id -> notification, to name a failing event


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

    def restart(self) -> None:
        """After the loop failed: every view's tables (made again if the database lost them)
        and position as stored now, nothing held in memory trusted."""
        for follower in self.followers:
            follower.store.create_tables()
            follower.resync()

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
        """Read the next batch after what every running follower has folded, decode, fold.

        An event a view's fold cannot take (it raises) stops that view there: the events
        before it are folded and committed, the failure is recorded, the other views go on.
        An event that cannot even be decoded stops every view that has not yet passed it.
        """
        active = [f for f in self.followers if f.failed is None]
        if not active:
            return None
        start = min(f.folded for f in active) + 1
        notifications = self.app.recorder.select_notifications(start=start, limit=self.batch_size)
        if not notifications:
            return None
        notes = {n.id: n for n in notifications}
        events = self._decode(notifications, active)
        folds = []
        ids_after: dict[int, list[str]] = {}  # aggregates of the events after a position
        for follower in active:
            seen = follower.folded
            stop = follower.failed.notification_id if follower.failed else None
            mine = [(nid, e) for nid, e in events if nid > seen and (stop is None or nid < stop)]
            if not mine:
                continue
            if follower.one_by_one_until is not None:
                mine = mine[:1]
            elif not follower.fresh and len(mine) >= PREFETCH_MIN_EVENTS:
                # Views with rows this projector never saw (after a restart): fetch the rows of
                # the batch's tickets and customers up front, one query per table, instead of
                # one query per row the folds ask for. Not for a few live events: a dozen
                # queries would cost more than the rows their folds read.
                ids = ids_after.get(seen)
                if ids is None:  # followers at one position share the batch's ids
                    ids = ids_after[seen] = aggregate_ids(e for _, e in mine)
                prefetch_rows(follower.cache, follower.projection, ids, follower.store.load_many)
            batch = self._folded(follower, mine, notes)
            if follower.failed is not None:  # its fold refused an event: commit those before
                stop = follower.failed.notification_id
                mine = [(nid, e) for nid, e in mine if nid < stop]
            if batch is None or not mine:
                continue
            folds.append(_Fold(follower, batch, follower.epoch, mine[0][0], mine[-1][0]))
            follower.folded = mine[-1][0]
        return _Work(len(notifications), folds, notes)

    def _decode(self, notifications: Sequence[Any], active: list[Follower]) -> list[Any]:
        """(id, event) of each notification, up to the first that cannot be decoded."""
        to_event = self.app.mapper.to_domain_event
        events = []
        for note in notifications:
            try:
                events.append((note.id, to_event(note)))
            except Exception as error:
                if is_transient(error):
                    raise  # the database's trouble, not the event's: retry later
                for follower in active:
                    if follower.failed is None and follower.folded < note.id:
                        self._fail(follower, note, error)
                break
        return events

    def _batch(self, follower: Follower) -> Batch:
        return Batch(
            follower.projection,
            follower.store,
            follower.cache,
            fresh=follower.fresh,
            pending=follower.in_flight,
        )

    def _folded(
        self, follower: Follower, events: list[tuple[int, Any]], notes: dict[int, Any]
    ) -> Batch | None:
        """A batch of ``events`` folded for ``follower``; on a fold's error, of those before.

        The failing event's partial changes are thrown away with its batch: the events before
        it are folded again into a fresh one (folds are deterministic). None: nothing to commit.
        """
        fold = follower.projection.fold
        batch = self._batch(follower)
        at = 0
        try:
            for nid, event in events:
                at = nid  # the event being folded, should its fold raise
                fold(event, batch)
        except Exception as error:
            if is_transient(error):
                # A fold that read a row while the database went away: the event is not to
                # blame. The step is given up and retried (see :meth:`step`).
                raise
            self._fail(follower, notes[at], error)
            before = [(nid, e) for nid, e in events if nid < at]
            if not before:
                return None
            batch = self._batch(follower)
            for _, event in before:
                fold(event, batch)
        return batch

    def _fail(self, follower: Follower, note: Any, error: BaseException) -> None:
        """Stop ``follower`` at the event of ``note``: remember why, here and in its store."""
        failure = stop_view(follower, note, error)
        try:
            follower.store.record_failure(failure)
            follower.recorded_failure = failure
        except Exception:
            log.exception("could not record the view's failure in its store", view=failure.view)

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
        or the error its store raised. An error of the database itself (connection lost,
        timeout) stops the batch there: the followers after it are not written.
        """
        outcomes: list[object] = []
        for item in work.folds:
            try:
                item.batch.write(item.last, expected=item.expected)
            except PositionMoved as moved:
                outcomes.append(moved)
            except Exception as error:
                outcomes.append(error)
                if is_transient(error):
                    break
            else:
                outcomes.append(None)
        return outcomes

    def _settle(self, work: _Work, outcomes: list[object]) -> None:
        """Move positions and caches by the outcomes of :meth:`_write`.

        Raises the first error of the database itself (the caller retries later). A store
        that refused a follower's rows for any other reason (a value it cannot hold) is
        given the batch again one event at a time, and stops at the event it refuses.
        """
        error: BaseException | None = None
        for index, item in enumerate(work.folds):
            follower = item.follower
            outcome = outcomes[index] if index < len(outcomes) else _NOT_WRITTEN
            if follower.in_flight is item.batch:
                follower.in_flight = None
            if outcome is None:
                item.batch.remember()
                follower.position = item.last
                self._committed(follower)
            elif isinstance(outcome, PositionMoved):
                # Another projector got there first: start again from where it is.
                log.info("view moved on", projection=follower.projection.name, found=outcome.found)
                follower.resync()
            else:
                if isinstance(outcome, BaseException):
                    # The commit may or may not have happened: trust no cached row.
                    follower.cache.clear()
                    if is_transient(outcome):
                        error = error or outcome
                    elif item.first == item.last:
                        self._fail(follower, work.notes[item.last], outcome)
                    else:
                        log.warning(
                            "a view's store refused a batch; applying it one event at a time",
                            view=follower.projection.name,
                            first=item.first,
                            last=item.last,
                            error=error_text(outcome),
                        )
                        follower.failed = None  # a later batch's fold failure: found again
                        follower.one_by_one_until = item.last
                follower.rewind()
        if error is not None:
            raise error

    def _committed(self, follower: Follower) -> None:
        """After a commit: leave one-by-one mode, forget a recorded failure now passed."""
        position = follower.position
        if follower.one_by_one_until is not None and position >= follower.one_by_one_until:
            follower.one_by_one_until = None
        recorded = follower.recorded_failure
        if (
            recorded is not None
            and follower.failed is None
            and position >= recorded.notification_id
        ):
            follower.store.clear_failure()
            follower.recorded_failure = None
            log.info("view got past the event it had stopped at", view=follower.projection.name)

    def _rewind(self) -> None:
        for follower in self.followers:
            follower.rewind()


def stop_view(follower: Follower, note: Any, error: BaseException) -> ViewFailure:
    """Stop ``follower`` at the event of ``note`` (a notification, or a relayed one): it
    folds nothing more; say so in the log. Returns the failure (for its store's record)."""
    failure = ViewFailure(
        view=follower.projection.name,
        notification_id=note.id,
        event=str(note.topic).rpartition(":")[2] or str(note.topic),
        originator_id=str(note.originator_id),
        originator_version=int(note.originator_version),
        error=error_text(error),
        failed_at=datetime.now(UTC),
    )
    follower.failed = failure
    follower.one_by_one_until = None
    log.error(
        "view stopped at an event it cannot apply; the other views go on",
        view=failure.view,
        notification_id=failure.notification_id,
        event_class=failure.event,
        originator_id=failure.originator_id,
        originator_version=failure.originator_version,
        error=failure.error,
    )
    return failure


def adopt_rebuilt(live: Sequence[Follower], rebuilt: Sequence[Follower]) -> None:
    """Swap rebuilt views in for the live ones, all in one transaction.

    ``rebuilt[i]`` is the shadow of ``live[i]`` (same projection, tables beside the live ones).
    Readers see the old views until the commit and the new ones after it, never a mix; a
    failure leaves the old ones as they were. Live projectors notice the moved position at
    their next commit and carry on from the rebuilt position.
    """
    if not live:
        return
    store: Any = live[0].store
    with store.datastore.transaction(commit=True) as c:  # every view shares one datastore
        for follower, shadow in zip(live, rebuilt, strict=True):
            if follower.projection.name != shadow.projection.name:
                raise ValueError(
                    f"{shadow.projection.name} is no shadow of {follower.projection.name}"
                )
            follower.store.adopt_in(c, shadow.store)
    for follower in live:
        follower.resync()


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
