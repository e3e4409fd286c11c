"""The HTTP API end to end: a TestClient against create_app on a real SQLite file.

The desk runs on a FakeClock the tests move by hand; the workers are off and the views are
caught up explicitly (``runtime.catch_up()``), except in the one test that runs them in
process. Tokens are the demo users of ``config/data/users.toml``.
"""

from __future__ import annotations

import collections
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Policy
from api.users import UsersError, load_users, token_hash
from bootstrap.org_loader import load_directory
from config.settings import Settings
from domain.commands import TICKET_ACTIONS
from tests.factories import FakeClock, bj, make_desk

V1 = "/api/v1"
TOKENS = {
    "front": "demo-agent-service-center",
    "front_after_merger": "demo-agent-marketing-service",
    "station_1": "demo-agent-station-1",
    "station_2": "demo-agent-station-2",
    "supervisor": "demo-supervisor-marketing",
    "monitor": "demo-monitor-token",
    "auditor": "demo-auditor-token",
    "admin": "demo-admin-token",
}
CALLER = {
    "kind": "complaint",
    "customer_name": "王建国",
    "phone": "13800138000",
    "address": "城关镇幸福路12号",
    "category": "service_attitude",
    "content": "营业厅工作人员态度恶劣，要求道歉并说明处理结果",
    "area": "urban",
    "station": "station_1",
}


def who(name: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}", **headers}


class Api:
    """A client, the desk's clock and the running app's runtime, with story helpers."""

    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock
        self.runtime = client.app.state.runtime  # type: ignore[attr-defined]

    def post(self, path: str, user: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.post(V1 + path, json=body or {}, headers=who(user, **headers))

    def get(self, path: str, user: str, **params: Any) -> Any:
        return self.client.get(V1 + path, params=params, headers=who(user))

    def intake(self, user: str = "front", **overrides: Any) -> dict[str, Any]:
        r = self.post("/tickets", user, {**CALLER, **overrides})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def act(self, ticket: dict[str, Any], action: str, user: str, **body: Any) -> dict[str, Any]:
        r = self.post(f"/tickets/{ticket['id']}/{action}", user, body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def dispatched(self, to: str = "station_1") -> dict[str, Any]:
        """A complaint verified, classified and dispatched to ``to`` by the front office."""
        t = self.intake()
        self.act(t, "verify", "front")
        self.act(t, "classify", "front", category="service_attitude", priority="normal")
        return self.act(t, "dispatch", "front", to_department=to, owner="张伟")

    def head(self) -> int:
        return int(self.runtime.desk.recorder.max_notification_id() or 0)


# ------------------------------------------------------------------ shape and auth


def test_openapi_documents_every_lifecycle_action(api: Api) -> None:
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for action in TICKET_ACTIONS:
        assert "post" in paths[f"{V1}/tickets/{{ticket_id}}/{action}"]
    for path in ("/tickets", "/callbacks", "/customers", "/worklists", "/sla/deadlines"):
        assert V1 + path in paths
    body = r.json()["components"]["schemas"]["TransferBody"]
    assert set(body["required"]) == {"to_department", "owner", "reason"}
    assert "actor_id" not in body["properties"]  # who acts comes from the token


def test_health_needs_no_token_and_says_how_far_views_are(api: Api) -> None:
    api.intake()
    r = api.client.get(f"{V1}/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["backend"] == "sqlite"
    assert body["head"] == api.head() > 0
    assert body["projections"]["worklists"] == {
        "position": 0,
        "head": api.head(),
        "lag": api.head(),
        "state": "running",
        "failure": None,
    }
    assert body["database"]["state"] == "up"
    assert body["workers"] == {}  # this app runs none


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWxpOnNlY3JldA=="}],
    ids=["missing", "unknown", "other-scheme"],
)
def test_missing_or_bad_token_is_401(api: Api, headers: dict[str, str]) -> None:
    for r in (
        api.client.get(f"{V1}/worklists", headers=headers),
        api.client.post(f"{V1}/tickets", json=CALLER, headers=headers),
    ):
        assert r.status_code == 401
        assert r.json()["code"] == "unauthenticated"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.head() == 0


def test_me_tells_role_department_and_front_office(api: Api) -> None:
    r = api.get("/me", "front")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "agent.li.na"
    assert body["role"] == "agent"
    assert body["front_office"] is True
    assert body["front_office_department"] == "service_center"
    assert "urge" not in body["ticket_actions"]
    assert body["may_intake"]
    assert body["may_handle_callbacks"]
    auditor = api.get("/me", "auditor").json()
    assert auditor["read_only"] is True
    assert auditor["ticket_actions"] == []


# ------------------------------------------------------------------------ writes


def test_intake_answers_201_with_number_state_deadlines_and_legal_actions(api: Api) -> None:
    r = api.post("/tickets", "front", CALLER)
    assert r.status_code == 201
    body = r.json()
    assert body["number"].startswith("TS20261012")
    assert body["kind"] == "complaint"
    assert body["state"] == "received"
    assert body["version"] == 2
    assert body["department"] == "service_center"
    assert body["events"] == ["ComplaintReceived", "SlaPolicyBound"]
    assert "verify" in body["legal_actions"]
    first_contact = next(d for d in body["deadlines"] if d["milestone"] == "first_contact")
    # 1 working day from Mon 09:00 Beijing, written with its offset.
    assert first_contact["due_at"] == "2026-10-13T09:00:00+08:00"
    assert r.headers["ETag"] == '"2"'


def test_a_complaint_goes_round_the_loop_through_the_api(api: Api) -> None:
    t = api.dispatched("station_1")
    assert (t["state"], t["department"], t["owner"]) == ("dispatched", "station_1", "张伟")
    api.clock.advance(hours=1)
    assert api.act(t, "accept", "station_1")["state"] == "accepted"
    api.act(t, "record_cause", "station_1", cause="窗口人员服务意识差", solution="批评教育并道歉")
    replied = api.act(t, "reply", "station_1", result="已道歉", measures="加强培训")
    assert replied["state"] == "replied"
    assert api.act(t, "answer", "front", content="已向客户答复处理结果")["state"] == (
        "customer_answered"
    )
    r = api.post("/callbacks", "front", {"kind": "post_service", "ticket_id": t["id"]})
    assert r.status_code == 201, r.text
    callback = r.json()
    assert (callback["state"], callback["events"]) == ("scheduled", ["CallbackScheduled"])
    assert callback["source_ticket_id"] == t["id"]
    assert api.get(f"/tickets/{t['id']}", "front").json()["state"] == "callback_pending"
    r = api.post(f"/callbacks/{callback['id']}/outcome", "front", {"satisfaction": 5})
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["satisfied"]) == ("completed", True)
    closed = api.get(f"/tickets/{t['id']}", "front").json()
    assert closed["state"] == "closed"
    assert closed["legal_actions"] == ["reopen"]
    shown = api.get(f"/callbacks/{callback['id']}", "auditor")
    assert shown.status_code == 200
    assert shown.json()["state"] == "completed"


def test_a_callback_attempt_and_a_cancel(api: Api) -> None:
    customer = api.post("/customers", "front", {"name": "城关镇第一中学", "phone": "0731-5550123"})
    assert customer.status_code == 201
    cid = customer.json()["id"]
    r = api.post("/callbacks", "supervisor", {"kind": "periodic", "customer_id": cid})
    assert r.status_code == 201
    callback = r.json()
    r = api.post(f"/callbacks/{callback['id']}/attempts", "front", {"outcome": "no_answer"})
    assert (r.status_code, r.json()["attempts"], r.json()["state"]) == (200, 1, "attempted")
    r = api.post(f"/callbacks/{callback['id']}/cancel", "admin", {"reason": "客户已销户"})
    assert (r.status_code, r.json()["state"], r.json()["legal_actions"]) == (200, "cancelled", [])
    r = api.post(f"/callbacks/{callback['id']}/cancel", "admin", {"reason": "again"})
    assert r.status_code == 409
    assert r.json()["code"] == "illegal_transition"
    assert r.json()["message"].endswith("is cancelled; cannot cancel")


def test_stale_if_match_is_409_version_conflict(api: Api) -> None:
    t = api.intake()
    # An action whose fields are all optional needs no body at all.
    ok = api.client.post(
        f"{V1}/tickets/{t['id']}/verify", headers=who("front", **{"If-Match": '"2"'})
    )
    assert ok.status_code == 200
    assert ok.headers["ETag"] == '"3"'
    before = api.head()
    r = api.post(
        f"/tickets/{t['id']}/contact_customer", "front", {"note": "已联系"}, **{"If-Match": '"2"'}
    )
    assert r.status_code == 409
    assert r.json() == {
        "code": "version_conflict",
        "message": f"{t['number']} changed: expected version 2, current version 3",
        "ticket": t["number"],
        "expected": 2,
        "actual": 3,
    }
    assert api.head() == before


def test_illegal_transition_is_409_naming_state_and_action(api: Api) -> None:
    t = api.intake()
    r = api.post(f"/tickets/{t['id']}/close", "front")
    assert r.status_code == 409
    assert r.json() == {
        "code": "illegal_transition",
        "message": f"complaint {t['number']} is received; cannot close",
        "ticket": t["number"],
        "state": "received",
        "action": "close",
    }
    r = api.post(
        f"/tickets/{t['id']}/dispatch_crew",
        "admin",
        {"crew": "抢修一班", "promised_arrival_at": "2026-10-12T10:00:00+08:00"},
    )
    assert r.status_code == 409
    assert r.json()["message"].endswith(
        "cannot dispatch_crew: dispatch_crew is not a step of a complaint"
    )


def test_a_broken_rule_is_409_invariant_violated(api: Api) -> None:
    t = api.dispatched("station_1")
    body = {"to_department": "station_1", "owner": "李四", "reason": "转回"}
    r = api.post(f"/tickets/{t['id']}/transfer", "supervisor", body)
    assert r.status_code == 409
    assert r.json()["code"] == "invariant_violated"
    assert r.json()["state"] == "dispatched"
    assert r.json()["action"] == "transfer"
    assert "already with station_1" in r.json()["message"]


def test_invalid_input_is_422_with_field_messages(api: Api) -> None:
    bad = {**CALLER, "phone": "call me", "priority": "whenever", "actor_id": "someone-else"}
    del bad["content"]
    r = api.post("/tickets", "front", bad)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_input"
    fields = {(e["field"], e["in"]) for e in body["errors"]}
    assert fields == {
        ("phone", "body"),
        ("priority", "body"),
        ("content", "body"),
        ("actor_id", "body"),
    }
    assert all(e["message"] for e in body["errors"])
    assert api.head() == 0


def test_bad_headers_and_queries_are_422_too(api: Api) -> None:
    t = api.intake()
    r = api.post(f"/tickets/{t['id']}/verify", "front", {}, **{"If-Match": "yesterday"})
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "field": "If-Match",
        "in": "header",
        "message": 'expected a version such as "3"',
        "type": "value_error",
    }
    r = api.get(f"/tickets/{t['id']}", "front", as_of="last tuesday")
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "as_of")
    r = api.get(f"/tickets/{t['id']}".replace(t["id"], "not-a-uuid"), "front")
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "ticket_id")
    r = api.get("/reports/departments", "front", **{"from": "2026-10-31", "to": "2026-10-01"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_input")


def test_a_value_the_domain_refuses_is_422_with_its_code(api: Api) -> None:
    r = api.post("/tickets", "front", {**CALLER, "occurred_at": "2026-10-13T09:00:00+08:00"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_value"
    assert body["field"] == "occurred_at"
    assert body["errors"][0]["field"] == "occurred_at"
    t = api.dispatched("station_1")
    body = {"to_department": "no_such_unit", "owner": "李四", "reason": "转派"}
    r = api.post(f"/tickets/{t['id']}/transfer", "supervisor", body)
    assert (r.status_code, r.json()["code"]) == (422, "unknown_department")


def test_unknown_ticket_action_callback_or_customer_is_404(api: Api) -> None:
    ghost = str(uuid.uuid4())
    r = api.get(f"/tickets/{ghost}", "front")
    assert r.status_code == 404
    assert r.json() == {
        "code": "not_found",
        "message": f"ticket {ghost} not found",
        "what": "ticket",
        "id": ghost,
    }
    assert api.post(f"/tickets/{ghost}/verify", "front").status_code == 404
    assert api.get(f"/tickets/{ghost}/history", "front").status_code == 404
    assert api.get(f"/callbacks/{ghost}", "front").json()["code"] == "not_found"
    assert api.get(f"/customers/{ghost}", "front").json()["code"] == "not_found"
    t = api.intake()
    r = api.post(f"/tickets/{t['id']}/teleport", "front")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_action")
    assert "verify" in r.json()["known_actions"]
    r = api.client.get(f"{V1}/nowhere")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    before = api.get(f"/tickets/{t['id']}", "front").json()["as_of"]
    r = api.get(f"/tickets/{t['id']}", "front", as_of="2026-10-12T08:00:00+08:00")
    assert (before, r.status_code) == (None, 404)  # it did not exist yet


def test_an_unexpected_failure_is_500_without_a_stack_trace(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(cmd: Any) -> Any:
        raise RuntimeError("disk on fire at /secret/path.py line 42")

    monkeypatch.setattr(api.runtime.desk, "handle", boom)
    r = api.post("/tickets", "front", CALLER)
    assert r.status_code == 500
    assert r.json() == {"code": "internal_error", "message": "internal error; it was logged"}
    assert "Traceback" not in r.text
    assert "secret" not in r.text


# ------------------------------------------------------------------- idempotency


def test_a_repeated_intake_with_the_same_key_gets_the_same_answer(api: Api) -> None:
    key = {"Idempotency-Key": "call-0001"}
    first = api.post("/tickets", "front", CALLER, **key)
    head = api.head()
    again = api.post("/tickets", "front", CALLER, **key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"]
    assert api.head() == head  # one effect
    # The same key from another user is another request.
    other = api.post("/tickets", "front_after_merger", CALLER, **key)
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


def test_a_repeated_action_answers_as_the_first_time_even_after_the_ticket_moved_on(
    api: Api,
) -> None:
    t = api.intake()
    key = {"Idempotency-Key": "verify-1"}
    first = api.post(f"/tickets/{t['id']}/verify", "front", {}, **key)
    api.act(t, "classify", "front", category="billing", priority="high")
    again = api.post(f"/tickets/{t['id']}/verify", "front", {}, **key)
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert again.json()["state"] == "verified"
    assert again.json()["changed"] is True
    reused = api.post(f"/tickets/{t['id']}/contact_customer", "front", {"note": "x"}, **key)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


def test_the_repeat_is_identical_after_a_restart(api: Api, tmp_path: Path) -> None:
    key = {"Idempotency-Key": "restart-1"}
    first = api.post("/tickets", "front", CALLER, **key)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.sqlite'}")
    desk = make_desk(api.clock, env=settings.eventsourcing_env())
    try:
        with TestClient(create_app(settings, desk=desk, workers=False)) as fresh:
            again = fresh.post(f"{V1}/tickets", json=CALLER, headers=who("front", **key))
    finally:
        desk.close()
    assert again.status_code == 201
    assert again.content == first.content


# ---------------------------------------------------------------------- roles


def test_agents_act_only_on_their_departments_tickets(api: Api) -> None:
    t = api.dispatched("station_1")
    r = api.post(f"/tickets/{t['id']}/accept", "station_2")
    assert r.status_code == 403
    assert r.json() == {
        "code": "forbidden",
        "message": f"agent.wang.fang may not accept ticket {t['number']}: ticket "
        f"{t['number']} is held by station_1, not by station_2",
    }
    assert api.post(f"/tickets/{t['id']}/accept", "station_1").status_code == 200
    # The front office acts on every ticket (一口对外); agents intake any.
    assert (
        api.post(f"/tickets/{t['id']}/contact_customer", "front", {"note": "已回电"}).status_code
        == 200
    )
    assert api.post("/tickets", "station_2", CALLER).status_code == 201


def test_only_supervisors_urge_supervise_transfer(api: Api) -> None:
    t = api.dispatched("station_1")
    for action, body in (
        ("urge", {"note": "请尽快处理"}),
        ("supervise", {"reason": "重复投诉"}),
        ("transfer", {"to_department": "station_2", "owner": "王芳", "reason": "属地错误"}),
    ):
        r = api.post(f"/tickets/{t['id']}/{action}", "front", body)
        assert r.status_code == 403, action
        assert r.json()["message"].endswith(f"role agent may not {action}")
        r = api.post(f"/tickets/{t['id']}/{action}", "supervisor", body)
        assert r.status_code == 200, r.text
    assert r.json()["department"] == "station_2"


def test_monitors_read_and_fire_sla_steps_but_nothing_else(api: Api) -> None:
    t = api.intake()
    assert api.post("/tickets", "monitor", CALLER).status_code == 403
    assert api.post(f"/tickets/{t['id']}/verify", "monitor").json()["code"] == "forbidden"
    step = {"milestone": "first_contact", "cycle": 1}
    early = api.post(f"/tickets/{t['id']}/record_breach", "monitor", step)
    assert early.status_code == 409
    assert "not due until" in early.json()["message"]
    api.clock.set(bj(2026, 10, 13, 10, 0))
    breached = api.post(f"/tickets/{t['id']}/record_breach", "monitor", step)
    assert breached.status_code == 200
    assert breached.json()["events"] == ["SlaBreached"]
    again = api.post(f"/tickets/{t['id']}/record_breach", "monitor", step)
    assert (again.status_code, again.json()["changed"], again.json()["events"]) == (200, False, [])
    api.runtime.catch_up()
    api.clock.advance(minutes=30)
    r = api.get("/escalations", "monitor")
    assert r.status_code == 200
    [row] = r.json()["rows"]
    assert (row["ticket_id"], row["milestone"], row["level"]) == (t["id"], "first_contact", 0)
    assert row["breached_at"] == "2026-10-13T10:00:00+08:00"
    assert row["age_seconds"] == 1800


def test_an_auditor_token_cannot_change_anything(api: Api) -> None:
    t = api.dispatched("station_1")
    before = api.head()
    ids = {
        "ticket_id": t["id"],
        "callback_id": str(uuid.uuid4()),
        "customer_id": str(uuid.uuid4()),
        "incident_id": str(uuid.uuid4()),
    }
    paths = api.client.get("/openapi.json").json()["paths"]
    # A stream ticket changes nothing (auditors watch the boards live too): it is granted.
    stream = f"{V1}/stream/tickets"
    posts = [p for p, ops in paths.items() if "post" in ops and p != stream]
    assert len(posts) > len(TICKET_ACTIONS)
    assert api.client.post(stream, headers=who("auditor")).status_code == 201
    for path in posts:
        # Any other path parameter (a department, a month, a visit ...) by a stand-in value:
        # the refusal comes before the route looks at it.
        url = path.format_map(collections.defaultdict(lambda: "2026-10", ids))
        r = api.client.post(url, json={**CALLER}, headers=who("auditor"))
        assert r.status_code == 403, url
        assert r.json() == {
            "code": "read_only_role",
            "message": "auditors read everything and change nothing",
        }
    for method in ("put", "patch", "delete"):  # no such routes: nothing to refuse, nothing done
        r = api.client.request(method, f"{V1}/tickets/{t['id']}", headers=who("auditor"))
        assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert api.head() == before
    # ... and reads everything.
    assert api.get(f"/tickets/{t['id']}", "auditor").status_code == 200
    assert api.get(f"/tickets/{t['id']}/history", "auditor").status_code == 200
    assert api.get("/sla/deadlines", "auditor").status_code == 200
    assert api.get("/audit/access", "auditor").status_code == 200


# ------------------------------------------------------------ personal data


def test_personal_data_is_masked_unless_the_role_needs_it_and_each_reveal_is_recorded(
    api: Api,
) -> None:
    t = api.dispatched("station_1")
    path = f"/tickets/{t['id']}"
    masked = {"phone": "138****8000", "address": "城关镇幸福路***"}
    plain = {"phone": "13800138000", "address": "城关镇幸福路12号"}
    for user in ("station_2", "monitor", "auditor"):
        body = api.get(path, user).json()
        assert (body["contact"], body["contact_masked"]) == (masked, True), user
    assert api.get("/audit/access", "auditor").json()["rows"] == []
    for user in ("front", "station_1", "admin"):
        body = api.get(path, user).json()
        assert (body["contact"], body["contact_masked"]) == (plain, False), user
    # Asked masked: nothing to record. Asked unmasked without the right: 403.
    assert api.get(path, "front", reveal="false").json()["contact"] == masked
    r = api.get(path, "auditor", reveal="true")
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = api.get(f"{path}/history", "station_1", reason="回电核实地址")
    assert r.json()["events"][0]["details"]["details"]["contact"] == plain
    log = api.get("/audit/access", "auditor", subject_id=t["id"])
    assert log.status_code == 200
    rows = log.json()["rows"]
    assert [(x["actor"], x["role"], x["department"]) for x in rows] == [
        ("agent.zhang.wei", "agent", "station_1"),
        ("admin.ops", "admin", "general_office"),
        ("agent.zhang.wei", "agent", "station_1"),
        ("agent.li.na", "agent", "service_center"),
    ]
    assert rows[0] == {
        **rows[0],
        "subject_kind": "ticket",
        "subject_id": t["id"],
        "subject_number": t["number"],
        "fields": ["address", "phone"],
        "reason": "回电核实地址",
        "endpoint": f"GET {V1}{path}/history",
    }
    everyone = api.get("/audit/access", "admin", actor="agent.zhang.wei").json()
    assert everyone["count"] == 2
    assert api.get("/audit/access", "front").status_code == 403


def test_history_is_masked_for_an_auditor_and_tells_who_and_when(api: Api) -> None:
    t = api.dispatched("station_1")
    r = api.get(f"/tickets/{t['id']}/history", "auditor")
    assert r.status_code == 200
    body = r.json()
    assert body["contact_masked"] is True
    names = [e["name"] for e in body["events"]]
    assert names[:2] == ["ComplaintReceived", "SlaPolicyBound"]
    assert "WorkOrderDispatched" in names
    first = body["events"][0]
    assert first["details"]["details"]["contact"]["phone"] == "138****8000"
    assert (first["actor"], first["role"], first["department"]) == (
        "agent.li.na",
        "agent",
        "service_center",
    )
    assert first["occurred_at"] == first["recorded_at"] == "2026-10-12T09:00:00+08:00"


def test_customers_register_grade_and_read(api: Api) -> None:
    r = api.post(
        "/customers",
        "station_1",
        {
            "name": "城关镇第一中学",
            "customer_type": "commercial",
            "phone": "0731-5550123",
            "address": "城关镇学府路8号",
        },
    )
    assert r.status_code == 201
    customer = r.json()
    assert "contact" not in customer or customer["contact"] is None
    path = f"/customers/{customer['id']}"
    grade = {"grade": "A", "key_account": True, "basis": "年用电量超过100万元"}
    assert api.post(f"{path}/grade", "front", grade).status_code == 403
    r = api.post(f"{path}/grade", "supervisor", grade, **{"If-Match": '"1"'})
    assert (r.status_code, r.json()["grade"], r.json()["key_account"]) == (200, "A", True)
    r = api.post(f"{path}/account-manager", "admin", {"manager": "大客户经理 陈"})
    assert (r.status_code, r.json()["account_manager"]) == (200, "大客户经理 陈")
    assert api.get(path, "station_1").json()["contact"] == {
        "phone": "073*****0123",
        "address": "城关镇学府路***",
    }
    shown = api.get(path, "front").json()
    assert shown["contact"]["phone"] == "0731-5550123"
    assert api.get("/audit/access", "auditor", subject_id=customer["id"]).json()["count"] == 1


# ------------------------------------------------------------------- reads


def test_a_ticket_as_of_a_past_instant(api: Api) -> None:
    t = api.intake()
    api.clock.advance(hours=2)
    api.act(t, "verify", "front")
    now = api.get(f"/tickets/{t['id']}", "front").json()
    assert (now["state"], now["as_of"], "classify" in now["allowed_actions"]) == (
        "verified",
        None,
        True,
    )
    then = api.get(f"/tickets/{t['id']}", "front", as_of="2026-10-12T10:00:00+08:00").json()
    assert (then["state"], then["version"], then["as_of"]) == (
        "received",
        2,
        "2026-10-12T10:00:00+08:00",
    )
    assert then["allowed_actions"] == []
    clock = next(c for c in then["sla"] if c["milestone"] == "first_contact")
    assert (clock["used_seconds"], clock["left_seconds"]) == (3600, 27000 - 3600)
    # A "+" left unencoded in the URL arrives as a space and is read back.
    raw = api.client.get(
        f"{V1}/tickets/{t['id']}?as_of=2026-10-12T10:00:00+08:00", headers=who("front")
    )
    assert raw.json()["version"] == 2


def test_views_say_how_far_the_projection_has_caught_up(api: Api) -> None:
    urgent = api.dispatched("station_1")
    api.clock.advance(minutes=5)
    later = api.intake(kind="fault_repair", category="outage", customer_name="李梅")
    r = api.get("/worklists", "front")
    assert r.json()["projection"] == {"position": 0, "head": api.head(), "lag": api.head()}
    assert r.json()["rows"] == []
    api.runtime.catch_up()
    r = api.get("/worklists", "front")
    assert r.status_code == 200
    body = r.json()
    assert body["projection"] == {"position": api.head(), "head": api.head(), "lag": 0}
    assert [row["ticket_id"] for row in body["rows"]] == [later["id"], urgent["id"]]
    dues = [row["next_due_at"] for row in body["rows"]]
    assert dues == sorted(dues)
    station = api.get("/worklists", "station_1", department="station_1").json()
    assert [row["number"] for row in station["rows"]] == [urgent["number"]]
    mine = api.get("/worklists", "station_1", owner="张伟").json()
    assert mine["count"] == 1


def test_sla_deadlines_filter_by_state_department_and_due_time(api: Api) -> None:
    t = api.dispatched("station_1")
    api.intake(kind="fault_repair", category="outage", customer_name="李梅")
    api.runtime.catch_up()
    r = api.get("/sla/deadlines", "monitor", department="station_1", state="running")
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert {row["ticket_id"] for row in rows} == {t["id"]}
    assert all("schedule" not in row and row["left_seconds"] > 0 for row in rows)
    soon = api.get("/sla/deadlines", "monitor", due_before="2026-10-12T10:00:00+08:00").json()
    assert [row["kind"] for row in soon["rows"]] == ["fault_repair"]
    assert soon["projection"]["lag"] == 0


def test_the_department_report_from_the_views_and_as_of(api: Api) -> None:
    api.dispatched("station_1")
    api.runtime.catch_up()
    span = {"from": "2026-10-01", "to": "2026-10-31"}
    r = api.get("/reports/departments", "supervisor", **span)
    assert r.status_code == 200
    body = r.json()
    assert (body["source"], body["projection"]["lag"]) == ("views", 0)
    total = next(row for row in body["rows"] if row["department"] == "TOTAL")
    assert total["received"] == 1
    earlier = api.get("/reports/departments", "auditor", as_of="2026-10-11T00:00:00+08:00", **span)
    assert earlier.status_code == 200
    assert earlier.json()["source"] == "replay"
    assert all(row["received"] == 0 for row in earlier.json()["rows"])


def test_front_office_follows_the_merger() -> None:
    users = {u.id: u for u in load_users().all}
    policy = Policy(load_directory())
    before, after = bj(2026, 10, 12, 9), bj(2026, 10, 20, 9)
    assert policy.in_front_office(users["agent.li.na"], before)
    assert not policy.in_front_office(users["agent.zhou.min"], before)  # not there yet
    assert policy.in_front_office(users["agent.li.na"], after)  # service_center merged in
    assert policy.in_front_office(users["agent.zhou.min"], after)
    station = users["agent.zhang.wei"]
    assert policy.covers(station, "station_1.distribution", after)
    assert not policy.covers(station, "station_2.distribution", after)


# ------------------------------------------------------------ workers and backends


def _wait(condition: Any, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_with_the_workers_in_process_the_views_follow_by_themselves(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'serve.sqlite'}")
    with TestClient(create_app(settings)) as client:
        r = client.post(f"{V1}/tickets", json=CALLER, headers=who("front"))
        assert r.status_code == 201
        number = r.json()["number"]

        def listed() -> Any:
            body = client.get(f"{V1}/worklists", headers=who("front")).json()
            return body if body["projection"]["lag"] == 0 and body["rows"] else None

        body = _wait(listed)
        assert [row["number"] for row in body["rows"]] == [number]


@pytest.mark.postgres
def test_the_same_story_on_postgresql(pg_database: str, clock: FakeClock) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for (table,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall():
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    settings = Settings(database_url=pg_database)
    desk = make_desk(clock, env=settings.eventsourcing_env())
    try:
        with TestClient(create_app(settings, desk=desk, workers=False)) as client:
            api = Api(client, clock)
            t = api.dispatched("station_1")
            assert api.post(f"/tickets/{t['id']}/accept", "station_2").status_code == 403
            assert api.act(t, "accept", "station_1")["state"] == "accepted"
            api.runtime.catch_up()
            rows = api.get("/worklists", "station_1", department="station_1").json()["rows"]
            assert [(r["number"], r["state"]) for r in rows] == [(t["number"], "accepted")]
            deadlines = api.get("/sla/deadlines", "monitor", ticket_id=t["id"]).json()
            assert deadlines["projection"]["lag"] == 0
            assert deadlines["count"] >= 1
            assert api.get("/audit/access", "auditor").json()["count"] == 0
            assert api.get(f"/tickets/{t['id']}", "station_1").json()["contact_masked"] is False
            assert api.get("/audit/access", "auditor").json()["count"] == 1
    finally:
        desk.close()


def test_another_users_file_with_hashed_tokens(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    users.write_text(
        "[[user]]\n"
        'id = "night.shift"\nname = "夜班坐席"\nrole = "agent"\ndepartment = "service_center"\n'
        f'token_sha256 = "{token_hash("a-long-night-shift-token")}"\n',
        encoding="utf-8",
    )
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'own.sqlite'}", users_file=str(users))
    with TestClient(create_app(settings, workers=False)) as client:
        me = client.get(f"{V1}/me", headers={"Authorization": "Bearer a-long-night-shift-token"})
        assert (me.status_code, me.json()["id"]) == (200, "night.shift")
        demo = client.get(f"{V1}/me", headers=who("front"))
        assert demo.status_code == 401


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('department = "nowhere"\ntoken = "token-of-nowhere"', "not in the org directory"),
        ('department = "station_1"', "exactly one of token or token_sha256"),
        ('department = "station_1"\nrole = "system"\ntoken = "token-of-a-robot"', "system"),
    ],
)
def test_a_bad_users_file_is_refused_naming_the_problem(
    tmp_path: Path, entry: str, complaint: str
) -> None:
    users = tmp_path / "users.toml"
    role = "" if "role" in entry else 'role = "agent"\n'
    users.write_text(f'[[user]]\nid = "x"\nname = "X"\n{role}{entry}\n', encoding="utf-8")
    with pytest.raises(UsersError, match=complaint):
        load_users(users, load_directory())


def test_openapi_says_what_every_time_field_means(api: Api) -> None:
    """Each instant in a body, an answer or a query says which time it is (business time or
    recording time) and what it may hold; occurred_at says past is allowed, the future not."""
    spec = api.client.get("/openapi.json").json()
    undocumented: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            variants = [node, *[v for v in node.get("anyOf", []) if isinstance(v, dict)]]
            timed = any(v.get("format") == "date-time" for v in variants)
            if timed and "anyOf[" not in path and not node.get("description"):
                undocumented.append(path)
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(spec["components"]["schemas"], "schemas")
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                timed = parameter["name"] in ("at", "as_known_at", "as_of", "due_before")
                if timed and not parameter.get("description"):
                    undocumented.append(f"{path}?{parameter['name']}")
    assert undocumented == []
    occurred = spec["components"]["schemas"]["DispatchBody"]["properties"]["occurred_at"]
    assert "business time" in occurred["description"]
    assert "5 minutes" in occurred["description"]
    assert "backdated" in occurred["description"]


def test_the_names_name_every_users_unit_the_auditors_too(api: Api) -> None:
    # Given the shipped users, an auditor among them in the audit office (no org department)
    # When a page reads the names
    sections = api.get("/names", "auditor").json()["sections"]
    # Then the audit office has its names, so the header says "审计部" / "Audit office", never
    # the code; it is no department a ticket could be sent to (the pickers list departments)
    assert sections["unit"]["audit"] == {"zh": "审计部", "en": "Audit office"}
    assert "audit" not in sections["department"]
    assert sections["department"]["station_1"]["zh"] == "供电所1"
