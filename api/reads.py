"""The API's reads over the views: filtered, ordered, paged SQL in both dialects.

A view store's ``dump`` returns a whole table; pages of a worklist or of the SLA deadlines need
a WHERE, an ORDER BY and a LIMIT instead, and the boards the true number of rows behind a page
(a ``COUNT`` with the same WHERE). Each query runs on the view store's own datastore (the
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

QUEUE = "escalation_queue"


@dataclass(frozen=True)
class Filter:
    """One condition: SQL with ``?`` marks and its parameters."""

    sql: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Extra:
    """A column computed beside a table's own (SQL over the row, aliased ``t``) and its type;
    filters and the order may name it like any other column."""

    name: str
    sql: str
    kind: str = "text"


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

    def breached_at(self) -> Extra:
        """When each SLA clock was breached (business time), or null: the escalation queue's
        record of the breach (a breached clock is queued), else, while that view has not yet
        folded it, the due instant of a clock that ``sla_deadlines`` shows breached (where the
        SLA clock records a breach)."""
        due = """CASE WHEN t."state" = 'breached' THEN t."due_at" END"""
        if QUEUE not in self.followers:
            return Extra("breached_at", due, "ts")
        queue = self.table(QUEUE).name
        recorded = (
            f'(SELECT q."breached_at" FROM "{queue}" AS q WHERE q."ticket_id" = t."ticket_id" '
            'AND q."milestone" = t."milestone" AND q."cycle" = t."cycle")'
        )
        return Extra("breached_at", f"COALESCE({recorded}, {due})", "ts")

    def select(
        self,
        view: str,
        filters: Sequence[Filter],
        order: str,
        *,
        table: str | None = None,
        extra: Sequence[Extra] = (),
        limit: int = 200,
        offset: int = 0,
    ) -> list[Row]:
        """Rows of one view table (with ``extra`` columns) matching every filter, in
        ``order``, one page."""
        spec = self.table(view, table)
        source = f'"{spec.name}"'
        if extra:
            columns = "".join(f', {e.sql} AS "{e.name}"' for e in extra)
            source = f'(SELECT t.*{columns} FROM "{spec.name}" AS t) AS v'
        sql = f"SELECT * FROM {source} WHERE {_where(filters)} ORDER BY {order} LIMIT ? OFFSET ?"
        found = self._fetch(view, sql, [*_params(filters), limit, offset])
        dialect = self.dialect(view)
        return [_row(spec, dialect, r, extra) for r in found]

    def count(self, view: str, filters: Sequence[Filter], *, table: str | None = None) -> int:
        """How many rows of one view table match every filter (on every page)."""
        spec = self.table(view, table)
        sql = f'SELECT COUNT(*) AS n FROM "{spec.name}" WHERE {_where(filters)}'
        return int(self._fetch(view, sql, _params(filters))[0]["n"])

    def count_by(
        self, view: str, column: str, filters: Sequence[Filter], *, table: str | None = None
    ) -> dict[Any, int]:
        """``{value: rows}`` of one column over the rows matching every filter."""
        spec = self.table(view, table)
        sql = (
            f'SELECT "{column}" AS k, COUNT(*) AS n FROM "{spec.name}" '
            f'WHERE {_where(filters)} GROUP BY "{column}"'
        )
        return {r["k"]: int(r["n"]) for r in self._fetch(view, sql, _params(filters))}

    def _fetch(self, view: str, sql: str, params: Sequence[Any]) -> list[Any]:
        store = self.follower(view).store
        with store.datastore.transaction(commit=False) as c:
            c.execute(sql.replace("?", self.dialect(view).mark), list(params))
            return list(c.fetchall())


def _where(filters: Sequence[Filter]) -> str:
    return " AND ".join(f.sql for f in filters) or "1 = 1"


def _params(filters: Sequence[Filter]) -> list[Any]:
    return [p for f in filters for p in f.params]


def _row(table: Table, dialect: Dialect, raw: Any, extra: Sequence[Extra] = ()) -> Row:
    out: Row = {}
    for name, kind in (*table.columns, *((e.name, e.kind) for e in extra)):
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
