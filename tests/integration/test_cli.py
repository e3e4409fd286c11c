"""The `casetrail` command on an embedded store: ticket show (now and as of), history."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import Settings
from tests.factories import FakeClock, act, bj, make_desk, receive


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return Settings(database_url=url)


def test_ticket_show_as_of_shows_the_earlier_state_and_its_sla_time(store: Settings) -> None:
    clock = FakeClock(bj(2026, 10, 12, 9, 0))
    desk = make_desk(clock, env=store.eventsourcing_env())
    o = receive(desk)
    o = act(desk, o, "verify")
    clock.set(bj(2026, 10, 13, 9, 0))
    o = act(desk, o, "classify", category="service_attitude", priority="high")
    desk.close()
    runner = CliRunner()

    earlier = runner.invoke(app, ["ticket", "show", str(o.id), "--as-of", "2026-10-12T17:00"])
    assert earlier.exit_code == 0, earlier.output
    assert "verified" in earlier.output
    assert "normal" in earlier.output
    # 09:00-12:00 and 13:30-17:00 of business time used: 6h30m of the first day.
    assert "6h30m" in earlier.output

    now = runner.invoke(app, ["ticket", "show", str(o.id), "--as-of", "2026-10-13T10:00"])
    assert "classified" in now.output
    assert "high" in now.output

    history = runner.invoke(app, ["ticket", "history", str(o.id)])
    assert history.exit_code == 0
    for name in ("ComplaintReceived", "SlaPolicyBound", "ComplaintVerified", "ComplaintClassified"):
        assert name in history.output


def test_an_unknown_ticket_is_a_clear_error(store: Settings) -> None:
    make_desk(FakeClock(), env=store.eventsourcing_env()).close()
    result = CliRunner().invoke(app, ["ticket", "show", "00000000-0000-0000-0000-000000000001"])
    assert result.exit_code == 1
    assert "not_found" in result.output
    assert "Traceback" not in result.output


def test_ticket_show_at_a_business_instant_and_as_known_at_a_recording_instant(
    store: Settings,
) -> None:
    # Received Monday 09:00 and verified at 09:30, both typed in on Tuesday at 10:00.
    clock = FakeClock(bj(2026, 10, 13, 10, 0))
    desk = make_desk(clock, env=store.eventsourcing_env())
    o = receive(desk, occurred_at=bj(2026, 10, 12, 9, 0))
    o = act(desk, o, "verify", occurred_at=bj(2026, 10, 12, 9, 30))
    desk.close()
    runner = CliRunner()

    # What had happened by Monday 10:00 (as known now): verified.
    then = runner.invoke(app, ["ticket", "show", str(o.id), "--at", "2026-10-12T10:00"])
    assert then.exit_code == 0, then.output
    assert "verified" in then.output
    assert "2026-10-12 10:00" in then.output
    # Monday 09:10: received, not yet verified.
    earlier = runner.invoke(app, ["ticket", "show", str(o.id), "--at", "2026-10-12T09:10"])
    assert "received" in earlier.output
    assert "verified" not in earlier.output
    # As known on Monday evening: nothing had been recorded yet.
    unknown = runner.invoke(
        app,
        [
            "ticket",
            "show",
            str(o.id),
            "--at",
            "2026-10-12T10:00",
            "--as-known-at",
            "2026-10-12T18:00",
        ],
    )
    assert unknown.exit_code == 1
    assert "not_found" in unknown.output
