"""Two projectors on the same views (a restarted worker beside a live one, or two replicas)
never apply an event twice: the second one's batch is refused and it resumes from the store.
"""

from __future__ import annotations

import threading

import pytest

from config.bootstrap import build_followers
from config.settings import Settings
from domain.desk import Desk
from projections.core import digest_rows
from tests.factories import FakeClock, bulk_complaints
from workers.projector import Projector

pytestmark = pytest.mark.postgres


def _digests(followers: list) -> dict[str, tuple[int, str]]:
    return {t.name: digest_rows(t, f.store.dump(t)) for f in followers for t in f.projection.tables}


def test_two_projectors_racing_give_the_views_of_one(desk: Desk, clock: FakeClock) -> None:
    settings = Settings(database_url=_url(desk))
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
    raced = _digests(one.followers)
    heads = {f.position for f in build_followers(settings)}
    assert heads == {desk.recorder.max_notification_id()}

    clean = build_followers(settings)
    for f in clean:
        f.store.drop_tables()
        f.store.create_tables()
        f.reset()
    Projector(desk, clean).catch_up()
    assert _digests(clean) == raced
    urges = [r for r in clean[0].store.dump(clean[0].projection.tables[0]) if r["event"] == "Urged"]
    assert len(urges) == 600


def _url(desk: Desk) -> str:
    env = desk.env
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
        return f"sqlite:///{env['SQLITE_DBNAME']}"
    return (
        f"postgresql://{env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
        f"/{env['POSTGRES_DBNAME']}"
    )
