"""The SLA clock worker and the callback scheduler, against real stores (SQLite and PostgreSQL).

A complaint received Monday 12 Oct 2026 09:00 (Beijing) on the default complaint policy
(cn-office calendar: 08:30-12:00 and 13:30-17:30 on working days, 7.5 h a day):
department reply within 5 working days (warnings at 50 % and 80 %, escalation level 1 at 80 %,
level 2 — 督办 — at 100 %, level 3 at 150 %) and resolution within 7 working days. Time is driven
with ``run_until`` on stores created as simulations; every step must be recorded once, at its
due instant. ``casetrail sla run`` on a real store records with the real clock instead: what
is due by ``--until`` it records now, and an ``--until`` after now it refuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner, Result

from bootstrap import build_desk, build_followers, build_projections
from bootstrap.store import SIMULATION, mark_store, read_store
from cli.sla_cmd import sla_app
from config.settings import Settings
from domain import commands as c
from domain.base import Role
from domain.desk import Desk, Outcome
from projections.callback_plan import CallbackPlan
from projections.core import Projection
from projections.due_queries import DueRow, ViewQueries
from tests.factories import AGENT, HANDLER, FakeClock, act, bj, clean_postgres, make_desk, receive
from workers.callbacks import CallbackScheduler
from workers.projector import Projector
from workers.runner import watch_events
from workers.sla_clock import FollowedViews, ProjectorViews, SimulatedClock, SlaClock

SLA_EVENTS = ("SlaWarningRaised", "SlaBreached", "Escalated")
RECEIVED = bj(2026, 10, 12, 9, 0)  # Monday
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'casetrail.sqlite'}")
    url = request.getfixturevalue("pg_database")
    clean_postgres(url)
    return Settings(database_url=url)


def projections() -> list[Projection]:
    """The views these workers read (callback_plan may not be registered in bootstrap yet)."""
    wanted = ("sla_deadlines", "escalation_queue")
    return [p for p in build_projections() if p.name in wanted] + [CallbackPlan()]


@dataclass
class World:
    """A desk on a simulated clock, the views, and an SLA clock and a callback scheduler."""

    settings: Settings
    clock: SimulatedClock
    desk: Desk
    views: ProjectorViews
    queries: ViewQueries
    sla: SlaClock
    callbacks: CallbackScheduler

    def rows(self, table: str) -> list[dict[str, Any]]:
        for follower in self.views.followers:
            for spec in follower.projection.tables:
                if spec.name == table:
                    self.views.catch_up()
                    return list(follower.store.dump(spec))
        raise KeyError(table)

    def sla_row(self, ticket: Outcome, milestone: str, cycle: int = 1) -> dict[str, Any]:
        found = [
            r
            for r in self.rows("sla_deadlines")
            if (r["ticket_id"], r["milestone"], r["cycle"]) == (str(ticket.id), milestone, cycle)
        ]
        assert len(found) == 1
        return found[0]


def make_world(
    settings: Settings, start: datetime = RECEIVED, views: ProjectorViews | None = None
) -> World:
    """A world drives simulated time, so its store is one created as a simulation."""
    if not read_store(settings).simulation:
        mark_store(settings, SIMULATION)
    clock = SimulatedClock(start)
    desk = make_desk(clock, env=settings.eventsourcing_env())  # type: ignore[arg-type]
    views = views or ProjectorViews(Projector(desk, build_followers(settings, projections())))
    queries = ViewQueries.of(views.followers)
    return World(
        settings=settings,
        clock=clock,
        desk=desk,
        views=views,
        queries=queries,
        sla=SlaClock(desk, views, queries, clock),
        callbacks=CallbackScheduler(desk, views, queries, clock),
    )


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    w = make_world(settings)
    yield w
    w.desk.close()


def at(when: datetime, clock: SimulatedClock) -> datetime:
    """Move the simulated clock (the desk's) to ``when`` and return it."""
    return clock.advance_to(when)


def dispatched_complaint(w: World, received: datetime = RECEIVED) -> Outcome:
    at(received, w.clock)
    return dispatch(w.desk, received)


def dispatch(desk: Desk, received: datetime) -> Outcome:
    """A complaint received (business time) at ``received``, verified, classified, dispatched
    to station_1 and its customer contacted, all at that instant; recorded by ``desk``'s clock."""
    ticket = receive(desk, occurred_at=received)
    steps: tuple[tuple[str, dict[str, Any]], ...] = (
        ("verify", {}),
        ("classify", {"category": "service_attitude", "priority": "normal"}),
        ("dispatch", {"owner": "zhang-san", "to_department": "station_1"}),
        ("contact_customer", {"note": "致电客户说明受理情况"}),
    )
    for action, fields in steps:
        act(desk, ticket, action, occurred_at=received, **fields)
    return ticket


def sla_steps(desk: Desk, ticket: Outcome) -> list[tuple[str, str, Any, datetime, datetime]]:
    """(event, milestone, threshold or level, occurred_at, recorded_at) of the SLA steps."""
    out = []
    for e in desk.history(ticket.id):
        name = type(e).__name__
        if name in SLA_EVENTS:
            detail = getattr(e, "threshold", None) or getattr(e, "level", None)
            out.append((name, e.milestone, detail, e.meta.occurred_at, e.timestamp))
    return out


# ------------------------------------------------------------------ the SLA clock


def test_a_paused_complaint_is_warned_breached_and_escalated_at_its_shifted_instants(
    world: World,
) -> None:
    w = world
    ticket = dispatched_complaint(w)
    assert w.sla.run_until(bj(2026, 10, 13, 9, 0)) == 0  # nothing due on the first day

    # Waiting for the customer's documents from Tue 09:00 to Thu 09:00: two working days
    # (15 business hours) that move every pausable deadline.
    act(
        w.desk,
        ticket,
        "pause",
        occurred_at=at(bj(2026, 10, 13, 9, 0), w.clock),
        reason="等待客户提供证明材料",
    )
    assert w.sla.run_until(bj(2026, 10, 15, 9, 0)) == 0  # nothing falls due while paused
    act(w.desk, ticket, "resume", occurred_at=at(bj(2026, 10, 15, 9, 0), w.clock))

    sent = w.sla.run_until(bj(2026, 10, 22, 0, 0))

    # Unpaused, department_reply's 50 % fell on Wed 14 Oct 14:15; the pause moves it to Fri 16.
    expected = [
        ("SlaWarningRaised", "department_reply", 0.5, bj(2026, 10, 16, 14, 15)),
        ("SlaWarningRaised", "resolution", 0.5, bj(2026, 10, 19, 14, 15)),
        ("SlaWarningRaised", "department_reply", 0.8, bj(2026, 10, 20, 9, 0)),
        ("Escalated", "department_reply", 1, bj(2026, 10, 20, 9, 0)),
        ("SlaBreached", "department_reply", None, bj(2026, 10, 21, 9, 0)),
        ("Escalated", "department_reply", 2, bj(2026, 10, 21, 9, 0)),
        ("SlaWarningRaised", "resolution", 0.8, bj(2026, 10, 21, 15, 0)),
        ("Escalated", "resolution", 1, bj(2026, 10, 21, 15, 0)),
    ]
    steps = sla_steps(w.desk, ticket)
    assert [(n, m, d, o) for n, m, d, o, _ in steps] == expected
    assert all(recorded == occurred for *_, occurred, recorded in steps)  # recorded when due
    assert sent == 8
    assert w.sla.lateness == [0.0] * 8
    last = w.desk.history(ticket.id)[-1]
    assert (last.meta.actor, last.meta.role, last.meta.department) == (
        "sla-clock",
        "system",
        "system",
    )
    assert last.meta.command_id == f"sla:{ticket.id}:resolution:1:escalate:1"
    assert w.desk.ticket(ticket.id).supervised  # level 2 of department_reply opens 督办

    reply = w.sla_row(ticket, "department_reply")
    assert reply["state"] == "breached"
    assert reply["due_at"] == bj(2026, 10, 21, 9, 0)
    assert reply["warnings"] == [0.5, 0.8]
    assert reply["escalation_level"] == 2
    assert reply["next_action"] == {"action": "escalate", "level": 3}
    # level 3 at 150 %: 2.5 working days after the (shifted) deadline
    assert reply["next_action_at"] == bj(2026, 10, 23, 14, 15)
    resolution = w.sla_row(ticket, "resolution")
    assert (resolution["state"], resolution["next_action"]) == (
        "running",
        {"action": "record_breach"},
    )
    assert resolution["next_action_at"] == bj(2026, 10, 23, 9, 0)
    assert w.sla_row(ticket, "first_contact")["state"] == "met"

    queue = {
        r["milestone"]: r for r in w.rows("escalation_queue") if r["ticket_id"] == str(ticket.id)
    }
    assert queue["department_reply"]["level"] == 2
    assert queue["department_reply"]["action"] == "open_supervision"
    assert queue["department_reply"]["department"] == "station_1"
    assert queue["department_reply"]["breached_at"] == bj(2026, 10, 21, 9, 0)
    assert queue["resolution"]["level"] == 1
    assert w.queries.next_due() == bj(2026, 10, 23, 9, 0)


def test_running_the_clock_twice_to_the_same_instant_adds_nothing(world: World) -> None:
    ticket = dispatched_complaint(world)
    first = world.sla.run_until(bj(2026, 10, 30))
    version = world.desk.ticket(ticket.id).version

    again = world.sla.run_until(bj(2026, 10, 30))

    assert (first, again) == (12, 0)
    assert world.desk.ticket(ticket.id).version == version
    assert Counter(n for n, *_ in sla_steps(world.desk, ticket)) == {
        "SlaWarningRaised": 4,
        "SlaBreached": 2,
        "Escalated": 6,
    }


def test_the_clock_can_follow_views_kept_by_a_projector_worker(world: World) -> None:
    ticket = dispatched_complaint(world)
    followers = world.views.followers
    stop = threading.Event()
    projector = threading.Thread(target=world.views.projector.run, args=(stop,))
    projector.start()
    try:
        sla = SlaClock(world.desk, FollowedViews(world.desk, followers), world.queries, world.clock)
        assert sla.run_until(bj(2026, 10, 16, 12, 0)) == 4
        assert sla.run_until(bj(2026, 10, 16, 12, 0)) == 0
    finally:
        stop.set()
        projector.join(timeout=30)
    assert len(sla_steps(world.desk, ticket)) == 4


def test_the_same_step_sent_twice_has_one_effect(world: World) -> None:
    ticket = dispatched_complaint(world)
    world.sla.run_until(bj(2026, 10, 14, 14, 15))
    cmd = c.RaiseSlaWarning(
        actor_id="sla-clock",
        role=Role.SYSTEM,
        department="system",
        ticket_id=ticket.id,
        milestone="department_reply",
        cycle=1,
        threshold=0.5,
        occurred_at=bj(2026, 10, 14, 14, 15),
        command_id=f"sla:{ticket.id}:department_reply:1:raise_sla_warning:0.5",
    )
    assert world.desk.handle(cmd).changed is False
    assert len(sla_steps(world.desk, ticket)) == 1


def test_two_clocks_at_once_record_every_step_exactly_once(settings: Settings) -> None:
    # Two SLA clocks, each with its own desk (as two processes would), on one store; they share
    # the projector of the views (one projector per view set, see ProjectorViews).
    a = make_world(settings)
    b = make_world(settings, views=a.views)
    tickets = []
    for i in range(12):
        tickets.append(dispatched_complaint(a, RECEIVED + timedelta(minutes=17 * i)))
    until = bj(2026, 10, 27)
    expected = sum(len(a.desk.ticket(t.id).due_actions(until)) for t in tickets)
    errors: list[BaseException] = []

    def run(w: World) -> None:
        try:
            w.sla.run_until(until)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,)) for w in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert expected > 100
    assert a.sla.stats.sent + b.sla.stats.sent == expected
    recorded = 0
    for ticket in tickets:
        keys = [(n, m, d) for n, m, d, *_ in sla_steps(a.desk, ticket)]
        assert len(set(keys)) == len(keys)  # no step twice
        recorded += len(keys)
    assert recorded == expected
    assert a.desk.ticket(tickets[0].id).due_actions(until) == []
    assert a.sla.run_until(until) == 0
    assert b.sla.run_until(until) == 0
    a.desk.close()
    b.desk.close()


class EarlyQueries:
    """The view as it might stand a moment behind the store: a step due that is not."""

    def __init__(self, real: ViewQueries, row: DueRow) -> None:
        self.real, self.row = real, row

    def due(self, until: datetime, limit: int = 500, exclude: Sequence[str] = ()) -> list[DueRow]:
        return [self.row]

    def next_due(self, exclude: Sequence[str] = ()) -> datetime:
        return self.row.next_action_at


def test_a_row_the_ticket_disagrees_with_is_skipped_without_spinning(world: World) -> None:
    ticket = dispatched_complaint(world)
    stale = DueRow(
        ticket_id=str(ticket.id),
        milestone="department_reply",
        cycle=1,
        number=ticket.number,
        department="station_1",
        next_action_at=RECEIVED,  # due "now" by the view; Wednesday by the ticket
        next_action={"action": "raise_sla_warning", "threshold": 0.5},
    )
    sla = SlaClock(world.desk, world.views, EarlyQueries(world.queries, stale), world.clock)  # type: ignore[arg-type]

    sla.safety_timeout = 1e6
    assert sla.run_until(bj(2026, 10, 12, 12, 0)) == 0
    assert sla.stats.stale == 1
    assert sla.seconds_to_next() == sla.safety_timeout  # waits for news instead of spinning
    assert sla_steps(world.desk, ticket) == []


def test_run_forever_sleeps_until_the_next_step_and_wakes_for_an_earlier_one(
    world: World,
) -> None:
    w = world
    w.sla.safety_timeout = 1e6
    ticket = dispatched_complaint(w)
    stop = threading.Event()
    worker = threading.Thread(target=w.sla.run_forever, args=(stop,))
    worker.start()
    try:
        # department_reply's 50 % warning: Wed 14 Oct 14:15, 2 d 5 h 15 min away.
        wait_for(lambda: w.sla.last_wait == 191_700.0)
        # Time passes (the simulated clock moves) and the worker is told something changed.
        at(bj(2026, 10, 14, 14, 15), w.clock)
        w.sla.wake()
        wait_for(lambda: len(sla_steps(w.desk, ticket)) == 1)
        # Next: resolution's 50 % on Thu 15 Oct 14:15, one day on.
        wait_for(lambda: w.sla.last_wait == 86_400.0)
        # A fault report with a 45 min arrival target makes an earlier deadline: its 50 %
        # warning at 14:37:30. New events wake the worker, which now sleeps 22.5 min.
        receive(w.desk, kind="fault_repair", category="outage", occurred_at=w.clock())
        w.sla.wake()
        wait_for(lambda: w.sla.last_wait == 1_350.0)
    finally:
        stop.set()
        w.sla.wake()
        worker.join(timeout=30)
    assert not worker.is_alive()


def test_new_events_wake_the_worker_through_the_store(world: World) -> None:
    woken = threading.Event()
    stop = threading.Event()
    watch_events(world.desk, world.settings, stop, woken.set)
    try:
        # The watcher starts listening in its own thread: write until it hears one.
        for _ in range(20):
            receive(world.desk)
            if woken.wait(1.0):
                break
        assert woken.is_set()
    finally:
        stop.set()


def test_the_sla_clock_worker_logs_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'worker.sqlite'}"
    settings = Settings(database_url=url)
    wall = SimulatedClock(datetime.now(UTC))
    desk = make_desk(wall, env=settings.eventsourcing_env())  # type: ignore[arg-type]
    # A fault report whose 50 % arrival warning (22.5 min) falls due a second from now.
    received = wall() - timedelta(minutes=22, seconds=29)
    ticket = receive(desk, kind="fault_repair", category="outage", occurred_at=received)
    front_office = desk.ticket(ticket.id).department  # the org directory is versioned
    desk.close()
    env = {**os.environ, "CASETRAIL_DATABASE_URL": url, "CASETRAIL_LOG_JSON": "true"}
    code = "from bootstrap.run import run_worker; run_worker('sla-clock', project=True)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[dict[str, Any]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(r["event"] == "sla step recorded" for r in lines), timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        reader.join(timeout=10)
    step = next(r for r in lines if r["event"] == "sla step recorded")
    assert step["worker"] == "sla-clock"
    assert step["ticket_id"] == str(ticket.id)
    assert step["correlation_id"] == f"sla:{ticket.id}:arrival:1:raise_sla_warning:0.5"
    assert step["department"] == front_office
    assert 0 <= step["lateness_seconds"] < 5
    assert lines[-1]["event"] == "sla clock stopped"


def sla_run(settings: Settings, until: str) -> Result:
    """``casetrail sla run --until`` on the store of ``settings``."""
    return CliRunner().invoke(
        sla_app, ["run", "--until", until], env={"CASETRAIL_DATABASE_URL": settings.database_url}
    )


def simulation_store(tmp_path: Path) -> tuple[World, Outcome]:
    """A SQLite store created as a simulation, holding one dispatched complaint."""
    w = make_world(Settings(database_url=f"sqlite:///{tmp_path / 'cli.sqlite'}"))
    return w, dispatched_complaint(w)


def test_sla_run_on_a_simulation_store_records_each_step_at_its_due_instant(
    tmp_path: Path,
) -> None:
    w, ticket = simulation_store(tmp_path)
    w.desk.close()
    settings = w.settings
    assert read_store(settings).simulation

    result = sla_run(settings, "2026-10-16T12:00:00")

    assert result.exit_code == 0, result.output
    assert "recorded" in result.output
    assert "each due instant (simulation)" in result.output
    reread = build_desk(settings)
    steps = sla_steps(reread, ticket)
    assert [(n, m, d, o) for n, m, d, o, _ in steps] == [
        ("SlaWarningRaised", "department_reply", 0.5, bj(2026, 10, 14, 14, 15)),
        ("SlaWarningRaised", "resolution", 0.5, bj(2026, 10, 15, 14, 15)),
        ("SlaWarningRaised", "department_reply", 0.8, bj(2026, 10, 16, 9, 0)),
        ("Escalated", "department_reply", 1, bj(2026, 10, 16, 9, 0)),
    ]
    assert all(recorded == occurred for *_, occurred, recorded in steps)
    again = sla_run(settings, "2026-10-16T12:00:00")
    assert again.exit_code == 0, again.output
    assert len(sla_steps(reread, ticket)) == 4
    reread.close()


def test_sla_run_on_a_simulation_store_never_records_before_its_newest_event(
    tmp_path: Path,
) -> None:
    w, ticket = simulation_store(tmp_path)
    settings = w.settings
    # Another ticket recorded on Tue 20 Oct: the store's newest recorded time. The first one's
    # first warning fell due on Wed 14 Oct; recording it there would go back in time.
    receive(w.desk, occurred_at=at(bj(2026, 10, 20, 9, 0), w.clock))
    head = w.desk.recorder.max_notification_id()
    w.desk.close()

    result = sla_run(settings, "2026-10-22T00:00:00")

    assert result.exit_code == 2, result.output
    assert "recorded times must not go backwards" in result.output
    reread = build_desk(settings)
    assert reread.recorder.max_notification_id() == head
    assert sla_steps(reread, ticket) == []
    reread.close()


def real_store_ticket(settings: Settings, received: datetime) -> tuple[Outcome, int]:
    """A complaint on a real store, received at ``received`` (business time) and recorded an
    hour ago, as the real clock read then (taken in late: its past is entered, not pending);
    returns it and the store's head."""
    desk = make_desk(
        FakeClock(datetime.now(UTC) - timedelta(hours=1)), settings.eventsourcing_env()
    )
    try:
        ticket = dispatch(desk, received)
        return ticket, int(desk.recorder.max_notification_id() or 0)
    finally:
        desk.close()


def test_sla_run_on_a_real_store_refuses_an_instant_after_now(settings: Settings) -> None:
    now = datetime.now(UTC)
    ticket, head = real_store_ticket(settings, now - timedelta(days=30))
    until = (now + timedelta(days=2)).astimezone(settings.tz).replace(microsecond=0)

    result = sla_run(settings, until.isoformat())

    assert result.exit_code == 2, result.output
    assert "is a real store: events are recorded with the real clock" in result.output
    assert f"--until {until.isoformat()} lies after now" in result.output
    reread = build_desk(settings)
    assert reread.recorder.max_notification_id() == head  # nothing recorded
    assert sla_steps(reread, ticket) == []
    reread.close()


def test_sla_run_on_a_real_store_records_past_due_steps_now_never_before_the_intake(
    settings: Settings,
) -> None:
    now = datetime.now(UTC)
    received = (now - timedelta(days=30)).astimezone(settings.tz)
    ticket, _ = real_store_ticket(settings, received)
    until = (now - timedelta(days=1)).astimezone(settings.tz).replace(microsecond=0)

    result = sla_run(settings, until.isoformat())

    assert result.exit_code == 0, result.output
    assert " now │" in result.output  # the "recorded at" row
    reread = build_desk(settings)
    history = reread.history(ticket.id)
    recorded = [e.timestamp for e in history]
    assert recorded == sorted(recorded)  # recorded times never go back in a ticket's history
    steps = sla_steps(reread, ticket)
    assert len(steps) >= 4  # a month past due: warnings, breaches, escalations
    intake = history[0].timestamp
    for *_, occurred, at_recorded in steps:
        assert received < occurred <= until  # business time: the step's due instant
        assert at_recorded >= intake  # recorded with the real clock, after the intake
    assert sla_run(settings, until.isoformat()).exit_code == 0
    assert len(sla_steps(reread, ticket)) == len(steps)  # each step once
    reread.close()


# ------------------------------------------------------------ the callback scheduler


def answered(w: World, ticket: Outcome, when: datetime) -> None:
    """The department replies and the customer is told the result (答复客户)."""
    at(when, w.clock)
    state = w.desk.ticket(ticket.id).state.value
    if state == "reopened":
        act(w.desk, ticket, "dispatch", owner="zhang-san", to_department="station_1")
    act(w.desk, ticket, "accept", HANDLER)
    act(w.desk, ticket, "reply", HANDLER, result="已对当事员工批评教育", measures="加强培训")
    act(w.desk, ticket, "answer", content="已向客户说明处理结果并致歉")


def test_an_answered_ticket_gets_one_post_service_callback(world: World) -> None:
    w = world
    ticket = dispatched_complaint(w)
    answered(w, ticket, bj(2026, 10, 13, 10, 0))

    first = w.callbacks.run_once(at(bj(2026, 10, 13, 10, 1), w.clock))
    again = w.callbacks.run_once(w.clock())

    assert first == {"post_service": 1, "periodic": 0}
    assert again == {"post_service": 0, "periodic": 0}
    t = w.desk.ticket(ticket.id)
    assert t.state.value == "callback_pending"
    callback: Any = w.desk.repository.get(UUID(t.callback_id))
    assert callback.kind == "post_service"
    assert callback.source_ticket_id == ticket.id
    # due by the callback milestone: one hotline working day (12 h) after the answer
    assert callback.due_at == bj(2026, 10, 14, 10, 0)


def test_a_dissatisfied_callback_reopens_and_the_next_answer_gets_a_new_callback(
    world: World,
) -> None:
    w = world
    ticket = dispatched_complaint(w)
    answered(w, ticket, bj(2026, 10, 13, 10, 0))
    w.callbacks.run_once(at(bj(2026, 10, 13, 10, 5), w.clock))
    first_id = UUID(w.desk.ticket(ticket.id).callback_id)

    at(bj(2026, 10, 13, 15, 0), w.clock)
    w.desk.handle(
        c.RecordCallbackOutcome(
            **AGENT, callback_id=first_id, satisfaction=2, comment="仍不满意，要求上门道歉"
        )
    )
    reopened = w.desk.ticket(ticket.id)
    assert (reopened.state.value, reopened.cycle) == ("reopened", 2)
    assert w.callbacks.run_once(w.clock()) == {"post_service": 0, "periodic": 0}

    answered(w, ticket, bj(2026, 10, 14, 10, 0))
    assert w.callbacks.run_once(at(bj(2026, 10, 14, 10, 5), w.clock))["post_service"] == 1

    second = w.desk.ticket(ticket.id)
    assert second.state.value == "callback_pending"
    assert UUID(second.callback_id) != first_id
    command_ids = [
        w.desk.history(ident)[0].meta.command_id for ident in (first_id, UUID(second.callback_id))
    ]
    assert command_ids == [f"callback:{ticket.id}:1", f"callback:{ticket.id}:2"]


def test_periodic_callbacks_follow_the_grade_a_more_often_than_c(world: World) -> None:
    w = world
    start = bj(2026, 10, 12, 9, 0)
    ids = {}
    for grade in ("A", "C"):
        customer = w.desk.handle(
            c.RegisterCustomer(
                **AGENT, name=f"{grade}级大客户", customer_type="group", command_id=f"reg-{grade}"
            )
        )
        w.desk.handle(
            c.AssignGrade(
                **AGENT,
                customer_id=customer.id,
                grade=grade,
                key_account=True,
                basis="年用电量与贡献度",
                occurred_at=start,
            )
        )
        ids[grade] = str(customer.id)

    def periodic_after(days: int) -> int:
        return w.callbacks.run_once(at(start + timedelta(days=days), w.clock))["periodic"]

    # Scheduled seven days ahead (lead_days): A's first is due on day 30, C's on day 180.
    assert periodic_after(1) == 0
    assert periodic_after(23) == 1
    assert periodic_after(23) == 0
    assert periodic_after(53) == 1
    # A's third: day 90 passed unseen (no pass ran), so it is due at once; C's first.
    assert periodic_after(173) == 2
    customers = {r["customer_id"]: r for r in w.rows("callback_plan_customers")}
    a, c_row = customers[ids["A"]], customers[ids["C"]]
    assert (a["periodic_count"], a["last_periodic_due_at"]) == (3, start + timedelta(days=173))
    assert (c_row["periodic_count"], c_row["last_periodic_due_at"]) == (
        1,
        start + timedelta(days=180),
    )


# ------------------------------------------------------------------------ helpers


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait on a condition with a deadline (no fixed sleeps in the tests)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
