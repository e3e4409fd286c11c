"""All workers in one process, for the embedded default (``casetrail serve``).

The projector, the SLA clock and the callback scheduler run as supervised threads around one
desk (:mod:`workers.supervisor`: a loop that dies is restarted with backoff). They share one
projector through :class:`ProjectorViews` (one fold at a time, never twice), and every save of
the desk wakes them at once: no polling interval, no broker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from projections.due_queries import ViewQueries
from workers.callbacks import CallbackPlanConfig, CallbackScheduler
from workers.sla_clock import BACKFILL_GRACE, ProjectorViews, SlaClock
from workers.supervisor import Supervised

log = structlog.get_logger("casetrail.inprocess")


class InProcessWorkers:
    """Projector, SLA clock and callback scheduler as supervised threads of this process."""

    def __init__(
        self,
        desk: Any,
        projector: Any,
        clock: Callable[[], datetime],
        *,
        idle_wait: float = 1.0,
        plan: CallbackPlanConfig | None = None,
        backfill_grace: timedelta = BACKFILL_GRACE,
    ) -> None:
        self.desk = desk
        self.stop = threading.Event()
        self.idle_wait = idle_wait
        self.projector = projector
        self.views = ProjectorViews(self.projector)
        self.queries = ViewQueries.of(self.projector.followers)
        self.queries.ensure_indexes()
        self.sla_clock = SlaClock(
            desk, self.views, self.queries, clock, backfill_grace=backfill_grace
        )
        self.callbacks = CallbackScheduler(desk, self.views, self.queries, clock, plan=plan)
        self.supervised = [
            Supervised("projector", self._project, self.stop, restart=self._restart_projector),
            Supervised("sla-clock", self.sla_clock.run_forever, self.stop),
            Supervised("callbacks", self.callbacks.run_forever, self.stop),
        ]
        previous = desk._notify

        def notify(recordings: Any) -> None:
            previous(recordings)
            self.wake()

        desk._notify = notify  # every save wakes every worker

    def wake(self) -> None:
        self.projector.wakeup.set()
        self.sla_clock.wake()
        self.callbacks.wake()

    def _project(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self.views.catch_up():
                self.projector.wakeup.wait(self.idle_wait)
                self.projector.wakeup.clear()

    def _restart_projector(self) -> None:
        """Trust nothing the projector held in memory: positions and tables as stored now."""
        with self.views.lock:
            self.projector.restart()
        self.queries.ensure_indexes()

    def start(self) -> None:
        for worker in self.supervised:
            worker.start()
        log.info("workers started", workers=[w.name for w in self.supervised])

    def states(self) -> dict[str, dict[str, Any]]:
        """Each worker's supervised state (``/health``)."""
        return {w.name: w.status.as_dict() for w in self.supervised}

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wake()
        for worker in self.supervised:
            worker.join(timeout)
        log.info("workers stopped")
