"""Erasing a customer (crypto-shredding) keeps every figure and leaves no personal byte behind.

Given a month's small story on a real store (SQLite file, PostgreSQL database) with views
projected by the real projector, when one customer is erased, then:

- the department, SLA and escalation views' digests are what they were (and what a clean
  rebuild from the log gives): no figure moved;
- no stored byte holds the customer's phone number, name or address: not the raw SQLite file
  and its WAL, not any row of any table of the database, not any decoded event state, not
  any view row, not any log line written meanwhile; another customer's data is still there;
- the events still replay: the customer and the tickets read ``[erased]`` where the data was,
  and the hash chain over them verifies.

The store takes no snapshots (eventsourcing's ``IS_SNAPSHOTTING_ENABLED`` is not set), so there
are none to scan; they would be rows of a table here if it did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from bootstrap import build_followers
from bootstrap.chain_store import chain_of, verify
from bootstrap.personal import compact
from config.settings import Settings
from domain import commands as c
from domain import extensions
from domain.customer import Customer
from domain.desk import Desk
from domain.errors import InvalidValue
from domain.personal import ERASED
from tests.factories import (
    AGENT,
    SYSTEM,
    FakeClock,
    act,
    bj,
    history,
    make_desk,
    meta_at,
    receive,
)
from tests.integration.views import digests, rebuilt
from workers.projector import Projector

pytestmark = pytest.mark.postgres

PHONE = "13987654321"
NAME = "欧阳娜娜"
ADDRESS = "岳麓区枫林路88号"
OTHER_PHONE = "13712340000"
OTHER_NAME = "司马光明"
ADMIN: dict[str, Any] = {"actor_id": "admin-1", "role": "admin", "department": "marketing"}
# The views of figures (every table of those without personal data, and the callback queue).
FIGURES = ("department_performance", "sla_deadlines", "escalation_queue")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(database_url=f"sqlite:///{tmp_path / 'events.sqlite'}")
    else:
        yield Settings(database_url=request.getfixturevalue("fresh_pg_url"))


def _story(desk: Desk, clock: FakeClock) -> tuple[UUID, list[UUID]]:
    """Two customers; the one to erase has a complaint that breaches and a repair."""
    clock.set(bj(2026, 10, 12, 9, 0))
    customer = desk.handle(
        c.RegisterCustomer(
            **AGENT, name=NAME, phone=PHONE, address=ADDRESS, customer_type="residential"
        )
    )
    mine = receive(desk, customer_id=customer.id, customer_name=None, phone=PHONE)
    repair = receive(
        desk, "fault_repair", category="outage", customer_id=customer.id, customer_name=None
    )
    other = receive(desk, customer_name=OTHER_NAME, phone=OTHER_PHONE)
    act(desk, mine, "verify")
    act(desk, mine, "classify", category="service_attitude", priority="normal")
    act(desk, mine, "dispatch", owner="张伟", to_department="station_1")
    act(desk, repair, "dispatch", owner="抢修调度", to_department="station_1")
    clock.set(bj(2026, 10, 13, 9, 0))
    act(desk, mine, "record_breach", SYSTEM, milestone="first_contact", cycle=1)
    act(desk, mine, "escalate", SYSTEM, milestone="first_contact", cycle=1, level=1)
    act(desk, other, "resolve_at_first_contact", answer="当场解释清楚")
    return customer.id, [mine.id, repair.id, other.id]


def test_erasing_a_customer_keeps_every_figure_and_leaves_no_personal_byte(
    store: Settings, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock()
    desk = make_desk(clock, env=store.eventsourcing_env())
    followers = build_followers(store)
    projector = Projector(desk, followers)
    customer_id, (mine, repair, other) = _story(desk, clock)
    projector.catch_up()
    before = digests(followers)
    assert desk.ticket(mine).customer["name"] == NAME  # readable while the key exists
    assert before["department_performance"][0] > 0  # the story counted something

    # When the customer is erased (through the desk's one entry point), views catch up and the
    # store is compacted.
    clock.set(bj(2026, 11, 2, 9, 0))
    out = desk.handle(c.EraseCustomer(**ADMIN, customer_id=customer_id, reason="客户书面申请删除"))
    assert out.events == ["CustomerErased"]
    projector.catch_up()
    compact(store, [f.projection for f in followers])

    # Then every figure is what it was, and what a rebuild from the log gives.
    after = digests(followers)
    figures = [t for t in before if t.startswith(FIGURES) or t == "callback_plan"]
    assert len(figures) >= 4
    for table in figures:
        assert after[table] == before[table], table
    clean = rebuilt(desk, store)
    assert digests(clean) == after

    # The hash chain still verifies: it covers the sealed bytes, which the erasure left alone
    # (and the compaction kept every notification id).
    check = verify(chain_of(desk.recorder), record=False)
    assert check.ok, check.breaks
    assert check.checked == desk.recorder.max_notification_id()

    # The events replay, reading erased where the personal data was.
    reread = make_desk(FakeClock(), env=store.eventsourcing_env())
    ticket = reread.ticket(mine)
    assert ticket.state == "dispatched"
    assert ticket.customer["name"] == ERASED
    assert ticket.details["contact"] == {"phone": ERASED, "address": ERASED}
    assert reread.ticket(other).customer["name"] == OTHER_NAME  # someone else's stays
    erasures = [e for e in reread.events.get(customer_id) if type(e).__name__ == "CustomerErased"]
    assert [e.tickets for e in erasures] == [[str(mine), str(repair)]]

    # Nothing personal is recorded for the customer any more.
    with pytest.raises(InvalidValue) as refused:
        receive(reread, customer_id=customer_id, customer_name=None)
    assert refused.value.message.startswith("customer_id: customer ")
    assert "was erased" in refused.value.message

    # No stored byte holds the phone, the name or the address.
    secrets = [PHONE, NAME, ADDRESS]
    dumps = _every_stored_text(store, reread, followers)
    dumps.append(("log lines", capfd.readouterr().out + capfd.readouterr().err))
    for where, text in dumps:
        for secret in secrets:
            assert secret not in text, f"{secret} still in {where}"
    assert any(OTHER_PHONE in text for _, text in dumps)  # the scan does see data
    for follower in (followers[0], clean[0]):  # the views of one build share a datastore
        follower.store.datastore.close()
    desk.close()
    reread.close()


def _every_stored_text(
    settings: Settings, desk: Desk, followers: list[Any]
) -> list[tuple[str, str]]:
    """Everything stored, as text: raw files or table rows, decoded events, view rows."""
    found: list[tuple[str, str]] = []
    if settings.backend == "sqlite":
        path = settings.sqlite_path
        for file in path.parent.glob(path.name + "*"):  # the file, its WAL and shared memory
            found.append((file.name, file.read_bytes().decode("utf-8", "replace")))
        with sqlite3.connect(path) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
                found.append((f"table {table}", _as_text(rows)))
    else:
        with psycopg.connect(settings.postgres_conninfo) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ).fetchall()
            ]
            for table in tables:
                rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
                found.append((f"table {table}", _as_text(rows)))
    notes = desk.recorder.select_notifications(start=1, limit=100_000)
    states = [vars(desk.mapper.to_domain_event(n)) for n in notes]
    found.append(("decoded events", repr(states)))
    for follower in followers:
        for table in follower.projection.tables:
            found.append((f"view {table.name}", repr(follower.store.dump(table))))
    return found


def _as_text(rows: list[Any]) -> str:
    parts = []
    for row in rows:
        for value in row:
            if isinstance(value, bytes | memoryview):
                parts.append(bytes(value).decode("utf-8", "replace"))
            else:
                parts.append(str(value))
    return "\n".join(parts)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_new_customers_key_is_stored_with_the_events_or_not_at_all(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """One commit per intake: the key made for a new caller goes in the events' transaction.
    A write refused as a conflict stores neither; the next attempt makes and stores its own."""
    url = (
        f"sqlite:///{tmp_path / 'keys.sqlite'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_pg_url")
    )
    desk = make_desk(FakeClock(), env=Settings(database_url=url).eventsourcing_env())
    taken = receive(desk, customer_name="早先的客户", phone="13600000000")
    old = desk.ticket(taken.id)
    assert _keys(desk) == {old.customer["id"]}

    # Given a new customer's first event sealed (its key made, pending) and, in the same write,
    # an event that collides with one already stored
    customer = Customer(
        meta=meta_at(bj(2026, 10, 12, 9, 0), AGENT),
        name=NAME,
        customer_type="residential",
        area="urban",
        voltage="lv_residential",
        station="station_1",
        contact={"phone": PHONE, "address": None},
        group_id=None,
        id=uuid4(),
    )
    events = customer.collect_events()
    fresh = [desk.mapper.to_stored_event(e) for e in events]
    clash = desk.recorder.select_events(taken.id, limit=1)[0]
    # When the write is refused
    with pytest.raises(IntegrityError):
        desk.recorder.insert_events([*fresh, clash])
    # Then no key was stored for the customer, and none is remembered
    assert str(customer.id) not in _keys(desk)
    # And the write tried again makes its own key and stores it with the events, which open
    desk.recorder.insert_events([desk.mapper.to_stored_event(e) for e in events])
    assert str(customer.id) in _keys(desk)
    again = make_desk(FakeClock(), env=Settings(database_url=url).eventsourcing_env())
    assert again.repository.get(customer.id).contact["phone"] == PHONE
    desk.close()
    again.close()


def _keys(desk: Desk) -> set[str]:
    with desk.recorder.datastore.transaction(commit=False) as c:
        c.execute('SELECT "subject" FROM "customer_keys" WHERE "key" IS NOT NULL')
        return {row["subject"] for row in c.fetchall()}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_intake_that_read_the_customer_before_the_erasure_is_refused_never_missed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The erasure names the customer's tickets; one taken in by a process that read the
    customer before the erasure and commits after it must not slip past that list (its view
    rows would keep what a cached key opened). Its write is refused, decided again on the
    customer as it is now: erased, so the intake is refused naming customer_id."""
    url = (
        f"sqlite:///{tmp_path / 'race.sqlite'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_pg_url")
    )
    env = Settings(database_url=url).eventsourcing_env()
    clock = FakeClock()
    clerk = make_desk(clock, env=env)  # the agent's process: the customer is in its cache
    admin = make_desk(clock, env=env)  # another process, which erases
    customer = clerk.handle(
        c.RegisterCustomer(**AGENT, name=NAME, phone=PHONE, customer_type="residential")
    )
    first = receive(clerk, customer_id=customer.id, customer_name=None)
    erasures: list[Any] = []

    def erase_meanwhile(desk: Any, ticket: Any, meta: Any, fresh_caller: bool) -> list[Any]:
        # Given the clerk's intake has read the customer and decided: before it commits, the
        # customer is erased elsewhere
        if desk is clerk and not erasures:
            erasures.append(
                admin.handle(c.EraseCustomer(**ADMIN, customer_id=customer.id, reason="书面申请"))
            )
        return []

    extensions.INTAKE_HOOKS.append(erase_meanwhile)
    try:
        # When the intake commits
        with pytest.raises(InvalidValue) as refused:
            receive(clerk, customer_id=customer.id, customer_name=None)
    finally:
        extensions.INTAKE_HOOKS.remove(erase_meanwhile)

    # Then it is refused naming the field, and no ticket was recorded that the erasure missed
    assert refused.value.details["field"] == "customer_id"
    (erased,) = [e for e in history(admin, customer.id) if type(e).__name__ == "CustomerErased"]
    taken_in = [
        n.originator_id
        for n in admin.recorder.select_notifications(1, 10_000)
        if n.topic.endswith(".ComplaintReceived")
    ]
    assert [str(t) for t in taken_in] == [str(first.id)]
    assert [str(t) for t in erased.tickets] == [str(first.id)]
    clerk.close()
    admin.close()
