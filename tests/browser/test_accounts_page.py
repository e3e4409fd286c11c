"""The key-accounts page (大客户工作台) in real headless Chromium: an account manager sees their
key customer's tickets and the problem customer flagged for them by name, plans a visit, a
supervisor approves it, the manager reports it and the supervisor approves the report, which
archives it — each step one or two clicks, every state said by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, until
from tests.browser.test_pages import AGENT, SUPERVISOR, sign_in

pytestmark = pytest.mark.browser

MANAGER = "陈敏"
NAME = "湘江钢铁集团"
FINDINGS = "客户反映抄表时间不固定，已约定每月 5 日抄表"


def _a_key_customer_flagged(live: LiveServer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    customer = live.post(
        "/customers",
        SUPERVISOR,
        {"name": NAME, "customer_type": "group", "voltage": "10kV", "phone": "0731-5550123"},
    )
    base = f"/customers/{customer['id']}"
    live.post(f"{base}/grade", SUPERVISOR, {"grade": "A", "key_account": True, "basis": "年购电量"})
    live.post(f"{base}/account-manager", SUPERVISOR, {"manager": MANAGER})
    complaint = {
        "kind": "complaint",
        "customer_id": customer["id"],
        "category": "service_attitude",
        "content": "抄表员态度生硬",
        "area": "urban",
        "station": "station_1",
    }
    tickets = [live.post("/tickets", AGENT, complaint) for _ in range(3)]  # 3 = the threshold
    until(
        lambda: live.get(f"/account-managers/{MANAGER}/worklist", SUPERVISOR)["flagged"],
        lambda flagged: len(flagged) == 1,
        "the customer flagged on the manager's worklist",
    )
    return customer, tickets


def _visit_state(page: Any, state: str) -> Any:
    return page.wait_for_selector(f'#visit-table tr[data-state="{state}"]')


def test_a_visit_from_flag_to_archive_on_the_key_accounts_page(
    page: Any, live: LiveServer, shots: Path
) -> None:
    customer, tickets = _a_key_customer_flagged(live)
    clicks = 0

    # The manager's worklist: the customer by name, its tickets, the flag with its evidence
    sign_in(page, live, AGENT, f"accounts.html?manager={MANAGER}")
    page.wait_for_selector("#ticket-table tbody tr[data-ticket]")
    shown = page.eval_on_selector_all(
        "#ticket-table tbody tr", "rows => rows.map(r => r.dataset.ticket)"
    )
    assert sorted(shown) == sorted(t["id"] for t in tickets)
    assert page.inner_text("#ticket-table").count(NAME) == 3
    flag = page.wait_for_selector(f'#flag-table tr[data-customer="{customer["id"]}"]')
    text = flag.inner_text()
    assert NAME in text
    assert "3 ≥ 3" in text
    assert all(t["number"] in text for t in tickets)
    page.screenshot(path=str(shots / "accounts-flagged.png"), full_page=True)

    # The manager plans the visit: the purpose and a time tomorrow come filled in
    flag.query_selector("button.plan-visit").click()
    clicks += 1
    purpose = page.input_value(f"#plan-{customer['id']}-purpose")
    assert "3" in purpose
    assert page.input_value(f"#plan-{customer['id']}-planned_for")
    page.click(f"#plan-{customer['id']} button[type=submit]")
    clicks += 1
    row = _visit_state(page, "planned")
    assert "待批准计划" in row.inner_text()  # the state by name
    assert NAME in row.inner_text()
    assert row.query_selector("button") is None  # an agent does not approve
    until(
        lambda: page.inner_text(f'#flag-table tr[data-customer="{customer["id"]}"]'),
        lambda text: "已计划走访" in text,
        "the flag showing its visit planned",
    )

    # A supervisor approves the plan: one click
    sign_in(page, live, SUPERVISOR, f"accounts.html?manager={MANAGER}")
    _visit_state(page, "planned").query_selector("button.approve-plan").click()
    clicks += 1
    assert "计划已批准" in _visit_state(page, "plan_approved").inner_text()

    # The manager reports the visit: what was found
    sign_in(page, live, AGENT, f"accounts.html?manager={MANAGER}")
    _visit_state(page, "plan_approved").query_selector("button.report-visit").click()
    clicks += 1
    [visit_form] = page.query_selector_all("#visit-table form.inline-form")
    page.click(f"#{visit_form.get_attribute('id')} button[type=submit]")  # findings left empty
    clicks += 1
    assert "必填" in visit_form.inner_text()  # refused in the page, naming the field
    visit_form.query_selector("textarea[name=findings]").fill(FINDINGS)
    visit_form.query_selector("button[type=submit]").click()
    clicks += 1
    assert "报告待批准" in _visit_state(page, "reported").inner_text()

    # The supervisor reads the findings beside the button and approves: the visit is archived
    sign_in(page, live, SUPERVISOR, f"accounts.html?manager={MANAGER}")
    reported = _visit_state(page, "reported")
    assert reported.query_selector(".findings").inner_text() == FINDINGS
    reported.query_selector("button.approve-report").click()
    clicks += 1
    assert "已归档" in _visit_state(page, "archived").inner_text()
    page.screenshot(path=str(shots / "accounts-archived.png"), full_page=True)
    assert clicks == 7  # plan 2, approve 1, report 2 (+1 for the refused empty report), approve 1

    [visit] = live.get(f"/account-managers/{MANAGER}/worklist", SUPERVISOR)["visits"]
    assert (visit["state"], visit["customer_name"]) == ("archived", NAME)
