"""The report page's monthly assessment (考核) in headless Chromium: station 1's month with the
urge and supervision of one complaint, in Chinese and English names."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.browser.conftest import LiveServer
from tests.browser.test_pages import AGENT, SUPERVISOR, sign_in

ROW = '#assessment-grid tr[data-department="station_1"]'


def test_the_report_page_shows_the_month_per_department_and_leader(
    page: Any, live: LiveServer
) -> None:
    t = live.post(
        "/tickets",
        AGENT,
        {
            "kind": "complaint",
            "customer_name": "周先生",
            "phone": "13700137000",
            "category": "service_attitude",
            "content": "营业员态度差",
            "area": "urban",
            "station": "station_1",
        },
    )
    live.post(f"/tickets/{t['id']}/verify", AGENT)
    live.post(
        f"/tickets/{t['id']}/classify",
        AGENT,
        {"category": "service_attitude", "priority": "normal"},
    )
    live.post(
        f"/tickets/{t['id']}/dispatch", AGENT, {"owner": "张伟", "to_department": "station_1"}
    )
    live.post(f"/tickets/{t['id']}/urge", SUPERVISOR, {"note": "请尽快"})
    live.post(f"/tickets/{t['id']}/supervise", SUPERVISOR, {"reason": "重点投诉"})
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")

    sign_in(page, live, SUPERVISOR, "report.html")
    for _ in range(30):  # the views catch up in the background
        page.goto(f"{live.url}/report.html?month={month}")
        page.wait_for_selector("#assessment-grid")
        if page.query_selector(ROW) is not None:
            break
        page.wait_for_timeout(200)
    cells = page.eval_on_selector_all(f"{ROW} td", "tds => tds.map((td) => td.textContent)")
    # department named, not coded; urge 1 + supervision 3 = 4 points under the shipped rules
    assert cells[0] != "station_1"
    assert cells[1] == "leader.station_1"
    assert cells[3:5] == ["1", "1"]  # urge, supervision
    assert cells[8] == "4"
    assert "leader.marketing" in cells[9]
    assert page.inner_text("#assessment-people-grid").count("leader.") == 2
