"""``casetrail account-manager worklist`` and ``casetrail report key-accounts`` on a SQLite
store: a grade-A key account's complaints on its manager's list, flagged, in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import Settings
from tests.factories import FakeClock, bj, make_desk, receive
from tests.unit.test_key_accounts import key_customer


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return Settings(database_url=url)


def test_the_worklist_and_the_quarterly_report_from_the_command_line(store: Settings) -> None:
    desk = make_desk(FakeClock(bj(2026, 10, 12, 9, 0)), env=store.eventsourcing_env())
    customer = key_customer(desk)  # grade A key account, manager li-manager
    numbers = [receive(desk, customer_id=customer.id).number for _ in range(3)]
    desk.close()
    runner = CliRunner()

    listed = runner.invoke(app, ["account-manager", "worklist", "li-manager", "--json"])
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.output)
    assert [t["number"] for t in body["tickets"]] == sorted(numbers)
    # 3 complaints in 2026Q4 = the default threshold 3.
    assert [(f["quarter"], f["complaints"]) for f in body["flagged"]] == [("2026Q4", 3)]
    shown = runner.invoke(app, ["account-manager", "worklist", "li-manager"])
    assert shown.exit_code == 0, shown.output
    assert "问题客户" in shown.output
    assert "3 ≥ 3" in shown.output

    report = runner.invoke(app, ["report", "key-accounts", "--quarter", "2026Q4", "--json"])
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)["rows"]
    assert [(r["customer_id"], r["tickets"], r["breaches"]) for r in rows] == [
        (str(customer.id), 3, 0)
    ]
    table = runner.invoke(app, ["report", "key-accounts", "--quarter", "2026Q4"])
    assert table.exit_code == 0, table.output
    assert "大客户季度评估" in table.output
    refused = runner.invoke(app, ["report", "key-accounts", "--quarter", "2026-10"])
    assert refused.exit_code != 0
    assert "not a quarter" in refused.output
