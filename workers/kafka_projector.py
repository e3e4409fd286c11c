"""The Kafka-fed projector: the same folds, fed from the relay's topic by a consumer group.

Views scale across machines by adding consumers: the group splits the partitions among them
and hands a dead member's partitions to the survivors (DESIGN.md §5). Per poll:

1. decode the records with the desk's mapper (same transcoder and upcasters as the store);
2. in ONE database transaction (serializable on PostgreSQL), fold them into every view through
   :class:`~projections.at_least_once.Deduplicated` (skips a version already applied) and write
   the rows with the applied versions;
3. commit the consumer offsets only after that transaction committed.

A crash between 2 and 3 redelivers the records, which step 2 then skips: nothing is lost and
nothing is applied twice. Two consumers updating the same shared row (a department's daily
counters) conflict in PostgreSQL; the loser rolls back and folds its records again on fresh
rows, so no update is lost either.

Tansu quirks (``../shared/KAFKA.md``) shape the consumer: short sessions (a join is held for
half of the session timeout), polls longer than that so a join completes inside ``poll``,
``auto_offset_reset='earliest'`` and no reliance on ``end_offsets``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from kafka.errors import CommitFailedError

from projections.at_least_once import Deduplicated, InTransaction, aggregate_ids, prefetch
from projections.core import Batch
from workers.faults import is_transient
from workers.projector import Follower, stop_view
from workers.relay import decode

log = structlog.get_logger("casetrail.kafka_projector")

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 1000
POLL_TIMEOUT_MS = SESSION_TIMEOUT_MS // 2 + 1500  # > session/2 + 1 s: joins finish in poll
MAX_RETRIES = 20
# SQLSTATEs that mean "another consumer got there first; do it again": serialization
# failure and deadlock.
RETRY_CODES = {"40001", "40P01"}


def consumer_settings(bootstrap: str, group: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_MS,
        "max_poll_records": 500,
        "client_id": f"casetrail-projector-{threading.get_native_id()}",
    }


@dataclass(frozen=True)
class _Note:
    """A relayed record's notification: its id and stored event (to name a failure)."""

    id: int
    stored: Any

    @property
    def topic(self) -> str:
        return str(self.stored.topic)

    @property
    def originator_id(self) -> Any:
        return self.stored.originator_id

    @property
    def originator_version(self) -> int:
        return int(self.stored.originator_version)


@contextmanager
def _savepoint(c: Any) -> Iterator[None]:
    """A savepoint in the caller's transaction (SQLite and PostgreSQL spell it alike)."""
    c.execute("SAVEPOINT view_feed")
    try:
        yield
    except BaseException:
        c.execute("ROLLBACK TO SAVEPOINT view_feed")
        raise
    c.execute("RELEASE SAVEPOINT view_feed")


def _retryable(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        code = getattr(seen, "sqlstate", None)
        if code in RETRY_CODES or "database is locked" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class KafkaProjector:
    """Consume the relay's topic into the views, exactly once per (aggregate, version)."""

    def __init__(self, desk: Any, followers: Sequence[Follower], consumer: Any) -> None:
        if not followers:
            raise ValueError("the Kafka-fed projector needs at least one view")
        for f in followers:
            if not isinstance(f.projection, Deduplicated):
                raise TypeError(f"{f.projection.name}: Kafka-fed views must be Deduplicated")
        self.mapper = desk.mapper
        self.followers = list(followers)
        self.consumer = consumer
        store: Any = followers[0].store
        self.datastore: Any = store.datastore  # every view store shares it
        self.serializable = type(self.datastore).__module__.endswith("postgres")
        self.applied = 0
        self.conflicts = 0
        for follower in self.followers:
            # A view stopped at an event has missed what followed it: it stays stopped until
            # rebuilt from the log (which clears the record), not fed from the middle again.
            follower.failed = follower.recorded_failure

    def poll_once(self, timeout_ms: int = POLL_TIMEOUT_MS) -> int:
        """One poll: fold and commit what came; returns how many records it held."""
        polled = self.consumer.poll(timeout_ms=timeout_ms)
        records = [r for batch in polled.values() for r in batch]
        if not records:
            self.rewind_past_log_end()
            return 0
        events = self._decode(records)
        self._apply(events)
        try:
            self.consumer.commit()  # only after the rows committed: at-least-once
        except CommitFailedError:
            # The group rebalanced while we folded: the new owner reads these records again
            # and skips them by version. Nothing to undo.
            log.warning("offsets not committed (group rebalanced)", records=len(records))
        self.applied += len(events)
        log.info(
            "applied",
            records=len(records),
            partitions=sorted(tp.partition for tp in polled),
            skipped=sum(v.skipped for v in self.views),
            gaps=sum(v.gaps for v in self.views),  # > 0: the feed lost events (see the views)
        )
        return len(records)

    def rewind_past_log_end(self) -> list[int]:
        """Partitions whose position lies beyond their log end go back to the beginning.

        A broker that lost its log (tansu's memory storage after a restart; a topic deleted and
        made again) answers a fetch past the end with nothing, not OFFSET_OUT_OF_RANGE
        (``../shared/KAFKA.md`` quirk 2): the member would wait there forever while the relay
        fills the new log from offset 0. Re-reading from the beginning is safe: what was
        already applied is skipped by version. Returns the partitions rewound.
        """
        rewound = []
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)  # from fetch responses: right even on tansu
            if end is None:
                continue
            position = self.consumer.position(tp)
            if position is not None and position > end:
                log.warning(
                    "position beyond the log end; reading the partition again from the start",
                    partition=tp.partition,
                    position=position,
                    log_end=end,
                )
                self.consumer.seek_to_beginning(tp)
                rewound.append(tp.partition)
        return rewound

    @property
    def views(self) -> list[Deduplicated]:
        return [f.projection for f in self.followers]  # type: ignore[misc]

    def _decode(self, records: Sequence[Any]) -> list[tuple[Any, Any]]:
        """(stored event, domain event) per record; one that cannot be decoded stops every
        view (none could fold it), recorded with its notification id."""
        events = []
        for record in records:
            nid, stored = decode(record.value)
            try:
                events.append((_Note(nid, stored), self.mapper.to_domain_event(stored)))
            except Exception as error:
                for follower in self._running():
                    self._stop(follower, _Note(nid, stored), error)
        return events

    def _running(self) -> list[Follower]:
        return [f for f in self.followers if f.failed is None]

    def _stop(self, follower: Follower, note: Any, error: BaseException) -> None:
        """The view cannot apply this record's event: it takes no more from this feed.

        Its rows stay as they were before the event; the other views go on, and the
        consumer's offsets move on with them, so this view misses what follows: rebuild it
        from the log (``casetrail projections rebuild --name <view>``, which hands it back
        to the feed) once the cause is mended.
        """
        stop_view(follower, note, error)

    def _record_failures(self, stopped: list[Follower]) -> None:
        for follower in stopped:
            assert follower.failed is not None
            try:
                follower.store.record_failure(follower.failed)
            except Exception:
                log.exception("could not record the view's failure", view=follower.failed.view)

    def _apply(self, events: Sequence[tuple[Any, Any]]) -> None:
        for attempt in range(1, MAX_RETRIES + 1):
            try:
                self._apply_once(events)
                return
            except Exception as error:
                if not _retryable(error) or attempt == MAX_RETRIES:
                    raise
                self.conflicts += 1
                log.info("write conflict; folding again", attempt=attempt)
                time.sleep(min(0.05 * attempt, 0.5))

    def _apply_once(self, events: Sequence[tuple[Any, Any]]) -> None:
        """Fold the events into every running view, in one transaction.

        Each view folds and writes inside a savepoint of its own: a view whose fold raises, or
        whose rows the database refuses, is rolled back to before the batch, given the events
        before the culprit, and stopped (see :meth:`_stop`); the others commit as usual.
        """
        views = self.views
        counted = [(v.skipped, v.gaps) for v in views]
        ids = aggregate_ids(event for _, event in events)
        stopped: list[Follower] = []
        try:
            with self.datastore.transaction(commit=True) as c:
                if self.serializable:
                    c.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                for follower in self._running():
                    # Rows are read inside this transaction, never from an earlier one: other
                    # consumers write the same tables. One query per table fetches the rows
                    # of every ticket, customer and callback in the batch.
                    try:
                        with _savepoint(c):
                            self._fold_into(c, follower, events, ids)
                    except Exception as error:
                        if _retryable(error) or is_transient(error):
                            raise
                        self._isolate(c, follower, events, ids)
                        stopped.append(follower)
        except BaseException:
            for view, (skipped, gaps) in zip(views, counted, strict=True):
                view.skipped, view.gaps = skipped, gaps  # the retry counts them again
            for follower in stopped:
                follower.failed = None  # the retry finds it again
            raise
        self._record_failures(stopped)

    def _fold_into(
        self, c: Any, follower: Follower, events: Sequence[tuple[Any, Any]], ids: list[str]
    ) -> None:
        store: Any = follower.store
        batch = Batch(
            follower.projection,
            InTransaction(store, c),  # type: ignore[arg-type]
            prefetch(store, c, follower.projection, ids),
        )
        fold = follower.projection.fold
        for _, event in events:
            fold(event, batch)
        batch.write(None)

    def _isolate(
        self, c: Any, follower: Follower, events: Sequence[tuple[Any, Any]], ids: list[str]
    ) -> None:
        """Apply the events one at a time (each in a savepoint) up to the one that fails."""
        for note, event in events:
            try:
                with _savepoint(c):
                    self._fold_into(c, follower, [(note, event)], ids)
            except Exception as error:
                if _retryable(error) or is_transient(error):
                    raise
                self._stop(follower, note, error)
                return

    def run(self, stop: threading.Event, on_idle: Callable[[], None] | None = None) -> None:
        log.info("kafka projector started", views=[f.projection.name for f in self.followers])
        while not stop.is_set():
            if not self.poll_once() and on_idle is not None:
                on_idle()
        log.info("kafka projector stopped", applied=self.applied, conflicts=self.conflicts)
