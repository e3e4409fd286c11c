"""Customer visits (客户走访): the account manager plans, a supervisor approves the plan, the
manager reports, a supervisor approves the report and the visit is archived; refusals name
the transition or the field; the manager's worklist shows what awaits a plan or a report."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.customer_visit import ApproveVisitPlan, ApproveVisitReport, PlanVisit, ReportVisit
from domain.desk import Desk, Outcome
from domain.errors import IllegalTransition, InvalidValue, NotFound
from projections.account_manager_worklist import FLAGS, VISITS
from tests.factories import AGENT, SUPERVISOR, FakeClock, bj, history, names, receive
from tests.unit.test_account_manager_worklist import fold_all
from tests.unit.test_key_accounts import key_customer

MANAGER: dict[str, Any] = {"actor_id": "li-manager", "role": "agent", "department": "marketing"}


def plan(desk: Desk, customer: Outcome, **fields: Any) -> Outcome:
    body: dict[str, Any] = {
        **MANAGER,
        "customer_id": customer.id,
        "manager": "li-manager",
        "quarter": "2026Q4",
        "purpose": "季度投诉较多，上门了解用电及服务诉求",
        "planned_for": bj(2026, 10, 15, 10, 0),
        **fields,
    }
    return desk.handle(PlanVisit(**body))


def report(desk: Desk, visit: Outcome, **fields: Any) -> Outcome:
    body: dict[str, Any] = {
        **MANAGER,
        "visit_id": visit.id,
        "manager": "li-manager",
        "visited_at": bj(2026, 10, 12, 8, 0),
        "findings": "计量装置需校验；客户希望指定专人联系",
        **fields,
    }
    return desk.handle(ReportVisit(**body))


def test_a_visit_goes_from_plan_to_archive_with_two_approvals(memory_desk: Desk) -> None:
    customer = key_customer(memory_desk)

    visit = plan(memory_desk, customer)
    assert (visit.events, visit.state) == (["VisitPlanned"], "planned")
    approved = memory_desk.handle(ApproveVisitPlan(**SUPERVISOR, visit_id=visit.id))
    assert (approved.events, approved.state) == (["VisitPlanApproved"], "plan_approved")
    reported = report(memory_desk, visit)
    assert (reported.events, reported.state) == (["VisitReported"], "reported")
    archived = memory_desk.handle(ApproveVisitReport(**SUPERVISOR, visit_id=visit.id))

    assert (archived.events, archived.state) == (
        ["VisitReportApproved", "VisitArchived"],
        "archived",
    )
    assert names(history(memory_desk, visit.id)) == [
        "VisitPlanned",
        "VisitPlanApproved",
        "VisitReported",
        "VisitReportApproved",
        "VisitArchived",
    ]


def test_only_supervisors_approve(memory_desk: Desk) -> None:
    visit = plan(memory_desk, key_customer(memory_desk))

    with pytest.raises(InvalidValue) as refused:
        memory_desk.handle(ApproveVisitPlan(**AGENT, visit_id=visit.id))

    assert refused.value.details["field"] == "role"
    assert "only supervisors approve plans" in str(refused.value)
    assert names(history(memory_desk, visit.id)) == ["VisitPlanned"]


def test_steps_out_of_order_are_refused_naming_the_transition(memory_desk: Desk) -> None:
    visit = plan(memory_desk, key_customer(memory_desk))

    with pytest.raises(IllegalTransition, match="is planned; cannot report"):
        report(memory_desk, visit)
    with pytest.raises(IllegalTransition, match="is planned; cannot approve_report"):
        memory_desk.handle(ApproveVisitReport(**SUPERVISOR, visit_id=visit.id))
    memory_desk.handle(ApproveVisitPlan(**SUPERVISOR, visit_id=visit.id))
    with pytest.raises(IllegalTransition, match="is plan_approved; cannot approve_plan"):
        memory_desk.handle(ApproveVisitPlan(**SUPERVISOR, visit_id=visit.id))


def test_a_plan_by_another_manager_is_refused_naming_the_field(memory_desk: Desk) -> None:
    with pytest.raises(InvalidValue) as refused:
        plan(memory_desk, key_customer(memory_desk), manager="wang-manager")
    assert refused.value.details["field"] == "manager"


def test_a_plan_for_no_quarter_is_refused_at_the_command(memory_desk: Desk) -> None:
    with pytest.raises(ValidationError, match="quarter"):
        plan(memory_desk, key_customer(memory_desk), quarter="2026-10")


def test_a_customer_without_a_manager_cannot_be_visited(memory_desk: Desk) -> None:
    with pytest.raises(InvalidValue) as refused:
        plan(memory_desk, key_customer(memory_desk, manager=None))
    assert refused.value.details["field"] == "customer_id"


def test_a_report_by_another_manager_or_of_a_visit_to_come_is_refused(
    memory_desk: Desk, clock: FakeClock
) -> None:
    visit = plan(memory_desk, key_customer(memory_desk))
    memory_desk.handle(ApproveVisitPlan(**SUPERVISOR, visit_id=visit.id))

    with pytest.raises(InvalidValue) as other:
        report(memory_desk, visit, manager="wang-manager")
    assert other.value.details["field"] == "manager"
    # The clock reads Mon 2026-10-12 09:00: a visit at 10:00 has not taken place yet.
    with pytest.raises(InvalidValue) as early:
        report(memory_desk, visit, visited_at=bj(2026, 10, 12, 10, 0))
    assert early.value.details["field"] == "visited_at"


def test_an_unknown_visit_is_not_found(memory_desk: Desk) -> None:
    import uuid

    with pytest.raises(NotFound):
        memory_desk.handle(ApproveVisitPlan(**SUPERVISOR, visit_id=uuid.uuid4()))


def test_a_repeated_plan_is_recorded_once(memory_desk: Desk) -> None:
    customer = key_customer(memory_desk)
    first = plan(memory_desk, customer, command_id="plan-1")
    again = plan(memory_desk, customer, command_id="plan-1")
    assert (again.id, again.changed) == (first.id, False)


def test_the_worklist_shows_flags_awaiting_a_plan_and_visits_awaiting_a_report(
    memory_desk: Desk,
) -> None:
    customer = key_customer(memory_desk)
    for day in (5, 6, 7):  # 3 complaints in 2026Q4 = the default threshold: flagged
        receive(memory_desk, customer_id=customer.id, occurred_at=bj(2026, 10, day, 10, 0))
    [flag] = fold_all(memory_desk).all(FLAGS)
    assert (flag["manager"], flag["visit_id"]) == ("li-manager", None)  # awaits a plan

    visit = plan(memory_desk, customer)
    memory_desk.handle(ApproveVisitPlan(**SUPERVISOR, visit_id=visit.id))

    rows = fold_all(memory_desk)
    [flag] = rows.all(FLAGS)
    assert flag["visit_id"] == str(visit.id)  # planned: no longer awaits a plan
    [row] = rows.all(VISITS)
    assert (row["manager"], row["state"], row["quarter"]) == (
        "li-manager",
        "plan_approved",
        "2026Q4",
    )

    report(memory_desk, visit)
    memory_desk.handle(ApproveVisitReport(**SUPERVISOR, visit_id=visit.id))
    [row] = fold_all(memory_desk).all(VISITS)
    assert (row["state"], row["visited_at"]) == ("archived", bj(2026, 10, 12, 8, 0))
    assert row["findings"] == "计量装置需校验；客户希望指定专人联系"  # for the approving supervisor
    assert row["archived_at"] is not None
