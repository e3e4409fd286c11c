"""Milestone clocks: used, remaining, due, state, across pauses and stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.errors import CalendarError, ClockError
from domain.sla.calendar import Always, CalendarSpec, build_calendar
from domain.sla.clock import (
    MilestoneClock,
    Pause,
    due_at,
    instant_of_fraction,
    instants_of_fractions,
    is_paused,
    pause,
    remaining_seconds,
    resume,
    state,
    stop,
    used_seconds,
)

BJ = ZoneInfo("Asia/Shanghai")
DAY = 27_000  # one cn-office working day (7.5 h)
OFFICE = build_calendar(
    CalendarSpec(
        id="cn-office",
        version=1,
        hours={
            d: [("08:30", "12:00"), ("13:30", "17:30")] for d in ("mon", "tue", "wed", "thu", "fri")
        },
        holiday_source="CN",
    )
)
ALWAYS = Always()


def bj(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=BJ)


def reply_clock(**overrides: object) -> MilestoneClock:
    """A 5-working-day department reply, started Mon 2 Mar 2026 09:00 (a week without holidays)."""
    fields: dict[str, object] = {
        "milestone": "department_reply",
        "cycle": 1,
        "target_seconds": 5 * DAY,
        "started_at": bj(2026, 3, 2, 9),
    }
    fields.update(overrides)
    return MilestoneClock(**fields)  # type: ignore[arg-type]


def test_a_running_clock_is_due_five_working_days_later() -> None:
    c = reply_clock()
    assert due_at(c, OFFICE) == bj(2026, 3, 9, 9)
    assert used_seconds(c, OFFICE, bj(2026, 3, 3, 9)) == DAY
    assert remaining_seconds(c, OFFICE, bj(2026, 3, 3, 9)) == 4 * DAY
    assert state(c, OFFICE, bj(2026, 3, 6, 17)) == "running"


def test_warnings_and_escalations_fall_at_fractions_of_the_budget() -> None:
    c = reply_clock()
    # 80 % of 135000 s = 108000 s = 4 working days exactly (no float rounding to 108001).
    assert instant_of_fraction(c, OFFICE, 0.8) == bj(2026, 3, 6, 9)
    assert instant_of_fraction(c, OFFICE, 0.5) == bj(2026, 3, 4, 14, 15)  # 2.5 days
    assert instant_of_fraction(c, OFFICE, 1.0) == due_at(c, OFFICE)
    assert instant_of_fraction(c, OFFICE, 1.5) == bj(2026, 3, 11, 14, 15)  # 7.5 days


def test_a_pause_extends_the_deadline_by_its_business_length() -> None:
    c = pause(reply_clock(), bj(2026, 3, 3, 10), "waiting for the customer's meter photos")
    assert is_paused(c)
    assert due_at(c, OFFICE) is None
    assert instant_of_fraction(c, OFFICE, 0.5) is None
    assert state(c, OFFICE, bj(2026, 3, 4, 10)) == "paused"
    # While paused, used stays at what it was when the pause began (1 day + 1 h).
    assert used_seconds(c, OFFICE, bj(2026, 3, 4, 16)) == DAY + 3600
    c = resume(c, bj(2026, 3, 4, 10))  # one working day later
    assert not is_paused(c)
    assert c.pauses == (
        Pause(bj(2026, 3, 3, 10), bj(2026, 3, 4, 10), "waiting for the customer's meter photos"),
    )
    assert due_at(c, OFFICE) == bj(2026, 3, 10, 9)
    assert used_seconds(c, OFFICE, bj(2026, 3, 4, 11)) == DAY + 2 * 3600
    assert remaining_seconds(c, OFFICE, bj(2026, 3, 10, 9)) == 0


def test_a_pause_in_non_working_time_changes_nothing() -> None:
    c = pause(reply_clock(), bj(2026, 3, 6, 18), "customer away for the weekend")
    c = resume(c, bj(2026, 3, 9, 8))
    assert due_at(c, OFFICE) == bj(2026, 3, 9, 9)


def test_used_as_of_a_past_instant_ignores_later_pauses() -> None:
    c = resume(pause(reply_clock(), bj(2026, 3, 3, 10), "docs"), bj(2026, 3, 4, 10))
    assert used_seconds(c, OFFICE, bj(2026, 3, 3, 9)) == DAY
    assert used_seconds(c, OFFICE, bj(2026, 3, 2, 8)) == 0  # before it started


def test_stopped_before_the_deadline_is_met() -> None:
    c = stop(reply_clock(), bj(2026, 3, 5, 10))
    assert state(c, OFFICE, bj(2026, 3, 20)) == "met"
    assert due_at(c, OFFICE) is None
    assert used_seconds(c, OFFICE, bj(2026, 3, 20)) == 3 * DAY + 3600  # frozen at the stop


def test_stopped_exactly_at_the_deadline_is_met() -> None:
    c = stop(reply_clock(), bj(2026, 3, 9, 9))
    assert state(c, OFFICE, bj(2026, 3, 9, 9)) == "met"


def test_stopped_after_the_deadline_is_breached() -> None:
    c = stop(reply_clock(), bj(2026, 3, 9, 10))
    assert state(c, OFFICE, bj(2026, 3, 20)) == "breached"
    assert remaining_seconds(c, OFFICE, bj(2026, 3, 20)) == -3600


def test_a_deadline_is_an_instant_even_at_the_end_of_a_working_day() -> None:
    # Started Mon 08:30: due Fri 17:30. A reply at 18:00 used no more working time, but it came
    # after the promised instant: breached (see domain/sla/clock.py).
    c = reply_clock(started_at=bj(2026, 3, 2, 8, 30))
    assert due_at(c, OFFICE) == bj(2026, 3, 6, 17, 30)
    assert state(c, OFFICE, bj(2026, 3, 6, 17, 30)) == "running"
    assert state(c, OFFICE, bj(2026, 3, 6, 17, 30, 1)) == "breached"
    late = stop(c, bj(2026, 3, 6, 18))
    assert used_seconds(late, OFFICE, bj(2026, 3, 6, 18)) == late.target_seconds
    assert state(late, OFFICE, bj(2026, 3, 6, 18)) == "breached"


def test_a_running_clock_past_due_is_breached_and_stays_so_when_paused() -> None:
    c = reply_clock()
    assert state(c, OFFICE, bj(2026, 3, 9, 9, 0, 1)) == "breached"
    assert remaining_seconds(c, OFFICE, bj(2026, 3, 9, 10)) == -3600
    paused_late = pause(c, bj(2026, 3, 9, 10), "customer unreachable")
    assert state(paused_late, OFFICE, bj(2026, 3, 9, 11)) == "breached"


def test_stop_during_a_pause_closes_it() -> None:
    c = stop(pause(reply_clock(), bj(2026, 3, 3, 10), "docs"), bj(2026, 3, 4, 10))
    assert c.pauses[-1].ended_at == bj(2026, 3, 4, 10)
    assert c.stopped_at == bj(2026, 3, 4, 10)
    assert used_seconds(c, OFFICE, bj(2026, 3, 30)) == DAY + 3600
    assert state(c, OFFICE, bj(2026, 3, 30)) == "met"


def test_arrival_on_the_24x7_clock_ignores_holidays() -> None:
    c = MilestoneClock("arrival", 1, 45 * 60, bj(2026, 10, 1, 3))
    assert due_at(c, ALWAYS) == bj(2026, 10, 1, 3, 45)
    assert due_at(c, ALWAYS).tzinfo is UTC  # type: ignore[union-attr]
    assert state(c, ALWAYS, bj(2026, 10, 1, 3, 45, 1)) == "breached"
    assert state(stop(c, bj(2026, 10, 1, 3, 40)), ALWAYS, bj(2026, 10, 1, 4)) == "met"


def test_refusals() -> None:
    c = reply_clock()
    with pytest.raises(ClockError, match="not paused"):
        resume(c, bj(2026, 3, 3))
    paused = pause(c, bj(2026, 3, 3, 10), "docs")
    with pytest.raises(ClockError, match="already paused"):
        pause(paused, bj(2026, 3, 3, 11), "again")
    with pytest.raises(ClockError, match=r"cannot resume at .* paused at"):
        resume(paused, bj(2026, 3, 3, 9))
    with pytest.raises(ClockError, match="before"):
        pause(c, bj(2026, 3, 1), "before the start")
    stopped = stop(c, bj(2026, 3, 4))
    with pytest.raises(ClockError, match="already stopped"):
        stop(stopped, bj(2026, 3, 5))
    with pytest.raises(ClockError, match="stopped"):
        pause(stopped, bj(2026, 3, 5), "too late")
    with pytest.raises(ClockError, match="positive"):
        reply_clock(target_seconds=0)
    with pytest.raises(ClockError, match="open"):
        reply_clock(pauses=(Pause(bj(2026, 3, 3), None, "a"), Pause(bj(2026, 3, 4), None, "b")))


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 2, 9)
    with pytest.raises(CalendarError, match="naive"):
        reply_clock(started_at=naive)
    with pytest.raises(CalendarError, match="naive"):
        used_seconds(reply_clock(), OFFICE, naive)
    with pytest.raises(CalendarError, match="naive"):
        pause(reply_clock(), naive, "x")
    with pytest.raises(CalendarError, match="naive"):
        state(reply_clock(), OFFICE, naive)


# ---- property: a pause of business length d moves the deadline by exactly d -----------------

instants = st.builds(
    lambda s: datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=s),
    st.integers(0, 2 * 365 * 86_400 - 40 * 86_400),
)


@settings(max_examples=200, deadline=None)
@given(
    start=instants,
    target=st.integers(1, 30 * DAY),
    pause_offset=st.integers(0, 40 * 86_400),
    pause_length=st.integers(0, 10 * 86_400),
)
def test_pause_shifts_due_by_its_business_length(
    start: datetime, target: int, pause_offset: int, pause_length: int
) -> None:
    c = MilestoneClock("reply", 1, target, start)
    old_due = due_at(c, OFFICE)
    assert old_due is not None
    paused_at = start + timedelta(seconds=pause_offset)
    assume(paused_at < old_due)  # paused inside its budget
    resumed_at = paused_at + timedelta(seconds=pause_length)
    d = OFFICE.between(paused_at, resumed_at)
    moved = resume(pause(c, paused_at, "waiting"), resumed_at)
    new_due = due_at(moved, OFFICE)
    assert new_due is not None
    assert new_due >= old_due
    assert OFFICE.between(old_due, new_due) == d
    assert used_seconds(moved, OFFICE, new_due) == target
    assert state(moved, OFFICE, new_due) == "running"
    assert state(moved, OFFICE, new_due + timedelta(seconds=1)) == "breached"


@settings(max_examples=200, deadline=None)
@given(start=instants, target=st.integers(1, 30 * DAY), fraction=st.floats(0.01, 2.0))
def test_fraction_instants_are_ordered_and_hit_their_share(
    start: datetime, target: int, fraction: float
) -> None:
    c = MilestoneClock("reply", 1, target, start)
    at = instant_of_fraction(c, OFFICE, fraction)
    assert at is not None
    due = due_at(c, OFFICE)
    assert due is not None
    if fraction <= 1:
        assert at <= due
    else:
        assert at >= due
    assert used_seconds(c, OFFICE, at) >= fraction * target - 1e-6
    assert used_seconds(c, OFFICE, at - timedelta(seconds=1)) < fraction * target


@settings(max_examples=200, deadline=None)
@given(
    start=instants,
    target=st.integers(1, 30 * DAY),
    fractions=st.lists(st.sampled_from([0.3, 0.5, 0.8, 1.0, 1.2, 1.5, 2.0]), max_size=6),
    pause_offset=st.one_of(st.none(), st.integers(0, 20 * 86_400)),
    pause_length=st.integers(0, 5 * 86_400),
    on_always=st.booleans(),
)
def test_a_schedule_in_one_walk_equals_each_instant_on_its_own(
    start: datetime,
    target: int,
    fractions: list[float],
    pause_offset: int | None,
    pause_length: int,
    on_always: bool,
) -> None:
    clock = ALWAYS if on_always else OFFICE
    c = MilestoneClock("reply", 1, target, start)
    if pause_offset is not None:
        paused_at = start + timedelta(seconds=pause_offset)
        c = resume(pause(c, paused_at, "waiting"), paused_at + timedelta(seconds=pause_length))
    due, at = instants_of_fractions(c, clock, fractions)
    assert due == due_at(c, clock)
    assert at == {f: instant_of_fraction(c, clock, f) for f in fractions}


def test_a_paused_or_stopped_clock_has_no_schedule() -> None:
    paused = pause(reply_clock(), bj(2026, 3, 3, 10), "waiting")
    assert instants_of_fractions(paused, OFFICE, [0.5, 1.5]) == (None, {0.5: None, 1.5: None})
    stopped = stop(reply_clock(), bj(2026, 3, 3, 10))
    assert instants_of_fractions(stopped, OFFICE, [0.8]) == (None, {0.8: None})
