"""The hash chain's status for auditors: a ticket's own chain re-checked now, and the store's
last recorded verification (``casetrail audit verify``).

``GET /audit/chain?ticket=<id>`` answers with a ``status`` code the pages name
(``config/data/names.toml``, section ``chain_status``):

- ``verified``: the ticket's events hash as stored, and the last check of the whole store was
  clean and covered the ticket's last event ("verified up to position N, at time T");
- ``intact``: the ticket's events hash as stored; the whole store was not checked since its
  last event (or never);
- ``store_broken``: the ticket's events hash as stored, but the last check of the whole store
  found a broken link (named in ``store.last_verification.first_break``);
- ``broken``: the ticket's own chain is broken (``ticket.first_break`` says where).

Auditors, admins and supervisors (督导) may read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser, RuntimeDep
from api.errors import ApiError, forbidden
from api.responses import as_json
from api.schemas import ERRORS
from bootstrap.chain import CHAIN_VERSION
from bootstrap.chain_store import chain_of, check_aggregate
from domain.base import Role

router = APIRouter(tags=["audit"])
READERS = (Role.AUDITOR, Role.ADMIN, Role.SUPERVISOR)
STATUSES = ("verified", "intact", "store_broken", "broken")  # named in names.toml


class ChainBreak(BaseModel):
    position: int
    originator_id: str | None
    version: int | None
    rule: str
    message: str


class TicketChain(BaseModel):
    id: str
    events: int
    ok: bool
    last_position: int
    last_chain_hash: str
    first_break: ChainBreak | None


class Verification(BaseModel):
    position: int
    chain_hash: str
    verified_at: datetime = Field(
        description="Recorded time (the server's clock) when the verification started"
    )
    finished_at: datetime = Field(
        description="Recorded time (the server's clock) when the verification finished"
    )
    events: int
    ok: bool
    broken: int
    first_break: str | None


class StoreChain(BaseModel):
    head: int
    chain_version: str
    genesis_position: int | None
    genesis_at: datetime | None = Field(
        description="Recorded time (the server's clock) when the chain was added to this "
        "store: rows before genesis_position were hashed then, not as they were written"
    )
    last_verification: Verification | None


class ChainStatus(BaseModel):
    status: str
    ticket: TicketChain
    store: StoreChain


@router.get("/audit/chain", response_model=ChainStatus, responses=ERRORS)
def chain_status(user: CurrentUser, runtime: RuntimeDep, ticket: UUID) -> JSONResponse:
    """A ticket's chain re-checked now, and the store's last recorded verification."""
    if user.role not in READERS:
        raise forbidden(f"role {user.role.value} may not read the hash chain")
    chain = chain_of(runtime.desk.recorder)
    rows = chain.aggregate_rows(ticket)
    if not rows:
        raise ApiError(404, "not_found", f"no events of ticket {ticket} in the store")
    own = check_aggregate(rows)
    last_row = rows[-1][0]
    last = chain.last_verification()
    genesis = chain.genesis()
    head, _ = chain.head()
    first = own.first
    if not own.ok:
        status = "broken"
    elif last is not None and not last["ok"]:
        status = "store_broken"
    elif last is not None and last["position"] >= last_row[0]:
        status = "verified"
    else:
        status = "intact"
    body: dict[str, Any] = {
        "status": status,
        "ticket": {
            "id": str(ticket),
            "events": len(rows),
            "ok": own.ok,
            "last_position": last_row[0],
            "last_chain_hash": (last_row[6] or b"").hex(),
            "first_break": None if first is None else first.as_dict(),
        },
        "store": {
            "head": head,
            "chain_version": CHAIN_VERSION,
            "genesis_position": None if genesis is None else genesis.position,
            "genesis_at": None if genesis is None else genesis.recorded_at,
            "last_verification": last,
        },
    }
    return as_json(runtime, body)
