"""Personal data on the way out: masked, or shown and recorded - never shown unrecorded.

Each read that may carry personal data (a ticket, its history, a customer) passes its payload
here with whether the user's role and department entitle them to it (``api.auth.Policy``).

- ``reveal`` omitted: entitled users see the data unmasked, everyone else masked.
- ``reveal=false``: masked for everyone, nothing recorded (lists, polling, the thin client's
  default view).
- ``reveal=true``: unmasked if entitled, 403 ``forbidden`` otherwise.

An unmasked answer that actually contains personal data is recorded first, as a
``DataAccessRecorded`` event (``domain/access.py``) naming the reader, the subject and the
fields, with the optional ``reason``. If the record cannot be written, the read fails: no
record, no reveal.

A route that may show personal data takes :data:`PersonalRead` (the caller, the request and
its ``reveal`` and ``reason`` parameters, declared once here) and passes each payload to its
:meth:`Reading.guard`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from api.deps import CurrentUser, RuntimeDep
from api.errors import forbidden
from api.params import Reason, Reveal
from api.present import personal
from api.runtime import Runtime
from api.users import User
from domain.access import record_access
from domain.base import Meta

MAX_REQUEST_ID = 128


def guard(
    runtime: Runtime,
    request: Request,
    user: User,
    payload: Any,
    *,
    entitled: bool,
    reveal: bool | None,
    reason: str,
    subject_kind: str,
    subject_id: Any,
    subject_number: str | None,
) -> tuple[Any, bool]:
    """``(payload as the user may see it, masked?)``; records the read when unmasked."""
    plain, hidden, paths = personal(payload)
    show = entitled if reveal is None else reveal
    if show and not entitled:
        raise forbidden(
            f"{user.id} ({user.role.value}, {user.department}) may not see the personal data "
            f"of {subject_kind} {subject_number or subject_id}"
        )
    if not show:
        return hidden, True
    if paths:
        meta = Meta(
            actor=user.id,
            role=user.role.value,
            department=user.department,
            channel="api",
            occurred_at=runtime.now(),
            correlation_id=_request_id(request) or uuid.uuid4().hex,
        )
        record_access(
            runtime.desk,
            meta,
            subject_kind=subject_kind,
            subject_id=subject_id,
            subject_number=subject_number,
            fields=sorted({path.rsplit(".", 1)[-1] for path in paths}),
            reason=reason,
            endpoint=f"{request.method} {request.url.path}",
        )
    return plain, False


@dataclass(frozen=True)
class Reading:
    """One read that may carry personal data: who reads, in which request, what they asked."""

    runtime: Runtime
    request: Request
    user: User
    reveal: bool | None
    reason: str

    def guard(
        self,
        payload: Any,
        *,
        entitled: bool,
        subject_kind: str,
        subject_id: Any,
        subject_number: str | None,
    ) -> tuple[Any, bool]:
        """:func:`guard` for this read: ``(payload as the user may see it, masked?)``."""
        return guard(
            self.runtime,
            self.request,
            self.user,
            payload,
            entitled=entitled,
            reveal=self.reveal,
            reason=self.reason,
            subject_kind=subject_kind,
            subject_id=subject_id,
            subject_number=subject_number,
        )


def reading(
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    reveal: Reveal = None,
    reason: Reason = "",
) -> Reading:
    """The dependency behind :data:`PersonalRead`."""
    return Reading(runtime, request, user, reveal, reason)


PersonalRead = Annotated[Reading, Depends(reading)]


def _request_id(request: Request) -> str | None:
    """The caller's ``X-Request-Id`` when it is a sane id (it goes into a stored event)."""
    given = request.headers.get("x-request-id")
    if given and len(given) <= MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return given
    return None
