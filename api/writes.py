"""One path for every write: headers to command fields, the desk, an identical repeat.

- The actor, role and department of a command come from the token, never from the body.
- ``If-Match: "<version>"`` becomes ``expected_version``: a stale one is a 409
  ``version_conflict`` from the desk.
- ``Idempotency-Key: <key>`` becomes ``command_id = "<user id>/<key>"`` (scoped per user, so two
  users' keys never meet). The desk already gives the same command id one effect. The response
  is made identical by *recomputing* it: the body is a pure function of the aggregate at the
  version the command produced and of the events it recorded (those whose metadata carry the
  command id), so a repeat - even after a restart, or on another API process - rebuilds the
  very same status, body and ``ETag``. Once the request validates, and before the desk runs
  the command, the key is bound to the request's fingerprint (method, path, body) in the event
  store's database (``api/idempotency.py``): a key reused for a *different* request is a 422
  ``idempotency_key_reused``, before and after a restart, on every API process, and of two
  requests racing with one key and different bodies exactly one gets through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.errors import invalid_input
from api.responses import tagged
from api.runtime import Runtime
from api.users import User
from domain.commands import Command

Present = Callable[[Any, list[str], bool], dict[str, Any]]
MAX_KEY = 128


def parse_if_match(value: str | None) -> int | None:
    """``"3"``, ``3`` or ``W/"3"`` -> 3; ``*`` or nothing -> no check."""
    if value is None or value.strip() in ("", "*"):
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()) or int(text) < 1:  # "²" is a digit too
        raise invalid_input("If-Match", 'expected a version such as "3"', where="header")
    return int(text)


def command_id(user: User, key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY or not key.isprintable():
        raise invalid_input(
            "Idempotency-Key", f"1 to {MAX_KEY} printable characters", where="header"
        )
    return f"{user.id}/{key}"


def execute(
    runtime: Runtime,
    request: Request,
    user: User,
    command: type[Command],
    fields: dict[str, Any],
    *,
    present: Present,
    key: str | None = None,
    if_match: str | None = None,
    created: bool = False,
) -> JSONResponse:
    """Build the command from ``fields`` and the caller, run it, answer (identically on repeat).

    ``present(aggregate, event_names, changed)`` makes the body; ``created`` answers 201.
    """
    cid = command_id(user, key)
    envelope = {
        "actor_id": user.id,
        "role": user.role,
        "department": user.department,
        "command_id": cid,
        "expected_version": parse_if_match(if_match),
    }
    cmd = command.model_validate({**fields, **envelope})
    if key is not None and cid is not None:  # bound once valid: an invalid request binds nothing
        fingerprint = _fingerprint(request, fields)
        runtime.idempotency.claim(user.id, key, fingerprint, cid, runtime.now())
    out = runtime.desk.handle(cmd)
    status = 201 if created else 200
    answered = (out.version, out.events) if out.changed else _answered(runtime, out.id, cid)
    aggregate: Any
    names: list[str] = []
    if answered is None:
        version, changed, status = out.version, False, 200
    else:
        (version, names), changed = answered, True
    aggregate = runtime.at_version(out.id, version)
    body = present(aggregate, list(names), changed)
    if aggregate.version != version:
        # The shared cached object moved on (another process's events fast-forwarded it)
        # while we read it: present the version this command produced, from the store.
        aggregate = runtime.desk.repository.get(out.id, version=version)
        body = present(aggregate, list(names), changed)
    return tagged(runtime, body, version, status)


def _answered(runtime: Runtime, ident: UUID, cid: str | None) -> tuple[int, list[str]] | None:
    """The version a command left the aggregate at and the events it recorded, or None."""
    if cid is None:
        return None
    version: int | None = None
    names: list[str] = []
    for ev in runtime.desk.events.get(ident):
        meta = getattr(ev, "meta", None)
        if meta is not None and meta.command_id == cid:
            version = ev.originator_version
            names.append(type(ev).__name__)
    return None if version is None else (version, names)


def _fingerprint(request: Request, fields: dict[str, Any]) -> str:
    text = json.dumps(jsonable_encoder(fields), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.url.path}\n{text}".encode()).hexdigest()
