"""``casetrail demo``: a seeded month of 95598 traffic through the real desk, read back.

The demo runs twice on a temporary SQLite file (the second time with ``reset``): both runs must
write the same month, with no domain error, every ticket kind, and each kind of control fact
(transfer, urge, SLA breach, callback, reopening) present in the store, which is marked a
simulation (its events are recorded on the simulated month's clock).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from rich.console import Console

from bootstrap import build_desk
from bootstrap.store import SIMULATION, newest_recorded, read_store
from cli.demo import KIND_SHARES, DemoResult, run_demo
from config.settings import Settings
from domain import commands as c
from domain.base import Role

SEED = 1  # at 150 tickets: every kind >= 6 tickets, 5 reopenings, 16 transfers, 59 breaches
TICKETS = 150
MONTH = "2026-10"


@dataclass
class Runs:
    url: str
    first: DemoResult
    again: DemoResult
    output: str


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, color_system=None), buffer


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CASETRAIL_DATABASE_URL", url)
        console, buffer = _console()
        first = run_demo(console, reset=False, tickets=TICKETS, seed=SEED, month=MONTH)
        again = run_demo(console, reset=True, tickets=TICKETS, seed=SEED, month=MONTH)
        yield Runs(url, first, again, buffer.getvalue())


def test_the_store_holds_the_month_and_no_command_was_refused(runs: Runs) -> None:
    result = runs.again
    assert result.domain_errors == 0, result.error_messages[:5]
    assert result.events > 1000
    desk = build_desk(Settings(database_url=runs.url))
    try:
        # The month, then the steps that close the loop after it (the outage, the survey ...)
        assert desk.recorder.max_notification_id() == result.store_events > result.events
    finally:
        desk.close()
    assert sum(result.kinds.values()) == TICKETS
    assert set(result.kinds) == set(KIND_SHARES)


def test_the_loop_is_closed_after_the_month(runs: Runs) -> None:
    loop = runs.again.loop
    assert loop.informed > 0  # A/B-grade and key-account tickets told their account managers
    assert loop.assessed_departments > 0
    assert loop.assessment_points > 0
    # 30 calls from one feeder in 20 minutes: 1 repair, every caller answered and called back
    assert (loop.outage_calls, loop.outage_repairs) == (30, 1)
    assert (loop.outage_answers, loop.outage_callbacks) == (30, 30)
    # 87 of 100 satisfied is below 90 %: closing refused until two CAPA items are issued
    assert loop.survey_percent == 87.0
    assert "satisfaction 87.0 % < target 90 %" in loop.survey_close_refused
    assert loop.capa_items == 2
    # A problem customer's visit (planned, approved, reported, report approved, archived) when
    # the month flagged one; 150 tickets flag none (the full demo month flags 28; the visit's
    # own steps are tested in tests/unit/test_customer_visit.py)
    assert loop.visit_state == ("archived" if loop.flagged else "")
    assert runs.again.domain_errors == 0  # the refusal was the point, not a demo error
    for line in (
        "key accounts 大客户:",
        "assessment 考核 ",
        "outage 停电事件 ",
        "survey 满意度调查 ",
        "problem customers 问题客户: ",
    ):
        assert line in runs.output, line


def test_the_month_verifies_and_every_customer_is_sealed(runs: Runs) -> None:
    result = runs.again
    assert result.chain_intact
    assert result.chain_checked == result.store_events  # every event in the store re-checked
    assert result.sealed_customers >= 40  # the registered customers at least, each a key
    assert f"audit verify: {result.store_events:,} events, hash chain intact" in runs.output


def test_the_demo_store_is_marked_a_simulation(runs: Runs) -> None:
    settings = Settings(database_url=runs.url)
    facts = read_store(settings)
    assert (facts.kind, facts.marked, facts.events) == (
        SIMULATION,
        True,
        runs.again.store_events,
    )
    desk = build_desk(settings)
    try:
        newest = newest_recorded(desk)
    finally:
        desk.close()
    # Recorded on the simulated clock, not the day the demo ran: the month, then the morning
    # after it on which the loop is closed (Monday 2026-11-02).
    assert newest is not None
    assert newest < datetime(2026, 11, 3, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_the_sla_clock_worker_finds_nothing_the_simulation_left_due(runs: Runs) -> None:
    # The simulation's monitor and the worker ask the same Ticket.due_actions; the worker reads
    # the sla_deadlines view. Nothing due by month end may be missing from the store.
    assert runs.first.sla_clock_steps == 0
    assert runs.again.sla_clock_steps == 0
    # Not vacuous: the worker read a populated view with clocks still running past month end.
    from bootstrap import build_followers

    [view] = [
        f
        for f in build_followers(Settings(database_url=runs.url))
        if f.projection.name == "sla_deadlines"
    ]
    rows = view.store.dump(view.projection.table("sla_deadlines"))
    month_end = datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    running_on = [r for r in rows if r["stopped_at"] is None and r["next_action_at"] is not None]
    assert len(rows) > TICKETS
    assert running_on
    assert all(r["next_action_at"] >= month_end - timedelta(seconds=1) for r in running_on)


def test_every_control_fact_appears_in_the_store(runs: Runs) -> None:
    types = Counter(runs.again.event_types)
    for name in (
        "WorkOrderTransferred",
        "Urged",
        "SupervisionOpened",
        "SlaWarningRaised",
        "SlaBreached",
        "Escalated",
        "CallbackScheduled",
        "CallbackCompleted",
        "TicketReopened",
        "ResolvedAtFirstContact",
        "CrewArrived",
        "CustomerRegistered",
        "GradeAssigned",
    ):
        assert types[name] >= 1, name
    # Most tickets end in a terminal state; the last days leave a backlog.
    states: Counter[str] = Counter()
    for per_kind in runs.again.states.values():
        states.update(per_kind)
    assert states["closed"] > TICKETS // 3
    assert sum(n for s, n in states.items() if s not in ("closed", "resolved_at_front")) > 0


def test_the_same_seed_writes_the_same_month(runs: Runs) -> None:
    assert runs.again.kinds == runs.first.kinds
    assert runs.again.events == runs.first.events
    assert runs.again.event_types == runs.first.event_types
    assert runs.again.samples == runs.first.samples


def test_the_summary_names_departments_and_sample_commands(runs: Runs) -> None:
    assert "客户服务中心" in runs.output
    assert "Customer Service Center" in runs.output
    assert "casetrail ticket show" in runs.output
    assert "casetrail ticket history" in runs.output
    assert len(runs.again.samples) == 3


def test_a_store_that_holds_events_is_refused_without_reset(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", runs.url)
    console, buffer = _console()
    with pytest.raises(typer.Exit):
        run_demo(console, reset=False, tickets=TICKETS, seed=SEED, month=MONTH)
    assert "--reset" in buffer.getvalue()
    desk = build_desk(Settings(database_url=runs.url))
    try:
        assert desk.recorder.max_notification_id() == runs.again.store_events
    finally:
        desk.close()


@pytest.mark.postgres
def test_reset_never_deletes_a_postgres_store_that_holds_events(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    desk = build_desk(Settings(database_url=pg_database))
    try:
        desk.handle(
            c.RegisterCustomer(
                actor_id="t", role=Role.AGENT, department="service_center", name="王建国"
            )
        )
        before = desk.recorder.max_notification_id()
    finally:
        desk.close()
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", pg_database)
    console, buffer = _console()
    with pytest.raises(typer.Exit):
        run_demo(console, reset=True, tickets=TICKETS, seed=SEED, month=MONTH)
    assert "never deletes" in buffer.getvalue()
    desk = build_desk(Settings(database_url=pg_database))
    try:
        assert desk.recorder.max_notification_id() == before
    finally:
        desk.close()
