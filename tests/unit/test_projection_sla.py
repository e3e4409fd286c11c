"""sla_deadlines, escalation_queue, worklists: feed events recorded by the real desk, assert rows.

The desk runs on eventsourcing's in-memory store; its notification log is folded into
dict-backed rows that behave like the view adapters (JSON columns go through JSON, so an
instant or a tuple left inside a JSON value shows up here as it would in a database).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import commands as c
from domain.desk import Desk, Outcome
from domain.sla.calendar import Always
from projections.core import Key, Projection, Row, Table, canonical, digest_rows
from projections.escalation_queue import EscalationQueue
from projections.sla_deadlines import SlaDeadlines, clock_named, next_step, time_used_and_left
from projections.worklists import Worklists
from tests.factories import AGENT, HANDLER, SUPERVISOR, SYSTEM, FakeClock, act, bj, receive

# --------------------------------------------------------------------------- in-memory rows


class MemoryRows:
    """The :class:`projections.core.Rows` door over dicts, typed like the adapters."""

    def __init__(self, projection: Projection) -> None:
        self.tables: dict[str, Table] = {t.name: t for t in projection.tables}
        self.data: dict[str, dict[Key, Row]] = {name: {} for name in self.tables}

    def get(self, table: str, key: Key) -> Row | None:
        row = self.data[table].get(tuple(key))
        return None if row is None else copy.deepcopy(row)

    def put(self, table: str, row: Row) -> None:
        spec = self.tables[table]
        unknown = set(row) - set(spec.names)
        assert not unknown, f"{table}: unknown columns {sorted(unknown)}"
        full = {name: _typed(table, name, kind, row.get(name)) for name, kind in spec.columns}
        self.data[table][spec.key_of(full)] = full

    def delete(self, table: str, key: Key) -> None:
        self.data[table].pop(tuple(key), None)

    def all(self, table: str) -> list[Row]:
        return [copy.deepcopy(r) for _, r in sorted(self.data[table].items())]


def _typed(table: str, column: str, kind: str, value: Any) -> Any:
    where = f"{table}.{column}"
    if value is None:
        return None
    if kind == "json":
        return json.loads(json.dumps(canonical(value)))  # raises on a datetime left inside
    if kind == "ts":
        assert isinstance(value, datetime), where
        assert value.tzinfo is not None, where
        return value
    if kind == "bool":
        assert isinstance(value, bool), where
    elif kind == "int":
        assert isinstance(value, int), where
        assert not isinstance(value, bool), where
    elif kind == "text":
        assert isinstance(value, str), where
    return value


class Views:
    """The three projections, fed from the desk's notification log like the projector does."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.position = 0
        self.projections: list[Projection] = [SlaDeadlines(), EscalationQueue(), Worklists()]
        self.rows = {p.name: MemoryRows(p) for p in self.projections}

    def catch_up(self) -> Views:
        notes = self.desk.recorder.select_notifications(start=self.position + 1, limit=100_000)
        for note in notes:
            event = self.desk.mapper.to_domain_event(note)
            for p in self.projections:
                p.fold(event, self.rows[p.name])
            self.position = note.id
        return self

    def sla(self, o: Outcome, milestone: str, cycle: int = 1) -> Row:
        self.catch_up()
        row = self.rows["sla_deadlines"].get("sla_deadlines", (str(o.id), milestone, cycle))
        assert row is not None, f"no sla_deadlines row for {milestone}#{cycle}"
        return row

    def escalation(self, o: Outcome, milestone: str, cycle: int = 1) -> Row | None:
        self.catch_up()
        return self.rows["escalation_queue"].get("escalation_queue", (str(o.id), milestone, cycle))

    def worklist(self, o: Outcome) -> Row | None:
        self.catch_up()
        return self.rows["worklists"].get("worklists", (str(o.id),))

    def digests(self) -> dict[str, tuple[int, str]]:
        self.catch_up()
        return {
            t.name: digest_rows(t, self.rows[p.name].all(t.name))
            for p in self.projections
            for t in p.tables
        }


@pytest.fixture
def views(memory_desk: Desk) -> Views:
    return Views(memory_desk)


def utc(when: datetime) -> str:
    """An instant as JSON columns hold it."""
    text: str = canonical(when)
    return text


def dispatched(desk: Desk, **intake: Any) -> Outcome:
    """A complaint received, verified, classified and dispatched to station_1 at 09:00 Mon."""
    o = receive(desk, **intake)
    o = act(desk, o, "verify")
    o = act(desk, o, "classify", category="service_attitude", priority="normal")
    return act(desk, o, "dispatch", owner="张伟", to_department="station_1")


def warn(desk: Desk, o: Outcome, milestone: str, threshold: float) -> Outcome:
    return act(
        desk, o, "raise_sla_warning", SYSTEM, milestone=milestone, cycle=1, threshold=threshold
    )


def escalate(desk: Desk, o: Outcome, milestone: str, level: int, cycle: int = 1) -> Outcome:
    return act(desk, o, "escalate", SYSTEM, milestone=milestone, cycle=cycle, level=level)


def breach(desk: Desk, o: Outcome, milestone: str, cycle: int = 1) -> Outcome:
    return act(desk, o, "record_breach", SYSTEM, milestone=milestone, cycle=cycle)


def run_of(desk: Desk, o: Outcome, milestone: str, cycle: int = 1) -> dict[str, Any]:
    found = [
        r
        for r in desk.ticket(o.id).sla_summary()
        if (r["milestone"], r["cycle"]) == (milestone, cycle)
    ]
    assert len(found) == 1
    return found[0]


# --------------------------------------------------------------------------- sla_deadlines


def test_intake_opens_one_running_row_per_clock_with_the_bound_policy(
    memory_desk: Desk, views: Views
) -> None:
    o = receive(memory_desk)

    rows = views.catch_up().rows["sla_deadlines"].all("sla_deadlines")

    assert [(r["milestone"], r["cycle"], r["state"]) for r in rows] == [
        ("department_reply", 1, "running"),
        ("first_contact", 1, "running"),
        ("resolution", 1, "running"),
    ]
    row = views.sla(o, "department_reply")
    assert row["number"] == o.number
    assert (row["kind"], row["department"], row["owner"]) == ("complaint", "service_center", None)
    assert (row["priority"], row["grade"], row["policy"]) == ("normal", "none", "complaint@v1")
    assert (row["clock"], row["target_seconds"]) == ("cn-office", 5 * 27_000)
    assert row["started_at"] == bj(2026, 10, 12, 9, 0)
    assert row["due_at"] == bj(2026, 10, 19, 9, 0)  # five working days later, Monday 09:00
    assert (row["pauses"], row["warnings"], row["escalation_level"]) == ([], [], 0)
    assert row["next_action_at"] == bj(2026, 10, 14, 14, 15)
    assert row["next_action"] == {"action": "raise_sla_warning", "threshold": 0.5}
    assert [i["type"] for i in row["schedule"]] == [
        "warning",
        "warning",
        "escalation",
        "breach",
        "escalation",
        "escalation",
    ]
    assert (row["stopped_at"], row["used_seconds"]) == (None, None)
    assert row["updated_at"] == bj(2026, 10, 12, 9, 0)


def test_warning_breach_two_escalation_levels_then_met_late(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    o = act(memory_desk, o, "accept", HANDLER)

    clock.set(bj(2026, 10, 14, 14, 15))
    o = warn(memory_desk, o, "department_reply", 0.5)
    row = views.sla(o, "department_reply")
    assert (row["state"], row["warnings"]) == ("running", [0.5])
    assert row["next_action_at"] == bj(2026, 10, 16, 9, 0)
    assert row["next_action"] == {"action": "raise_sla_warning", "threshold": 0.8}
    assert row["updated_at"] == bj(2026, 10, 14, 14, 15)

    clock.set(bj(2026, 10, 16, 9, 0))
    o = warn(memory_desk, o, "department_reply", 0.8)
    o = escalate(memory_desk, o, "department_reply", 1)
    row = views.sla(o, "department_reply")
    assert (row["warnings"], row["escalation_level"]) == ([0.5, 0.8], 1)
    assert row["next_action_at"] == bj(2026, 10, 19, 9, 0)
    assert row["next_action"] == {"action": "record_breach"}

    clock.set(bj(2026, 10, 19, 9, 0))
    o = breach(memory_desk, o, "department_reply")
    row = views.sla(o, "department_reply")
    assert row["state"] == "breached"
    assert row["due_at"] == bj(2026, 10, 19, 9, 0)
    assert row["next_action"] == {"action": "escalate", "level": 2}
    assert row["next_action_at"] == bj(2026, 10, 19, 9, 0)

    o = escalate(memory_desk, o, "department_reply", 2)  # 督办: supervision opens with it
    row = views.sla(o, "department_reply")
    assert (row["state"], row["escalation_level"]) == ("breached", 2)
    assert row["next_action"] == {"action": "escalate", "level": 3}
    assert row["next_action_at"] == bj(2026, 10, 21, 14, 15)

    clock.set(bj(2026, 10, 20, 10, 0))
    o = act(memory_desk, o, "reply", HANDLER, result="已道歉并整改", measures="培训")
    row = views.sla(o, "department_reply")
    met = next(e for e in memory_desk.history(o.id) if type(e).__name__ == "SlaTargetMet")
    assert (row["state"], row["stopped_at"]) == ("late", bj(2026, 10, 20, 10, 0))
    assert row["used_seconds"] == met.used_seconds == 5 * 27_000 + 7 * 3600 + 5400
    assert (row["due_at"], row["next_action_at"], row["next_action"]) == (None, None, None)
    assert (row["warnings"], row["escalation_level"]) == ([0.5, 0.8], 2)
    assert row["updated_at"] == bj(2026, 10, 20, 10, 0)


def test_a_clock_met_in_time_is_met_with_its_business_seconds(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 12, 10, 30))

    act(memory_desk, o, "contact_customer", note="已致电客户")

    row = views.sla(o, "first_contact")
    assert (row["state"], row["used_seconds"]) == ("met", 5400)
    assert row["stopped_at"] == bj(2026, 10, 12, 10, 30)
    assert row["next_action"] is None


def test_pause_clears_due_and_next_action_and_resume_moves_the_deadline(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 12, 14, 15))
    o = warn(memory_desk, o, "first_contact", 0.5)
    before = views.sla(o, "department_reply")

    clock.set(bj(2026, 10, 12, 15, 0))
    o = act(memory_desk, o, "pause", reason="等待客户提供材料")
    paused = views.sla(o, "department_reply")
    assert paused["state"] == "paused"
    assert (paused["due_at"], paused["next_action_at"], paused["next_action"]) == (None, None, None)
    assert paused["schedule"] == []
    assert paused["pauses"] == [[utc(bj(2026, 10, 12, 15, 0)), None, "等待客户提供材料"]]
    assert views.sla(o, "first_contact")["warnings"] == [0.5]
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["paused"], listed["next_due_at"], listed["next_milestone"]) == (True, None, None)

    clock.set(bj(2026, 10, 13, 9, 0))  # 2.5 h of Monday afternoon and 0.5 h of Tuesday paused
    o = act(memory_desk, o, "resume")
    resumed = views.sla(o, "department_reply")
    assert resumed["state"] == "running"
    assert resumed["due_at"] == run_of(memory_desk, o, "department_reply")["due_at"]
    assert resumed["due_at"] > before["due_at"]
    assert resumed["pauses"] == [
        [utc(bj(2026, 10, 12, 15, 0)), utc(bj(2026, 10, 13, 9, 0)), "等待客户提供材料"]
    ]
    assert resumed["next_action"] == {"action": "raise_sla_warning", "threshold": 0.5}
    assert resumed["next_action_at"] == bj(2026, 10, 14, 17, 15)  # 3 working hours later
    first = views.sla(o, "first_contact")
    assert (first["state"], first["warnings"]) == ("running", [0.5])
    assert first["next_action"] == {"action": "raise_sla_warning", "threshold": 0.8}
    assert first["due_at"] == bj(2026, 10, 13, 12, 0)
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["paused"], listed["next_milestone"]) == (False, "first_contact")
    assert listed["next_due_at"] == bj(2026, 10, 13, 12, 0)


def test_a_breached_clock_paused_and_resumed_is_breached_again(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 13, 9, 0))
    o = breach(memory_desk, o, "first_contact")
    o = act(memory_desk, o, "pause", reason="客户出差")
    assert views.sla(o, "first_contact")["state"] == "paused"

    clock.set(bj(2026, 10, 13, 10, 0))
    o = act(memory_desk, o, "resume")

    row = views.sla(o, "first_contact")
    assert row["state"] == "breached"
    assert row["next_action"] == {"action": "raise_sla_warning", "threshold": 0.5}
    assert row["next_action_at"] < bj(2026, 10, 13, 10, 0)  # overdue work for the clock


def test_time_used_and_left_is_computed_at_read_time(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    office = clock_named("cn-office", memory_desk.catalogue.calendar)
    assert clock_named("24x7", memory_desk.catalogue.calendar).id == "24x7"
    clock.set(bj(2026, 10, 12, 15, 0))
    o = act(memory_desk, o, "pause", reason="等待材料")
    clock.set(bj(2026, 10, 13, 9, 0))
    o = act(memory_desk, o, "resume")
    row = views.sla(o, "department_reply")

    # Monday 09:00-12:00 and 13:30-15:00 run (4.5 h), then paused until Tuesday 09:00.
    assert time_used_and_left(row, office, bj(2026, 10, 13, 9, 0)) == (16_200, 135_000 - 16_200)
    assert time_used_and_left(row, office, bj(2026, 10, 13, 10, 0)) == (19_800, 135_000 - 19_800)
    assert time_used_and_left(row, office, bj(2026, 10, 12, 8, 0)) == (0, 135_000)
    # On the 24x7 clock a stopped row counts to its stop.
    clock.set(bj(2026, 10, 13, 11, 0))
    act(memory_desk, o, "contact_customer", note="已联系")
    first = views.sla(o, "first_contact")
    used, left = time_used_and_left(first, Always(), bj(2026, 10, 20, 0, 0))
    assert used == 26 * 3600 - 18 * 3600  # 09:00 Mon to 11:00 Tue, minus the 18 h pause
    assert left == 27_000 - used


def test_reopen_opens_cycle_two_and_keeps_the_late_cycle_one_row(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    o = act(memory_desk, o, "accept", HANDLER)
    clock.set(bj(2026, 10, 19, 9, 0))
    o = breach(memory_desk, o, "department_reply")
    clock.set(bj(2026, 10, 19, 10, 0))
    o = act(memory_desk, o, "reply", HANDLER, result="已处理")
    o = act(memory_desk, o, "answer", content="已答复客户")
    callback = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=o.id))
    clock.set(bj(2026, 10, 20, 9, 0))
    memory_desk.handle(
        c.RecordCallbackOutcome(**AGENT, callback_id=callback.id, satisfaction=2, comment="不满意")
    )

    old = views.sla(o, "department_reply", 1)
    assert (old["state"], old["stopped_at"]) == ("late", bj(2026, 10, 19, 10, 0))
    assert views.sla(o, "callback", 1)["state"] == "met"
    assert views.sla(o, "first_contact", 1)["state"] == "late"
    new = views.sla(o, "department_reply", 2)
    assert (new["state"], new["cycle"], new["warnings"], new["escalation_level"]) == (
        "running",
        2,
        [],
        0,
    )
    assert new["started_at"] == bj(2026, 10, 20, 9, 0)
    assert new["due_at"] == bj(2026, 10, 27, 9, 0)
    assert new["department"] == "station_1"
    cycle_two = [
        r["milestone"] for r in views.rows["sla_deadlines"].all("sla_deadlines") if r["cycle"] == 2
    ]
    assert sorted(cycle_two) == ["department_reply", "first_contact", "resolution"]
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["state"], listed["next_milestone"]) == ("reopened", "first_contact")
    assert listed["next_due_at"] == bj(2026, 10, 21, 9, 0)


def test_an_explicit_rebind_replaces_the_running_rows_and_keeps_their_warnings(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 12, 14, 15))
    o = warn(memory_desk, o, "first_contact", 0.5)
    clock.set(bj(2026, 10, 12, 15, 0))

    act(memory_desk, o, "rebind_sla", SUPERVISOR, basis="from_now", reason="受理时录错客户")

    row = views.sla(o, "first_contact")
    assert row["started_at"] == bj(2026, 10, 12, 15, 0)
    assert row["due_at"] == bj(2026, 10, 13, 15, 0)
    assert (row["warnings"], row["state"], row["policy"]) == ([0.5], "running", "complaint@v1")
    assert row["next_action"] == {"action": "raise_sla_warning", "threshold": 0.8}
    assert row["updated_at"] == bj(2026, 10, 12, 15, 0)


class SlaPolicyRebound:
    """A hand-made rebind dropping a milestone (the shipped catalogue has none that do)."""

    def __init__(self, ticket_id: Any, at: datetime) -> None:
        self.originator_id = ticket_id
        self.meta = type("Meta", (), {"occurred_at": at})()
        self.policy = {"id": "complaint-lite", "version": 3}
        self.dropped = ["resolution"]
        self.clocks: list[dict[str, Any]] = []


def test_a_rebind_cancels_the_dropped_clocks(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 21, 9, 30))
    o = breach(memory_desk, o, "resolution")
    views.catch_up()
    assert views.escalation(o, "resolution") is not None

    event = SlaPolicyRebound(o.id, bj(2026, 10, 21, 10, 0))
    for p in views.projections:
        p.fold(event, views.rows[p.name])

    row = views.sla(o, "resolution")
    assert (row["state"], row["stopped_at"], row["due_at"]) == (
        "cancelled",
        bj(2026, 10, 21, 10, 0),
        None,
    )
    assert views.escalation(o, "resolution") is None
    listed = views.worklist(o)
    assert listed is not None
    assert listed["next_milestone"] == "first_contact"
    head = views.rows["sla_deadlines"].get("sla_deadlines_tickets", (str(o.id),))
    assert head is not None
    assert head["policy"] == "complaint-lite@v3"


def test_next_step_takes_the_breach_before_an_escalation_due_at_the_same_instant() -> None:
    at = utc(bj(2026, 10, 19, 9, 0))
    schedule: list[dict[str, Any]] = [
        {"type": "warning", "threshold": 0.8, "at": utc(bj(2026, 10, 16, 9, 0))},
        {"type": "breach", "at": at},
        {"type": "escalation", "level": 2, "action": "notify", "at": at},
        {"type": "escalation", "level": 3, "action": "notify", "at": None},
    ]
    assert next_step(schedule, [0.8], False, []) == (
        datetime(2026, 10, 19, 1, 0, tzinfo=UTC),
        {"action": "record_breach"},
    )
    assert next_step(schedule, [0.8], True, [])[1] == {"action": "escalate", "level": 2}
    assert next_step(schedule, [0.8], True, [2]) == (None, None)


# --------------------------------------------------------------------------- transfers


def test_a_transfer_moves_the_department_on_every_view_and_keeps_the_deadlines(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 16, 9, 0))
    o = escalate(memory_desk, o, "department_reply", 1)
    before = views.sla(o, "department_reply")
    assert views.escalation(o, "department_reply") is not None

    clock.set(bj(2026, 10, 16, 10, 0))
    o = act(memory_desk, o, "transfer", to_department="station_2", owner="李强", reason="属地错误")

    for milestone in ("first_contact", "department_reply", "resolution"):
        row = views.sla(o, milestone)
        assert (row["department"], row["owner"]) == ("station_2", "李强")
    row = views.sla(o, "department_reply")
    assert row["due_at"] == before["due_at"] == bj(2026, 10, 19, 9, 0)
    assert row["next_action_at"] == before["next_action_at"]
    assert row["updated_at"] == bj(2026, 10, 16, 10, 0)
    queued = views.escalation(o, "department_reply")
    assert queued is not None
    assert (queued["department"], queued["due_at"]) == ("station_2", bj(2026, 10, 19, 9, 0))
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["department"], listed["owner"], listed["state"]) == (
        "station_2",
        "李强",
        "dispatched",
    )
    assert listed["transfers"] == 1
    # first_contact ran out on 13 Oct and was never met: overdue clocks come first.
    assert (listed["next_milestone"], listed["next_due_at"]) == (
        "first_contact",
        bj(2026, 10, 13, 9, 0),
    )


# --------------------------------------------------------------------------- escalation_queue


def test_escalations_queue_by_level_with_age_anchors(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    assert views.escalation(o, "department_reply") is None

    clock.set(bj(2026, 10, 16, 9, 0))
    o = escalate(memory_desk, o, "department_reply", 1)
    row = views.escalation(o, "department_reply")
    assert row is not None
    assert (row["level"], row["action"], row["target_role"], row["target_department"]) == (
        1,
        "notify",
        "dept_head",
        None,
    )
    assert (row["number"], row["kind"], row["priority"], row["grade"]) == (
        o.number,
        "complaint",
        "normal",
        "none",
    )
    assert row["department"] == "station_1"
    assert row["first_escalated_at"] == row["last_escalated_at"] == bj(2026, 10, 16, 9, 0)
    assert (row["breached_at"], row["paused"]) == (None, False)
    assert row["due_at"] == bj(2026, 10, 19, 9, 0)

    clock.set(bj(2026, 10, 19, 9, 5))
    o = breach(memory_desk, o, "department_reply")
    o = escalate(memory_desk, o, "department_reply", 2)
    row = views.escalation(o, "department_reply")
    assert row is not None
    assert (row["level"], row["action"], row["target_role"], row["target_department"]) == (
        2,
        "open_supervision",
        "marketing_supervisor",
        "marketing",
    )
    assert row["first_escalated_at"] == bj(2026, 10, 16, 9, 0)
    assert row["last_escalated_at"] == row["breached_at"] == bj(2026, 10, 19, 9, 5)
    listed = views.worklist(o)
    assert listed is not None
    assert listed["supervised"] is True

    clock.set(bj(2026, 10, 19, 9, 30))
    o = act(memory_desk, o, "pause", reason="等待客户")
    row = views.escalation(o, "department_reply")
    assert row is not None
    assert (row["paused"], row["due_at"]) == (True, None)
    clock.set(bj(2026, 10, 19, 10, 30))
    o = act(memory_desk, o, "resume")
    row = views.escalation(o, "department_reply")
    assert row is not None
    assert row["paused"] is False
    # The budget ran out before the pause, so the due instant does not move.
    assert row["due_at"] == run_of(memory_desk, o, "department_reply")["due_at"]
    assert row["due_at"] == bj(2026, 10, 19, 9, 0)
    assert row["updated_at"] == bj(2026, 10, 19, 10, 30)


def test_a_breach_alone_queues_the_clock_at_level_zero(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 13, 9, 30))

    breach(memory_desk, o, "first_contact")

    row = views.escalation(o, "first_contact")
    assert row is not None
    assert (row["level"], row["action"], row["breached_at"]) == (0, None, bj(2026, 10, 13, 9, 30))
    assert row["first_escalated_at"] == bj(2026, 10, 13, 9, 30)
    assert row["due_at"] == bj(2026, 10, 13, 9, 0)


def test_a_met_clock_leaves_the_queue(memory_desk: Desk, views: Views, clock: FakeClock) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 13, 9, 30))
    o = breach(memory_desk, o, "first_contact")
    o = escalate(memory_desk, o, "first_contact", 1)
    assert views.escalation(o, "first_contact") is not None

    act(memory_desk, o, "contact_customer", note="已致电")

    assert views.escalation(o, "first_contact") is None
    assert views.sla(o, "first_contact")["state"] == "late"


def test_a_raised_priority_shows_on_the_queue_and_the_worklist(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = receive(memory_desk, kind="fault_repair", category="outage")
    o = act(memory_desk, o, "dispatch", owner="抢修一班", to_department="station_1")
    clock.set(bj(2026, 10, 12, 12, 0))

    escalate(memory_desk, o, "restoration", 2)  # raise_priority

    row = views.escalation(o, "restoration")
    assert row is not None
    assert (row["level"], row["action"], row["priority"]) == (2, "raise_priority", "high")
    assert views.sla(o, "restoration")["priority"] == "high"
    listed = views.worklist(o)
    assert listed is not None
    assert listed["priority"] == "high"


# --------------------------------------------------------------------------- worklists


def test_the_worklist_follows_the_lifecycle_and_the_earliest_deadline(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = receive(memory_desk)
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["state"], listed["department"], listed["owner"]) == (
        "received",
        "service_center",
        None,
    )
    assert (listed["customer_name"], listed["category"], listed["grade"]) == (
        "王建国",
        "service_attitude",
        "none",
    )
    assert listed["received_at"] == bj(2026, 10, 12, 9, 0)
    assert (listed["next_milestone"], listed["next_due_at"]) == (
        "first_contact",
        bj(2026, 10, 13, 9, 0),
    )
    assert (listed["supervised"], listed["urges"], listed["transfers"], listed["paused"]) == (
        False,
        0,
        0,
        False,
    )

    o = act(memory_desk, o, "verify")
    o = act(memory_desk, o, "classify", category="billing", priority="high")
    o = act(memory_desk, o, "dispatch", owner="张伟", to_department="station_1")
    clock.set(bj(2026, 10, 12, 10, 0))
    o = act(memory_desk, o, "accept", HANDLER, owner="王芳")
    o = act(memory_desk, o, "contact_customer", note="已联系")
    clock.set(bj(2026, 10, 12, 11, 0))
    o = act(memory_desk, o, "urge", SUPERVISOR, note="请尽快处理")
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["state"], listed["department"], listed["owner"]) == (
        "accepted",
        "station_1",
        "王芳",
    )
    assert (listed["category"], listed["priority"], listed["urges"]) == ("billing", "high", 1)
    assert (listed["next_milestone"], listed["next_due_at"]) == (
        "department_reply",
        bj(2026, 10, 19, 9, 0),
    )
    assert listed["updated_at"] == bj(2026, 10, 12, 11, 0)

    o = act(memory_desk, o, "record_cause", HANDLER, cause="态度问题", solution="培训")
    o = act(memory_desk, o, "reply", HANDLER, result="已整改")
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["state"], listed["next_milestone"]) == ("replied", "resolution")


def test_service_steps_move_the_state_and_the_owner(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = receive(memory_desk, kind="fault_repair", category="outage")
    o = act(memory_desk, o, "dispatch", owner="抢修调度", to_department="station_1")
    o = act(
        memory_desk,
        o,
        "dispatch_crew",
        HANDLER,
        crew="抢修一班",
        promised_arrival_at=bj(2026, 10, 12, 9, 40),
    )
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["kind"], listed["state"], listed["owner"]) == (
        "fault_repair",
        "crew_en_route",
        "抢修一班",
    )
    assert listed["next_milestone"] == "arrival"
    clock.set(bj(2026, 10, 12, 9, 30))
    o = act(memory_desk, o, "record_arrival", HANDLER, crew="抢修一班")
    listed = views.worklist(o)
    assert listed is not None
    assert (listed["state"], listed["next_milestone"]) == ("on_site", "restoration")
    assert listed["next_due_at"] == bj(2026, 10, 12, 12, 0)
    assert views.sla(o, "arrival")["state"] == "met"
    assert views.sla(o, "restoration")["owner"] == "抢修一班"


def test_closure_removes_the_worklist_row_and_the_open_escalations(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    o = act(memory_desk, o, "accept", HANDLER)
    o = act(memory_desk, o, "reply", HANDLER, result="已处理")
    o = act(memory_desk, o, "answer", content="已答复")
    callback = memory_desk.handle(c.ScheduleCallback(**AGENT, ticket_id=o.id))
    clock.set(bj(2026, 10, 14, 9, 0))  # the callback was due Monday 20:00
    o = breach(memory_desk, o, "callback")
    assert views.escalation(o, "callback") is not None
    listed = views.worklist(o)
    assert listed is not None
    assert listed["state"] == "callback_pending"

    memory_desk.handle(c.RecordCallbackOutcome(**AGENT, callback_id=callback.id, satisfaction=5))

    assert views.worklist(o) is None
    assert views.escalation(o, "callback") is None
    assert views.rows["escalation_queue"].all("escalation_queue") == []
    assert views.sla(o, "callback")["state"] == "late"
    head = views.rows["worklists"].get("worklists_tickets", (str(o.id),))
    assert head is not None
    assert (head["state"], head["clocks"]) == ("closed", {})


def test_a_withdrawn_ticket_leaves_the_worklist_and_the_queue(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    clock.set(bj(2026, 10, 16, 9, 0))
    o = escalate(memory_desk, o, "department_reply", 1)
    assert views.escalation(o, "department_reply") is not None

    act(memory_desk, o, "withdraw", reason="客户撤诉")

    assert views.worklist(o) is None
    assert views.escalation(o, "department_reply") is None
    states = {r["milestone"]: r["state"] for r in views.rows["sla_deadlines"].all("sla_deadlines")}
    assert states == {
        "department_reply": "cancelled",
        "first_contact": "cancelled",
        "resolution": "cancelled",
    }


@pytest.mark.parametrize("way", ["reject", "resolve_at_first_contact"])
def test_rejected_or_settled_at_first_contact_tickets_leave_the_worklist(
    memory_desk: Desk, views: Views, way: str
) -> None:
    o = receive(memory_desk)
    assert views.worklist(o) is not None

    if way == "reject":
        act(memory_desk, o, "reject", reason="duplicate")
    else:
        act(memory_desk, o, "resolve_at_first_contact", answer="当场解释清楚")

    assert views.worklist(o) is None
    assert {r["state"] for r in views.rows["sla_deadlines"].all("sla_deadlines")} <= {
        "met",
        "cancelled",
    }


# --------------------------------------------------------------------------- determinism


def test_a_rebuild_from_the_log_gives_the_same_rows_as_folding_step_by_step(
    memory_desk: Desk, views: Views, clock: FakeClock
) -> None:
    o = dispatched(memory_desk)
    views.catch_up()
    clock.set(bj(2026, 10, 13, 9, 30))
    o = breach(memory_desk, o, "first_contact")
    views.catch_up()
    o = act(memory_desk, o, "pause", reason="等待")
    views.catch_up()
    clock.set(bj(2026, 10, 16, 9, 0))
    o = act(memory_desk, o, "resume")
    o = act(memory_desk, o, "transfer", to_department="station_2", owner="李强", reason="属地")
    views.catch_up()
    o = act(memory_desk, o, "accept", HANDLER)
    act(memory_desk, o, "reply", HANDLER, result="已处理")

    live = views.digests()
    rebuilt = Views(memory_desk).digests()

    assert live == rebuilt
    assert live["sla_deadlines"][0] == 3
