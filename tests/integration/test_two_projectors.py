"""Two projectors on the same views (a restarted worker beside a live one, or two replicas)
never apply an event twice: the second one's batch is refused and it resumes from the store.
"""

from __future__ import annotations

import threading

import pytest

from bootstrap import build_followers
from config.settings import Settings
from domain.desk import Desk
from tests.factories import FakeClock, bulk_complaints
from tests.integration.views import database_url, digests, rebuilt
from workers.projector import Projector

pytestmark = pytest.mark.postgres


def test_two_projectors_racing_give_the_views_of_one(desk: Desk, clock: FakeClock) -> None:
    settings = Settings(database_url=database_url(desk))
    bulk_complaints(desk, clock, 600)  # 3,600 events
    one, two = (Projector(desk, build_followers(settings), batch_size=97) for _ in range(2))
    errors: list[BaseException] = []

    def run(p: Projector) -> None:
        try:
            p.catch_up()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    raced = digests(one.followers)
    heads = {f.position for f in build_followers(settings)}
    assert heads == {desk.recorder.max_notification_id()}

    clean = rebuilt(desk, settings)
    assert digests(clean) == raced
    urges = [r for r in clean[0].store.dump(clean[0].projection.tables[0]) if r["event"] == "Urged"]
    assert len(urges) == 600
