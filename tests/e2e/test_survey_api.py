"""Surveys over HTTP: design → field → responses → analyse → refused close → CAPA → the CAPA
deadlines in ``/sla/deadlines`` → a completed item leaves them; the year-end summary."""

from __future__ import annotations

from tests.e2e.test_api import CALLER, Api
from tests.factories import FakeClock, bj


def test_a_short_survey_needs_capa_whose_deadlines_show_until_done(
    api: Api, clock: FakeClock
) -> None:
    design = {
        "title": "营业厅满意度调查",
        "purpose": "营业厅服务",
        "plan": "现场问卷20份",
        "questions": ["您对营业厅服务是否满意?"],
    }
    assert api.post("/surveys", "front", design).status_code == 403
    r = api.post("/surveys", "supervisor", design)
    assert r.status_code == 201, r.text
    survey = r.json()
    assert (survey["target_percent"], survey["target_is_default"]) == (90.0, True)
    sid = survey["id"]
    assert api.post(f"/surveys/{sid}/field", "supervisor").status_code == 200
    # 17 satisfied of 20: 17 / 20 = 85.0 % < 90 %.
    for n in range(20):
        body = {"satisfied": n < 17, "comment": "" if n < 17 else "排队太久"}
        assert api.post(f"/surveys/{sid}/responses", "front", body).status_code == 200
    analysed = api.post(f"/surveys/{sid}/analyse", "supervisor").json()
    assert (analysed["satisfaction_percent"], analysed["below_target"]) == (85.0, True)
    refused = api.post(f"/surveys/{sid}/close", "supervisor")
    assert refused.status_code == 409, refused.text
    assert refused.json()["rule"] == (
        "satisfaction 85.0 % < target 90 %: issue corrective/preventive actions first"
    )
    items = [
        {
            "department": "station_1",
            "owner": "张伟",
            "description": "增设取号窗口",
            "due_at": "2026-11-12T09:00:00+08:00",
        }
    ]
    issued = api.post(f"/surveys/{sid}/capa", "supervisor", {"items": items})
    assert issued.status_code == 200, issued.text
    assert api.post(f"/surveys/{sid}/close", "supervisor").json()["state"] == "closed"
    api.runtime.catch_up()

    deadlines = api.get("/sla/deadlines", "supervisor", ticket_id=sid).json()
    (row,) = deadlines["rows"]
    assert (row["milestone"], row["cycle"], row["kind"], row["state"]) == (
        "capa",
        1,
        "survey",
        "running",
    )
    assert row["due_at"] == "2026-11-12T09:00:00+08:00"
    # From 2026-10-12 09:00 to the instant of the read (the same): 31 days left, 24x7.
    assert row["left_seconds"] == 31 * 86_400

    listed = api.get("/surveys", "monitor").json()
    assert [(s["number"], s["state"], s["satisfaction_percent"]) for s in listed["surveys"]] == [
        (survey["number"], "closed", 85.0)
    ]

    done = api.post(f"/surveys/{sid}/capa/complete", "supervisor", {"item": "1"})
    assert done.status_code == 200, done.text
    api.runtime.catch_up()
    after = api.get("/sla/deadlines", "supervisor", ticket_id=sid).json()
    assert after["total"] == 0
    capa = api.get(f"/surveys/{sid}/capa", "monitor").json()["items"]
    assert [(i["item"], i["state"], i["on_time"]) for i in capa] == [("1", "done", True)]


def test_year_end_lists_top_categories_as_next_years_sources(api: Api, clock: FakeClock) -> None:
    # 2026 by hand: billing 2, service_attitude 1; the 2025-12-31 23:00 Beijing call is 2025.
    for category, at in (
        ("billing", "2026-03-01T09:00:00+08:00"),
        ("billing", "2026-04-01T09:00:00+08:00"),
        ("service_attitude", "2026-05-01T09:00:00+08:00"),
        ("billing", "2025-12-31T23:00:00+08:00"),
    ):
        r = api.post("/tickets", "front", {**CALLER, "category": category, "occurred_at": at})
        assert r.status_code == 201, r.text
    api.runtime.catch_up()
    body = api.get("/reports/year-end", "monitor", year=2026, top=1).json()
    assert body["complaints"] == 3
    assert [(c["category"], c["count"]) for c in body["categories"]] == [
        ("billing", 2),
        ("service_attitude", 1),
    ]
    assert [(s["for_year"], s["category"]) for s in body["capa_sources"]] == [(2027, "billing")]
    assert clock.now == bj(2026, 10, 12, 9, 0)
