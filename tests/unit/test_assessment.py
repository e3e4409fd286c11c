"""Monthly assessment (考核): points from rules, joint liability, no double assessment, sign-off."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap.assessment_rules import (
    DEFAULT_RULES,
    SETTING,
    AssessmentRulesError,
    load_assessment_rules,
)
from bootstrap.org_loader import load_directory
from domain.assessment import (
    AssessmentMonth,
    AssessmentRules,
    DisputeAssessment,
    ProposeAssessment,
    ResolveAssessmentDispute,
    SelfAssessItem,
    SignOffAssessment,
    assess_month,
    month_id,
)
from domain.base import Role
from domain.desk import Desk
from domain.errors import IllegalTransition, InvalidValue
from projections.assessment import parents_of
from tests.factories import FakeClock, bj, history, names

RULES = AssessmentRules.model_validate(
    {
        "version": "test-1",
        "effective_from": "2026-10-01",
        "rules": [
            {"reason": "breach", "points": 2, "casetrail_default": True},
            {"reason": "breach", "milestone": "resolution", "points": 3, "casetrail_default": True},
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
PARENTS = {"station_1": "marketing_service", "marketing_service": None}


def fact(
    n: int, number: str, reason: str, kind: str, milestone: str | None = None
) -> dict[str, Any]:
    return {
        "fact_id": f"f{n}",
        "number": number,
        "reason": reason,
        "kind": kind,
        "milestone": milestone,
        "occurred_at": bj(2026, 10, n + 1, 10),
    }


# Station 1's October: three tickets.
FACTS = [
    fact(1, "TS001", "breach", "complaint", "department_reply"),  # complaint rule: 4
    fact(2, "GZ002", "breach", "fault_repair", "resolution"),  # resolution rule: 3 (self-assessed)
    fact(3, "ZX003", "breach", "inquiry", "reply"),  # general breach: 2
    fact(4, "TS001", "urge", "complaint"),  # 1
    fact(5, "GZ002", "urge", "fault_repair"),  # 1
    fact(6, "TS001", "supervision", "complaint"),  # 3
    fact(7, "GZ002", "reopen", "fault_repair"),  # 2
    fact(8, "GZ002", "dissatisfied", "fault_repair"),  # 2
]
SELF = [("GZ002", "breach")]  # the station assessed GZ002's breach itself


def test_month_totals_equal_the_hand_sums_with_roll_up_and_self_assessed_item() -> None:
    proposal = assess_month(
        "station_1", "2026-10", FACTS, RULES, self_assessed=SELF, parents=PARENTS
    )

    assert [(i.key, i.points, i.skipped) for i in proposal.items] == [
        ("f1", 4, None),
        ("f2", 3, "self_assessed"),  # listed, scores nothing here (不再重复考核)
        ("f3", 2, None),
        ("f4", 1, None),
        ("f5", 1, None),
        ("f6", 3, None),
        ("f7", 2, None),
        ("f8", 2, None),
    ]
    # counted: 4 + 2 + 1 + 1 + 3 + 2 + 2 = 15 (f2's 3 left out: 18 - 3)
    assert proposal.points == 15
    # breach 4 + 2 = 6; urge 1 + 1 = 2; supervision 3; reopen 2; dissatisfied 2; 6+2+3+2+2 = 15
    assert proposal.by_reason == {
        "breach": 6,
        "urge": 2,
        "supervision": 3,
        "reopen": 2,
        "dissatisfied": 2,
    }
    assert sum(proposal.by_reason.values()) == proposal.points
    # joint liability 逐级: the station's leader (default name) and the merged 营销部's leader
    # each answer for the same 15 points; the department total stays 15, not 30.
    assert [(line.person, line.level, line.points) for line in proposal.liability] == [
        ("leader.station_1", 0, 15),
        ("leader.marketing", 1, 15),
    ]
    assert proposal.leader == "leader.station_1"
    assert proposal.rules_version == "test-1"


def test_without_self_assessment_the_item_counts() -> None:
    proposal = assess_month("station_1", "2026-10", FACTS, RULES)
    assert proposal.points == 18  # 15 + GZ002's breach 3
    assert [line.person for line in proposal.liability] == ["leader.station_1"]


def _cmd(cls: type, who: str, role: Role, department: str, **fields: Any) -> Any:
    return cls(
        actor_id=who,
        role=role,
        department=department,
        assessed_department="station_1",
        month="2026-10",
        occurred_at=bj(2026, 11, 3, 9),
        **fields,
    )


def _supervisor(cls: type, **fields: Any) -> Any:
    return _cmd(cls, "sup.wang", Role.SUPERVISOR, "marketing_service", **fields)


def _station(cls: type, **fields: Any) -> Any:
    return _cmd(cls, "agent.station_1", Role.AGENT, "station_1", **fields)


@pytest.fixture(autouse=True)
def _november(clock: FakeClock) -> None:
    clock.set(bj(2026, 11, 3, 10))  # the month after, when October is assessed


def _proposed(desk: Desk) -> None:
    desk.handle(_station(SelfAssessItem, ticket="GZ002", reason="breach", note="所内已考核"))
    proposal = assess_month(
        "station_1", "2026-10", FACTS, RULES, self_assessed=SELF, parents=PARENTS
    )
    desk.handle(_supervisor(ProposeAssessment, proposal=proposal))


def test_proposed_disputed_resolved_and_signed_off_by_the_leader(memory_desk: Desk) -> None:
    _proposed(memory_desk)
    memory_desk.handle(_station(DisputeAssessment, item="f4", reason="催办 was for another unit"))
    memory_desk.handle(
        _supervisor(ResolveAssessmentDispute, item="f4", decision="cancelled", note="agreed")
    )
    out = memory_desk.handle(
        _cmd(SignOffAssessment, "leader.station_1", Role.SUPERVISOR, "station_1")
    )

    assert out.state == "signed_off"
    ident = month_id("station_1", "2026-10")
    events = history(memory_desk, ident)
    assert names(events) == [
        "AssessmentMonthOpened",
        "AssessmentItemSelfAssessed",
        "AssessmentProposed",
        "AssessmentDisputed",
        "AssessmentDisputeResolved",
        "AssessmentSignedOff",
    ]
    assert events[2].proposal["points"] == 15
    assert events[-1].points == 14  # 15 less the cancelled urge f4 (1)
    assert events[-1].leader == "leader.station_1"


def test_sign_off_by_someone_else_is_refused_naming_the_rule(memory_desk: Desk) -> None:
    _proposed(memory_desk)
    with pytest.raises(InvalidValue) as refused:
        memory_desk.handle(
            _cmd(SignOffAssessment, "sup.wang", Role.SUPERVISOR, "marketing_service")
        )
    assert "leader.station_1" in str(refused.value)
    assert "分管领导签发" in str(refused.value)


def test_dispute_without_reason_is_refused(memory_desk: Desk) -> None:
    _proposed(memory_desk)
    with pytest.raises(InvalidValue) as refused:
        memory_desk.handle(_station(DisputeAssessment, item="f4", reason="  "))
    assert refused.value.details.get("field") == "reason" or "reason" in str(refused.value)


def test_dispute_after_sign_off_is_refused_naming_both_states(memory_desk: Desk) -> None:
    _proposed(memory_desk)
    memory_desk.handle(_cmd(SignOffAssessment, "leader.station_1", Role.SUPERVISOR, "station_1"))
    with pytest.raises(IllegalTransition) as refused:
        memory_desk.handle(_station(DisputeAssessment, item="f4", reason="too late"))
    assert "signed_off" in str(refused.value)
    assert "proposed or disputed" in str(refused.value)


def test_sign_off_with_an_open_dispute_is_refused(memory_desk: Desk) -> None:
    _proposed(memory_desk)
    memory_desk.handle(_station(DisputeAssessment, item="f6", reason="督办 was withdrawn"))
    with pytest.raises(IllegalTransition) as refused:
        memory_desk.handle(
            _cmd(SignOffAssessment, "leader.station_1", Role.SUPERVISOR, "station_1")
        )
    assert "disputed" in str(refused.value)
    assert "proposed" in str(refused.value)


def test_a_proposal_assessing_a_self_assessed_item_again_is_refused(memory_desk: Desk) -> None:
    memory_desk.handle(_station(SelfAssessItem, ticket="GZ002", reason="breach", note="所内已考核"))
    twice = assess_month("station_1", "2026-10", FACTS, RULES)  # ignores the self-assessment
    with pytest.raises(InvalidValue) as refused:
        memory_desk.handle(_supervisor(ProposeAssessment, proposal=twice))
    assert "GZ002" in str(refused.value)


def test_self_assessment_after_the_proposal_is_refused(memory_desk: Desk) -> None:
    _proposed(memory_desk)
    with pytest.raises(IllegalTransition):
        memory_desk.handle(_station(SelfAssessItem, ticket="TS001", reason="urge", note="late"))


def test_aggregate_replays_to_the_same_state(memory_desk: Desk) -> None:
    _proposed(memory_desk)
    month = memory_desk.repository.get(month_id("station_1", "2026-10"))
    assert isinstance(month, AssessmentMonth)
    assert (month.state.value, month.points, month.self_assessed[0]["ticket"]) == (
        "proposed",
        15,
        "GZ002",
    )


def test_shipped_rules_load_and_every_figure_is_a_casetrail_default() -> None:
    rules = load_assessment_rules()
    assert rules.version
    assert all(rule.casetrail_default for rule in rules.rules)
    assert all(leader.casetrail_default for leader in rules.leaders)


def test_a_bad_rules_file_names_file_entry_and_field(tmp_path: Any) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text(
        'version = "x"\neffective_from = 2026-10-01\n'
        '[[rule]]\nreason = "breach"\npoints = 500\ncasetrail_default = true\n'
    )
    with pytest.raises(AssessmentRulesError) as refused:
        load_assessment_rules(bad)
    assert "rules.toml: rule[0].points:" in str(refused.value)


def test_the_rules_file_comes_from_the_setting_or_the_data_dir(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = load_assessment_rules()
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    (tmp_path / "assessment_rules.toml").write_text(
        text.replace(shipped.version, "unit-own-1"), encoding="utf-8"
    )
    monkeypatch.setenv("CASETRAIL_DATA_DIR", str(tmp_path))
    assert load_assessment_rules().version == "unit-own-1"
    named = tmp_path / "other.toml"
    named.write_text(text.replace(shipped.version, "named-2"), encoding="utf-8")
    monkeypatch.setenv(SETTING, str(named))
    assert load_assessment_rules().version == "named-2"


def test_a_unit_merged_away_during_the_month_rolls_up_to_its_parent_of_the_month() -> None:
    # 营销部 (marketing) ended at the 2026-10-16 merger: October's end does not know it, the
    # month's start does (a back office at the top: no parent). station_1.marketing lies under
    # station_1 at the end of October, under the merged 营销部 above it.
    parents = parents_of(load_directory(), ["marketing", "station_1.marketing"], "2026-10")
    assert parents["marketing"] is None
    assert parents["station_1.marketing"] == "station_1"
    assert parents["station_1"] == "marketing_service"


def test_a_month_before_the_rules_take_effect_is_refused_naming_the_date() -> None:
    with pytest.raises(InvalidValue) as refused:
        assess_month("station_1", "2026-09", [], RULES)
    assert "2026-10-01" in str(refused.value)
    assert "test-1" in str(refused.value)


def test_the_command_that_opens_a_month_is_saved_and_a_repeat_changes_nothing(
    memory_desk: Desk,
) -> None:
    once = _station(SelfAssessItem, ticket="GZ002", reason="breach", note="所内已考核")
    once = once.model_copy(update={"command_id": "self-assess-1"})
    first = memory_desk.handle(once)
    again = memory_desk.handle(once)
    assert first.events == ["AssessmentMonthOpened", "AssessmentItemSelfAssessed"]
    assert (again.changed, again.version) == (False, first.version)
    assert len(history(memory_desk, month_id("station_1", "2026-10"))) == 2


def test_proposing_again_replaces_the_proposal_and_a_skipped_item_cannot_be_disputed(
    memory_desk: Desk,
) -> None:
    _proposed(memory_desk)
    with pytest.raises(InvalidValue) as refused:
        memory_desk.handle(_station(DisputeAssessment, item="f2", reason="已自行考核"))
    assert "self_assessed" in str(refused.value)
    # f3's breach withdrawn since: 15 - 2 = 13
    fewer = [f for f in FACTS if f["fact_id"] != "f3"]
    again = assess_month("station_1", "2026-10", fewer, RULES, self_assessed=SELF, parents=PARENTS)
    out = memory_desk.handle(_supervisor(ProposeAssessment, proposal=again))
    month = memory_desk.repository.get(out.id)
    assert (out.events, month.points, month.state.value) == (["AssessmentProposed"], 13, "proposed")
