"""sla_deadlines, escalation_queue and worklists through the real projector, on both backends.

The same story (same command ids, same clock) is told to a desk on SQLite and to one on
PostgreSQL; the projector keeps the views in step batch by batch. The rows must be equal on
both backends, and equal to a rebuild from the log after the tables are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bootstrap import build_followers
from config.settings import Settings
from domain import commands as c
from domain.desk import Desk, Outcome
from projections.core import Projection, Row, canonical, digest_rows
from projections.escalation_queue import EscalationQueue
from projections.sla_deadlines import SlaDeadlines
from projections.worklists import Worklists
from tests.factories import (
    AGENT,
    HANDLER,
    SUPERVISOR,
    SYSTEM,
    FakeClock,
    act,
    bj,
    make_desk,
    receive,
)
from workers.projector import Follower, Projector

pytestmark = pytest.mark.postgres


def _mine() -> list[Projection]:
    return [SlaDeadlines(), EscalationQueue(), Worklists()]


def _story(desk: Desk, clock: FakeClock, project: Callable[[], Any]) -> dict[str, Outcome]:
    """Five tickets through warnings, breaches, escalations, pauses, transfers and closures."""

    def sla(o: Outcome, action: str, milestone: str, cycle: int = 1, **more: Any) -> Outcome:
        return act(desk, o, action, SYSTEM, milestone=milestone, cycle=cycle, **more)

    t1 = receive(desk, command_id="intake-t1")
    t1 = act(desk, t1, "verify")
    t1 = act(desk, t1, "classify", category="service_attitude", priority="normal")
    t1 = act(desk, t1, "dispatch", owner="张伟", to_department="station_1")
    t2 = receive(desk, kind="fault_repair", category="outage", command_id="intake-t2")
    t2 = act(desk, t2, "dispatch", owner="抢修调度", to_department="station_1")
    t3 = receive(desk, command_id="intake-t3", customer_name="李梅")
    t4 = receive(desk, command_id="intake-t4", customer_name="赵磊")
    t5 = receive(desk, command_id="intake-t5", customer_name="钱多多")
    project()

    clock.set(bj(2026, 10, 12, 9, 30))
    t2 = act(
        desk,
        t2,
        "dispatch_crew",
        HANDLER,
        crew="抢修一班",
        promised_arrival_at=bj(2026, 10, 12, 9, 50),
    )
    t5 = act(desk, t5, "resolve_at_first_contact", answer="当场解释清楚")
    t4 = act(desk, t4, "pause", reason="等待客户提供材料")
    clock.set(bj(2026, 10, 12, 10, 0))
    t2 = act(desk, t2, "record_arrival", HANDLER, crew="抢修一班")
    clock.set(bj(2026, 10, 12, 12, 0))
    t2 = sla(t2, "escalate", "restoration", level=1)
    t2 = sla(t2, "escalate", "restoration", level=2)  # raises the priority
    project()

    clock.set(bj(2026, 10, 12, 14, 15))
    t1 = sla(t1, "raise_sla_warning", "first_contact", threshold=0.5)
    t3 = sla(t3, "raise_sla_warning", "first_contact", threshold=0.5)
    clock.set(bj(2026, 10, 13, 9, 0))
    t3 = sla(t3, "record_breach", "first_contact")
    t3 = sla(t3, "escalate", "first_contact", level=1)
    t1 = act(desk, t1, "contact_customer", note="已致电")
    project()

    clock.set(bj(2026, 10, 14, 14, 15))
    t1 = sla(t1, "raise_sla_warning", "department_reply", threshold=0.5)
    clock.set(bj(2026, 10, 16, 9, 0))
    t1 = sla(t1, "raise_sla_warning", "department_reply", threshold=0.8)
    t1 = sla(t1, "escalate", "department_reply", level=1)
    t1 = act(desk, t1, "transfer", to_department="station_2", owner="李强", reason="属地错误")
    t1 = act(desk, t1, "urge", SUPERVISOR, note="请尽快处理")
    t3 = act(desk, t3, "withdraw", reason="客户撤诉")
    project()

    clock.set(bj(2026, 10, 19, 9, 0))
    t1 = sla(t1, "record_breach", "department_reply")
    t1 = sla(t1, "escalate", "department_reply", level=2)
    clock.set(bj(2026, 10, 19, 10, 0))
    t1 = act(desk, t1, "accept", HANDLER)
    t1 = act(desk, t1, "reply", HANDLER, result="已道歉并整改", measures="培训")
    t1 = act(desk, t1, "answer", content="已答复客户")
    callback = desk.handle(c.ScheduleCallback(**AGENT, ticket_id=t1.id, command_id="cb-t1"))
    clock.set(bj(2026, 10, 20, 9, 0))
    desk.handle(
        c.RecordCallbackOutcome(
            **AGENT, callback_id=callback.id, satisfaction=2, comment="不满意", command_id="cb-1"
        )
    )
    clock.set(bj(2026, 10, 20, 10, 0))
    t1 = act(desk, t1, "dispatch", owner="张伟", to_department="station_2")
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5}


def _digests(followers: list[Follower]) -> dict[str, tuple[int, str]]:
    return {t.name: digest_rows(t, f.store.dump(t)) for f in followers for t in f.projection.tables}


def _dumps(followers: list[Follower]) -> dict[str, list[Row]]:
    out = {}
    for f in followers:
        for t in f.projection.tables:
            out[t.name] = sorted(
                (canonical(r) for r in f.store.dump(t)), key=lambda r: [str(r[k]) for k in t.key]
            )
    return out


def _tell(settings: Settings) -> dict[str, Any]:
    """Tell the story on one backend; return live and rebuilt views and some rows."""
    clock = FakeClock()
    desk = make_desk(clock, env=settings.eventsourcing_env())
    try:
        followers = build_followers(settings, _mine())
        projector = Projector(desk, followers, batch_size=4)
        tickets = _story(desk, clock, projector.catch_up)
        projector.catch_up()
        assert projector.lag() == {"sla_deadlines": 0, "escalation_queue": 0, "worklists": 0}
        live = _digests(followers)
        dumps = _dumps(followers)
        t1_row = followers[0].store.load(
            followers[0].projection.table("sla_deadlines"), (str(tickets["t1"].id), "resolution", 2)
        )
        for f in followers:
            f.store.drop_tables()
        rebuilt_followers = build_followers(settings, _mine())
        assert all(f.position == 0 for f in rebuilt_followers)
        Projector(desk, rebuilt_followers).catch_up()
        return {
            "live": live,
            "rebuilt": _digests(rebuilt_followers),
            "dumps": dumps,
            "rebuilt_dumps": _dumps(rebuilt_followers),
            "tickets": tickets,
            "t1_row": t1_row,
        }
    finally:
        desk.close()


def test_the_views_agree_on_sqlite_and_postgres_and_with_a_rebuild(
    sqlite_settings: Settings, postgres_settings: Settings
) -> None:
    lite = _tell(sqlite_settings)
    pg = _tell(postgres_settings)

    assert lite["dumps"] == pg["dumps"]
    assert lite["live"] == pg["live"]
    assert lite["rebuilt_dumps"] == lite["dumps"]
    assert lite["rebuilt"] == lite["live"]
    assert pg["rebuilt"] == pg["live"]

    counts = {name: count for name, (count, _) in lite["live"].items()}
    # t1: 3 clocks of cycle 1, its callback, 3 of cycle 2; t2: arrival and restoration;
    # t3, t4: 3 each; t5: 3 met at first contact and the callback clock that answer started.
    assert counts["sla_deadlines"] == 7 + 2 + 3 + 3 + 4
    assert counts["escalation_queue"] == 1  # t2's restoration (t3 withdrew, t1 was met late)
    assert counts["worklists"] == 3  # t1 (reopened, dispatched), t2, t4; t3 withdrew, t5 settled

    rows = {(r["ticket_id"], r["milestone"], r["cycle"]): r for r in lite["dumps"]["sla_deadlines"]}
    t1 = str(lite["tickets"]["t1"].id)
    reply = rows[(t1, "department_reply", 1)]
    assert (reply["state"], reply["warnings"], reply["escalation_level"]) == ("late", [0.5, 0.8], 2)
    assert reply["department"] == "station_2"
    assert reply["policy"] == "complaint@v1"
    again = rows[(t1, "department_reply", 2)]
    assert (again["state"], again["department"], again["owner"]) == ("running", "station_2", "张伟")
    t4 = str(lite["tickets"]["t4"].id)
    assert rows[(t4, "department_reply", 1)]["state"] == "paused"
    assert rows[(t4, "department_reply", 1)]["next_action"] is None

    queued = lite["dumps"]["escalation_queue"][0]
    assert (queued["milestone"], queued["level"], queued["action"], queued["priority"]) == (
        "restoration",
        2,
        "raise_priority",
        "high",
    )
    listed = {r["number"]: r for r in lite["dumps"]["worklists"]}
    t1_listed = listed[lite["tickets"]["t1"].number]
    assert (t1_listed["state"], t1_listed["department"], t1_listed["transfers"]) == (
        "dispatched",
        "station_2",
        1,
    )
    assert (t1_listed["urges"], t1_listed["supervised"]) == (1, True)
    t4_listed = listed[lite["tickets"]["t4"].number]
    assert (t4_listed["paused"], t4_listed["next_due_at"]) == (True, None)

    # Both adapters give the row back typed the same way.
    for found in (lite["t1_row"], pg["t1_row"]):
        assert found is not None
        assert found["due_at"] == bj(2026, 10, 29, 9, 0)  # seven working days
        assert found["started_at"] == bj(2026, 10, 20, 9, 0)
        assert isinstance(found["schedule"], list)
        assert found["next_action"] == {"action": "raise_sla_warning", "threshold": 0.5}
    assert canonical(lite["t1_row"]) == canonical(pg["t1_row"])
