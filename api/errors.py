"""Errors as HTTP: one status and one stable ``code`` per failure, JSON always, no stack trace.

| failure | status | code |
|---|---|---|
| missing, malformed or unknown bearer token | 401 | ``unauthenticated`` |
| the user's role or department may not do this | 403 | ``forbidden`` |
| an auditor tries to change anything | 403 | ``read_only_role`` |
| ticket, callback, customer or route not found | 404 | ``not_found`` (``unknown_action``) |
| ``IllegalTransition`` / ``InvariantViolated`` / ``ClockError`` | 409 | the domain's code |
| ``VersionConflict`` (stale ``If-Match``, lost race) | 409 | ``version_conflict`` |
| request body is not UTF-8 JSON at all | 400 | ``malformed_body`` |
| request body, query, path or header does not validate | 422 | ``invalid_input`` |
| ``InvalidValue`` / ``UnknownDepartment`` / ``PolicyNotFound`` / ... | 422 | the domain's code |
| ``Idempotency-Key`` reused for a different request | 422 | ``idempotency_key_reused`` |
| body over ``CASETRAIL_MAX_BODY_BYTES`` (``api/limits.py``) | 413 | ``payload_too_large`` |
| store not answering: refused, lost, pool timeout, SQLite locked | 503 | ``database_unavailable`` |
| a statement or lock timeout, a deadlock | 503 | ``database_busy`` |
| the store's tables are missing (database re-created) | 503 | ``schema_missing`` |
| anything else | 500 | ``internal_error`` (logged with its traceback server-side) |

Every body has ``code`` and ``message``; domain errors add their details (``ticket``,
``state``, ``action``, ...); validation errors add ``errors: [{field, in, message, type}]``
and never repeat the refused value. Every 503 carries ``Retry-After: 2``.

Database faults are recognised by :func:`database_fault` through the whole chain of causes:
the eventsourcing library wraps psycopg's and sqlite3's errors in its own (``OperationalError``,
``ProgrammingError``, ...) with the driver's error as ``__cause__``, and only the driver's
class says whether a statement timed out or a table is missing.
"""

from __future__ import annotations

import json
import re
import sqlite3
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import structlog
from eventsourcing import persistence as store
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
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
    400: "malformed_body",  # FastAPI's answer to a body that is not UTF-8 JSON
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
RETRY_AFTER_SECONDS = 2
DATABASE_UNAVAILABLE = (
    "database_unavailable",
    "the event store is not answering; try again shortly",
)
DATABASE_BUSY = (
    "database_busy",
    "the event store is busy (a statement or lock wait timed out); try again shortly",
)
SCHEMA_MISSING = (
    "schema_missing",
    "the store's tables are missing: restart casetrail or run a command that creates them",
)
_BUSY = (
    psycopg.errors.QueryCanceled,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.DeadlockDetected,
)
_UNAVAILABLE = (
    PoolTimeout,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    store.OperationalError,
    store.InterfaceError,
)
# A field name taken from the request (an unknown key) is shown cut and without controls.
_FIELD_MAX = 100
_CONTROL = re.compile("[\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff]")


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


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it (``__cause__``, else ``__context__``), and so on."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        hidden = current.__suppress_context__
        current = current.__cause__ or (None if hidden else current.__context__)


def _missing_table(error: BaseException) -> bool:
    text = str(error)
    # The insert function goes with the tables when a database is dropped and made anew.
    undefined = (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction)
    return isinstance(error, undefined) or (
        isinstance(error, (store.ProgrammingError, store.OperationalError, sqlite3.Error))
        and (("relation" in text and "does not exist" in text) or "no such table" in text)
    )


def database_fault(exc: BaseException) -> tuple[str, str] | None:
    """``(code, message)`` when ``exc`` means the database cannot answer now, else None.

    The most specific reading wins: a timeout, then a missing table, then SQLite's own error
    (only a locked or unopenable file is a fault; anything else is a bug and stays a 500),
    then any connection-level failure.
    """
    chain = list(_causes(exc))
    if any(isinstance(err, _BUSY) for err in chain):
        return DATABASE_BUSY
    if any(_missing_table(err) for err in chain):
        return SCHEMA_MISSING
    lite = next((err for err in chain if isinstance(err, sqlite3.Error)), None)
    if lite is not None:
        text = str(lite)
        locked = "database is locked" in text or "unable to open database file" in text
        down = isinstance(lite, sqlite3.OperationalError) and locked
        return DATABASE_UNAVAILABLE if down else None
    if any(isinstance(err, TypeError) for err in chain):
        return None  # eventsourcing's sqlite module wraps a TypeError in its InterfaceError
    if any(isinstance(err, _UNAVAILABLE) for err in chain):
        return DATABASE_UNAVAILABLE
    return None


def database_response(fault: tuple[str, str]) -> JSONResponse:
    code, message = fault
    return JSONResponse(
        status_code=503,
        content={"code": code, "message": message},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
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
        field = _field_name(".".join(loc)) or where
        if field in _HEADER_FIELDS:
            where, field = "header", _HEADER_FIELDS[field]
        out.append({"field": field, "in": where, "message": err["msg"], "type": err["type"]})
    return out


def _field_name(text: str) -> str:
    """A field's name as the client may have sent it (an unknown key): no controls, cut."""
    clean = _CONTROL.sub("?", text)
    return clean if len(clean) <= _FIELD_MAX else clean[: _FIELD_MAX - 3] + "..."


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
    """Last line: a database fault becomes a 503 (:func:`database_fault`), anything else
    unexpected a 500 ``internal_error``, traceback logged.

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
            fault = database_fault(exc)
            if fault is not None:
                log.warning(
                    "database fault",
                    method=scope.get("method"),
                    path=scope.get("path"),
                    code=fault[0],
                    error=repr(exc),
                )
                if started:
                    raise
                await database_response(fault)(scope, receive, send)
                return
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
