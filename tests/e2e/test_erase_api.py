"""Erasing a customer through the HTTP API: admins only; afterwards every read shows erased.

On SQLite and PostgreSQL, views caught up explicitly (no workers run).
"""

from __future__ import annotations

import pytest

from domain.personal import ERASED
from tests.e2e import test_validation
from tests.e2e.test_api import Api

api = test_validation.api  # the fixture: the API on SQLite and on PostgreSQL


def test_an_admin_erases_and_agents_then_read_erased_without_a_recorded_access(api: Api) -> None:
    taken = api.intake(customer_name="欧阳娜娜", phone="13987654321", address="枫林路88号")
    ticket = api.get(f"/tickets/{taken['id']}", "front").json()
    customer = ticket["customer"]["id"]
    erase = f"/customers/{customer}/erase"

    # A supervisor may not; the refusal names the rule and records nothing.
    head = api.head()
    refused = api.post(erase, "supervisor", {"reason": "客户申请"})
    assert refused.status_code == 403
    assert "admin only" in refused.json()["message"]
    assert api.head() == head
    # Without a reason: 422 naming the field.
    blank = api.post(erase, "admin", {"reason": ""})
    assert blank.status_code == 422
    assert "reason" in blank.text

    done = api.post(erase, "admin", {"reason": "客户书面申请删除个人信息"})
    assert done.status_code == 200, done.text
    assert done.json()["events"] == ["CustomerErased"]

    api.runtime.catch_up()
    read = api.get(f"/tickets/{taken['id']}", "front").json()
    assert read["customer"]["name"] == ERASED
    assert read["contact"] == {"phone": ERASED, "address": ERASED}
    assert read["category"] == "service_attitude"  # the rest of the ticket stays
    found = api.get("/tickets", "front", q=taken["number"]).json()["rows"][0]
    assert (found["customer_name"], found["phone"]) == (ERASED, ERASED)
    assert api.get("/tickets", "front", q="4321").json()["total"] == 0  # not found by phone
    # Reading erased values reveals nothing: no access record is written for it.
    head = api.head()
    api.get(f"/tickets/{taken['id']}", "front", reveal="true")
    assert api.head() == head


@pytest.mark.parametrize("user", ["front", "auditor"])
def test_only_admins_may_erase(api: Api, user: str) -> None:
    taken = api.intake()
    customer = api.get(f"/tickets/{taken['id']}", "front").json()["customer"]["id"]
    r = api.post(f"/customers/{customer}/erase", user, {"reason": "客户申请"})
    assert r.status_code == 403
