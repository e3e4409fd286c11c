"""Live updates for the thin client: Server-Sent Events whenever the views move.

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

The server polls the event log's head and every view's tracking position every
``POLL_SECONDS`` and sends one ``progress`` message whenever any of them moved (and once on
connect), plus a comment line as a heartbeat so proxies keep the connection open. The client
reacts by re-reading the views it shows. A stream ends when the client disconnects, when the
server stops (``runtime.guards.stopping``; a stop never waits on an open browser tab), or when
the store cannot be read (the client then reconnects with backoff).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

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
from api.stream_tickets import Lease

log = structlog.get_logger("casetrail.api")
router = APIRouter(tags=["system"])
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
RETRY_AFTER_SECONDS = 5
TICKET_MAX_LENGTH = 128  # a ticket is 43 characters; anything much longer is not one


class StreamTicketOut(BaseModel):
    """A single-use ticket for ``GET /api/v1/stream?ticket=``."""

    ticket: str = Field(description="32 random bytes, URL-safe base64; good for one stream")
    expires_in: int = Field(description="seconds left to open the stream with it", examples=[30])


def _positions(runtime: Runtime) -> dict[str, Any]:
    reader = runtime.reader
    views = {name: reader.progress(name)["position"] for name in sorted(reader.followers)}
    head = int(runtime.desk.recorder.max_notification_id() or 0)
    return {"head": head, "views": views}


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
    summary="Server-Sent Events: a message whenever the views move",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "``progress`` events ``{head, views: {name: position}}``",
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
) -> Response:
    """``text/event-stream`` of ``progress`` events ``{"head": n, "views": {name: position}}``."""
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

    async def events() -> AsyncIterator[str]:
        last: dict[str, Any] | None = None
        quiet_since = time.monotonic()
        try:
            yield "retry: 2000\n\n"
            while not stopping.is_set() and not await request.is_disconnected():
                try:
                    current = await run_in_threadpool(_positions, runtime)
                except Exception as exc:
                    # Mid-stream no status can be sent: end it, the client comes back later.
                    log.warning("stream ended: positions unreadable", user=user.id, error=repr(exc))
                    return
                if current != last:
                    last = current
                    quiet_since = time.monotonic()
                    yield f"event: progress\ndata: {json.dumps(current)}\n\n"
                elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                    quiet_since = time.monotonic()
                    yield ": heartbeat\n\n"
                await asyncio.sleep(POLL_SECONDS)
        finally:
            lease.release()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return _LeasedStream(events(), lease, media_type="text/event-stream", headers=headers)
