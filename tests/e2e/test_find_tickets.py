"""Finding tickets, callers and departments through the HTTP API, on SQLite and PostgreSQL.

A 95598 agent takes a call, the complaint goes to a station, and an hour later the customer
calls again: the agent finds it by the last four digits of the phone, by the start of its
number or by the caller's name; the front office keeps the thread (``taken_in_by``). Pages carry
the true total. The views are caught up explicitly (no workers run); the clock is a FakeClock.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import test_validation
from tests.e2e.test_api import V1, Api
from tests.factories import bj, receive

api = test_validation.api  # the fixture: the API on SQLite and on PostgreSQL


def find(api: Api, user: str = "front", path: str = "/tickets", **params: Any) -> dict[str, Any]:
    """The views caught up, then one search; 200 expected."""
    api.runtime.catch_up()
    r = api.get(path, user, **params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def ids(body: dict[str, Any]) -> set[str]:
    return {row["ticket_id"] for row in body["rows"]}


def routed(api: Api, **caller: Any) -> dict[str, Any]:
    """A complaint taken in by the front office, verified, classified, sent to station_1."""
    t = api.intake(**caller)
    api.act(t, "verify", "front")
    api.act(t, "classify", "front", category="service_attitude", priority="normal")
    api.act(t, "dispatch", "front", to_department="station_1", owner="张伟")
    return t


# ------------------------------------------------------------------ search by q


def test_a_ticket_is_found_by_the_last_four_digits_the_number_and_the_name(api: Api) -> None:
    wang = api.intake(customer_name="王建国", phone="13800138000")
    li = api.intake(customer_name="李秀英", phone="139-1234-5678")
    zhang = api.intake(customer_name="张伟民", phone="13712340001", content="电表走字太快")

    assert ids(find(api, q="5678")) == {li["id"]}
    assert ids(find(api, q="13912345678")) == {li["id"]}  # all the digits, separators aside
    assert ids(find(api, q="+86 139 1234 5678")) == {li["id"]}  # with the country code too
    assert ids(find(api, q="秀英")) == {li["id"]}
    assert ids(find(api, q="电表")) == {zhang["id"]}  # a part of the content
    assert ids(find(api, q=wang["number"])) == {wang["id"]}
    prefix = li["number"][:-3].lower()  # the start of a number, in any case
    every = (wang, li, zhang)
    assert ids(find(api, q=prefix)) == {
        t["id"] for t in every if t["number"].startswith(prefix.upper())
    }
    assert li["id"] in ids(find(api, q=prefix))
    assert find(api, q="%")["total"] == 0  # LIKE's wildcards match only themselves
    hit = find(api, q="5678")["rows"][0]
    assert (hit["number"], hit["customer_name"], hit["state"]) == (
        li["number"],
        "李秀英",
        "received",
    )
    assert (hit["intake_actor"], hit["intake_department"]) == ("agent.li.na", "service_center")


def test_the_front_office_finds_by_phone_the_complaint_it_routed_an_hour_ago(api: Api) -> None:
    taken = routed(api, phone="13912345678")  # 09:00, front office
    walk_in = api.intake("station_1", phone="13912345678", content="营业厅排队时间太长")
    api.clock.advance(hours=1)

    mine = find(api, q="5678", taken_in_by="my_front_office")

    assert ids(mine) == {taken["id"]}  # not the walk-in the station took in
    [row] = mine["rows"]
    assert (row["state"], row["department"], row["owner"]) == ("dispatched", "station_1", "张伟")
    assert ids(find(api, q="5678", taken_in_by="me")) == {taken["id"]}
    assert ids(find(api, "station_1", q="5678", taken_in_by="me")) == {walk_in["id"]}
    # After the 2026-10-16 merger the front office is 营销部(客户服务中心): the thread stays.
    api.clock.set(bj(2026, 10, 19, 9, 0))
    after = find(api, "front_after_merger", q="5678", taken_in_by="my_front_office")
    assert ids(after) == {taken["id"]}
    # A station is no front office: refused, naming the parameter.
    r = api.get("/tickets", "station_1", taken_in_by="my_front_office")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "taken_in_by"


# ------------------------------------------------------------------ paging


def test_pages_carry_the_true_total_and_never_overlap(api: Api) -> None:
    desk = api.runtime.desk
    made = set()
    for i in range(250):
        name = "赵一" if i % 2 else "钱二"
        made.add(str(receive(desk, customer_name=name, phone=f"1380000{i:04d}").id))
        if i % 50 == 0:
            api.clock.advance(minutes=1)  # several receipt times to order by

    seen: list[str] = []
    for page in range(5):
        body = find(api, sort="-received_at", limit=50, offset=50 * page, reveal="false")
        assert (body["total"], body["count"], body["offset"]) == (250, 50, 50 * page)
        seen += [row["ticket_id"] for row in body["rows"]]
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == made
    past = find(api, limit=50, offset=250, reveal="false")
    assert (past["total"], past["count"], past["rows"]) == (250, 0, [])
    assert find(api, q="赵一", limit=10, reveal="false")["total"] == 125
    received = [r["received_at"] for r in find(api, sort="-received_at", limit=1000)["rows"]]
    assert received == sorted(received, reverse=True)


# ------------------------------------------------------------------ filters


def test_filters_state_department_at_risk_breached_and_escalation(api: Api) -> None:
    repair = api.intake(kind="fault_repair", category="outage", content="整条街停电")  # 45 min
    complaint = routed(api)

    assert ids(find(api, at_risk="true")) == {repair["id"]}
    assert ids(find(api, at_risk="false")) == {complaint["id"]}
    assert ids(find(api, department="station_1")) == {complaint["id"]}
    assert ids(find(api, state="dispatched,received")) == {repair["id"], complaint["id"]}
    assert ids(find(api, kind="fault_repair")) == {repair["id"]}

    api.clock.set(bj(2026, 10, 12, 9, 45))
    breach = {"milestone": "arrival", "cycle": 1}
    api.act(repair, "record_breach", "monitor", **breach)
    api.act(repair, "escalate", "monitor", **breach, level=2)

    assert ids(find(api, breached="true")) == {repair["id"]}
    assert ids(find(api, breached="false")) == {complaint["id"]}
    assert ids(find(api, escalation_level=2)) == {repair["id"]}
    assert find(api, escalation_level=3)["total"] == 0
    [row] = find(api, q=repair["number"])["rows"]
    assert (row["breaches"], row["escalation_level"]) == (["arrival#1"], 2)
    assert ids(find(api, due_before="2026-10-12T09:45:00+08:00")) == {repair["id"]}
    assert ids(find(api, due_after="2026-10-12T10:00:00+08:00")) == {complaint["id"]}
    # Open or not: a withdrawn ticket leaves the open ones.
    api.act(complaint, "withdraw", "supervisor", reason="客户撤诉")
    assert ids(find(api, open="true")) == {repair["id"]}
    assert ids(find(api, open="false")) == {complaint["id"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "customer_name"}, "sort"),
        ({"state": "dispatched,lost"}, "state"),
        ({"kind": "grievance"}, "kind"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"escalation_level": 101}, "escalation_level"),
        ({"due_before": "tomorrow"}, "due_before"),
        ({"taken_in_by": "my_station"}, "taken_in_by"),
        ({"q": "a\x00b"}, "q"),
    ],
)
def test_a_refused_parameter_is_named(api: Api, params: dict[str, Any], field: str) -> None:
    r = api.get("/tickets", "front", **params)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input"
    assert [e["field"] for e in r.json()["errors"]] == [field]


# ------------------------------------------------------------------ personal data


def test_phones_are_masked_for_a_role_that_may_not_see_them_and_reveals_are_recorded(
    api: Api,
) -> None:
    t = routed(api, phone="13912345678")

    for user in ("monitor", "auditor", "station_2"):
        [row] = find(api, user, q="5678")["rows"]
        assert (row["phone"], row["contact_masked"]) == ("139****5678", True), user
    assert api.get("/audit/access", "auditor", subject_id=t["id"]).json()["count"] == 0
    r = api.get("/tickets", "monitor", q="5678", reveal="true")
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")

    for user in ("front", "station_1"):  # the front office, and the station holding it
        [row] = find(api, user, q="5678")["rows"]
        assert (row["phone"], row["contact_masked"]) == ("13912345678", False), user
    assert find(api, "front", q="5678", reveal="false")["rows"][0]["phone"] == "139****5678"
    log = api.get("/audit/access", "auditor", subject_id=t["id"]).json()
    assert [(r["actor"], r["fields"]) for r in reversed(log["rows"])] == [
        ("agent.li.na", ["phone"]),
        ("agent.zhang.wei", ["phone"]),
    ]
    assert not {"phone_digits", "phone_last4", "clocks"} & set(row)  # search columns stay in


# ------------------------------------------------------------------ callers


def test_a_repeat_caller_is_found_by_phone_with_their_open_tickets(api: Api) -> None:
    r = api.post("/customers", "front", {"name": "城关镇第一中学", "phone": "0731-5550123"})
    assert r.status_code == 201, r.text
    school = r.json()["id"]
    first = routed(api, customer_id=school, customer_name=None, phone=None)
    settled = api.intake(customer_id=school, customer_name=None, phone=None)
    api.act(settled, "resolve_at_first_contact", "front", answer="已解释电价政策")
    api.intake(customer_name="刘强", phone="13600001111")  # another caller

    for phone in ("07315550123", "0731-5550123", "0123"):
        body = find(api, path="/customers", phone=phone)
        assert [c["customer_id"] for c in body["customers"]] == [school], phone
        assert body["customers"][0]["phone"] == "0731-5550123"
        assert [t["ticket_id"] for t in body["open_tickets"]] == [first["id"]]
        assert body["open_tickets"][0]["state"] == "dispatched"
        assert (body["customers_total"], body["open_tickets_total"]) == (1, 1)

    by_name = find(api, path="/customers", name="第一中学")
    assert [c["name"] for c in by_name["customers"]] == ["城关镇第一中学"]
    masked = find(api, "station_1", path="/customers", phone="0123")["customers"][0]
    assert (masked["phone"], masked["contact_masked"]) == ("073*****0123", True)
    r = api.get("/customers", "front")
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "phone")


def test_a_caller_registered_at_intake_is_found_by_the_phone_they_called_from(api: Api) -> None:
    t = api.intake(customer_name="王建国", phone="13800138000")

    body = find(api, path="/customers", phone="8000")

    assert [c["name"] for c in body["customers"]] == ["王建国"]
    assert [o["ticket_id"] for o in body["open_tickets"]] == [t["id"]]
    assert "phone" not in body["open_tickets"][0]


# ------------------------------------------------------------------ departments


def test_departments_as_of_a_date_before_and_after_the_merger(api: Api) -> None:
    before = find(api, path="/departments", as_of="2026-10-15")
    after = find(api, path="/departments", as_of="2026-10-16")

    def of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {d["id"]: d for d in body["departments"]}

    was, now = of(before), of(after)
    assert (before["front_office"], after["front_office"]) == (
        "service_center",
        "marketing_service",
    )
    assert (was["service_center"]["active"], now["service_center"]["active"]) == (True, False)
    assert now["service_center"]["successor"] == "marketing_service"
    assert was["service_center"]["name_zh"] == "客户服务中心"
    assert (was["marketing_service"]["active"], now["marketing_service"]["active"]) == (False, True)
    assert now["marketing_service"]["name_en"].startswith("Marketing Department")
    assert (was["station_1"]["parent"], now["station_1"]["parent"]) == (
        "station_mgmt",
        "marketing_service",
    )
    assert "station_1.business" not in {
        d["id"]
        for d in find(api, path="/departments", as_of="2026-10-15", active="true")["departments"]
    }
    today = find(api, path="/departments")  # the desk's today: Monday 2026-10-12
    assert today["as_of"] == "2026-10-12"
    r = api.get("/departments", "front", as_of="2026-13-01")
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "as_of")


# ------------------------------------------------------------------ OpenAPI


def test_every_search_parameter_is_described(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/tickets", "/customers", "/departments"):
        described = {p["name"]: p.get("description") for p in paths[V1 + path]["get"]["parameters"]}
        assert all(described.values()), (path, described)
    tickets = paths[f"{V1}/tickets"]["get"]["parameters"]
    assert {p["name"] for p in tickets} >= {
        "q",
        "state",
        "kind",
        "department",
        "taken_in_by",
        "at_risk",
        "breached",
        "escalation_level",
        "supervised",
        "reopened",
        "due_before",
        "due_after",
        "sort",
        "limit",
        "offset",
    }
