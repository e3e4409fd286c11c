"""Read queries of the SLA clock and the callback scheduler, in both SQL dialects.

The view adapters know how to write a projection's rows; these are the few *reads* the workers
need that a key lookup cannot answer: "which SLA steps are due by this instant, earliest first",
"when is the next one due", "which answered tickets still wait for their post-service callback",
"which graded customers have a callback plan". Each runs on the view store's own datastore
(``datastore.transaction(commit=False)``), in SQLite or PostgreSQL spelling.

Timestamps: SQLite keeps them as canonical UTC text (``2026-10-12T01:00:00.000000+00:00``, see
``projections.core.canonical``), which sorts like the instants it spells, so ``<=`` and ``MIN``
work on the text; PostgreSQL keeps ``timestamptz``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.adapter_sqlite import SQLiteViewStore
from projections.core import canonical

SLA_TABLE = "sla_deadlines"
QUEUE_TABLE = "escalation_queue"
CALLBACK_TICKETS = "callback_plan_tickets"
CALLBACK_CUSTOMERS = "callback_plan_customers"


@dataclass(frozen=True)
class DueRow:
    """One SLA clock (ticket, milestone, cycle) whose next step is due."""

    ticket_id: str
    milestone: str
    cycle: int
    number: str | None
    department: str | None
    next_action_at: datetime
    next_action: dict[str, Any] | None


@dataclass(frozen=True)
class AwaitingCallback:
    """A ticket answered in its current cycle, with no post-service callback yet."""

    ticket_id: str
    number: str | None
    kind: str
    customer_id: str | None
    department: str | None
    cycle: int
    answered_at: datetime


@dataclass(frozen=True)
class GradedCustomer:
    """A customer with a grade (A/B/C) and where its periodic callbacks stand."""

    customer_id: str
    name: str | None
    grade: str
    graded_at: datetime | None
    periodic_count: int
    last_periodic_due_at: datetime | None


class Dialect:
    """How one backend spells parameters, timestamps and JSON."""

    mark = "%s"

    def ts_param(self, value: datetime) -> Any:
        return value

    def ts(self, value: Any) -> datetime | None:
        return value  # type: ignore[no-any-return]

    def json(self, value: Any) -> Any:
        return value

    def true(self) -> str:
        return "TRUE"


class SQLiteDialect(Dialect):
    mark = "?"

    def ts_param(self, value: datetime) -> Any:
        return canonical(value)

    def ts(self, value: Any) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    def json(self, value: Any) -> Any:
        return None if value is None else json.loads(value)

    def true(self) -> str:
        return "1"


def dialect_of(store: Any) -> Dialect:
    return SQLiteDialect() if isinstance(store, SQLiteViewStore) else Dialect()


class ViewQueries:
    """The workers' reads over the views, on any view store of the configured backend.

    Every view store built by ``bootstrap.build_followers`` shares one datastore, so any
    of them reaches every view table.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.dialect = dialect_of(store)

    @classmethod
    def of(cls, followers: Sequence[Any]) -> ViewQueries:
        """Queries on the followers' datastore (the sla_deadlines store when there is one)."""
        if not followers:
            raise ValueError("no view store: build_followers() returned nothing")
        chosen = next((f for f in followers if f.projection.name == SLA_TABLE), followers[0])
        return cls(chosen.store)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        sql = sql.replace("?", self.dialect.mark)
        with self.store.datastore.transaction(commit=False) as c:
            c.execute(sql, list(params))
            return list(c.fetchall())

    def has_table(self, table: str) -> bool:
        if isinstance(self.dialect, SQLiteDialect):
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = (
                "SELECT tablename FROM pg_tables "
                "WHERE schemaname = current_schema() AND tablename = ?"
            )
        return bool(self._rows(sql, [table]))

    def ensure_indexes(self) -> None:
        """An index on next_action_at, so finding the next due step does not scan every clock;
        and the SLA board's (``api/routes/views.py``): clocks by state and due instant (its
        counts, its breached and at-risk lists), open escalations by level and latest step."""
        wanted = [
            (SLA_TABLE, "next_action_at", ("next_action_at",)),
            (SLA_TABLE, "state_due_at", ("state", "due_at")),
            (QUEUE_TABLE, "level_last_escalated_at", ("level", "last_escalated_at")),
        ]
        present = {table for table in {t for t, _, _ in wanted} if self.has_table(table)}
        with self.store.datastore.transaction(commit=True) as c:
            for table, name, columns in wanted:
                if table in present:
                    spelled = ", ".join(f'"{column}"' for column in columns)
                    c.execute(
                        f'CREATE INDEX IF NOT EXISTS "{table}_{name}" ON "{table}" ({spelled})'
                    )

    # ------------------------------------------------------------ SLA clock

    def due(self, until: datetime, limit: int = 500, exclude: Sequence[str] = ()) -> list[DueRow]:
        """Running clocks whose next step is due by ``until``, earliest first; not those of
        the tickets in ``exclude`` (held back by the SLA clock for a while)."""
        skip = _not_in(exclude)
        rows = self._rows(
            f"SELECT ticket_id, milestone, cycle, number, department, next_action_at, next_action "
            f'FROM "{SLA_TABLE}" '
            f"WHERE next_action_at IS NOT NULL AND next_action_at <= ?{skip} "
            "ORDER BY next_action_at, ticket_id, milestone, cycle LIMIT ?",
            [self.dialect.ts_param(until), *exclude, limit],
        )
        out = []
        for r in rows:
            at = self.dialect.ts(r["next_action_at"])
            assert at is not None
            out.append(
                DueRow(
                    ticket_id=str(r["ticket_id"]),
                    milestone=r["milestone"],
                    cycle=int(r["cycle"]),
                    number=r["number"],
                    department=r["department"],
                    next_action_at=at,
                    next_action=self.dialect.json(r["next_action"]),
                )
            )
        return out

    def next_due(self, exclude: Sequence[str] = ()) -> datetime | None:
        """The earliest pending SLA step of any running clock (not of ``exclude``), or None."""
        rows = self._rows(
            f'SELECT MIN(next_action_at) AS at FROM "{SLA_TABLE}" '
            f"WHERE next_action_at IS NOT NULL{_not_in(exclude)}",
            list(exclude),
        )
        return self.dialect.ts(rows[0]["at"]) if rows else None

    # --------------------------------------------------- callback scheduler

    def awaiting_callback(self, kinds: Sequence[str], limit: int = 500) -> list[AwaitingCallback]:
        """Tickets of these kinds answered without a post-service callback, oldest first."""
        if not kinds:
            return []
        marks = ", ".join("?" for _ in kinds)
        rows = self._rows(
            "SELECT ticket_id, number, kind, customer_id, department, cycle, answered_at "
            f'FROM "{CALLBACK_TICKETS}" WHERE awaiting = {self.dialect.true()} '
            f"AND kind IN ({marks}) ORDER BY answered_at, ticket_id LIMIT ?",
            [*kinds, limit],
        )
        out = []
        for r in rows:
            at = self.dialect.ts(r["answered_at"])
            assert at is not None
            out.append(
                AwaitingCallback(
                    ticket_id=str(r["ticket_id"]),
                    number=r["number"],
                    kind=r["kind"],
                    customer_id=r["customer_id"],
                    department=r["department"],
                    cycle=int(r["cycle"]),
                    answered_at=at,
                )
            )
        return out

    def graded_customers(self, page: int = 1000) -> Iterator[GradedCustomer]:
        """Every customer graded A, B or C, in id order (paged by key)."""
        after = ""
        while True:
            rows = self._rows(
                "SELECT customer_id, name, grade, graded_at, periodic_count, last_periodic_due_at "
                f'FROM "{CALLBACK_CUSTOMERS}" '
                "WHERE grade IN ('A', 'B', 'C') AND customer_id > ? "
                "ORDER BY customer_id LIMIT ?",
                [after, page],
            )
            for r in rows:
                yield GradedCustomer(
                    customer_id=str(r["customer_id"]),
                    name=r["name"],
                    grade=r["grade"],
                    graded_at=self.dialect.ts(r["graded_at"]),
                    periodic_count=int(r["periodic_count"] or 0),
                    last_periodic_due_at=self.dialect.ts(r["last_periodic_due_at"]),
                )
            if len(rows) < page:
                return
            after = str(rows[-1]["customer_id"])


def _not_in(tickets: Sequence[str]) -> str:
    """The SQL condition leaving out these tickets (one placeholder each), or nothing."""
    if not tickets:
        return ""
    return f" AND CAST(ticket_id AS TEXT) NOT IN ({', '.join('?' for _ in tickets)})"
