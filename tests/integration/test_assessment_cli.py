"""``casetrail report assessment`` and ``casetrail assessment ...`` on a store with October's
urge and supervision of a station 1 complaint."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import Settings
from tests.factories import SUPERVISOR, FakeClock, act, bj, make_desk, receive


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "220")
    return Settings(database_url=url)


def test_the_month_reported_proposed_and_signed_off_from_the_command_line(
    store: Settings,
) -> None:
    clock = FakeClock()
    desk = make_desk(clock, env=store.eventsourcing_env())
    t1 = receive(desk, command_id="cli-asm-t1")
    t1 = act(desk, t1, "verify")
    t1 = act(desk, t1, "classify", category="service_attitude", priority="normal")
    t1 = act(desk, t1, "dispatch", owner="张伟", to_department="station_1")
    clock.set(bj(2026, 10, 12, 10))
    t1 = act(desk, t1, "urge", SUPERVISOR, note="请尽快")
    act(desk, t1, "supervise", SUPERVISOR, reason="重点投诉")
    desk.close()
    runner = CliRunner()
    month = ["--department", "station_1", "--month", "2026-10"]

    shown = runner.invoke(app, ["report", "assessment", "--month", "2026-10"])
    assert shown.exit_code == 0, shown.output
    # shipped rules: urge 1 + supervision 3 = 4; rolled up to 营销部's leader after the merger
    [line] = [row for row in shown.output.splitlines() if row.strip("│ ").startswith("station_1")]
    assert "leader.station_1" in line
    assert "open" in line
    assert "leader.marketing" in line
    assert " 4 " in line
    assert "assessment 考核 2026-10: 4 points over 1 departments" in shown.output
    assert "most: station_1 4 (leader.station_1, rolled up to leader.marketing)" in shown.output

    done = ["--ticket", t1.number, "--reason", "urge", "--note", "所内已考核"]
    r = runner.invoke(app, ["assessment", "self-assess", *month, *done, "--actor", "zhang"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["assessment", "propose", *month])
    assert r.exit_code == 0, r.output
    assert "proposed, 3 points" in r.output  # the urge self-assessed: supervision 3 only

    r = runner.invoke(app, ["assessment", "sign-off", *month, "--actor", "sup.liu.yang"])
    assert r.exit_code == 1
    assert "leader.station_1" in r.output
    r = runner.invoke(app, ["assessment", "sign-off", *month, "--actor", "leader.station_1"])
    assert r.exit_code == 0, r.output
    assert "signed_off, 3 points" in r.output

    shown = runner.invoke(app, ["report", "assessment", "--month", "2026-10"])
    [line] = [row for row in shown.output.splitlines() if row.strip("│ ").startswith("station_1")]
    assert "signed_off" in line
    assert runner.invoke(app, ["report", "assessment", "--month", "2026-13"]).exit_code == 2
