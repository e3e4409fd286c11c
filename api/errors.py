"""Errors as HTTP: one status and one stable ``code`` per failure, JSON always, no stack trace.

| failure | status | code |
|---|---|---|
| missing, malformed or unknown bearer token | 401 | ``unauthenticated`` |
| the user's role or department may not do this | 403 | ``forbidden`` |
| an auditor tries to change anything | 403 | ``read_only_role`` |
| ticket, callback, customer or route not found | 404 | ``not_found`` (``unknown_action``) |
| ``IllegalTransition`` / ``InvariantViolated`` / ``ClockError`` | 409 | the domain's code |
| ``VersionConflict`` (stale ``If-Match``, lost race) | 409 | ``version_conflict`` |
| request body, query, path or header does not validate | 422 | ``invalid_input`` |
| ``InvalidValue`` / ``UnknownDepartment`` / ``PolicyNotFound`` / ... | 422 | the domain's code |
| ``Idempotency-Key`` reused for a different request | 422 | ``idempotency_key_reused`` |
| anything else | 500 | ``internal_error`` (logged with its traceback server-side) |

Every body has ``code`` and ``message``; domain errors add their details (``ticket``,
``state``, ``action``, ...); validation errors add ``errors: [{field, in, message, type}]``.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain import errors as e

log = structlog.get_logger("casetrail.api")

STATUS_OF: dict[type[e.DomainError], int] = {
    e.IllegalTransition: 409,
    e.InvariantViolated: 409,
    e.ClockError: 409,
    e.VersionConflict: 409,
    e.NotFound: 404,
    e.InvalidValue: 422,
    e.UnknownDepartment: 422,
    e.PolicyNotFound: 422,
    e.AmbiguousPolicy: 422,
    e.CalendarError: 422,
}
# Command fields that come from headers, named as the client sent them.
_HEADER_FIELDS = {"expected_version": "If-Match", "command_id": "Idempotency-Key"}
_HTTP_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """A refusal decided by the API layer (auth, idempotency, query parsing)."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message)


def forbidden(message: str, code: str = "forbidden") -> ApiError:
    return ApiError(403, code, message)


def invalid_input(field: str, message: str, where: str = "query") -> ApiError:
    return ApiError(
        422,
        "invalid_input",
        f"{field}: {message}",
        errors=[{"field": field, "in": where, "message": message, "type": "value_error"}],
    )


def status_of(error: e.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 422


def domain_body(error: e.DomainError) -> dict[str, Any]:
    body = _jsonable(error.as_dict())
    if isinstance(error, e.InvalidValue):
        field = str(error.details.get("field", ""))
        body["errors"] = [
            {"field": field, "in": "body", "message": error.message, "type": error.code}
        ]
    return body


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """Details as JSON (domain errors may carry ids and times)."""
    loaded: dict[str, Any] = json.loads(json.dumps(value, default=str, ensure_ascii=False))
    return loaded


def field_errors(errors: Sequence[Any], *, from_request: bool) -> list[dict[str, str]]:
    """pydantic's errors as ``{field, in, message, type}``; no input values are echoed."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        where = "body"
        if from_request and loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            where, loc = loc[0], loc[1:]
        field = ".".join(loc) or where
        if field in _HEADER_FIELDS:
            where, field = "header", _HEADER_FIELDS[field]
        out.append({"field": field, "in": where, "message": err["msg"], "type": err["type"]})
    return out


def _invalid(errors: list[dict[str, str]]) -> JSONResponse:
    summary = "; ".join(f"{x['field']}: {x['message']}" for x in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return JSONResponse(
        status_code=422,
        content={"code": "invalid_input", "message": summary + more, "errors": errors},
    )


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": 'Bearer realm="casetrail"'} if exc.status == 401 else None
    return JSONResponse(status_code=exc.status, content=exc.body(), headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.DomainError)
    return JSONResponse(status_code=status_of(exc), content=domain_body(exc))


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _invalid(field_errors(exc.errors(), from_request=True))


async def _model_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return _invalid(field_errors(exc.errors(), from_request=False))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404:
        message = f"no such resource: {request.method} {request.url.path}"
    return JSONResponse(
        status_code=exc.status_code,
        content={"code": code, "message": message},
        headers=getattr(exc, "headers", None),
    )


class CatchAll:
    """Last line: an unexpected exception becomes a 500 ``internal_error``, traceback logged.

    A plain ASGI middleware (not an exception handler) so the error is not re-raised into
    the server after the response, and no traceback ever reaches the client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            # The traceback as plain text: cheap, and never rendered with frame locals.
            log.error(
                "request failed",
                method=scope.get("method"),
                path=scope.get("path"),
                error=repr(exc),
                traceback=traceback.format_exc(),
            )
            if started:
                raise
            response = JSONResponse(
                status_code=500,
                content={"code": "internal_error", "message": "internal error; it was logged"},
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(e.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(ValidationError, _model_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(CatchAll)
