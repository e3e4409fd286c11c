"""The outages view as a fold: feed the desk's events, read the rows."""

from __future__ import annotations

from typing import Any

from domain.desk import Desk
from domain.outage import (
    DispatchOutageCrew,
    LinkOutageTicket,
    OpenOutageIncident,
    RecordOutageArrival,
    RecordOutageRestoration,
)
from projections.core import Key, Row
from projections.outages import CALLS, DAILY, INCIDENTS, Outages
from tests.factories import AGENT, HANDLER, SUPERVISOR, FakeClock, act, bj, receive

FEEDER = "10kV城关线#3"


class DictRows:
    """The Rows interface over a dict: what the projector's batch gives a fold."""

    def __init__(self, projection: Outages) -> None:
        self.tables = {t.name: t for t in projection.tables}
        self.data: dict[tuple[str, Key], Row] = {}

    def get(self, table: str, key: Key) -> Row | None:
        row = self.data.get((table, key))
        return None if row is None else dict(row)

    def put(self, table: str, row: Row) -> None:
        spec = self.tables[table]
        assert set(row) <= set(spec.names), set(row) - set(spec.names)
        full = {n: row.get(n) for n in spec.names}
        self.data[(table, spec.key_of(full))] = full

    def delete(self, table: str, key: Key) -> None:
        self.data.pop((table, key), None)

    def table(self, name: str) -> list[Row]:
        return [row for (table, _), row in sorted(self.data.items(), key=str) if table == name]


def fold_all(desk: Desk) -> DictRows:
    projection = Outages()
    rows = DictRows(projection)
    for n in desk.recorder.select_notifications(start=1, limit=10_000):
        projection.fold(desk.mapper.to_domain_event(n), rows)
    return rows


def _call(desk: Desk, clock: FakeClock, at: Any, **more: Any) -> Any:
    clock.set(at)
    return receive(desk, kind="fault_repair", category="outage", feeder=FEEDER, **more)


def test_a_repair_after_midnight_counts_on_the_day_power_came_back(
    memory_desk: Desk, clock: FakeClock
) -> None:
    desk = memory_desk
    calls = [_call(desk, clock, bj(2026, 10, 12, 23, m)) for m in (20, 25)]
    clock.set(bj(2026, 10, 12, 23, 30))
    opened = desk.handle(
        OpenOutageIncident(**SUPERVISOR, area="urban", feeder=FEEDER, repair_department="station_1")
    )
    for t in calls:
        desk.handle(LinkOutageTicket(**AGENT, incident_id=opened.id, ticket_id=t.id))
    clock.set(bj(2026, 10, 12, 23, 40))
    desk.handle(
        DispatchOutageCrew(
            **HANDLER,
            incident_id=opened.id,
            crew="夜班",
            promised_arrival_at=bj(2026, 10, 13, 0, 10),
        )
    )
    clock.set(bj(2026, 10, 13, 0, 20))  # 50 min after the 23:30 start: arrival 5 min late
    desk.handle(RecordOutageArrival(**HANDLER, incident_id=opened.id, crew="夜班"))
    clock.set(bj(2026, 10, 13, 1, 0))
    desk.handle(
        RecordOutageRestoration(
            **HANDLER, incident_id=opened.id, crew="夜班", cause="鸟害", answer="已恢复供电"
        )
    )
    rows = fold_all(desk)
    days = {r["day"]: r for r in rows.table(DAILY)}
    assert sorted(days) == ["2026-10-12", "2026-10-13"]
    first, second = days["2026-10-12"], days["2026-10-13"]
    # 10-12: opened, 2 calls linked, crew sent; 10-13: arrival (late), repair, 2 answers.
    assert (first["incidents"], first["contacts"], first["crew_dispatches"]) == (1, 2, 1)
    assert (first["repairs"], first["answers"]) == (0, 0)
    assert (second["arrivals"], second["arrivals_on_time"]) == (1, 0)
    assert (second["repairs"], second["repairs_on_time"], second["answers"]) == (1, 1, 2)
    (incident,) = rows.table(INCIDENTS)
    assert (incident["state"], incident["arrival_on_time"], incident["answered"]) == (
        "restored",
        False,
        2,
    )


def test_calls_answered_on_their_own_or_of_other_kinds_count_no_repair(
    memory_desk: Desk, clock: FakeClock
) -> None:
    desk = memory_desk
    alone = _call(desk, clock, bj(2026, 10, 12, 9, 0))
    receive(desk, kind="inquiry", category="general")
    clock.set(bj(2026, 10, 12, 9, 10))
    act(desk, alone, "dispatch", HANDLER, owner="张伟", to_department="station_1")
    act(desk, alone, "dispatch_crew", HANDLER, crew="一班", promised_arrival_at=clock.now)
    act(desk, alone, "record_arrival", HANDLER, crew="一班")
    act(desk, alone, "record_restoration", HANDLER, crew="一班", cause="表箱")
    act(desk, alone, "reply", HANDLER, result="已修复")
    act(desk, alone, "answer", AGENT, content="已修复")
    rows = fold_all(desk)
    (call,) = rows.table(CALLS)  # the inquiry is no fault call
    assert (call["state"], call["open"], call["incident_id"]) == ("customer_answered", False, None)
    assert call["department"] == "station_1"
    assert rows.table(DAILY) == []  # no incident: nothing counted as an outage repair
