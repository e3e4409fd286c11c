"""An auditor's sandbox holds every view as the system knew it then, and nothing live moves.

Given a store with events recorded before and after a horizon (one of them a fact that
happened before the horizon but was entered after it), ``audit replay --as-known-at`` builds
views in a schema (PostgreSQL) or file (SQLite) of their own that equal, digest for digest,
the views of a fresh store holding only the events recorded by the horizon; the live views'
digests are the same before and after; ``--drop`` leaves no schema or file behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from bootstrap import build_followers
from bootstrap import sandbox as sandboxes
from cli.main import app
from config.settings import Settings
from domain.desk import Desk
from tests.factories import FakeClock, act, bj, make_desk, receive
from tests.integration.views import database_url, digests
from workers.projector import Projector


def _record_before_and_after(desk: Desk, clock: FakeClock) -> tuple[Desk, object]:
    """Two tickets moved along, a horizon noted, then more, with a late entry; the horizon."""
    clock.set(bj(2026, 10, 12, 9, 0))
    first = receive(desk)
    clock.advance(minutes=5)
    first = act(desk, first, "verify")
    clock.advance(minutes=5)
    second = receive(desk, kind="fault_repair")
    clock.advance(minutes=3)
    second = act(desk, second, "dispatch", owner="张工", to_department="station_1")
    clock.advance(minutes=10)
    first = act(desk, first, "classify", category="service_attitude", priority="high")
    horizon = clock.now  # recorded at exactly this instant: still known at the horizon
    clock.advance(minutes=20)
    # A phone call to the customer made before the horizon, entered after it.
    first = act(
        desk,
        first,
        "contact_customer",
        note="回电致歉",
        occurred_at=horizon - timedelta(minutes=1),
        backdated=True,
        backdated_reason="记录时遗漏",
    )
    clock.advance(minutes=5)
    act(
        desk,
        second,
        "dispatch_crew",
        crew="抢修一班",
        promised_arrival_at=clock.now + timedelta(minutes=30),
    )
    clock.advance(minutes=30)
    third = receive(desk, kind="inquiry")
    act(desk, third, "dispatch", owner="李娜", to_department="station_1")
    return desk, horizon


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, desk: Desk, tmp_path: Path) -> Iterator[str]:
    """An empty store on the desk's backend, for the events recorded by the horizon."""
    if "SQLITE_DBNAME" in desk.env:
        yield f"sqlite:///{tmp_path / 'known-then.sqlite'}"
    else:
        yield request.getfixturevalue("fresh_pg_url")


def test_replay_as_known_at_builds_the_views_of_then_apart_and_drop_removes_them(
    desk: Desk, clock: FakeClock, fresh_url: str
) -> None:
    # Given a store with events recorded before and after a horizon, its views live
    settings = Settings(database_url=database_url(desk))
    desk, horizon = _record_before_and_after(desk, clock)
    live = build_followers(settings)
    Projector(desk, live).catch_up()
    live_before = digests(live)

    # When an auditor replays as known at the horizon
    name = "t_" + horizon.strftime("%H%M")
    done = sandboxes.replay(settings, name, horizon, batch_size=3)

    # Then the sandbox's views are those of a store holding only what was recorded by then
    events = [desk.mapper.to_domain_event(n) for n in desk.recorder.select_notifications(1, 10_000)]
    known = [e for e in events if e.timestamp <= horizon]
    assert 0 < len(known) < (desk.recorder.max_notification_id() or 0)
    assert done.events == len(known)
    assert done.left_out == (desk.recorder.max_notification_id() or 0) - len(known)
    fresh_settings = Settings(database_url=fresh_url)
    fresh = make_desk(FakeClock(), env=fresh_settings.eventsourcing_env())
    # Through the mappers, never as raw bytes: each store seals personal data its own way.
    fresh.recorder.insert_events([fresh.mapper.to_stored_event(e) for e in known])
    then = build_followers(fresh_settings)
    Projector(fresh, then).catch_up()
    in_sandbox = sandboxes.sandbox_followers(settings, name)
    assert digests(in_sandbox) == digests(then)
    assert digests(in_sandbox) != live_before  # the late entry and what followed are not there
    fresh.close()

    # ... the live views did not move
    assert digests(build_followers(settings)) == live_before

    # ... it is listed with its horizon
    [listed] = [b for b in sandboxes.listed(settings) if b.name == name]
    assert listed.horizon == horizon
    assert listed.events == len(known)

    # When it is dropped, then its schema or file is gone
    assert sandboxes.drop(settings, name)
    assert not sandboxes.exists(settings, name)
    if settings.backend == "sqlite":
        assert not sandboxes.file_of(settings, name).exists()
    else:
        with psycopg.connect(settings.postgres_conninfo) as conn:
            found = conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (f"audit_{name}",)
            ).fetchone()
        assert found == (0,)
    assert digests(build_followers(settings)) == live_before
    desk.close()


def test_the_command_replays_lists_reports_from_and_drops_a_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    clock = FakeClock()
    desk = make_desk(clock, env=Settings(database_url=url).eventsourcing_env())
    desk, horizon = _record_before_and_after(desk, clock)
    desk.close()
    runner = CliRunner()

    made = runner.invoke(app, ["audit", "replay", "--as-known-at", horizon.isoformat(), "oct12"])
    assert made.exit_code == 0, made.output
    assert "report departments --sandbox oct12" in made.output
    assert (tmp_path / "store.audit-oct12.sqlite").exists()

    again = runner.invoke(app, ["audit", "replay", "--as-known-at", horizon.isoformat(), "oct12"])
    assert again.exit_code == 2
    assert "exists" in again.output

    listed = runner.invoke(app, ["audit", "replay", "--list"])
    assert listed.exit_code == 0, listed.output
    assert "oct12" in listed.output
    assert "2026-10-12 09:23:00" in listed.output

    report = runner.invoke(
        app,
        [
            "report",
            "departments",
            "--sandbox",
            "oct12",
            "--from",
            "2026-10-12",
            "--to",
            "2026-10-12",
        ],
    )
    assert report.exit_code == 0, report.output
    assert "as known at 2026-10-12 09:23" in report.output

    dropped = runner.invoke(app, ["audit", "replay", "--drop", "oct12"])
    assert dropped.exit_code == 0, dropped.output
    assert not (tmp_path / "store.audit-oct12.sqlite").exists()
    assert runner.invoke(app, ["audit", "replay", "--drop", "oct12"]).exit_code == 2
