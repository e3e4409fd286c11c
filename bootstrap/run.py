"""``casetrail worker <name>``: build one worker from settings and run it in the foreground.

Sets up JSON logging, builds the desk, the projector and the chosen worker, and runs its loop
with :mod:`workers.runner` (stop on SIGTERM/SIGINT, woken by new events, supervised).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import structlog

from bootstrap import build_desk, build_kafka_projector, build_projector, build_relay, system_clock
from bootstrap.data import callback_plan_of
from config.logging import configure
from config.settings import Settings
from projections.due_queries import SLA_TABLE, ViewQueries
from workers.callbacks import CallbackScheduler
from workers.runner import install_stop, supervise, watch_events
from workers.sla_clock import FollowedViews, ProjectorViews, SlaClock

WORKERS = ("projector", "sla-clock", "callbacks", "relay", "kafka-projector")
CALLBACK_PLAN = "callback_plan"


def _run_kafka_worker(name: str, desk: Any, settings: Settings, views: list[str] | None) -> None:
    stop = threading.Event()
    if name == "relay":
        relay = build_relay(desk, settings)
        install_stop(stop, relay.wakeup.set)
        watch_events(desk, settings, stop, relay.wakeup.set)
        try:
            supervise("relay", relay.run, stop)
        finally:
            relay.producer.close()
        return
    member = build_kafka_projector(desk, settings, views)
    install_stop(stop, lambda: None)  # the loop sees ``stop`` after its current poll
    try:
        supervise("kafka-projector", member.run, stop)
    finally:
        member.consumer.close()  # leave the group: the others take the partitions at once


def run_worker(
    name: str,
    settings: Settings | None = None,
    *,
    project: bool = False,
    only: list[str] | None = None,
) -> None:
    """Build and run the named worker until SIGTERM/SIGINT.

    The SLA clock and the callback scheduler read views that the projector worker maintains
    (they wait for it to reach the log head they saw). With ``project=True`` they run their own
    projector instead: for a store with no projector worker. Never both at once: two projectors
    on the same views would apply events twice.

    ``relay`` and ``kafka-projector`` are the scaled deployment's pair (DESIGN.md §5): the
    first publishes the store to Kafka, the second is one consumer-group member folding the
    topic into the views. ``only`` (``--views``) limits ``projector`` and ``kafka-projector``
    to some views, so the two can share the work: each view is fed by one of them, never both.
    """
    if name not in WORKERS:
        raise ValueError(f"unknown worker {name!r}; choose one of {', '.join(WORKERS)}")
    settings = settings or Settings()
    configure(json=settings.log_json, level=settings.log_level)
    structlog.contextvars.bind_contextvars(worker=name)
    if name in ("relay", "kafka-projector"):
        desk = build_desk(settings)
        try:
            _run_kafka_worker(name, desk, settings, only)
        finally:
            desk.close()
        return
    stop = threading.Event()
    desk = build_desk(settings)
    try:
        projector = build_projector(desk, settings, views=only if name == "projector" else None)
    except ValueError:
        desk.close()
        raise
    try:
        if name == "projector":
            install_stop(stop, projector.wakeup.set)
            watch_events(desk, settings, stop, projector.wakeup.set)
            supervise("projector", projector.run, stop, restart=projector.restart)
            return
        queries = ViewQueries.of(projector.followers)
        needs = SLA_TABLE if name == "sla-clock" else CALLBACK_PLAN
        views: ProjectorViews | FollowedViews
        if project:
            views = ProjectorViews(projector)
        else:
            mine = [f for f in projector.followers if f.projection.name == needs]
            views = FollowedViews(desk, mine or projector.followers)
        worker: SlaClock | CallbackScheduler
        if name == "sla-clock":
            queries.ensure_indexes()
            grace = timedelta(seconds=settings.sla_backfill_grace_seconds)
            worker = SlaClock(desk, views, queries, system_clock, backfill_grace=grace)
        else:
            plan = callback_plan_of(settings)
            worker = CallbackScheduler(desk, views, queries, system_clock, plan=plan)
        install_stop(stop, worker.wake)
        watch_events(desk, settings, stop, worker.wake)
        supervise(name, worker.run_forever, stop)
    finally:
        desk.close()
