"""Pages show names, never codes: in English and in Chinese, no visible text is a raw code of
the catalogue (states, kinds, milestones, events, departments) — config/data/names.toml and
the org directory, served by GET /api/v1/names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.routes.names import catalogue, department_names
from bootstrap.org_loader import load_directory
from tests.browser.conftest import LiveServer
from tests.browser.test_pages import AGENT, AUDITOR, SUPERVISOR, sign_in

SECTIONS = ("state", "kind", "milestone", "event", "visit_state")
CODES = {code for section in SECTIONS for code in catalogue()[section]} | set(
    department_names(load_directory())
)
# Visible text nodes of the page (not scripts, not hidden elements, not form values).
VISIBLE_TEXTS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode; const parent = node.parentElement;
    if (!parent || parent.closest("script,style,option,[hidden]")) continue;
    if (parent.offsetParent === null && parent.tagName !== "BODY") continue;
    const text = node.textContent.trim();
    if (text) out.push(text);
  }
  return out;
}"""


def _raw_codes(page: Any) -> list[str]:
    return sorted({text for text in page.evaluate(VISIBLE_TEXTS) if text in CODES})


@pytest.mark.parametrize("language", ["en", "zh"])
def test_no_page_shows_a_raw_code(page: Any, live: LiveServer, shots: Path, language: str) -> None:
    t = live.post(
        "/tickets",
        AGENT,
        {
            "kind": "complaint",
            "customer_name": "孙先生",
            "phone": "13500135000",
            "category": "billing",
            "content": "电费异常",
            "area": "urban",
            "station": "station_1",
        },
    )
    live.post(f"/tickets/{t['id']}/verify", AGENT)
    live.post(f"/tickets/{t['id']}/classify", AGENT, {"category": "billing", "priority": "high"})
    live.post(f"/tickets/{t['id']}/dispatch", AGENT, {"owner": "张伟"})
    # An outage with one fault call linked, on the outage page.
    call = live.post(
        "/tickets",
        AGENT,
        {
            "kind": "fault_repair",
            "customer_name": "钱女士",
            "category": "outage",
            "content": "停电",
            "area": "rural",
            "station": "station_2",
            "feeder": "10kV西郊线#1",
        },
    )
    incident = live.post(
        "/outages",
        SUPERVISOR,
        {"area": "rural", "feeder": "10kV西郊线#1", "repair_department": "station_2"},
    )
    live.post(f"/outages/{incident['id']}/link", SUPERVISOR, {"ticket_id": call["id"]})
    # A key customer with a ticket and a visit planned, on the key-accounts page.
    key = live.post(
        "/customers", SUPERVISOR, {"name": "岳麓纸业", "customer_type": "group", "voltage": "10kV"}
    )
    grade = {"grade": "B", "key_account": True, "basis": "年购电量"}
    live.post(f"/customers/{key['id']}/grade", SUPERVISOR, grade)
    live.post(f"/customers/{key['id']}/account-manager", SUPERVISOR, {"manager": "钱经理"})
    live.post(
        "/tickets",
        AGENT,
        {
            "kind": "complaint",
            "customer_id": key["id"],
            "category": "billing",
            "content": "电费异常",
            "area": "urban",
            "station": "station_1",
        },
    )
    visit = {"manager": "钱经理", "purpose": "回访", "planned_for": "2026-12-31T10:00:00+08:00"}
    live.post(f"/customers/{key['id']}/visits", AGENT, visit)
    sign_in(page, live, AUDITOR, "index.html")
    page.evaluate(f"localStorage.setItem('casetrail.lang', '{language}')")
    pages = {
        "ticket": (f"ticket.html?id={t['id']}", "#timeline li"),
        "audit": (f"audit.html?id={t['id']}", "#history-table tbody tr"),
        "monitor": ("monitor.html", "#tiles, .tiles, main"),
        "report": ("report.html", "#report-grid tr, main"),
        "outages": (f"outages.html?id={incident['id']}", "#calls tbody tr"),
        "accounts": ("accounts.html?manager=钱经理", "#visit-table tr[data-state]"),
    }
    found: dict[str, list[str]] = {}
    for name, (path, ready) in pages.items():
        page.goto(f"{live.url}/{path}")
        page.wait_for_selector(ready)
        found[name] = _raw_codes(page)
        page.screenshot(path=str(shots / f"{name}-{language}.png"), full_page=True)
    sign_in(page, live, AGENT, "agent.html")
    page.evaluate(f"localStorage.setItem('casetrail.lang', '{language}')")
    page.goto(f"{live.url}/agent.html")
    page.wait_for_selector(f'#queue-table tr[data-ticket="{t["id"]}"]')
    found["agent"] = _raw_codes(page)
    page.screenshot(path=str(shots / f"agent-{language}.png"), full_page=True)
    assert found == {name: [] for name in [*pages, "agent"]}
