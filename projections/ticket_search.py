"""ticket_search: every ticket (open and closed) and every customer, as an agent looks them up.

``ticket_search`` keeps one row per ticket from its intake on, closed ones included: number,
kind, state, the department and owner holding it now, who took it in and from which department
(一口对外: the front desk that took the call keeps the customer's thread after routing), the
customer's id and name and the phone given at intake, the content (its first
:data:`CONTENT_CHARS` characters), ``received_at`` (business time), the running clock due first
(``next_due_at``, ``next_milestone``; an overdue one keeps its past instant, so it sorts first),
the first due among those not recorded breached (``risk_due_at``: a ticket is at risk when that
falls within the hour), the breaches that stand (``breaches``, ``milestone#cycle``; a withdrawn
breach leaves), the highest escalation level reached, whether it is under supervision (督办) or
was ever reopened, its cycle, and when it was last done (``closed_at``: closed, resolved at first
contact, rejected or withdrawn; cleared on reopening).

``ticket_search_customers`` keeps one row per registered customer: name, type, grade, station
and phone. A phone is found by its digits whatever the separators (``phone_digits``) or by its
last four (``phone_last4``).

The facts shared with other views are folded with the plumbing of ``ticket_facts.py``.
"""

from __future__ import annotations

from typing import Any

from domain.personal import ERASED
from projections.core import Projection, Row, Rows, Table, meta_of
from projections.ticket_facts import (
    STATE_AFTER,
    TERMINAL,
    TicketFacts,
    clock_key,
    follow_clocks,
    next_due,
)

TICKETS = "ticket_search"
CUSTOMERS = "ticket_search_customers"
CONTENT_CHARS = 1000
PHONE_COLUMNS = (("phone", "text"), ("phone_digits", "text"), ("phone_last4", "text"))
FACTS = TicketFacts(
    TICKETS,
    "ticket_id",
    "number",
    "kind",
    ("state", "text"),
    "department",
    "owner",
    "priority",
    "category",
    "customer_id",
    "customer_name",
    *PHONE_COLUMNS,
    ("content", "text"),
    ("intake_actor", "text"),
    ("intake_department", "text"),
    "received_at",
    ("next_due_at", "ts"),
    ("next_milestone", "text"),
    ("risk_due_at", "ts"),
    ("breached", "bool"),
    ("breaches", "json"),  # ["milestone#cycle", ...] breached and not withdrawn, sorted
    ("escalation_level", "int"),
    ("supervised", "bool"),
    ("reopened", "bool"),
    "cycle",
    "transfers",
    ("closed_at", "ts"),
    "clocks",  # {"milestone#cycle": due_at (UTC ISO) or null while paused}
    start={
        "state": "received",
        "breached": False,
        "breaches": [],
        "escalation_level": 0,
        "supervised": False,
        "reopened": False,
    },
)
CUSTOMER_TABLE = Table(
    CUSTOMERS,
    key=("customer_id",),
    columns=(
        ("customer_id", "text"),
        ("name", "text"),
        ("customer_type", "text"),
        ("grade", "text"),
        ("key_account", "bool"),
        ("area", "text"),
        ("station", "text"),
        *PHONE_COLUMNS,
        ("registered_at", "ts"),
    ),
)


def national_digits(phone: str) -> str:
    """A phone's digits without separators or China's country code: ``0731-5550123`` ->
    ``07315550123``, ``+86 139 1234 5678`` -> ``13912345678`` (a number dialled within China
    starts with 1, a mobile, or 0, a landline's area code, never with 86)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("86") and len(digits) >= 12 and digits[2] in "01":
        return digits[2:]
    return digits


def phone_columns(phone: str | None) -> dict[str, str | None]:
    """A phone as given, its digits as dialled within China (:func:`national_digits`) and its
    last four digits: the columns a phone is searched by."""
    digits = national_digits(phone or "")
    return {
        "phone": phone or None,
        "phone_digits": digits or None,
        "phone_last4": digits[-4:] if len(digits) >= 4 else None,
    }


class TicketSearch(Projection):
    """Every ticket and customer, searchable by number, phone, name and content."""

    name = "ticket_search"
    version = 1
    holds_personal_data = True  # names and phones: erasure blanks them, compaction rewrites
    tables = (FACTS.table, CUSTOMER_TABLE)

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in ("ComplaintReceived", "ServiceRequestReceived"):
            head = self._received(event)
        elif name in _CUSTOMER_EVENTS:
            _CUSTOMER_EVENTS[name](event, rows)
            return
        else:
            found = FACTS.of(event, rows)
            if found is None:
                return  # not a ticket (callbacks, access logs) or one we never saw
            head = found
            if not self._apply(event, name, head):
                return
        _due(head)
        rows.put(TICKETS, head)

    # ------------------------------------------------------------ tickets

    @staticmethod
    def _received(event: Any) -> Row:
        details, meta = event.details, meta_of(event)
        contact = details.get("contact") or {}
        return FACTS.received(
            event,
            **phone_columns(contact.get("phone")),
            # Searchable text, less NUL (no database text can hold it; an old event may).
            content=(details.get("content") or "").replace("\x00", "")[:CONTENT_CHARS],
            intake_actor=meta.actor,
            intake_department=meta.department,
        )

    @staticmethod
    def _apply(event: Any, name: str, head: Row) -> bool:
        """Move the ticket's row by one event; False when the event says nothing here."""
        moved = FACTS.follow(head, name, event)  # state; department, owner, priority, category
        if name in STATE_AFTER and head["state"] in TERMINAL:
            head["closed_at"] = meta_of(event).occurred_at
        if moved:
            return True
        if follow_clocks(head, name, event):
            if name == "TicketReopened":
                head.update(reopened=True, closed_at=None)
            return True
        match name:
            case "SupervisionOpened":
                head["supervised"] = True
            case "SlaBreached":
                key = clock_key(event.milestone, int(event.cycle))
                head["breaches"] = sorted({*head["breaches"], key})
            case "SlaBreachWithdrawn":
                key = clock_key(event.milestone, int(event.cycle))
                head["breaches"] = [b for b in head["breaches"] if b != key]
            case "Escalated":
                head["escalation_level"] = max(head["escalation_level"], int(event.level))
            case _:
                return name in STATE_AFTER
        return True


def _due(head: Row) -> None:
    """The columns worked out from the live clocks and the breaches."""
    clocks, breaches = head["clocks"], head["breaches"]
    head["next_due_at"], head["next_milestone"] = next_due(clocks)
    head["risk_due_at"] = next_due(clocks, skip=breaches)[0]
    head["breached"] = bool(breaches)


# ---------------------------------------------------------------- customers


def _registered(event: Any, rows: Rows) -> None:
    rows.put(
        CUSTOMERS,
        {
            "customer_id": str(event.originator_id),
            "name": event.name,
            "customer_type": event.customer_type,
            "grade": "none",
            "key_account": False,
            "area": event.area,
            "station": event.station,
            **phone_columns((event.contact or {}).get("phone")),
            "registered_at": meta_of(event).occurred_at,
        },
    )


def _contact_updated(event: Any, rows: Rows) -> None:
    row = rows.get(CUSTOMERS, (str(event.originator_id),))
    if row is not None and "phone" in (event.contact or {}):
        rows.put(CUSTOMERS, {**row, **phone_columns(event.contact["phone"])})


def _graded(event: Any, rows: Rows) -> None:
    row = rows.get(CUSTOMERS, (str(event.originator_id),))
    if row is not None:
        rows.put(CUSTOMERS, {**row, "grade": event.grade, "key_account": bool(event.key_account)})


def _erased(event: Any, rows: Rows) -> None:
    """A customer erased: their name and phone read as erased in their row and their tickets',
    exactly as a rebuild (whose events decode them so) writes them."""
    row = rows.get(CUSTOMERS, (str(event.originator_id),))
    if row is not None:
        rows.put(CUSTOMERS, {**row, "name": ERASED, **_erased_phone(row)})
    for ticket in event.tickets:
        head = FACTS.get(rows, ticket)
        if head is not None:
            name = None if head["customer_name"] is None else ERASED
            rows.put(TICKETS, {**head, "customer_name": name, **_erased_phone(head)})


def _erased_phone(row: Row) -> dict[str, str | None]:
    return phone_columns(None if row["phone"] is None else ERASED)


_CUSTOMER_EVENTS = {
    "CustomerRegistered": _registered,
    "CustomerErased": _erased,
    "ContactUpdated": _contact_updated,
    "GradeAssigned": _graded,
}
