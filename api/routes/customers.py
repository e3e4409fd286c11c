"""Customers: register, grade A/B/C with its basis, name the account manager, read, look up.

Contact data on a customer read follows ``api.privacy``: unmasked for admins and the front
office (and then recorded), masked for everyone else. The lookup by phone or name (before an
intake form is filled) reads the ``ticket_search`` view and shows a repeat caller's open
tickets, and each customer's complaints this quarter with the problem-customer flag.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import search
from api.deps import CurrentUser, RuntimeDep
from api.params import Limit, NameQuery, PhoneQuery
from api.present import customer_outcome, customer_view
from api.privacy import PersonalRead
from api.responses import as_json, tagged
from api.routes.command import add_command_route
from api.runtime import Runtime
from api.schemas import ERRORS, CustomerLookup, CustomerOut
from api.users import User
from domain import commands as c
from domain.customer import Customer
from domain.key_accounts import ComplaintTally, quarter_of, tally_id

router = APIRouter(tags=["customers"])


def _registers(runtime: Runtime, user: User, _: UUID | None) -> None:
    runtime.policy.require_register_customer(user)


def _manages(runtime: Runtime, user: User, _: UUID | None) -> None:
    runtime.policy.require_customer_management(user)


post = partial(add_command_route, router, present=customer_outcome, response_model=CustomerOut)
post(
    "/customers",
    c.RegisterCustomer,
    name="register",
    authorise=_registers,
    doc="Register a customer (residential, commercial, industrial or group).",
)
post(
    "/customers/{customer_id}/grade",
    c.AssignGrade,
    name="grade",
    address="customer_id",
    authorise=_manages,
    doc="Grade A/B/C (or none), key-account flag, with the basis recorded (分级).",
)
post(
    "/customers/{customer_id}/account-manager",
    c.AssignAccountManager,
    name="account_manager",
    address="customer_id",
    authorise=_manages,
    doc="Name the account manager (大客户经理) who owns the relationship.",
)
post(
    "/customers/{customer_id}/erase",
    c.EraseCustomer,
    name="erase",
    address="customer_id",
    authorise=lambda runtime, user, _: runtime.policy.require_erasure(user),
    doc="Erase the customer's personal data (admin only; crypto-shredding): their name, phone "
    "and address read as erased everywhere, every SLA and department figure stays. The views "
    "blank their copies as they catch up; `casetrail customer erase` also compacts the store.",
)


def this_quarter(runtime: Runtime, customer_id: str, now: datetime) -> dict[str, Any]:
    """The customer's complaints this quarter and whether they flagged the customer, from the
    quarter's tally as stored (not a view: the agent sees the flag the moment it is recorded)."""
    quarter = quarter_of(now)
    try:
        tally: Any = runtime.desk.repository.get(
            tally_id(customer_id, quarter), deepcopy_from_cache=False
        )
    except AggregateNotFoundError:
        tally = None
    if not isinstance(tally, ComplaintTally):
        return {"quarter": quarter, "complaints_this_quarter": 0, "problem_customer": False}
    return {
        "quarter": quarter,
        "complaints_this_quarter": len(tally.complaints),
        "problem_customer": bool(tally.flagged),
    }


@router.get("/customers", response_model=CustomerLookup, responses=ERRORS)
def lookup(
    user: CurrentUser,
    runtime: RuntimeDep,
    read: PersonalRead,
    phone: PhoneQuery = None,
    name: NameQuery = None,
    limit: Limit = 20,
) -> JSONResponse:
    """Who is calling: customers by ``phone`` (their own, or one they called in from before;
    all its digits or the last 4) or by a part of their ``name`` (one of the two; phone wins),
    and the open tickets of those customers or of that phone, next deadline first, so the
    intake page can show a repeat caller's tickets before the form is filled. Phones are
    masked unless the caller may see customers' contact data (each unmasked one recorded).
    """
    now = runtime.now()
    reader = runtime.reader
    progress = reader.progress(search.VIEW)
    customers, total = search.find_customers(reader, phone, name, limit)
    search.masked_customers(runtime, user, read, customers, now)
    for found in customers:
        found.update(this_quarter(runtime, found["customer_id"], now))
    ids = [c["customer_id"] for c in customers]
    tickets, open_total = search.open_tickets(reader, ids, phone, now)
    body = {
        "at": now,
        "projection": progress,
        "customers_total": total,
        "customers": customers,
        "open_tickets_total": open_total,
        "open_tickets": tickets,
    }
    return as_json(runtime, body)


@router.get("/customers/{customer_id}", response_model=CustomerOut, responses=ERRORS)
def show(
    customer_id: UUID, user: CurrentUser, runtime: RuntimeDep, read: PersonalRead
) -> JSONResponse:
    """A customer with grade, account manager and contact data (masked unless entitled)."""
    customer = runtime.load(Customer, customer_id, "customer")
    body = customer_view(customer)
    body["contact"], body["contact_masked"] = read.guard(
        dict(customer.contact),
        entitled=runtime.policy.sees_customer_personal_data(user, runtime.now()),
        subject_kind="customer",
        subject_id=customer.id,
        subject_number=customer.name,
    )
    return tagged(runtime, body, customer.version)
