"""The monthly assessment over HTTP: report, self-assessment, proposal, dispute, sign-off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from bootstrap.assessment_rules import DEFAULT_RULES, SETTING
from config.settings import Settings
from tests.factories import FakeClock, bj, make_desk
from workers.projector import Projector

V1 = "/api/v1"
TOKENS = {
    "front": "demo-agent-service-center",
    "station_1": "demo-agent-station-1",
    "station_2": "demo-agent-station-2",
    "supervisor": "demo-supervisor-marketing",
    "auditor": "demo-auditor-token",
}
CALLER = {
    "kind": "complaint",
    "customer_name": "王建国",
    "phone": "13800138000",
    "address": "城关镇幸福路12号",
    "category": "service_attitude",
    "content": "营业厅工作人员态度恶劣,要求道歉并说明处理结果",
    "area": "urban",
    "station": "station_1",
}
BASE = "/assessment/station_1/2026-10"


def _who(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@pytest.fixture
def client(
    clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    # The shipped rules, with station 1 led by the demo's station agent (so it can sign).
    rules = tmp_path / "rules.toml"
    rules.write_text(
        DEFAULT_RULES.read_text(encoding="utf-8")
        + '\n[[leader]]\ndepartment = "station_1"\nperson = "agent.zhang.wei"\n'
        "casetrail_default = true\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(SETTING, str(rules))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.sqlite'}")
    desk = make_desk(clock, env=settings.eventsourcing_env())
    with TestClient(create_app(settings, desk=desk, workers=False)) as c:
        yield c
    desk.close()


def _post(client: TestClient, path: str, user: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(V1 + path, json=body or {}, headers=_who(user))


def _catch_up(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    Projector(runtime.desk, list(runtime.reader.followers.values())).catch_up()


def test_a_month_proposed_disputed_and_signed_off_over_http(
    client: TestClient, clock: FakeClock
) -> None:
    ticket = _post(client, "/tickets", "front", CALLER).json()
    for action, body in (
        ("verify", {}),
        ("classify", {"category": "service_attitude", "priority": "normal"}),
        ("dispatch", {"to_department": "station_1", "owner": "张伟"}),
    ):
        assert _post(client, f"/tickets/{ticket['id']}/{action}", "front", body).status_code == 200
    clock.set(bj(2026, 10, 12, 10))
    for action, body in (("urge", {"note": "请尽快"}), ("supervise", {"reason": "重点"})):
        r = _post(client, f"/tickets/{ticket['id']}/{action}", "supervisor", body)
        assert r.status_code == 200, r.text
    clock.set(bj(2026, 11, 2, 9))
    _catch_up(client)

    # station 1 assessed the urge itself; another station may not say so for it
    done = {"ticket": ticket["number"], "reason": "urge", "note": "所内已考核"}
    assert _post(client, f"{BASE}/self-assess", "station_2", done).status_code == 403
    assert _post(client, f"{BASE}/self-assess", "station_1", done).status_code == 200
    _catch_up(client)
    assert _post(client, f"{BASE}/propose", "station_1").status_code == 403  # supervisors
    r = _post(client, f"{BASE}/propose", "supervisor")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "proposed"
    # supervision 3; the urge (1) self-assessed, not assessed again
    assert r.json()["points"] == 3
    _catch_up(client)

    report = client.get(
        V1 + "/reports/assessment", params={"month": "2026-10"}, headers=_who("auditor")
    ).json()
    [line] = report["departments"]
    assert (line["department"], line["state"], line["points"]) == ("station_1", "proposed", 3)
    assert [i["skipped"] for i in line["items"] if i["reason"] == "urge"] == ["self_assessed"]
    assert report["total_points"] == 3
    assert {p["person"]: p["liability"] for p in report["people"]}["agent.zhang.wei"] == 3

    supervision = next(i["key"] for i in line["items"] if i["reason"] == "supervision")
    r = _post(client, f"{BASE}/dispute", "station_1", {"item": supervision, "reason": " "})
    assert r.status_code == 422
    assert "reason" in r.text
    r = _post(client, f"{BASE}/dispute", "station_1", {"item": supervision, "reason": "已整改"})
    assert r.json()["state"] == "disputed"
    decision = {"item": supervision, "decision": "upheld", "note": "督办成立"}
    assert _post(client, f"{BASE}/resolve", "supervisor", decision).json()["state"] == "proposed"

    r = _post(client, f"{BASE}/sign-off", "supervisor")
    assert r.status_code == 422
    assert "agent.zhang.wei" in r.text  # names the leader who signs
    r = _post(client, f"{BASE}/sign-off", "station_1")
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["signed_by"], r.json()["points"]) == (
        "signed_off",
        "agent.zhang.wei",
        3,
    )
    r = _post(client, f"{BASE}/dispute", "station_1", {"item": supervision, "reason": "晚了"})
    assert r.status_code == 409  # illegal_transition, naming both states
    assert "signed_off" in r.text
    assert "proposed or disputed" in r.text


def test_the_report_wants_a_month(client: TestClient) -> None:
    for month in ("2026-13", "0000-01", "9999-12", "2026-1"):
        r = client.get(V1 + "/reports/assessment", params={"month": month}, headers=_who("front"))
        assert r.status_code == 422, month
    assert _post(client, "/assessment/station_1/9999-12/propose", "supervisor").status_code == 422
    assert _post(client, "/assessment/Station%201/2026-10/propose", "supervisor").status_code == 422


def test_a_month_before_the_rules_is_refused_naming_their_date(client: TestClient) -> None:
    r = client.get(V1 + "/reports/assessment", params={"month": "2023-12"}, headers=_who("front"))
    assert r.status_code == 422
    assert "2024-01-01" in r.text
