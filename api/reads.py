"""The API's reads over the views: filtered, ordered, paged SQL in both dialects.

A view store's ``dump`` returns a whole table; pages of a worklist or of the SLA deadlines need
a WHERE, an ORDER BY and a LIMIT instead. Each query runs on the view store's own datastore (the
one ``bootstrap.build_followers`` gives every view), spelled for SQLite or PostgreSQL by
``projections.due_queries``' dialects, and converts columns back by the table's declared types.
Every answer says how far its view has caught up with the event log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.core import Row, Table
from projections.due_queries import Dialect, dialect_of


@dataclass(frozen=True)
class Filter:
    """One condition: SQL with ``?`` marks and its parameters."""

    sql: str
    params: tuple[Any, ...] = ()


class ViewReader:
    """Reads any view of the followers; ``head`` is the event log's last notification id."""

    def __init__(self, followers: Sequence[Any], desk: Any) -> None:
        self.followers = {f.projection.name: f for f in followers}
        self.desk = desk

    def dialect(self, view: str) -> Dialect:
        return dialect_of(self.follower(view).store)

    def follower(self, view: str) -> Any:
        return self.followers[view]

    def table(self, view: str, name: str | None = None) -> Table:
        projection = self.follower(view).projection
        table: Table = projection.table(name or view)
        return table

    def progress(self, view: str) -> dict[str, int]:
        """``{"position", "head", "lag"}``: the last event applied, the log's head, the gap."""
        head = int(self.desk.recorder.max_notification_id() or 0)
        position = int(self.follower(view).store.position() or 0)
        return {"position": position, "head": head, "lag": max(head - position, 0)}

    # ------------------------------------------------------------------ queries

    def department_filter(self, column: str, department: str) -> Filter:
        """The department or any under it (``station_1`` covers ``station_1.business``)."""
        prefix = department + "."
        return Filter(
            f'("{column}" = ? OR substr("{column}", 1, ?) = ?)',
            (department, len(prefix), prefix),
        )

    def equals(self, column: str, value: Any) -> Filter:
        return Filter(f'"{column}" = ?', (value,))

    def one_of(self, column: str, values: Sequence[Any]) -> Filter:
        marks = ", ".join("?" for _ in values)
        return Filter(f'"{column}" IN ({marks})', tuple(values))

    def before(self, view: str, column: str, at: datetime) -> Filter:
        return Filter(f'"{column}" <= ?', (self.dialect(view).ts_param(at),))

    def select(
        self,
        view: str,
        filters: Sequence[Filter],
        order: str,
        *,
        table: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[Row]:
        """Rows of one view table matching every filter, in ``order``, one page."""
        spec = self.table(view, table)
        dialect = self.dialect(view)
        where = " AND ".join(f.sql for f in filters) or "1 = 1"
        sql = f'SELECT * FROM "{spec.name}" WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?'
        params = [p for f in filters for p in f.params] + [limit, offset]
        store = self.follower(view).store
        with store.datastore.transaction(commit=False) as c:
            c.execute(sql.replace("?", dialect.mark), params)
            found = list(c.fetchall())
        return [_row(spec, dialect, r) for r in found]


def _row(table: Table, dialect: Dialect, raw: Any) -> Row:
    out: Row = {}
    for name, kind in table.columns:
        value = raw[name]
        if value is None:
            out[name] = None
        elif kind == "ts":
            out[name] = dialect.ts(value)
        elif kind == "json":
            out[name] = dialect.json(value)
        elif kind == "bool":
            out[name] = bool(value)
        else:
            out[name] = value
    return out
