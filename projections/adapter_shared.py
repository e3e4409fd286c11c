"""What the SQLite and PostgreSQL view stores share: table names, SQL shapes, the failure record.

:class:`SqlViewStore` is mixed in before the backend's eventsourcing tracking recorder. It
names a projection's tables (a rebuild's shadow tables carry a suffix until they are swapped
in), works out each table's statements once (:class:`Shape`), creates, drops, adopts, reads
and dumps them, and keeps the view's failure record. A store subclass brings only its dialect:
the parameter mark, the column types, how values convert on their way in and out, how changes
are written (upserts, COPY) and how its tracking position moves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from projections.core import Key, Projection, Row, Slot, Table, ViewFailure

FAILURES_TABLE = "view_failures"

Convert = Mapping[str, Callable[[Any], Any]]  # column type -> conversion of a non-null value


def renamed(table: Table, name: str) -> Table:
    """The same table under another name (a rebuild's shadow of a live table)."""
    return Table(name, table.key, table.columns, append_only=table.append_only)


def row_values(table: Table, convert: Convert) -> Callable[[Row], list[Any]]:
    """``row -> [value per column]``: one C-level getter, then only the columns that convert."""
    getter = itemgetter(*table.names)  # every table has at least two columns (key + value)
    converted = [(i, convert[kind]) for i, (_, kind) in enumerate(table.columns) if kind in convert]
    if not converted:
        return lambda row: list(getter(row))

    def values(row: Row) -> list[Any]:
        out = list(getter(row))
        for i, to_db in converted:
            value = out[i]
            if value is not None:
                out[i] = to_db(value)
        return out

    return values


def row_reader(table: Table, convert: Convert) -> Callable[[Any], Row]:
    """``stored row (by column name) -> Row``, converting only the columns that need it."""
    names = table.names
    converted = [(name, convert[kind]) for name, kind in table.columns if kind in convert]

    def read(found: Any) -> Row:
        row = {name: found[name] for name in names}
        for name, from_db in converted:
            value = row[name]
            if value is not None:
                row[name] = from_db(value)
        return row

    return read


def db_value(convert: Convert, kind: str, value: Any) -> Any:
    """One value of a column of type ``kind`` as the store takes it."""
    to_db = convert.get(kind)
    return value if to_db is None or value is None else to_db(value)


class Shape:
    """A table's statements and row conversions in one dialect, worked out once per table.

    An adapter's subclass adds the statements only its backend has (upserts, COPY).
    """

    def __init__(self, table: Table, mark: str, to_db: Convert, from_db: Convert) -> None:
        self.table = table
        self.mark = mark
        self.to_db = to_db
        self.values = row_values(table, to_db)  # row -> column values as the store takes them
        self.read = row_reader(table, from_db)  # stored row -> Row
        self.columns = ", ".join(f'"{n}"' for n in table.names)
        self.marks = ", ".join(mark for _ in table.names)
        where = " AND ".join(f'"{k}" = {mark}' for k in table.key)
        self.select = f'SELECT * FROM "{table.name}" WHERE {where}'
        self.delete = f'DELETE FROM "{table.name}" WHERE {where}'

    def key_values(self, key: Key) -> list[Any]:
        """A key as the store takes it, in the order of the key's parameter marks."""
        kinds, to_db = self.table.kinds, self.to_db
        return [db_value(to_db, kinds[k], v) for k, v in zip(self.table.key, key, strict=True)]


S = TypeVar("S", bound=Shape)


class SqlViewStore(Generic[S]):
    """The dialect-free half of a view store: one projection's tables in one SQL database.

    A store class sets ``projection``, ``application_name`` (its tracking name) and, for a
    rebuild's shadow store, ``suffix``: its tables are then ``<table><suffix>``, beside the
    live ones, until :meth:`adopt_in` swaps them in. Folds and batches only ever speak of
    the logical names; a store translates at its edge (nothing to do when there is no suffix).
    """

    projection: ClassVar[Projection]
    application_name: ClassVar[str]
    suffix: ClassVar[str] = ""
    datastore: Any
    # The dialect, set by each adapter.
    mark: ClassVar[str]  # the parameter mark
    sql_types: ClassVar[Mapping[str, str]]  # column type -> SQL type
    to_db: ClassVar[Convert] = {}
    from_db: ClassVar[Convert] = {}
    shape_class: type[S]  # the dialect's Shape
    _shapes: dict[str, S]  # set by the adapter's __init__

    if TYPE_CHECKING:  # eventsourcing's tracking recorder, later in the adapter's bases

        def create_table(self) -> None: ...

    def tracking_table(self) -> str:
        """The quoted name of the tracking table."""
        raise NotImplementedError  # each adapter's own

    def has_table(self, name: str) -> bool:
        raise NotImplementedError  # each adapter's own

    def apply_in(
        self, c: Any, changes: Sequence[tuple[Table, Key, Row | None]], new: Collection[Slot] = ()
    ) -> None:
        raise NotImplementedError  # each adapter's own

    def load_many_in(self, c: Any, table: Table, column: str, values: Sequence[Any]) -> list[Row]:
        raise NotImplementedError  # each adapter's own

    # ------------------------------------------------------------ names

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

    def _shape(self, table: Table) -> S:
        shape = self._shapes.get(table.name)
        if shape is None:
            shape = self._shapes[table.name] = self.shape_class(
                table, self.mark, self.to_db, self.from_db
            )
        return shape

    # ------------------------------------------------------------ tables

    def create_tables(self) -> None:
        self.create_table()  # eventsourcing's tracking table
        types = self.sql_types
        with self.datastore.transaction(commit=True) as c:
            for table in self.tables():
                cols = ", ".join(f'"{n}" {types[k]}' for n, k in table.columns)
                keys = ", ".join(f'"{k}"' for k in table.key)
                c.execute(
                    f'CREATE TABLE IF NOT EXISTS "{table.name}" ({cols}, PRIMARY KEY ({keys}))'
                )
                self._add_new_columns(c, table)
            self.create_failures_table(c)

    def _add_new_columns(self, c: Any, table: Table) -> None:
        """Columns a newer release declares that a table made by an older one lacks.

        They are added empty (a counter at zero): right for a column that counts facts of a
        new kind of event, which no event stored before the release can be. A column
        whose values old events bear on comes with a new projection ``version`` and a rebuild
        (``casetrail projections rebuild``), said in the release notes.
        """
        have = self.column_names(c, table.name)
        for name, kind in table.columns:
            if name not in have:
                # A counter starts at zero, as the fold starts a new row's counters.
                zero = " NOT NULL DEFAULT 0" if kind == "int" else ""
                c.execute(
                    f'ALTER TABLE "{table.name}" ADD COLUMN "{name}" {self.sql_types[kind]}{zero}'
                )

    def column_names(self, c: Any, name: str) -> set[str]:
        """The columns table ``name`` has (PostgreSQL; SQLite overrides)."""
        c.execute(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = current_schema() AND table_name = {self.mark}",
            (name,),
        )
        return {row["column_name"] for row in c.fetchall()}

    def drop_tables(self) -> None:
        self.create_table()
        with self.datastore.transaction(commit=True) as c:
            for table in self.tables():
                c.execute(f'DROP TABLE IF EXISTS "{table.name}"')
            c.execute(
                f"DELETE FROM {self.tracking_table()} WHERE application_name = {self.mark}",
                (self.application_name,),
            )

    def adopt_in(self, c: Any, shadow: SqlViewStore[S]) -> None:
        """Inside the caller's transaction (``c``): the shadow's tables and position become ours.

        The live tables are dropped and the shadow's renamed to their names (with what the
        backend names after a table: :meth:`renamed_in`), the shadow's tracking row becomes
        ours and any recorded failure of the view is forgotten.
        """
        for live, built in zip(self.tables(), shadow.tables(), strict=True):
            c.execute(f'DROP TABLE IF EXISTS "{live.name}"')
            c.execute(f'ALTER TABLE "{built.name}" RENAME TO "{live.name}"')
            self.renamed_in(c, built.name, live.name)
        tracking, m = self.tracking_table(), self.mark
        c.execute(f"DELETE FROM {tracking} WHERE application_name = {m}", (self.application_name,))
        c.execute(
            f"UPDATE {tracking} SET application_name = {m} WHERE application_name = {m}",
            (self.application_name, shadow.application_name),
        )
        self.create_failures_table(c)
        self.clear_failure_in(c)
        self._shapes.clear()

    def renamed_in(self, c: Any, old: str, new: str) -> None:
        """A table was renamed from ``old`` to ``new``: rename what goes by its name."""

    # ------------------------------------------------------------ reads

    def load(self, table: Table, key: Key) -> Row | None:
        with self.datastore.transaction(commit=False) as c:
            return self.load_in(c, self.physical(table), key)

    def load_in(self, c: Any, table: Table, key: Key) -> Row | None:
        """A row read inside the caller's transaction (the Kafka-fed projector's)."""
        shape = self._shape(table)
        c.execute(shape.select, shape.key_values(key))
        found = c.fetchone()
        return None if found is None else shape.read(found)

    def load_many(self, table: Table, column: str, values: Sequence[Any]) -> list[Row]:
        """Every stored row whose ``column`` is one of ``values`` (a batch's prefetch)."""
        with self.datastore.transaction(commit=False) as c:
            return self.load_many_in(c, self.physical(table), column, values)

    def replace_rows(self, table: Table, rows: Sequence[Row]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f'DELETE FROM "{table.name}"')
            changes = [(table, table.key_of(row), row) for row in rows]
            self.apply_in(c, changes, {(table.name, key) for _, key, _ in changes})

    def dump(self, table: Table) -> list[Row]:
        read = self._shape(table).read
        with self.datastore.transaction(commit=False) as c:
            c.execute(f'SELECT * FROM "{self.physical(table).name}"')
            return [read(r) for r in c.fetchall()]

    # ------------------------------------------------------------ the failure record

    def create_failures_table(self, c: Any) -> None:
        text, integer, instant = (self.sql_types[k] for k in ("text", "int", "ts"))
        c.execute(
            f'CREATE TABLE IF NOT EXISTS "{FAILURES_TABLE}" ('
            f"application_name {text} PRIMARY KEY, notification_id {integer} NOT NULL, "
            f"event {text} NOT NULL, originator_id {text} NOT NULL, "
            f"originator_version {integer} NOT NULL, error {text} NOT NULL, "
            f"failed_at {instant} NOT NULL)"
        )

    def record_failure(self, failure: ViewFailure) -> None:
        m = self.mark
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
        m = self.mark
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
            f'DELETE FROM "{FAILURES_TABLE}" WHERE application_name = {self.mark}',
            (self.application_name,),
        )

    def _instant_param(self, value: datetime) -> Any:
        return value
