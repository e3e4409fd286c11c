"""Pages left open ask for nothing until what they show moves (real Chromium, real server).

Every unmasked read of personal data is recorded as an access event. A ticket page that
re-read itself whenever the log moved recorded one more with each read, which moved the log
again: an idle page read its ticket twice a second and every open monitor board followed. Here
each page is left alone for a while with every request it makes counted
(``page.on("request")``): only its live stream may be open, and the access log of the ticket
shown stays as it was. The idle wait is what these tests are about, not a timing assertion.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.test_pages import AGENT, AUDITOR, MONITOR, sign_in
from tests.e2e.test_api import CALLER as COMPLAINT

pytestmark = pytest.mark.browser

STATION_AGENT = "demo-agent-station-1"
TICKET_IDLE_MS = 20_000
BOARD_IDLE_MS = 10_000
QUIET_SECONDS = 2.0  # a page done loading asks for nothing this long
SETTLE_SECONDS = 30.0


class Requests:
    """Every request the page makes, with when; the open stream is not counted."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        self.last = time.monotonic()
        page.on("request", self._seen)

    def _seen(self, request: Any) -> None:
        self.urls.append(request.url)
        self.last = time.monotonic()

    def since(self, mark: int) -> list[str]:
        return [u for u in self.urls[mark:] if "/api/v1/stream?" not in u]


def settle(page: Any, requests: Requests) -> int:
    """Wait until the page has loaded, opened its stream and gone quiet; a mark to count from.

    A page that never goes quiet (the old feedback loop) fails here."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while not (
        any("/api/v1/stream?" in u for u in requests.urls)
        and time.monotonic() - requests.last >= QUIET_SECONDS
    ):
        assert time.monotonic() < deadline, f"no stream, or never quiet: {requests.urls[-10:]}"
        page.wait_for_timeout(100)
    return len(requests.urls)


def accesses(live: LiveServer, ticket_id: str) -> int:
    return int(live.get("/audit/access", AUDITOR, subject_id=ticket_id)["count"])


def dispatched(live: LiveServer) -> dict[str, Any]:
    ticket = live.post("/tickets", AGENT, COMPLAINT)
    path = f"/tickets/{ticket['id']}"
    live.post(f"{path}/verify", AGENT)
    live.post(f"{path}/classify", AGENT, {"category": "service_attitude", "priority": "normal"})
    return dict(
        live.post(f"{path}/dispatch", AGENT, {"to_department": "station_1", "owner": "张伟"})
    )


def test_an_idle_ticket_page_asks_for_nothing_but_its_stream(page: Any, live: LiveServer) -> None:
    ticket = live.post("/tickets", AGENT, COMPLAINT)
    requests = Requests(page)
    sign_in(page, live, AGENT, f"ticket.html?id={ticket['id']}")
    page.wait_for_selector('#t-state[data-state="received"]')
    assert "138" in page.inner_text("#t-details")  # the agent sees the phone: reads are recorded
    mark = settle(page, requests)
    before = accesses(live, ticket["id"])
    assert before >= 1

    page.wait_for_timeout(TICKET_IDLE_MS)

    assert requests.since(mark) == []
    assert accesses(live, ticket["id"]) - before <= 1
    # The stream was opened with a single-use ticket: no bearer token in any URL.
    assert not [u for u in requests.urls if AGENT in u]
    assert any("/api/v1/stream?ticket=" in u for u in requests.urls)


def test_an_idle_monitor_board_asks_for_nothing_but_its_stream(
    page: Any, browser: Any, live: LiveServer
) -> None:
    # A ticket page open elsewhere: its reads must not reach the board either.
    ticket = live.post("/tickets", AGENT, COMPLAINT)
    elsewhere = browser.new_context()
    try:
        other = elsewhere.new_page()
        sign_in(other, live, AGENT, f"ticket.html?id={ticket['id']}")
        other.wait_for_selector('#t-state[data-state="received"]')
        requests = Requests(page)
        sign_in(page, live, MONITOR, "monitor.html")
        page.wait_for_selector(".status-dot.on")
        mark = settle(page, requests)

        page.wait_for_timeout(BOARD_IDLE_MS)

        assert requests.since(mark) == []
        assert not [u for u in requests.urls if MONITOR in u]
    finally:
        elsewhere.close()


def test_a_ticket_page_shows_what_another_user_did(page: Any, live: LiveServer) -> None:
    ticket = dispatched(live)
    requests = Requests(page)
    sign_in(page, live, AGENT, f"ticket.html?id={ticket['id']}")
    page.wait_for_selector('#t-state[data-state="dispatched"]')
    settle(page, requests)

    # The station's agent takes it on through the API; the page follows with no reload.
    page.evaluate("window.__notReloaded = true")
    live.post(f"/tickets/{ticket['id']}/accept", STATION_AGENT, {"owner": "张伟"})
    page.wait_for_selector('#t-state[data-state="accepted"]')
    page.wait_for_selector('#timeline li[data-event="WorkOrderAccepted"]')
    assert page.evaluate("window.__notReloaded") is True
