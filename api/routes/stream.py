"""Live updates for the thin client: Server-Sent Events whenever what pages show moved.

``EventSource`` cannot send an ``Authorization`` header, and a bearer token in a URL lands in
access logs, proxy logs and browser history. So a stream is opened in two steps:

1. ``POST /api/v1/stream/tickets`` with ``Authorization: Bearer <token>`` (any role, auditors
   too: a ticket changes nothing) -> 201 ``{"ticket": "<43 characters>", "expires_in": 30}``,
   ``Cache-Control: no-store``. The ticket is 32 random bytes (URL-safe base64), bound to the
   user who asked, good for one connection within 30 s (``api/stream_tickets.py``).
2. ``GET /api/v1/stream?ticket=<ticket>`` (``text/event-stream``). The ticket is used up by
   this request, whatever its outcome; an unknown, used or expired ticket -> 401
   ``unauthenticated`` (ask for a new one). A request that also carries a bearer token of
   another user -> 401. The stream runs as the ticket's user, who may hold at most
   ``CASETRAIL_MAX_STREAMS_PER_USER`` (5) streams at once: one more -> 429
   ``too_many_streams`` with ``Retry-After``. The slot is given back when the stream ends,
   however it ends (client gone, server stopping, store failing, connection cut).

The client (``CT.stream`` in ``api/static/app.js``) asks for a fresh ticket on every
(re)connection, since the browser's own reconnection would reuse a spent one: on an error it
closes the ``EventSource`` and opens a new one after a backoff (1 s doubling to 30 s, with
jitter). ``casetrail serve`` logs request paths without query values (``api/serving.py``), so
not even a spent ticket reaches the log.

The server sends one ``progress`` message ``{"head", "views", "versions"}`` on connect and
then whenever what a page shows moved, plus a comment line as a heartbeat so proxies keep the
connection open. Positions are counted in facts (``api/stream_positions.py``): a view's
position moves when a ticket, customer or callback fact reaches it, never because someone read
personal data (each unmasked read is recorded as an access event, and announcing those woke
every page, whose re-read recorded another: a loop). ``watch=<aggregate id>`` (up to
``WATCH_MAX``, repeated) asks for ``versions``: each watched aggregate's version on connect,
then the new version of any that moved; the ticket page watches its ticket and re-reads it only
when its version moved, the lists re-read when their view's position moved. The server checks
every ``POLL_SECONDS``, one read of the log for all streams. A stream ends when the client
disconnects, when the server stops (``runtime.guards.stopping``, looked at every
``STOP_CHECK_SECONDS``; a stop never waits on an open browser tab), or when the store cannot be
read (the client then reconnects with backoff).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from api.deps import Caller, Credentials, RuntimeDep
from api.errors import unauthenticated
from api.runtime import Runtime
from api.schemas import ERRORS, Problem
from api.stream_positions import LogWatch, Positions
from api.stream_tickets import Lease

log = structlog.get_logger("casetrail.api")
router = APIRouter(tags=["system"])
POLL_SECONDS = 0.5
STOP_CHECK_SECONDS = 0.1
WATCH_MAX = 20
HEARTBEAT_SECONDS = 15.0
RETRY_AFTER_SECONDS = 5
TICKET_MAX_LENGTH = 128  # a ticket is 43 characters; anything much longer is not one


class StreamTicketOut(BaseModel):
    """A single-use ticket for ``GET /api/v1/stream?ticket=``."""

    ticket: str = Field(description="32 random bytes, URL-safe base64; good for one stream")
    expires_in: int = Field(description="seconds left to open the stream with it", examples=[30])


_WATCH_LOCK = threading.Lock()


def _log_watch(request: Request, runtime: Runtime) -> LogWatch:
    """The app's one :class:`LogWatch`, made on the first stream (anew for a new desk)."""
    state = request.app.state
    with _WATCH_LOCK:
        watch: LogWatch | None = getattr(state, "log_watch", None)
        if watch is None or watch.recorder is not runtime.desk.recorder:
            followers = runtime.reader.followers

            def tracked() -> dict[str, int]:
                return {name: int(f.store.position() or 0) for name, f in followers.items()}

            # A little under the streams' own period, so each poll sees fresh positions.
            watch = LogWatch(runtime.desk.recorder, tracked, interval=POLL_SECONDS * 0.8)
            state.log_watch = watch
    return watch


def _next(
    watch: LogWatch, read: int | None, watched: set[str], sent: dict[str, int]
) -> tuple[Positions, dict[str, int]]:
    """Positions now, and the watched aggregates whose version moved past what was ``sent``."""
    positions, moved = watch.poll(read)
    if not watched:
        return positions, {}
    if moved is None:  # first poll, or what moved is no longer known: ask each
        now = {ident: watch.version(ident) for ident in sorted(watched)}
    else:
        now = {fact.aggregate_id: fact.version for fact in moved if fact.aggregate_id in watched}
    return positions, {i: v for i, v in now.items() if v is not None and v > sent.get(i, 0)}


async def _pause(stopping: threading.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less once the server is stopping."""
    until = time.monotonic() + seconds
    while not stopping.is_set() and (left := until - time.monotonic()) > 0:
        await asyncio.sleep(min(left, STOP_CHECK_SECONDS))


class _LeasedStream(StreamingResponse):
    """A stream that gives its user's slot back when it ends, even if it never started."""

    def __init__(self, content: AsyncIterator[str], lease: Lease, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.lease.release()


@router.post(
    "/stream/tickets",
    summary="A single-use ticket (30 s) to open the live stream with",
    status_code=201,
    response_model=StreamTicketOut,
    responses={401: ERRORS[401]},
)
def issue_ticket(user: Caller, runtime: RuntimeDep) -> JSONResponse:
    """A ticket for ``GET /stream?ticket=``: one use, within ``expires_in`` seconds."""
    # Caller, not CurrentUser: auditors may POST here too, a ticket changes nothing.
    tickets = runtime.guards.tickets
    body = {"ticket": tickets.issue(user), "expires_in": int(tickets.ttl_seconds)}
    return JSONResponse(status_code=201, content=body, headers={"Cache-Control": "no-store"})


@router.get(
    "/stream",
    summary="Server-Sent Events: a message whenever what the pages show moved",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "``progress`` events ``{head, views: {name: position}, "
            "versions: {aggregate id: version}}``",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        401: {"model": Problem, "description": "unknown, used or expired stream ticket"},
        422: ERRORS[422],
        429: {"model": Problem, "description": "too_many_streams: the user's limit is reached"},
    },
)
async def stream(
    request: Request,
    runtime: RuntimeDep,
    credentials: Credentials,
    ticket: Annotated[
        str,
        Query(
            min_length=1,
            max_length=TICKET_MAX_LENGTH,
            description="A ticket from POST /api/v1/stream/tickets (single use, 30 s)",
        ),
    ],
    watch: Annotated[
        list[UUID] | None,
        Query(
            max_length=WATCH_MAX,
            description="Aggregates (tickets) whose version to report in ``versions``: on "
            f"connect, then whenever one moves (at most {WATCH_MAX}; repeat the parameter)",
        ),
    ] = None,
) -> Response:
    """``text/event-stream`` of ``progress`` events ``{"head", "views", "versions"}``.

    ``head``: the log position of the newest fact (access records aside); ``views``: each
    view's position in facts (it moves when a fact reaches the view, not when someone reads);
    ``versions``: the watched aggregates' versions, all on connect, then those that moved.
    """
    user = runtime.guards.tickets.redeem(ticket)
    if user is None:
        raise unauthenticated(
            "unknown, used or expired stream ticket: a ticket opens one stream within "
            "30 s; ask POST /api/v1/stream/tickets for a new one"
        )
    if credentials is not None:
        caller = runtime.users.by_token(credentials.credentials)
        if caller is None or caller.id != user.id:
            raise unauthenticated("this stream ticket was issued to another user")
    limit = runtime.settings.max_streams_per_user
    lease = runtime.guards.streams.acquire(user.id, limit)
    if lease is None:
        return JSONResponse(
            status_code=429,
            content={
                "code": "too_many_streams",
                "message": f"{user.id} has {limit} live streams open already (the most one "
                "user may hold: CASETRAIL_MAX_STREAMS_PER_USER); close one and try again",
            },
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    stopping = runtime.guards.stopping
    log_watch = _log_watch(request, runtime)
    watched = {str(ident) for ident in watch or ()}

    async def events() -> AsyncIterator[str]:
        views: dict[str, int] | None = None
        sent: dict[str, int] = {}
        read: int | None = None
        quiet_since = time.monotonic()
        try:
            yield "retry: 2000\n\n"
            while not stopping.is_set() and not await request.is_disconnected():
                try:
                    positions, versions = await run_in_threadpool(
                        _next, log_watch, read, watched, sent
                    )
                except Exception as exc:
                    # Mid-stream no status can be sent: end it, the client comes back later.
                    log.warning("stream ended: positions unreadable", user=user.id, error=repr(exc))
                    return
                read = positions.read
                if positions.views != views or versions:
                    views = positions.views
                    sent.update(versions)
                    quiet_since = time.monotonic()
                    body = {"head": positions.head, "views": views, "versions": versions}
                    yield f"event: progress\ndata: {json.dumps(body)}\n\n"
                elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                    quiet_since = time.monotonic()
                    yield ": heartbeat\n\n"
                await _pause(stopping, POLL_SECONDS)
        finally:
            lease.release()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return _LeasedStream(events(), lease, media_type="text/event-stream", headers=headers)
