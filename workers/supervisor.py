"""Supervised worker threads: a loop that dies is logged, counted and started again.

A worker's loop (the projector's, the SLA clock's, the callback scheduler's) runs until its
stop event is set. When it raises instead — the database went away under it, its connection
was terminated, a bug — the supervisor records the error, waits (backoff: 0.2 s doubling up
to 1 s while the trouble is the database's, up to 30 s for anything else, so a bug does not
spin), runs the worker's ``restart`` hook (e.g. the projector re-reads its positions) and
starts the loop again. Its :class:`WorkerState` is what ``/health`` reports.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from workers.faults import error_text, is_transient

log = structlog.get_logger("casetrail.supervisor")

FIRST_DELAY = 0.2
MAX_DELAY_TRANSIENT = 1.0  # the database comes back: be there within a second
MAX_DELAY_OTHER = 30.0
HEALTHY_AFTER = 60.0  # a loop that ran this long before failing starts its backoff afresh


@dataclass
class WorkerState:
    """What a supervised worker is doing, for ``/health``."""

    name: str
    state: str = "starting"  # starting | running | restarting | stopped
    restarts: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "since": self.since,
        }

    def moved_to(self, state: str) -> None:
        self.state = state
        self.since = datetime.now(UTC)


class Supervised:
    """One worker loop in a daemon thread, restarted whenever it raises."""

    def __init__(
        self,
        name: str,
        loop: Callable[[threading.Event], None],
        stop: threading.Event,
        *,
        restart: Callable[[], None] | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.loop = loop
        self.stop = stop
        self.restart = restart
        self.wake = wake
        self.status = WorkerState(name)
        # The thread runs in a copy of its creator's context: log fields bound there (the
        # worker's name) stay on every line it logs.
        context = contextvars.copy_context()
        self.thread = threading.Thread(
            target=context.run, args=(self._main,), name=name, daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def _main(self) -> None:
        delay = FIRST_DELAY
        failed = False
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                if failed and self.restart is not None:
                    self.restart()  # before the loop runs again; if it fails, wait and retry
                failed = False
                self.status.moved_to("running")
                self.loop(self.stop)
                if self.stop.is_set():
                    break
                raise RuntimeError(f"worker {self.name} returned without being stopped")
            except Exception as error:
                failed = True
                if time.monotonic() - started > HEALTHY_AFTER:
                    delay = FIRST_DELAY
                transient = is_transient(error)
                self.status.restarts += 1
                self.status.last_error = error_text(error)[:500]
                self.status.last_error_at = datetime.now(UTC)
                self.status.moved_to("restarting")
                log.warning(
                    "worker failed; restarting",
                    worker=self.name,
                    in_seconds=round(delay, 2),
                    restarts=self.status.restarts,
                    error=self.status.last_error,
                    database=transient,
                    exc_info=not transient,  # a traceback only where the code may be at fault
                )
                if self.stop.wait(delay):
                    break
                delay = min(delay * 2, MAX_DELAY_TRANSIENT if transient else MAX_DELAY_OTHER)
        self.status.moved_to("stopped")
