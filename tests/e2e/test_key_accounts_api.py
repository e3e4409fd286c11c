"""Key accounts over HTTP: a graded customer with an account manager → a complaint → the
manager's worklist; three complaints in a quarter → flagged on it; the quarterly report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from tests.e2e.test_api import CALLER, V1, who
from tests.factories import FakeClock, make_desk


class Client:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.runtime = client.app.state.runtime  # type: ignore[attr-defined]

    def post(self, path: str, user: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(V1 + path, json=body or {}, headers=who(user))

    def get(self, path: str, user: str, **params: Any) -> Any:
        return self.client.get(V1 + path, params=params, headers=who(user))


@pytest.fixture
def api(clock: FakeClock, tmp_path: Path) -> Iterator[Client]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.sqlite'}")
    desk = make_desk(clock, env=settings.eventsourcing_env())
    with TestClient(create_app(settings, desk=desk, workers=False)) as client:
        yield Client(client)
    desk.close()


def test_a_key_accounts_complaints_reach_its_managers_worklist_and_the_report(
    api: Client,
) -> None:
    customer = {
        "name": "湘江钢铁集团",
        "customer_type": "group",
        "area": "urban",
        "voltage": "10kV",
        "station": "station_1",
        "phone": "0731-5550123",
    }
    r = api.post("/customers", "supervisor", customer)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    grade = {"grade": "A", "key_account": True, "basis": "年购电量 180 万元"}
    assert api.post(f"/customers/{cid}/grade", "supervisor", grade).status_code == 200
    manager = {"manager": "陈敏"}
    assert api.post(f"/customers/{cid}/account-manager", "supervisor", manager).status_code == 200
    intake = {k: v for k, v in CALLER.items() if k != "customer_name"} | {"customer_id": cid}
    numbers = []
    for _ in range(3):
        r = api.post("/tickets", "front", intake)
        assert r.status_code == 201, r.text
        numbers.append(r.json()["number"])
    api.runtime.catch_up()

    worklist = api.get("/account-managers/陈敏/worklist", "supervisor").json()
    assert [t["number"] for t in worklist["tickets"]] == sorted(numbers)
    assert {t["grade"] for t in worklist["tickets"]} == {"A"}
    # Three complaints in 2026Q4 = the default threshold of 3: flagged, with the evidence.
    [flag] = worklist["flagged"]
    assert (flag["quarter"], flag["complaints"], flag["threshold"]) == ("2026Q4", 3, 3)
    assert flag["evidence"] == numbers
    assert api.get("/account-managers/nobody/worklist", "supervisor").json()["tickets"] == []

    report = api.get("/reports/key-accounts", "supervisor", quarter="2026Q4").json()
    assert [(r["customer_id"], r["tickets"], r["breaches"]) for r in report["rows"]] == [
        (cid, 3, 0)
    ]
    refused = api.get("/reports/key-accounts", "supervisor", quarter="2026-Q4")
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_input"
