"""``casetrail outage list|show|report`` on a store: one incident, four calls, one repair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import Settings
from domain.outage import (
    DispatchOutageCrew,
    LinkOutageTicket,
    OpenOutageIncident,
    RecordOutageArrival,
    RecordOutageRestoration,
)
from tests.factories import AGENT, HANDLER, SUPERVISOR, FakeClock, bj, make_desk, receive

FEEDER = "10kV城关线#3"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "220")
    return Settings(database_url=url)


def test_outage_list_show_and_report(store: Settings) -> None:
    clock = FakeClock(bj(2026, 10, 12, 9, 0))
    desk = make_desk(clock, env=store.eventsourcing_env())
    try:
        calls = []
        for minute in (1, 2, 3, 4):
            clock.set(bj(2026, 10, 12, 9, minute))
            calls.append(receive(desk, kind="fault_repair", category="outage", feeder=FEEDER))
        clock.set(bj(2026, 10, 12, 9, 5))
        opened = desk.handle(
            OpenOutageIncident(
                **SUPERVISOR,
                area="urban",
                feeder=FEEDER,
                repair_department="station_1",
                started_at=bj(2026, 10, 12, 9, 0),
            )
        )
        for t in calls:
            desk.handle(LinkOutageTicket(**AGENT, incident_id=opened.id, ticket_id=t.id))
        clock.set(bj(2026, 10, 12, 9, 10))
        desk.handle(
            DispatchOutageCrew(
                **HANDLER,
                incident_id=opened.id,
                crew="抢修一班",
                promised_arrival_at=bj(2026, 10, 12, 9, 40),
            )
        )
        clock.set(bj(2026, 10, 12, 9, 50))  # 50 min after the start: the 45 min arrival missed
        desk.handle(RecordOutageArrival(**HANDLER, incident_id=opened.id, crew="抢修一班"))
        clock.set(bj(2026, 10, 12, 10, 30))
        desk.handle(
            RecordOutageRestoration(
                **HANDLER, incident_id=opened.id, crew="抢修一班", cause="熔断", answer="已复电"
            )
        )
    finally:
        desk.close()
    runner = CliRunner()

    listed = runner.invoke(app, ["outage", "list"])
    assert listed.exit_code == 0, listed.output
    assert opened.number in listed.output
    assert "✗ 超时" in listed.output
    assert "✓ 按时" in listed.output

    shown = runner.invoke(app, ["outage", "show", str(opened.id), "--json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert (body["incident"]["linked"], body["incident"]["answered"]) == (4, 4)
    assert [c["number"] for c in body["calls"]] == [t.number for t in calls]

    reported = runner.invoke(
        app, ["outage", "report", "--from", "2026-10-12", "--to", "2026-10-12", "--json"]
    )
    assert reported.exit_code == 0, reported.output
    (day,) = json.loads(reported.output)
    assert (day["repairs"], day["arrivals_on_time"], day["contacts"], day["answers"]) == (
        1,
        0,
        4,
        4,
    )

    missing = runner.invoke(app, ["outage", "show", "no-such-incident"])
    assert missing.exit_code == 1
