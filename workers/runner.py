"""Run one worker in the foreground: ``casetrail worker <name>``.

Sets up JSON logging, stops cleanly on SIGTERM/SIGINT, builds the desk, the projector and the
chosen worker from settings, runs its loop in a supervised thread (restarted with backoff when
it raises: :mod:`workers.supervisor`), and wakes the worker when new events are recorded: on
PostgreSQL by LISTENing to the event table's channel (the store NOTIFYs on every insert); on
SQLite, which has no cross-process notification, by watching the head of the notification log.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

import structlog

from config.bootstrap import (
    build_desk,
    build_kafka_projector,
    build_projector,
    build_relay,
    system_clock,
)
from config.logging import configure
from config.settings import Settings
from projections.due_queries import SLA_TABLE, ViewQueries
from workers.callbacks import CallbackScheduler
from workers.sla_clock import FollowedViews, ProjectorViews, SlaClock
from workers.supervisor import Supervised

WORKERS = ("projector", "sla-clock", "callbacks", "relay", "kafka-projector")
CALLBACK_PLAN = "callback_plan"
SQLITE_WATCH_SECONDS = 0.5  # how often the SQLite head watcher looks (one indexed MAX query)

log = structlog.get_logger("casetrail.runner")


def _install_stop(stop: threading.Event, wake: Callable[[], None]) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()
        wake()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def watch_events(
    desk: Any, settings: Settings, stop: threading.Event, wake: Callable[[], None]
) -> threading.Thread:
    """A daemon thread that calls ``wake()`` whenever new events are recorded."""
    target = _listen_postgres if settings.backend == "postgres" else _watch_sqlite_head
    thread = threading.Thread(
        target=target, args=(desk, stop, wake), name="event-watcher", daemon=True
    )
    thread.start()
    return thread


def _listen_postgres(desk: Any, stop: threading.Event, wake: Callable[[], None]) -> None:
    from psycopg import sql

    recorder = desk.recorder
    while not stop.is_set():
        try:
            with recorder.datastore.get_connection() as conn:
                conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(recorder.channel_name)))
                conn.commit()
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        wake()
        except Exception:
            log.exception("event listener failed; reconnecting")
            stop.wait(1.0)


def _watch_sqlite_head(desk: Any, stop: threading.Event, wake: Callable[[], None]) -> None:
    head = desk.recorder.max_notification_id() or 0
    while not stop.wait(SQLITE_WATCH_SECONDS):
        try:
            now = desk.recorder.max_notification_id() or 0
        except Exception:
            log.exception("event watcher failed")
            continue
        if now != head:
            head = now
            wake()


def _supervise(
    name: str,
    loop: Callable[[threading.Event], None],
    stop: threading.Event,
    restart: Callable[[], None] | None = None,
) -> None:
    """Run ``loop`` in a supervised thread (restarted when it raises) until ``stop``."""
    worker = Supervised(name, loop, stop, restart=restart)
    worker.start()
    while worker.alive:
        worker.join(0.5)  # short joins: the main thread must stay free for signal handlers


def _run_kafka_worker(name: str, desk: Any, settings: Settings, views: list[str] | None) -> None:
    stop = threading.Event()
    if name == "relay":
        relay = build_relay(desk, settings)
        _install_stop(stop, relay.wakeup.set)
        watch_events(desk, settings, stop, relay.wakeup.set)
        try:
            _supervise("relay", relay.run, stop)
        finally:
            relay.producer.close()
        return
    member = build_kafka_projector(desk, settings, views)
    _install_stop(stop, lambda: None)  # the loop sees ``stop`` after its current poll
    try:
        _supervise("kafka-projector", member.run, stop)
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
        desk = build_desk(settings, clock=system_clock)
        try:
            _run_kafka_worker(name, desk, settings, only)
        finally:
            desk.close()
        return
    stop = threading.Event()
    desk = build_desk(settings, clock=system_clock)
    try:
        projector = build_projector(desk, settings, views=only if name == "projector" else None)
    except ValueError:
        desk.close()
        raise
    try:
        if name == "projector":
            _install_stop(stop, projector.wakeup.set)
            watch_events(desk, settings, stop, projector.wakeup.set)
            _supervise("projector", projector.run, stop, restart=projector.restart)
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
            worker = SlaClock(desk, views, queries, system_clock)
        else:
            worker = CallbackScheduler(desk, views, queries, system_clock)
        _install_stop(stop, worker.wake)
        watch_events(desk, settings, stop, worker.wake)
        _supervise(name, worker.run_forever, stop)
    finally:
        desk.close()
