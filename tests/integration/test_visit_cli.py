"""``casetrail visit``: an account manager's visit from plan to archive, and its refusals."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import Settings
from domain import commands as c
from tests.factories import AGENT, SUPERVISOR, FakeClock, bj, history, make_desk, names

MANAGER = "陈敏"


@pytest.fixture
def customer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, str]:
    """A customer whose account manager is 陈敏, in a SQLite store the CLI is pointed at."""
    url = f"sqlite:///{tmp_path / 'visits.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    store = Settings(database_url=url)
    desk = make_desk(FakeClock(bj(2026, 10, 12, 9, 0)), env=store.eventsourcing_env())
    group = {"name": "湘江钢铁集团", "customer_type": "group", "phone": "0731-5550123"}
    found = desk.handle(c.RegisterCustomer(**AGENT, **group))
    desk.handle(c.AssignAccountManager(**SUPERVISOR, customer_id=found.id, manager=MANAGER))
    desk.close()
    return store, str(found.id)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["visit", *args])
    return result.exit_code, result.output


def test_a_visit_from_plan_to_archive(customer: tuple[Settings, str]) -> None:
    store, customer_id = customer
    code, said = run(
        "plan", customer_id, "--manager", MANAGER, "--purpose", "本季度三次投诉，上门了解诉求",
        "--planned-for", "2026-12-01T10:00", "--quarter", "2026Q4",
    )  # fmt: skip
    assert code == 0, said
    visit = re.search(r"visit ([0-9a-f-]{36}) planned: planned", said)
    assert visit is not None, said
    visit_id = visit.group(1)
    # A report before the plan is approved is an illegal transition, said by name.
    code, said = run(
        "report", visit_id, "--manager", MANAGER, "--visited-at", "2026-12-01T11:00",
        "--findings", "客户同意错峰用电方案",
    )  # fmt: skip
    assert code == 1
    assert "refused (illegal_transition)" in said
    code, said = run("approve-plan", visit_id, "--supervisor", "liu.yang", "--note", "同意")
    assert (code, "plan approved: plan_approved" in said) == (0, True), said
    code, said = run(
        "report", visit_id, "--manager", MANAGER, "--visited-at", "2026-12-01T11:00",
        "--findings", "客户同意错峰用电方案",
    )  # fmt: skip
    assert code == 0, said
    code, said = run("approve-report", visit_id, "--supervisor", "liu.yang")
    assert code == 0, said
    assert "archived" in said
    desk = make_desk(FakeClock(), env=store.eventsourcing_env())
    assert names(history(desk, UUID(visit_id))) == [
        "VisitPlanned",
        "VisitPlanApproved",
        "VisitReported",
        "VisitReportApproved",
        "VisitArchived",
    ]
    planned = history(desk, UUID(visit_id))[0]
    assert planned.planned_for.isoformat() == "2026-12-01T10:00:00+08:00"  # local business time
    desk.close()


def test_only_the_customers_own_manager_plans_and_a_bad_instant_names_its_option(
    customer: tuple[Settings, str],
) -> None:
    _store, customer_id = customer
    code, said = run(
        "plan", customer_id, "--manager", "王五", "--purpose", "回访",
        "--planned-for", "2026-12-01",
    )  # fmt: skip
    assert code == 1
    assert "refused (invalid_value)" in said
    assert "manager" in said
    assert MANAGER in said
    code, said = run(
        "plan", customer_id, "--manager", MANAGER, "--purpose", "回访",
        "--planned-for", "明天上午",
    )  # fmt: skip
    assert code == 2
    assert "--planned-for" in said
