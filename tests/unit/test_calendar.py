"""Business time: real 2026 holiday arithmetic, boundaries, and round-trip properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.errors import CalendarError
from domain.sla.calendar import Always, BusinessCalendar, CalendarSpec, build_calendar

BJ = ZoneInfo("Asia/Shanghai")
OFFICE_HOURS = (("08:30", "12:00"), ("13:30", "17:30"))
DAY = 7 * 3600 + 1800  # one cn-office working day: 3.5 h + 4 h


def office_spec(**overrides: object) -> CalendarSpec:
    data: dict[str, object] = {
        "id": "cn-office",
        "version": 1,
        "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), OFFICE_HOURS),
        "holiday_source": "CN",
    }
    data.update(overrides)
    return CalendarSpec.model_validate(data)


OFFICE = build_calendar(office_spec())


def bj(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=BJ)


# ---- the data: which 2026 days are off and which weekend days are worked --------------------


def test_2026_golden_week_and_makeup_days_come_from_chinese_calendar() -> None:
    # National Day 2026: Thu 1 Oct .. Wed 7 Oct off; Sun 20 Sep and Sat 10 Oct are worked (调休).
    # Mid-Autumn is Fri 25 Sep 2026 (a separate three-day break, 25-27 Sep).
    assert all(date(2026, 10, d) in OFFICE.holidays for d in (1, 2, 5, 6, 7))
    assert date(2026, 9, 25) in OFFICE.holidays
    assert date(2026, 9, 30) not in OFFICE.holidays
    assert {date(2026, 9, 20), date(2026, 10, 10)} <= OFFICE.makeup_days
    assert {d for d in OFFICE.makeup_days if d.year == 2026} == {
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    }
    assert OFFICE.is_working(bj(2026, 10, 10, 9))  # Saturday, make-up day
    assert not OFFICE.is_working(bj(2026, 10, 8, 8, 29, 59))
    assert OFFICE.is_working(bj(2026, 10, 8, 8, 30))


def test_weekend_days_of_a_break_are_off_on_a_seven_day_calendar() -> None:
    every_day = build_calendar(
        CalendarSpec(
            id="seven",
            version=1,
            hours=dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), OFFICE_HOURS),
            holiday_source="CN",
        )
    )
    assert not every_day.is_working(bj(2026, 10, 3, 9))  # Saturday inside the National Day break
    assert every_day.is_working(bj(2026, 10, 17, 9))  # an ordinary Saturday


def test_years_are_official_provisional_or_uncovered() -> None:
    assert OFFICE.coverage(2026) == "official"
    assert OFFICE.coverage(2027) == "provisional"
    assert OFFICE.coverage(2031) == "none"
    # 2027 public holidays from holidays.China (no make-up days published yet).
    assert not OFFICE.is_working(bj(2027, 10, 1, 10))
    assert not OFFICE.is_working(bj(2027, 2, 8, 10))
    assert OFFICE.is_working(bj(2027, 3, 1, 10))


def test_reply_due_after_golden_week_counts_the_saturday_makeup_day() -> None:
    # Received Wed 30 Sep 2026 16:00, the last working afternoon before National Day.
    # 1.5 h on 30 Sep; 1-7 Oct off; Thu 8, Fri 9, Sat 10 (调休), Mon 12 full; 6 h on Tue 13.
    start = bj(2026, 9, 30, 16)
    due = OFFICE.add(start, 5 * DAY)
    assert due == bj(2026, 10, 13, 16)
    assert due.tzinfo is UTC
    assert OFFICE.between(start, due) == 5 * DAY


def test_without_the_makeup_day_the_same_reply_is_due_a_day_later() -> None:
    no_makeup = build_calendar(office_spec(extra_holidays=[date(2026, 10, 10)]))
    assert no_makeup.add(bj(2026, 9, 30, 16), 5 * DAY) == bj(2026, 10, 14, 16)
    assert no_makeup.version != OFFICE.version


def test_spring_festival_2026_from_a_makeup_saturday_to_the_next_one() -> None:
    # Sat 14 Feb 2026 is worked, 15-23 Feb are off, Sat 28 Feb is worked again.
    start = bj(2026, 2, 14, 10)  # 6 h left that day
    due = OFFICE.add(start, 5 * DAY)
    # 6 h + Tue 24..Fri 27 (4 days) = 4 days 6 h; the last 1.5 h fall on Sat 28 Feb.
    assert due == bj(2026, 2, 28, 10)
    assert OFFICE.between(bj(2026, 2, 14, 17), bj(2026, 2, 24, 9)) == 1800 + 1800


def test_new_year_2026_makeup_sunday() -> None:
    assert OFFICE.add(bj(2025, 12, 31, 17), DAY) == bj(2026, 1, 4, 17)


# ---- boundaries and rules ----------------------------------------------------------------


def test_intervals_are_half_open() -> None:
    monday = (2026, 3, 2)
    assert OFFICE.is_working(bj(*monday, 8, 30))
    assert not OFFICE.is_working(bj(*monday, 8, 29, 59))
    assert OFFICE.is_working(bj(*monday, 11, 59, 59))
    assert not OFFICE.is_working(bj(*monday, 12))
    assert not OFFICE.is_working(bj(*monday, 17, 30))


def test_add_ends_at_the_interval_end_not_the_next_start() -> None:
    assert OFFICE.add(bj(2026, 3, 2, 8, 30), 3 * 3600 + 1800) == bj(2026, 3, 2, 12)
    assert OFFICE.add(bj(2026, 3, 2, 12), 1) == bj(2026, 3, 2, 13, 30, 1)
    assert OFFICE.add(bj(2026, 3, 6, 17, 30), 60) == bj(2026, 3, 9, 8, 31)  # Fri -> Mon


def test_between_over_a_weekend_and_reversed_ranges() -> None:
    assert OFFICE.between(bj(2026, 3, 6, 17), bj(2026, 3, 9, 9)) == 3600
    assert OFFICE.between(bj(2026, 3, 9, 9), bj(2026, 3, 6, 17)) == 0
    assert OFFICE.between(bj(2026, 3, 2), bj(2026, 3, 9)) == 5 * DAY


def test_sub_seconds_are_truncated_towards_the_past() -> None:
    assert OFFICE.between(bj(2026, 3, 2, 8, 30, 0, 900_000), bj(2026, 3, 2, 8, 30, 2, 100_000)) == 2
    start = bj(2026, 3, 2, 9, 0, 0, 999_999)
    assert OFFICE.add(start, 10) == bj(2026, 3, 2, 9, 0, 10)
    assert OFFICE.add(start, 0) == start


def test_instants_in_other_zones_mean_the_same_thing() -> None:
    utc_start = datetime(2026, 9, 30, 8, tzinfo=UTC)  # 16:00 Beijing
    assert OFFICE.add(utc_start, 5 * DAY) == datetime(2026, 10, 13, 8, tzinfo=UTC)


@pytest.mark.parametrize("clock", [OFFICE, Always()], ids=["business", "24x7"])
def test_naive_datetimes_are_refused(clock: BusinessCalendar | Always) -> None:
    naive = datetime(2026, 3, 2, 9)
    with pytest.raises(CalendarError, match="naive"):
        clock.is_working(naive)
    with pytest.raises(CalendarError, match="naive"):
        clock.add(naive, 60)
    with pytest.raises(CalendarError, match="naive"):
        clock.between(bj(2026, 3, 2), naive)


def test_negative_durations_are_refused() -> None:
    with pytest.raises(CalendarError, match="negative"):
        OFFICE.add(bj(2026, 3, 2), -1)


def test_a_calendar_without_working_time_fails_instead_of_looping() -> None:
    idle = build_calendar(CalendarSpec(id="idle", version=1, hours={}))
    with pytest.raises(CalendarError, match="no working time"):
        idle.add(bj(2026, 3, 2), 1)


def test_dst_gap_is_not_counted() -> None:
    # Berlin springs forward on Sun 29 Mar 2026 at 02:00 -> 03:00: 01:00-04:00 is 2 real hours.
    berlin = build_calendar(
        CalendarSpec(
            id="night", version=1, timezone="Europe/Berlin", hours={"sun": [("01:00", "04:00")]}
        )
    )
    tz = ZoneInfo("Europe/Berlin")
    day_start, day_end = datetime(2026, 3, 29, tzinfo=tz), datetime(2026, 3, 30, tzinfo=tz)
    assert berlin.between(day_start, day_end) == 2 * 3600
    assert berlin.add(day_start, 2 * 3600) == datetime(2026, 3, 29, 4, tzinfo=tz)


def test_always_counts_every_second() -> None:
    always = Always()
    start = bj(2026, 10, 1, 3)  # a holiday night: irrelevant for 24x7
    assert always.add(start, 45 * 60) == bj(2026, 10, 1, 3, 45)
    assert always.between(start, bj(2026, 10, 1, 6)) == 3 * 3600
    assert always.between(bj(2026, 10, 1, 6), start) == 0
    assert (always.id, always.version) == ("24x7", "1")


# ---- versions ------------------------------------------------------------------------------


def test_same_spec_and_data_give_equal_calendars_and_versions() -> None:
    again = build_calendar(office_spec())
    assert again == OFFICE
    assert again.version == OFFICE.version
    assert hash(again) == hash(OFFICE)
    assert OFFICE.version.startswith("cn-office@1+chinesecalendar-1.11.0+holidays-")


def test_any_change_to_the_hours_changes_the_version() -> None:
    longer = office_spec(hours=dict.fromkeys(("mon",), (("08:30", "12:00"), ("13:30", "18:00"))))
    assert build_calendar(longer).version != OFFICE.version


def test_spec_refuses_bad_hours() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        CalendarSpec(id="x", version=1, hours={"mon": [("12:00", "08:00")]})
    with pytest.raises(ValueError, match="overlap"):
        CalendarSpec(id="x", version=1, hours={"mon": [("08:00", "12:00"), ("11:00", "13:00")]})
    with pytest.raises(ValueError, match="HH:MM"):
        CalendarSpec(id="x", version=1, hours={"mon": [("8h", "12:00")]})


# ---- properties ----------------------------------------------------------------------------

ZONES = [UTC, BJ, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")]

instants = st.builds(
    lambda seconds, micro, zone: (
        datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=micro)
    ).astimezone(zone),
    st.integers(0, 2 * 365 * 86_400 - 1),
    st.integers(0, 999_999),
    st.sampled_from(ZONES),
)
durations = st.integers(0, 30 * DAY)


@settings(max_examples=300, deadline=None)
@given(start=instants, seconds=durations)
def test_add_then_between_round_trips(start: datetime, seconds: int) -> None:
    due = OFFICE.add(start, seconds)
    assert OFFICE.between(start, due) == seconds
    if seconds > 0:
        one = timedelta(seconds=1)
        assert OFFICE.is_working(due - one)
        assert OFFICE.between(start, due - one) == seconds - 1  # the earliest such instant
        assert due > start


@settings(max_examples=200, deadline=None)
@given(start=instants, a=durations, b=durations)
def test_add_is_monotonic(start: datetime, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert OFFICE.add(start, low) <= OFFICE.add(start, high)


@settings(max_examples=200, deadline=None)
@given(a=instants, b=instants, c=instants)
def test_between_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    x, y, z = sorted((a, b, c))
    assert OFFICE.between(x, z) == OFFICE.between(x, y) + OFFICE.between(y, z)


@settings(max_examples=100, deadline=None)
@given(start=instants, seconds=st.integers(0, 10 * 86_400))
def test_always_round_trips(start: datetime, seconds: int) -> None:
    always = Always()
    assert always.between(start, always.add(start, seconds)) == seconds


def _oracle_working(at: datetime) -> bool:
    """Independent of the calendar code: chinese_calendar and the office hours, minute by minute."""
    local = at.astimezone(BJ)
    if not chinese_calendar.is_workday(local.date()):
        return False
    minute = local.hour * 60 + local.minute
    return 8 * 60 + 30 <= minute < 12 * 60 or 13 * 60 + 30 <= minute < 17 * 60 + 30


def _minutes_from_2025(y: int, m: int, d: int) -> int:
    return (
        int((datetime(y, m, d, tzinfo=UTC) - datetime(2025, 1, 1, tzinfo=UTC)).total_seconds())
        // 60
    )


@settings(max_examples=60, deadline=None)
@given(
    # stay inside 2026 in Beijing time too: chinese_calendar has no data for 2027 yet
    start_minute=st.integers(0, 2 * 365 * 1440 - 6 * 1440),
    span_minutes=st.integers(0, 5 * 1440),
)
@example(start_minute=_minutes_from_2025(2026, 10, 7), span_minutes=5 * 1440)  # 调休 Sat 10 Oct
@example(start_minute=_minutes_from_2025(2026, 2, 12), span_minutes=5 * 1440)  # 调休 Sat 14 Feb
@example(start_minute=_minutes_from_2025(2026, 9, 28), span_minutes=5 * 1440)  # National Day
def test_between_agrees_with_a_minute_by_minute_oracle(
    start_minute: int, span_minutes: int
) -> None:
    origin = datetime(2025, 1, 1, tzinfo=UTC)
    a = origin + timedelta(minutes=start_minute)
    b = a + timedelta(minutes=span_minutes)
    expected = sum(60 for m in range(span_minutes) if _oracle_working(a + timedelta(minutes=m)))
    assert OFFICE.between(a, b) == expected
