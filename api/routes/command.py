"""The one shape of every route that sends a command: its parameters, authorisation, the desk.

A command route's parameters follow from what it addresses, so they are written here once:

- one that creates (``POST /customers``; answers 201): ``body``, ``request``, ``user``,
  ``runtime``, ``Idempotency-Key``;
- one that addresses an aggregate (``POST /customers/{customer_id}/grade``): the path's id,
  ``body``, ``request``, ``user``, ``runtime``, ``If-Match``, ``Idempotency-Key``; when none
  of the body's fields is required (``resume``) the body may be left out, and comes last.

The body is the command's own fields less what the API fills in (``api.schemas.body_of``);
the path's id goes into the command's field of the same name. A route file says only what
differs: the path, the command, who may send it (``authorise``, run before the desk) and how
the answer looks (``present``). The endpoint's signature is built from that list
(``__signature__``: FastAPI reads parameters from it), so FastAPI documents and validates
each route exactly as if it had been written out by hand (``/openapi.json`` did not change).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import CurrentUser, RuntimeDep
from api.params import IdempotencyKey, IfMatch
from api.runtime import Runtime
from api.schemas import ERRORS, body_of
from api.users import User
from api.writes import Present, execute
from domain.commands import Command

# Who may send it: raises (403, or 404 for an unknown aggregate) before anything is written.
# Called with the runtime, the caller, and the path's id (None when the route creates).
Authorise = Callable[[Runtime, User, UUID | None], None]
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def _parameters(body: type[BaseModel], address: str | None) -> list[inspect.Parameter]:
    """The route's parameters, as the module docstring lists them."""

    def p(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
        return inspect.Parameter(name, _KEYWORD, annotation=annotation, default=default)

    optional = address is not None and not any(
        info.is_required() for info in body.model_fields.values()
    )
    return [
        *([p(address, UUID)] if address else []),
        *([] if optional else [p("body", body)]),
        p("request", Request),
        p("user", CurrentUser),
        p("runtime", RuntimeDep),
        *([p("if_match", IfMatch, None)] if address else []),
        p("idempotency_key", IdempotencyKey, None),
        *([p("body", body | None, None)] if optional else []),
    ]


def command_route(
    command: type[Command],
    *,
    name: str,
    authorise: Authorise,
    present: Present,
    address: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    doc: str | None = None,
) -> Callable[..., JSONResponse]:
    """The endpoint that sends ``command``: ``address`` names the path's id (and the command's
    field it fills), ``fixed`` are fields the route itself sets (a ticket action's name)."""
    body_class = body_of(command, *([address] if address else []))

    def endpoint(**given: Any) -> JSONResponse:
        runtime: Runtime = given["runtime"]
        user: User = given["user"]
        ident: UUID | None = given[address] if address else None
        authorise(runtime, user, ident)
        body: BaseModel | None = given.get("body")
        fields: dict[str, Any] = {} if body is None else body.model_dump(exclude_unset=True)
        if address:
            fields[address] = ident
        return execute(
            runtime,
            given["request"],
            user,
            command,
            {**fields, **(fixed or {})},
            present=present,
            key=given["idempotency_key"],
            if_match=given.get("if_match"),
            created=address is None,
        )

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = doc if doc is not None else command.__doc__
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        _parameters(body_class, address), return_annotation=JSONResponse
    )
    return endpoint


def add_command_route(
    router: APIRouter,
    path: str,
    command: type[Command],
    *,
    name: str,
    authorise: Authorise,
    present: Present,
    response_model: type[BaseModel],
    address: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    doc: str | None = None,
    **openapi: Any,
) -> None:
    """``POST path`` sending ``command`` (201 when it creates, i.e. addresses nothing)."""
    router.add_api_route(
        path,
        command_route(
            command,
            name=name,
            authorise=authorise,
            present=present,
            address=address,
            fixed=fixed,
            doc=doc,
        ),
        methods=["POST"],
        status_code=201 if address is None else None,
        response_model=response_model,
        responses=ERRORS,
        **openapi,
    )
