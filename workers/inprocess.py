"""All workers in one process, for the embedded default (``casetrail serve``).

The projector, the SLA clock and the callback scheduler run as threads around one desk. They
share one projector through :class:`ProjectorViews` (one fold at a time, never twice), and
every save of the desk wakes them at once: no polling interval, no broker.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog

from config.bootstrap import build_projector, system_clock
from projections.due_queries import ViewQueries
from workers.callbacks import CallbackScheduler
from workers.sla_clock import ProjectorViews, SlaClock

log = structlog.get_logger("casetrail.inprocess")


class InProcessWorkers:
    """Projector, SLA clock and callback scheduler as threads of this process."""

    def __init__(self, desk: Any, settings: Any, *, idle_wait: float = 1.0) -> None:
        self.desk = desk
        self.stop = threading.Event()
        self.idle_wait = idle_wait
        self.projector = build_projector(desk, settings)
        self.views = ProjectorViews(self.projector)
        self.queries = ViewQueries.of(self.projector.followers)
        self.queries.ensure_indexes()
        self.sla_clock = SlaClock(desk, self.views, self.queries, system_clock)
        self.callbacks = CallbackScheduler(desk, self.views, self.queries, system_clock)
        self.threads: list[threading.Thread] = []
        previous = desk._notify

        def notify(recordings: Any) -> None:
            previous(recordings)
            self.wake()

        desk._notify = notify  # every save wakes every worker

    def wake(self) -> None:
        self.projector.wakeup.set()
        self.sla_clock.wake()
        self.callbacks.wake()

    def _project(self) -> None:
        while not self.stop.is_set():
            if not self.views.catch_up():
                self.projector.wakeup.wait(self.idle_wait)
                self.projector.wakeup.clear()

    def start(self) -> None:
        for name, target in (
            ("projector", self._project),
            ("sla-clock", lambda: self.sla_clock.run_forever(self.stop)),
            ("callbacks", lambda: self.callbacks.run_forever(self.stop)),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        log.info("workers started", workers=[t.name for t in self.threads])

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wake()
        for thread in self.threads:
            thread.join(timeout)
        log.info("workers stopped")
