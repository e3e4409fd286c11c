"""The county company's org directory: who exists when, where duties went, where work goes."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from bootstrap.org_loader import OrgDataError, load_directory, parse_directory
from domain import commands
from domain.errors import InvalidValue, UnknownDepartment
from domain.org import KINDS, VOLTAGES, OrgDirectory

SHANGHAI = ZoneInfo("Asia/Shanghai")


def bj(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


BEFORE = bj(2026, 10, 15, 9, 30)
MERGER = bj(2026, 10, 16)
AFTER = bj(2026, 11, 2, 10, 0)


@pytest.fixture(scope="module")
def org() -> OrgDirectory:
    return load_directory()


@pytest.fixture(scope="module")
def org_text() -> str:
    return resources.files("config").joinpath("data/org.toml").read_text(encoding="utf-8")


# -- departments over time -----------------------------------------------------------------


def test_service_center_exists_the_day_before_the_merger(org: OrgDirectory) -> None:
    assert org.exists("service_center", bj(2026, 10, 15))
    assert org.exists("service_center", bj(2026, 10, 15, 23, 59, 59))
    assert org.department("service_center", bj(2026, 10, 15)).name_zh == "客户服务中心"


def test_service_center_is_unknown_from_the_merger_naming_it_and_the_date(
    org: OrgDirectory,
) -> None:
    assert not org.exists("service_center", MERGER)
    with pytest.raises(UnknownDepartment) as refused:
        org.department("service_center", MERGER)
    assert "service_center" in refused.value.message
    assert "2026-10-16" in refused.value.message
    assert refused.value.details["department"] == "service_center"


def test_merger_instant_is_the_same_in_any_timezone(org: OrgDirectory) -> None:
    assert org.exists("service_center", datetime(2026, 10, 15, 15, 59, 59, tzinfo=UTC))
    assert not org.exists("service_center", datetime(2026, 10, 15, 16, 0, tzinfo=UTC))


@pytest.mark.parametrize("merged", ["marketing", "service_center", "station_mgmt"])
def test_merged_departments_succeed_to_the_merged_marketing_unit(
    org: OrgDirectory, merged: str
) -> None:
    assert org.successor(merged, AFTER) == "marketing_service"
    assert org.department("marketing_service", AFTER).name_zh.startswith("营销部")


def test_successor_of_an_active_department_is_itself(org: OrgDirectory) -> None:
    assert org.successor("service_center", BEFORE) == "service_center"
    assert org.successor("station_2", AFTER) == "station_2"


def test_metering_center_duties_go_to_the_metering_team(org: OrgDirectory) -> None:
    assert org.exists("metering_center", BEFORE)
    assert not org.exists("metering_center", AFTER)
    assert org.successor("metering_center", AFTER) == "metering_team"
    assert "disputed_meter_verification" in org.department("metering_team", AFTER).duties


def test_station_marketing_team_splits_into_the_business_group_first(org: OrgDirectory) -> None:
    assert org.successor("station_3.marketing", AFTER) == "station_3.business"


def test_successor_refuses_an_id_that_never_existed(org: OrgDirectory) -> None:
    with pytest.raises(UnknownDepartment, match="dispatch_office"):
        org.successor("dispatch_office", AFTER)


def test_successor_refuses_a_unit_that_did_not_exist_yet(org: OrgDirectory) -> None:
    with pytest.raises(UnknownDepartment, match="2026-10-15"):
        org.successor("general_office", BEFORE)


def test_nothing_exists_before_the_directory_begins(org: OrgDirectory) -> None:
    with pytest.raises(UnknownDepartment, match="2023-12-31"):
        org.department("marketing", bj(2023, 12, 31))


def test_stations_keep_their_id_and_move_under_the_merged_unit(org: OrgDirectory) -> None:
    assert org.stations(BEFORE) == [f"station_{n}" for n in range(1, 6)]
    assert org.stations(AFTER) == [f"station_{n}" for n in range(1, 6)]
    assert org.department("station_1", BEFORE).parent == "station_mgmt"
    assert org.department("station_1", AFTER).parent == "marketing_service"


def test_each_station_has_one_marketing_team_before_and_three_groups_after(
    org: OrgDirectory,
) -> None:
    before = [d.id for d in org.children("station_4", BEFORE)]
    after = [d.id for d in org.children("station_4", AFTER)]
    assert before == ["station_4.marketing"]
    assert after == ["station_4.business", "station_4.distribution", "station_4.general"]
    assert {org.department(i, AFTER).name_zh for i in after} == {
        "供电所4营业组",
        "供电所4配电组",
        "供电所4综合组",
    }


def test_merged_unit_has_the_four_internal_teams(org: OrgDirectory) -> None:
    teams = [d.id for d in org.children("marketing_service", AFTER) if d.kind == "team"]
    assert teams == ["billing_team", "general_office", "hv_inspection_team", "metering_team"]


def test_departments_are_listed_sorted_by_id(org: OrgDirectory) -> None:
    for at in (BEFORE, AFTER):
        ids = [d.id for d in org.departments(at)]
        assert ids == sorted(ids)
        assert len(ids) == len(set(ids))
    assert "service_center" in [d.id for d in org.departments(BEFORE)]
    assert "service_center" not in [d.id for d in org.departments(AFTER)]


def test_every_department_has_chinese_and_english_names(org: OrgDirectory) -> None:
    for at in (BEFORE, AFTER):
        for dept in org.departments(at):
            assert dept.name_zh
            assert dept.name_en.isascii()


def test_front_office_is_the_service_center_then_the_merged_unit(org: OrgDirectory) -> None:
    assert org.front_office(BEFORE) == "service_center"
    assert org.front_office(MERGER) == "marketing_service"


def test_naive_datetimes_are_refused(org: OrgDirectory) -> None:
    with pytest.raises(InvalidValue, match="naive"):
        org.exists("marketing", datetime(2026, 10, 1))


# -- routing -------------------------------------------------------------------------------

ROUTES = [
    # kind, voltage, category, before the merger, after the merger
    ("fault_repair", "lv_residential", None, "station_2", "station_2.distribution"),
    ("fault_repair", "10kV", None, "station_2", "station_2.distribution"),
    ("new_connection", "lv_residential", None, "station_2.marketing", "station_2.business"),
    ("new_connection", "lv", None, "station_2.marketing", "station_2.business"),
    ("new_connection", "10kV", None, "marketing", "hv_inspection_team"),
    ("new_connection", "35kV", None, "marketing", "hv_inspection_team"),
    ("new_connection", "lv", "supply_plan", "marketing", "general_office"),
    ("new_connection", "10kV", "supply_plan", "marketing", "general_office"),
    ("meter_dispute", "lv_residential", None, "metering_center", "metering_team"),
    ("meter_dispute", "35kV", None, "metering_center", "metering_team"),
    ("billing_adjustment", "lv_residential", None, "station_2.marketing", "billing_team"),
    ("billing_adjustment", "10kV", None, "marketing", "billing_team"),
    ("complaint", "lv_residential", None, "marketing", "general_office"),
    ("complaint", "35kV", "service_attitude", "marketing", "general_office"),
    ("inquiry", "lv", None, "marketing", "general_office"),
    ("suggestion", "10kV", None, "marketing", "general_office"),
    ("report", "lv_residential", "power_theft", "station_2.marketing", "station_2.business"),
    ("report", "10kV", "power_theft", "marketing", "hv_inspection_team"),
]


@pytest.mark.parametrize(("kind", "voltage", "category", "before", "after"), ROUTES)
def test_routing_before_and_after_the_merger(
    org: OrgDirectory, kind: str, voltage: str, category: str | None, before: str, after: str
) -> None:
    assert org.route(kind, voltage=voltage, station="station_2", at=BEFORE, category=category) == (
        before
    )
    assert org.route(kind, voltage=voltage, station="station_2", at=AFTER, category=category) == (
        after
    )


def test_routing_table_covers_every_kind(org: OrgDirectory) -> None:
    assert {row[0] for row in ROUTES} == set(KINDS)


def test_fault_repair_goes_to_the_customers_station_distribution_group(org: OrgDirectory) -> None:
    for n in range(1, 6):
        target = org.route(
            "fault_repair", voltage="lv_residential", station=f"station_{n}", at=AFTER
        )
        assert target == f"station_{n}.distribution"


def test_ten_kv_new_connection_goes_to_hv_inspection_team(org: OrgDirectory) -> None:
    assert org.route("new_connection", voltage="10kV", station=None, at=AFTER) == (
        "hv_inspection_team"
    )


def test_lv_residential_new_connection_goes_to_the_station_business_group(
    org: OrgDirectory,
) -> None:
    target = org.route("new_connection", voltage="lv_residential", station="station_5", at=AFTER)
    assert target == "station_5.business"
    assert org.department(target, AFTER).name_zh == "供电所5营业组"


def test_meter_dispute_moves_from_metering_center_to_metering_team_at_the_merger(
    org: OrgDirectory,
) -> None:
    last_second = bj(2026, 10, 15, 23, 59, 59)
    assert org.route("meter_dispute", voltage="lv", station="station_1", at=last_second) == (
        "metering_center"
    )
    assert org.route("meter_dispute", voltage="lv", station="station_1", at=MERGER) == (
        "metering_team"
    )


def test_every_route_lands_on_an_existing_department(org: OrgDirectory) -> None:
    for at in (bj(2024, 1, 1), BEFORE, MERGER, AFTER, bj(2030, 1, 1)):
        for station in org.stations(at):
            for kind in KINDS:
                for voltage in VOLTAGES:
                    assert org.exists(org.route(kind, voltage=voltage, station=station, at=at), at)


def test_unknown_kind_is_refused_naming_the_field(org: OrgDirectory) -> None:
    with pytest.raises(InvalidValue) as refused:
        org.route("lookup", voltage="lv", station="station_1", at=AFTER)
    assert refused.value.details["field"] == "kind"
    assert "lookup" in refused.value.message


def test_unknown_voltage_is_refused_naming_the_field(org: OrgDirectory) -> None:
    with pytest.raises(InvalidValue) as refused:
        org.route("fault_repair", voltage="220V", station="station_1", at=AFTER)
    assert refused.value.details["field"] == "voltage"


def test_unknown_station_is_refused_naming_the_field(org: OrgDirectory) -> None:
    with pytest.raises(InvalidValue) as refused:
        org.route("fault_repair", voltage="lv", station="station_9", at=AFTER)
    assert refused.value.details["field"] == "station"


def test_station_work_needs_the_customers_station(org: OrgDirectory) -> None:
    with pytest.raises(InvalidValue) as refused:
        org.route("fault_repair", voltage="lv", station=None, at=AFTER)
    assert refused.value.details["field"] == "station"


def test_routing_before_the_directory_begins_is_refused(org: OrgDirectory) -> None:
    with pytest.raises(InvalidValue) as refused:
        org.route("complaint", voltage="lv", station=None, at=bj(2023, 6, 1))
    assert refused.value.details["field"] == "at"


def test_routing_vocabulary_matches_the_commands(org: OrgDirectory) -> None:
    assert set(KINDS) == set(get_args(commands.Kind))
    assert set(VOLTAGES) == set(get_args(commands.Voltage))
    assert org.stations(AFTER) == list(get_args(commands.Station))


# -- versions and loading ------------------------------------------------------------------


def test_version_is_stable_for_the_same_data(org: OrgDirectory, org_text: str) -> None:
    assert parse_directory(org_text).version == org.version
    assert org.version.startswith("org-")


def test_version_changes_when_the_data_changes(org: OrgDirectory, org_text: str) -> None:
    renamed = org_text.replace('name_en = "General Office"', 'name_en = "General Affairs Office"')
    assert renamed != org_text
    assert parse_directory(renamed).version != org.version


def test_release_name_alone_does_not_change_the_version(org: OrgDirectory, org_text: str) -> None:
    relabelled = org_text.replace(f'release = "{org.release}"', 'release = "relabelled"')
    changed = parse_directory(relabelled)
    assert changed.release == "relabelled"
    assert changed.version == org.version


def test_load_directory_reads_a_given_file(tmp_path: Path, org_text: str) -> None:
    path = tmp_path / "org.toml"
    path.write_text(org_text, encoding="utf-8")
    assert load_directory(path).version == load_directory().version


def test_bad_field_is_refused_naming_the_file_and_the_field(tmp_path: Path, org_text: str) -> None:
    path = tmp_path / "org.toml"
    path.write_text(org_text.replace('kind = "front_office"', 'kind = "call_centre"', 1))
    with pytest.raises(OrgDataError) as refused:
        load_directory(path)
    message = str(refused.value)
    assert str(path) in message
    assert "department[" in message
    assert "(service_center).kind" in message


def test_route_to_a_missing_department_is_refused(org_text: str) -> None:
    broken = org_text.replace('target = "billing_team"', 'target = "billing_office"')
    with pytest.raises(OrgDataError, match=r"routes\[post\.billing_adjustment\]\.target"):
        parse_directory(broken, source="org.toml")


def test_two_equal_rules_for_the_same_work_are_refused(org_text: str) -> None:
    extra = """
[[route]]
id = "post.billing_duplicate"
kinds = ["billing_adjustment"]
target = "general_office"
valid_from = 2026-10-16T00:00:00+08:00
"""
    with pytest.raises(OrgDataError, match=r"post\.billing_adjustment and post\.billing_duplicate"):
        parse_directory(org_text + extra)


def test_department_vanishing_without_a_change_is_refused(org_text: str) -> None:
    start = org_text.index('kind = "retire"')
    block_start = org_text.rindex("[[change]]", 0, start)
    block_end = org_text.index("[[change]]", start)
    without_retire = org_text[:block_start] + org_text[block_end:]
    with pytest.raises(OrgDataError, match="metering_center ends at"):
        parse_directory(without_retire)


def test_invalid_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "org.toml"
    path.write_text("release = ")
    with pytest.raises(OrgDataError, match="not valid TOML"):
        load_directory(path)
