"""Query and header parameters shared by the routes, and how instants are read from a URL.

Every query parameter is bounded here, the way ``domain.commands`` bounds bodies: a filter is
a name (1-200 characters, no control character: a NUL in a query would reach the views'
SQL), an instant lies between 2000 and 2100 with a whole-minute offset, a date lies in
2000-2099, and every integer has a floor and a ceiling (an offset past 2**63 would overflow
the database's integer). Anything else is a 422 ``invalid_input`` naming the parameter.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from typing import Annotated, Literal, get_args

from fastapi import Header, Query
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from api.errors import invalid_input
from domain.commands import EARLIEST, LATEST, LINE_PATTERN, NAME_MAX, sane_instant, single_line

MAX_OFFSET = 1_000_000
# "3", 3, W/"3" or * (api.writes reads it); ten ASCII digits at most, so never a huge number.
IF_MATCH = r'^(\*|(W/)?"?[0-9]{1,10}"?)?$'
_IF_MATCH = re.compile(IF_MATCH, re.ASCII)
# Visible ASCII, spaces inside only: what every HTTP client can send as it is.
IDEMPOTENCY_KEY = r"^[!-~]([ -~]*[!-~])?$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY, re.ASCII)
MAX_LEVEL = 100
# What parse_instant reads: a date, or a date and time, with an optional offset (a "+" left
# unencoded in a URL arrives as a space); documented so that clients and fuzzers know.
INSTANT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+\- ][0-9]{2}:[0-9]{2})?)?$"
)
_INSTANT = re.compile(INSTANT)


def _if_match(value: str | None) -> str | None:
    if value is not None and not _IF_MATCH.match(value.strip()):
        raise PydanticCustomError("value_error", 'expected a version such as "3"')
    return value


def _idempotency_key(value: str | None) -> str | None:
    if value is not None and not _IDEMPOTENCY_KEY.match(value.strip()):
        raise PydanticCustomError(
            "value_error", "1 to 128 visible ASCII characters (spaces only inside)"
        )
    return value


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The version the client last saw, e.g. "3": a stale one is refused (409).',
        max_length=24,
        json_schema_extra={"pattern": IF_MATCH},
    ),
    AfterValidator(_if_match),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="1 to 128 visible ASCII characters: a repeat gets the same status and body.",
        max_length=128,
        json_schema_extra={"pattern": IDEMPOTENCY_KEY},
    ),
    AfterValidator(_idempotency_key),
]
Reveal = Annotated[
    bool | None,
    Query(
        description="Personal data: omitted = as the role allows; false = masked; "
        "true = unmasked (403 unless the role allows). Unmasked reads are recorded."
    ),
]
Reason = Annotated[
    str,
    Query(
        max_length=500,
        description="Why personal data is read (kept in the access log); no control characters.",
        json_schema_extra={"pattern": LINE_PATTERN},
    ),
    AfterValidator(single_line),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
MinLevel = Annotated[
    int, Query(ge=0, le=MAX_LEVEL, description="Only escalations at this level or above.")
]


def _filter(value: str | None) -> str | None:
    return None if value is None else single_line(value)


def _day(value: date | None) -> date | None:
    if value is not None and not EARLIEST.date() <= value < LATEST.date():
        raise PydanticCustomError("date_out_of_range", "must lie between 2000-01-01 and 2099-12-31")
    return value


FilterValue = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=NAME_MAX,
        description="Exact value (a comma-separated list where the route says so); "
        "1-200 characters, no control characters.",
        json_schema_extra={"pattern": LINE_PATTERN},
    ),
    AfterValidator(_filter),
]
InstantQuery = Annotated[
    str | None,
    Query(
        description="ISO-8601 instant between 2000-01-01 and 2100-01-01 with a whole-minute "
        "offset, e.g. 2026-10-12T09:00:00+08:00; without an offset, the hotline's local time.",
        json_schema_extra={"pattern": INSTANT, "maxLength": 32},
    ),
]
Day = Annotated[date | None, AfterValidator(_day)]


def parse_instant(value: str, field: str, tz: tzinfo) -> datetime:
    """An ISO-8601 instant from a query string; without an offset it is local (``tz``).

    A ``+`` left unencoded in a URL arrives as a space (``...T09:00 08:00``); it is read back.
    The instant must lie in 2000-2100 with a whole-minute offset (``domain.commands``); the
    refusal names ``field`` and never repeats the value.
    """
    text = value
    if len(text) > 19 and text[-6] == " ":
        text = text[:-6] + "+" + text[-5:]
    try:
        if not _INSTANT.match(value):
            raise ValueError(value)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_input(
            field, "not an ISO-8601 instant (e.g. 2026-10-12T09:00:00+08:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        return sane_instant(parsed)
    except PydanticCustomError as error:
        raise invalid_input(field, error.message()) from None


# ---------------------------------------------------------------- finding tickets and callers

SortKey = Literal[
    "next_due_at",
    "-next_due_at",
    "received_at",
    "-received_at",
    "number",
    "-number",
    "closed_at",
    "-closed_at",
    "escalation_level",
    "-escalation_level",
]
SEARCH_SORTS: tuple[str, ...] = get_args(SortKey)
# A phone as typed: digits and the separators people put in (+86, 0731-, spaces).
PHONE_QUERY = r"^[0-9+\- ]{4,20}$"
SearchText = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=NAME_MAX,
        description="Ticket number (whole or its first characters), phone (all its digits, or "
        "the last 4), customer name (any part), customer or ticket id, or any part of the "
        "content; case is ignored. 1-200 characters, no control characters.",
        json_schema_extra={"pattern": LINE_PATTERN},
    ),
    AfterValidator(_filter),
]
Sort = Annotated[
    SortKey,
    Query(
        description="Order: a column, '-' first for descending. Tickets without a running "
        "clock (no next_due_at) or not closed come last either way; ties go by ticket id."
    ),
]
TakenInBy = Annotated[
    Literal["me", "my_front_office"] | None,
    Query(
        description="me: tickets the caller took in; my_front_office: tickets taken in by "
        "anyone of the caller's front office, wherever they are now (一口对外: the front desk "
        "keeps the customer's thread). A caller outside the front office is refused (422)."
    ),
]
PhoneQuery = Annotated[
    str | None,
    Query(
        description="A phone: all its digits (separators ignored) or its last 4 digits.",
        min_length=4,
        max_length=20,
        pattern=PHONE_QUERY,
    ),
]
EscalationLevel = Annotated[
    int | None,
    Query(ge=0, le=MAX_LEVEL, description="Only tickets escalated to this level or higher."),
]
_LISTED = {"min_length": 1, "max_length": NAME_MAX, "json_schema_extra": {"pattern": LINE_PATTERN}}
StatesQuery = Annotated[
    str | None,
    Query(**_LISTED, description="States, comma-separated (e.g. dispatched,accepted)."),
    AfterValidator(_filter),
]
KindsQuery = Annotated[
    str | None,
    Query(**_LISTED, description="Ticket kinds, comma-separated (e.g. complaint,fault_repair)."),
    AfterValidator(_filter),
]
DepartmentQuery = Annotated[
    str | None,
    Query(
        **_LISTED,
        description="Held now by this department or any unit under it (station_1 covers "
        "station_1.business).",
    ),
    AfterValidator(_filter),
]
_INSTANT_SHAPE = {"pattern": INSTANT, "maxLength": 32}
DueBefore = Annotated[
    str | None,
    Query(
        description="Next deadline at or before this instant (ISO-8601, as for every instant).",
        json_schema_extra=_INSTANT_SHAPE,
    ),
]
DueAfter = Annotated[
    str | None,
    Query(
        description="Next deadline at or after this instant (ISO-8601, as for every instant).",
        json_schema_extra=_INSTANT_SHAPE,
    ),
]
AtRisk = Annotated[
    bool | None,
    Query(
        description="true: a running SLA clock not yet recorded breached falls due within the "
        "hour (or is overdue, its breach not yet recorded); false: none does."
    ),
]
Breached = Annotated[
    bool | None,
    Query(description="true: an SLA breach stands (withdrawn breaches do not count)."),
]
Supervised = Annotated[bool | None, Query(description="true: under supervision (督办).")]
Reopened = Annotated[bool | None, Query(description="true: reopened at least once.")]
OpenQuery = Annotated[
    bool | None,
    Query(description="true: still open; false: closed, resolved, rejected or withdrawn."),
]
NameQuery = Annotated[
    str | None,
    Query(**_LISTED, description="Any part of the customer's name (case ignored)."),
    AfterValidator(_filter),
]
