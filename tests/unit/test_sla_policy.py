"""SLA policies as data: durations, validation, the default catalogue, matching and versions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bootstrap.catalogue import DEFAULT_CALENDARS, DEFAULT_POLICIES, CatalogueError, load_catalogue
from domain.errors import AmbiguousPolicy, CalendarError, NotFound, PolicyNotFound
from domain.sla.calendar import Always, BusinessCalendar
from domain.sla.policy import (
    MilestoneSpec,
    PolicyCatalogue,
    SlaPolicy,
    TicketFacts,
    parse_duration,
)
from tests.factories import POLICY_HEAD

BJ = ZoneInfo("Asia/Shanghai")
DAY = 27_000
CATALOGUE = load_catalogue()
MID_2026 = datetime(2026, 6, 1, 10, tzinfo=BJ)


def facts(kind: str = "complaint", **more: Any) -> TicketFacts:
    ticket_class = "repair" if kind == "fault_repair" else "non_repair"
    return TicketFacts.model_validate({"kind": kind, "ticket_class": ticket_class, **more})


def targets(policy: SlaPolicy) -> dict[str, int]:
    return {m.name: m.target_seconds for m in policy.milestones}


# ---- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clock", "expected"),
    [
        ("45m", "24x7", 2700),
        ("3h", "24x7", 10_800),
        ("1h30m", "24x7", 5400),
        ("2d", "24x7", 172_800),
        ("90s", "business", 90),
        ("4h", "business", 14_400),
        ("5 working days", "business", 5 * DAY),
        ("1 working day", "business", DAY),
    ],
)
def test_parse_duration(text: str, clock: Any, expected: int) -> None:
    assert parse_duration(text, clock=clock, working_day_seconds=DAY) == expected


@pytest.mark.parametrize(
    ("text", "clock", "reason"),
    [
        ("1d", "business", "ambiguous on a business clock"),
        ("5 working days", "24x7", "need a business clock"),
        ("three hours", "24x7", "not a duration"),
        ("0m", "24x7", "positive"),
    ],
)
def test_parse_duration_refusals(text: str, clock: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(text, clock=clock, working_day_seconds=DAY)


def test_working_days_need_the_calendar_length() -> None:
    with pytest.raises(ValidationError, match="working-day length is unknown"):
        MilestoneSpec.model_validate(
            {
                "name": "reply",
                "target": "5 working days",
                "clock": "business",
                "calendar": "cn-office",
                "met_on": ["department_replied"],
            }
        )


# ---- milestone validation ----------------------------------------------------------------

BASE_MILESTONE: dict[str, Any] = {
    "name": "reply",
    "target_seconds": 3600,
    "clock": "business",
    "calendar": "cn-office",
    "met_on": ["department_replied"],
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"calendar": None}, "needs a calendar"),
        ({"clock": "24x7"}, "takes no calendar"),
        ({"met_on": ["replied_somehow"]}, "unknown lifecycle facts"),
        ({"starts_on": "created"}, "unknown lifecycle fact"),
        ({"warn_at": [0.8, 0.5]}, "strictly increasing"),
        ({"warn_at": [0.5, 1.0]}, r"lie in \(0, 1\)"),
        (
            {
                "escalation": [
                    {"level": 1, "at_fraction": 1.0, "action": "notify"},
                    {"level": 2, "at_fraction": 0.8, "action": "open_supervision"},
                ]
            },
            "levels must increase with increasing at_fraction",
        ),
        (
            {
                "escalation": [
                    {"level": 2, "at_fraction": 0.8, "action": "notify"},
                    {"level": 1, "at_fraction": 1.0, "action": "notify"},
                ]
            },
            "levels must increase",
        ),
        ({"escalation": [{"level": 1, "at_fraction": 1.0, "action": "phone_home"}]}, "action"),
    ],
)
def test_milestone_validation(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        MilestoneSpec.model_validate({**BASE_MILESTONE, **change})


def test_a_dumped_milestone_validates_again_without_calendars() -> None:
    spec = CATALOGUE.policy("complaint", 1).milestone("department_reply")
    again = MilestoneSpec.model_validate(spec.model_dump(mode="json"))
    assert again == spec
    assert again.target == "5 working days"
    assert again.target_seconds == 5 * DAY


# ---- the default catalogue ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("area", "arrival", "restoration"),
    [("urban", 45 * 60, 3 * 3600), ("rural", 90 * 60, 4 * 3600), ("remote", 2 * 3600, 6 * 3600)],
)
def test_fault_repair_targets_per_area(area: str, arrival: int, restoration: int) -> None:
    policy = CATALOGUE.match(facts("fault_repair", area=area), MID_2026)
    assert policy.id == f"fault-repair-{area}"
    found = targets(policy)
    assert (found["arrival"], found["restoration"]) == (arrival, restoration)
    arrival_spec = policy.milestone("arrival")
    assert arrival_spec.clock == "24x7"
    assert not arrival_spec.pausable
    assert arrival_spec.met_on == ("crew_arrived",)


def test_fault_repair_without_an_area_falls_back_to_the_general_policy() -> None:
    assert CATALOGUE.match(facts("fault_repair"), MID_2026).id == "fault-repair"


def test_complaint_targets_and_ladder() -> None:
    policy = CATALOGUE.match(facts("complaint", grade="B"), MID_2026)
    assert policy.ref == "complaint@v1"
    assert targets(policy) == {
        "first_contact": DAY,
        "department_reply": 5 * DAY,
        "resolution": 7 * DAY,
        "callback": 12 * 3600,  # one cn-hotline-day working day
    }
    ladder = policy.milestone("department_reply").escalation
    assert [(s.level, s.at_fraction, s.action) for s in ladder] == [
        (1, 0.8, "notify"),
        (2, 1.0, "open_supervision"),
        (3, 1.5, "notify"),
    ]
    assert ladder[1].target_department == "marketing"


@pytest.mark.parametrize(
    ("voltage", "total_days"), [("lv_residential", 5), ("lv", 6), ("10kV", 22), ("35kV", 32)]
)
def test_new_connection_steps_add_up_to_the_total(voltage: str, total_days: int) -> None:
    policy = CATALOGUE.match(facts("new_connection", voltage=voltage), MID_2026)
    found = targets(policy)
    assert found["total"] == total_days * DAY
    steps = ("site_survey", "supply_plan", "contract", "meter_install", "energize")
    assert sum(found[s] for s in steps) == found["total"]
    starts = [policy.milestone(s).starts_on for s in steps]
    assert starts == [
        "received",
        "site_surveyed",
        "plan_approved",
        "contract_signed",
        "meter_installed",
    ]


@pytest.mark.parametrize(
    ("kind", "milestone", "days"),
    [
        ("meter_dispute", "meter_test", 5),
        ("billing_adjustment", "adjustment", 7),
        ("inquiry", "reply", 1),
        ("suggestion", "reply", 10),
        ("report", "reply", 10),
    ],
)
def test_other_kinds(kind: str, milestone: str, days: int) -> None:
    policy = CATALOGUE.match(facts(kind), MID_2026)
    assert targets(policy)[milestone] == days * DAY


def test_every_policy_starts_in_2024_except_the_complaint_v2() -> None:
    start = datetime(2024, 1, 1, tzinfo=BJ)
    later = {p.ref for p in CATALOGUE.policies if p.effective_from != start}
    assert later == {"complaint@v2"}
    assert CATALOGUE.policy("complaint", 2).effective_from == datetime(2026, 11, 1, tzinfo=BJ)


# ---- matching ------------------------------------------------------------------------------


def test_grade_a_key_account_gets_the_stricter_policy() -> None:
    policy = CATALOGUE.match(facts(grade="A", key_account=True), MID_2026)
    assert policy.id == "complaint-key-account-a"
    assert targets(policy)["department_reply"] == 3 * DAY
    # Grade A without the key-account flag is an ordinary complaint.
    assert CATALOGUE.match(facts(grade="A"), MID_2026).id == "complaint"


def test_versions_follow_effective_dates() -> None:
    before = CATALOGUE.match(facts(), datetime(2026, 10, 31, 23, 59, 59, tzinfo=BJ))
    after = CATALOGUE.match(facts(), datetime(2026, 11, 1, tzinfo=BJ))
    assert (before.ref, targets(before)["department_reply"]) == ("complaint@v1", 5 * DAY)
    assert (after.ref, targets(after)["department_reply"]) == ("complaint@v2", 4 * DAY)
    # 2026-11-01 00:00 Beijing is 2026-10-31 16:00 UTC: the instant, not the date, decides.
    assert CATALOGUE.match(facts(), datetime(2026, 10, 31, 16, tzinfo=UTC)).version == 2
    assert CATALOGUE.match(facts(), datetime(2026, 10, 31, 15, 59, tzinfo=UTC)).version == 1


def test_nothing_is_in_force_before_the_catalogue_starts() -> None:
    with pytest.raises(PolicyNotFound):
        CATALOGUE.match(facts(), datetime(2023, 12, 31, tzinfo=BJ))


def test_policy_not_found_names_the_facts() -> None:
    with pytest.raises(PolicyNotFound) as caught:
        CATALOGUE.match(facts("new_connection"), MID_2026)  # no voltage: no policy fits
    assert "kind=new_connection" in caught.value.message
    assert "voltage=None" in caught.value.message
    assert caught.value.code == "policy_not_found"


def policy_data(pid: str, match: dict[str, Any], rank: int = 0, version: int = 1) -> SlaPolicy:
    return SlaPolicy.model_validate(
        {
            "id": pid,
            "version": version,
            "title_zh": pid,
            "title_en": pid,
            "effective_from": "2024-01-01T00:00:00+08:00",
            "match": match,
            "rank": rank,
            "milestones": [
                {"name": "reply", "target": "1h", "clock": "24x7", "met_on": ["customer_answered"]}
            ],
        }
    )


def test_more_specific_wins_over_rank() -> None:
    catalogue = PolicyCatalogue(
        [
            policy_data("broad", {"kinds": ["inquiry"]}, rank=99),
            policy_data("urgent", {"kinds": ["inquiry"], "priorities": ["urgent"]}),
        ],
        {},
    )
    assert catalogue.match(facts("inquiry", priority="urgent"), MID_2026).id == "urgent"
    assert catalogue.match(facts("inquiry", priority="low"), MID_2026).id == "broad"


def test_rank_breaks_a_specificity_tie() -> None:
    catalogue = PolicyCatalogue(
        [
            policy_data("by-area", {"kinds": ["inquiry"], "areas": ["rural"]}, rank=1),
            policy_data("by-priority", {"kinds": ["inquiry"], "priorities": ["high"]}, rank=2),
        ],
        {},
    )
    chosen = catalogue.match(facts("inquiry", area="rural", priority="high"), MID_2026)
    assert chosen.id == "by-priority"


def test_a_full_tie_is_refused_naming_both() -> None:
    catalogue = PolicyCatalogue(
        [
            policy_data("by-area", {"kinds": ["inquiry"], "areas": ["rural"]}),
            policy_data("by-priority", {"kinds": ["inquiry"], "priorities": ["high"]}),
        ],
        {},
    )
    with pytest.raises(AmbiguousPolicy) as caught:
        catalogue.match(facts("inquiry", area="rural", priority="high"), MID_2026)
    assert "by-area@v1" in caught.value.message
    assert "by-priority@v1" in caught.value.message
    assert "kind=inquiry" in caught.value.message


def test_duplicate_versions_and_unknown_calendars_are_refused() -> None:
    with pytest.raises(Exception, match="defined twice"):
        PolicyCatalogue([policy_data("a", {}), policy_data("a", {})], {})
    business = SlaPolicy.model_validate(
        {
            **policy_data("b", {}).model_dump(),
            "milestones": [
                {
                    "name": "reply",
                    "target_seconds": 60,
                    "clock": "business",
                    "calendar": "nowhere",
                    "met_on": ["customer_answered"],
                }
            ],
        }
    )
    with pytest.raises(CalendarError, match="unknown calendar 'nowhere'"):
        PolicyCatalogue([business], {})


def test_empty_match_lists_are_refused() -> None:
    with pytest.raises(ValidationError, match="empty list matches nothing"):
        policy_data("x", {"kinds": []})


def test_naive_match_instant_is_refused() -> None:
    with pytest.raises(CalendarError, match="naive"):
        CATALOGUE.match(facts(), datetime(2026, 6, 1))


# ---- lookups and pinning -------------------------------------------------------------------


def test_lookups() -> None:
    assert CATALOGUE.policy("complaint", 2).version == 2
    with pytest.raises(NotFound, match="complaint@v9"):
        CATALOGUE.policy("complaint", 9)
    office = CATALOGUE.calendar("cn-office")
    assert isinstance(office, BusinessCalendar)
    assert office.standard_day_seconds == DAY
    with pytest.raises(CalendarError, match="unknown calendar"):
        CATALOGUE.calendar("mars")
    arrival = CATALOGUE.policy("fault-repair-urban", 1).milestone("arrival")
    assert isinstance(CATALOGUE.clock_for(arrival), Always)
    reply = CATALOGUE.policy("complaint", 1).milestone("department_reply")
    assert CATALOGUE.clock_for(reply) is office
    with pytest.raises(NotFound, match="milestone"):
        CATALOGUE.policy("complaint", 1).milestone("teleport")


def test_catalogue_version_is_stable_and_sensitive(tmp_path: Path) -> None:
    assert load_catalogue().version == CATALOGUE.version
    text = DEFAULT_POLICIES.read_text(encoding="utf-8")
    changed = tmp_path / "p.toml"
    changed.write_text(text.replace('target = "45m"', 'target = "40m"', 1), encoding="utf-8")
    assert load_catalogue(policies_path=changed).version != CATALOGUE.version


# ---- loader errors name the file and the field -------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad_policies.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loader_names_file_and_field_for_a_bad_target(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        POLICY_HEAD
        + """
[[policy.milestones]]
name = "reply"
target = "3 fortnights"
clock = "business"
calendar = "cn-office"
met_on = ["customer_answered"]
""",
    )
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(policies_path=path)
    message = str(caught.value)
    assert "bad_policies.toml" in message
    assert "policy[0] (broken@v1).milestones[0]" in message
    assert "3 fortnights" in message


def test_loader_names_unknown_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        POLICY_HEAD
        + """
[[policy.milestones]]
name = "reply"
target = "1h"
clock = "24x7"
met_on = ["customer_answered"]
warn_at = [0.5]
colour = "red"
""",
    )
    with pytest.raises(CatalogueError, match=r"milestones\[0\]\.colour: Extra inputs"):
        load_catalogue(policies_path=path)


def test_loader_refuses_an_unknown_calendar_and_broken_toml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        POLICY_HEAD
        + """
[[policy.milestones]]
name = "reply"
target_seconds = 60
clock = "business"
calendar = "cn-moon"
met_on = ["customer_answered"]
""",
    )
    with pytest.raises(CatalogueError, match=r"bad_policies\.toml.*unknown calendar 'cn-moon'"):
        load_catalogue(policies_path=path)
    broken = write(tmp_path, "[[policy]\n")
    with pytest.raises(CatalogueError, match="not valid TOML"):
        load_catalogue(policies_path=broken)


def test_loader_names_a_bad_calendar(tmp_path: Path) -> None:
    text = DEFAULT_CALENDARS.read_text(encoding="utf-8").replace(
        '"Asia/Shanghai"', '"Mars/Base"', 1
    )
    path = tmp_path / "cal.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"cal.toml: calendar\[0\] \(cn-office@v1\)\.timezone"):
        load_catalogue(calendars_path=path)
