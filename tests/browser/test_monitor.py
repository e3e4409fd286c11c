"""The SLA board in real Chromium on a store with more than a page of breaches.

The store is real (the system clock records everything) and filled through the HTTP API before
the board opens: urban fault repairs called 46 to 100 minutes ago, whose 45-minute arrival
promise is long gone, so the in-process SLA clock breaches each the moment it is taken in (the
backfill grace is off for this server: nothing here is typed in for an agent to complete first);
a few called 150 minutes ago (restoration due within the hour: at risk) and a few 38 minutes
ago (escalated to level 1, not yet breached). The browser reaches the server through a TCP
proxy the test can cut, as a dropped network would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveServer
from tests.browser.test_pages import AGENT, MONITOR
from tests.e2e.test_business_time_api import REPAIR
from tests.proxy import CuttableProxy

pytestmark = pytest.mark.browser

LONG_BREACHED = 110  # arrival breached long ago, one every 30 s of business time
AT_RISK = 5  # arrival breached too; restoration (3 h) due within the hour
LEVEL_ONE = 3  # arrival at 80 %: escalated to level 1, due in 7 min
BREACHES = LONG_BREACHED + AT_RISK


def _repair(live: LiveServer, ago: timedelta, station: int, dispatch: bool = False) -> Any:
    occurred = datetime.now(UTC) - ago
    body = {
        **REPAIR,
        "station": f"station_{station}",
        "priority": "urgent",
        "occurred_at": occurred.isoformat(),
    }
    ticket = live.post("/tickets", AGENT, body)
    if dispatch:  # dispatched two minutes after the call: the breach is the station's
        at = (occurred + timedelta(minutes=2)).isoformat()
        step = {"to_department": f"station_{station}", "owner": "李四", "occurred_at": at}
        path = f"{live.url}/api/v1/tickets/{ticket['id']}/dispatch"
        for _ in range(5):  # the SLA clock writes the ticket's overdue steps meanwhile: 409
            r = httpx.post(path, json=step, headers={"Authorization": f"Bearer {AGENT}"})
            if r.status_code != 409:
                break
        assert r.status_code == 200, r.text
    return ticket


def _settled(live: LiveServer) -> dict[str, Any]:
    """The board's counts once the SLA clock has recorded every step already due."""
    deadline = datetime.now(UTC) + timedelta(seconds=90)
    last: dict[str, Any] | None = None
    while datetime.now(UTC) < deadline:
        summary: dict[str, Any] = live.get("/sla/summary", MONITOR)
        counts = (summary["states"], summary["levels"])
        if summary["states"]["breached"] >= BREACHES and last == counts:
            return summary
        last = counts
        time.sleep(0.5)
    raise AssertionError(f"the SLA clock did not settle: {last}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CASETRAIL_SLA_BACKFILL_GRACE_SECONDS", "0")
        server = LiveServer(tmp_path_factory.mktemp("monitor") / "casetrail.sqlite")
    with server:
        for i in range(LONG_BREACHED):
            _repair(server, timedelta(minutes=46, seconds=30 * i), i % 5 + 1, dispatch=i % 4 == 0)
        for i in range(AT_RISK):
            _repair(server, timedelta(minutes=150, seconds=60 * i), i + 1)
        for i in range(LEVEL_ONE):
            _repair(server, timedelta(minutes=38, seconds=20 * i), i + 1)
        _settled(server)
        yield server


@pytest.fixture(scope="module")
def proxy(live: LiveServer) -> Iterator[CuttableProxy]:
    cut = CuttableProxy(("127.0.0.1", live.port))
    yield cut
    cut.close()


def open_board(page: Any, proxy: CuttableProxy, language: str = "zh") -> None:
    """The board as the SLA monitor, through the proxy, in ``language``."""
    base = f"http://127.0.0.1:{proxy.port}"
    page.goto(f"{base}/index.html")
    page.evaluate(
        "([token, lang]) => { localStorage.setItem('casetrail.token', token); "
        "localStorage.setItem('casetrail.lang', lang); }",
        [MONITOR, language],
    )
    page.goto(f"{base}/monitor.html")
    page.wait_for_selector("#whoami.ok")
    page.wait_for_selector(".status-dot.on")
    page.wait_for_selector("#breached-table tbody tr[data-number]")


def first_numbers(page: Any, table: str, n: int = 5) -> list[str]:
    rows = page.query_selector_all(f"#{table} tbody tr[data-number]")
    return [r.get_attribute("data-number") for r in rows[:n]]


def test_the_board_counts_every_breach_the_api_counts(
    page: Any, live: LiveServer, proxy: CuttableProxy
) -> None:
    api = live.get("/sla/deadlines", MONITOR, state="breached", sort="-breached_at", limit=5)
    assert api["total"] > 100
    open_board(page, proxy)
    page.wait_for_function(
        "n => document.getElementById('n-breached').textContent === String(n)", arg=api["total"]
    )
    assert page.get_attribute("#breached-pager", "data-total") == str(api["total"])
    assert first_numbers(page, "breached-table") == [r["number"] for r in api["rows"]]
    summary = live.get("/sla/summary", MONITOR)
    assert page.inner_text("#n-esc") == str(summary["escalations"])
    assert (
        page.inner_text("#n-soon")
        == str(summary["at_risk"])
        == page.get_attribute("#soon-pager", "data-total")
    )
    # Department names, never ids; times with their zone.
    shown = page.inner_text("#breached-table")
    assert "station_" not in shown
    assert "GMT+8" in shown

    # Level 1 (escalated, not yet breached) is on the board, by its filter.
    page.select_option("#f-level", "1")
    ones = live.get("/escalations", MONITOR, level=1)
    assert ones["total"] >= LEVEL_ONE
    page.wait_for_function(
        "n => document.getElementById('esc-pager').dataset.total === String(n)",
        arg=ones["total"],
    )
    levels = page.eval_on_selector_all("#esc-table tbody tr", "rs => rs.map(r => r.dataset.level)")
    assert levels == ["1"] * ones["total"]
    # A station's filter takes its units too, and counts what the API counts.
    page.select_option("#f-level", "")
    page.select_option("#f-department", "station_1")
    station = live.get("/sla/deadlines", MONITOR, state="breached", department="station_1")
    assert 0 < station["total"] < api["total"]
    page.wait_for_function(
        "n => document.getElementById('n-breached').textContent === String(n)",
        arg=station["total"],
    )
    assert page.get_attribute("#breached-pager", "data-total") == str(station["total"])


def test_a_breach_made_now_comes_in_at_the_top_highlighted(
    page: Any, live: LiveServer, proxy: CuttableProxy
) -> None:
    open_board(page, proxy)
    # Urban fault repair: 45 min to arrive on site, 3 s of it left.
    ticket = _repair(live, timedelta(minutes=45) - timedelta(seconds=3), 2)
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while not _breached(live, ticket["id"]):  # recorded by the SLA clock, in the store
        assert datetime.now(UTC) < deadline, "the SLA clock did not breach the ticket"
        time.sleep(0.1)
    top = f"#breached-table tbody tr:nth-child(-n+5)[data-number='{ticket['number']}']"
    page.locator(top).wait_for(timeout=2_000)
    assert "fresh" in (page.get_attribute(top, "class") or "")
    # Its escalation (level 2, on the breach) leads its level.
    page.select_option("#f-level", "2")
    page.wait_for_selector(f"#esc-table tbody tr:first-child[data-number='{ticket['number']}']")


def _breached(live: LiveServer, ticket_id: str) -> bool:
    sla = live.get(f"/tickets/{ticket_id}", MONITOR)["sla"]
    return any(c["milestone"] == "arrival" and c["breached"] for c in sla)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_cut_connection_greys_the_numbers_and_says_so(
    page: Any, proxy: CuttableProxy, shots: Path, language: str
) -> None:
    open_board(page, proxy, language)
    page.screenshot(path=str(shots / f"monitor-board-{language}.png"), full_page=True)
    assert page.is_hidden("#conn-lost")
    proxy.cut()
    try:
        page.wait_for_selector("body.offline #conn-lost:visible")
        said = page.inner_text("#conn-lost")
        expected = {"zh": "实时连接已断开", "en": "Live connection lost"}[language]
        assert said.startswith(expected)
        grey = page.eval_on_selector("#tiles .tile", "t => getComputedStyle(t).filter")
        assert "grayscale" in grey
        assert page.inner_text("#live-text") == {"zh": "连接中断", "en": "disconnected"}[language]
        page.screenshot(path=str(shots / f"monitor-board-offline-{language}.png"), full_page=True)
    finally:
        proxy.restore()
    page.wait_for_selector("body:not(.offline) .status-dot.on", timeout=40_000)
    assert page.is_hidden("#conn-lost")
