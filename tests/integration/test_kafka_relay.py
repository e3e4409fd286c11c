"""Relay -> real Kafka-protocol broker -> a consumer group of Kafka-fed projectors -> views.

Given a month of hotline traffic in PostgreSQL and its views folded from the notification log,
when the relay publishes the log to the broker (and a second relay publishes all of it again,
as a relay that crashed before recording its position would), and two consumers of one group
fold the topic into the views, one of them dying mid-stream without committing its offsets,
then every view equals the one folded from the log: nothing lost, nothing applied twice.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from bootstrap import (
    build_desk,
    build_followers,
    build_kafka_projector,
    build_projector,
    build_relay,
    ensure_topic,
)
from cli.demo import run_demo
from config.settings import Settings
from domain.desk import Desk
from projections.core import digest_rows
from workers.relay import Relay

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
TICKETS = 150
WAIT = 90.0  # seconds: generous for group joins and a rebalance on a busy machine


@dataclass
class Month:
    settings: Settings
    desk: Desk
    events: int
    log_digests: dict[str, tuple[int, str]]


def _digests(settings: Settings, names: set[str]) -> dict[str, tuple[int, str]]:
    return {
        t.name: digest_rows(t, f.store.dump(t))
        for f in build_followers(settings)
        for t in f.projection.tables
        if t.name in names
    }


@pytest.fixture
def month(
    fresh_pg_url: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Month]:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=fresh_pg_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=f"casetrail.test.{tag}",
        kafka_group=f"casetrail.test.{tag}",
        kafka_partitions=4,
    )
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", fresh_pg_url)
    result = run_demo(
        Console(file=io.StringIO(), width=200),
        reset=False,
        tickets=TICKETS,
        seed=7,
        month="2026-10",
    )
    assert result.domain_errors == 0, result.error_messages[:5]
    desk = build_desk(settings)
    build_projector(desk, settings).catch_up()
    # Every view the topic can feed (not those fed from the log only: their rows combine
    # several tickets' events in log order; the topic orders each ticket's events only).
    fed = [f for f in build_followers(settings) if not f.projection.log_order_only]
    assert len(fed) < len(build_followers(settings))  # outages, account managers' worklists
    names = {t.name for f in fed for t in f.projection.tables}
    log_digests = _digests(settings, names)
    for follower in fed:
        follower.store.drop_tables()  # the Kafka-fed projector fills them again
    # Notification ids can skip (a refused insert still takes a number): count the events.
    events = len(desk.recorder.select_notifications(start=1, limit=10**9))
    yield Month(settings, desk, events, log_digests)
    desk.close()


class Member:
    """One consumer-group member folding in a thread of its own."""

    def __init__(self, desk: Desk, settings: Settings) -> None:
        self.projector = build_kafka_projector(desk, settings)
        self.stop = threading.Event()
        self.records = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                self.records += self.projector.poll_once(timeout_ms=4500)
        except BaseException as error:  # surfaced by the test
            self.error = error

    @property
    def assigned(self) -> set[int]:
        return {tp.partition for tp in self.projector.consumer.assignment()}

    def crash(self) -> None:
        """Die without committing what was polled last: its partitions go to the others."""
        self.stop.set()
        self.thread.join(timeout=30)
        self.projector.consumer.close(autocommit=False)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.projector.consumer.close(autocommit=False)


def _until(condition: Callable[[], bool], what: str, members: list[Member]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for m in members:
            if m.error is not None:
                raise AssertionError(f"a consumer failed: {m.error!r}") from m.error
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _applied_everywhere(settings: Settings, events: int) -> Callable[[], bool]:
    """Every view's applied-version table covers every aggregate's last version."""
    import psycopg

    def done() -> bool:
        with psycopg.connect(settings.postgres_conninfo) as conn:
            # Each view sees every aggregate; its versions add up to the event count.
            for name in ("ticket_timeline", "department_performance", "callback_plan"):
                found = conn.execute(
                    f'SELECT COALESCE(SUM(version), 0) FROM "{name}_applied"'
                ).fetchone()
                if found is None or found[0] != events:
                    return False
        return True

    return done


def _cli_status() -> str:
    from typer.testing import CliRunner

    from cli.main import app

    done = CliRunner().invoke(app, ["projections", "status"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    return done.output


def test_relayed_events_fold_into_the_same_views_as_the_log(month: Month) -> None:
    settings, desk, events = month.settings, month.desk, month.events
    a, b = Member(desk, settings), Member(desk, settings)
    members = [a, b]
    try:
        _until(
            lambda: a.assigned and b.assigned and a.assigned | b.assigned == {0, 1, 2, 3},
            "both members to share the four partitions",
            members,
        )
        assert a.assigned.isdisjoint(b.assigned)

        relay: Relay = build_relay(desk, settings, batch_size=300)
        half = relay.step() + relay.step()
        _until(lambda: a.records + b.records >= half, "the first batches to be consumed", members)
        b.crash()

        assert relay.catch_up() + half == events
        assert relay.position == desk.recorder.max_notification_id()
        assert relay.lag() == 0
        status = _cli_status()
        assert f"relay to Kafka: position {relay.position}, lag 0 events" in status
        # A relay that crashed before recording its position publishes everything again.
        again = build_relay(desk, settings, batch_size=1000, name="casetrail.relay.rerun")
        assert again.catch_up() == events

        _until(lambda: a.assigned == {0, 1, 2, 3}, "the survivor to take every partition", [a])
        _until(_applied_everywhere(settings, events), "every event to be applied", [a])
        # Every event is in the topic twice; b's last uncommitted poll comes to a again.
        _until(lambda: a.records + b.records >= 2 * events, "the repeats to be read", [a])
        a.close()

        skipped = [v.skipped for v in a.projector.views]
        assert min(skipped) >= events - b.records  # a's repeats were recognised, in every view
        kafka_digests = _digests(settings, set(month.log_digests))
        assert kafka_digests == month.log_digests
    finally:
        for m in members:
            m.stop.set()


def test_the_worker_commands_relay_and_fold_then_stop_on_sigterm(
    fresh_pg_url: str, kafka_bootstrap: str
) -> None:
    """`worker relay` + `worker kafka-projector` + `worker projector`, sharing out the views.

    The scaled deployment: two views fed from Kafka, one from the log, each by one process.
    """
    import json
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import psycopg

    from tests.factories import FakeClock, bulk_complaints, make_desk

    tag = uuid.uuid4().hex[:8]
    settings = Settings(database_url=fresh_pg_url)
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    bulk_complaints(desk, FakeClock(), 40)
    desk.close()
    env = {
        **os.environ,
        "CASETRAIL_DATABASE_URL": fresh_pg_url,
        "CASETRAIL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CASETRAIL_KAFKA_TOPIC": f"casetrail.cli.{tag}",
        "CASETRAIL_KAFKA_GROUP": f"casetrail.cli.{tag}",
    }
    root = Path(__file__).resolve().parents[2]

    def start(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker", *args],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    relay = start("relay")
    member = start("kafka-projector", "--views", "ticket_timeline,worklists")
    log_fed = start("projector", "--views", "sla_deadlines")
    try:

        def count(sql: str) -> int:
            with psycopg.connect(settings.postgres_conninfo) as conn:
                try:
                    found = conn.execute(sql).fetchone()
                except psycopg.errors.UndefinedTable:
                    return 0
            return found[0] if found else 0

        def heads() -> int:
            return count('SELECT count(*) FROM "ticket_timeline_heads"')

        def clocked() -> int:
            return count('SELECT count(DISTINCT ticket_id) FROM "sla_deadlines"')

        deadline = time.monotonic() + WAIT
        while (heads() < 40 or clocked() < 40) and time.monotonic() < deadline:
            assert relay.poll() is None, relay.communicate()[1].decode()[-2000:]
            assert member.poll() is None, member.communicate()[1].decode()[-2000:]
            assert log_fed.poll() is None, log_fed.communicate()[1].decode()[-2000:]
            time.sleep(0.5)
        assert heads() == 40
        assert clocked() == 40
    finally:
        for process in (relay, member, log_fed):
            process.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=60) for p in (relay, member, log_fed)]

    assert [relay.returncode, member.returncode, log_fed.returncode] == [0, 0, 0]
    logs = [
        json.loads(line)
        for _, err in outputs
        for line in err.decode().splitlines()
        if line.startswith("{")
    ]
    events = {entry["event"] for entry in logs}
    assert {"relayed", "applied", "relay stopped", "kafka projector stopped"} <= events
    applied = [e for e in logs if e["event"] == "applied"]
    assert sum(e["records"] for e in applied) >= 40 * 2  # each intake stores several events
    assert all(e["worker"] == "kafka-projector" for e in applied)
    with psycopg.connect(settings.postgres_conninfo) as conn:
        others = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'escalation_queue'"
        ).fetchone()
    assert others == (0,)  # only the chosen views were created


def test_a_member_carries_on_after_the_broker_comes_back_empty(fresh_pg_url: str) -> None:
    """Given views fed from a broker that then restarts empty (tansu memory storage), when the
    relay publishes new events into the new log, then the member folds them too (it does not
    wait beyond the old log end, where tansu never says OFFSET_OUT_OF_RANGE)."""
    import psycopg

    from tests.broker import start_tansu
    from tests.factories import FakeClock, bulk_complaints, make_desk

    broker, bootstrap = start_tansu()
    port = int(bootstrap.rsplit(":", 1)[1])
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=fresh_pg_url,
        kafka_bootstrap=bootstrap,
        kafka_topic=f"casetrail.restart.{tag}",
        kafka_group=f"casetrail.restart.{tag}",
    )
    clock = FakeClock()
    desk = make_desk(clock, env=settings.eventsourcing_env())

    def heads() -> int:
        with psycopg.connect(settings.postgres_conninfo) as conn:
            found = conn.execute('SELECT count(*) FROM "ticket_timeline_heads"').fetchone()
        return found[0] if found else 0

    member = build_kafka_projector(desk, settings, ["ticket_timeline"])
    try:
        bulk_complaints(desk, clock, 12)
        relay = build_relay(desk, settings)
        relay.catch_up()
        relay.producer.close()
        deadline = time.monotonic() + WAIT
        while heads() < 12 and time.monotonic() < deadline:
            member.poll_once(timeout_ms=1000)
        assert heads() == 12

        broker.terminate()
        broker.wait(timeout=10)
        broker, _ = start_tansu(port)  # same address, empty log, no groups, no offsets

        bulk_complaints(desk, clock, 3)
        relay = build_relay(desk, settings)  # creates the topic again
        assert relay.catch_up() == 3 * 6
        relay.producer.close()
        deadline = time.monotonic() + WAIT
        while heads() < 15 and time.monotonic() < deadline:
            member.poll_once(timeout_ms=1000)
        assert heads() == 15
    finally:
        member.consumer.close(autocommit=False)
        desk.close()
        broker.terminate()


def test_an_event_a_kafka_fed_view_cannot_store_stops_that_view_only(
    fresh_pg_url: str, kafka_bootstrap: str
) -> None:
    """Given a crew promised for 9999-12-31 -14:00 in the store (written before the API
    refused such instants), when a member folds the relayed topic, then the timeline stops at
    that event with the failure recorded, and the other views fold every event, later ones
    too."""
    import psycopg

    from tests.factories import FakeClock, make_desk, receive
    from tests.integration.test_poison_events import _far_crew

    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=fresh_pg_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=f"casetrail.poison.{tag}",
        kafka_group=f"casetrail.poison.{tag}",
        kafka_partitions=1,
    )
    clock = FakeClock()
    desk = make_desk(clock, env=settings.eventsourcing_env())
    views = ["ticket_timeline", "worklists"]
    # The one-partition topic first: a member subscribing to a topic that does not exist yet
    # has the broker make it with its default partitions, and then the tickets' events (keyed
    # by ticket) need not come in log order across tickets, which this test relies on.
    ensure_topic(settings)
    member = build_kafka_projector(desk, settings, views)
    try:
        receive(desk)
        _far_crew(desk)
        poison = desk.recorder.max_notification_id()
        last = receive(desk)
        relay = build_relay(desk, settings)
        relay.catch_up()
        relay.producer.close()

        def worklisted() -> bool:
            with psycopg.connect(settings.postgres_conninfo) as conn:
                found = conn.execute(
                    'SELECT count(*) FROM "worklists" WHERE ticket_id = %s', (str(last.id),)
                ).fetchone()
            return bool(found and found[0])

        deadline = time.monotonic() + WAIT
        while not worklisted() and time.monotonic() < deadline:
            member.poll_once(timeout_ms=1000)
        assert worklisted()  # the view after the poison has the last ticket
        timeline = next(f for f in member.followers if f.projection.name == "ticket_timeline")
        assert timeline.failed is not None
        assert timeline.failed.notification_id == poison
        assert "OverflowError" in timeline.failed.error
        recorded = timeline.store.failure()
        assert recorded is not None
        assert recorded.notification_id == poison
        with psycopg.connect(settings.postgres_conninfo) as conn:
            found = conn.execute(
                'SELECT count(*) FROM "ticket_timeline_heads" WHERE ticket_id = %s',
                (str(last.id),),
            ).fetchone()
        assert found == (0,)  # stopped: nothing after the poison
    finally:
        member.consumer.close(autocommit=False)
        desk.close()


def test_a_view_fed_from_the_log_only_is_refused_by_name(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'events.sqlite'}")
    with pytest.raises(ValueError, match=r"^outages: fed from the notification log only"):
        build_kafka_projector(None, settings, ["ticket_timeline", "outages"])
