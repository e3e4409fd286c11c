"""A stored event store of an earlier casetrail still rebuilds every view and tells the same story.

``../shared/fixtures/demo-store-2026-12-04.sqlite.xz`` is the event store (``stored_events``
only) of ``casetrail demo`` as main stood on 2026-12-04: October 2026, 3,000 tickets, 50,840
events. Stored events are forever: whatever the code becomes, this store must open with
casetrail's own code on SQLite, every view must rebuild from it, and the department report for
October must give the facts it gave that day. A second rebuild must give the same rows, view by
view (the digest ``casetrail projections digest`` prints).
"""

from __future__ import annotations

import lzma
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bootstrap import build_desk, build_followers
from bootstrap.org_loader import load_directory
from config.settings import Settings
from projections.core import digest_rows
from projections.department_performance import DepartmentPerformance
from projections.reports import TOTAL, department_report
from workers.projector import Follower, Projector

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
STORE = FIXTURES / "demo-store-2026-12-04.sqlite.xz"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

EVENTS = 50_840
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
# The backlog is aged at this instant; the facts below do not depend on it.
AS_OF = datetime(2026, 12, 4, tzinfo=UTC)
# The TOTAL row of `casetrail report departments --from 2026-10-01 --to 2026-10-31` on that day.
OCTOBER_TOTAL = {
    "received": 3_000,
    "closed": 2_584,
    "transfers_out": 250,
    "transfers_in": 250,
    "reopened": 99,
    "urges": 731,
    "supervisions": 360,
    "callbacks_done": 1_612,
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private, unpacked copy of the stored events (the views are built in the same file)."""
    if not STORE.exists():
        message = f"stored-events fixture not found: {STORE}"
        if IN_CI:
            pytest.fail(message + " (CI=true: ../shared must sit beside the clone)", pytrace=False)
        pytest.skip(message)
    path = tmp_path_factory.mktemp("fixture_store") / "demo.sqlite"
    with lzma.open(STORE) as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked, length=1 << 20)
    return Settings(database_url=f"sqlite:///{path}")


def rebuild(settings: Settings) -> tuple[int, list[Follower]]:
    """What ``casetrail projections rebuild`` does: every view emptied, then replayed."""
    desk = build_desk(settings)
    try:
        followers = build_followers(settings)
        for follower in followers:
            follower.reset()
        events = Projector(desk, followers).catch_up()
    finally:
        desk.close()
    return events, followers


def digests(followers: list[Follower]) -> dict[str, tuple[int, str]]:
    return {
        f"{f.projection.name}.{table.name}": digest_rows(table, f.store.dump(table))
        for f in followers
        for table in f.projection.tables
    }


def test_fixture_store_rebuilds_every_view_with_the_facts_of_its_day(settings: Settings) -> None:
    events, followers = rebuild(settings)
    assert events == EVENTS
    assert {f.projection.name for f in followers} == {
        p.projection.name for p in build_followers(settings)
    }
    first = digests(followers)
    for follower in followers:  # no view comes out empty
        name = follower.projection.name
        assert sum(rows for table, (rows, _) in first.items() if table.startswith(f"{name}.")), name

    [performance] = [f for f in followers if isinstance(f.projection, DepartmentPerformance)]
    report = department_report(
        performance.store, *OCTOBER, AS_OF, directory=load_directory(), total=True
    )
    total = report[-1]
    assert total["department"] == TOTAL
    assert {field: total[field] for field in OCTOBER_TOTAL} == OCTOBER_TOTAL

    # Determinism: rebuilt again from the same events, every view holds the same rows.
    again, followers = rebuild(settings)
    assert again == EVENTS
    assert digests(followers) == first
