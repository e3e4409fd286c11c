"""The SLA board's reads on PostgreSQL: true totals, the orders a monitor needs, its filters.

One store for the module, built through the HTTP API on a FakeClock and the live SLA clock run
by hand (Asia/Shanghai; the make-up working day Sat 2026-10-10 counts):

* Fri 2026-10-09 09:00 a complaint, dispatched at once to station_1.marketing: first contact
  due Sat 09:00, breached there and escalated to level 1 on breach.
* Fri 09:30 a meter dispute: first contact due Sat 09:30, breached; no escalation (level 0).
* Mon 2026-10-12 09:00 + 5 min x i (i = 0..11): urban fault repairs (the first dispatched to
  station_1): arrival due 45 min later, level 1 at 80 %, level 2 on breach, level 3 at 150 %.

The SLA clock runs at Mon 10:30: repairs 0-4 breached at level 3, 5-9 breached at level 2
(repair 9 at 10:30 itself), repair 10 at level 1 and not breached, repair 11 running.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from projections.due_queries import ViewQueries
from tests.e2e.test_api import CALLER, V1, who
from tests.e2e.test_business_time_api import REPAIR
from tests.e2e.test_validation import refused
from tests.factories import FakeClock, bj, clean_postgres, make_desk
from workers.sla_clock import SlaClock

pytestmark = pytest.mark.postgres

DISPUTE = {**CALLER, "kind": "meter_dispute", "category": "meter", "content": "电表走得太快"}
NOW = bj(2026, 10, 12, 10, 30)
REPAIRS = 12


class Board:
    """The API on PostgreSQL after the story above; ``get`` reads as the SLA monitor."""

    def __init__(self, client: TestClient, numbers: dict[str, str]) -> None:
        self.client = client
        self.numbers = numbers  # "repair 3", "complaint", "dispute" -> ticket number

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(V1 + path, params=params, headers=who("monitor"))

    def page(self, path: str, **params: Any) -> dict[str, Any]:
        r = self.get(path, **params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def every(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every row, page by page (3 a page), each page's total checked on the way."""
        rows: list[dict[str, Any]] = []
        total = self.page(path, limit=1, **params)["total"]
        while len(rows) < total:
            page = self.page(path, limit=3, offset=len(rows), **params)
            assert page["total"] == total
            assert page["count"] == len(page["rows"]) > 0
            rows += page["rows"]
        assert self.page(path, limit=3, offset=total, **params)["rows"] == []
        return rows

    def names(self, rows: list[dict[str, Any]]) -> list[str]:
        by_number = {number: name for name, number in self.numbers.items()}
        return [by_number[r["number"]] for r in rows]


def _story(client: TestClient, clock: FakeClock) -> dict[str, str]:
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = client.post(V1 + path, json=body, headers=who("front"))
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    numbers = {}
    clock.set(bj(2026, 10, 9, 9, 0))
    complaint = post("/tickets", CALLER)
    post(f"/tickets/{complaint['id']}/verify", {})
    post(f"/tickets/{complaint['id']}/classify", {"category": "billing", "priority": "normal"})
    post(
        f"/tickets/{complaint['id']}/dispatch",
        {"to_department": "station_1.marketing", "owner": "张伟"},
    )
    numbers["complaint"] = complaint["number"]
    clock.set(bj(2026, 10, 9, 9, 30))
    numbers["dispute"] = post("/tickets", DISPUTE)["number"]
    for i in range(REPAIRS):
        clock.set(bj(2026, 10, 12, 9, 0) + timedelta(minutes=5 * i))
        repair = post("/tickets", {**REPAIR, "station": f"station_{i % 5 + 1}"})
        if i == 0:
            post(
                f"/tickets/{repair['id']}/dispatch", {"to_department": "station_1", "owner": "李四"}
            )
        numbers[f"repair {i}"] = repair["number"]
    clock.set(NOW)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.catch_up()
    queries = ViewQueries.of(runtime.projector.followers)
    queries.ensure_indexes()  # as every SLA clock does when it starts
    SlaClock(runtime.desk, runtime.projector, queries, clock).run_until(NOW)
    runtime.catch_up()
    return numbers


@pytest.fixture(scope="module")
def board(pg_database: str) -> Iterator[Board]:
    """The story, told once for the module's tests, which only read."""
    clean_postgres(pg_database)
    settings = Settings(database_url=pg_database)
    clock = FakeClock()
    desk = make_desk(clock, env=settings.eventsourcing_env())
    try:
        with TestClient(create_app(settings, desk=desk, workers=False)) as client:
            yield Board(client, _story(client, clock))
    finally:
        desk.close()


NEWEST_BREACHES = [f"repair {i}" for i in range(9, -1, -1)] + ["dispute", "complaint"]


def test_breaches_come_newest_first_and_every_page_carries_the_true_total(board: Board) -> None:
    rows = board.every("/sla/deadlines", state="breached", sort="-breached_at")
    assert board.names(rows) == NEWEST_BREACHES
    assert rows[0]["breached_at"] == "2026-10-12T10:30:00+08:00"
    assert rows[-1]["breached_at"] == "2026-10-10T09:00:00+08:00"  # the make-up Saturday
    first = board.page("/sla/deadlines", state="breached", sort="-breached_at", limit=5)
    assert (first["count"], first["total"]) == (5, len(NEWEST_BREACHES))
    # Earliest due first stays the default order; rows not breached say so.
    due = board.every("/sla/deadlines", state="running,breached")
    assert [r["due_at"] for r in due] == sorted(r["due_at"] for r in due)
    assert {r["breached_at"] for r in due if r["state"] == "running"} == {None}


def test_breaches_newest_first_leave_clocks_never_breached_last(board: Board) -> None:
    rows = board.every("/sla/deadlines", sort="-breached_at", kind="fault_repair")
    breached = [r for r in rows if r["breached_at"] is not None]
    assert board.names(breached) == NEWEST_BREACHES[:10]
    assert rows[: len(breached)] == breached
    assert len(rows) == 2 * REPAIRS  # arrival and restoration of every repair


def test_escalations_come_highest_level_then_newest_levels_0_and_1_included(
    board: Board,
) -> None:
    rows = board.every("/escalations", sort="-level,-last_escalated_at")
    levels = [r["level"] for r in rows]
    assert levels == sorted(levels, reverse=True)
    assert set(levels) == {0, 1, 2, 3}
    assert board.names(rows) == [
        *(f"repair {i}" for i in (4, 3, 2, 1, 0)),  # level 3 at 10:27:30, 10:22:30, ...
        *(f"repair {i}" for i in (9, 8, 7, 6, 5)),  # level 2 on breach, 10:30, 10:25, ...
        "repair 10",  # level 1 at 10:26
        "complaint",  # level 1 on its breach, Saturday
        "dispute",  # breached, never escalated
    ]
    oldest = board.every("/escalations")  # the default: highest level, then the longest open
    assert board.names(oldest)[:5] == [f"repair {i}" for i in range(5)]
    newest = board.every("/escalations", sort="-last_escalated_at")
    assert board.names(newest)[:3] == ["repair 9", "repair 4", "repair 10"]


@pytest.mark.parametrize(
    ("filters", "deadlines", "queued"),
    [
        # station_1 takes in station_1.marketing; a repair only to station_1 once dispatched
        ({"department": "station_1"}, ["repair 0", "complaint"], ["repair 0", "complaint"]),
        ({"kind": "complaint"}, ["complaint"], ["complaint"]),
        ({"milestone": "first_contact"}, ["dispute", "complaint"], ["complaint", "dispute"]),
        ({"level": 0}, ["dispute"], ["dispute"]),
        ({"level": 2, "department": "service_center"}, NEWEST_BREACHES[:5], NEWEST_BREACHES[:5]),
    ],
)
def test_filters_narrow_the_rows_and_the_total_alike(
    board: Board, filters: dict[str, Any], deadlines: list[str], queued: list[str]
) -> None:
    rows = board.every("/sla/deadlines", state="breached", sort="-breached_at", **filters)
    assert board.names(rows) == deadlines
    rows = board.every("/escalations", sort="-level,-last_escalated_at", **filters)
    assert board.names(rows) == queued


def test_the_summary_counts_what_the_lists_count(board: Board) -> None:
    for filters in ({}, {"department": "station_1"}, {"kind": "fault_repair", "level": 3}):
        summary = board.page("/sla/summary", **filters)
        assert summary["at"] == NOW.isoformat()
        for state, n in summary["states"].items():
            assert n == board.page("/sla/deadlines", state=state, limit=1, **filters)["total"]
        soon = (NOW + timedelta(hours=1)).isoformat()
        at_risk = board.page("/sla/deadlines", state="running", due_before=soon, **filters)
        assert summary["at_risk"] == at_risk["total"]
        queue = board.page("/escalations", limit=1, **filters)["total"]
        assert summary["escalations"] == queue == sum(n["count"] for n in summary["levels"])
        for level in summary["levels"]:
            query = {**filters, "level": level["level"]}
            assert level["count"] == board.page("/escalations", **query)["total"]
    summary = board.page("/sla/summary")
    assert summary["states"]["breached"] == len(NEWEST_BREACHES)
    assert [n["level"] for n in summary["levels"]] == [3, 2, 1, 0]
    # Repair 11 (arrival 10:40) and repair 10 (arrival 10:35, escalated, not yet breached).
    assert summary["at_risk"] == 2
    assert board.page("/sla/summary", at_risk_seconds=60)["at_risk"] == 0


def test_replayed_deadlines_carry_the_total_and_order_of_the_live_view(board: Board) -> None:
    query = {"state": "breached", "sort": "-breached_at", "limit": 4, "offset": 2}
    live = board.page("/sla/deadlines", **query)
    then = board.page("/sla/deadlines", as_known_at="2026-10-12T10:31:00+08:00", **query)
    assert then["total"] == live["total"] == len(NEWEST_BREACHES)
    pick = ("number", "milestone", "breached_at", "escalation_level")
    assert [[r[k] for k in pick] for r in then["rows"]] == [
        [r[k] for k in pick] for r in live["rows"]
    ]
    before = board.page(
        "/sla/deadlines", at="2026-10-12T10:00:00+08:00", state="breached", sort="-breached_at"
    )
    earlier = [f"repair {i}" for i in (3, 2, 1, 0)]  # breached by 10:00
    assert board.names(before["rows"]) == [*earlier, "dispute", "complaint"]
    assert before["total"] == 6


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/sla/deadlines", {"sort": "oldest"}, "sort"),
        ("/sla/deadlines", {"level": "-1"}, "level"),
        ("/escalations", {"sort": "-level"}, "sort"),
        ("/escalations", {"level": "101"}, "level"),
        ("/escalations", {"kind": "a\x00b"}, "kind"),
        ("/sla/summary", {"at_risk_seconds": "59"}, "at_risk_seconds"),
        ("/sla/summary", {"at_risk_seconds": "604801"}, "at_risk_seconds"),
        ("/sla/summary", {"department": "x" * 201}, "department"),
        ("/sla/summary", {"level": "9223372036854775808"}, "level"),
    ],
)
def test_every_new_parameter_is_bounded(
    board: Board, path: str, params: dict[str, str], field: str
) -> None:
    refused(board.get(path, **params), field, "query")


def test_openapi_describes_the_totals_the_orders_and_the_summary(board: Board) -> None:
    spec = board.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/sla/deadlines", "/escalations", "/sla/summary"):
        for param in paths[V1 + path]["get"]["parameters"]:
            assert param.get("description"), (path, param["name"])
    sorts = {p["name"]: p["schema"] for p in paths[f"{V1}/escalations"]["get"]["parameters"]}[
        "sort"
    ]
    assert "-level,-last_escalated_at" in sorts["enum"]
    schemas = spec["components"]["schemas"]
    assert "total" in schemas["CountedPage"]["required"]
    assert {"states", "at_risk", "levels"} <= set(schemas["SlaSummary"]["required"])
    assert board.client.get(f"{V1}/sla/summary").status_code == 401


def test_the_board_reads_by_index(board: Board) -> None:
    """Clocks by state and due instant, the queue by level and latest step: on a store of a
    million clocks a count or a first page must not read every row."""
    runtime = board.client.app.state.runtime  # type: ignore[attr-defined]
    queries = ViewQueries.of(runtime.projector.followers)
    found = {
        (r["tablename"], r["indexdef"].split(" USING btree ")[1])
        for r in queries._rows("SELECT tablename, indexdef FROM pg_indexes")
    }
    assert ("sla_deadlines", "(state, due_at)") in found
    assert ("escalation_queue", "(level, last_escalated_at)") in found
