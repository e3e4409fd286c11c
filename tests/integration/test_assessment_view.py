"""The assessment view through the real projector, on SQLite and PostgreSQL: October's facts
of station 1, a self-assessed urge, the proposal sent from the view, the sign-off."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap import build_followers
from bootstrap.assessment_rules import load_assessment_rules
from config.settings import Settings
from domain.assessment import (
    AssessmentRules,
    ProposeAssessment,
    SelfAssessItem,
    SignOffAssessment,
)
from domain.base import Role
from domain.desk import Desk
from projections.assessment import (
    AssessmentView,
    assessment_report,
    month_rows,
    parents_of,
    proposal_for,
)
from projections.core import canonical
from tests.factories import HANDLER, SUPERVISOR, SYSTEM, FakeClock, act, bj, receive
from tests.integration.views import database_url
from workers.projector import Projector

pytestmark = pytest.mark.postgres

RULES = AssessmentRules.model_validate(
    {
        "version": "test-1",
        "effective_from": "2026-10-01",
        "rules": [
            {"reason": "breach", "points": 2, "casetrail_default": True},
            {"reason": "breach", "kind": "complaint", "points": 4, "casetrail_default": True},
            {"reason": "urge", "points": 1, "casetrail_default": True},
            {"reason": "supervision", "points": 3, "casetrail_default": True},
            {"reason": "reopen", "points": 2, "casetrail_default": True},
            {"reason": "dissatisfied", "points": 2, "casetrail_default": True},
        ],
        "leaders": [
            {
                "department": "marketing_service",
                "person": "leader.marketing",
                "casetrail_default": True,
            }
        ],
    }
)


def _month(desk: Desk, cls: type, who: str, role: Role, dept: str, **fields: Any) -> Any:
    return desk.handle(
        cls(
            actor_id=who,
            role=role,
            department=dept,
            assessed_department="station_1",
            month="2026-10",
            **fields,
        )
    )


def test_the_month_is_assessed_from_the_view_on_both_backends(desk: Desk, clock: FakeClock) -> None:
    [follower] = build_followers(
        Settings(database_url=database_url(desk)), [AssessmentView(desk.directory)]
    )
    projector = Projector(desk, [follower])

    t1 = receive(desk, command_id="asm-t1")
    t1 = act(desk, t1, "verify")
    t1 = act(desk, t1, "classify", category="service_attitude", priority="normal")
    t1 = act(desk, t1, "dispatch", owner="张伟", to_department="station_1")
    t2 = receive(desk, kind="fault_repair", category="outage", command_id="asm-t2")
    t2 = act(desk, t2, "dispatch", owner="抢修调度", to_department="station_1")
    clock.set(bj(2026, 10, 12, 10, 0))
    t1 = act(desk, t1, "urge", SUPERVISOR, note="请尽快联系客户")
    t1 = act(desk, t1, "supervise", SUPERVISOR, reason="重要客户投诉")
    t2 = act(desk, t2, "urge", SUPERVISOR, note="请尽快到达")
    clock.set(bj(2026, 10, 13, 9, 0))
    t1 = act(desk, t1, "record_breach", SYSTEM, milestone="first_contact", cycle=1)
    act(desk, t1, "accept", HANDLER)
    projector.catch_up()

    facts, months = month_rows(follower.store, "2026-10")
    assert sorted((f["department"], f["reason"], f["number"] == t1.number) for f in facts) == [
        ("station_1", "breach", True),
        ("station_1", "supervision", True),
        ("station_1", "urge", False),
        ("station_1", "urge", True),
    ]
    assert months == []

    # Station 1 assessed t2's urge itself, before the group proposes (不再重复考核).
    clock.set(bj(2026, 11, 3, 9, 0))
    _month(desk, SelfAssessItem, "agent.station_1", Role.AGENT, "station_1",
           ticket=t2.number, reason="urge", note="所内已考核")  # fmt: skip
    projector.catch_up()
    facts, months = month_rows(follower.store, "2026-10")
    parents = parents_of(desk.directory, ["station_1"], "2026-10")
    proposal = proposal_for("station_1", "2026-10", facts, months, RULES, parents)
    # t1: breach (complaint) 4 + urge 1 + supervision 3 = 8; t2's urge (1) skipped
    assert proposal.points == 8
    assert [i.skipped for i in proposal.items if i.ticket == t2.number] == ["self_assessed"]
    _month(desk, ProposeAssessment, "sup-3", Role.SUPERVISOR, "marketing", proposal=proposal)
    projector.catch_up()

    facts, months = month_rows(follower.store, "2026-10")
    report = assessment_report("2026-10", facts, months, RULES, parents)
    [line] = report["departments"]
    assert (line["state"], line["points"], line["stale"]) == ("proposed", 8, False)
    assert line["counts"] == {"breach": 1, "urge": 1, "supervision": 1}
    # liability 逐级: the station's leader and, above it after the merger, 营销部's
    people = {p["person"]: p["liability"] for p in report["people"]}
    assert people["leader.station_1"] == 8
    assert people["leader.marketing"] == 8
    assert report["total_points"] == 8  # each item once, not 8 per leader

    _month(desk, SignOffAssessment, "leader.station_1", Role.SUPERVISOR, "station_1")
    projector.catch_up()
    _, months = month_rows(follower.store, "2026-10")
    assert [(m["state"], m["signed_by"], m["points"]) for m in months] == [
        ("signed_off", "leader.station_1", 8)
    ]

    # A rebuild from the log gives the same rows.
    before = {t.name: sorted(map(str, map(canonical, follower.store.dump(t))))
              for t in follower.projection.tables}  # fmt: skip
    follower.reset()
    Projector(desk, [follower]).catch_up()
    after = {t.name: sorted(map(str, map(canonical, follower.store.dump(t))))
             for t in follower.projection.tables}  # fmt: skip
    assert after == before


def test_the_shipped_rules_give_a_report_for_an_empty_month() -> None:
    report = assessment_report("2026-10", [], [], load_assessment_rules())
    assert (report["departments"], report["people"], report["total_points"]) == ([], [], 0)
