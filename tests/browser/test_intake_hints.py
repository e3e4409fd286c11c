"""What the intake form tells an agent as a call is typed in, in real headless Chromium.

- A fault call's feeder: three fault calls from one feeder within the rule's window, and the
  fourth caller's agent sees them as a likely outage, opens the incident with one click (linking
  the three) and takes the fourth call in linked to it; the fifth caller's agent sees the open
  incident, already chosen.
- A problem customer's phone: said first, with their complaints this quarter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, until
from tests.browser.test_pages import AGENT, sign_in

pytestmark = pytest.mark.browser

FEEDER = "10kV城关线#7"
CALL = {
    "kind": "fault_repair",
    "category": "outage",
    "content": "家里停电了",
    "area": "urban",
    "station": "station_1",
    "feeder": FEEDER,
}


def _take_a_fault_call(page: Any, name: str, phone: str) -> None:
    page.select_option("#f-kind", "fault_repair")
    page.fill("#f-customer_name", name)
    page.fill("#f-phone", phone)
    page.fill("#f-category", "outage")
    page.fill("#f-content", "整栋楼停电")
    page.select_option("#f-area", "urban")
    page.fill("#f-feeder", FEEDER)
    page.press("#f-feeder", "Tab")


def test_the_agent_opens_the_outage_from_a_cluster_and_links_the_next_calls(
    page: Any, live: LiveServer, shots: Path
) -> None:
    earlier = [
        live.post("/tickets", AGENT, {**CALL, "customer_name": f"住户{n}"}) for n in range(3)
    ]
    calls = until(
        lambda: live.get("/outages/suggestions", AGENT, area="urban", feeder=FEEDER)["cluster"],
        lambda cluster: len(cluster) == 3,
        "the three calls in the suggestion",
    )

    sign_in(page, live, AGENT, "agent.html")
    assert page.is_hidden("#f-feeder")  # a complaint has no feeder to ask for
    _take_a_fault_call(page, "钱先生", "13500135001")
    # The agent sees the three calls as one likely outage, by number, with the rule's window.
    cluster = page.wait_for_selector("#outage-cluster")
    assert "最近 30 分钟内该线路已有 3 个未关联的故障报修" in cluster.inner_text()
    listed = page.eval_on_selector_all(
        "#outage-cluster li", "items => items.map(i => i.dataset.ticket)"
    )
    assert listed == [c["id"] for c in earlier]
    page.click("#outage-open")  # one click: the incident opened, the three calls linked
    page.wait_for_selector('#outage-choices input[name="link_incident"]:checked')
    incident_number = page.inner_text("#outage-choices .outage-number")
    page.screenshot(path=str(shots / "agent-outage-hint.png"), full_page=True)
    page.click("#intake-submit")  # the fourth call, taken in and linked as chosen
    linked = page.wait_for_selector("#outage-linked[data-incident]")
    assert linked.inner_text() == f"已关联停电事件: {incident_number} (4)"
    incident_id = linked.get_attribute("data-incident")

    # The fifth caller: the open incident is shown, already chosen; submitting links it.
    until(
        lambda: live.get("/outages/suggestions", AGENT, area="urban", feeder=FEEDER)["incidents"],
        lambda incidents: [i["incident_id"] for i in incidents] == [incident_id],
        "the incident in the suggestion",
    )
    _take_a_fault_call(page, "孙女士", "13500135002")
    page.wait_for_selector("#outage-choices")
    assert page.query_selector("#outage-cluster") is None  # the three are linked now
    checked = page.get_attribute('#outage-choices input[name="link_incident"]:checked', "value")
    assert checked == incident_id
    fourth = page.inner_text("#created-link")
    page.click("#intake-submit")
    page.wait_for_function(
        "n => document.getElementById('created-link').textContent !== n", arg=fourth
    )
    assert page.inner_text("#outage-linked") == f"已关联停电事件: {incident_number} (5)"

    shown = until(
        lambda: live.get(f"/outages/{incident_id}", AGENT),
        lambda found: found["incident"]["linked"] == 5,
        "five calls on the incident",
    )
    assert shown["incident"]["number"] == incident_number
    # The outage began when the first of the calls came in: its targets count from then.
    assert shown["incident"]["started_at"] == calls[0]["received_at"]
    assert calls[0]["ticket_id"] == earlier[0]["id"]


def test_the_agent_may_choose_not_to_link(page: Any, live: LiveServer) -> None:
    sign_in(page, live, AGENT, "agent.html")
    _take_a_fault_call(page, "周先生", "13500135003")
    page.wait_for_selector("#outage-choices")  # the incident of the test before
    page.check('#outage-choices input[name="link_incident"][value=""]')
    page.click("#intake-submit")
    page.wait_for_selector("#created-link")
    assert page.query_selector("#outage-linked") is None
    number = page.inner_text("#created-link")
    found = live.get("/tickets", AGENT, q=number)["rows"][0]
    ticket = live.get(f"/tickets/{found['ticket_id']}", AGENT)
    assert ticket["state"] == "received"  # on its own: not brought to the incident's stage


def test_a_problem_customer_is_said_first_when_their_phone_is_typed(
    page: Any, live: LiveServer, shots: Path
) -> None:
    customer = live.post(
        "/customers",
        AGENT,
        {"name": "罗先生", "customer_type": "residential", "phone": "13911112222"},
    )
    complaint = {
        "kind": "complaint",
        "customer_id": customer["id"],
        "category": "service_attitude",
        "content": "第三次投诉抄表员态度",
        "area": "urban",
        "station": "station_1",
    }
    for _ in range(3):  # the default threshold: the third complaint flags the customer
        live.post("/tickets", AGENT, complaint)
    until(
        lambda: live.get("/customers", AGENT, phone="13911112222")["customers"],
        lambda found: len(found) == 1,
        "the customer in the lookup",
    )
    sign_in(page, live, AGENT, "agent.html")
    page.fill("#f-phone", "13911112222")
    page.press("#f-phone", "Tab")
    note = page.wait_for_selector(f'#caller .problem-customer[data-customer="{customer["id"]}"]')
    assert note.inner_text().startswith("问题客户：罗先生 本季度")
    assert "已投诉 3 次" in note.inner_text()
    first = page.eval_on_selector("#caller", "box => box.firstElementChild.className")
    assert first == "problem-customer"  # said before anything else in the box
    page.screenshot(path=str(shots / "agent-problem-customer.png"), full_page=True)
