"""SQLite adapter for the views: its types and upserts, tracking, in one transaction per batch.

What both adapters share (names, shapes, create/drop/load/dump, the failure record) is in
``adapter_shared.py``; this module holds SQLite's dialect only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.persistence import IntegrityError, OperationalError, Tracking
from eventsourcing.sqlite import SQLiteTrackingRecorder

from projections.adapter_shared import Convert, Shape, SqlViewStore, db_value
from projections.core import Key, PositionMoved, Row, Slot, Table, canonical, dumps


def _ts_from_db(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _bool_to_db(value: Any) -> int:
    return int(bool(value))


class _Shape(Shape):
    """The shared statements and SQLite's upsert."""

    def __init__(self, table: Table, mark: str, to_db: Convert, from_db: Convert) -> None:
        super().__init__(table, mark, to_db, from_db)
        self.upsert = (
            f'INSERT OR REPLACE INTO "{table.name}" ({self.columns}) VALUES ({self.marks})'
        )


class SQLiteViewStore(SqlViewStore[_Shape], SQLiteTrackingRecorder):
    """One projection's tables in the SQLite file, tracked with eventsourcing's tracking table."""

    mark = "?"
    sql_types: ClassVar[dict[str, str]] = {
        "text": "TEXT",
        "int": "INTEGER",
        "real": "REAL",
        "bool": "INTEGER",
        "ts": "TEXT",
        "json": "TEXT",
    }
    to_db: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "ts": canonical,
        "json": dumps,
        "bool": _bool_to_db,
    }
    from_db: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "ts": _ts_from_db,
        "json": json.loads,
        "bool": bool,
    }
    shape_class = _Shape

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shapes = {}

    def tracking_table(self) -> str:
        return '"tracking"'

    def _instant_param(self, value: datetime) -> Any:
        return value.isoformat()

    def column_names(self, c: Any, name: str) -> set[str]:
        c.execute(f'PRAGMA table_info("{name}")')
        return {row["name"] for row in c.fetchall()}

    def has_table(self, name: str) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
            return c.fetchone() is not None

    def load_many_in(self, c: Any, table: Table, column: str, values: Sequence[Any]) -> list[Row]:
        """Every row whose ``column`` is one of ``values``, in the caller's transaction."""
        kind, read = table.kinds[column], self._shape(table).read
        found: list[Row] = []
        values = list(values)
        for start in range(0, len(values), 500):  # SQLite's bound-parameter limit
            chunk = [db_value(self.to_db, kind, v) for v in values[start : start + 500]]
            marks = ", ".join("?" for _ in chunk)
            c.execute(f'SELECT * FROM "{table.name}" WHERE "{column}" IN ({marks})', chunk)
            found += [read(r) for r in c.fetchall()]
        return found

    def write(
        self,
        changes: Sequence[tuple[Table, Key, Row | None]],
        position: int | None,
        expected: int | None = None,
        new: Collection[Slot] = (),  # SQLite's upsert costs about what its insert does
    ) -> None:
        changes, _ = self.physical_changes(changes, ())
        try:
            self._write(changes, position, expected)
        except (OperationalError, IntegrityError) as e:
            # SQLite cannot upgrade a read to a write after another writer committed
            # ("database is locked"), and refuses a tracking position that did not move on:
            # both mean another projector got there first.
            if isinstance(e, IntegrityError) or "locked" in str(e):
                raise PositionMoved(expected, None) from e
            raise

    def _write(
        self,
        changes: Sequence[tuple[Table, Key, Row | None]],
        position: int | None,
        expected: int | None,
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "SELECT MAX(notification_id) FROM tracking WHERE application_name = ?",
                (self.application_name,),
            )
            found = c.fetchone()[0]
            if (found or 0) != (expected or 0):
                raise PositionMoved(expected, found)
            self.apply_in(c, changes)
            if position is not None:
                self._insert_tracking(c, Tracking(self.application_name, position))

    def apply_in(
        self,
        c: Any,
        changes: Sequence[tuple[Table, Key, Row | None]],
        new: Collection[Slot] = (),  # an upsert costs about what an insert does: unused
    ) -> None:
        """Write changed rows inside the caller's transaction (no tracking position)."""
        # One statement per table and kind of change: each slot changes once per batch,
        # so the order between rows does not matter.
        upserts: dict[str, tuple[_Shape, list[list[Any]]]] = {}
        deletes: dict[str, tuple[_Shape, list[list[Any]]]] = {}
        for table, key, row in changes:
            shape = self._shape(table)
            if row is None:
                deletes.setdefault(table.name, (shape, []))[1].append(shape.key_values(key))
            else:
                upserts.setdefault(table.name, (shape, []))[1].append(shape.values(row))
        for shape, keys in deletes.values():
            c.executemany(shape.delete, keys)
        for shape, values in upserts.values():
            c.executemany(shape.upsert, values)

    def position(self) -> int | None:
        found: int | None = self.max_tracking_id(self.application_name)
        return found
