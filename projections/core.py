"""What every projection shares: the fold's door to its rows, the batch that commits them, digests.

A projection is a pure fold: ``fold(event, rows)`` reads and writes rows of its own tables
through the :class:`Rows` interface and nothing else — no clock, no randomness, no write-side
queries. Times come from event metadata. The projector worker (``workers/projector.py``) gives
it a :class:`Batch`, which collects the changes of many events and hands them, together with
the tracking position of the last event, to the backend adapter in one transaction: a crash
can neither lose nor double an update.

Tables and row names live in ``tables.py``, the projector's row cache in ``cache.py``; both
are re-exported here, where the workers and tests import them from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Final, Protocol
from uuid import UUID

from domain.sla.clock import utc_text
from projections.cache import AGGREGATE_COLUMNS, LRU, SlotFilter, aggregate_ids, prefetch_rows
from projections.tables import COLUMN_TYPES, Key, Row, Slot, Table

__all__ = [
    "AGGREGATE_COLUMNS",
    "COLUMN_TYPES",
    "LRU",
    "Batch",
    "Key",
    "PositionMoved",
    "Projection",
    "Row",
    "Rows",
    "Slot",
    "SlotFilter",
    "Table",
    "ViewFailure",
    "ViewStore",
    "aggregate_ids",
    "canonical",
    "digest_rows",
    "dumps",
    "meta_of",
    "prefetch_rows",
]


class Rows(Protocol):
    """The only door a fold has: rows of its own tables, by key."""

    def get(self, table: str, key: Key) -> Row | None: ...

    def put(self, table: str, row: Row) -> None: ...

    def delete(self, table: str, key: Key) -> None: ...


class Projection:
    """Base of the read models: dispatches each event to ``on_<EventClassName>``."""

    name = "projection"
    version = 1  # bump when the fold changes: a rebuild is then due
    # True for a view whose rows combine events of several tickets (or of an aggregate that
    # addresses many tickets) in the order they were recorded: it is fed from the notification
    # log only. The Kafka topic keeps order per ticket, not across tickets.
    log_order_only = False
    tables: tuple[Table, ...] = ()
    _handlers: dict[str, Callable[[Any, Rows], None] | None]  # per instance, made on first use

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        try:
            handler = self._handlers[name]
        except (AttributeError, KeyError):
            handler = self._handler(name)
        if handler is not None:
            handler(event, rows)

    def _handler(self, name: str) -> Callable[[Any, Rows], None] | None:
        """``on_<name>`` or None, looked up once per event class: every event of a replay
        would otherwise build the name and search the class for it, in every view."""
        handlers: dict[str, Callable[[Any, Rows], None] | None]
        handlers = self.__dict__.setdefault("_handlers", {})
        found = handlers[name] = getattr(self, f"on_{name}", None)
        return found

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
