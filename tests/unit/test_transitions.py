"""Every illegal transition of every lifecycle table is refused, and nothing is recorded.

For the complaint table and for the table of every service-request kind, each state the table
can reach from intake is reached through the desk by legal steps (a breadth-first path over the
table). Then every action of the table whose legal states exclude that state is sent as a real
command: it must fail with :class:`IllegalTransition` naming the ticket number, the state and the
action, and the store must hold exactly the events it held before. Actions that are not steps of
a kind at all (``record_arrival`` on a complaint, ``verify`` on a fault repair) are refused too.

The tickets are built once per module on one in-memory desk (each refusal leaves its ticket as it
was, which each test checks), so the whole file stays fast.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from domain import commands as c
from domain.complaint import COMPLAINT
from domain.desk import Desk, Outcome
from domain.errors import IllegalTransition
from domain.service_request import KINDS, STEPS
from domain.ticket import State, Transitions
from tests.factories import AGENT, FakeClock, bj, ctx_at, make_desk, receive, stored_count

NOW = bj(2026, 10, 12, 9, 0)  # Monday, before the 16 Oct reorganisation

TABLES: dict[str, Transitions] = {"complaint": COMPLAINT, **{k: STEPS[k] for k in KINDS}}
ALL_ACTIONS = sorted({action for table in TABLES.values() for action in table})

# The fields each action's command needs (valid values: only the state may be wrong).
FIELDS: dict[str, dict[str, Any]] = {
    "verify": {"note": "号码与户名核对一致"},
    "classify": {"category": "service_attitude", "priority": "normal"},
    "reclassify": {"category": "billing", "priority": "high"},
    "resolve_at_first_contact": {"answer": "已当场解释电价政策，客户认可"},
    "reject": {"reason": "duplicate"},
    "dispatch": {"owner": "zhang-san"},
    "accept": {},
    "transfer": {"to_department": "station_2", "owner": "li-si", "reason": "属二所辖区"},
    "hand_over": {"to_department": "station_3", "reason": "合署: 职责移交"},
    "urge": {"note": "请尽快处理"},
    "supervise": {"reason": "客户多次来电"},
    "contact_customer": {"note": "已致电客户说明进度"},
    "pause": {"reason": "等待客户提供缴费凭证"},
    "resume": {},
    "record_cause": {"cause": "窗口人员服务意识不足", "solution": "批评教育并登门致歉"},
    "reply": {"result": "已处理完毕"},
    "answer": {"content": "已向客户答复处理结果"},
    "close": {},
    "reopen": {"reason": "客户对处理结果不满意"},
    "withdraw": {"reason": "客户撤诉"},
    "rebind_sla": {"basis": "from_receipt", "reason": "政策调整"},
    "open_dispute": {"subject": "对电表读数有异议"},
    "resolve_dispute": {"outcome": "校验合格"},
    "dispatch_crew": {"crew": "抢修一班", "promised_arrival_at": bj(2026, 10, 12, 9, 40)},
    "record_arrival": {"crew": "抢修一班"},
    "record_restoration": {"crew": "抢修一班", "cause": "低压线路断线"},
    "record_survey": {"owner": "survey-1"},
    "draft_plan": {"owner": "planner-1"},
    "approve_plan": {"owner": "approver-1"},
    "sign_contract": {"owner": "contracts-1"},
    "install_meter": {"owner": "meter-1"},
    "energize": {"owner": "ops-1"},
    "schedule_test": {"owner": "metering-1"},
    "record_test": {"owner": "metering-1", "result": "误差 +3.2%，超差"},
    "propose_adjustment": {"owner": "billing-1", "kwh": 120.0, "amount_yuan": 68.5},
    "approve_adjustment": {"owner": "billing-2"},
    "start_work": {"owner": "handler-1"},
    # request_callback has no ticket command of its own: ScheduleCallback asks for it.
    "request_callback": {},
    # Neither has release_callback: CancelCallback does it, only when the ticket waits for
    # that callback (so no command can ask for it in a wrong state; see the test below).
    "release_callback": {},
}
DESK_ONLY = {"release_callback"}


def command_for(action: str, ticket_id: UUID) -> c.Command:
    """The real command that asks for ``action`` on the ticket."""
    if action == "request_callback":
        return c.ScheduleCallback(**AGENT, kind="post_service", ticket_id=ticket_id)
    return c.parse_action(action, {**AGENT, "ticket_id": ticket_id, **FIELDS[action]})


def paths(table: Transitions) -> dict[State, list[tuple[str, dict[str, Any]]]]:
    """For every state the table reaches from intake, the shortest legal path to it."""
    found: dict[State, list[tuple[str, dict[str, Any]]]] = {State.RECEIVED: []}
    queue = deque([State.RECEIVED])
    while queue:
        state = queue.popleft()
        for action, (legal, target) in table.items():
            if target is not None and state in legal and target not in found:
                found[target] = [*found[state], (action, FIELDS[action])]
                queue.append(target)
    return found


PATHS = {kind: paths(table) for kind, table in TABLES.items()}

ILLEGAL = [
    pytest.param(kind, state, action, id=f"{kind}-{state.value}-{action}")
    for kind, table in TABLES.items()
    for state in PATHS[kind]
    for action, (legal, _) in table.items()
    if state not in legal and action not in DESK_ONLY
]
ILLEGAL_RELEASE = [
    pytest.param(kind, state, id=f"{kind}-{state.value}")
    for kind, table in TABLES.items()
    for state in PATHS[kind]
    if state not in table["release_callback"][0]
]
NOT_STEPS = [
    pytest.param(kind, state, action, id=f"{kind}-{state.value}-{action}")
    for kind, table in TABLES.items()
    for state in (State.RECEIVED, State.ACCEPTED)
    for action in ALL_ACTIONS
    if action not in table
]


@pytest.fixture(scope="module")
def desk() -> Desk:
    return make_desk(FakeClock(NOW), env={})


@pytest.fixture(scope="module")
def ticket_in(desk: Desk) -> Callable[[str, State], Outcome]:
    """A ticket of ``kind`` brought to ``state`` by its legal path (built once, then reused)."""
    built: dict[tuple[str, State], Outcome] = {}

    def get(kind: str, state: State) -> Outcome:
        if (kind, state) not in built:
            ticket = receive(desk, kind)
            for action, _ in PATHS[kind][state]:
                desk.handle(command_for(action, ticket.id))
            assert desk.ticket(ticket.id).state is state
            built[kind, state] = ticket
        return built[kind, state]

    return get


# ------------------------------------------------------------------ reachable states


EXPECTED_STATES = {
    "complaint": {
        State.RECEIVED,
        State.VERIFIED,
        State.CLASSIFIED,
        State.DISPATCHED,
        State.ACCEPTED,
        State.IN_PROGRESS,
        State.REPLIED,
        State.CUSTOMER_ANSWERED,
        State.CALLBACK_PENDING,
        State.CLOSED,
        State.REOPENED,
        State.RESOLVED_AT_FRONT,
        State.REJECTED,
        State.WITHDRAWN,
    },
    "fault_repair": {State.CREW_EN_ROUTE, State.ON_SITE, State.RESTORED},
    "new_connection": {
        State.SURVEYED,
        State.PLAN_DRAFTED,
        State.PLAN_APPROVED,
        State.CONTRACT_SIGNED,
        State.METER_INSTALLED,
        State.ENERGIZED,
    },
    "meter_dispute": {
        State.TEST_SCHEDULED,
        State.TESTED,
        State.ADJUSTMENT_PROPOSED,
        State.ADJUSTMENT_APPROVED,
    },
    "billing_adjustment": {State.ADJUSTMENT_PROPOSED, State.ADJUSTMENT_APPROVED},
    "inquiry": {State.IN_PROGRESS, State.RESOLVED_AT_FRONT},
    "suggestion": {State.IN_PROGRESS, State.RESOLVED_AT_FRONT},
    "report": {State.IN_PROGRESS, State.RESOLVED_AT_FRONT},
}
# Every service-request kind shares the loop around its own steps.
SHARED = {
    State.RECEIVED,
    State.DISPATCHED,
    State.ACCEPTED,
    State.REPLIED,
    State.CUSTOMER_ANSWERED,
    State.CALLBACK_PENDING,
    State.CLOSED,
    State.REOPENED,
    State.WITHDRAWN,
}


@pytest.mark.parametrize("kind", list(TABLES))
def test_the_path_builder_reaches_every_state_of_the_lifecycle(kind: str) -> None:
    expected = EXPECTED_STATES[kind] | (SHARED if kind != "complaint" else set())
    assert set(PATHS[kind]) == expected


@pytest.mark.parametrize("kind", list(TABLES))
def test_every_reachable_state_is_reached_through_the_desk(
    kind: str, desk: Desk, ticket_in: Callable[[str, State], Outcome]
) -> None:
    for state in PATHS[kind]:
        ticket = ticket_in(kind, state)
        assert desk.ticket(ticket.id).state is state


# ------------------------------------------------------------------ refusals


def _assert_refused(desk: Desk, ticket: Outcome, state: State, action: str) -> None:
    before = desk.ticket(ticket.id)
    stored = stored_count(desk)

    with pytest.raises(IllegalTransition) as refused:
        desk.handle(command_for(action, ticket.id))

    message = str(refused.value)
    assert before.number in message
    assert f" is {state.value};" in message
    assert f"cannot {action}" in message
    assert refused.value.details == {
        "ticket": before.number,
        "state": state.value,
        "action": action,
    }
    after = desk.ticket(ticket.id)
    assert after.version == before.version
    assert after.state is state
    assert stored_count(desk) == stored


@pytest.mark.parametrize(("kind", "state", "action"), ILLEGAL)
def test_an_action_outside_its_legal_states_is_refused_and_records_nothing(
    kind: str,
    state: State,
    action: str,
    desk: Desk,
    ticket_in: Callable[[str, State], Outcome],
) -> None:
    _assert_refused(desk, ticket_in(kind, state), state, action)


@pytest.mark.parametrize(("kind", "state"), ILLEGAL_RELEASE)
def test_releasing_a_callback_outside_callback_pending_is_refused_by_the_ticket(
    kind: str, state: State, desk: Desk, ticket_in: Callable[[str, State], Outcome]
) -> None:
    ticket = desk.ticket(ticket_in(kind, state).id)  # a copy: nothing is saved

    with pytest.raises(IllegalTransition) as refused:
        ticket.release_callback(ctx_at(desk, NOW), "cb-1", "号码有误")

    assert refused.value.details == {
        "ticket": ticket.number,
        "state": state.value,
        "action": "release_callback",
    }
    assert ticket.pending_events == []


@pytest.mark.parametrize(("kind", "state", "action"), NOT_STEPS)
def test_an_action_that_is_not_a_step_of_the_kind_is_refused(
    kind: str,
    state: State,
    action: str,
    desk: Desk,
    ticket_in: Callable[[str, State], Outcome],
) -> None:
    ticket = ticket_in(kind, state)
    _assert_refused(desk, ticket, state, action)
    with pytest.raises(IllegalTransition, match=f"{action} is not a step of a {kind}"):
        desk.handle(command_for(action, ticket.id))


def test_the_tables_cover_a_meaningful_number_of_refusals() -> None:
    # Guards the parametrisation itself: an empty table would make this file pass vacuously.
    assert len(ILLEGAL) > 1000
    assert {kind for kind, *_ in (p.values for p in NOT_STEPS)} == set(TABLES)
