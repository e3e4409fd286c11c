"""``casetrail account-manager worklist`` and ``casetrail report key-accounts`` on a SQLite
store: a grade-A key account's complaints on its manager's list, flagged, in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import Settings
from domain.customer_visit import ApproveVisitPlan, PlanVisit
from tests.factories import SUPERVISOR, FakeClock, bj, make_desk, receive
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
    flagged_only = key_customer(desk, grade="B")  # same manager: flagged, no visit plan
    for _ in range(3):
        receive(desk, customer_id=flagged_only.id)
    visit = desk.handle(
        PlanVisit(
            actor_id="li-manager",
            role="agent",
            department="marketing",
            customer_id=customer.id,
            manager="li-manager",
            quarter="2026Q4",
            purpose="季度投诉三次，上门走访",
            planned_for=bj(2026, 10, 15, 10, 0),
        )
    )
    desk.handle(ApproveVisitPlan(**SUPERVISOR, visit_id=visit.id))
    desk.close()
    runner = CliRunner()

    listed = runner.invoke(app, ["account-manager", "worklist", "li-manager", "--json"])
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.output)
    mine = [t["number"] for t in body["tickets"] if t["customer_id"] == str(customer.id)]
    assert mine == sorted(numbers)
    # 3 complaints in 2026Q4 = the default threshold 3, for each customer; one has a visit.
    visits = {
        f["customer_id"]: (f["quarter"], f["complaints"], f["visit_id"]) for f in body["flagged"]
    }
    assert visits == {
        str(customer.id): ("2026Q4", 3, str(visit.id)),
        str(flagged_only.id): ("2026Q4", 3, None),
    }
    assert [f["customer_id"] for f in body["awaiting_visit_plan"]] == [str(flagged_only.id)]
    assert [v["visit_id"] for v in body["visits_awaiting_report"]] == [str(visit.id)]
    # Every row names its customer beside the id
    every = [*body["tickets"], *body["flagged"], *body["visits_awaiting_report"]]
    assert {r["customer_name"] for r in every} == {"湘江钢铁集团"}
    shown = runner.invoke(app, ["account-manager", "worklist", "li-manager"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("湘江钢铁集团") == 6 + 2 + 1  # tickets, flags, visits
    assert "问题客户" in shown.output
    assert "3 ≥ 3" in shown.output
    assert "awaiting a plan" in shown.output
    assert "待提交走访报告 (1)" in shown.output

    report = runner.invoke(app, ["report", "key-accounts", "--quarter", "2026Q4", "--json"])
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)["rows"]
    assert sorted((r["customer_id"], r["tickets"], r["breaches"]) for r in rows) == sorted(
        [(str(customer.id), 3, 0), (str(flagged_only.id), 3, 0)]
    )
    table = runner.invoke(app, ["report", "key-accounts", "--quarter", "2026Q4"])
    assert table.exit_code == 0, table.output
    assert "大客户季度评估" in table.output
    assert table.output.count("湘江钢铁集团") == 2
    refused = runner.invoke(app, ["report", "key-accounts", "--quarter", "2026-10"])
    assert refused.exit_code != 0
    assert "not a quarter" in refused.output
