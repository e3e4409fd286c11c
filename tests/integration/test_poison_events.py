"""One event a view cannot apply stops that view alone, visibly; every other view goes on.

The events are written straight into the store, as events recorded before the API validated
its input were (a NUL in a complaint's text; a crew promised for 9999-12-31 -14:00): the
commands are built with ``model_construct``, which skips validation.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bootstrap import build_followers
from config.settings import Settings
from domain import commands as c
from domain.desk import Desk
from tests.factories import AGENT, HANDLER, FakeClock, act, receive
from tests.integration.views import database_url
from workers.projector import Follower, Projector

FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))


def _unchecked_intake(desk: Desk, content: str) -> Any:
    fields = {
        **AGENT,
        "kind": "complaint",
        "customer_name": "王建国",
        "phone": "13800138000",
        "category": "service_attitude",
        "content": content,
        "area": "urban",
        "station": "station_1",
    }
    return desk.handle(c.ReceiveTicket.model_construct(**fields))


def _far_crew(desk: Desk) -> Any:
    repair = receive(desk, kind="fault_repair", category="outage")
    act(desk, repair, "dispatch", owner="李四")
    fields = {**HANDLER, "ticket_id": repair.id, "crew": "抢修一班", "promised_arrival_at": FAR}
    return desk.handle(c.DispatchCrew.model_construct(**fields))


def _by_name(followers: list[Follower]) -> dict[str, Follower]:
    return {f.projection.name: f for f in followers}


def test_far_date_stops_only_the_timeline_and_is_recorded(desk: Desk, clock: FakeClock) -> None:
    settings = Settings(database_url=database_url(desk))
    receive(desk)
    _far_crew(desk)
    poison = desk.recorder.max_notification_id()
    receive(desk)  # after the poison: the other views must still get it
    head = desk.recorder.max_notification_id()

    projector = Projector(desk, build_followers(settings))
    projector.catch_up()

    views = _by_name(projector.followers)
    timeline = views.pop("ticket_timeline")
    assert timeline.failed is not None
    assert timeline.failed.notification_id == poison
    assert timeline.failed.event == "ServiceRequest.CrewDispatched"
    assert "OverflowError" in timeline.failed.error
    assert timeline.position == poison - 1  # everything before it is applied
    assert {name: f.position for name, f in views.items()} == dict.fromkeys(views, head)
    assert all(f.failed is None for f in views.values())
    # Recorded in the store: another process (``projections status``, /health) sees it ...
    recorded = timeline.store.failure()
    assert recorded is not None
    assert recorded.notification_id == poison
    # ... and a projector started afresh tries the event again, and stops there again.
    again = _by_name(Projector(desk, build_followers(settings)).followers)["ticket_timeline"]
    Projector(desk, [again]).catch_up()
    assert again.failed is not None
    assert again.failed.notification_id == poison
    assert again.position == poison - 1


@pytest.mark.postgres
def test_nul_in_a_text_stops_the_view_that_stores_it_as_json(
    pg_database: str, clock: FakeClock
) -> None:
    from tests.factories import clean_postgres, make_desk

    clean_postgres(pg_database)
    settings = Settings(database_url=pg_database)
    desk = make_desk(clock, settings.eventsourcing_env())
    try:
        receive(desk)
        before = desk.recorder.max_notification_id()
        _unchecked_intake(desk, "停电\u0000三天")
        after_poison = desk.recorder.max_notification_id()
        for _ in range(3):
            receive(desk)
        head = desk.recorder.max_notification_id()
        projector = Projector(desk, build_followers(settings), batch_size=50)
        projector.catch_up()
        views = _by_name(projector.followers)
        timeline = views.pop("ticket_timeline")
        failure = timeline.failed
        assert failure is not None
        # The intake recorded a customer and a ticket: the ticket's event holds the text.
        assert before < failure.notification_id <= after_poison
        assert failure.event == "Complaint.ComplaintReceived"
        assert "\\u0000 cannot be converted" in failure.error
        assert "停电" not in failure.error  # the customer's words stay out of the record
        assert timeline.position == failure.notification_id - 1
        assert {f.position for f in views.values()} == {head}
    finally:
        desk.close()


def test_a_fold_that_raises_stops_its_view_after_applying_what_came_before(
    desk: Desk, clock: FakeClock
) -> None:
    settings = Settings(database_url=database_url(desk))
    # Each intake records its customer, the ticket and the ticket's SLA binding.
    intakes = [receive(desk) for _ in range(4)]
    head = desk.recorder.max_notification_id()
    followers = build_followers(settings)
    worklists = _by_name(followers)["worklists"]
    fold = worklists.projection.fold
    calls: list[int] = []

    def broken(event: Any, rows: Any) -> None:
        calls.append(1)
        if len(calls) == 5:  # the second intake's ticket
            raise KeyError("a bug in the fold")
        fold(event, rows)

    worklists.projection.fold = broken  # type: ignore[method-assign]
    projector = Projector(desk, followers)
    projector.catch_up()
    assert worklists.failed is not None
    assert worklists.failed.notification_id == 5
    assert worklists.failed.error == "KeyError: 'a bug in the fold'"
    assert worklists.position == 4
    assert all(f.position == head for f in followers if f is not worklists)
    # The first ticket's row is there, and nothing of the later ones.
    rows = worklists.store.dump(worklists.projection.tables[0])
    assert [row["ticket_id"] for row in rows] == [str(intakes[0].id)]


def test_a_fold_that_meets_a_lost_connection_stops_no_view_and_the_retry_applies_all(
    desk: Desk, clock: FakeClock
) -> None:
    """A fold reads rows; the database going away under it is not the event's fault."""
    from eventsourcing.persistence import OperationalError

    settings = Settings(database_url=database_url(desk))
    intakes = [receive(desk) for _ in range(3)]
    head = desk.recorder.max_notification_id()
    followers = build_followers(settings)
    deadlines = _by_name(followers)["sla_deadlines"]
    fold = deadlines.projection.fold
    calls: list[int] = []

    def flaky(event: Any, rows: Any) -> None:
        calls.append(1)
        if len(calls) == 3:  # the first ticket's SLA binding
            raise OperationalError("consuming input failed: server closed the connection")
        fold(event, rows)

    deadlines.projection.fold = flaky  # type: ignore[method-assign]
    projector = Projector(desk, followers)
    with pytest.raises(OperationalError):
        projector.catch_up()
    assert deadlines.failed is None
    assert deadlines.store.failure() is None
    # The next pass (the supervisor's restart, or the loop's next turn) applies everything.
    projector.catch_up()
    assert all(f.failed is None for f in followers)
    assert all(f.position == head for f in followers)
    rows = deadlines.store.dump(deadlines.projection.tables[0])
    assert {row["ticket_id"] for row in rows} == {str(t.id) for t in intakes}


def test_a_view_gets_past_its_recorded_failure_once_the_event_can_be_applied(
    desk: Desk, clock: FakeClock
) -> None:
    settings = Settings(database_url=database_url(desk))
    for _ in range(3):
        receive(desk)
    followers = build_followers(settings)
    worklists = _by_name(followers)["worklists"]
    fold = worklists.projection.fold

    def broken(event: Any, rows: Any) -> None:
        raise ValueError("cannot")

    worklists.projection.fold = broken  # type: ignore[method-assign]
    Projector(desk, followers).catch_up()
    assert worklists.store.failure() is not None
    # Mended (a new release), the projector started again retries and clears the record.
    mended = _by_name(build_followers(settings))["worklists"]
    mended.projection.fold = fold  # type: ignore[method-assign]
    Projector(desk, [mended]).catch_up()
    assert mended.failed is None
    assert mended.store.failure() is None
    assert mended.position == desk.recorder.max_notification_id()


def test_health_names_the_stopped_view_and_the_event(desk: Desk, clock: FakeClock) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    settings = Settings(database_url=database_url(desk))
    receive(desk)
    _far_crew(desk)
    poison = desk.recorder.max_notification_id()
    receive(desk)
    head = desk.recorder.max_notification_id()
    with TestClient(create_app(settings, desk=desk, workers=False)) as client:
        client.app.state.runtime.catch_up()  # type: ignore[attr-defined]
        r = client.get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded"
    timeline = body["projections"].pop("ticket_timeline")
    assert timeline["state"] == "failed"
    assert timeline["position"] == poison - 1
    assert timeline["failure"]["notification_id"] == poison
    assert timeline["failure"]["event"] == "ServiceRequest.CrewDispatched"
    assert {v["state"] for v in body["projections"].values()} == {"running"}
    assert {v["position"] for v in body["projections"].values()} == {head}
