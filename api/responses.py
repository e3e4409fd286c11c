"""JSON answers: every time in the hotline's zone, and the aggregate's version as ``ETag``."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.present import local
from api.runtime import Runtime


def as_json(
    runtime: Runtime,
    body: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """JSON with every time in the hotline's zone (ISO-8601 with its offset)."""
    content = jsonable_encoder(local(body, runtime.settings.tz))
    return JSONResponse(status_code=status, content=content, headers=headers)


def tagged(runtime: Runtime, body: dict[str, Any], version: int, status: int = 200) -> JSONResponse:
    """An aggregate's answer, with its version as ``ETag`` (the next ``If-Match``)."""
    return as_json(runtime, body, status, headers={"ETag": f'"{version}"'})
