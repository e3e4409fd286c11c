"""The auditor page shows a ticket's hash chain: its status by name (never a code), and once
``audit verify`` has run, "verified up to position N, at time T" — in Chinese and in English."""

from __future__ import annotations

from typing import Any

import pytest

from api.routes.names import catalogue
from bootstrap.chain_store import chain_of, verify
from tests.browser.conftest import LiveServer
from tests.browser.test_names_shown import VISIBLE_TEXTS
from tests.browser.test_pages import AGENT, AUDITOR, sign_in

CHAIN_CODES = set(catalogue()["chain_status"]) | set(catalogue()["chain_rule"])
VERIFIED_UP_TO = {"en": "Store verified up to position", "zh": "全库已校验至第"}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_auditor_page_shows_the_tickets_chain_verified_up_to_a_position(
    page: Any, live: LiveServer, language: str
) -> None:
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
    sign_in(page, live, AUDITOR, "index.html")
    page.evaluate(f"localStorage.setItem('casetrail.lang', '{language}')")
    page.goto(f"{live.url}/audit.html?id={t['id']}")
    page.wait_for_selector("#chain-status[data-status='intact']")
    assert page.inner_text("#chain-status") == catalogue()["chain_status"]["intact"][language]

    runtime = live.server.config.app.state.runtime
    check = verify(chain_of(runtime.desk.recorder))  # what `casetrail audit verify` does
    assert check.ok
    page.reload()
    page.wait_for_selector("#chain-status[data-status='verified']")
    assert page.inner_text("#chain-status") == catalogue()["chain_status"]["verified"][language]
    shown = page.inner_text("#chain-verified")
    assert shown.startswith(VERIFIED_UP_TO[language])
    assert f"{check.position:,}" in shown
    assert page.get_attribute("#chain-verified", "data-position") == str(check.position)
    visible = set(page.evaluate(VISIBLE_TEXTS))
    assert not visible & CHAIN_CODES
