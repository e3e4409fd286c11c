"""A ticket taken in late: the live SLA clock leaves its past alone until it has been told.

A complaint that happened yesterday morning is typed in today at 10:00, and its contact,
dispatch and pause follow in the next minutes. Every milestone due before 10:00 would fire at
once; the live clock (a real, not simulated, clock) holds those steps back for the backfill
grace after the intake was recorded, then judges them with everything entered by then.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from bootstrap import build_followers
from config.settings import Settings
from domain.desk import Desk
from projections.due_queries import ViewQueries
from tests.factories import FakeClock, act, bj, make_desk, receive
from tests.integration.test_sla_clock import projections
from workers.projector import Projector
from workers.sla_clock import ProjectorViews, SlaClock

HAPPENED = bj(2026, 10, 12, 9, 0)  # Monday 09:00: the customer's call
TYPED_IN = bj(2026, 10, 14, 10, 0)  # Wednesday 10:00: entered from the paper form
GRACE = timedelta(minutes=10)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'casetrail.sqlite'}")
    url = request.getfixturevalue("pg_database")
    with psycopg.connect(url, autocommit=True) as conn:
        for (table,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall():
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    return Settings(database_url=url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TYPED_IN)


@pytest.fixture
def desk(settings: Settings, clock: FakeClock) -> Iterator[Desk]:
    made = make_desk(clock, env=settings.eventsourcing_env())  # type: ignore[arg-type]
    yield made
    made.close()


def sla_clock(desk: Desk, settings: Settings, clock: FakeClock) -> SlaClock:
    views = ProjectorViews(Projector(desk, build_followers(settings, projections())))
    return SlaClock(
        desk,
        views,
        ViewQueries.of(views.followers),
        clock,
        backfill_grace=GRACE,
        safety_timeout=3600,
    )


def sla_events(desk: Desk, ticket_id: object) -> list[str]:
    wanted = {"SlaWarningRaised", "SlaBreached", "Escalated"}
    return [type(e).__name__ for e in desk.history(ticket_id) if type(e).__name__ in wanted]


def test_a_backfilled_complaint_is_not_judged_before_its_past_is_entered(
    desk: Desk, settings: Settings, clock: FakeClock
) -> None:
    worker = sla_clock(desk, settings, clock)
    ticket = receive(desk, occurred_at=HAPPENED)

    # Right after the intake: first contact was due Tuesday 09:00, long past; nothing fires.
    assert worker.run_until(clock()) == 0
    assert sla_events(desk, ticket.id) == []
    release, following = worker.held[str(ticket.id)]
    assert release == TYPED_IN + GRACE
    # Its steps due after the intake was recorded are not held: the next one is awaited.
    assert following is not None
    assert following > TYPED_IN
    # The worker sleeps until the grace ends, not in a busy loop, not for a minute.
    assert worker.seconds_to_next() == GRACE.total_seconds()

    # The agent enters the past: contacted Monday 09:30 (on time), dispatched, verified.
    clock.set(TYPED_IN + timedelta(minutes=2))
    act(desk, ticket, "verify", occurred_at=bj(2026, 10, 12, 9, 10))
    act(desk, ticket, "contact_customer", note="已致电客户", occurred_at=bj(2026, 10, 12, 9, 30))
    assert worker.run_until(clock()) == 0

    # After the grace the clock judges the past as now known: first contact was met on time,
    # so no first-contact breach; the department reply (5 working days) is not due yet.
    clock.set(TYPED_IN + GRACE + timedelta(seconds=1))
    worker.run_until(clock())
    history = desk.history(ticket.id)
    met = [e for e in history if type(e).__name__ == "SlaTargetMet"]
    assert [(e.milestone, e.on_time) for e in met] == [("first_contact", True)]
    breached = [e.milestone for e in history if type(e).__name__ == "SlaBreached"]
    assert "first_contact" not in breached
    assert worker.held == {}


def test_steps_due_after_the_recording_are_not_held(
    desk: Desk, settings: Settings, clock: FakeClock
) -> None:
    # Typed in 20 minutes late: every step lies after the recording, nothing is held.
    clock.set(HAPPENED + timedelta(minutes=20))
    worker = sla_clock(desk, settings, clock)
    ticket = receive(desk, occurred_at=HAPPENED)
    clock.set(bj(2026, 10, 13, 9, 0) + timedelta(seconds=1))  # first contact due Tue 09:00

    worker.run_until(clock())

    assert "SlaBreached" in sla_events(desk, ticket.id)
    assert worker.held == {}
