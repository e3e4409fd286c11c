"""The SLA clock warns of and breaches an overdue CAPA item like a milestone, on both backends.

A CAPA item's row in ``sla_deadlines`` schedules its warning at 80 % of its time and its breach
at the due instant; the clock sends ``RecordCapaWarning`` and then ``RecordCapaBreach`` at those
instants (simulated time), once each; the row shows the warning, then turns ``breached``; the
item completed later leaves the deadlines, late.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import build_followers
from config.settings import Settings
from domain.survey import (
    AnalyseSurvey,
    CapaItemIn,
    CompleteCapaItem,
    DesignSurvey,
    FieldSurvey,
    IssueCapa,
    RecordSurveyResponse,
)
from projections.due_queries import ViewQueries
from projections.sla_deadlines import SlaDeadlines
from projections.surveys import Surveys
from tests.factories import SUPERVISOR, bj, clean_postgres, history, make_desk
from workers.projector import Projector
from workers.sla_clock import ProjectorViews, SimulatedClock, SlaClock

pytestmark = pytest.mark.postgres

DUE = bj(2026, 10, 20, 17, 0)
WARN = bj(2026, 10, 19, 1, 0)  # 80 % of the 200 hours from the issue (10-12 09:00) to DUE


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'events.sqlite'}")
    url = request.getfixturevalue("pg_database")
    clean_postgres(url)
    return Settings(database_url=url)


def test_an_overdue_capa_item_is_breached_by_the_clock_at_its_due_instant(
    settings: Settings,
) -> None:
    clock = SimulatedClock(bj(2026, 10, 12, 9, 0))
    desk = make_desk(clock, env=settings.eventsourcing_env())  # type: ignore[arg-type]
    try:
        followers = build_followers(settings, [SlaDeadlines(), Surveys()])
        views = ProjectorViews(Projector(desk, followers))
        sla = SlaClock(desk, views, ViewQueries.of(followers), clock)
        survey = desk.handle(
            DesignSurvey(
                **SUPERVISOR, title="调查", purpose="服务", plan="电话", questions=["满意吗?"]
            )
        )
        desk.handle(FieldSurvey(**SUPERVISOR, survey_id=survey.id))
        desk.handle(RecordSurveyResponse(**SUPERVISOR, survey_id=survey.id, satisfied=False))
        desk.handle(AnalyseSurvey(**SUPERVISOR, survey_id=survey.id))  # 0 of 1: 0.0 %
        item = CapaItemIn(department="station_1", description="整改", due_at=DUE)
        desk.handle(IssueCapa(**SUPERVISOR, survey_id=survey.id, items=[item]))

        # Issued at 10-12 09:00, due 10-20 17:00 (200 h): its owner is warned at 80 %, 160 h in
        views.catch_up()
        deadlines = followers[0]
        (row,) = deadlines.store.dump(deadlines.projection.table("sla_deadlines"))
        assert (row["next_action_at"], row["warnings"]) == (WARN, [])
        assert sla.run_until(bj(2026, 10, 19, 0, 59)) == 0  # not yet at 80 %
        assert sla.run_until(bj(2026, 10, 20, 16, 59)) == 1  # the warning, not yet the breach
        warning = history(desk, survey.id)[-1]
        assert type(warning).__name__ == "CapaItemWarned"
        assert (warning.meta.occurred_at, warning.threshold) == (WARN, 0.8)
        views.catch_up()
        (row,) = deadlines.store.dump(deadlines.projection.table("sla_deadlines"))
        assert (row["state"], row["warnings"], row["next_action_at"]) == ("running", [0.8], DUE)
        assert sla.run_until(bj(2026, 10, 21, 9, 0)) == 1
        assert sla.run_until(bj(2026, 10, 22, 9, 0)) == 0  # once
        breach = history(desk, survey.id)[-1]
        assert type(breach).__name__ == "CapaItemBreached"
        assert breach.meta.occurred_at == DUE
        assert breach.meta.actor == "sla-clock"
        views.catch_up()
        (row,) = deadlines.store.dump(deadlines.projection.table("sla_deadlines"))
        assert (row["milestone"], row["cycle"], row["state"]) == ("capa", 1, "breached")
        assert (row["due_at"], row["next_action_at"]) == (DUE, None)

        clock.advance_to(bj(2026, 10, 23, 9, 0))
        desk.handle(CompleteCapaItem(**SUPERVISOR, survey_id=survey.id, item="1"))
        views.catch_up()
        assert deadlines.store.dump(deadlines.projection.table("sla_deadlines")) == []
        surveys = followers[1]
        (done,) = surveys.store.dump(surveys.projection.table("survey_capa_items"))
        assert (done["state"], done["on_time"]) == ("done", False)
    finally:
        desk.close()
