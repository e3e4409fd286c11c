"""One tripped feeder, thirty calls: 1 repair, 30 answers, 30 callbacks — on SQLite and PostgreSQL.

Thirty fault calls from one feeder in twenty minutes are linked to one outage incident; the
crew is dispatched, arrives and restores power once, on the incident; the callback scheduler
then calls every caller back. The ``outages`` view, kept by the real projector batch by batch,
must say 1 repair beside 30 contacts, 30 answers and 30 callbacks, agree on both backends, and
equal a rebuild from the log.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from bootstrap import build_followers, build_projections
from config.settings import Settings
from domain.desk import Desk
from domain.outage import (
    DispatchOutageCrew,
    LinkOutageTicket,
    OpenOutageIncident,
    RecordOutageArrival,
    RecordOutageRestoration,
)
from domain.outage_rule import SuggestionRule
from projections.core import Projection, Row, canonical, digest_rows
from projections.due_queries import ViewQueries
from projections.outages import (
    calls_of,
    department_daily,
    incident,
    suggestions,
)
from tests.factories import AGENT, HANDLER, SUPERVISOR, FakeClock, bj, make_desk, names, receive
from workers.callbacks import CallbackScheduler
from workers.projector import Follower, Projector

pytestmark = pytest.mark.postgres

FEEDER = "10kV城关线#3"
CALLS = 30
GAP = timedelta(seconds=40)  # call k at 09:00 + 40 s x k: the 30th at 09:19:20, within 20 min
START = bj(2026, 10, 12, 9, 0)


def _mine() -> list[Projection]:
    return build_projections()  # every view: each must take the outage events in its stride


def _outages(followers: list[Follower]) -> Any:
    return next(f.store for f in followers if f.projection.name == "outages")


def _story(desk: Desk, clock: FakeClock, projector: Projector) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    tickets = []
    for k in range(CALLS):
        clock.set(START + GAP * k)
        tickets.append(
            receive(
                desk,
                kind="fault_repair",
                category="outage",
                content="整条街停电了",
                feeder=FEEDER,
                command_id=f"call-{k}",
            )
        )
        projector.catch_up()
        if k == 2:  # the third call, 80 s after the first: the rule suggests a cluster
            found = suggestions(
                _outages(projector.followers),
                area="urban",
                feeder=FEEDER,
                at=clock.now,
                rule=SuggestionRule(),
            )
            seen["cluster_at_third_call"] = [c.number for c in found.cluster]

    clock.set(bj(2026, 10, 12, 9, 20))
    opened = desk.handle(
        OpenOutageIncident(
            **SUPERVISOR,
            area="urban",
            feeder=FEEDER,
            repair_department="station_1",
            started_at=START,
            description="城关线#3 跳闸",
            command_id="outage-1",
        )
    )
    clock.set(bj(2026, 10, 12, 9, 21))
    for k, t in enumerate(tickets):
        desk.handle(
            LinkOutageTicket(**AGENT, incident_id=opened.id, ticket_id=t.id, command_id=f"l{k}")
        )
    projector.catch_up()
    clock.set(bj(2026, 10, 12, 9, 25))
    desk.handle(
        DispatchOutageCrew(
            **HANDLER,
            incident_id=opened.id,
            crew="抢修一班",
            promised_arrival_at=bj(2026, 10, 12, 9, 45),
            command_id="dispatch-1",
        )
    )
    clock.set(bj(2026, 10, 12, 9, 40))
    desk.handle(
        RecordOutageArrival(
            **HANDLER, incident_id=opened.id, crew="抢修一班", command_id="arrive-1"
        )
    )
    clock.set(bj(2026, 10, 12, 11, 10))
    desk.handle(
        RecordOutageRestoration(
            **HANDLER,
            incident_id=opened.id,
            crew="抢修一班",
            cause="10kV城关线#3 跌落式熔断器熔断",
            answer="您反映的停电已于11:10恢复供电，给您带来不便深表歉意",
            command_id="restore-1",
        )
    )
    clock.set(bj(2026, 10, 12, 11, 15))
    queries = ViewQueries.of(projector.followers)
    scheduler = CallbackScheduler(desk, projector, queries, clock)
    seen["scheduled"] = scheduler.run_once(clock())["post_service"]
    seen["again"] = scheduler.run_once(clock())["post_service"]  # idempotent: none twice
    projector.catch_up()
    seen["incident"] = opened
    seen["tickets"] = tickets
    return seen


def _digests(followers: list[Follower]) -> dict[str, tuple[int, str]]:
    return {t.name: digest_rows(t, f.store.dump(t)) for f in followers for t in f.projection.tables}


def _dumps(followers: list[Follower]) -> dict[str, list[Row]]:
    out = {}
    for f in followers:
        for t in f.projection.tables:
            if t.name.startswith("outage"):
                out[t.name] = sorted(
                    (canonical(r) for r in f.store.dump(t)),
                    key=lambda r: [str(r[k]) for k in t.key],
                )
    return out


def _tell(settings: Settings) -> dict[str, Any]:
    clock = FakeClock(START)
    desk = make_desk(clock, env=settings.eventsourcing_env())
    try:
        followers = build_followers(settings, _mine())
        projector = Projector(desk, followers, batch_size=7)
        seen = _story(desk, clock, projector)
        store = _outages(followers)
        ident = str(seen["incident"].id)
        seen["row"] = incident(store, ident)
        seen["calls"] = calls_of(store, ident)
        seen["daily"] = department_daily(store, date(2026, 10, 12), date(2026, 10, 12))
        seen["after"] = suggestions(
            store, area="urban", feeder=FEEDER, at=clock.now, rule=SuggestionRule()
        )
        sla = next(f for f in followers if f.projection.name == "sla_deadlines")
        seen["sla"] = [
            r
            for r in sla.store.dump(sla.projection.tables[0])
            if r["milestone"] in ("arrival", "restoration")
        ]
        seen["incident_events"] = names(list(desk.events.get(seen["incident"].id)))
        seen["ticket_events"] = [names(list(desk.events.get(t.id))) for t in seen["tickets"]]
        seen["live"] = _digests(followers)
        seen["dumps"] = _dumps(followers)
        for f in followers:
            f.store.drop_tables()
        rebuilt = build_followers(settings, _mine())
        Projector(desk, rebuilt).catch_up()
        seen["rebuilt"] = _digests(rebuilt)
        return seen
    finally:
        desk.close()


def test_thirty_calls_one_repair_thirty_answers_thirty_callbacks_on_both_backends(
    sqlite_settings: Settings, postgres_settings: Settings
) -> None:
    lite = _tell(sqlite_settings)
    pg = _tell(postgres_settings)
    assert lite["dumps"] == pg["dumps"]
    assert lite["live"] == pg["live"]
    assert lite["rebuilt"] == lite["live"]
    assert pg["rebuilt"] == pg["live"]

    for seen in (lite, pg):
        # The third call (09:01:20) finds the first two and itself within 30 min: a cluster.
        assert len(seen["cluster_at_third_call"]) == 3
        # One repair on the incident: one dispatch, one arrival, one restoration.
        assert seen["incident_events"] == [
            "OutageIncidentOpened",
            *["OutageTicketLinked"] * CALLS,
            "OutageCrewDispatched",
            "OutageCrewArrived",
            "OutagePowerRestored",
        ]
        # Each caller's own ticket: its dispatch, crew, arrival, restoration, reply, answer.
        for events in seen["ticket_events"]:
            for fact in (
                "WorkOrderDispatched",
                "CrewDispatched",
                "CrewArrived",
                "PowerRestored",
                "DepartmentReplied",
                "CustomerAnswered",
                "CallbackRequested",
            ):
                assert events.count(fact) == 1, (fact, events)
        assert (seen["scheduled"], seen["again"]) == (CALLS, 0)

        row = seen["row"]
        assert (row["state"], row["linked"], row["answered"], row["callbacks"]) == (
            "restored",
            30,
            30,
            30,
        )
        # From the 09:00 start: arrival 09:40 (40 min <= 45), restoration 11:10 (2 h 10 <= 3 h).
        assert row["arrival_due_at"] == bj(2026, 10, 12, 9, 45)
        assert row["restoration_due_at"] == bj(2026, 10, 12, 12, 0)
        assert (row["arrival_on_time"], row["restoration_on_time"]) == (True, True)
        assert row["policy"] == "fault-repair-urban@v1"

        assert len(seen["calls"]) == 30
        assert {c["state"] for c in seen["calls"]} == {"callback_pending"}
        assert all(c["answered_at"] == bj(2026, 10, 12, 11, 10) for c in seen["calls"])

        (day,) = seen["daily"]
        assert (day["department"], day["day"]) == ("station_1", "2026-10-12")
        counts = {k: day[k] for k in day if k not in ("department", "day")}
        assert counts == {
            "incidents": 1,
            "crew_dispatches": 1,
            "arrivals": 1,
            "arrivals_on_time": 1,
            "repairs": 1,  # one repair for the feeder ...
            "repairs_on_time": 1,
            "contacts": 30,  # ... beside 30 contacts,
            "answers": 30,  # 30 answers
            "callbacks": 30,  # and 30 callbacks scheduled
        }
        # Every caller's arrival and restoration clock met: the latest call came at 09:19:20,
        # so even the first (09:00) saw the crew at 40 min (<= 45) and power at 2 h 10 (<= 3 h).
        assert len(seen["sla"]) == 60
        assert {r["state"] for r in seen["sla"]} == {"met"}
        # After the restoration nothing is suggested: the incident is closed, the calls linked.
        assert not seen["after"].any
