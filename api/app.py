"""The casetrail HTTP API (FastAPI): JSON under ``/api/v1``, OpenAPI at ``/openapi.json``.

:func:`create_app` is the API's composition: it takes settings (and, for tests, a desk that
is already built), and on startup builds the desk from settings unless given, loads the users
file, and either starts the in-process workers (projector, SLA clock, callback scheduler:
``casetrail serve``) or only builds a projector for the views that the caller drives
(``app.state.runtime.catch_up()``). The thin client's pages, when ``api/static`` exists, are
served at ``/``.

Routes (all JSON; every one but ``/health`` needs ``Authorization: Bearer <token>``)::

    POST /api/v1/tickets                                intake -> 201
    POST /api/v1/tickets/{id}/{action}                  each action in commands.TICKET_ACTIONS
    GET  /api/v1/tickets?q=&state=&kind=&department=&taken_in_by=&at_risk=&breached=
         &escalation_level=&supervised=&reopened=&due_before=&due_after=&sort=&limit=&offset=
                                                        search, with the true total
    GET  /api/v1/tickets/{id}[?as_of=&reveal=&reason=]  the ticket now or as recorded then
    GET  /api/v1/tickets/{id}/history                   every event
    GET  /api/v1/worklists?department=&owner=&kind=&state=
    GET  /api/v1/sla/deadlines?state=&department=&kind=&milestone=&level=&due_before=&ticket_id=
         &sort=&at=&as_known_at=&limit=&offset=         SLA clocks, with the true total
    GET  /api/v1/escalations?department=&kind=&milestone=&level=&min_level=&sort=&limit=&offset=
                                                        open escalations, with the true total
    GET  /api/v1/sla/summary?department=&kind=&milestone=&level=&at_risk_seconds=
                                                        the SLA board's counts
    GET  /api/v1/reports/departments?from=&to=&as_of=
    POST /api/v1/callbacks                              schedule -> 201
    POST /api/v1/callbacks/{id}/attempts | /outcome | /cancel
    GET  /api/v1/callbacks/{id}
    POST /api/v1/customers                              register -> 201
    POST /api/v1/customers/{id}/grade | /account-manager
    GET  /api/v1/customers?phone=|name=                 callers and their open tickets
    GET  /api/v1/customers/{id}
    GET  /api/v1/departments?as_of=&active=             the org directory on a date
    GET  /api/v1/audit/access?subject_id=&actor=        auditors and admins
    GET  /api/v1/audit/chain?ticket=                    a ticket's chain, the store's last check
    GET  /api/v1/me
    GET  /api/v1/health                                 no token

Request bodies over ``CASETRAIL_MAX_BODY_BYTES`` (256 KiB by default) get 413
``payload_too_large`` (``api/limits.py``) before they are parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from api import errors
from api.auth import Policy
from api.health import DatabaseGate, GateMiddleware, HealthProbe
from api.idempotency import IdempotencyMemory, KeyTable
from api.limits import BodyLimit
from api.reads import ViewReader
from api.routes import (
    assessment,
    audit,
    callbacks,
    chain,
    customers,
    departments,
    key_accounts,
    names,
    outages,
    reports,
    stream,
    surveys,
    system,
    tickets,
    views,
)
from api.runtime import Runtime
from api.users import Users, load_users
from bootstrap import build_desk, build_inprocess_workers, build_projector, schema_lock
from config.settings import Settings
from domain.desk import Desk

API_PREFIX = "/api/v1"
STATIC = Path(__file__).resolve().parent / "static"
VERSION = "0.1.0"


def build_runtime(
    settings: Settings,
    *,
    desk: Desk | None = None,
    workers: bool = True,
    users: Users | None = None,
) -> tuple[Runtime, bool]:
    """Everything the routes share; ``True`` second when the desk was built here (and is ours)."""
    own = desk is None
    desk = desk or build_desk(settings)
    try:
        users = users or load_users(settings.data_file("users").path, desk.directory)
        keys = KeyTable.beside(desk.recorder)  # Idempotency-Key bindings, beside the events
        if keys is not None:
            with schema_lock(settings):
                keys.create()
        running = None
        if workers:
            running = build_inprocess_workers(desk, settings)
            projector = running.projector
        else:
            projector = build_projector(desk, settings)
        runtime = Runtime(
            settings=settings,
            desk=desk,
            users=users,
            policy=Policy(desk.directory),
            projector=projector,
            reader=ViewReader(projector.followers, desk),
            idempotency=IdempotencyMemory(keys),
            workers=running,
            gate=DatabaseGate(
                settings.postgres_conninfo if settings.backend == "postgres" else None,
                events_table=getattr(desk.recorder, "events_table_name", ""),
            ),
            health=HealthProbe(desk, {f.projection.name: f for f in projector.followers}),
        )
    except BaseException:
        if own:
            desk.close()
        raise
    return runtime, own


def _runtime_gate(app: FastAPI) -> DatabaseGate | None:
    runtime = getattr(app.state, "runtime", None)
    return None if runtime is None else runtime.gate


# Answers any route may give whatever it declares itself: they come from the middlewares and
# the error layer (api/errors.py, api/limits.py), so they are documented here, once.
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_COMMON: dict[str, tuple[str, str]] = {
    # status: (when, which operations: "secured", "body" or "all")
    "401": ("missing or unknown bearer token", "secured"),
    "400": ("malformed_body: the body is not UTF-8 JSON", "body"),
    "413": ("payload_too_large: body over CASETRAIL_MAX_BODY_BYTES", "body"),
    "503": (
        "database_unavailable, database_busy or schema_missing (with Retry-After)",
        "all",
    ),
}


def _document_common_errors(app: FastAPI) -> None:
    """Add the shared error answers to every operation of ``/openapi.json``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        problem = _PROBLEM if "Problem" in schema.get("components", {}).get("schemas", {}) else {}
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(API_PREFIX):
                continue
            for operation in operations.values():
                applies = {
                    "all": True,
                    "secured": bool(operation.get("security")),
                    "body": "requestBody" in operation,
                }
                responses = operation.setdefault("responses", {})
                for status, (description, scope) in _COMMON.items():
                    if applies[scope] and status not in responses:
                        content = {"application/json": {"schema": problem}}
                        responses[status] = {"description": description, "content": content}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    *,
    desk: Desk | None = None,
    workers: bool = True,
    users: Users | None = None,
) -> FastAPI:
    """The ASGI app. Pass ``settings`` matching ``desk`` when you pass a desk (tests do).

    ``workers=False`` runs no background thread: views move only when something calls
    ``app.state.runtime.catch_up()`` (or a projector runs elsewhere).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime, own = build_runtime(settings, desk=desk, workers=workers, users=users)
        app.state.runtime = runtime
        if runtime.workers is not None:
            runtime.workers.start()
        try:
            yield
        finally:
            runtime.gate.stopped.set()
            if runtime.health is not None:
                runtime.health.close()
            if runtime.workers is not None:
                runtime.workers.close()
            if own:
                runtime.desk.close()

    app = FastAPI(
        title="casetrail",
        version=VERSION,
        description=(
            "Event-sourced complaint and service-ticket desk of a 95598 hotline. "
            "Bearer tokens map to users (config/data/users.toml in the demo); errors are "
            "JSON with a stable `code`."
        ),
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    errors.install(app)
    # Outside the error handlers: sees their 503s; answers at once while the store is gone.
    app.add_middleware(GateMiddleware, gate=lambda: _runtime_gate(app))
    # Outermost: an oversized body is refused before anything reads or parses it.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _document_common_errors(app)
    router = APIRouter()
    for module in (
        tickets,
        views,
        reports,
        callbacks,
        customers,
        departments,
        audit,
        chain,
        system,
        stream,
        names,
        assessment,
        key_accounts,
        outages,
        surveys,
    ):
        router.include_router(module.router)
    app.include_router(router, prefix=API_PREFIX)
    if STATIC.is_dir():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="static")
    return app
