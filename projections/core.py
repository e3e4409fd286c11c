"""What every projection shares: tables, the row interface a fold writes to, digests.

A projection is a pure fold: ``fold(event, rows)`` reads and writes rows of its own tables
through the :class:`Rows` interface and nothing else — no clock, no randomness, no write-side
queries. Times come from event metadata. The projector worker (``workers/projector.py``) gives
it a :class:`Batch`, which collects the changes of many events and hands them, together with
the tracking position of the last event, to the backend adapter in one transaction: a crash
can neither lose nor double an update.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any, ClassVar, Final, Protocol
from uuid import UUID

from domain.sla.clock import utc_text

Row = dict[str, Any]
Key = tuple[Any, ...]
Slot = tuple[str, Key]  # (table, key): one row of one projection
COLUMN_TYPES = ("text", "int", "real", "bool", "ts", "json")


def _key_getter(key: tuple[str, ...]) -> Callable[[Row], Key]:
    """A C-level ``row -> key tuple`` (``itemgetter`` returns a bare value for one column)."""
    if len(key) == 1:
        only = key[0]
        return lambda row: (row[only],)
    getter: Callable[[Row], Key] = itemgetter(*key)
    return getter


@dataclass(frozen=True)
class Table:
    """One view table: its key columns and its value columns with their types."""

    name: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (column, type) including the key columns
    append_only: bool = False  # the fold writes these rows and never reads them back
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    name_set: frozenset[str] = field(init=False, repr=False, compare=False)
    kinds: dict[str, str] = field(init=False, repr=False, compare=False)
    key_getter: Callable[[Row], Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [c for c, _ in self.columns]
        # Computed once: folds call put() for every event on the hot path.
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "name_set", frozenset(names))
        object.__setattr__(self, "kinds", dict(self.columns))
        object.__setattr__(self, "key_getter", _key_getter(self.key))
        for column, kind in self.columns:
            if kind not in COLUMN_TYPES:
                raise ValueError(f"{self.name}.{column}: unknown column type {kind!r}")
        missing = set(self.key) - set(names)
        if missing:
            raise ValueError(f"{self.name}: key columns {sorted(missing)} are not columns")

    def key_of(self, row: Row) -> Key:
        return self.key_getter(row)


class Rows(Protocol):
    """The only door a fold has: rows of its own tables, by key."""

    def get(self, table: str, key: Key) -> Row | None: ...

    def put(self, table: str, row: Row) -> None: ...

    def delete(self, table: str, key: Key) -> None: ...


class Projection:
    """Base of the read models: dispatches each event to ``on_<EventClassName>``."""

    name = "projection"
    version = 1  # bump when the fold changes: a rebuild is then due
    tables: tuple[Table, ...] = ()

    def fold(self, event: Any, rows: Rows) -> None:
        handler = getattr(self, f"on_{type(event).__name__}", None)
        if handler is not None:
            handler(event, rows)

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(f"{self.name} has no table {name!r}")


class ViewStore(Protocol):
    """A backend adapter: creates, reads and writes one projection's tables atomically."""

    def create_tables(self) -> None: ...

    def drop_tables(self) -> None: ...

    def load(self, table: Table, key: Key) -> Row | None: ...

    def load_many(self, table: Table, column: str, values: Sequence[Any]) -> list[Row]:
        """Every stored row whose ``column`` is one of ``values``."""
        ...

    def has_table(self, name: str) -> bool:
        """Whether a table of that name exists in the store (of this view or another feed's)."""
        ...

    def replace_rows(self, table: Table, rows: Sequence[Row]) -> None:
        """Every row of ``table`` replaced by ``rows`` in one transaction (position unmoved)."""
        ...

    def write(
        self,
        changes: Sequence[tuple[Table, Key, Row | None]],
        position: int | None,
        expected: int | None = None,
        new: Collection[Slot] = (),
    ) -> None:
        """Apply the changes and move the position, if the stored position is ``expected``.

        Raises :class:`PositionMoved` (and writes nothing) when another projector moved it.
        ``new`` names slots the store is known not to hold: a store may insert those rows
        without looking for one to replace (a hint; a wrong one must cost only time).
        """
        ...

    def position(self) -> int | None: ...

    def dump(self, table: Table) -> list[Row]: ...

    def record_failure(self, failure: ViewFailure) -> None:
        """Remember (replacing any earlier one) that the view stopped at an event."""
        ...

    def failure(self) -> ViewFailure | None:
        """The recorded failure of the view, if it is stopped."""
        ...

    def clear_failure(self) -> None:
        """The view got past its failure (or was rebuilt): forget it."""
        ...

    def adopt_in(self, c: Any, shadow: Any) -> None:
        """Inside the caller's transaction (``c``): the shadow store's tables and position
        replace this store's (a rebuild swapped in)."""
        ...


@dataclass(frozen=True)
class ViewFailure:
    """Why a view stopped: the event it could not fold or store, and the error.

    ``failed_at`` is the projector's wall clock when it gave up (an operational fact for the
    people who look after the system, never a business time).
    """

    view: str
    notification_id: int
    event: str  # the event's class name
    originator_id: str
    originator_version: int
    error: str
    failed_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "notification_id": self.notification_id,
            "event": self.event,
            "originator_id": self.originator_id,
            "originator_version": self.originator_version,
            "error": self.error,
            "failed_at": self.failed_at,
        }


FAILURES_TABLE = "view_failures"


class StoreNaming:
    """What the view store adapters share: the names of their tables, their failure record.

    A store class sets ``projection``, ``application_name`` (its tracking name) and, for a
    rebuild's shadow store, ``suffix``: its tables are then ``<table><suffix>``, beside the
    live ones, until :meth:`adopt_in` swaps them in. Folds and batches only ever speak of
    the logical names; a store translates at its edge (nothing to do when there is no suffix).
    """

    projection: ClassVar[Projection]
    application_name: ClassVar[str]
    suffix: ClassVar[str] = ""
    datastore: Any
    _mark = "?"  # the backend's parameter mark
    _failure_types: tuple[str, str, str] = ("TEXT", "INTEGER", "TEXT")  # text, int, instant

    def tables(self) -> list[Table]:
        """The projection's tables as this store names them."""
        return [self.physical(t) for t in self.projection.tables]

    def physical(self, table: Table) -> Table:
        """``table`` under this store's name for it."""
        if not self.suffix:
            return table
        cache: dict[str, Table] = self.__dict__.setdefault("_renamed", {})
        found = cache.get(table.name)
        if found is None:
            found = cache[table.name] = renamed(table, table.name + self.suffix)
        return found

    def physical_changes(
        self, changes: Sequence[tuple[Table, Key, Row | None]], new: Collection[Slot]
    ) -> tuple[Sequence[tuple[Table, Key, Row | None]], Collection[Slot]]:
        """A batch's changes and new slots under this store's table names."""
        if not self.suffix:
            return changes, new
        suffix = self.suffix
        return (
            [(self.physical(t), key, row) for t, key, row in changes],
            {(name + suffix, key) for name, key in new},
        )

    # ------------------------------------------------------------ the failure record

    def create_failures_table(self, c: Any) -> None:
        text, integer, instant = self._failure_types
        c.execute(
            f'CREATE TABLE IF NOT EXISTS "{FAILURES_TABLE}" ('
            f"application_name {text} PRIMARY KEY, notification_id {integer} NOT NULL, "
            f"event {text} NOT NULL, originator_id {text} NOT NULL, "
            f"originator_version {integer} NOT NULL, error {text} NOT NULL, "
            f"failed_at {instant} NOT NULL)"
        )

    def record_failure(self, failure: ViewFailure) -> None:
        m = self._mark
        with self.datastore.transaction(commit=True) as c:
            self.create_failures_table(c)
            c.execute(
                f'DELETE FROM "{FAILURES_TABLE}" WHERE application_name = {m}',
                (self.application_name,),
            )
            c.execute(
                f'INSERT INTO "{FAILURES_TABLE}" VALUES ({", ".join([m] * 7)})',
                (
                    self.application_name,
                    failure.notification_id,
                    failure.event,
                    failure.originator_id,
                    failure.originator_version,
                    failure.error.replace("\x00", "\\0"),  # no NUL in a text column
                    self._instant_param(failure.failed_at),
                ),
            )

    def failure(self) -> ViewFailure | None:
        m = self._mark
        if not self.has_table(FAILURES_TABLE):
            return None
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id, event, originator_id, originator_version, error, "
                f'failed_at FROM "{FAILURES_TABLE}" WHERE application_name = {m}',
                (self.application_name,),
            )
            found = c.fetchone()
        if found is None:
            return None
        failed_at = found["failed_at"]
        if isinstance(failed_at, str):
            failed_at = datetime.fromisoformat(failed_at)
        return ViewFailure(
            view=self.projection.name,
            notification_id=int(found["notification_id"]),
            event=found["event"],
            originator_id=found["originator_id"],
            originator_version=int(found["originator_version"]),
            error=found["error"],
            failed_at=failed_at,
        )

    def clear_failure(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            self.create_failures_table(c)
            self.clear_failure_in(c)

    def clear_failure_in(self, c: Any) -> None:
        c.execute(
            f'DELETE FROM "{FAILURES_TABLE}" WHERE application_name = {self._mark}',
            (self.application_name,),
        )

    def has_table(self, name: str) -> bool:
        raise NotImplementedError  # each adapter's own

    def _instant_param(self, value: datetime) -> Any:
        return value


def renamed(table: Table, name: str) -> Table:
    """The same table under another name (a rebuild's shadow of a live table)."""
    return Table(name, table.key, table.columns, append_only=table.append_only)


class PositionMoved(Exception):
    """Another projector committed to these views since this one read its position."""

    def __init__(self, expected: int | None, found: int | None) -> None:
        super().__init__(f"view position moved: expected {expected}, found {found}")
        self.expected = expected
        self.found = found


_UNKNOWN: Final[Any] = object()  # "no answer here, look further", distinct from a known absence


class Batch:
    """A unit of work over one projection's rows, committed with a tracking position.

    Committed rows are kept in a bounded LRU cache across batches (the projector is the only
    writer of its views), so catching up does not query the same ticket again and again, and
    memory stays flat however many events there are.

    ``pending`` is the previous batch while the projector commits it in the background: its
    rows are newer than the cache and the store, so reads look there first. The cache itself
    only ever receives rows the store has committed (:meth:`remember`) or returned.
    """

    def __init__(
        self,
        projection: Projection,
        store: ViewStore,
        cache: LRU,
        *,
        fresh: bool = False,
        pending: Batch | None = None,
    ) -> None:
        self.projection = projection
        self.store = store
        self.cache = cache
        # A store with no tracked position has no rows (rows and position commit together),
        # so every row in it was written by us: a slot the cache never forgot is an absence.
        self.fresh = fresh
        self.pending: dict[Slot, Row | None] = pending.dirty if pending is not None else {}
        self.tables = {t.name: t for t in projection.tables}
        self.dirty: dict[Slot, Row | None] = {}

    def get(self, table: str, key: Key) -> Row | None:
        slot = (table, key)
        row = self.dirty.get(slot, _UNKNOWN)
        if row is _UNKNOWN:
            row = self.pending.get(slot, _UNKNOWN)
            if row is _UNKNOWN:
                row = self._committed(slot)
        return None if row is None else dict(row)

    def _committed(self, slot: Slot) -> Row | None:
        """The row as the store has it: cached, known absent, or queried (and then cached)."""
        spec = self.tables[slot[0]]
        if spec.append_only:
            return self.store.load(spec, slot[1])
        hit, row = self.cache.get(slot)
        if not hit:
            if self.fresh and not self.cache.may_have_forgotten(slot):
                row = None
            else:
                row = self.store.load(spec, slot[1])
            self.cache.put(slot, row)
        return row

    def put(self, table: str, row: Row) -> None:
        spec = self.tables[table]
        if row.keys() != spec.name_set:
            unknown = row.keys() - spec.name_set
            if unknown:
                raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
            row = {name: row.get(name) for name in spec.names}
        self.dirty[(table, spec.key_getter(row))] = row

    def delete(self, table: str, key: Key) -> None:
        self.dirty[(table, key)] = None

    def changes(self) -> list[tuple[Table, Key, Row | None]]:
        """What :meth:`ViewStore.write` takes: every changed row (None: deleted)."""
        tables = self.tables
        return [(tables[t], key, row) for (t, key), row in self.dirty.items()]

    def new_slots(self) -> set[Slot]:
        """The changed slots the store certainly has no row for (see :meth:`ViewStore.write`).

        Absent, by what this projector knows without asking the store: the previous batch
        (committed before this one) does not write the slot, and the cache knows it absent —
        remembers it so, or (fresh views) never held nor forgot a row for it. Rows of
        append-only tables are never cached: in fresh views they count as new, and a key
        written twice only makes the store fall back to replacing.
        """
        if not self.fresh and not self.cache.data and not self.cache.complete:
            return set()  # nothing known absent: no need to look
        pending, cache, fresh = self.pending, self.cache, self.fresh
        new = set()
        for slot, row in self.dirty.items():
            if row is None or pending.get(slot) is not None:
                continue
            hit, cached = cache.peek(slot)
            if (cached is None) if hit else (fresh and not cache.may_have_forgotten(slot)):
                new.add(slot)
        return new

    def write(self, position: int | None, expected: int | None = None) -> None:
        """Write every change and the position in one transaction; the cache is not touched.

        Safe to run in another thread than the folding one: it only reads ``dirty``, which
        nothing changes once this batch's fold is over (folds get copies of rows), and peeks
        at the cache for slots the folding thread reads from ``dirty`` instead (see
        :meth:`new_slots`).
        """
        self.store.write(self.changes(), position, expected, new=self.new_slots())

    def remember(self) -> int:
        """After a successful write: cache the committed rows; returns rows changed."""
        cache, tables = self.cache, self.tables
        for slot, row in self.dirty.items():
            # Rows a fold only appends (never reads back) would just crowd the cache.
            if not tables[slot[0]].append_only:
                cache.put(slot, row)
        return len(self.dirty)

    def commit(self, position: int | None, expected: int | None = None) -> int:
        """Write every change and the position in one transaction; returns rows changed."""
        self.write(position, expected)
        count = self.remember()
        self.dirty = {}
        return count


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
    projection: Projection,
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


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return canonical(value)
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _encoder() -> Callable[[Any], str]:
    """``value -> JSON text`` as ``json.dumps(value, ensure_ascii=False, default=...)``.

    Built once: ``json.dumps`` with any non-default option builds a new encoder on every
    call, and ``JSONEncoder.encode`` builds a new C encoder on every call too. Rows hold no
    reference cycles, so the C encoder can go without the circular check and be reused
    (same text, about half the time per value); without the C accelerator, the plain encoder.
    """
    plain = json.JSONEncoder(ensure_ascii=False, default=_json_default)
    if c_make_encoder is None:
        return plain.encode
    make: Any = c_make_encoder
    chunks = make(None, _json_default, encode_basestring, None, ": ", ", ", False, False, True)

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


_encode = _encoder()


def dumps(value: Any) -> str:
    """JSON for storage: fast, datetimes as canonical UTC strings (digests re-canonicalise)."""
    if not value and type(value) in (list, dict):
        return "[]" if type(value) is list else "{}"  # the commonest values, by far
    return _encode(value)


# Types canonical() returns unchanged (exact types: subclasses take the general path).
_AS_IS = frozenset({str, int, bool, type(None)})

# Canonical text of recent UTC instants. The same instants come back again and again (a
# ticket's received, due and updated times in every version of its rows; business-hour
# deadlines shared by many tickets), and formatting one costs ten dict lookups.
_INSTANT_TEXT: dict[datetime, str] = {}
_INSTANT_TEXT_SIZE = 16_384


def _instant_text(value: datetime) -> str:
    text = _INSTANT_TEXT.get(value)  # equal instants, whatever their zone: one spelling
    if text is None:
        text = utc_text(value)  # the spelling the domain writes into event payloads
        if value.tzinfo is UTC:
            if len(_INSTANT_TEXT) >= _INSTANT_TEXT_SIZE:
                _INSTANT_TEXT.clear()  # crude but bounded; refills within a batch
            _INSTANT_TEXT[value] = text
    return text


def canonical(value: Any) -> Any:
    """One spelling per value, so digests agree across backends and runs."""
    # Exact-type fast paths first: folds canonicalise every SLA schedule they store.
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        out = {}
        for k in sorted(value):  # keys are distinct: the order of sorted(items), cheaper
            v = value[k]
            out[k] = v if type(v) in _AS_IS else canonical(v)
        return out
    if kind is list or kind is tuple:
        return [v if type(v) in _AS_IS else canonical(v) for v in value]
    if isinstance(value, datetime):
        return _instant_text(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def digest_rows(table: Table, rows: Iterable[Row]) -> tuple[int, str]:
    """(row count, sha256) of a table's rows in key order."""
    h = hashlib.sha256()
    count = 0
    ordered = sorted(
        (canonical(r) for r in rows), key=lambda r: json.dumps([r[k] for k in table.key])
    )
    for row in ordered:
        h.update(json.dumps([row[c] for c in table.names], ensure_ascii=False).encode())
        h.update(b"\n")
        count += 1
    return count, h.hexdigest()


def meta_of(event: Any) -> Any:
    """The event's metadata (actor, department, occurred_at, ...)."""
    return event.meta
