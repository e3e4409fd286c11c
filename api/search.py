"""Finding tickets and callers: the ``ticket_search`` view queried, paged, counted and masked.

A search is a WHERE over ``ticket_search`` (one row per ticket, open and closed, see
``projections/ticket_search.py``) built from the query parameters, an ORDER BY that always ends
on the ticket id (so pages never overlap or skip), one page, and the number of rows the same
WHERE matches in all (``total``). ``q`` matches any of: the number's first characters, the
ticket or customer id, a part of the customer's name or of the content (case ignored), and,
when it reads as a phone, all its digits or its last four.

Personal data follows ``api.privacy`` row by row, as a single ticket read does: a row whose
department the caller may see unmasked is shown unmasked (and that read recorded, one access
record per ticket) unless ``reveal=false``; the others are masked. With ``reveal=true`` a
single row the caller may not see refuses the whole answer (403), before anything is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from api.errors import invalid_input
from api.privacy import Reading
from api.reads import Filter, ViewReader
from api.runtime import Runtime
from api.users import User
from domain.org import KINDS
from domain.ticket import TERMINAL, State
from projections.ticket_search import CUSTOMERS, TICKETS, national_digits

VIEW = "ticket_search"
AT_RISK_WITHIN = timedelta(hours=1)
OPEN_TICKETS_SHOWN = 100
# A query that reads as a phone: digits and the separators people type.
_PHONE = re.compile(r"^[0-9+\- ]+$")
_CLOSED = tuple(sorted(s.value for s in TERMINAL))
_STATES = tuple(s.value for s in State)


@dataclass(frozen=True)
class TicketQuery:
    """What a ticket search asks for (the route's query parameters, parsed)."""

    q: str | None = None
    state: str | None = None  # comma-separated
    kind: str | None = None  # comma-separated
    department: str | None = None
    taken_in_by: str | None = None  # "me" | "my_front_office"
    at_risk: bool | None = None
    breached: bool | None = None
    escalation_level: int | None = None
    supervised: bool | None = None
    reopened: bool | None = None
    open: bool | None = None  # true: not yet closed, resolved, rejected or withdrawn
    due_before: datetime | None = None
    due_after: datetime | None = None
    sort: str = "next_due_at"
    limit: int = 50
    offset: int = 0


# ------------------------------------------------------------------ SQL pieces


def _like(text: str) -> str:
    """``text`` lowered, for a LIKE that matches it literally (escape character ``!``)."""
    return text.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _starts_with(column: str, text: str) -> Filter:
    return Filter(f"lower(\"{column}\") LIKE ? ESCAPE '!'", (_like(text) + "%",))


def _contains(column: str, text: str) -> Filter:
    return Filter(f"lower(\"{column}\") LIKE ? ESCAPE '!'", ("%" + _like(text) + "%",))


def _either(filters: Sequence[Filter]) -> Filter:
    return Filter(
        "(" + " OR ".join(f.sql for f in filters) + ")",
        tuple(p for f in filters for p in f.params),
    )


def _phone(text: str) -> Filter | None:
    """All the digits of a phone, or its last four; None when ``text`` is not a phone."""
    digits = national_digits(text)
    if not _PHONE.match(text) or len(digits) < 4:
        return None
    if len(digits) == 4:
        return Filter('"phone_last4" = ?', (digits,))
    return Filter('"phone_digits" = ?', (digits,))


def _listed(name: str, value: str, known: Sequence[str]) -> list[str]:
    """A comma-separated parameter as its values; an unknown one is refused, naming ``name``."""
    values = [v.strip() for v in value.split(",") if v.strip()]
    unknown = sorted(set(values) - set(known))
    if unknown or not values:
        raise invalid_input(name, f"unknown {unknown or [value]}; expected some of {list(known)}")
    return values


def _order(sort: str) -> str:
    """``column`` or ``-column``: nulls last either way, ties by ticket id."""
    column = sort.lstrip("-")
    direction = "DESC" if sort.startswith("-") else "ASC"
    return f'(CASE WHEN "{column}" IS NULL THEN 1 ELSE 0 END), "{column}" {direction}, "ticket_id"'


# ------------------------------------------------------------------ tickets


def ticket_filters(runtime: Runtime, user: User, query: TicketQuery, now: datetime) -> list[Filter]:
    """The WHERE of a search: every condition the query names."""
    reader = runtime.reader
    ts = reader.dialect(VIEW).ts_param
    found: list[Filter] = []
    if query.q:
        text = query.q.strip()
        options = [
            _starts_with("number", text),
            reader.equals("ticket_id", text),
            reader.equals("customer_id", text),
            _contains("customer_name", text),
            _contains("content", text),
        ]
        phone = _phone(text)
        found.append(_either([*options, phone] if phone else options))
    if query.state:
        found.append(reader.one_of("state", _listed("state", query.state, _STATES)))
    if query.kind:
        found.append(reader.one_of("kind", _listed("kind", query.kind, KINDS)))
    if query.department:
        found.append(reader.department_filter("department", query.department))
    if query.taken_in_by == "me":
        found.append(reader.equals("intake_actor", user.id))
    elif query.taken_in_by == "my_front_office":
        found.append(reader.one_of("intake_department", front_office_units(runtime, user, now)))
    if query.at_risk is not None:
        soon = ts(now + AT_RISK_WITHIN)
        if query.at_risk:
            found.append(Filter('"risk_due_at" <= ?', (soon,)))
        else:
            found.append(Filter('("risk_due_at" IS NULL OR "risk_due_at" > ?)', (soon,)))
    for flag in ("breached", "supervised", "reopened"):
        value = getattr(query, flag)
        if value is not None:
            found.append(reader.equals(flag, value))
    if query.open is not None:
        found.append(Filter('"closed_at" IS NULL' if query.open else '"closed_at" IS NOT NULL', ()))
    if query.escalation_level:
        found.append(Filter('"escalation_level" >= ?', (query.escalation_level,)))
    if query.due_before is not None:
        found.append(Filter('"next_due_at" <= ?', (ts(query.due_before),)))
    if query.due_after is not None:
        found.append(Filter('"next_due_at" >= ?', (ts(query.due_after),)))
    return found


def front_office_units(runtime: Runtime, user: User, now: datetime) -> list[str]:
    """Every department whose duties are now the caller's front office (itself, and the units
    merged into it: 客户服务中心 before the 2026-10-16 merger is 营销部(客户服务中心) after);
    422 naming ``taken_in_by`` when the caller is not in the front office."""
    policy, directory = runtime.policy, runtime.desk.directory
    if not policy.in_front_office(user, now):
        raise invalid_input(
            "taken_in_by",
            f"my_front_office: {user.id} ({user.department}) is not in the front office",
        )
    front = policy.unit(user.department, now)
    return sorted({d.id for d in directory.data.departments if policy.unit(d.id, now) == front})


def find_tickets(
    runtime: Runtime, user: User, query: TicketQuery, now: datetime
) -> tuple[list[dict[str, Any]], int]:
    """One page of matching tickets (unmasked, as stored) and how many match in all."""
    reader = runtime.reader
    filters = ticket_filters(runtime, user, query, now)
    rows = reader.select(
        VIEW, filters, _order(query.sort), table=TICKETS, limit=query.limit, offset=query.offset
    )
    total = reader.count(VIEW, filters, table=TICKETS)
    return [ticket_hit(row, now) for row in rows], total


def ticket_hit(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A search result: the ticket's row, less the columns only searches use, with the time to
    its next deadline and whether it is at risk (both at ``now``)."""
    hit = {k: v for k, v in row.items() if k not in _UNSHOWN}
    due, risk = row["next_due_at"], row["risk_due_at"]
    hit["due_in_seconds"] = None if due is None else int((due - now).total_seconds())
    hit["at_risk"] = risk is not None and risk <= now + AT_RISK_WITHIN
    return hit


_UNSHOWN = frozenset({"phone_digits", "phone_last4", "clocks", "risk_due_at"})


def masked_hits(
    runtime: Runtime, user: User, read: Reading, hits: list[dict[str, Any]], now: datetime
) -> None:
    """Each hit's phone as the caller may see it (``contact_masked`` says which), in place.

    The rows the caller may not see unmasked go first, so that ``reveal=true`` is refused
    (403) before any reveal is recorded.
    """
    policy = runtime.policy
    entitled = [policy.sees_ticket_personal_data(user, h["department"], now) for h in hits]
    for i in sorted(range(len(hits)), key=lambda i: entitled[i]):
        _guard_phone(read, hits[i], entitled[i], "ticket", hits[i]["number"])


def masked_customers(
    runtime: Runtime, user: User, read: Reading, customers: list[dict[str, Any]], now: datetime
) -> None:
    """Each customer's phone as the caller may see it (``contact_masked`` says which), in
    place; the columns only searches use left out."""
    entitled = runtime.policy.sees_customer_personal_data(user, now)
    for customer in customers:
        for column in ("phone_digits", "phone_last4"):
            del customer[column]
        _guard_phone(read, customer, entitled, "customer", customer["name"])


def _guard_phone(
    read: Reading, item: dict[str, Any], entitled: bool, kind: str, number: str | None
) -> None:
    shown, item["contact_masked"] = read.guard(
        {"phone": item["phone"]},
        entitled=entitled,
        subject_kind=kind,
        subject_id=item[f"{kind}_id"],
        subject_number=number,
    )
    item["phone"] = shown["phone"]


# ------------------------------------------------------------------ callers


def find_customers(
    reader: ViewReader, phone: str | None, name: str | None, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Customers by phone (theirs, or one they called from) or by a part of their name."""
    if phone is not None:
        by_phone = _phone(phone)
        if by_phone is None:
            raise invalid_input("phone", "a phone: all its digits or its last 4")
        called_from = reader.table(VIEW, TICKETS).name
        match = _either(
            [
                by_phone,
                Filter(
                    f'"customer_id" IN (SELECT "customer_id" FROM "{called_from}" '
                    f"WHERE {by_phone.sql})",
                    by_phone.params,
                ),
            ]
        )
    elif name is not None:
        match = _contains("name", name.strip())
    else:
        raise invalid_input("phone", "give phone or name")
    order = '"name", "customer_id"'
    rows = reader.select(VIEW, [match], order, table=CUSTOMERS, limit=limit)
    return rows, reader.count(VIEW, [match], table=CUSTOMERS)


def open_tickets(
    reader: ViewReader, customer_ids: Sequence[str], phone: str | None, now: datetime
) -> tuple[list[dict[str, Any]], int]:
    """The open tickets of these customers, or called in from ``phone``: next due first."""
    owners: list[Filter] = [reader.one_of("customer_id", customer_ids)] if customer_ids else []
    by_phone = _phone(phone) if phone else None
    if by_phone is not None:
        owners.append(by_phone)
    if not owners:
        return [], 0
    still_open = Filter(f'"state" NOT IN ({", ".join("?" for _ in _CLOSED)})', _CLOSED)
    filters = [_either(owners), still_open]
    rows = reader.select(
        VIEW, filters, _order("next_due_at"), table=TICKETS, limit=OPEN_TICKETS_SHOWN
    )
    shown = [{k: v for k, v in ticket_hit(r, now).items() if k != "phone"} for r in rows]
    return shown, reader.count(VIEW, filters, table=TICKETS)
