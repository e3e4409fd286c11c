"""A view table made by an older release gets the columns a newer one declares, at start."""

from __future__ import annotations

from bootstrap import build_followers
from config.settings import Settings
from domain.desk import Desk
from projections.department_performance import PERFORMANCE
from tests.factories import FakeClock, receive
from tests.integration.views import database_url
from workers.projector import Projector


def test_a_counter_added_by_a_release_appears_at_zero_on_existing_rows(
    desk: Desk, clock: FakeClock
) -> None:
    settings = Settings(database_url=database_url(desk))
    receive(desk)
    followers = build_followers(settings)
    Projector(desk, followers).catch_up()
    performance = next(f for f in followers if f.projection.name == "department_performance")
    table = performance.projection.table(PERFORMANCE)
    before = performance.store.dump(table)
    assert before
    assert all(row["breaches_withdrawn"] == 0 for row in before)
    # The table as the release before made it: without the column.
    with performance.store.datastore.transaction(commit=True) as c:
        c.execute(f'ALTER TABLE "{PERFORMANCE}" DROP COLUMN "breaches_withdrawn"')

    performance.store.create_tables()  # what a worker does when it starts

    after = performance.store.dump(table)
    assert after == before  # the same rows, the new counter at zero as a rebuild gives
    receive(desk)
    Projector(desk, build_followers(settings)).catch_up()
    assert sum(row["received"] for row in performance.store.dump(table)) == 2
