"""Surveys and their CAPA items through the real projector, on SQLite and PostgreSQL.

A survey at 87 % (87 satisfied of 100) cannot close before CAPA items are issued; once issued,
each item's deadline is a row of ``sla_deadlines``; a completed item leaves it. The year-end
summary counts complaints by category in the year of intake (Beijing time), from the
view's own table of complaints. Rows must be equal on both backends and equal to a rebuild.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bootstrap import build_followers
from config.settings import Settings
from domain.desk import Desk
from domain.errors import InvariantViolated
from domain.survey import (
    AnalyseSurvey,
    CapaItemIn,
    CloseSurvey,
    CompleteCapaItem,
    DesignSurvey,
    FieldSurvey,
    IssueCapa,
    RecordSurveyResponse,
)
from projections.core import Projection, Row, canonical, digest_rows
from projections.sla_deadlines import SlaDeadlines
from projections.surveys import Surveys
from projections.year_end import year_end_summary
from tests.factories import SUPERVISOR, FakeClock, act, bj, make_desk, receive
from workers.projector import Follower, Projector

pytestmark = pytest.mark.postgres


def _mine() -> list[Projection]:
    return [SlaDeadlines(), Surveys()]


def _dumps(followers: list[Follower]) -> dict[str, list[Row]]:
    return {
        t.name: sorted(
            (canonical(r) for r in f.store.dump(t)), key=lambda r: [str(r[k]) for k in t.key]
        )
        for f in followers
        for t in f.projection.tables
    }


def _digests(followers: list[Follower]) -> dict[str, tuple[int, str]]:
    return {t.name: digest_rows(t, f.store.dump(t)) for f in followers for t in f.projection.tables}


def _table(followers: list[Follower], view: str, table: str) -> list[Row]:
    (follower,) = [f for f in followers if f.projection.name == view]
    return list(follower.store.dump(follower.projection.table(table)))


def _complaints(desk: Desk) -> None:
    """Complaints of 2025, 2026 and 2027 by business time of intake (Beijing)."""
    counts_2026 = {"service_attitude": 3, "outage_frequency": 5, "billing": 2, "meter": 1}
    n = 0
    for category, count in counts_2026.items():
        for _ in range(count):
            n += 1
            at = bj(2026, 3, 1, 9) + timedelta(hours=n)
            receive(desk, category=category, occurred_at=at, command_id=f"c-{n}")
            if n == 4:  # the first outage_frequency one turns out to be about billing
                ticket = receive(desk, command_id="c-4")  # the same ticket (same command id)
                act(desk, ticket, "verify", occurred_at=at + timedelta(minutes=5))
                act(
                    desk,
                    ticket,
                    "classify",
                    category="billing",
                    priority="normal",
                    occurred_at=at + timedelta(minutes=6),
                )
    # 2026-01-01 00:30 Beijing is 2025-12-31 16:30 UTC: it counts in 2026.
    receive(desk, category="billing", occurred_at=bj(2026, 1, 1, 0, 30), command_id="c-ny")
    # 2025-12-31 23:30 Beijing: 2025, not 2026.
    receive(desk, category="meter", occurred_at=bj(2025, 12, 31, 23, 30), command_id="c-ye1")
    receive(desk, category="meter", occurred_at=bj(2025, 12, 31, 23, 40), command_id="c-ye2")
    # A fault repair is no complaint, whatever its category.
    receive(
        desk, kind="fault_repair", category="outage", occurred_at=bj(2026, 5, 1, 9), command_id="f"
    )


def _tell(settings: Settings) -> dict[str, Any]:
    clock = FakeClock(bj(2026, 10, 12, 9, 0))
    desk = make_desk(clock, env=settings.eventsourcing_env())
    try:
        followers = build_followers(settings, _mine())
        projector = Projector(desk, followers, batch_size=7)
        _complaints(desk)
        who = {**SUPERVISOR, "command_id": None}
        survey = desk.handle(
            DesignSurvey(
                **SUPERVISOR,
                command_id="survey-2026q4",
                title="2026年第四季度客户满意度调查",
                purpose="了解客户对抢修与投诉处理的满意程度",
                plan="随机抽取100户电话访问",
                questions=["您对处理结果是否满意?"],
            )
        )
        desk.handle(FieldSurvey(**who, survey_id=survey.id))
        for n in range(100):
            # 87 satisfied (score 5), 13 not (score 2): 87 / 100 = 87.0 %.
            score = 5 if n < 87 else 2
            desk.handle(RecordSurveyResponse(**who, survey_id=survey.id, score=score))
        projector.catch_up()
        desk.handle(AnalyseSurvey(**who, survey_id=survey.id))
        refusal = None
        try:
            desk.handle(CloseSurvey(**who, survey_id=survey.id))
        except InvariantViolated as refused:
            refusal = refused.details["rule"]
        clock.advance(hours=1)  # 2026-10-12 10:00 Beijing
        items = [
            CapaItemIn(
                department="station_1",
                owner="张伟",
                description="抢修人员服务规范培训",
                due_at=bj(2026, 11, 12, 10, 0),
            ),
            CapaItemIn(
                department="marketing",
                description="营业厅服务流程整改",
                due_at=bj(2026, 12, 31, 17, 0),
            ),
        ]
        desk.handle(IssueCapa(**who, survey_id=survey.id, items=items))
        desk.handle(CloseSurvey(**who, survey_id=survey.id))
        projector.catch_up()
        issued = _table(followers, "sla_deadlines", "sla_deadlines")
        clock.advance(days=10)
        desk.handle(CompleteCapaItem(**who, survey_id=survey.id, item="1", note="培训已完成"))
        projector.catch_up()
        live, dumps = _digests(followers), _dumps(followers)
        for f in followers:
            f.store.drop_tables()
        rebuilt = build_followers(settings, _mine())
        Projector(desk, rebuilt).catch_up()
        return {
            "survey": survey,
            "refusal": refusal,
            "issued": issued,
            "live": live,
            "dumps": dumps,
            "rebuilt": _digests(rebuilt),
            "rebuilt_dumps": _dumps(rebuilt),
            "tickets": _table(rebuilt, "surveys", "survey_complaint_sources"),
        }
    finally:
        desk.close()


def test_a_survey_at_87_percent_needs_capa_whose_deadlines_are_sla_deadlines(
    sqlite_settings: Settings, postgres_settings: Settings
) -> None:
    lite = _tell(sqlite_settings)
    pg = _tell(postgres_settings)
    assert lite["dumps"] == pg["dumps"]
    assert lite["live"] == pg["live"]
    assert lite["rebuilt_dumps"] == lite["dumps"]
    assert lite["rebuilt"] == lite["live"]
    assert pg["rebuilt"] == pg["live"]

    assert lite["refusal"] == (
        "satisfaction 87.0 % < target 90 %: issue corrective/preventive actions first"
    )
    survey_id = str(lite["survey"].id)
    # Issued: both items among the SLA deadlines, running, due when each item is due.
    capa = {
        r["cycle"]: r
        for r in lite["issued"]
        if r["ticket_id"] == survey_id and r["milestone"] == "capa"
    }
    assert sorted(capa) == [1, 2]
    first = capa[1]
    assert (first["state"], first["kind"], first["department"], first["owner"]) == (
        "running",
        "survey",
        "station_1",
        "张伟",
    )
    assert first["number"] == lite["survey"].number
    assert first["due_at"] == bj(2026, 11, 12, 10, 0)
    assert first["started_at"] == bj(2026, 10, 12, 10, 0)
    assert first["target_seconds"] == 31 * 86_400  # 10-12 10:00 to 11-12 10:00, 24x7
    assert capa[2]["due_at"] == bj(2026, 12, 31, 17, 0)

    # Item 1 completed: it left the deadlines, item 2 stays.
    left = [
        (r["milestone"], r["cycle"])
        for r in lite["dumps"]["sla_deadlines"]
        if r["ticket_id"] == survey_id
    ]
    assert left == [("capa", 2)]

    (row,) = lite["dumps"]["surveys"]
    assert (row["state"], row["responses"], row["satisfied"]) == ("closed", 100, 87)
    assert (row["satisfaction_percent"], row["below_target"]) == (87.0, True)
    assert (row["target_percent"], row["target_is_default"]) == (90.0, True)
    assert (row["capa_items"], row["capa_open"]) == (2, 1)
    items = {r["item"]: r for r in lite["dumps"]["survey_capa_items"]}
    done = items[1]
    assert (done["state"], done["on_time"], done["note"]) == ("done", True, "培训已完成")
    assert (items[2]["state"], items[2]["completed_at"]) == ("open", None)

    # Year-end summary of 2026, by hand: outage_frequency 5 - 1 reclassified = 4; billing
    # 2 + 1 reclassified + 1 (2026-01-01 00:30 Beijing) = 4; service_attitude 3; meter 1 (the
    # two of 2025-12-31 do not count, nor the fault repair); 4 + 4 + 3 + 1 = 12 complaints;
    # billing and outage_frequency tie at 4: by code, billing first.
    for backend in (lite, pg):
        summary = year_end_summary(backend["tickets"], 2026, top=3)
        assert summary["complaints"] == 12
        assert [(c["category"], c["count"]) for c in summary["categories"]] == [
            ("billing", 4),
            ("outage_frequency", 4),
            ("service_attitude", 3),
            ("meter", 1),
        ]
        assert summary["categories"][0]["share"] == 33.3  # 4 / 12 = 33.33 %
        assert [(s["for_year"], s["category"]) for s in summary["capa_sources"]] == [
            (2027, "billing"),
            (2027, "outage_frequency"),
            (2027, "service_attitude"),
        ]
        earlier = year_end_summary(backend["tickets"], 2025)
        assert [(c["category"], c["count"]) for c in earlier["categories"]] == [("meter", 2)]
