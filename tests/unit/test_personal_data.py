"""Personal data sealed per customer, and erased by destroying the key (crypto-shredding).

Given events / when command / then events or error, on the in-memory store with the sealing
mapper (its keys in memory); the real stores are in tests/integration/test_erasure.py.
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from pydantic import ValidationError

from domain import commands as c
from domain.callback import Callback
from domain.complaint import Complaint
from domain.customer import Customer
from domain.desk import Desk
from domain.errors import InvalidValue
from domain.personal import ERASED, PERSONAL
from domain.service_request import ServiceRequest
from domain.ticket import Ticket
from tests.factories import AGENT, FakeClock, bj, make_desk, meta_at, receive

SEALING = {"MAPPER_TOPIC": "bootstrap.personal:SealingMapper"}
ADMIN: dict[str, Any] = {"actor_id": "admin-1", "role": "admin", "department": "marketing"}
PHONE, NAME, ADDRESS = "13987654321", "欧阳娜娜", "岳麓区枫林路88号"


@pytest.fixture
def desk() -> Desk:
    return make_desk(FakeClock(), env=SEALING)


def _stored(desk: Desk) -> list[StoredEvent]:
    return list(desk.recorder.select_notifications(start=1, limit=1000))


def _customer_of(desk: Desk, ticket_id: Any) -> Any:
    return desk.ticket(ticket_id).customer["id"]


def test_personal_values_are_stored_sealed_and_read_back_in_clear(desk: Desk) -> None:
    # When a caller is taken in with name, phone and address
    out = receive(desk, customer_name=NAME, phone=PHONE, address=ADDRESS)
    # Then no stored event holds them, and the desk reads them back
    for stored in _stored(desk):
        for secret in (NAME, PHONE, ADDRESS):
            assert secret.encode() not in stored.state, stored.topic
    ticket = desk.ticket(out.id)
    assert ticket.customer["name"] == NAME
    assert ticket.details["contact"] == {"phone": PHONE, "address": ADDRESS}
    # and what is not personal stays readable in the stored JSON (reports, audits)
    opened = next(s for s in _stored(desk) if s.topic.endswith("ComplaintReceived"))
    assert b'"category":"service_attitude"' in opened.state
    assert b'"_type_":"sealed"' in opened.state


def test_erasing_records_the_tickets_and_every_copy_reads_erased(desk: Desk) -> None:
    # Given a customer with two tickets and someone else with one
    first = receive(desk, customer_name=NAME, phone=PHONE, address=ADDRESS)
    customer = _customer_of(desk, first.id)
    second = receive(desk, customer_id=customer, customer_name=None, phone=PHONE)
    other = receive(desk, customer_name="司马光明", phone="13712340000")
    # When the customer is erased
    out = desk.handle(c.EraseCustomer(**ADMIN, customer_id=customer, reason="客户书面申请"))
    # Then one CustomerErased names both tickets and the reason
    assert out.events == ["CustomerErased"]
    erased = [e for e in desk.events.get(customer) if type(e).__name__ == "CustomerErased"]
    assert erased[0].tickets == [str(first.id), str(second.id)]
    assert erased[0].reason == "客户书面申请"
    # and every event replays with the personal values erased, nothing else changed
    again = desk.ticket(second.id)
    assert again.customer["name"] == ERASED
    assert again.details["contact"] == {"phone": ERASED, "address": ERASED}
    assert again.state == "received"
    assert again.category == "service_attitude"
    assert desk.repository.get(customer).name == ERASED
    assert desk.ticket(other.id).customer["name"] == "司马光明"


def test_erasing_twice_changes_nothing(desk: Desk) -> None:
    first = receive(desk, customer_name=NAME, phone=PHONE)
    customer = _customer_of(desk, first.id)
    desk.handle(c.EraseCustomer(**ADMIN, customer_id=customer, reason="客户申请"))
    again = desk.handle(c.EraseCustomer(**ADMIN, customer_id=customer, reason="客户申请"))
    assert again.events == []
    assert again.changed is False


def test_an_intake_for_an_erased_customer_is_refused_naming_the_field(desk: Desk) -> None:
    first = receive(desk, customer_name=NAME, phone=PHONE)
    customer = _customer_of(desk, first.id)
    desk.handle(c.EraseCustomer(**ADMIN, customer_id=customer, reason="客户申请"))
    before = len(_stored(desk))
    with pytest.raises(InvalidValue) as refused:
        receive(desk, customer_id=customer, customer_name=None)
    assert refused.value.message.startswith(f"customer_id: customer {customer} was erased")
    assert len(_stored(desk)) == before  # nothing recorded


def test_an_erasure_needs_its_reason() -> None:
    with pytest.raises(ValidationError) as refused:
        c.EraseCustomer(**ADMIN, customer_id=uuid.uuid4(), reason="   ")
    assert refused.value.errors()[0]["loc"] == ("reason",)


def test_a_contact_update_for_an_erased_customer_is_refused() -> None:
    customer = Customer(
        meta=_meta(),
        name=NAME,
        customer_type="residential",
        area="urban",
        voltage="lv_residential",
        station="station_1",
        contact={"phone": PHONE, "address": None},
        group_id=None,
        id=uuid.uuid4(),
    )
    customer.erase(_meta(), "客户申请", [])
    assert customer.contact == {"phone": ERASED}
    with pytest.raises(InvalidValue, match=r"^contact: customer .* was erased"):
        customer.update_contact(_meta(), {"phone": "13700000000"})


def test_a_sealed_value_moved_to_another_field_does_not_open(desk: Desk) -> None:
    receive(desk, customer_name=NAME, phone=PHONE, address=ADDRESS)
    opened = next(s for s in _stored(desk) if s.topic.endswith("ComplaintReceived"))
    state = desk.mapper.transcoder.decode(opened.state)
    contact = state["details"]["contact"]
    contact["phone"], contact["address"] = contact["address"], contact["phone"]
    swapped = StoredEvent(
        originator_id=opened.originator_id,
        originator_version=opened.originator_version,
        topic=opened.topic,
        state=desk.mapper.transcoder.encode(state),
    )
    with pytest.raises(MapperDeserialisationError, match="does not open"):
        desk.mapper.to_domain_event(swapped)


def test_a_store_without_sealing_refuses_to_erase() -> None:
    plain = make_desk(FakeClock(), env={})
    first = receive(plain, customer_name=NAME, phone=PHONE)
    customer = plain.ticket(first.id).customer["id"]
    with pytest.raises(InvalidValue, match=r"^customer_id: this store does not seal"):
        plain.handle(c.EraseCustomer(**ADMIN, customer_id=customer, reason="客户申请"))


def test_every_event_that_carries_a_customers_data_is_declared() -> None:
    """An event with a name, contact or details field is one the sealing must know about."""
    carriers = set()
    for cls in (Customer, Complaint, ServiceRequest, Ticket, Callback):
        for _, member in inspect.getmembers(cls, inspect.isclass):
            if issubclass(member, Aggregate.Event):
                fields = set(inspect.signature(member).parameters)
                if {"name", "contact", "details", "phone", "address"} & fields:
                    carriers.add(member.__name__)
    assert carriers, "no event classes found: the scan is broken"
    assert carriers <= set(PERSONAL), sorted(carriers - set(PERSONAL))


def _meta() -> Any:
    return meta_at(bj(2026, 10, 12, 9, 0), AGENT)
