"""The outage suggestion rule: three unlinked fault calls from one feeder within 30 minutes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bootstrap.outage_rule import load_outage_rule
from config.data_files import DataFileError
from domain.outage_rule import FaultCall, OpenIncident, SuggestionRule, suggest
from tests.factories import bj

T0 = bj(2026, 10, 12, 9, 0)
FEEDER = "10kV城关线#3"


def _call(n: int, at: datetime, **more: object) -> FaultCall:
    fields: dict[str, object] = {"area": "urban", "feeder": FEEDER, **more}
    return FaultCall(ticket_id=f"t{n}", number=f"GZ{n}", received_at=at, **fields)  # type: ignore[arg-type]


def _three(third_after: timedelta) -> list[FaultCall]:
    return [_call(1, T0), _call(2, T0 + timedelta(minutes=10)), _call(3, T0 + third_after)]


def test_the_third_call_at_29_59_suggests_a_cluster_of_three() -> None:
    at = T0 + timedelta(minutes=29, seconds=59)
    found = suggest(
        _three(timedelta(minutes=29, seconds=59)), [], area="urban", feeder=FEEDER, at=at
    )
    assert [c.number for c in found.cluster] == ["GZ1", "GZ2", "GZ3"]
    assert found.any


def test_the_third_call_at_30_01_does_not_suggest() -> None:
    at = T0 + timedelta(minutes=30, seconds=1)
    found = suggest(
        _three(timedelta(minutes=30, seconds=1)), [], area="urban", feeder=FEEDER, at=at
    )
    assert found.cluster == ()  # the first call left the window 1 s ago: two calls remain
    assert not found.any


def test_the_window_includes_its_start_exactly() -> None:
    at = T0 + timedelta(minutes=30)
    found = suggest(_three(timedelta(minutes=30)), [], area="urban", feeder=FEEDER, at=at)
    assert len(found.cluster) == 3


def test_linked_closed_other_feeder_other_area_and_later_calls_do_not_count() -> None:
    calls = [
        _call(1, T0),
        _call(2, T0, incident_id="i1"),
        _call(3, T0, open=False),
        _call(4, T0, feeder="10kV城关线#4"),
        _call(5, T0, area="rural"),
        _call(6, T0 + timedelta(minutes=6)),  # after the instant asked about
        _call(7, T0 + timedelta(minutes=1)),
    ]
    at = T0 + timedelta(minutes=5)
    assert suggest(calls, [], area="urban", feeder=FEEDER, at=at).cluster == ()
    calls.append(_call(8, T0 + timedelta(minutes=2)))
    found = suggest(calls, [], area="urban", feeder=FEEDER, at=at)
    assert [c.number for c in found.cluster] == ["GZ1", "GZ7", "GZ8"]


def test_open_incidents_of_the_area_and_feeder_are_listed() -> None:
    incidents = [
        OpenIncident("i1", "TD1", "urban", FEEDER, T0),
        OpenIncident("i2", "TD2", "urban", "10kV城关线#4", T0),
        OpenIncident("i3", "TD3", "urban", FEEDER, T0 + timedelta(hours=1)),  # not yet begun
    ]
    found = suggest([], incidents, area="urban", feeder=FEEDER, at=T0 + timedelta(minutes=5))
    assert [i.number for i in found.incidents] == ["TD1"]
    assert found.any


def test_a_configured_rule_changes_the_threshold_and_window() -> None:
    rule = SuggestionRule(min_calls=2, window=timedelta(minutes=5))
    calls = [_call(1, T0), _call(2, T0 + timedelta(minutes=5))]
    at = T0 + timedelta(minutes=5)
    assert len(suggest(calls, [], area="urban", feeder=FEEDER, at=at, rule=rule).cluster) == 2
    later = T0 + timedelta(minutes=5, seconds=1)
    assert suggest(calls, [], area="urban", feeder=FEEDER, at=later, rule=rule).cluster == ()


def test_a_rule_of_one_call_or_no_window_is_refused() -> None:
    with pytest.raises(ValueError, match="min_calls"):
        SuggestionRule(min_calls=1)
    with pytest.raises(ValueError, match="window"):
        SuggestionRule(window=timedelta(0))


def test_the_shipped_rule_is_the_default_and_a_deployment_sets_its_own(tmp_path: Path) -> None:
    assert load_outage_rule() == SuggestionRule(3, timedelta(minutes=30))
    assert load_outage_rule(tmp_path) == SuggestionRule()  # no file there: the shipped one
    (tmp_path / "outage_rule.toml").write_text("version = 2\nmin_calls = 5\nwindow_minutes = 15\n")
    assert load_outage_rule(tmp_path) == SuggestionRule(5, timedelta(minutes=15))


def test_a_bad_rule_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "outage_rule.toml").write_text("version = 1\nmin_calls = 1\n")
    with pytest.raises(DataFileError, match="min_calls"):
        load_outage_rule(tmp_path)
