"""Key accounts over HTTP: a graded customer with an account manager → a complaint → the
manager's worklist; three complaints in a quarter → flagged on it; the quarterly report."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_api import CALLER, Api


def test_a_key_accounts_complaints_reach_its_managers_worklist_and_the_report(
    api: Api,
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
    # Every row names its customer, as the manager knows them
    assert {(t["customer_id"], t["customer_name"]) for t in worklist["tickets"]} == {
        (cid, "湘江钢铁集团")
    }
    # Three complaints in 2026Q4 = the default threshold of 3: flagged, with the evidence.
    [flag] = worklist["flagged"]
    assert (flag["quarter"], flag["complaints"], flag["threshold"]) == ("2026Q4", 3, 3)
    assert flag["evidence"] == numbers
    assert flag["customer_name"] == "湘江钢铁集团"
    assert api.get("/account-managers/nobody/worklist", "supervisor").json()["tickets"] == []
    # The managers the view knows, with what awaits each (the page's picker)
    managers = api.get("/account-managers", "supervisor").json()["managers"]
    assert managers == [{"name": "陈敏", "open_tickets": 3, "flagged": 1, "visits_open": 0}]

    report = api.get("/reports/key-accounts", "supervisor", quarter="2026Q4").json()
    assert [
        (r["customer_id"], r["customer_name"], r["tickets"], r["breaches"]) for r in report["rows"]
    ] == [(cid, "湘江钢铁集团", 3, 0)]
    refused = api.get("/reports/key-accounts", "supervisor", quarter="2026-Q4")
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_input"


def test_a_visit_to_a_flagged_customer_over_http(api: Api) -> None:
    customer = {
        "name": "湘江钢铁集团",
        "customer_type": "group",
        "area": "urban",
        "voltage": "10kV",
        "station": "station_1",
    }
    cid = api.post("/customers", "supervisor", customer).json()["id"]
    manager = {"manager": "陈敏"}
    assert api.post(f"/customers/{cid}/account-manager", "supervisor", manager).status_code == 200
    intake = {k: v for k, v in CALLER.items() if k != "customer_name"} | {"customer_id": cid}
    for _ in range(3):  # 3 complaints in 2026Q4 = the default threshold: flagged
        assert api.post("/tickets", "front", intake).status_code == 201
    api.runtime.catch_up()
    worklist = api.get("/account-managers/陈敏/worklist", "supervisor").json()
    assert [f["quarter"] for f in worklist["awaiting_visit_plan"]] == ["2026Q4"]

    plan = {
        "manager": "陈敏",
        "quarter": "2026Q4",
        "purpose": "季度投诉三次，上门了解诉求",
        "planned_for": "2026-10-15T10:00:00+08:00",
    }
    wrong = api.post(f"/customers/{cid}/visits", "front", plan | {"manager": "王强"})
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["code"] == "invalid_value"
    r = api.post(f"/customers/{cid}/visits", "front", plan)
    assert r.status_code == 200, r.text
    visit = r.json()
    assert (visit["state"], visit["events"]) == ("planned", ["VisitPlanned"])
    vid = visit["id"]
    assert api.post(f"/visits/{vid}/plan-approval", "front").status_code == 403
    early = api.post(
        f"/visits/{vid}/report",
        "front",
        {"manager": "陈敏", "visited_at": "2026-10-12T08:00:00+08:00", "findings": "已走访"},
    )
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "illegal_transition"
    assert api.post(f"/visits/{vid}/plan-approval", "supervisor").json()["state"] == (
        "plan_approved"
    )
    api.runtime.catch_up()
    worklist = api.get("/account-managers/陈敏/worklist", "supervisor").json()
    assert worklist["awaiting_visit_plan"] == []
    assert [(v["visit_id"], v["customer_name"]) for v in worklist["visits_awaiting_report"]] == [
        (vid, "湘江钢铁集团")
    ]

    reported = api.post(
        f"/visits/{vid}/report",
        "front",
        {"manager": "陈敏", "visited_at": "2026-10-12T08:00:00+08:00", "findings": "计量需校验"},
    )
    assert reported.json()["state"] == "reported", reported.text
    done = api.post(f"/visits/{vid}/report-approval", "supervisor").json()
    assert (done["state"], done["events"]) == ("archived", ["VisitReportApproved", "VisitArchived"])
    api.runtime.catch_up()
    worklist = api.get("/account-managers/陈敏/worklist", "supervisor").json()
    assert worklist["visits_awaiting_report"] == []
    # Every visit of the manager's stays listed, archived now
    assert [(v["visit_id"], v["state"]) for v in worklist["visits"]] == [(vid, "archived")]
    [manager] = api.get("/account-managers", "supervisor").json()["managers"]
    assert (manager["name"], manager["visits_open"]) == ("陈敏", 0)


def test_the_lookup_at_intake_says_a_callers_complaints_this_quarter_and_the_flag(
    api: Api,
) -> None:
    customer = {"name": "罗先生", "customer_type": "residential", "phone": "13911112222"}
    cid = api.post("/customers", "front", customer).json()["id"]
    intake = {k: v for k, v in CALLER.items() if k != "customer_name"} | {"customer_id": cid}
    api.runtime.catch_up()

    def looked_up() -> dict[str, Any]:
        found = api.get("/customers", "front", phone="13911112222").json()["customers"]
        (mine,) = [c for c in found if c["customer_id"] == cid]
        return {k: mine[k] for k in ("quarter", "complaints_this_quarter", "problem_customer")}

    # Given no complaint yet, then two: counted, not flagged
    assert looked_up() == {
        "quarter": "2026Q4",
        "complaints_this_quarter": 0,
        "problem_customer": False,
    }
    for _ in range(2):
        assert api.post("/tickets", "front", intake).status_code == 201
    assert looked_up() == {
        "quarter": "2026Q4",
        "complaints_this_quarter": 2,
        "problem_customer": False,
    }
    # When the third is taken in (the default threshold), then the very next lookup flags them,
    # without waiting for any view: the tally is read as stored
    assert api.post("/tickets", "front", intake).status_code == 201
    assert looked_up() == {
        "quarter": "2026Q4",
        "complaints_this_quarter": 3,
        "problem_customer": True,
    }
