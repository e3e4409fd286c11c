"""Customers: register, grade A/B/C with its basis, name the account manager, read.

Contact data on a customer read follows ``api.privacy``: unmasked for admins and the front
office (and then recorded), masked for everyone else.
"""

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, RuntimeDep
from api.params import IdempotencyKey, IfMatch, Reason, Reveal
from api.present import customer_outcome, customer_view
from api.privacy import guard
from api.responses import as_json
from api.schemas import ERRORS, CustomerOut, body_of
from api.writes import execute
from domain import commands as c
from domain.customer import Customer

router = APIRouter(tags=["customers"])
RegisterBody = body_of(c.RegisterCustomer)
GradeBody = body_of(c.AssignGrade, "customer_id")
ManagerBody = body_of(c.AssignAccountManager, "customer_id")


@router.post("/customers", status_code=201, response_model=CustomerOut, responses=ERRORS)
def register(
    body: RegisterBody,  # type: ignore[valid-type]
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Register a customer (residential, commercial, industrial or group)."""
    runtime.policy.require_register_customer(user)
    return execute(
        runtime,
        request,
        user,
        c.RegisterCustomer,
        body.model_dump(exclude_unset=True),  # type: ignore[attr-defined]
        present=customer_outcome,
        key=idempotency_key,
        created=True,
    )


@router.post("/customers/{customer_id}/grade", response_model=CustomerOut, responses=ERRORS)
def grade(
    customer_id: UUID,
    body: GradeBody,  # type: ignore[valid-type]
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Grade A/B/C (or none), key-account flag, with the basis recorded (分级)."""
    runtime.policy.require_customer_management(user)
    fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    return execute(
        runtime,
        request,
        user,
        c.AssignGrade,
        {**fields, "customer_id": customer_id},
        present=customer_outcome,
        key=idempotency_key,
        if_match=if_match,
    )


@router.post(
    "/customers/{customer_id}/account-manager", response_model=CustomerOut, responses=ERRORS
)
def account_manager(
    customer_id: UUID,
    body: ManagerBody,  # type: ignore[valid-type]
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Name the account manager (大客户经理) who owns the relationship."""
    runtime.policy.require_customer_management(user)
    fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    return execute(
        runtime,
        request,
        user,
        c.AssignAccountManager,
        {**fields, "customer_id": customer_id},
        present=customer_outcome,
        key=idempotency_key,
        if_match=if_match,
    )


@router.get("/customers/{customer_id}", response_model=CustomerOut, responses=ERRORS)
def show(
    customer_id: UUID,
    request: Request,
    user: CurrentUser,
    runtime: RuntimeDep,
    reveal: Reveal = None,
    reason: Reason = "",
) -> JSONResponse:
    """A customer with grade, account manager and contact data (masked unless entitled)."""
    customer = runtime.load(Customer, customer_id, "customer")
    body = customer_view(customer)
    body["contact"], body["contact_masked"] = guard(
        runtime,
        request,
        user,
        dict(customer.contact),
        entitled=runtime.policy.sees_customer_personal_data(user, runtime.now()),
        reveal=reveal,
        reason=reason,
        subject_kind="customer",
        subject_id=customer.id,
        subject_number=customer.name,
    )
    return as_json(runtime, body, headers={"ETag": f'"{customer.version}"'})
