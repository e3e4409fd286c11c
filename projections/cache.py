"""The projector's row cache: a bounded LRU, a Bloom filter of evicted slots, batch prefetch.

The prefetch loads the rows of a batch's aggregates in one query per table. A
:class:`~projections.core.Batch` reads through the cache; the projector (the only writer of
its views) keeps one across batches, so catching up does not query the same ticket again and
again, and memory stays flat however many events there are.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from projections.tables import Row, Slot, Table

_UNKNOWN: Final[Any] = object()  # "not held here", distinct from a cached absence (None)


class SlotFilter:
    """A fixed-size Bloom filter of slots: "certainly never added" or "maybe added".

    The LRU adds the rows it evicts, so a projector rebuilding into empty views can still tell
    a row it never wrote (no query needed) from one it wrote and forgot (query the store) once
    the cache overflows. Memory is fixed (``bits / 8`` bytes); a false positive only costs a
    query, and they stay rare (about 0.5% after a million evictions at the default size).
    """

    HASHES = 3

    def __init__(self, bits: int = 1 << 24) -> None:
        if bits <= 0 or bits & (bits - 1):
            raise ValueError("bits must be a power of two")
        self.mask = bits - 1
        self.bits = bytearray(bits >> 3)

    def _positions(self, slot: Slot) -> tuple[int, ...]:
        # Double hashing (Kirsch-Mitzenmacher) from one 64-bit hash; hash() is stable within
        # a process, which is all an in-memory filter needs.
        h = hash(slot) & 0xFFFF_FFFF_FFFF_FFFF
        step = (h >> 32) | 1
        mask = self.mask
        return tuple((h + i * step) & mask for i in range(self.HASHES))

    def add(self, slot: Slot) -> None:
        bits = self.bits
        for p in self._positions(slot):
            bits[p >> 3] |= 1 << (p & 7)

    def __contains__(self, slot: Slot) -> bool:
        bits = self.bits
        return all(bits[p >> 3] >> (p & 7) & 1 for p in self._positions(slot))


class LRU:
    """A small bounded cache of committed rows (``None`` caches a known absence).

    It remembers which rows it evicted (in a fixed-size :class:`SlotFilter`, made at the
    first eviction), so :meth:`may_have_forgotten` can vouch for slots it never held.
    ``complete`` holds (table, aggregate id) pairs whose rows it holds *all* of (see
    :func:`prefetch_rows`): a slot of such an aggregate that it lacks is a known absence.
    Evicting any row of the aggregate takes the pair out again.
    """

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self.data: OrderedDict[Slot, Row | None] = OrderedDict()
        self.forgotten: SlotFilter | None = None
        self.cleared = False  # clear() dropped rows without remembering which
        self.complete: set[tuple[str, Any]] = set()

    def get(self, slot: Slot) -> tuple[bool, Row | None]:
        data = self.data
        row = data.get(slot, _UNKNOWN)
        if row is _UNKNOWN:
            if self.complete and (slot[0], slot[1][0]) in self.complete:
                return True, None
            return False, None
        data.move_to_end(slot)
        return True, row

    def peek(self, slot: Slot) -> tuple[bool, Row | None]:
        """As :meth:`get`, without making the slot the most recently used."""
        row = self.data.get(slot, _UNKNOWN)
        if row is _UNKNOWN:
            return (slot[0], slot[1][0]) in self.complete, None
        return True, row

    def put(self, slot: Slot, row: Row | None) -> None:
        data = self.data
        data[slot] = row
        data.move_to_end(slot)
        while len(data) > self.size:
            old, old_row = data.popitem(last=False)
            if self.complete:
                self.complete.discard((old[0], old[1][0]))
            if old_row is not None:  # a forgotten absence is still an absence
                if self.forgotten is None:
                    self.forgotten = SlotFilter()
                self.forgotten.add(old)

    def may_have_forgotten(self, slot: Slot) -> bool:
        """False only when this cache certainly never held (and dropped) a row for ``slot``."""
        if self.cleared:
            return True
        return self.forgotten is not None and slot in self.forgotten

    def clear(self) -> None:
        self.data.clear()
        self.complete.clear()
        self.cleared = True  # forgotten rows may exist in the store


# Key columns that name an aggregate: a table keyed first by one of them holds rows about that
# ticket, customer or callback, which one query can fetch for many aggregates at once.
AGGREGATE_COLUMNS = frozenset({"ticket_id", "customer_id", "callback_id", "originator_id"})


class Tabled(Protocol):
    """What :func:`prefetch_rows` needs of a projection: its tables."""

    @property
    def tables(self) -> tuple[Table, ...]: ...


def aggregate_ids(events: Iterable[Any]) -> list[str]:
    """Every aggregate some events are about: their own, their ticket's, their customer's."""
    ids: dict[str, None] = {}
    for event in events:
        ids[str(event.originator_id)] = None
        for name in ("source_ticket_id", "ticket_id", "customer_id", "callback_id"):
            value = getattr(event, name, None)
            if value:
                ids[str(value)] = None
    return list(ids)


def prefetch_rows(
    cache: LRU,
    projection: Tabled,
    ids: Sequence[str],
    load_many: Callable[[Table, str, Sequence[str]], list[Row]],
) -> None:
    """Put every stored row of ``ids`` into ``cache``, one query per aggregate-keyed table.

    ``load_many(table, column, values)`` returns the stored rows whose ``column`` is one of
    ``values``. Rows the cache holds already stay (they are at least as new as the store's);
    afterwards the cache answers for every slot of those aggregates, with no query: a slot it
    lacks is absent (:attr:`LRU.complete`). Append-only tables are never read back: skipped.
    """
    for table in projection.tables:
        column = table.key[0]
        if table.append_only or column not in AGGREGATE_COLUMNS:
            continue
        name, complete, data = table.name, cache.complete, cache.data
        wanted = [i for i in ids if (name, i) not in complete]
        if not wanted:
            continue
        key_of = table.key_getter
        found = load_many(table, column, wanted)
        if len(complete) > 2 * cache.size:
            # Pairs of aggregates with no rows are never evicted with a row: bound them too.
            complete.clear()
        # Complete first: putting rows may evict others, and an eviction takes the pair out.
        complete.update((name, i) for i in wanted)
        for row in found:
            slot = (name, key_of(row))
            if slot not in data:
                cache.put(slot, row)
