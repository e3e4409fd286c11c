"""A projector restarted on views it did not write (after a crash, a redeploy) reads the rows of
each batch's tickets up front, one query per table, not one query per row its folds ask for.

Given views projected half way by one projector, when a new projector catches up the rest,
then no row of a ticket-keyed table is read on its own, and the views equal a clean rebuild;
a batch of a few live events still reads its rows one by one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bootstrap import build_followers
from config.settings import Settings
from domain.desk import Desk
from projections.core import AGGREGATE_COLUMNS
from tests.factories import FakeClock, bulk_complaints
from tests.integration.views import database_url, digests, rebuilt
from workers.projector import Projector

pytestmark = pytest.mark.postgres


def test_a_restarted_projector_reads_rows_per_batch_and_ends_with_a_rebuilds_views(
    desk: Desk, clock: FakeClock
) -> None:
    settings = Settings(database_url=database_url(desk))
    bulk_complaints(desk, clock, 300)  # 1,800 events
    first = Projector(desk, build_followers(settings), batch_size=900)
    assert first.step() == 900  # half way, then the process is gone

    restarted = build_followers(settings)
    assert all(not f.fresh and f.position == 900 for f in restarted)
    single: Counter[str] = Counter()
    many: Counter[str] = Counter()
    for follower in restarted:
        store: Any = follower.store
        load, load_many = store.load, store.load_many

        def counted_load(table: Any, key: Any, load: Any = load) -> Any:
            single[table.name] += 1
            return load(table, key)

        def counted_many(table: Any, column: str, values: Any, load_many: Any = load_many) -> Any:
            many[table.name] += 1
            return load_many(table, column, values)

        store.load, store.load_many = counted_load, counted_many
    # A few live events read their rows one by one: a prefetch would cost more.
    assert Projector(desk, restarted, batch_size=10).step() == 10
    assert not many
    assert single
    single.clear()
    assert Projector(desk, restarted, batch_size=300).catch_up() == 890

    keyed_by_aggregate = {
        t.name
        for f in restarted
        for t in f.projection.tables
        if t.key[0] in AGGREGATE_COLUMNS and not t.append_only
    }
    assert keyed_by_aggregate
    assert set(many) == keyed_by_aggregate
    assert max(many.values()) == 3  # one query per table per batch of 300
    assert not keyed_by_aggregate & set(single)  # no ticket's row read on its own

    assert digests(rebuilt(desk, settings)) == digests(restarted)
