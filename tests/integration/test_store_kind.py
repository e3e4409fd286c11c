"""A store is real or created as a simulation; the mark lives in the store (SQLite and PostgreSQL).

A store without a mark is real. ``casetrail store init --simulation`` makes an empty store a
simulation; once a store holds events its kind is fixed. A desk on a simulated clock is built
only on a simulation store, and never records before the newest time the store holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bootstrap import build_desk, build_simulated_desk
from bootstrap.store import (
    REAL,
    SIMULATION,
    RecordedTimeWouldGoBack,
    StoreFacts,
    StoreNotEmpty,
    StoreRefusal,
    mark_store,
    newest_recorded,
    read_store,
)
from cli.store_cmd import store_app
from config.settings import Settings
from tests.factories import FakeClock, bj, receive


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """An empty store: a SQLite file not made yet, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield Settings(database_url=f"sqlite:///{tmp_path / 'store.sqlite'}")
        return
    yield Settings(database_url=request.getfixturevalue("fresh_pg_url"))


def store(settings: Settings, *args: str) -> Result:
    """``casetrail store ...`` on the store of ``settings``."""
    env = {"CASETRAIL_DATABASE_URL": settings.database_url, "COLUMNS": "200"}
    return CliRunner().invoke(store_app, list(args), env=env)


def one_ticket(settings: Settings) -> None:
    desk = build_desk(settings)
    try:
        receive(desk)
    finally:
        desk.close()


def test_a_store_without_a_mark_is_real(settings: Settings) -> None:
    assert read_store(settings) == StoreFacts(REAL, marked=False, events=0)
    if settings.backend == "sqlite":
        assert not settings.sqlite_path.exists()  # reading the kind makes no file
    one_ticket(settings)

    facts = read_store(settings)

    assert (facts.kind, facts.marked, facts.simulation) == (REAL, False, False)
    assert facts.events > 0
    shown = store(settings, "show")
    assert shown.exit_code == 0, shown.output
    assert "real store (no mark: real by default)" in shown.output


def test_store_init_simulation_makes_an_empty_store_a_simulation(settings: Settings) -> None:
    result = store(settings, "init", "--simulation")

    assert result.exit_code == 0, result.output
    assert "is now an empty simulation store" in result.output
    assert read_store(settings) == StoreFacts(SIMULATION, marked=True, events=0)
    shown = store(settings, "show")
    assert "simulation store, simulated clock allowed" in shown.output
    assert "events: 0" in shown.output


def test_the_kind_of_a_store_that_holds_events_is_fixed(settings: Settings) -> None:
    one_ticket(settings)
    events = read_store(settings).events

    refused = store(settings, "init", "--simulation")
    again = store(settings, "init")

    assert refused.exit_code == 2, refused.output
    assert f"already holds {events:,} events" in refused.output
    assert again.exit_code == 0, again.output
    assert "is a real store already" in again.output
    with pytest.raises(StoreNotEmpty):
        mark_store(settings, SIMULATION)
    assert read_store(settings) == StoreFacts(REAL, marked=False, events=events)


def test_a_desk_on_a_simulated_clock_is_refused_on_a_real_store(settings: Settings) -> None:
    with pytest.raises(StoreRefusal, match="is a real store"):
        build_simulated_desk(settings, FakeClock())
    assert read_store(settings).events == 0


def test_a_simulated_desk_never_records_before_the_newest_recorded_time(
    settings: Settings,
) -> None:
    mark_store(settings, SIMULATION)
    later = FakeClock(bj(2026, 10, 20, 9, 0))
    desk = build_simulated_desk(settings, later)
    receive(desk, occurred_at=later.now)
    head = desk.recorder.max_notification_id()
    desk.close()

    earlier = FakeClock(bj(2026, 10, 12, 9, 0))
    desk = build_simulated_desk(settings, earlier)
    try:
        with pytest.raises(RecordedTimeWouldGoBack) as refused:
            receive(desk, occurred_at=earlier.now)
        assert refused.value.newest == bj(2026, 10, 20, 9, 0)
        assert desk.recorder.max_notification_id() == head  # nothing recorded
        earlier.set(bj(2026, 10, 21, 9, 0))  # at or after the newest recorded time: recorded
        receive(desk, occurred_at=earlier.now)
        assert newest_recorded(desk) == bj(2026, 10, 21, 9, 0)
    finally:
        desk.close()
