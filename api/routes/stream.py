"""Live updates for the thin client: Server-Sent Events whenever the views move.

``GET /api/v1/stream?token=...``: ``EventSource`` cannot send an ``Authorization`` header, so
this route alone takes the bearer token as a query parameter (checked against the same users
file). The server polls the event log's head and every view's tracking position every
``POLL_SECONDS`` and sends one ``progress`` message whenever any of them moved (and once on
connect), plus a comment line as a heartbeat so proxies keep the connection open. The client
reacts by re-reading the views it shows.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.errors import unauthenticated
from api.params import RuntimeDep
from api.runtime import Runtime

router = APIRouter(tags=["system"])
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0


def _positions(runtime: Runtime) -> dict[str, Any]:
    reader = runtime.reader
    views = {name: reader.progress(name)["position"] for name in sorted(reader.followers)}
    head = int(runtime.desk.recorder.max_notification_id() or 0)
    return {"head": head, "views": views}


@router.get("/stream", summary="Server-Sent Events: a message whenever the views move")
async def stream(
    request: Request,
    runtime: RuntimeDep,
    token: str = Query(description="The bearer token (EventSource cannot send headers)"),
) -> StreamingResponse:
    """``text/event-stream`` of ``progress`` events ``{"head": n, "views": {name: position}}``."""
    user = runtime.users.by_token(token)
    if user is None:
        raise unauthenticated("unknown bearer token")

    async def events() -> AsyncIterator[str]:
        last: dict[str, Any] | None = None
        quiet_since = time.monotonic()
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            current = await run_in_threadpool(_positions, runtime)
            if current != last:
                last = current
                quiet_since = time.monotonic()
                yield f"event: progress\ndata: {json.dumps(current)}\n\n"
            elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                quiet_since = time.monotonic()
                yield ": heartbeat\n\n"
            await asyncio.sleep(POLL_SECONDS)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
