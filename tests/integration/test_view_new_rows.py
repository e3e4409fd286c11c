"""Rows a projector knows to be new go straight into PostgreSQL (COPY, no upsert).

Given a view store, when a batch's rows are all new, then they are stored as given; when the
hint is wrong (a row counted as new is stored already), then the write still goes through,
replacing that row, and the position moves once: a wrong hint costs time, never rows.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from bootstrap import build_followers
from config.settings import Settings
from projections.adapter_postgres import COPY_THRESHOLD
from projections.core import Projection, Rows, Table

pytestmark = pytest.mark.postgres


class Counts(Projection):
    """A view of one table: a counter per key."""

    name = "counts"
    tables = (Table("counts", key=("k",), columns=(("k", "text"), ("n", "int"))),)

    def fold(self, event: Any, rows: Rows) -> None:  # not used: rows are written directly
        raise AssertionError("no events here")


def _stored(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT k, n FROM counts").fetchall())  # type: ignore[arg-type]


def test_new_rows_are_copied_in_and_a_wrong_hint_falls_back_to_replacing(
    fresh_pg_url: str,
) -> None:
    settings = Settings(database_url=fresh_pg_url)
    (follower,) = build_followers(settings, [Counts()])
    store: Any = follower.store
    table = Counts.tables[0]
    many = COPY_THRESHOLD + 10
    first = [(table, (f"k{i}",), {"k": f"k{i}", "n": 1}) for i in range(many)]

    store.write(first, 10, None, new={("counts", (f"k{i}",)) for i in range(many)})
    assert _stored(fresh_pg_url) == {f"k{i}": 1 for i in range(many)}
    assert store.position() == 10

    # k0 is stored already, yet the hint says every slot is new.
    second = [(table, (f"k{i}",), {"k": f"k{i}", "n": 2}) for i in range(many + 5)]
    store.write(second, 20, 10, new={("counts", (f"k{i}",)) for i in range(many + 5)})
    assert _stored(fresh_pg_url) == {f"k{i}": 2 for i in range(many + 5)}
    assert store.position() == 20
