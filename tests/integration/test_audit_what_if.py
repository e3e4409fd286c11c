"""``casetrail audit what-if`` on an embedded store: the table names the flipped tickets.

The store holds the hand-worked day of :mod:`tests.what_if_scenario`; the candidate policy
file promises arrival in 30 min and restoration in 4 h (see :mod:`tests.unit.test_what_if`
for the arithmetic). The live views and the store are left as they were.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bootstrap import build_followers
from cli.main import app
from config.settings import Settings
from tests.factories import FakeClock, make_desk
from tests.integration.views import digests
from tests.what_if_scenario import CANDIDATE_TOML, record_day
from workers.projector import Projector


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "220")
    settings = Settings(database_url=url)
    clock = FakeClock()
    desk = make_desk(clock, env=settings.eventsourcing_env())
    tickets = record_day(desk, clock)
    Projector(desk, build_followers(settings)).catch_up()
    desk.close()
    return settings, {name: outcome.number for name, outcome in tickets.items()}


def test_what_if_prints_the_flipped_tickets_and_the_rates_per_department(
    store: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, number = store
    candidate = tmp_path / "proposed_policies.toml"
    candidate.write_text(CANDIDATE_TOML, encoding="utf-8")
    before = digests(build_followers(settings))
    head = (settings.sqlite_path.stat().st_size, settings.sqlite_path.stat().st_mtime_ns)
    runner = CliRunner()
    args = ["audit", "what-if", "--policy", str(candidate), "--from", "2026-10-12"]

    table = runner.invoke(app, [*args, "--to", "2026-10-12"])

    assert table.exit_code == 0, table.output
    assert "4 clocks flip" in table.output
    for name in "ABD":
        assert number[name] in table.output
    assert number["C"] not in table.output  # late either way
    assert number["E"] not in table.output  # received the next day
    assert "on time → breach" in table.output
    assert "breach → on time" in table.output
    assert "75.0% (3/4)" in table.output  # station_1 live
    assert "25.0% (1/4)" in table.output  # station_2 live
    assert digests(build_followers(settings)) == before
    assert (settings.sqlite_path.stat().st_size, settings.sqlite_path.stat().st_mtime_ns) == head

    machine = runner.invoke(app, [*args, "--to", "2026-10-12", "--json"])
    assert machine.exit_code == 0, machine.output
    found = json.loads(machine.output)
    assert {(f["number"], f["milestone"], f["change"]) for f in found["flips"]} == {
        (number["A"], "arrival", "on time → breach"),
        (number["B"], "arrival", "on time → breach"),
        (number["B"], "restoration", "breach → on time"),
        (number["D"], "restoration", "breach → on time"),
    }
    [total] = [r for r in found["on_time"] if r["department"] == "TOTAL"]
    assert total["before"] == {"on_time": 4, "judged": 8}
    assert total["after"] == {"on_time": 4, "judged": 8}
    assert found["tickets"] == 4


def test_a_candidate_that_does_not_load_is_refused_naming_the_fault(
    store: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(CANDIDATE_TOML.replace('"30m"', '"thirty minutes"'), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["audit", "what-if", "--policy", str(broken), "--from", "2026-10-12", "--to", "2026-10-12"],
    )
    assert result.exit_code == 2
    assert "target" in result.output
    assert "Traceback" not in result.output
