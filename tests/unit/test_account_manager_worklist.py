"""account_manager_worklist: events recorded by the real desk, folded into rows (given events ->
rows): a manager's open tickets, breaches and verdicts per quarter, problem customers flagged."""

from __future__ import annotations

from domain import commands as c
from domain.desk import Desk, Outcome
from domain.personal import ERASED
from projections.account_manager_worklist import (
    FLAGS,
    NAMES,
    TICKETS,
    AccountManagerWorklist,
    quarter_report,
)
from tests.factories import (
    AGENT,
    HANDLER,
    SYSTEM,
    FakeClock,
    act,
    bj,
    make_desk,
    receive,
)
from tests.unit.test_key_accounts import key_customer
from tests.unit.test_personal_data import ADMIN, SEALING
from tests.unit.test_projection_sla import MemoryRows


def fold_all(desk: Desk) -> MemoryRows:
    """Every event of the desk's log folded into a fresh view."""
    view = AccountManagerWorklist()
    rows = MemoryRows(view)
    for note in desk.recorder.select_notifications(start=1, limit=100_000):
        view.fold(desk.mapper.to_domain_event(note), rows)
    return rows


def closed_satisfied(desk: Desk, ticket: Outcome, satisfaction: int) -> None:
    act(desk, ticket, "verify")
    act(desk, ticket, "classify", category="service_attitude", priority="normal")
    act(desk, ticket, "dispatch", owner="zhang-san")
    act(desk, ticket, "accept", HANDLER)
    act(desk, ticket, "reply", HANDLER, result="已处理")
    act(desk, ticket, "answer", content="已答复客户")
    callback = desk.handle(c.ScheduleCallback(**AGENT, ticket_id=ticket.id))
    desk.handle(
        c.RecordCallbackOutcome(
            **AGENT, callback_id=callback.id, satisfaction=satisfaction, comment="回访"
        )
    )


def test_a_managers_worklist_and_the_quarterly_key_account_figures(
    memory_desk: Desk, clock: FakeClock
) -> None:
    a_customer = key_customer(memory_desk)  # grade A key account, manager li-manager
    b_customer = key_customer(memory_desk, grade="B", key_account=False, manager="wang-manager")
    plain = key_customer(memory_desk, grade="none", manager=None)
    # Mon 2026-10-12 09:00: three tickets of the A customer, one of the B, one plain.
    a1 = receive(memory_desk, customer_id=a_customer.id)
    a2 = receive(memory_desk, customer_id=a_customer.id)
    a3 = receive(memory_desk, customer_id=a_customer.id)
    b1 = receive(memory_desk, customer_id=b_customer.id)
    receive(memory_desk, customer_id=plain.id)
    # a1's first contact (A lane: 4 working hours, Mon 09:00-12:00 + 13:30-14:30) breaches.
    clock.set(bj(2026, 10, 12, 14, 30))
    act(memory_desk, a1, "record_breach", SYSTEM, milestone="first_contact", cycle=1)
    # a2 closed satisfied (callback score 5), a3 withdrawn; b1 stays open.
    closed_satisfied(memory_desk, a2, 5)
    act(memory_desk, a3, "withdraw", reason="客户撤回")

    rows = fold_all(memory_desk)

    tickets = rows.all(TICKETS)
    assert len(tickets) == 4  # the plain customer's ticket is on nobody's list
    li_open = [r["number"] for r in tickets if r["manager"] == "li-manager" and r["open"]]
    assert li_open == [a1.number]  # a2 closed, a3 withdrawn
    wang = [r for r in tickets if r["manager"] == "wang-manager"]
    assert [(r["number"], r["open"], r["grade"], r["quarter"]) for r in wang] == [
        (b1.number, True, "B", "2026Q4")
    ]

    report = quarter_report(r for r in tickets if r["quarter"] == "2026Q4")
    by_customer = {r["customer_id"]: r for r in report}
    a = by_customer[str(a_customer.id)]
    # A customer: 3 tickets, 1 breach (a1), 1 verdict (a2, satisfied): 1 / 1 = 1.0.
    assert (a["tickets"], a["breaches"], a["with_verdict"], a["satisfied"], a["satisfaction"]) == (
        3,
        1,
        1,
        1,
        1.0,
    )
    b = by_customer[str(b_customer.id)]
    # B customer: 1 ticket, no breach, no verdict yet: no rate.
    assert (b["tickets"], b["breaches"], b["satisfaction"]) == (1, 0, None)


def test_a_flagged_problem_customer_is_on_its_managers_list(memory_desk: Desk) -> None:
    customer = key_customer(memory_desk, grade="B", key_account=True, manager="wang-manager")
    outs = [
        receive(memory_desk, customer_id=customer.id, occurred_at=bj(2026, 10, day, 10, 0))
        for day in (5, 6, 7)
    ]

    flags = fold_all(memory_desk).all(FLAGS)

    # 3 complaints in 2026Q4 = the default threshold 3: flagged at the third (10-07 10:00).
    assert flags == [
        {
            "customer_id": str(customer.id),
            "quarter": "2026Q4",
            "manager": "wang-manager",
            "complaints": 3,
            "threshold": 3,
            "flagged_at": bj(2026, 10, 7, 10, 0),
            "evidence": [o.number for o in outs],
            "visit_id": None,  # awaiting a visit plan
        }
    ]


def test_a_managers_rows_name_the_customer_until_it_is_erased() -> None:
    desk = make_desk(FakeClock(), env=SEALING)  # personal data sealed, so it can be erased
    # Given a key customer registered by name, with a ticket on its manager's list
    customer = key_customer(desk)  # 湘江钢铁集团, grade A, li-manager
    receive(desk, customer_id=customer.id)
    live = fold_all(desk)
    assert live.all(NAMES) == [{"customer_id": str(customer.id), "name": "湘江钢铁集团"}]

    # When the customer is erased, and the view folds the erasure it had not yet seen
    view = AccountManagerWorklist()
    desk.handle(c.EraseCustomer(**ADMIN, customer_id=customer.id, reason="客户书面申请删除"))
    [erased] = list(desk.recorder.select_notifications(start=1, limit=100_000))[-1:]
    view.fold(desk.mapper.to_domain_event(erased), live)

    # Then the name reads as erased, exactly as a rebuild from the log writes it (the
    # registration decodes as erased now), and the ticket row is still the manager's
    assert live.all(NAMES) == [{"customer_id": str(customer.id), "name": ERASED}]
    rebuilt = fold_all(desk)
    assert rebuilt.all(NAMES) == live.all(NAMES)
    assert rebuilt.all(TICKETS) == live.all(TICKETS)
    assert [r["manager"] for r in rebuilt.all(TICKETS)] == ["li-manager"]
