"""SQLite adapter for the views: tables, upserts, tracking, in one transaction per batch."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError, Tracking
from eventsourcing.sqlite import SQLiteTrackingRecorder

from projections.core import (
    Key,
    PositionMoved,
    Row,
    Slot,
    StoreNaming,
    Table,
    canonical,
    dumps,
)

_SQL_TYPES = {
    "text": "TEXT",
    "int": "INTEGER",
    "real": "REAL",
    "bool": "INTEGER",
    "ts": "TEXT",
    "json": "TEXT",
}


def _to_db(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "ts":
        return canonical(value)
    if kind == "json":
        return dumps(value)
    if kind == "bool":
        return int(bool(value))
    return value


def _from_db(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "ts":
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if kind == "json":
        return json.loads(value)
    if kind == "bool":
        return bool(value)
    return value


def _ts_to_db(value: Any) -> Any:
    return canonical(value)


def _bool_to_db(value: Any) -> int:
    return int(bool(value))


_CONVERT: dict[str, Callable[[Any], Any]] = {"ts": _ts_to_db, "json": dumps, "bool": _bool_to_db}


@dataclass(frozen=True)
class _Shape:
    """A table's statements and row conversion, worked out once per table."""

    values: Callable[[Row], list[Any]]  # row -> column values as SQLite stores them
    upsert: str
    delete: str

    @classmethod
    def of(cls, table: Table) -> _Shape:
        names = ", ".join(f'"{n}"' for n in table.names)
        marks = ", ".join("?" for _ in table.names)
        return cls(
            values=_row_values(table),
            upsert=f'INSERT OR REPLACE INTO "{table.name}" ({names}) VALUES ({marks})',
            delete=(
                f'DELETE FROM "{table.name}" WHERE ' + " AND ".join(f'"{k}" = ?' for k in table.key)
            ),
        )


def _row_values(table: Table) -> Callable[[Row], list[Any]]:
    """``row -> [value per column]``: one C-level getter, then only the columns that convert."""
    getter = itemgetter(*table.names)  # every table has at least two columns (key + value)
    converted = [
        (i, _CONVERT[kind]) for i, (_, kind) in enumerate(table.columns) if kind in _CONVERT
    ]

    def values(row: Row) -> list[Any]:
        out = list(getter(row))
        for i, convert in converted:
            value = out[i]
            if value is not None:
                out[i] = convert(value)
        return out

    return values


class SQLiteViewStore(StoreNaming, SQLiteTrackingRecorder):
    """One projection's tables in the SQLite file, tracked with eventsourcing's tracking table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shapes: dict[str, _Shape] = {}

    def _instant_param(self, value: datetime) -> Any:
        return value.isoformat()

    def _shape(self, table: Table) -> _Shape:
        shape = self._shapes.get(table.name)
        if shape is None:
            shape = self._shapes[table.name] = _Shape.of(table)
        return shape

    def create_tables(self) -> None:
        self.create_table()  # eventsourcing's tracking table
        with self.datastore.transaction(commit=True) as c:
            for table in self.tables():
                cols = ", ".join(f'"{n}" {_SQL_TYPES[k]}' for n, k in table.columns)
                keys = ", ".join(f'"{k}"' for k in table.key)
                c.execute(
                    f'CREATE TABLE IF NOT EXISTS "{table.name}" ({cols}, PRIMARY KEY ({keys}))'
                )
            self.create_failures_table(c)

    def drop_tables(self) -> None:
        self.create_table()
        with self.datastore.transaction(commit=True) as c:
            for table in self.tables():
                c.execute(f'DROP TABLE IF EXISTS "{table.name}"')
            c.execute("DELETE FROM tracking WHERE application_name = ?", (self.application_name,))

    def adopt_in(self, c: Any, shadow: SQLiteViewStore) -> None:
        """Inside the caller's transaction: the shadow's tables and position become ours.

        The live tables are dropped and the shadow's renamed to their names (SQLite renames
        their key indexes with them), the shadow's tracking rows become ours and any recorded
        failure of the view is forgotten.
        """
        for live, built in zip(self.tables(), shadow.tables(), strict=True):
            c.execute(f'DROP TABLE IF EXISTS "{live.name}"')
            c.execute(f'ALTER TABLE "{built.name}" RENAME TO "{live.name}"')
        c.execute("DELETE FROM tracking WHERE application_name = ?", (self.application_name,))
        c.execute(
            "UPDATE tracking SET application_name = ? WHERE application_name = ?",
            (self.application_name, shadow.application_name),
        )
        self.create_failures_table(c)
        self.clear_failure_in(c)
        self._shapes.clear()

    def load(self, table: Table, key: Key) -> Row | None:
        with self.datastore.transaction(commit=False) as c:
            return self.load_in(c, self.physical(table), key)

    def has_table(self, name: str) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
            return c.fetchone() is not None

    def replace_rows(self, table: Table, rows: Sequence[Row]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f'DELETE FROM "{table.name}"')
            self.apply_in(c, [(table, table.key_of(row), row) for row in rows])

    def load_many(self, table: Table, column: str, values: Sequence[Any]) -> list[Row]:
        """Every stored row whose ``column`` is one of ``values`` (a batch's prefetch)."""
        with self.datastore.transaction(commit=False) as c:
            return self.load_many_in(c, self.physical(table), column, values)

    def load_in(self, c: Any, table: Table, key: Key) -> Row | None:
        """A row read inside the caller's transaction (the Kafka-fed projector's)."""
        where = " AND ".join(f'"{k}" = ?' for k in table.key)
        kinds = table.kinds
        params = [_to_db(kinds[k], v) for k, v in zip(table.key, key, strict=True)]
        c.execute(f'SELECT * FROM "{table.name}" WHERE {where}', params)
        found = c.fetchone()
        if found is None:
            return None
        return {n: _from_db(k, found[n]) for n, k in table.columns}

    def load_many_in(self, c: Any, table: Table, column: str, values: Sequence[Any]) -> list[Row]:
        """Every row whose ``column`` is one of ``values``, in the caller's transaction."""
        kind = table.kinds[column]
        found: list[Row] = []
        values = list(values)
        for start in range(0, len(values), 500):  # SQLite's bound-parameter limit
            chunk = [_to_db(kind, v) for v in values[start : start + 500]]
            marks = ", ".join("?" for _ in chunk)
            c.execute(f'SELECT * FROM "{table.name}" WHERE "{column}" IN ({marks})', chunk)
            found += [{n: _from_db(k, r[n]) for n, k in table.columns} for r in c.fetchall()]
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

    def apply_in(self, c: Any, changes: Sequence[tuple[Table, Key, Row | None]]) -> None:
        """Write changed rows inside the caller's transaction (no tracking position)."""
        # One statement per table and kind of change: each slot changes once per batch,
        # so the order between rows does not matter.
        upserts: dict[str, tuple[_Shape, list[list[Any]]]] = {}
        deletes: dict[str, tuple[_Shape, list[list[Any]]]] = {}
        for table, key, row in changes:
            shape = self._shape(table)
            if row is None:
                kinds = table.kinds
                deletes.setdefault(table.name, (shape, []))[1].append(
                    [_to_db(kinds[k], v) for k, v in zip(table.key, key, strict=True)]
                )
            else:
                upserts.setdefault(table.name, (shape, []))[1].append(shape.values(row))
        for shape, keys in deletes.values():
            c.executemany(shape.delete, keys)
        for shape, values in upserts.values():
            c.executemany(shape.upsert, values)

    def position(self) -> int | None:
        return self.max_tracking_id(self.application_name)

    def dump(self, table: Table) -> list[Row]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f'SELECT * FROM "{self.physical(table).name}"')
            return [{n: _from_db(k, r[n]) for n, k in table.columns} for r in c.fetchall()]
