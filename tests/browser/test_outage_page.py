"""The outage page (停电事件) in real headless Chromium: a supervisor works one outage from the
crew's dispatch to restoration, and every linked caller is answered by that one restoration; the
SLA monitor's board shows each linked caller's clock as part of its outage, one click from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, until
from tests.browser.test_pages import AGENT, MONITOR, SUPERVISOR, sign_in

pytestmark = pytest.mark.browser

FEEDER = "10kV城关线#9"
CALL = {
    "kind": "fault_repair",
    "category": "outage",
    "content": "小区停电",
    "area": "urban",
    "station": "station_1",
    "feeder": FEEDER,
}


def _an_outage_with_three_calls(live: LiveServer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    calls = [live.post("/tickets", AGENT, {**CALL, "customer_name": f"业主{n}"}) for n in range(3)]
    incident = live.post(
        "/outages",
        SUPERVISOR,
        {"area": "urban", "feeder": FEEDER, "repair_department": "station_1"},
    )
    for call in calls:
        live.post(f"/outages/{incident['id']}/link", SUPERVISOR, {"ticket_id": call["id"]})
    until(
        lambda: live.get("/outages", SUPERVISOR)["incidents"],
        lambda rows: any(r["incident_id"] == incident["id"] and r["linked"] == 3 for r in rows),
        "the incident with its three calls in the view",
    )
    return incident, calls


def test_a_supervisor_restores_an_outage_and_every_caller_is_answered(
    page: Any, live: LiveServer, shots: Path
) -> None:
    incident, calls = _an_outage_with_three_calls(live)
    clicks = 0

    sign_in(page, live, SUPERVISOR, "outages.html")
    row = page.wait_for_selector(f'#incidents tr[data-incident="{incident["id"]}"]')
    assert "停电中" in row.inner_text()  # the state by name
    assert FEEDER in row.inner_text()
    row.click()
    clicks += 1
    page.wait_for_selector('#o-state[data-state="open"]')
    assert sorted(
        page.eval_on_selector_all("#calls tbody tr", "rows => rows.map(r => r.dataset.ticket)")
    ) == sorted(c["id"] for c in calls)

    # One step at a time, each form with what is known filled in.
    assert page.input_value("#o-promised_arrival_at")  # prefilled with the arrival due
    page.fill("#o-crew", "城关抢修一队")
    page.click("#outage-submit")
    clicks += 1
    page.wait_for_selector('#o-state[data-state="crew_en_route"]')
    assert page.input_value("#o-crew") == "城关抢修一队"  # the crew dispatched, as it arrives
    page.click("#outage-submit")
    clicks += 1
    page.wait_for_selector('#o-state[data-state="on_site"]')
    page.fill("#o-cause", "10kV线路跌落式熔断器熔断")
    assert page.input_value("#o-answer")  # a default answer the supervisor may change
    page.click("#outage-submit")
    clicks += 1
    page.wait_for_selector('#o-state[data-state="restored"]')
    assert page.query_selector("#outage-form") is None  # nothing left to do on the incident
    assert clicks == 4

    # That one restoration answered every caller.
    shown = until(
        lambda: live.get(f"/outages/{incident['id']}", SUPERVISOR),
        lambda found: found["incident"]["answered"] == 3,
        "three answers",
    )
    assert all(call["answered_at"] for call in shown["calls"])
    assert shown["current"]["cause"] == "10kV线路跌落式熔断器熔断"
    for call in calls:
        ticket = live.get(f"/tickets/{call['id']}", SUPERVISOR)
        assert ticket["state"] in ("customer_answered", "callback_pending"), ticket["state"]
    page.click("#refresh")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#calls tbody tr')]"
        ".every(r => !r.lastElementChild.textContent.includes('—'))"
    )
    page.screenshot(path=str(shots / "outage-restored.png"), full_page=True)


def test_a_step_taken_meanwhile_by_a_colleague_is_a_conflict_not_a_second_crew(
    page: Any, live: LiveServer
) -> None:
    incident, _calls = _an_outage_with_three_calls(live)
    sign_in(page, live, SUPERVISOR, f"outages.html?id={incident['id']}")
    page.wait_for_selector('#o-state[data-state="open"]')
    page.fill("#o-crew", "城关抢修二队")
    # Meanwhile a colleague sends another crew.
    live.post(
        f"/outages/{incident['id']}/dispatch-crew",
        SUPERVISOR,
        {"crew": "城关抢修三队", "promised_arrival_at": incident["arrival_due_at"]},
    )
    page.click("#outage-submit")
    error = page.wait_for_selector('#outage-form .field-error[data-for="_form"]:not(:empty)')
    assert "已被他人修改" in error.inner_text()  # a conflict, said as one
    assert page.input_value("#o-crew") == "城关抢修二队"  # what was typed is kept
    current = live.get(f"/outages/{incident['id']}", SUPERVISOR)["current"]
    assert (current["state"], current["crew"]) == ("crew_en_route", "城关抢修三队")


def test_the_sla_board_shows_each_linked_callers_clock_as_part_of_its_outage(
    page: Any, live: LiveServer, shots: Path
) -> None:
    incident, calls = _an_outage_with_three_calls(live)
    alone = live.post(
        "/tickets", AGENT, {**CALL, "feeder": "10kV城关线#10", "customer_name": "业主9"}
    )

    sign_in(page, live, MONITOR, "monitor.html")
    page.select_option("#f-milestone", "arrival")  # the crews' arrival clocks, due within the hour
    mine = f'#soon-table a.badge.outage[data-incident="{incident["id"]}"]'
    badges = until(
        lambda: page.eval_on_selector_all(
            mine, "els => els.map(e => [e.closest('tr').dataset.number, e.textContent])"
        ),
        lambda found: len(found) == 3,
        "the outage named on each linked call's arrival clock",
    )
    # Each linked call's clock names the incident and how many called about it
    assert sorted(number for number, _ in badges) == sorted(c["number"] for c in calls)
    assert {text for _, text in badges} == {f"停电事件 {incident['number']} · 3 户来电"}
    # and the call on another feeder names none
    row = page.wait_for_selector(f'#soon-table tr[data-number="{alone["number"]}"]')
    assert row.query_selector("a.badge.outage") is None
    page.screenshot(path=str(shots / "monitor-outage.png"), full_page=True)

    # One click on it opens the incident, to work the outage once for every caller
    page.click(f'#soon-table tr[data-number="{calls[0]["number"]}"] a.badge.outage')
    page.wait_for_selector('#o-state[data-state="open"]')
    assert f"id={incident['id']}" in page.url
    assert sorted(
        page.eval_on_selector_all("#calls tbody tr", "rows => rows.map(r => r.dataset.ticket)")
    ) == sorted(c["id"] for c in calls)
