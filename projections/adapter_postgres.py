"""PostgreSQL adapter for the views: batched upserts and tracking in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import Cursor

from projections.core import (
    Key,
    PositionMoved,
    Row,
    Slot,
    StoreNaming,
    Table,
    dumps,
)

log = structlog.get_logger("casetrail.views")

_SQL_TYPES = {
    "text": "text",
    "int": "bigint",
    "real": "double precision",
    "bool": "boolean",
    "ts": "timestamptz",
    "json": "jsonb",
}

# Fewer rows than this go in with one multi-row statement (pipelined by psycopg); more are
# COPYed into a staging table and upserted from there in one statement — or, when the store
# is known to hold none of them (a rebuild's new rows), COPYed straight into the table.
COPY_THRESHOLD = 50


def _upsert_sql(table: Table, source: str) -> str:
    names = ", ".join(f'"{n}"' for n in table.names)
    keys = ", ".join(f'"{k}"' for k in table.key)
    updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in table.names if n not in table.key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return f'INSERT INTO "{table.name}" ({names}) {source} ON CONFLICT ({keys}) {action}'


@dataclass(frozen=True)
class _Shape:
    """A table's statements and row conversion, worked out once per table."""

    values: Callable[[Row], list[Any]]  # row -> column values, JSON columns as JSON text
    upsert_values: str
    create_stage: str
    copy_stage: str
    upsert_stage: str
    copy_table: str
    delete: str

    @classmethod
    def of(cls, table: Table) -> _Shape:
        names = ", ".join(f'"{n}"' for n in table.names)
        marks = ", ".join("%s" for _ in table.names)
        stage = f'"stage_{table.name}"'
        return cls(
            values=_row_values(table),
            upsert_values=_upsert_sql(table, f"VALUES ({marks})"),
            create_stage=(
                f'CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE "{table.name}") '
                "ON COMMIT DELETE ROWS"
            ),
            copy_stage=f"COPY {stage} ({names}) FROM STDIN",
            upsert_stage=_upsert_sql(table, f"SELECT {names} FROM {stage}"),
            copy_table=f'COPY "{table.name}" ({names}) FROM STDIN',
            delete=(
                f'DELETE FROM "{table.name}" WHERE '
                + " AND ".join(f'"{k}" = %s' for k in table.key)
            ),
        )


def _row_values(table: Table) -> Callable[[Row], list[Any]]:
    """``row -> [value per column]`` with one C-level getter; only JSON columns need work.

    JSON goes as text (our :func:`dumps`): PostgreSQL parses it into ``jsonb``, in COPY and in
    parameters alike, and text skips a wrapper object per value.
    """
    getter = itemgetter(*table.names)  # every table has at least two columns (key + value)
    json_at = [i for i, (_, kind) in enumerate(table.columns) if kind == "json"]
    if not json_at:
        return lambda row: list(getter(row))

    def values(row: Row) -> list[Any]:
        out = list(getter(row))
        for i in json_at:
            value = out[i]
            if value is not None:
                out[i] = dumps(value)
        return out

    return values


class PostgresViewStore(StoreNaming, PostgresTrackingRecorder):
    """One projection's tables in PostgreSQL, tracked with eventsourcing's tracking table."""

    _mark = "%s"
    _failure_types = ("text", "bigint", "timestamptz")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shapes: dict[str, _Shape] = {}

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
            c.execute(
                f'DELETE FROM "{self.tracking_table_name}" WHERE application_name = %s',
                (self.application_name,),
            )

    def adopt_in(self, c: Cursor[Any], shadow: PostgresViewStore) -> None:
        """Inside the caller's transaction: the shadow's tables and position become ours.

        The live tables are dropped, the shadow's renamed to their names (their primary-key
        indexes too, so the next rebuild can create its own), the shadow's tracking row
        becomes ours and any recorded failure of the view is forgotten.
        """
        for live, built in zip(self.tables(), shadow.tables(), strict=True):
            c.execute(f'DROP TABLE IF EXISTS "{live.name}"')
            c.execute(f'ALTER TABLE "{built.name}" RENAME TO "{live.name}"')
            c.execute(f'ALTER INDEX IF EXISTS "{built.name}_pkey" RENAME TO "{live.name}_pkey"')
        tracking = f'"{self.tracking_table_name}"'
        c.execute(f"DELETE FROM {tracking} WHERE application_name = %s", (self.application_name,))
        c.execute(
            f"UPDATE {tracking} SET application_name = %s WHERE application_name = %s",
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
            c.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (f'"{name}"',))
            found = c.fetchone()
            return bool(found and found["found"])

    def replace_rows(self, table: Table, rows: Sequence[Row]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f'DELETE FROM "{table.name}"')
            changes = [(table, table.key_of(row), row) for row in rows]
            self.apply_in(c, changes, {(table.name, key) for _, key, _ in changes})

    def load_many(self, table: Table, column: str, values: Sequence[Any]) -> list[Row]:
        """Every stored row whose ``column`` is one of ``values`` (a batch's prefetch)."""
        with self.datastore.transaction(commit=False) as c:
            return self.load_many_in(c, self.physical(table), column, values)

    def load_in(self, c: Cursor[Any], table: Table, key: Key) -> Row | None:
        """A row read inside the caller's transaction (the Kafka-fed projector's)."""
        where = " AND ".join(f'"{k}" = %s' for k in table.key)
        c.execute(f'SELECT * FROM "{table.name}" WHERE {where}', list(key))
        found = c.fetchone()
        if found is None:
            return None
        return {n: found[n] for n in table.names}

    def load_many_in(
        self, c: Cursor[Any], table: Table, column: str, values: Sequence[Any]
    ) -> list[Row]:
        """Every row whose ``column`` is one of ``values``, in the caller's transaction."""
        c.execute(f'SELECT * FROM "{table.name}" WHERE "{column}" = ANY(%s)', (list(values),))
        return [{n: found[n] for n in table.names} for found in c.fetchall()]

    def write(
        self,
        changes: Sequence[tuple[Table, Key, Row | None]],
        position: int | None,
        expected: int | None = None,
        new: Collection[Slot] = (),
    ) -> None:
        changes, new = self.physical_changes(changes, new)
        try:
            with self.datastore.transaction(commit=True) as c:
                self._claim(c, position, expected)
                self.apply_in(c, changes, new)
        except IntegrityError:
            if not new:
                raise
            # A row counted as new was there after all (a wrong hint): nothing of this
            # transaction was written; write it again replacing rows.
            log.warning("rows thought new were stored already", view=self.projection.name)
            self.write(changes, position, expected)

    def apply_in(
        self,
        c: Cursor[Any],
        changes: Sequence[tuple[Table, Key, Row | None]],
        new: Collection[Slot] = (),
    ) -> None:
        """Write changed rows inside the caller's transaction (no tracking position).

        Rows of slots in ``new`` are known not to be stored: many of them at once are COPYed
        straight into their table, with no staging table and no conflict handling (a
        rebuild's rows, about half the server's time of staging and upserting them).
        """
        upserts: dict[str, tuple[Table, list[list[Any]]]] = {}
        inserts: dict[str, tuple[Table, list[list[Any]]]] = {}
        deletes: dict[str, tuple[Table, list[Key]]] = {}
        for table, key, row in changes:
            if row is None:
                deletes.setdefault(table.name, (table, []))[1].append(key)
            else:
                into = inserts if new and (table.name, key) in new else upserts
                into.setdefault(table.name, (table, []))[1].append(self._shape(table).values(row))
        for table, keys in deletes.values():
            c.executemany(self._shape(table).delete, keys)
        for name, (table, rows) in inserts.items():
            if len(rows) < COPY_THRESHOLD:  # too few to be worth a COPY of their own
                upserts.setdefault(name, (table, []))[1].extend(rows)
                continue
            with c.copy(self._shape(table).copy_table) as copy:
                for values in rows:
                    copy.write_row(values)
        large = []
        for table, rows in upserts.values():
            shape = self._shape(table)
            if len(rows) < COPY_THRESHOLD:
                c.executemany(shape.upsert_values, rows)
            else:
                large.append((shape, rows))
        if large:
            # Catch-up and rebuild: COPY into staging tables, then upsert from them. The
            # statements without parameters go together, one round trip each group.
            c.execute(";\n".join(shape.create_stage for shape, _ in large))
            for shape, rows in large:
                with c.copy(shape.copy_stage) as copy:
                    for values in rows:
                        copy.write_row(values)
            c.execute(";\n".join(shape.upsert_stage for shape, _ in large))

    def _claim(self, c: Cursor[Any], position: int | None, expected: int | None) -> None:
        """Move the tracked position from ``expected`` to ``position``, or raise PositionMoved.

        Done first in the transaction, so a projector that fell behind another one can never
        apply again what the other already committed. With eventsourcing's single-row
        tracking this is one compare-and-set: the row lock it takes makes a racing projector
        wait, then see the moved position (PostgreSQL re-checks the WHERE on the row version
        that the winner committed) and update nothing.
        """
        app = self.application_name
        if not self.datastore.single_row_tracking:
            self._claim_multi_row(c, position, expected)
            return
        table = f'"{self.tracking_table_name}"'
        if position is None:
            # Nothing to track: only make sure the position is still the expected one.
            c.execute(f"SELECT notification_id FROM {table} WHERE application_name = %s", (app,))
            found_row = c.fetchone()
            found = found_row["notification_id"] if found_row else None
            if (found or 0) != (expected or 0):
                raise PositionMoved(expected, found)
            return
        if expected:
            c.execute(
                f"UPDATE {table} SET notification_id = %s "
                "WHERE application_name = %s AND notification_id = %s",
                (position, app, expected),
            )
        else:
            c.execute(
                f"INSERT INTO {table} (application_name, notification_id) VALUES (%s, %s) "
                "ON CONFLICT (application_name) DO NOTHING",
                (app, position),
            )
        if c.rowcount != 1:
            raise PositionMoved(expected, self._tracked(c))

    def _tracked(self, c: Cursor[Any]) -> int | None:
        c.execute(
            f'SELECT MAX(notification_id) AS n FROM "{self.tracking_table_name}" '
            "WHERE application_name = %s",
            (self.application_name,),
        )
        found_row = c.fetchone()
        found: int | None = found_row["n"] if found_row else None
        return found

    def _claim_multi_row(self, c: Cursor[Any], position: int | None, expected: int | None) -> None:
        """Legacy multi-row tracking: serialise on an advisory lock, check, then insert."""
        c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.application_name,))
        found = self._tracked(c)
        if (found or 0) != (expected or 0):
            raise PositionMoved(expected, found)
        if position is not None:
            self._insert_tracking(c, Tracking(self.application_name, position))

    def position(self) -> int | None:
        found: int | None = self.max_tracking_id(self.application_name)
        return found

    def dump(self, table: Table) -> list[Row]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f'SELECT * FROM "{self.physical(table).name}"')
            return [{n: r[n] for n in table.names} for r in c.fetchall()]
