"""Projections fed at least once and out of global order (from Kafka), still applied exactly once.

The notification-log projector applies events in the store's global order and tracks one
position. A Kafka consumer group sees each partition in order but partitions interleave freely,
and a message can come twice (the relay republishes after a crash; a consumer that dies before
committing its offsets has its partitions re-read by another). Two things make the same folds
correct there:

* :class:`Deduplicated` remembers, per aggregate, the last version it applied, in a table of
  its own committed with the view rows; an event at or below that version is skipped. Gaps are
  counted, not hidden (``gaps``): they mean the feed lost something.
* :class:`InTransaction` lets a :class:`~projections.core.Batch` read and write inside one
  database transaction that the caller owns (serializable on PostgreSQL), so consumers in other
  processes that touch the same shared rows (department counters) conflict and retry instead of
  overwriting each other from stale reads.

Folds only read rows of the ticket (or customer) they are about, and the relay keys messages
so that a ticket's events and its callbacks' events share a partition: one partition's order
is all a fold needs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

from projections.core import (
    AGGREGATE_COLUMNS,
    LRU,
    Key,
    Projection,
    Row,
    Rows,
    Slot,
    Table,
    aggregate_ids,
    prefetch_rows,
)

__all__ = [
    "AGGREGATE_COLUMNS",
    "Deduplicated",
    "InTransaction",
    "aggregate_ids",
    "applied_table",
    "prefetch",
]


def applied_table(view: str) -> Table:
    """The Kafka feed's table of a view: each aggregate's last applied version."""
    return Table(
        f"{view}_applied",
        key=("originator_id",),
        columns=(("originator_id", "text"), ("version", "int")),
    )


class Deduplicated(Projection):
    """``inner`` with a per-aggregate applied-version table: repeats are skipped."""

    def __init__(self, inner: Projection) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.applied = applied_table(inner.name)
        self.tables = (*inner.tables, self.applied)
        self.skipped = 0
        self.gaps = 0

    def fold(self, event: Any, rows: Rows) -> None:
        key = (str(event.originator_id),)
        seen = rows.get(self.applied.name, key)
        last = 0 if seen is None else seen["version"]
        version = event.originator_version
        if version <= last:
            self.skipped += 1
            return
        if version != last + 1:
            self.gaps += 1
        self.inner.fold(event, rows)
        rows.put(self.applied.name, {"originator_id": key[0], "version": version})


class TransactionalStore(Protocol):
    def load_in(self, c: Any, table: Table, key: Key) -> Row | None: ...

    def load_many_in(
        self, c: Any, table: Table, column: str, values: Sequence[Any]
    ) -> list[Row]: ...

    def apply_in(self, c: Any, changes: Sequence[tuple[Table, Key, Row | None]]) -> None: ...


class InTransaction:
    """A view store seen through one open transaction: the two calls a Batch makes."""

    def __init__(self, store: TransactionalStore, cursor: Any) -> None:
        self.store = store
        self.cursor = cursor

    def load(self, table: Table, key: Key) -> Row | None:
        return self.store.load_in(self.cursor, table, key)

    def write(
        self,
        changes: Sequence[tuple[Table, Key, Row | None]],
        position: int | None,
        expected: int | None = None,
        new: Collection[Slot] = (),
    ) -> None:
        # The consumer's offsets, not a tracking row, say how far it got.
        self.store.apply_in(self.cursor, changes)


class Prefetched(LRU):
    """One transaction's row cache, filled up front for the aggregates its events are about.

    For every table keyed first by an aggregate (:data:`AGGREGATE_COLUMNS`), one query fetches
    the rows of all the batch's aggregates; a slot of such an aggregate that the query did not
    return is then a known absence, with no query of its own. Other slots (a department's
    counters) are read one by one, inside the transaction. Unbounded: it lives for one batch.
    """

    def __init__(self) -> None:
        super().__init__(size=1 << 62)


def prefetch(
    store: TransactionalStore, cursor: Any, projection: Projection, ids: Sequence[str]
) -> Prefetched:
    """The rows of ``ids`` (aggregate ids as text) in every aggregate-keyed table of a view."""
    cache = Prefetched()
    prefetch_rows(
        cache,
        projection,
        ids,
        lambda table, column, values: store.load_many_in(cursor, table, column, values),
    )
    return cache
