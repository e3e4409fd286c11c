"""Customers: register, grade A/B/C with its basis, name the account manager, read.

Contact data on a customer read follows ``api.privacy``: unmasked for admins and the front
office (and then recorded), masked for everyone else.
"""

from __future__ import annotations

from functools import partial
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.present import customer_outcome, customer_view
from api.privacy import PersonalRead
from api.responses import tagged
from api.routes.command import add_command_route
from api.runtime import Runtime
from api.schemas import ERRORS, CustomerOut
from api.users import User
from domain import commands as c
from domain.customer import Customer

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
