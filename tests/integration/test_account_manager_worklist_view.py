"""account_manager_worklist through the real projector on SQLite and PostgreSQL: the same rows
as the in-memory fold, batch by batch, and equal to a rebuild from the log."""

from __future__ import annotations

import pytest

from api.reads import ViewReader
from bootstrap import build_followers
from config.settings import Settings
from domain.customer_visit import ApproveVisitPlan, PlanVisit
from domain.desk import Desk
from projections.account_manager_worklist import FLAGS, TICKETS, VISITS, AccountManagerWorklist
from projections.core import digest_rows
from tests.factories import SUPERVISOR, SYSTEM, FakeClock, act, bj, receive
from tests.integration.views import database_url
from tests.unit.test_key_accounts import key_customer
from workers.projector import Projector

pytestmark = pytest.mark.postgres


def test_the_worklist_view_on_both_backends_equals_its_rebuild(
    desk: Desk, clock: FakeClock
) -> None:
    settings = Settings(database_url=database_url(desk))
    [follower] = build_followers(settings, [AccountManagerWorklist()])
    projector = Projector(desk, [follower])
    customer = key_customer(desk)  # grade A key account, manager li-manager
    tickets = [
        receive(
            desk, customer_id=customer.id, command_id=f"ka-{day}", occurred_at=bj(2026, 10, day, 9)
        )
        for day in (8, 9)
    ]
    projector.catch_up()
    third = receive(desk, customer_id=customer.id, command_id="ka-12")
    clock.set(bj(2026, 10, 12, 14, 30))  # A lane first contact: 4 working hours from 09:00
    act(desk, third, "record_breach", SYSTEM, milestone="first_contact", cycle=1)
    visit = desk.handle(
        PlanVisit(
            actor_id="li-manager",
            role="agent",
            department="marketing",
            customer_id=customer.id,
            manager="li-manager",
            quarter="2026Q4",
            purpose="季度投诉三次，上门走访",
            planned_for=bj(2026, 10, 15, 10, 0),
        )
    )
    desk.handle(ApproveVisitPlan(**SUPERVISOR, visit_id=visit.id))
    projector.catch_up()

    store = follower.store
    view = follower.projection
    rows = {r["number"]: r for r in store.dump(view.table(TICKETS))}
    # 2 tickets received 10-08 and 10-09 at 09:00, one on 10-12 09:00 (breached once): all open.
    assert sorted(rows) == sorted(t.number for t in (*tickets, third))
    assert [rows[third.number]["breaches"], rows[tickets[0].number]["breaches"]] == [1, 0]
    assert {(r["manager"], r["open"], r["quarter"]) for r in rows.values()} == {
        ("li-manager", True, "2026Q4")
    }
    [flag] = store.dump(view.table(FLAGS))
    # 3 complaints in 2026Q4 = the default threshold 3; the visit planned for it.
    assert (flag["complaints"], flag["visit_id"]) == (3, str(visit.id))
    [planned] = store.dump(view.table(VISITS))
    assert (planned["state"], planned["planned_for"]) == ("plan_approved", bj(2026, 10, 15, 10, 0))

    # The API's queries on this backend: the manager's open tickets, visits awaiting a report.
    reader = ViewReader([follower], desk)
    mine = reader.equals("manager", "li-manager")
    worklist = reader.select(
        view.name, [mine, reader.equals("open", True)], '"received_at", "ticket_id"', table=TICKETS
    )
    assert [r["number"] for r in worklist] == [t.number for t in (*tickets, third)]
    awaiting = reader.select(
        view.name, [mine, reader.equals("state", "plan_approved")], '"visit_id"', table=VISITS
    )
    assert [r["visit_id"] for r in awaiting] == [str(visit.id)]
    flagged = reader.select(view.name, [mine], '"quarter" DESC', table=FLAGS)
    assert [(f["quarter"], f["evidence"]) for f in flagged] == [
        ("2026Q4", [t.number for t in (*tickets, third)])
    ]

    before = {t.name: digest_rows(t, store.dump(t)) for t in view.tables}
    [clean] = build_followers(settings, [AccountManagerWorklist()], shadow=True)
    clean.reset()
    Projector(desk, [clean]).catch_up()
    after = {
        t.name: digest_rows(t, clean.store.dump(clean.projection.table(t.name)))
        for t in view.tables
    }
    assert after == before
