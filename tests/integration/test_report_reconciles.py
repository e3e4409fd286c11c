"""The department report reconciles with the raw event log, on SQLite and on PostgreSQL.

A seeded month of hotline traffic (``cli.demo``: a few hundred tickets through the real desk,
the SLA monitor recording breaches and escalations, callbacks, reopenings, transfers and the
2026-10-16 merger) is projected by the real projector into the real view store; the report
built from those rows must agree, department by department, with counts taken here straight
from the notification log. The ``--as-of`` replay must agree with the same counts cut at the
instant, and with the live view when the instant is after the last event.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from rich.console import Console

from bootstrap import build_desk, build_followers
from bootstrap.org_loader import load_directory
from cli.demo import run_demo
from config.settings import Settings
from domain.desk import Desk
from domain.errors import DomainError
from domain.org import OrgDirectory
from projections.core import digest_rows
from projections.department_performance import DepartmentPerformance
from projections.reports import department_report, report_as_of, rows_as_of
from tests.factories import SHANGHAI, bj
from workers.projector import Follower, Projector

TICKETS = 300
MONTH = (date(2026, 10, 1), date(2026, 10, 31))
EVERYTHING = (date(2026, 1, 1), date(2027, 12, 31))
RECONCILED = (
    "received",
    "assigned",
    "transfers_in",
    "transfers_out",
    "replied",
    "answered",
    "closed",
    "resolved_first_contact",
    "reopened",
    "urges",
    "supervisions",
    "escalations",
    "breaches_total",
    "breaches_withdrawn",
    "callbacks_done",
    "satisfied",
    "dissatisfied",
    "unreachable",
)


@dataclass
class Month:
    """A demo month in a store, projected into the department_performance view."""

    settings: Settings
    desk: Desk
    follower: Follower
    directory: OrgDirectory


def _load_month(settings: Settings, *, reset: bool) -> Month:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CASETRAIL_DATABASE_URL", settings.database_url)
        result = run_demo(
            Console(file=io.StringIO(), width=200),
            reset=reset,
            tickets=TICKETS,
            seed=16,
            month="2026-10",
            close_loop=False,  # the month alone: every ticket in the log is one of its own
        )
    assert result.domain_errors == 0, result.error_messages[:5]
    directory = load_directory()
    desk = build_desk(settings)
    [follower] = build_followers(settings, [DepartmentPerformance(directory)])
    Projector(desk, [follower], batch_size=500).catch_up()
    return Month(settings, desk, follower, directory)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def month(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Month]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("report") / "events.sqlite"
        loaded = _load_month(Settings(database_url=f"sqlite:///{path}"), reset=True)
        yield loaded
        loaded.desk.close()
        return
    server: str = request.getfixturevalue("pg_server")
    name = f"casetrail_report_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        loaded = _load_month(Settings(database_url=f"{server}/{name}"), reset=False)
        yield loaded
        loaded.desk.close()
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------ counting by hand


def _events(desk: Desk) -> Iterator[Any]:
    start = 1
    while notifications := desk.recorder.select_notifications(start=start, limit=1000):
        for n in notifications:
            yield desk.mapper.to_domain_event(n)
        start = notifications[-1].id + 1


def count_by_hand(
    month: Month, first: date, last: date, recorded_by: datetime | None = None
) -> dict[str, Counter[str]]:
    """Per department in charge at the time: counts of event classes, read off the log."""

    def in_charge(dept: str | None, at: datetime) -> str:
        try:
            return month.directory.successor(dept or "unknown", at)
        except DomainError:
            return dept or "unknown"

    holder: dict[str, str] = {}  # ticket -> department holding it
    callback_ticket: dict[str, str] = {}  # callback -> its source ticket
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for e in _events(month.desk):
        if recorded_by is not None and e.timestamp > recorded_by:
            continue
        meta = getattr(e, "meta", None)
        if meta is None:
            continue
        at: datetime = meta.occurred_at
        name = type(e).__name__
        me = str(e.originator_id)
        local_day = at.astimezone(SHANGHAI).date()

        def add(
            dept: str | None, what: str, at: datetime = at, day: date = local_day, n: int = 1
        ) -> None:
            if first <= day <= last:
                counts[in_charge(dept, at)][what] += n

        def breach(dept: str | None, milestone: str, at: datetime, n: int) -> None:
            """A breach counts on the day of its due instant, for whom it was credited."""
            day = at.astimezone(SHANGHAI).date()
            add(dept, "breaches_total", at, day, n)
            add(dept, f"breach:{milestone}", at, day, n)

        if name in ("ComplaintReceived", "ServiceRequestReceived"):
            holder[me] = e.details["department"]
            add(holder[me], "received")
        elif name == "WorkOrderDispatched":
            holder[me] = e.department
            add(e.department, "assigned")
        elif name == "WorkOrderTransferred":
            add(e.from_department, "transfers_out")
            add(e.department, "transfers_in")
            add(e.department, "assigned")
            holder[me] = e.department
        elif name == "WorkOrderHandedOver":  # 合署: the new unit holds it; not a transfer
            holder[me] = e.department
        elif name == "DepartmentReplied":
            add(e.department, "replied")
        elif name == "CustomerAnswered":
            add(holder[me], "answered")
        elif name == "TicketClosed":
            add(e.department, "closed")
        elif name == "ResolvedAtFirstContact":
            add(holder[me], "closed")
            add(holder[me], "resolved_first_contact")
        elif name == "TicketReopened":
            add(holder[me], "reopened")
        elif name == "Urged":
            add(e.department, "urges")
        elif name == "SupervisionOpened":
            add(holder[me], "supervisions")
        elif name == "Escalated":
            add(e.department, "escalations")
        elif name == "SlaBreached":
            breach(e.department, e.milestone, at, 1)
        elif name == "SlaBreachWithdrawn":  # a late-recorded fact showed it met in time
            breach(e.department, e.milestone, e.breached_at, -1)
            day = e.breached_at.astimezone(SHANGHAI).date()
            add(e.department, "breaches_withdrawn", e.breached_at, day)
        elif name == "SlaBreachReattributed":  # another department held it at its instant
            breach(e.from_department, e.milestone, e.breached_at, -1)
            breach(e.department, e.milestone, e.breached_at, 1)
        elif name == "CallbackScheduled" and e.source_ticket_id is not None:
            callback_ticket[me] = str(e.source_ticket_id)
        elif name == "CallbackCompleted" and e.source_ticket_id is not None:
            # The department holding the ticket when the customer gave the verdict (a 合署
            # handover may have moved it since the callback was scheduled).
            dept = holder[callback_ticket[me]]
            add(dept, "callbacks_done")
            add(dept, "satisfied" if e.satisfied else "dissatisfied")
        elif name == "CallbackUnreachable" and me in callback_ticket:
            add(holder[callback_ticket[me]], "unreachable")
    return counts


def _check(report: list[dict[str, Any]], counts: dict[str, Counter[str]]) -> None:
    by_dept = {r["department"]: r for r in report if r["department"] != "TOTAL"}
    active = {d for d, c in counts.items() if +c}
    assert active <= set(by_dept), f"departments missing from the report: {active - set(by_dept)}"
    for dept, row in by_dept.items():
        got = {k: row[k] for k in RECONCILED}
        expected = {k: counts[dept][k] for k in RECONCILED}
        assert got == expected, dept
        breaches = {
            k.removeprefix("breach:"): v
            for k, v in counts[dept].items()
            if k.startswith("breach:") and v
        }
        assert row["breaches"] == breaches, dept
        d = row["durations"]
        # One reply per SLA cycle; every answer or first-contact settlement ends a resolution.
        assert d["first_response"]["wall"]["n"] == row["replied"], dept
        assert d["resolution"]["wall"]["n"] == row["answered"] + row["resolved_first_contact"]
        assert d["closure"]["wall"]["n"] == row["closed"], dept
    [total] = [r for r in report if r["department"] == "TOTAL"]
    for key in RECONCILED:
        assert total[key] == sum(c[key] for c in counts.values()), key
    satisfied = sum(c["satisfied"] for c in counts.values())
    dissatisfied = sum(c["dissatisfied"] for c in counts.values())
    assert total["satisfaction_rate"] == satisfied / (satisfied + dissatisfied)
    assert total["below_satisfaction_target"] == (satisfied / (satisfied + dissatisfied) < 0.9)


# ------------------------------------------------------------------------------ tests


def _live(month: Month, first: date, last: date, as_of: datetime) -> list[dict[str, Any]]:
    return department_report(
        month.follower.store, first, last, as_of, directory=month.directory, total=True
    )


def test_every_total_reconciles_with_the_event_log(month: Month) -> None:
    report = _live(month, *EVERYTHING, bj(2026, 11, 1))
    counts = count_by_hand(month, *EVERYTHING)
    _check(report, counts)

    total = report[-1]
    # The month exercised what the report is about.
    assert total["received"] == TICKETS
    # Corrections too: crews phoned in late after the clock had breached them.
    for key in (
        "transfers_out",
        "urges",
        "supervisions",
        "breaches_total",
        "breaches_withdrawn",
        "reopened",
    ):
        assert total[key] > 0, key
    assert total["satisfied"] > 0
    assert total["dissatisfied"] > 0
    # The merger: the old front office took calls until 10-15, the merged one after.
    depts = {r["department"]: r for r in report}
    assert depts["service_center"]["received"] > 0
    assert depts["marketing_service"]["received"] > 0
    assert depts["service_center"]["received"] + depts["marketing_service"]["received"] == TICKETS


def test_a_period_counts_only_its_local_days(month: Month) -> None:
    first, last = date(2026, 10, 9), date(2026, 10, 20)
    _check(_live(month, first, last, bj(2026, 11, 1)), count_by_hand(month, first, last))


def test_the_backlog_is_the_tickets_still_open(month: Month) -> None:
    report = _live(month, *MONTH, bj(2026, 11, 1))
    ended = {"TicketClosed", "ResolvedAtFirstContact", "ComplaintRejected", "TicketWithdrawn"}
    open_tickets: set[str] = set()
    for e in _events(month.desk):
        name = type(e).__name__
        if name in ("ComplaintReceived", "ServiceRequestReceived", "TicketReopened"):
            open_tickets.add(str(e.originator_id))
        elif name in ended:
            open_tickets.discard(str(e.originator_id))
    assert report[-1]["backlog_total"] == len(open_tickets)
    assert sum(report[-1]["backlog"].values()) == len(open_tickets)


def test_as_of_the_end_equals_the_live_view(month: Month) -> None:
    last = max(e.timestamp for e in _events(month.desk))
    as_of = last + timedelta(seconds=1)
    projection = DepartmentPerformance(month.directory)
    replayed = report_as_of(month.desk, projection, as_of, *MONTH, total=True)
    assert replayed == _live(month, *MONTH, as_of)
    # Row for row too: the in-memory fold and the stored view hold the same rows.
    rows = rows_as_of(month.desk, projection, as_of)
    for table in projection.tables:
        assert digest_rows(table, rows.dump(table)) == digest_rows(
            table, month.follower.store.dump(table)
        ), table.name


def test_as_of_an_instant_shows_only_what_was_recorded_by_then(month: Month) -> None:
    as_of = bj(2026, 10, 16, 12, 0)  # the first half of the month, just past the merger
    projection = DepartmentPerformance(month.directory)
    replayed = report_as_of(month.desk, projection, as_of, *MONTH, total=True)
    _check(replayed, count_by_hand(month, *MONTH, recorded_by=as_of))
    live = _live(month, *MONTH, bj(2026, 11, 1))
    assert replayed[-1]["received"] < live[-1]["received"]


def test_the_cli_prints_the_report(month: Month, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from cli.report_cmd import report_app

    monkeypatch.setenv("CASETRAIL_DATABASE_URL", month.settings.database_url)
    app = typer.Typer()
    app.add_typer(report_app, name="report")
    runner = CliRunner()
    out = runner.invoke(
        app,
        ["report", "departments", "--from", "2026-10-01", "--to", "2026-10-31"],
        env={"COLUMNS": "240"},
    )
    assert out.exit_code == 0, out.output
    assert "received" in out.output
    assert "受理" in out.output
    assert "TOTAL 合计" in out.output
    as_of = runner.invoke(
        app,
        ["report", "departments", "--from", "2026-10-01", "--to", "2026-10-31", "--as-of",
         "2026-10-16T12:00:00+08:00", "--json"],
    )  # fmt: skip
    assert as_of.exit_code == 0, as_of.output
    assert '"department": "TOTAL"' in as_of.output
