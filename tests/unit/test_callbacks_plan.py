"""callback_plan: which tickets wait for a post-service callback, and each customer's periodic
plan; the cadence data; the next periodic callback. No I/O: events come from an in-memory
desk and are folded into rows held in a dict."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from config.data_files import DataFileError
from domain import commands as c
from domain.desk import Desk, Outcome
from projections.callback_plan import CUSTOMERS, TICKETS, CallbackPlan, next_periodic
from projections.core import Key, Row
from tests.factories import AGENT, HANDLER, FakeClock, act, bj, receive, register_customer
from workers.callbacks import load_callback_plan

DAY = timedelta(days=1)


class DictRows:
    """The Rows interface over a dict: what the projector's batch gives a fold."""

    def __init__(self, projection: CallbackPlan) -> None:
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


def fold_all(desk: Desk) -> DictRows:
    projection = CallbackPlan()
    rows = DictRows(projection)
    for n in desk.recorder.select_notifications(start=1, limit=10_000):
        projection.fold(desk.mapper.to_domain_event(n), rows)
    return rows


def ticket_row(rows: DictRows, ticket: Outcome) -> dict[str, Any]:
    row = rows.get(TICKETS, (str(ticket.id),))
    assert row is not None
    return row


def answered_complaint(desk: Desk, clock: FakeClock) -> Outcome:
    ticket = receive(desk)
    act(desk, ticket, "verify")
    act(desk, ticket, "classify", category="service_attitude", priority="normal")
    act(desk, ticket, "dispatch", owner="zhang-san", to_department="station_1")
    act(desk, ticket, "accept", HANDLER)
    act(desk, ticket, "reply", HANDLER, result="已处理", measures="加强培训")
    clock.set(bj(2026, 10, 12, 11, 0))
    act(desk, ticket, "answer", content="已向客户说明处理结果")
    return ticket


# ------------------------------------------------------------------ tickets


def test_a_received_ticket_does_not_wait_for_a_callback(memory_desk: Desk) -> None:
    ticket = receive(memory_desk)

    row = ticket_row(fold_all(memory_desk), ticket)

    assert row["awaiting"] is False
    assert (row["kind"], row["cycle"], row["department"]) == ("complaint", 1, "service_center")


def test_an_answered_ticket_waits_for_its_callback(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = answered_complaint(memory_desk, clock)

    row = ticket_row(fold_all(memory_desk), ticket)

    assert row["awaiting"] is True
    assert row["answered_at"] == bj(2026, 10, 12, 11, 0)
    assert row["department"] == "station_1"  # follows the dispatch
    customer_id = memory_desk.ticket(ticket.id).customer["id"]
    assert row["customer_id"] == customer_id


def test_a_scheduled_callback_ends_the_wait(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = answered_complaint(memory_desk, clock)
    out = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))

    row = ticket_row(fold_all(memory_desk), ticket)

    assert row["awaiting"] is False
    assert (row["callback_id"], row["callback_cycle"]) == (str(out.id), 1)


def test_a_cancelled_callback_frees_the_ticket_without_rescheduling_it(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = answered_complaint(memory_desk, clock)
    out = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    memory_desk.handle(c.CancelCallback(**AGENT, callback_id=out.id, reason="客户要求不再回访"))

    row = ticket_row(fold_all(memory_desk), ticket)

    # The agent decides what next (another callback or closing); the scheduler must not.
    assert (row["awaiting"], row["callback_id"], row["callback_cycle"]) == (False, None, None)


def test_worklists_show_a_ticket_whose_callback_was_cancelled_as_answered(
    memory_desk: Desk, clock: FakeClock
) -> None:
    from projections.worklists import WORKLISTS, Worklists

    ticket = answered_complaint(memory_desk, clock)
    out = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    memory_desk.handle(c.CancelCallback(**AGENT, callback_id=out.id, reason="号码有误"))
    projection = Worklists()
    rows = DictRows(projection)  # type: ignore[arg-type]
    for n in memory_desk.recorder.select_notifications(start=1, limit=10_000):
        projection.fold(memory_desk.mapper.to_domain_event(n), rows)

    row = rows.get(WORKLISTS, (str(ticket.id),))
    assert row is not None
    assert row["state"] == "customer_answered"


def test_closing_without_a_callback_ends_the_wait(memory_desk: Desk, clock: FakeClock) -> None:
    ticket = answered_complaint(memory_desk, clock)
    act(memory_desk, ticket, "close", note="客户明确表示无需回访")

    assert ticket_row(fold_all(memory_desk), ticket)["awaiting"] is False


def test_a_reopened_ticket_waits_again_once_answered_in_its_new_cycle(
    memory_desk: Desk, clock: FakeClock
) -> None:
    ticket = answered_complaint(memory_desk, clock)
    callback = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    memory_desk.handle(c.RecordCallbackOutcome(**AGENT, callback_id=callback.id, satisfaction=1))
    reopened = ticket_row(fold_all(memory_desk), ticket)
    act(memory_desk, ticket, "dispatch", owner="li-si", to_department="station_1")
    act(memory_desk, ticket, "accept", HANDLER)
    act(memory_desk, ticket, "reply", HANDLER, result="上门致歉")
    clock.set(bj(2026, 10, 13, 9, 0))
    act(memory_desk, ticket, "answer", content="已上门致歉")

    again = ticket_row(fold_all(memory_desk), ticket)

    assert (reopened["awaiting"], reopened["cycle"], reopened["answered_at"]) == (False, 2, None)
    assert (again["awaiting"], again["cycle"]) == (True, 2)
    assert again["answered_at"] == bj(2026, 10, 13, 9, 0)
    assert again["callback_cycle"] == 1  # the last callback was for cycle 1


# ---------------------------------------------------------------- customers


def test_a_graded_customer_has_a_plan_from_the_day_it_took_the_grade(
    memory_desk: Desk, clock: FakeClock
) -> None:
    customer = register_customer(memory_desk, customer_type="group")
    graded = clock.advance(hours=1)
    memory_desk.handle(
        c.AssignGrade(
            **AGENT,
            customer_id=customer.id,
            grade="A",
            basis="年购电量超100万元",
            occurred_at=graded,
        )
    )
    clock.set(bj(2026, 10, 20, 10, 0))
    memory_desk.handle(  # same grade, new basis: the cadence keeps counting from the first
        c.AssignGrade(**AGENT, customer_id=customer.id, grade="A", basis="年度复核")
    )

    row = fold_all(memory_desk).get(CUSTOMERS, (str(customer.id),))

    assert row is not None
    assert (row["grade"], row["graded_at"], row["periodic_count"]) == ("A", graded, 0)


def test_periodic_callbacks_are_counted_with_the_latest_due(memory_desk: Desk) -> None:
    customer = register_customer(memory_desk, customer_type="group")
    memory_desk.handle(c.AssignGrade(**AGENT, customer_id=customer.id, grade="B", basis="贡献度"))
    for days in (90, 180):
        memory_desk.handle(
            c.ScheduleCallback(
                **AGENT,
                kind="periodic",
                customer_id=customer.id,
                due_at=bj(2026, 10, 12, 9, 0) + days * DAY,
            )
        )

    row = fold_all(memory_desk).get(CUSTOMERS, (str(customer.id),))

    assert row is not None
    assert row["periodic_count"] == 2
    assert row["last_periodic_due_at"] == bj(2026, 10, 12, 9, 0) + 180 * DAY


# ------------------------------------------------------------ next periodic


NOW = bj(2026, 10, 12, 9, 0)


def test_the_first_periodic_callback_falls_one_period_after_grading() -> None:
    nxt = next_periodic(graded_at=NOW, periodic_count=0, last_due_at=None, every=30 * DAY, now=NOW)
    assert (nxt.index, nxt.due_at) == (1, NOW + 30 * DAY)


def test_the_next_periodic_callback_falls_one_period_after_the_last() -> None:
    nxt = next_periodic(
        graded_at=NOW, periodic_count=2, last_due_at=NOW + 60 * DAY, every=30 * DAY, now=NOW
    )
    assert (nxt.index, nxt.due_at) == (3, NOW + 90 * DAY)


def test_a_regrade_counts_from_the_new_grade_when_that_is_later() -> None:
    regraded = NOW + 100 * DAY
    nxt = next_periodic(
        graded_at=regraded, periodic_count=1, last_due_at=NOW + 30 * DAY, every=30 * DAY, now=NOW
    )
    assert (nxt.index, nxt.due_at) == (2, regraded + 30 * DAY)


def test_an_overdue_periodic_callback_is_due_now_once_not_in_a_burst() -> None:
    late = NOW + 400 * DAY
    nxt = next_periodic(graded_at=NOW, periodic_count=0, last_due_at=None, every=30 * DAY, now=late)
    assert (nxt.index, nxt.due_at) == (1, late)


# ------------------------------------------------------------------- data


def test_the_shipped_plan_calls_grade_a_most_often() -> None:
    plan = load_callback_plan()
    every = {g: plan.periodic.every(g) for g in ("A", "B", "C")}
    assert every == {"A": 30 * DAY, "B": 90 * DAY, "C": 180 * DAY}
    assert plan.periodic.every("none") is None
    assert "complaint" in plan.post_service.kinds
    assert "inquiry" not in plan.post_service.kinds


def test_a_plan_with_an_unknown_grade_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(
        'version = 1\n[post_service]\nkinds = ["complaint"]\n'
        "[periodic]\n[periodic.every_days]\nA = 30\nD = 10\n",
        encoding="utf-8",
    )
    with pytest.raises(
        DataFileError, match=r"plan\.toml: periodic\.every_days\.D: Input should be"
    ):
        load_callback_plan(path)
