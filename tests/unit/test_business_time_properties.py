"""Property: when facts are recorded does not change what the SLA and the reports say.

The same facts of one fault repair (call, dispatch to station_1, transfer to station_2, crew
sent, crew on site, power restored), each with the same business time, are recorded with
random delays while the live SLA clock keeps acting on whatever it knows at every instant.
Recorded promptly, the clock never judges anything wrong; recorded late, it breaches clocks
that were in fact met and credits breaches to the department that held the ticket before a
transfer it had not been told of, and the late facts then correct it by events.

Either way the final outcome in business time must be the same: each milestone met or late,
whether it stands breached, and the department figures (breaches by department and milestone,
on-time counts). What the system *did* meanwhile (escalation steps taken, corrections made)
legitimately differs and is not compared.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap.org_loader import load_directory
from domain.desk import Desk
from projections.department_performance import PERFORMANCE, DepartmentPerformance
from projections.reports import rows_as_of
from tests.factories import HANDLER, SUPERVISOR, SYSTEM, FakeClock, act, bj, make_desk, receive

CALL = bj(2026, 10, 12, 9, 0)
END = CALL + timedelta(days=2)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
DIRECTORY = load_directory()
MINUTE = timedelta(minutes=1)


def facts(transfer_at: int, arrival_after: int, restore_after: int) -> list[tuple[str, ...]]:
    """(minutes after the call, action, who) of one repair's facts, in lifecycle order."""
    crew_at = transfer_at + 5
    arrival_at = crew_at + arrival_after
    return [
        (5, "dispatch", "front"),
        (transfer_at, "transfer", "supervisor"),
        (crew_at, "dispatch_crew", "station"),
        (arrival_at, "record_arrival", "station"),
        (arrival_at + restore_after, "record_restoration", "station"),
    ]


FIELDS: dict[str, dict[str, Any]] = {
    "dispatch": {"to_department": "station_1", "owner": "李四"},
    "transfer": {"to_department": "station_2", "owner": "王五", "reason": "线路属二站"},
    "dispatch_crew": {"crew": "抢修一班"},
    "record_arrival": {"crew": "抢修一班"},
    "record_restoration": {"crew": "抢修一班", "cause": "树障"},
}
WHO = {"front": None, "supervisor": SUPERVISOR, "station": HANDLER}


def live_clock_until(desk: Desk, clock: FakeClock, ticket: Any, until: datetime) -> None:
    """The SLA clock running continuously up to ``until``: each step at its due instant,
    recorded then (or at once, if the clock was behind)."""
    while True:
        due = desk.ticket(ticket.id).due_actions(until)
        if not due:
            return
        step = due[0]
        clock.set(max(clock.now, step["at"]))
        fields = {k: step[k] for k in ("milestone", "cycle", "threshold", "level") if k in step}
        act(desk, ticket, step["action"], SYSTEM, occurred_at=step["at"], **fields)


def run(story: list[tuple[str, ...]], delays: list[int]) -> tuple[Any, Any]:
    clock = FakeClock(CALL)
    desk = make_desk(clock, env={})
    ticket = receive(desk, kind="fault_repair", category="outage")
    recorded = CALL
    for (minutes, action, who), delay in zip(story, delays, strict=True):
        occurred = CALL + int(minutes) * MINUTE
        recorded = max(recorded, occurred + delay * MINUTE)
        live_clock_until(desk, clock, ticket, recorded)
        clock.set(max(clock.now, recorded))
        fields = dict(FIELDS[action])
        if action == "dispatch_crew":
            fields["promised_arrival_at"] = occurred + 30 * MINUTE
        act(desk, ticket, action, WHO[who], occurred_at=occurred, **fields)
    live_clock_until(desk, clock, ticket, END)
    return outcome(desk, ticket)


def outcome(desk: Desk, ticket: Any) -> tuple[Any, Any]:
    final = desk.ticket(ticket.id)
    clocks = sorted((key, run.outcome, run.breached) for key, run in final.runs.items())
    projection = DepartmentPerformance(DIRECTORY)
    rows = rows_as_of(desk, projection, FAR)
    figures: Counter[tuple[str, ...]] = Counter()
    for row in rows.dump(projection.table(PERFORMANCE)):
        figures[(row["department"], row["day"], "breaches_total")] += row["breaches_total"]
        for milestone, n in (row["breaches"] or {}).items():
            figures[(row["department"], row["day"], "breach", milestone)] += n
        for milestone, (met, late) in (row["sla"] or {}).items():
            figures[(row["department"], row["day"], "met", milestone)] += met
            figures[(row["department"], row["day"], "late", milestone)] += late
    return clocks, +figures  # unary plus drops zero counts


@settings(max_examples=60, deadline=None)
@given(
    transfer_at=st.integers(min_value=10, max_value=60),
    arrival_after=st.integers(min_value=5, max_value=60),
    restore_after=st.integers(min_value=10, max_value=240),
    delays=st.lists(st.integers(min_value=0, max_value=180), min_size=5, max_size=5),
)
def test_recording_delays_do_not_change_outcomes_or_department_figures(
    transfer_at: int, arrival_after: int, restore_after: int, delays: list[int]
) -> None:
    story = facts(transfer_at, arrival_after, restore_after)
    prompt = run(story, [0] * len(story))
    late = run(story, delays)
    assert late == prompt


def test_a_late_on_time_arrival_and_a_late_transfer_give_the_prompt_figures() -> None:
    """One case by hand: transfer at 09:30 and arrival at 09:40 both typed in two hours late;
    the clock breached the arrival at 09:45 for station_1 meanwhile."""
    story = facts(transfer_at=30, arrival_after=5, restore_after=60)
    prompt_clocks, prompt_figures = run(story, [0] * 5)
    late_clocks, late_figures = run(story, [0, 120, 120, 120, 120])

    assert ("arrival#1", "met", False) in prompt_clocks
    assert late_clocks == prompt_clocks
    assert late_figures == prompt_figures
    assert not any(key[2] == "breaches_total" for key in prompt_figures)
