"""``casetrail survey list|show`` and ``casetrail report year-end`` on a store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import Settings
from domain.survey import (
    AnalyseSurvey,
    CapaItemIn,
    DesignSurvey,
    FieldSurvey,
    IssueCapa,
    RecordSurveyResponse,
)
from tests.factories import SUPERVISOR, FakeClock, bj, make_desk, receive


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return Settings(database_url=url)


def test_survey_list_show_and_year_end(store: Settings) -> None:
    clock = FakeClock(bj(2026, 10, 12, 9, 0))
    desk = make_desk(clock, env=store.eventsourcing_env())
    try:
        survey = desk.handle(
            DesignSurvey(
                **SUPERVISOR,
                title="抢修满意度调查",
                purpose="抢修服务",
                plan="回访10户",
                questions=["您对抢修是否满意?"],
            )
        )
        desk.handle(FieldSurvey(**SUPERVISOR, survey_id=survey.id))
        for n in range(10):  # 8 of 10 satisfied: 80.0 %
            desk.handle(RecordSurveyResponse(**SUPERVISOR, survey_id=survey.id, satisfied=n < 8))
        desk.handle(AnalyseSurvey(**SUPERVISOR, survey_id=survey.id))
        item = CapaItemIn(
            department="station_1",
            owner="张伟",
            description="抢修到达时限考核",
            due_at=clock.now + timedelta(days=30),
        )
        desk.handle(IssueCapa(**SUPERVISOR, survey_id=survey.id, items=[item]))
        # 2026: outage 2, billing 1.
        for category in ("outage", "outage", "billing"):
            receive(desk, category=category)
    finally:
        desk.close()
    runner = CliRunner()

    listed = runner.invoke(app, ["survey", "list"])
    assert listed.exit_code == 0, listed.output
    assert survey.number in listed.output
    assert "80.0 % ▼" in listed.output
    assert "1/1" in listed.output  # CAPA open/issued

    shown = runner.invoke(app, ["survey", "show", str(survey.id)])
    assert shown.exit_code == 0, shown.output
    assert "80.0 % (8/10) target 目标 90 % (default)" in shown.output
    assert "2026-11-11 09:00" in shown.output  # due: 30 days after 10-12 09:00

    report = runner.invoke(app, ["report", "year-end", "--year", "2026", "--json"])
    assert report.exit_code == 0, report.output
    body = json.loads(report.output)
    assert [(c["category"], c["count"]) for c in body["categories"]] == [
        ("outage", 2),
        ("billing", 1),
    ]
    assert body["capa_sources"][0]["for_year"] == 2027
