"""Business time is the truth, through the HTTP API on PostgreSQL.

The desk's recording clock (a FakeClock, a real clock the test moves: not a simulation) and
each request's ``occurred_at`` move apart: calls typed in after the rush, a crew's arrival
phoned in from the field, a paper form entered two days later. The SLA clock is the live
worker (``SlaClock`` on the real clock), run by hand at chosen instants.

Dates by hand (Asia/Shanghai, Monday 2026-10-12; business hours 09:00-12:00, 13:30-17:30 on
weekdays, 7.5 h a working day):

* fault repair, urban: crew on site within 45 min, 24x7 -> called 09:00, due 09:45;
  escalation level 1 at 80 % = 09:36, level 2 at 100 % = 09:45.
* complaint: first contact within 1 working day -> received Mon 09:00, due Tue 09:00.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from projections.due_queries import ViewQueries
from tests.e2e.test_api import CALLER, V1, who
from tests.factories import FakeClock, bj, clean_postgres, make_desk
from workers.sla_clock import SlaClock

pytestmark = pytest.mark.postgres

CALL = bj(2026, 10, 12, 9, 0)
ARRIVAL_DUE = bj(2026, 10, 12, 9, 45)
REPAIR = {**CALLER, "kind": "fault_repair", "category": "outage", "content": "整条街停电"}


class Desk:
    """The API on PostgreSQL, its clock, and the live SLA clock."""

    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock
        self.runtime = client.app.state.runtime  # type: ignore[attr-defined]
        projector = self.runtime.projector
        self.sla = SlaClock(
            self.runtime.desk, projector, ViewQueries.of(projector.followers), clock
        )

    def at(self, when: datetime) -> None:
        self.clock.set(when)

    def post(self, path: str, user: str, body: dict[str, Any]) -> Any:
        return self.client.post(V1 + path, json=body, headers=who(user))

    def get(self, path: str, user: str = "auditor", **params: Any) -> Any:
        return self.client.get(
            V1 + path,
            params={k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items()},
            headers=who(user),
        )

    def intake(self, body: dict[str, Any], occurred_at: datetime | None = None) -> str:
        extra = {} if occurred_at is None else {"occurred_at": occurred_at.isoformat()}
        r = self.post("/tickets", "front", {**body, **extra})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def act(
        self, ticket: str, action: str, user: str, occurred_at: datetime, **body: Any
    ) -> dict[str, Any]:
        r = self.post(
            f"/tickets/{ticket}/{action}", user, {**body, "occurred_at": occurred_at.isoformat()}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def run_clock(self) -> int:
        """The SLA clock's pass at the current instant (views caught up first)."""
        self.runtime.catch_up()
        sent = self.sla.run_until(self.clock())
        self.runtime.catch_up()
        return sent

    def events(self, ticket: str) -> list[dict[str, Any]]:
        r = self.get(f"/tickets/{ticket}/history")
        assert r.status_code == 200, r.text
        return list(r.json()["events"])

    def named(self, ticket: str, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events(ticket) if e["name"] == name]

    def clock_of(self, ticket: str, milestone: str, **params: Any) -> dict[str, Any]:
        r = self.get(f"/tickets/{ticket}", **params)
        assert r.status_code == 200, r.text
        return next(c for c in r.json()["sla"] if c["milestone"] == milestone)

    def report(self, department: str, **params: Any) -> dict[str, Any]:
        self.runtime.catch_up()
        r = self.get("/reports/departments", "supervisor", **params)
        assert r.status_code == 200, r.text
        return next(row for row in r.json()["rows"] if row["department"] == department)


@pytest.fixture
def d(pg_database: str) -> Iterator[Desk]:
    clean_postgres(pg_database)
    clock = FakeClock(CALL)
    settings = Settings(database_url=pg_database)
    inner = make_desk(clock, env=settings.eventsourcing_env())
    with TestClient(create_app(settings, desk=inner, workers=False)) as client:
        yield Desk(client, clock)
    inner.close()


def repair_dispatched(d: Desk) -> str:
    """Called 09:00 (recorded at once), dispatched to station_1 09:05."""
    ticket = d.intake(REPAIR)
    d.at(bj(2026, 10, 12, 9, 5))
    d.act(
        ticket, "dispatch", "front", bj(2026, 10, 12, 9, 5), to_department="station_1", owner="李四"
    )
    return ticket


def repair_with_crew(d: Desk) -> str:
    """Called 09:00 (recorded at once), dispatched to station_1 09:05, crew sent 09:10."""
    ticket = repair_dispatched(d)
    d.at(bj(2026, 10, 12, 9, 10))
    d.act(
        ticket,
        "dispatch_crew",
        "station_1",
        bj(2026, 10, 12, 9, 10),
        crew="抢修一班",
        promised_arrival_at=ARRIVAL_DUE.isoformat(),
    )
    return ticket


OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}


def arrived_at_0940(d: Desk, ticket: str) -> None:
    """The crew was on site at 09:40, entered at the desk's clock (whenever it was phoned in)."""
    d.act(ticket, "record_arrival", "station_1", bj(2026, 10, 12, 9, 40), crew="抢修一班")


def transfer_at_0930(d: Desk, ticket: str) -> None:
    """The work order went to station_2 at 09:30, entered at the desk's clock."""
    d.act(
        ticket,
        "transfer",
        "supervisor",
        bj(2026, 10, 12, 9, 30),
        to_department="station_2",
        owner="王五",
        reason="线路属二站",
    )


def test_an_arrival_phoned_in_late_is_on_time_and_the_breach_is_withdrawn(d: Desk) -> None:
    ticket = repair_with_crew(d)
    d.at(ARRIVAL_DUE + timedelta(seconds=1))
    d.run_clock()
    breached = d.named(ticket, "SlaBreached")
    assert [(e["details"]["milestone"], e["occurred_at"]) for e in breached] == [
        ("arrival", "2026-10-12T09:45:00+08:00")
    ]
    assert d.report("station_1", **OCTOBER)["breaches_total"] == 1

    # On site at 09:40; the crew phoned it in at 10:00, twenty minutes later.
    d.at(bj(2026, 10, 12, 10, 0))
    arrived_at_0940(d, ticket)

    arrival = d.clock_of(ticket, "arrival")
    assert (arrival["outcome"], arrival["breached"]) == ("met", False)
    withdrawn = d.named(ticket, "SlaBreachWithdrawn")
    assert len(withdrawn) == 1
    assert withdrawn[0]["details"]["reason_code"] == "met_before"
    assert withdrawn[0]["details"]["evidence"]["event"] == "CrewArrived"
    assert withdrawn[0]["recorded_at"] == "2026-10-12T10:00:00+08:00"
    # History keeps both; the monthly report counts the corrected truth and the correction.
    assert len(d.named(ticket, "SlaBreached")) == 1
    station = d.report("station_1", **OCTOBER)
    assert (station["breaches_total"], station["breaches_withdrawn"]) == (0, 1)
    assert station["breaches"] == {}
    assert station["on_time"]["arrival"] == {"met": 1, "late": 0, "rate": 1.0}
    # The clock does not breach it again (restoration, due 12:00, is another milestone).
    d.at(bj(2026, 10, 12, 11, 0))
    d.run_clock()
    assert len(d.named(ticket, "SlaBreached")) == 1


def test_an_arrival_phoned_in_late_but_before_the_clock_acted_needs_no_correction(
    d: Desk,
) -> None:
    ticket = repair_with_crew(d)
    d.at(bj(2026, 10, 12, 9, 44))  # entered at 09:44, before the 09:45 breach
    arrived_at_0940(d, ticket)
    d.at(bj(2026, 10, 12, 10, 0))
    d.run_clock()

    assert d.named(ticket, "SlaBreached") == []
    assert d.named(ticket, "SlaBreachWithdrawn") == []
    assert d.clock_of(ticket, "arrival")["outcome"] == "met"


def test_a_breach_after_a_business_time_transfer_counts_for_the_new_department(
    d: Desk,
) -> None:
    ticket = repair_dispatched(d)
    d.at(ARRIVAL_DUE + timedelta(seconds=1))
    d.run_clock()
    assert d.report("station_1", **OCTOBER)["breaches_total"] == 1

    # The work order went to station_2 at 09:30; the transfer was typed in at 09:50.
    d.at(bj(2026, 10, 12, 9, 50))
    transfer_at_0930(d, ticket)

    moved = d.named(ticket, "SlaBreachReattributed")
    assert [(e["details"]["from_department"], e["details"]["department"]) for e in moved] == [
        ("station_1", "station_2")
    ]
    assert d.report("station_2", **OCTOBER)["breaches_total"] == 1
    assert d.report("station_2", **OCTOBER)["breaches"] == {"arrival": 1}
    assert d.report("station_1", **OCTOBER)["breaches_total"] == 0


def test_a_transfer_recorded_before_the_breach_credits_it_to_the_new_department(
    d: Desk,
) -> None:
    ticket = repair_dispatched(d)
    d.at(bj(2026, 10, 12, 9, 31))
    transfer_at_0930(d, ticket)
    d.at(ARRIVAL_DUE + timedelta(seconds=1))
    d.run_clock()

    assert [e["details"]["department"] for e in d.named(ticket, "SlaBreached")] == ["station_2"]
    assert d.report("station_2", **OCTOBER)["breaches_total"] == 1


def test_at_and_as_known_at_give_what_happened_and_what_was_known(d: Desk) -> None:
    ticket = repair_with_crew(d)
    d.at(ARRIVAL_DUE + timedelta(seconds=1))
    d.run_clock()
    d.at(bj(2026, 10, 12, 10, 0))
    arrived_at_0940(d, ticket)
    one_past_due = bj(2026, 10, 12, 9, 46)

    # What the SLA monitor saw at 09:46: the crew not on site, the arrival breached.
    seen = d.get(f"/tickets/{ticket}", as_known_at=one_past_due).json()
    arrival_seen = next(c for c in seen["sla"] if c["milestone"] == "arrival")
    assert (seen["state"], arrival_seen["breached"], arrival_seen["outcome"]) == (
        "crew_en_route",
        True,
        "running",
    )
    # What truly happened by 09:46, as known now: on site since 09:40, on time.
    truth = d.get(f"/tickets/{ticket}", at=one_past_due).json()
    arrival_truth = next(c for c in truth["sla"] if c["milestone"] == "arrival")
    assert (truth["state"], arrival_truth["breached"], arrival_truth["outcome"]) == (
        "on_site",
        False,
        "met",
    )
    assert (truth["at"], truth["as_known_at"]) == ("2026-10-12T09:46:00+08:00", None)
    # Both axes: at 09:46 as known at 09:50 is what the monitor saw.
    both = d.get(f"/tickets/{ticket}", at=one_past_due, as_known_at=bj(2026, 10, 12, 9, 50))
    assert next(c for c in both.json()["sla"] if c["milestone"] == "arrival")["breached"] is True
    # Before the call happened there was no ticket; before 09:40 the crew was en route.
    assert d.get(f"/tickets/{ticket}", at=bj(2026, 10, 12, 8, 59)).status_code == 404
    assert d.get(f"/tickets/{ticket}", at=bj(2026, 10, 12, 9, 39)).json()["state"] == (
        "crew_en_route"
    )


def test_a_backfilled_complaint_entered_with_its_past_gets_no_breach(d: Desk) -> None:
    # Received Monday 09:00 on paper; typed in Wednesday 10:00 with what followed.
    typed_in = bj(2026, 10, 14, 10, 0)
    d.at(typed_in)
    ticket = d.intake(CALLER, occurred_at=CALL)
    assert d.run_clock() == 0  # first contact was due Tuesday 09:00: held, not breached
    d.at(typed_in + timedelta(minutes=3))
    d.act(ticket, "verify", "front", bj(2026, 10, 12, 9, 5))
    d.act(
        ticket,
        "classify",
        "front",
        bj(2026, 10, 12, 9, 6),
        category="service_attitude",
        priority="normal",
    )
    d.act(ticket, "contact_customer", "front", bj(2026, 10, 12, 9, 30), note="已致电客户")
    d.act(
        ticket,
        "dispatch",
        "front",
        bj(2026, 10, 12, 9, 40),
        to_department="station_1",
        owner="张伟",
    )
    d.act(ticket, "pause", "station_1", bj(2026, 10, 12, 10, 0), reason="等待客户提供购电凭证")
    assert d.run_clock() == 0

    d.at(typed_in + timedelta(minutes=11))  # the backfill grace (10 min) is over
    d.run_clock()

    events = {e["name"] for e in d.events(ticket)}
    assert "SlaBreached" not in events
    assert "Escalated" not in events
    first = d.clock_of(ticket, "first_contact")
    assert (first["outcome"], first["breached"]) == ("met", False)
    assert d.clock_of(ticket, "department_reply")["paused"] is True
    # The auditor: at Tuesday noon (business) it existed and was paused; as known then, not.
    tuesday = bj(2026, 10, 13, 12, 0)
    assert d.get(f"/tickets/{ticket}", at=tuesday).status_code == 200
    assert d.get(f"/tickets/{ticket}", as_known_at=tuesday).status_code == 404
    # Received on Monday in business time: October 12th's intake, though recorded on the 14th.
    assert d.report("service_center", **{"from": "2026-10-12", "to": "2026-10-12"})["received"] == 1


def test_a_fact_dated_before_the_latest_fact_needs_backdated_with_a_reason(d: Desk) -> None:
    ticket = d.intake(CALLER)
    d.at(bj(2026, 10, 12, 11, 0))
    d.act(ticket, "verify", "front", bj(2026, 10, 12, 10, 30))

    refused = d.post(
        f"/tickets/{ticket}/contact_customer",
        "front",
        {"note": "已致电", "occurred_at": bj(2026, 10, 12, 10, 0).isoformat()},
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "occurred_at"
    assert "ComplaintVerified at 2026-10-12T10:30:00+08:00" in refused.json()["message"]
    no_reason = d.post(
        f"/tickets/{ticket}/contact_customer",
        "front",
        {"note": "已致电", "occurred_at": bj(2026, 10, 12, 10, 0).isoformat(), "backdated": True},
    )
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "backdated_reason")

    d.act(
        ticket,
        "contact_customer",
        "front",
        bj(2026, 10, 12, 10, 0),
        note="已致电",
        backdated=True,
        backdated_reason="高峰后补录",
    )
    late = d.named(ticket, "CustomerContacted")[0]
    assert late["backdated_reason"] == "高峰后补录"
    assert late["occurred_at"] == "2026-10-12T10:00:00+08:00"
    assert late["recorded_at"] == "2026-10-12T11:00:00+08:00"


def test_the_sla_view_as_the_monitor_saw_it_and_as_it_truly_stood(d: Desk) -> None:
    ticket = repair_with_crew(d)
    d.at(ARRIVAL_DUE + timedelta(seconds=1))
    d.run_clock()
    d.at(bj(2026, 10, 12, 10, 0))
    arrived_at_0940(d, ticket)
    one_past_due = bj(2026, 10, 12, 9, 46)

    def arrival(**axes: Any) -> dict[str, Any]:
        d.runtime.catch_up()
        r = d.get("/sla/deadlines", "monitor", ticket_id=ticket, milestone="arrival", **axes)
        assert r.status_code == 200, r.text
        rows = r.json()["rows"]
        assert len(rows) == 1
        return dict(rows[0])

    # Now (the live view): met at 09:40, 40 minutes used.
    assert (arrival()["state"], arrival()["used_seconds"]) == ("met", 40 * 60)
    # What the monitor saw at 09:46: breached, 46 minutes used, one over.
    seen = arrival(as_known_at=one_past_due)
    assert (seen["state"], seen["used_seconds"], seen["left_seconds"]) == ("breached", 2760, -60)
    # What truly stood at 09:46: met at 09:40.
    truth = arrival(at=one_past_due)
    assert (truth["state"], truth["stopped_at"]) == ("met", "2026-10-12T09:40:00+08:00")
    # The breached list then, and now for that instant.
    breached_then = d.get("/sla/deadlines", "monitor", state="breached", as_known_at=one_past_due)
    assert [r["ticket_id"] for r in breached_then.json()["rows"]] == [ticket]
    breached_truly = d.get("/sla/deadlines", "monitor", state="breached", at=one_past_due)
    assert breached_truly.json()["rows"] == []
