"""How a worker process runs its loop: stop on SIGTERM/SIGINT, wake on new events, supervise.

:func:`install_stop` turns SIGTERM/SIGINT into a stop event; :func:`watch_events` wakes the
worker when new events are recorded — on PostgreSQL by LISTENing to the event table's channel
(the store NOTIFYs on every insert), on SQLite, which has no cross-process notification, by
watching the head of the notification log; :func:`supervise` runs the loop in a supervised
thread (restarted with backoff when it raises: :mod:`workers.supervisor`). What is built for
``casetrail worker <name>`` is the composition root's business (:mod:`bootstrap.run`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

import structlog

from config.settings import Settings
from workers.supervisor import Supervised

SQLITE_WATCH_SECONDS = 0.5  # how often the SQLite head watcher looks (one indexed MAX query)

log = structlog.get_logger("casetrail.runner")


def install_stop(stop: threading.Event, wake: Callable[[], None]) -> None:
    """SIGTERM and SIGINT set ``stop`` and call ``wake`` (the loop sees it at once)."""

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


def supervise(
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
