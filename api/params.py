"""Query and header parameters shared by the routes, and how instants are read from a URL."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated

from fastapi import Depends, Header, Query

from api.errors import invalid_input
from api.runtime import Runtime, get_runtime

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The version the client last saw, e.g. "3": a stale one is refused (409).',
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any string up to 128 characters: a repeat gets the same status and body.",
    ),
]
Reveal = Annotated[
    bool | None,
    Query(
        description="Personal data: omitted = as the role allows; false = masked; "
        "true = unmasked (403 unless the role allows). Unmasked reads are recorded."
    ),
]
Reason = Annotated[
    str, Query(max_length=500, description="Why personal data is read (kept in the access log).")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip.")]


def parse_instant(value: str, field: str, tz: tzinfo) -> datetime:
    """An ISO-8601 instant from a query string; without an offset it is local (``tz``).

    A ``+`` left unencoded in a URL arrives as a space (``...T09:00 08:00``); it is read back.
    """
    text = value.strip()
    if len(text) > 19 and text[-6] == " ":
        text = text[:-6] + "+" + text[-5:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_input(field, f"{value!r} is not an ISO-8601 instant") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
