"""A view a Kafka feed used, rebuilt from the log, hands over to that feed without doubling.

Given views fed (at least once, deduplicated by applied versions) up to some event, and more
events recorded since, when the views are rebuilt from the log, then the feed's applied
versions are each aggregate's last version in the log; and when the feed redelivers every
event (a consumer resumed from old offsets), then all are skipped and no row changes.
"""

from __future__ import annotations

import pytest

from bootstrap import build_followers, build_projections
from cli.projections_cmd import rebuild_followers
from config.settings import Settings
from domain.desk import Desk
from projections.at_least_once import Deduplicated, applied_table
from projections.core import LRU, Batch
from tests.factories import FakeClock, bulk_complaints
from tests.integration.views import database_url, digests
from workers.projector import Projector

pytestmark = pytest.mark.postgres


def test_a_rebuilt_view_hands_over_to_its_kafka_feed(desk: Desk, clock: FakeClock) -> None:
    settings = Settings(database_url=database_url(desk))
    bulk_complaints(desk, clock, 40)
    fed = build_followers(settings, [Deduplicated(p) for p in build_projections()])
    Projector(desk, fed).catch_up()  # the feed's tables, as a Kafka-fed projector leaves them
    bulk_complaints(desk, clock, 20)  # recorded after the feed stopped

    total, _ = rebuild_followers(settings, None, batch_size=100)

    notes = desk.recorder.select_notifications(start=1, limit=10_000)
    assert total == len(notes)
    last = {str(n.originator_id): n.originator_version for n in notes}
    rebuilt = build_followers(settings)
    for follower in rebuilt:
        table = applied_table(follower.projection.name)
        stored = {r["originator_id"]: r["version"] for r in follower.store.dump(table)}
        assert stored == last, follower.projection.name
    before = digests(rebuilt)

    # The feed resumes from its old offsets: every event comes again.
    events = [desk.mapper.to_domain_event(n) for n in notes]
    for follower in build_followers(settings, [Deduplicated(p) for p in build_projections()]):
        view = follower.projection
        assert isinstance(view, Deduplicated)
        batch = Batch(view, follower.store, LRU())
        for event in events:
            view.fold(event, batch)
        batch.write(None, expected=follower.position)
        assert view.skipped == len(events), view.name
    assert digests(build_followers(settings)) == before
