"""department_performance: facts land on the department in charge when they happened.

Events come from the real desk on the in-memory store and are folded into in-memory rows, as
the ``--as-of`` report does; the report then turns the rows into KPIs.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bootstrap.org_loader import load_directory
from domain import commands as c
from domain.desk import Desk, Outcome
from projections.core import digest_rows
from projections.department_performance import (
    COUNTERS,
    OPEN,
    PERFORMANCE,
    SAMPLES,
    DepartmentPerformance,
)
from projections.reports import (
    MemoryRows,
    department_report,
    percentile,
    report_as_of,
    rows_as_of,
)
from tests.factories import (
    AGENT,
    HANDLER,
    SHANGHAI,
    SUPERVISOR,
    SYSTEM,
    FakeClock,
    act,
    bj,
    make_desk,
)

FAR = datetime(2100, 1, 1, tzinfo=UTC)
DIRECTORY = load_directory()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(bj(2026, 9, 7, 9, 0))  # a Monday, far from holidays and the merger


@pytest.fixture
def desk(clock: FakeClock) -> Desk:
    return make_desk(clock, env={})


def project(desk: Desk) -> tuple[MemoryRows, DepartmentPerformance]:
    projection = DepartmentPerformance(DIRECTORY)
    return rows_as_of(desk, projection, FAR), projection


def rows_of(rows: MemoryRows, projection: DepartmentPerformance, name: str) -> list[dict[str, Any]]:
    return rows.dump(projection.table(name))


def totals(rows: MemoryRows, department: str, day: str | None = None) -> Counter[str]:
    """Counters of one department (optionally one day), summed over kinds."""
    projection = DepartmentPerformance()
    out: Counter[str] = Counter()
    for row in rows.dump(projection.table(PERFORMANCE)):
        if row["department"] == department and day in (None, row["day"]):
            out.update({k: row[k] for k in COUNTERS if row[k]})
    return out


def json_of(rows: MemoryRows, department: str, column: str) -> dict[str, Any]:
    projection = DepartmentPerformance()
    merged: dict[str, Any] = {}
    for row in rows.dump(projection.table(PERFORMANCE)):
        if row["department"] == department:
            for key, value in (row[column] or {}).items():
                if isinstance(value, list):
                    old = merged.get(key, [0, 0])
                    merged[key] = [old[0] + value[0], old[1] + value[1]]
                else:
                    merged[key] = merged.get(key, 0) + value
    return merged


def complaint_with(desk: Desk, department: str, **intake: Any) -> Outcome:
    o = act(desk, _receive(desk, **intake), "verify")
    o = act(desk, o, "classify", category="service_attitude", priority="normal")
    return act(desk, o, "dispatch", owner="张伟", to_department=department)


def _receive(desk: Desk, **overrides: Any) -> Outcome:
    fields: dict[str, Any] = {
        **AGENT,
        "kind": "complaint",
        "customer_name": "王建国",
        "phone": "13800138000",
        "category": "service_attitude",
        "content": "营业厅工作人员态度恶劣",
        "area": "urban",
        "station": "station_1",
        **overrides,
    }
    return desk.handle(c.ReceiveTicket(**fields))


def reply_and_answer(desk: Desk, o: Outcome, who: dict[str, Any] = HANDLER) -> Outcome:
    o = act(desk, o, "accept", who=who)
    o = act(desk, o, "reply", who=who, result="已处理", measures="加强培训")
    return act(desk, o, "answer", content="已向客户说明处理结果")


def callback(desk: Desk, o: Outcome, satisfaction: int) -> None:
    cb = desk.handle(c.ScheduleCallback(**AGENT, ticket_id=o.id))
    desk.handle(c.RecordCallbackOutcome(**AGENT, callback_id=cb.id, satisfaction=satisfaction))


# ------------------------------------------------------------------------------ attribution


def test_intake_is_counted_for_the_front_office_and_dispatch_for_the_department(
    desk: Desk,
) -> None:
    complaint_with(desk, "marketing")
    rows, _ = project(desk)
    assert totals(rows, "service_center") == Counter(received=1)
    assert totals(rows, "marketing") == Counter(assigned=1)


def test_urge_before_transfer_counts_for_the_first_department_reply_after_for_the_second(
    desk: Desk, clock: FakeClock
) -> None:
    o = complaint_with(desk, "station_1")
    clock.advance(hours=2)
    o = act(desk, o, "urge", note="客户再次来电催促")
    clock.advance(hours=1)
    o = act(desk, o, "transfer", to_department="station_2", owner="李强", reason="属供电所2辖区")
    clock.advance(hours=3)
    reply_and_answer(desk, o)

    rows, projection = project(desk)
    assert totals(rows, "station_1") == Counter(
        assigned=1, urges=1, transfers_out=1, tickets_transferred=1
    )
    assert totals(rows, "station_2") == Counter(assigned=1, transfers_in=1, replied=1, answered=1)
    first = [r for r in rows_of(rows, projection, SAMPLES) if r["metric"] == "first_response"]
    assert len(first) == 1
    assert first[0]["department"] == "station_2"
    assert first[0]["wall_seconds"] == 6 * 3600
    # Received 09:00 Monday, replied 15:00: six office hours, bar the lunch break if any.
    assert 0 < first[0]["business_seconds"] <= 6 * 3600


def test_a_ticket_transferred_twice_counts_once_in_tickets_transferred(
    desk: Desk, clock: FakeClock
) -> None:
    o = complaint_with(desk, "station_1")
    o = act(desk, o, "transfer", to_department="station_2", owner="李强", reason="辖区")
    act(desk, o, "transfer", to_department="station_3", owner="赵六", reason="辖区")
    rows, _ = project(desk)
    assert totals(rows, "station_1")["tickets_transferred"] == 1
    assert totals(rows, "station_2") == Counter(assigned=1, transfers_in=1, transfers_out=1)
    assert totals(rows, "station_3") == Counter(assigned=1, transfers_in=1)


def test_supervision_counts_against_the_department_in_charge_not_the_supervisor(
    desk: Desk,
) -> None:
    o = complaint_with(desk, "station_4")
    act(desk, o, "supervise", who=SUPERVISOR, reason="重复投诉")
    rows, _ = project(desk)
    assert totals(rows, "station_4")["supervisions"] == 1
    assert totals(rows, "marketing")["supervisions"] == 0


def test_a_breach_lands_on_the_department_holding_the_ticket_and_late_reply_is_late(
    desk: Desk, clock: FakeClock
) -> None:
    o = complaint_with(desk, "station_1")
    due = desk.ticket(o.id).sla_summary()
    reply_due = next(r["due_at"] for r in due if r["milestone"] == "department_reply")
    breached_at = reply_due + timedelta(hours=1)
    clock.set(breached_at)
    act(desk, o, "record_breach", who=SYSTEM, milestone="department_reply", cycle=1)
    clock.advance(hours=1)
    reply_and_answer(desk, o)

    rows, projection = project(desk)
    assert json_of(rows, "station_1", "breaches") == {"department_reply": 1}
    assert totals(rows, "station_1")["breaches_total"] == 1
    on_time = json_of(rows, "station_1", "sla")
    assert on_time["department_reply"] == [0, 1]
    # The breach is on the local day it was recorded.
    breach_days = [
        r["day"]
        for r in rows_of(rows, projection, PERFORMANCE)
        if r["department"] == "station_1" and r["breaches_total"]
    ]
    assert breach_days == [breached_at.astimezone(SHANGHAI).date().isoformat()]
    first = next(r for r in rows_of(rows, projection, SAMPLES) if r["metric"] == "first_response")
    assert first["business_seconds"] > 5 * 7.5 * 3600  # more than the 5-working-day budget


def test_callbacks_satisfied_dissatisfied_and_unreachable(desk: Desk, clock: FakeClock) -> None:
    happy = reply_and_answer(desk, complaint_with(desk, "station_1"))
    callback(desk, happy, satisfaction=5)
    unhappy = reply_and_answer(desk, complaint_with(desk, "station_1"))
    callback(desk, unhappy, satisfaction=2)
    silent = reply_and_answer(desk, complaint_with(desk, "station_1"))
    cb = desk.handle(c.ScheduleCallback(**AGENT, ticket_id=silent.id, max_attempts=1))
    desk.handle(c.RecordCallbackAttempt(**AGENT, callback_id=cb.id, outcome="no_answer"))

    rows, _ = project(desk)
    got = totals(rows, "station_1")
    assert got["callbacks_scheduled"] == 3
    assert got["callbacks_done"] == 2
    assert (got["satisfied"], got["dissatisfied"], got["unreachable"]) == (1, 1, 1)
    assert got["satisfaction_sum"] == 7
    assert got["closed"] == 2  # the satisfied one and the unreachable one
    assert got["closed_with_callback"] == 1
    assert got["reopened"] == 1  # the dissatisfied one
    assert totals(rows, "service_center")["callbacks_done"] == 0

    [report] = [
        r
        for r in department_report(
            rows, date(2026, 9, 1), date(2026, 9, 30), bj(2026, 9, 8), directory=DIRECTORY
        )
        if r["department"] == "station_1"
    ]
    assert report["satisfaction_rate"] == 0.5
    assert report["below_satisfaction_target"] is True
    # Of the two closures only the satisfied one had a callback that reached the customer.
    assert report["callback_coverage"] == 0.5
    assert report["reopen_rate"] == 0.5
    assert report["mean_satisfaction_score"] == 3.5
    assert report["backlog_total"] == 1  # the reopened ticket is open again
    assert (report["name_zh"], report["name_en"]) == ("供电所1", "Supply Station 1")


def test_a_reopened_ticket_starts_a_new_cycle_of_samples(desk: Desk, clock: FakeClock) -> None:
    o = reply_and_answer(desk, complaint_with(desk, "station_1"))
    callback(desk, o, satisfaction=1)
    clock.advance(hours=4)
    o = act(desk, o, "dispatch", owner="张伟", to_department="station_1")
    clock.advance(hours=1)
    o = reply_and_answer(desk, o)
    callback(desk, o, satisfaction=5)

    rows, projection = project(desk)
    samples = {(r["metric"], r["cycle"]) for r in rows_of(rows, projection, SAMPLES)}
    assert samples == {
        ("first_response", 1),
        ("resolution", 1),
        ("first_response", 2),
        ("resolution", 2),
        ("closure", 2),
    }
    second = next(
        r
        for r in rows_of(rows, projection, SAMPLES)
        if (r["metric"], r["cycle"]) == ("first_response", 2)
    )
    assert second["wall_seconds"] == 5 * 3600  # from the reopening, not from receipt
    assert rows_of(rows, projection, OPEN) == []
    got = totals(rows, "station_1")
    assert (got["assigned"], got["reopened"], got["closed"]) == (2, 1, 1)


def test_resolution_at_first_contact_closes_for_the_front_office(desk: Desk) -> None:
    o = _receive(desk, kind="inquiry", category="tariff")
    act(desk, o, "resolve_at_first_contact", answer="已告知电价标准")
    rows, projection = project(desk)
    assert totals(rows, "service_center") == Counter(received=1, closed=1, resolved_first_contact=1)
    metrics = sorted(r["metric"] for r in rows_of(rows, projection, SAMPLES))
    assert metrics == ["closure", "resolution"]
    assert rows_of(rows, projection, OPEN) == []


def test_withdrawn_and_rejected_tickets_leave_the_backlog(desk: Desk) -> None:
    o = complaint_with(desk, "station_1")
    act(desk, o, "withdraw", reason="客户撤诉")
    act(desk, _receive(desk), "reject", reason="duplicate")
    rows, projection = project(desk)
    assert totals(rows, "station_1")["withdrawn"] == 1
    assert totals(rows, "service_center")["rejected"] == 1
    assert rows_of(rows, projection, OPEN) == []


# ------------------------------------------------------------------------------- the merger


def test_merger_history_stays_with_old_units_and_later_facts_go_to_the_successor(
    desk: Desk, clock: FakeClock
) -> None:
    clock.set(bj(2026, 10, 15, 10, 0))
    before = complaint_with(desk, "marketing")
    act(desk, before, "urge", note="请尽快处理")
    clock.set(bj(2026, 10, 17, 10, 0))
    act(desk, before, "urge", note="再次催办")  # the ticket still names 营销部
    callback(desk, reply_and_answer(desk, before), satisfaction=5)
    _receive(desk)  # the merged front office takes this call, and the next one
    complaint_with(desk, "marketing_service")

    rows, _ = project(desk)
    assert totals(rows, "service_center", "2026-10-15") == Counter(received=1)
    assert totals(rows, "marketing", "2026-10-15") == Counter(assigned=1, urges=1)
    assert totals(rows, "marketing", "2026-10-17") == Counter()
    merged = totals(rows, "marketing_service", "2026-10-17")
    assert merged["urges"] == 1
    assert merged["replied"] == 1
    assert merged["received"] == 2
    assert (merged["closed"], merged["satisfied"]) == (1, 1)

    report = {
        r["department"]: r
        for r in department_report(
            rows, date(2026, 10, 1), date(2026, 10, 31), bj(2026, 10, 20), directory=DIRECTORY
        )
    }
    assert report["service_center"]["received"] == 1
    assert report["service_center"]["name_zh"] == "客户服务中心"
    assert report["marketing"]["urges"] == 1
    assert report["marketing_service"]["urges"] == 1
    assert report["marketing_service"]["name_en"].startswith("Marketing Department")
    # One call waits at the front office, the other was dispatched to it.
    assert report["marketing_service"]["backlog_total"] == 2


def test_a_pre_merger_ticket_still_open_is_in_the_successors_backlog(
    desk: Desk, clock: FakeClock
) -> None:
    clock.set(bj(2026, 10, 14, 10, 0))
    complaint_with(desk, "marketing")
    rows, _ = project(desk)
    before = {
        r["department"]: r["backlog"]
        for r in department_report(
            rows, date(2026, 10, 14), date(2026, 10, 14), bj(2026, 10, 15, 12), directory=DIRECTORY
        )
    }
    assert before["marketing"]["1_3d"] == 1
    after = {
        r["department"]: r["backlog"]
        for r in department_report(
            rows, date(2026, 10, 14), date(2026, 10, 14), bj(2026, 10, 20), directory=DIRECTORY
        )
    }
    assert after["marketing_service"]["3_7d"] == 1
    assert sum(after["marketing"].values()) == 0


# ------------------------------------------------------------------------------ the report


def test_durations_give_median_and_p90(desk: Desk, clock: FakeClock) -> None:
    for hours in (1, 2, 3, 4, 10):
        clock.set(bj(2026, 9, 8, 8, 0))
        o = complaint_with(desk, "station_1")
        clock.advance(hours=hours)
        reply_and_answer(desk, o)
    rows, _ = project(desk)
    [st1] = [
        r
        for r in department_report(
            rows, date(2026, 9, 1), date(2026, 9, 30), bj(2026, 9, 9), directory=DIRECTORY
        )
        if r["department"] == "station_1"
    ]
    wall = st1["durations"]["first_response"]["wall"]
    assert wall["n"] == 5
    assert wall["median"] == 3 * 3600
    assert wall["p90"] == pytest.approx((4 + 0.6 * 6) * 3600)
    assert st1["durations"]["first_response"]["business"]["n"] == 5
    assert st1["on_time"]["department_reply"] == {"met": 5, "late": 0, "rate": 1.0}


def test_the_period_filters_by_local_day(desk: Desk, clock: FakeClock) -> None:
    clock.set(bj(2026, 9, 8, 23, 30))  # 15:30 UTC: still the 8th in Beijing
    complaint_with(desk, "station_1")
    clock.set(bj(2026, 9, 9, 0, 30))  # 16:30 UTC on the 8th, the 9th in Beijing
    complaint_with(desk, "station_1")
    rows, _ = project(desk)
    as_of = bj(2026, 9, 10)

    def received(day: date) -> int:
        report = department_report(rows, day, day, as_of, directory=DIRECTORY, total=True)
        return int(report[-1]["received"])

    assert received(date(2026, 9, 8)) == 1
    assert received(date(2026, 9, 9)) == 1


def test_total_row_sums_departments_and_uses_tickets_for_the_transfer_rate(
    desk: Desk,
) -> None:
    o = complaint_with(desk, "station_1")
    act(desk, o, "transfer", to_department="station_2", owner="李强", reason="辖区")
    complaint_with(desk, "station_1")
    rows, _ = project(desk)
    report = department_report(
        rows, date(2026, 9, 1), date(2026, 9, 30), bj(2026, 9, 8), directory=DIRECTORY, total=True
    )
    total = report[-1]
    assert total["department"] == "TOTAL"
    assert (total["received"], total["assigned"], total["transfers_out"]) == (2, 3, 1)
    assert total["transfer_rate"] == 0.5  # one ticket of two was transferred
    st1 = next(r for r in report if r["department"] == "station_1")
    assert st1["transfer_rate"] == 0.5  # one work order of two passed on
    assert total["backlog_total"] == 2


def test_report_as_of_sees_only_what_was_recorded_then(desk: Desk, clock: FakeClock) -> None:
    o = complaint_with(desk, "station_1")
    clock.advance(hours=2)
    middle = clock()
    clock.advance(hours=1)
    reply_and_answer(desk, o)
    projection = DepartmentPerformance(DIRECTORY)
    period = (date(2026, 9, 7), date(2026, 9, 7))

    then = {r["department"]: r for r in report_as_of(desk, projection, middle, *period)}
    assert then["station_1"]["replied"] == 0
    assert then["station_1"]["backlog"]["lt_1d"] == 1
    now = {r["department"]: r for r in report_as_of(desk, projection, FAR, *period)}
    assert now["station_1"]["replied"] == 1


def test_folding_twice_gives_the_same_rows(desk: Desk, clock: FakeClock) -> None:
    o = complaint_with(desk, "station_1")
    act(desk, o, "urge", note="催办")
    reply_and_answer(desk, o)
    first, projection = project(desk)
    second, _ = project(desk)
    for table in projection.tables:
        assert digest_rows(table, first.dump(table)) == digest_rows(table, second.dump(table))


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.9, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([4.0, 1.0, 3.0, 2.0, 5.0], 0.5, 3.0),
        ([float(i) for i in range(1, 11)], 0.9, 9.1),
    ],
)
def test_percentile_interpolates_between_closest_ranks(
    values: list[float], p: float, expected: float | None
) -> None:
    assert percentile(values, p) == (None if expected is None else pytest.approx(expected))
