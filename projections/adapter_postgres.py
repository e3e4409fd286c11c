"""PostgreSQL adapter for the views: its types, COPY and staged upserts, tracking, one transaction.

What both adapters share (names, shapes, create/drop/load/dump, the failure record) is in
``adapter_shared.py``; this module holds PostgreSQL's dialect only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, ClassVar

import structlog
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import Cursor

from projections.adapter_shared import Convert, Shape, SqlViewStore
from projections.core import Key, PositionMoved, Row, Slot, Table, dumps

log = structlog.get_logger("casetrail.views")

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


class _Shape(Shape):
    """The shared statements and PostgreSQL's: upserts from values or a staging table, COPY."""

    def __init__(self, table: Table, mark: str, to_db: Convert, from_db: Convert) -> None:
        super().__init__(table, mark, to_db, from_db)
        names = self.columns
        stage = f'"stage_{table.name}"'
        self.upsert_values = _upsert_sql(table, f"VALUES ({self.marks})")
        self.create_stage = (
            f'CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE "{table.name}") ON COMMIT DELETE ROWS'
        )
        self.copy_stage = f"COPY {stage} ({names}) FROM STDIN"
        self.upsert_stage = _upsert_sql(table, f"SELECT {names} FROM {stage}")
        self.copy_table = f'COPY "{table.name}" ({names}) FROM STDIN'


class PostgresViewStore(SqlViewStore[_Shape], PostgresTrackingRecorder):
    """One projection's tables in PostgreSQL, tracked with eventsourcing's tracking table."""

    mark = "%s"
    sql_types: ClassVar[dict[str, str]] = {
        "text": "text",
        "int": "bigint",
        "real": "double precision",
        "bool": "boolean",
        "ts": "timestamptz",
        "json": "jsonb",
    }
    # JSON goes as text (our :func:`dumps`): PostgreSQL parses it into ``jsonb``, in COPY and
    # in parameters alike, and text skips a wrapper object per value. The rest psycopg adapts.
    to_db: ClassVar[dict[str, Callable[[Any], Any]]] = {"json": dumps}
    shape_class = _Shape

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shapes = {}

    def tracking_table(self) -> str:
        return f'"{self.tracking_table_name}"'

    def renamed_in(self, c: Cursor[Any], old: str, new: str) -> None:
        # Its primary-key index too, so the next rebuild can create its own.
        c.execute(f'ALTER INDEX IF EXISTS "{old}_pkey" RENAME TO "{new}_pkey"')

    def has_table(self, name: str) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (f'"{name}"',))
            found = c.fetchone()
            return bool(found and found["found"])

    def load_many_in(
        self, c: Cursor[Any], table: Table, column: str, values: Sequence[Any]
    ) -> list[Row]:
        """Every row whose ``column`` is one of ``values``, in the caller's transaction."""
        read = self._shape(table).read
        c.execute(f'SELECT * FROM "{table.name}" WHERE "{column}" = ANY(%s)', (list(values),))
        return [read(found) for found in c.fetchall()]

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
