"""What ``/health`` answers, within a second whatever the database does, and the outage gate.

:class:`HealthProbe` reads the event log's head and every view's position and failure record
in a thread of its own and waits for it at most ``deadline`` seconds: a database that hangs
or is gone makes the answer say so (``database.state``), never makes it hang. Worker threads'
states come from their supervisors (memory), so they are always there.

:class:`DatabaseGate` is a circuit breaker for PostgreSQL outages. The first request that
meets a connection failure closes the gate: from then on requests under ``/api/v1`` get an
immediate 503 ``database_unavailable`` with ``Retry-After`` (instead of each waiting for its
own connection attempts and tying up a server thread), while one probe thread tries the
database every ``PROBE_SECONDS``. When it answers and the event table is there, the gate
opens again: requests go through within ``PROBE_SECONDS`` of the database coming back, with
no restart. A database that answers but has lost its tables (dropped and re-created) keeps the
gate closed with 503 ``schema_missing`` until the tables exist again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("casetrail.health")

PROBE_SECONDS = 0.25
RETRY_AFTER_SECONDS = 2
HEALTH_DEADLINE = 0.8


class DatabaseGate:
    """Open while the database answers; closed (503 at once) from a failure until it does."""

    def __init__(self, conninfo: str | None, events_table: str) -> None:
        self.conninfo = conninfo  # None (SQLite): the gate never closes
        self.events_table = events_table
        self.code: str | None = None  # None: open; else why it is closed
        self.since: datetime | None = None
        self._lock = threading.Lock()
        self._probing = False
        self.stopped = threading.Event()

    @property
    def open(self) -> bool:
        return self.code is None

    def suspect(self) -> None:
        """A request got a 503: ask the database at once (in a thread), close if it is gone."""
        if self.conninfo is None:
            return
        with self._lock:
            if self._probing:
                return
            self._probing = True
        threading.Thread(target=self._probe, name="database-probe", daemon=True).start()

    def check(self) -> str | None:
        """Ask the database now: None when it answers with its tables, else the gate's code."""
        if self.conninfo is None:
            return None
        try:
            with psycopg.connect(self.conninfo, connect_timeout=1, autocommit=True) as conn:
                found = conn.execute("SELECT to_regclass(%s)", (self.events_table,)).fetchone()
        except psycopg.Error:
            return "database_unavailable"
        return None if found and found[0] is not None else "schema_missing"

    def _probe(self) -> None:
        """Check until the database answers; the gate is closed meanwhile."""
        try:
            while True:
                code = self.check()
                with self._lock:
                    if code is None:
                        if self.since is not None:
                            down = (datetime.now(UTC) - self.since).total_seconds()
                            log.info("database answers again", down_seconds=round(down, 2))
                        self.code = self.since = None
                        return
                    if self.code is None:
                        self.since = datetime.now(UTC)
                        log.warning("database unreachable: 503 until it is back", code=code)
                    self.code = code
                if self.stopped.wait(PROBE_SECONDS):
                    return
        finally:
            with self._lock:
                self._probing = False

    def as_dict(self) -> dict[str, Any]:
        return {"state": "up" if self.open else "down", "code": self.code, "since": self.since}


class GateMiddleware:
    """Answers 503 at once for ``/api/v1`` (but ``/health``) while the gate is closed, and
    has the gate look at the database whenever a request was answered with a 503."""

    def __init__(self, app: ASGIApp, gate: Callable[[], DatabaseGate | None]) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate() if scope["type"] == "http" else None
        if gate is None:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if not gate.open and "/api/" in path and not path.endswith("/health"):
            code = gate.code or "database_unavailable"
            message = (
                "the event store's tables are missing: restart casetrail or run a command "
                "that creates them"
                if code == "schema_missing"
                else "the event store is not answering; try again shortly"
            )
            response = JSONResponse(
                status_code=503,
                content={"code": code, "message": message},
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await response(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 503:
                gate.suspect()
            await send(message)

        await self.app(scope, receive, sending)


class HealthProbe:
    """Reads the log's head and the views' progress within a deadline, in its own thread."""

    def __init__(self, desk: Any, followers: dict[str, Any], deadline: float = HEALTH_DEADLINE):
        self.desk = desk
        self.followers = followers
        self.deadline = deadline
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="health-probe")
        self._pending: Future[dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self.last: dict[str, Any] | None = None  # the last complete reading

    async def aread(self) -> tuple[dict[str, Any] | None, str | None]:
        """(reading, None), or (the last reading or None, why there is no fresh one).

        Waits at most ``deadline`` seconds, without blocking the event loop or taking a
        server thread; a reading still running is awaited again, never started twice.
        """
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = self._pool.submit(self._read)
            pending = self._pending
        waiting = asyncio.wrap_future(pending)
        done, _ = await asyncio.wait({waiting}, timeout=self.deadline)
        if not done:
            return self.last, f"the database did not answer within {self.deadline:.1f} s"
        try:
            reading = waiting.result()
        except Exception as error:
            first = (str(error).splitlines() or [""])[0]
            return self.last, f"{type(error).__name__}: {first[:300]}"
        self.last = reading
        return reading, None

    def _read(self) -> dict[str, Any]:
        head = int(self.desk.recorder.max_notification_id() or 0)
        views = {}
        for name in sorted(self.followers):
            follower = self.followers[name]
            position = int(follower.store.position() or 0)
            failure = follower.failed or follower.store.failure()
            views[name] = {
                "position": position,
                "head": head,
                "lag": max(head - position, 0),
                "state": "failed" if failure is not None else "running",
                "failure": None if failure is None else failure.as_dict(),
            }
        return {"head": head, "projections": views, "read_at": datetime.now(UTC)}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
