"""Outage incidents over HTTP: suggestion at intake, open, link, one repair, every call answered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from tests.factories import FakeClock, bj, make_desk
from workers.projector import Projector

V1 = "/api/v1"
TOKENS = {
    "front": "demo-agent-service-center",
    "station_1": "demo-agent-station-1",
    "supervisor": "demo-supervisor-marketing",
    "auditor": "demo-auditor-token",
}
FEEDER = "10kV城关线#3"
CALL = {
    "kind": "fault_repair",
    "customer_name": "王建国",
    "category": "outage",
    "content": "家里停电了",
    "area": "urban",
    "station": "station_1",
    "feeder": FEEDER,
}


def _who(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@pytest.fixture
def client(clock: FakeClock, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.sqlite'}")
    desk = make_desk(clock, env=settings.eventsourcing_env())
    with TestClient(create_app(settings, desk=desk, workers=False)) as c:
        yield c
    desk.close()


def _post(client: TestClient, path: str, user: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(V1 + path, json=body or {}, headers=_who(user))


def _get(client: TestClient, path: str, user: str = "front", **params: Any) -> Any:
    return client.get(V1 + path, params=params, headers=_who(user))


def _catch_up(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    Projector(runtime.desk, list(runtime.reader.followers.values())).catch_up()


def test_three_calls_suggest_then_one_repair_answers_all_over_http(
    client: TestClient, clock: FakeClock
) -> None:
    calls = []
    for minute in (0, 10, 29):
        clock.set(bj(2026, 10, 12, 9, minute))
        reply = _post(client, "/tickets", "front", CALL)
        assert reply.status_code == 201, reply.text
        calls.append(reply.json())
    _catch_up(client)
    at = "2026-10-12T09:29:00+08:00"
    found = _get(client, "/outages/suggestions", area="urban", feeder=FEEDER, at=at).json()
    assert found["suggest"] is True
    assert [c["number"] for c in found["cluster"]] == [c["number"] for c in calls]
    assert (found["min_calls"], found["window_minutes"]) == (3, 30)
    other = _get(client, "/outages/suggestions", area="urban", feeder="10kV城关线#4", at=at)
    assert other.json()["suggest"] is False

    clock.set(bj(2026, 10, 12, 9, 30))
    opened = _post(
        client,
        "/outages",
        "supervisor",
        {"area": "urban", "feeder": FEEDER, "repair_department": "station_1"},
    )
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert incident["arrival_due_at"] == "2026-10-12T10:15:00+08:00"  # 09:30 + 45 min
    base = f"/outages/{incident['id']}"
    for call in calls:
        linked = _post(client, f"{base}/link", "front", {"ticket_id": call["id"]})
        assert linked.status_code == 200, linked.text
    again = _post(client, f"{base}/link", "front", {"ticket_id": calls[0]["id"]})
    assert (again.status_code, again.json()["code"]) == (422, "invalid_value")
    _catch_up(client)
    at = "2026-10-12T09:30:00+08:00"  # the incident began when it was opened
    found = _get(client, "/outages/suggestions", area="urban", feeder=FEEDER, at=at).json()
    assert found["cluster"] == []  # linked now: the incident is suggested instead
    assert [i["number"] for i in found["incidents"]] == [incident["number"]]

    clock.set(bj(2026, 10, 12, 9, 35))
    steps: list[tuple[str, dict[str, Any]]] = [
        ("dispatch-crew", {"crew": "抢修一班", "promised_arrival_at": "2026-10-12T10:00:00+08:00"}),
        ("arrive", {"crew": "抢修一班"}),
        ("restore", {"crew": "抢修一班", "cause": "熔断器熔断", "answer": "已恢复供电"}),
    ]
    times = (bj(2026, 10, 12, 9, 35), bj(2026, 10, 12, 9, 50), bj(2026, 10, 12, 10, 10))
    for when, (path, body) in zip(times, steps, strict=True):
        clock.set(when)
        done = _post(client, f"{base}/{path}", "station_1", body)
        assert done.status_code == 200, done.text
    assert done.json()["state"] == "restored"
    for call in calls:
        assert _get(client, f"/tickets/{call['id']}").json()["state"] == "customer_answered"

    _catch_up(client)
    listed = _get(client, "/outages", state="restored").json()
    assert listed["total"] == 1
    shown = _get(client, base).json()
    assert (shown["incident"]["linked"], shown["incident"]["answered"]) == (3, 3)
    # ``current`` is the incident as recorded: the version an If-Match names for the next step.
    assert (shown["current"]["state"], shown["current"]["number"]) == (
        "restored",
        incident["number"],
    )
    assert shown["current"]["version"] > incident["version"]
    assert [c["state"] for c in shown["calls"]] == ["customer_answered"] * 3
    report = _get(client, "/reports/outages", **{"from": "2026-10-12", "to": "2026-10-12"})
    (day,) = report.json()["days"]
    assert (day["repairs"], day["contacts"], day["answers"]) == (1, 3, 3)


def test_an_auditor_cannot_open_an_incident_and_a_bad_feeder_is_refused(
    client: TestClient,
) -> None:
    body = {"area": "urban", "feeder": FEEDER, "repair_department": "station_1"}
    assert _post(client, "/outages", "auditor", body).status_code == 403
    bad = _post(client, "/outages", "supervisor", {**body, "feeder": "a b"})
    assert bad.status_code == 422
    assert _get(client, "/outages/suggestions", area="urban", feeder="a b").status_code == 422


def test_the_sla_board_names_the_outage_each_linked_callers_clock_belongs_to(
    client: TestClient, clock: FakeClock
) -> None:
    # Given three fault calls linked to one incident, and a fourth call on another feeder
    clock.set(bj(2026, 10, 12, 9, 0))
    calls = [_post(client, "/tickets", "front", CALL).json() for _ in range(3)]
    alone = _post(client, "/tickets", "front", {**CALL, "feeder": "10kV城关线#4"}).json()
    incident = _post(
        client,
        "/outages",
        "supervisor",
        {"area": "urban", "feeder": FEEDER, "repair_department": "station_1"},
    ).json()
    for call in calls:
        linked = _post(
            client, f"/outages/{incident['id']}/link", "front", {"ticket_id": call["id"]}
        )
        assert linked.status_code == 200, linked.text
    _catch_up(client)

    # When the SLA monitor reads the running clocks
    rows = _get(client, "/sla/deadlines", "supervisor", state="running").json()["rows"]

    # Then every clock of a linked call names the incident, with the calls linked to it
    outage = {
        "incident_id": incident["id"],
        "number": incident["number"],
        "state": "open",
        "linked": 3,
    }
    mine = [r for r in rows if r["ticket_id"] in {c["id"] for c in calls}]
    assert {r["milestone"] for r in mine} >= {"arrival"}
    assert mine
    assert all(r["outage"] == outage for r in mine)
    # and the other call's clocks name none
    others = [r for r in rows if r["ticket_id"] == alone["id"]]
    assert others
    assert all(r["outage"] is None for r in others)
