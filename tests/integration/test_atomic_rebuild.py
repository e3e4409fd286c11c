"""A rebuild builds beside the live views and swaps them in at once; a failed one changes nothing.

``projections rebuild`` fills shadow tables (``<table>__next``) while the live views go on
serving, and swaps every rebuilt view in with one transaction. These tests make rebuilds fail
midway (a fold that raises at an event; the database failing under the rebuild) and check
the live views' digests are the ones from before, with no shadow table left behind; and that
a live projector goes on after a successful swap.
"""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from bootstrap import SHADOW_SUFFIX, build_followers
from cli.projections_cmd import RebuildFailed, rebuild_followers
from config.settings import Settings
from domain.desk import Desk
from projections.worklists import Worklists
from tests.factories import FakeClock, act, bulk_complaints, receive
from tests.integration.views import database_url, digests
from workers.projector import Follower, Projector


def _shadow_tables(followers: list[Follower]) -> list[str]:
    """Shadow tables a rebuild left behind (there should be none)."""
    names = [t.name + SHADOW_SUFFIX for f in followers for t in f.projection.tables]
    return [name for name in names if followers[0].store.has_table(name)]


def _live(desk: Desk, settings: Settings) -> list[Follower]:
    followers = build_followers(settings)
    Projector(desk, followers).catch_up()
    return followers


def test_a_rebuild_whose_fold_fails_midway_leaves_the_live_views_serving(
    desk: Desk, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=database_url(desk))
    bulk_complaints(desk, clock, 200)
    live = _live(desk, settings)
    before = digests(live)
    folded: list[int] = []
    fold = Worklists.fold

    def failing(self: Worklists, event: Any, rows: Any) -> None:
        folded.append(1)
        if len(folded) == 700:
            raise RuntimeError("a fold that cannot take this event")
        fold(self, event, rows)

    monkeypatch.setattr(Worklists, "fold", failing)
    with pytest.raises(RebuildFailed, match="worklists"):
        rebuild_followers(settings, None, batch_size=100)
    assert len(folded) >= 700  # it did fail midway, after some batches were committed
    assert digests(build_followers(settings)) == before
    assert _shadow_tables(live) == []
    assert all(f.store.failure() is None for f in build_followers(settings))


def test_a_rebuild_the_database_fails_under_leaves_the_live_views_serving(
    desk: Desk, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=database_url(desk))
    bulk_complaints(desk, clock, 200)
    live = _live(desk, settings)
    before = digests(live)
    write = Projector._write
    batches: list[int] = []

    def failing(self: Projector, work: Any) -> list[object]:
        batches.append(1)
        if len(batches) == 4:
            raise OperationalError("server closed the connection unexpectedly")
        return write(self, work)

    monkeypatch.setattr(Projector, "_write", failing)
    with pytest.raises(OperationalError):
        rebuild_followers(settings, None, batch_size=100)
    assert digests(build_followers(settings)) == before
    assert _shadow_tables(live) == []


def test_a_live_projector_carries_on_from_the_swapped_in_views(
    desk: Desk, clock: FakeClock
) -> None:
    settings = Settings(database_url=database_url(desk))
    bulk_complaints(desk, clock, 100)
    live = Projector(desk, build_followers(settings))
    live.catch_up()
    before = digests(live.followers)
    total, _ = rebuild_followers(settings, None, batch_size=100)
    assert total == desk.recorder.max_notification_id()
    assert digests(build_followers(settings)) == before  # rebuild == live
    # The live projector, unaware of the swap, goes on: its next commit finds the position
    # moved, it takes the stored one, and folds what came since.
    ticket = receive(desk)
    act(desk, ticket, "verify")
    live.catch_up()
    live.catch_up()
    clean = build_followers(Settings(database_url=database_url(desk)))
    for f in clean:
        f.reset()
    Projector(desk, clean).catch_up()
    assert digests(live.followers) == digests(clean)
