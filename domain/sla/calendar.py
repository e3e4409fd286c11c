"""Business time: clocks that count working seconds, exactly and purely.

Two clocks share one small protocol (:class:`Clock`): :class:`Always` counts every second
(24x7), :class:`BusinessCalendar` counts only the seconds inside its weekly working intervals,
skipping public holidays and adding make-up working days (调休, weekend days declared working days).

Rules every clock follows:

* Instants must be timezone-aware; a naive ``datetime`` raises :class:`CalendarError`.
* **Whole seconds.** Every instant is first truncated to its whole second, towards the past
  (``12:00:00.999`` counts as ``12:00:00``). ``between(a, b)`` counts the working seconds of the
  half-open range ``[floor(a), floor(b))``; ``add`` returns whole-second instants (except that
  ``Always.add`` and ``add(start, 0)`` keep ``start``'s microseconds). So
  ``between(s, add(s, n)) == n`` holds for every aware ``s`` and every ``n >= 0``.
* Results are UTC.

A calendar works in its own timezone (default Asia/Shanghai): working intervals are wall-clock times
of the local day, half-open ``[start, end)``, several per day (``08:30-12:00`` and ``13:30-17:30``);
``"24:00"`` ends an interval at the next local midnight. A local date is, in order of precedence:
a holiday (no working time), a make-up working day (the hours of ``makeup_weekday``, Monday unless
told otherwise), or an ordinary day (the hours of its weekday).

Holiday data (:func:`build_calendar`, source ``"CN"``) comes from maintained packages, never typed
by hand: ``chinese_calendar`` for the years it covers (official State Council arrangements: every
day of a break is a holiday, weekend days included; weekend days it declares working are make-up
days), then ``holidays.China`` for the following year(s), marked *provisional*: that package
computes future years from rules, so they hold the public holidays but usually no make-up days
(those are read from its "Day off (substituted from MM/DD/YYYY)" entries once it has them).
Years outside both are counted by the weekly hours alone (:meth:`BusinessCalendar.coverage` says
which case a year is in). The calendar's ``version`` string pins the package versions and a hash
of the resulting data, so a binding can name exactly the arithmetic it used.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
import holidays as holidays_lib
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.errors import CalendarError

__all__ = [
    "WEEKDAYS",
    "Always",
    "BusinessCalendar",
    "CalendarSpec",
    "Clock",
    "Coverage",
    "Weekday",
    "build_calendar",
    "ensure_aware",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Coverage = Literal["official", "provisional", "none"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY_SECONDS = 86_400
# add() gives up when this many consecutive local days bring no working time.
_HORIZON_DAYS = 3 * 366

Interval = tuple[int, int]  # seconds since local midnight, half-open [start, end)
DayHours = tuple[Interval, ...]


def ensure_aware(at: datetime, what: str = "instant") -> datetime:
    """Return ``at`` if it is timezone-aware; refuse a naive datetime with CalendarError."""
    if at.__class__ is datetime and at.tzinfo is UTC:  # the common case, decided at once
        return at
    if not isinstance(at, datetime):
        raise CalendarError(f"{what} must be a datetime, got {type(at).__name__}", what=what)
    if at.tzinfo is None or at.utcoffset() is None:
        raise CalendarError(f"{what} {at.isoformat()} is naive; give a timezone", what=what)
    return at


def _epoch(at: datetime, what: str = "instant") -> int:
    """Whole seconds since the Unix epoch, truncated towards the past (the module's rule)."""
    return (ensure_aware(at, what) - _EPOCH) // _SECOND


def _from_epoch(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


class Clock(Protocol):
    """What milestone arithmetic needs from a clock (24x7 or a business calendar)."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> str: ...

    def is_working(self, at: datetime) -> bool: ...

    def add(self, start: datetime, seconds: int) -> datetime: ...

    def between(self, a: datetime, b: datetime) -> int: ...


@dataclass(frozen=True)
class Always:
    """The 24x7 clock: every second counts."""

    id: str = "24x7"
    version: str = "1"

    def is_working(self, at: datetime) -> bool:
        ensure_aware(at)
        return True

    def add(self, start: datetime, seconds: int) -> datetime:
        ensure_aware(start, "start")
        if seconds < 0:
            raise CalendarError(f"cannot add {seconds} seconds: negative", seconds=seconds)
        # Elapsed time, not wall time: aware arithmetic in a zone with DST would add wall
        # time (10 days across a spring-forward change are 23 h short), so add in UTC.
        return start.astimezone(UTC) + timedelta(seconds=seconds)

    def between(self, a: datetime, b: datetime) -> int:
        return max(0, _epoch(b, "end") - _epoch(a, "start"))


@dataclass(frozen=True)
class BusinessCalendar:
    """Working time of one organisation: weekly hours, holidays and make-up days, in one timezone.

    ``weekly`` holds seven entries (Monday first), each a tuple of ``(start, end)`` seconds since
    local midnight, sorted and disjoint. Build one from data with :func:`build_calendar`.
    """

    id: str
    version: str
    weekly: tuple[DayHours, ...]
    timezone: str = "Asia/Shanghai"
    holidays: frozenset[date] = frozenset()
    makeup_days: frozenset[date] = frozenset()
    makeup_weekday: int = 0
    official_years: frozenset[int] = frozenset()
    provisional_years: frozenset[int] = frozenset()
    # Derived, never part of equality: the zone object and a memo of each local day's
    # working intervals as UTC epoch seconds (pure function of the fields above).
    _tz: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    _days: dict[int, tuple[Interval, ...]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        try:
            tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(
                f"calendar {self.id}: unknown timezone {self.timezone!r}", calendar=self.id
            ) from exc
        object.__setattr__(self, "_tz", tz)
        if len(self.weekly) != 7:
            raise CalendarError(
                f"calendar {self.id}: weekly hours need 7 days, got {len(self.weekly)}",
                calendar=self.id,
            )
        for day, hours in zip(WEEKDAYS, self.weekly, strict=True):
            _check_hours(self.id, day, hours)
        if not 0 <= self.makeup_weekday <= 6:
            raise CalendarError(
                f"calendar {self.id}: makeup_weekday {self.makeup_weekday} not in 0..6",
                calendar=self.id,
            )
        both = self.holidays & self.makeup_days
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise CalendarError(
                f"calendar {self.id}: dates both holiday and make-up working day: {listed}",
                calendar=self.id,
            )

    # ---- facts about the calendar -------------------------------------------------------

    @property
    def standard_day_seconds(self) -> int:
        """Length of a normal working day (the make-up weekday's hours): 'one working day'."""
        return sum(end - start for start, end in self.weekly[self.makeup_weekday])

    def coverage(self, year: int) -> Coverage:
        """Whether ``year``'s holidays come from official data, provisional data, or none."""
        if year in self.official_years:
            return "official"
        if year in self.provisional_years:
            return "provisional"
        return "none"

    def hours_on(self, day: date) -> DayHours:
        """Working intervals of a local date (seconds since local midnight)."""
        if day in self.holidays:
            return ()
        if day in self.makeup_days:
            return self.weekly[self.makeup_weekday]
        return self.weekly[day.weekday()]

    # ---- the Clock protocol -------------------------------------------------------------

    def is_working(self, at: datetime) -> bool:
        t = _epoch(at)
        first = self._ordinal_of(t) - 1
        for ordinal in (first, first + 1):
            for start, end in self._intervals(ordinal):
                if start <= t < end:
                    return True
        return False

    def between(self, a: datetime, b: datetime) -> int:
        ta, tb = _epoch(a, "start"), _epoch(b, "end")
        if tb <= ta:
            return 0
        total = 0
        # The day before covers intervals that a DST shift could push past local midnight.
        for ordinal in range(self._ordinal_of(ta) - 1, self._ordinal_of(tb) + 1):
            for start, end in self._intervals(ordinal):
                if end <= ta:
                    continue
                if start >= tb:
                    return total
                total += min(end, tb) - max(start, ta)
        return total

    def add(self, start: datetime, seconds: int) -> datetime:
        """Earliest instant ``t`` with ``between(start, t) == seconds`` (UTC).

        For ``seconds > 0``, ``t - 1s`` is a working second and ``t`` lies in
        ``(interval_start, interval_end]`` of some working interval.
        """
        if seconds < 0:
            raise CalendarError(f"cannot add {seconds} seconds: negative", seconds=seconds)
        if seconds == 0:
            return ensure_aware(start, "start").astimezone(UTC)
        t = _epoch(start, "start")
        remaining = seconds
        ordinal = self._ordinal_of(t) - 1
        idle_days = 0
        while idle_days <= _HORIZON_DAYS:
            progressed = False
            for begin, end in self._intervals(ordinal):
                if end <= t:
                    continue
                begin = max(begin, t)
                available = end - begin
                if remaining <= available:
                    return _from_epoch(begin + remaining)
                remaining -= available
                progressed = True
            idle_days = 0 if progressed else idle_days + 1
            ordinal += 1
        raise CalendarError(
            f"calendar {self.id}: no working time within {_HORIZON_DAYS} days after "
            f"{_from_epoch(t).isoformat()} ({remaining} of {seconds} seconds still to add)",
            calendar=self.id,
        )

    # ---- internals ----------------------------------------------------------------------

    def _ordinal_of(self, t: int) -> int:
        return datetime.fromtimestamp(t, self._tz).toordinal()

    def _intervals(self, ordinal: int) -> tuple[Interval, ...]:
        """Working intervals of one local day, as UTC epoch seconds (memoised)."""
        cached = self._days.get(ordinal)
        if cached is not None:
            return cached
        day = date.fromordinal(ordinal)
        midnight = datetime(day.year, day.month, day.day, tzinfo=self._tz)
        result: list[Interval] = []
        floor = None
        for start, end in self.hours_on(day):
            # Aware + timedelta is wall-clock arithmetic; _epoch applies the offset in force.
            s = _epoch(midnight + timedelta(seconds=start))
            e = _epoch(midnight + timedelta(seconds=end))
            if floor is not None:
                s = max(s, floor)
            if e > s:  # a wall-clock interval swallowed by a DST gap has no seconds
                result.append((s, e))
                floor = e
        intervals = tuple(result)
        self._days[ordinal] = intervals
        return intervals


def _check_hours(calendar_id: str, day: str, hours: DayHours) -> None:
    previous_end = -1
    for start, end in hours:
        if not 0 <= start < end <= _DAY_SECONDS:
            raise CalendarError(
                f"calendar {calendar_id}: {day} interval {start}-{end} is not within one day",
                calendar=calendar_id,
            )
        if start < previous_end:
            raise CalendarError(
                f"calendar {calendar_id}: {day} intervals overlap or are not sorted",
                calendar=calendar_id,
            )
        previous_end = end


# ---- building a calendar from data -------------------------------------------------------

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _parse_hhmm(text: str) -> int:
    match = _HHMM.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a HH:MM time")
    seconds = int(match.group(1)) * 3600 + int(match.group(2)) * 60
    if seconds > _DAY_SECONDS:
        raise ValueError(f"{text!r} is after 24:00")
    return seconds


class CalendarSpec(BaseModel):
    """A calendar as data (one ``[[calendar]]`` table of ``config/data/calendars.toml``).

    ``hours`` maps a weekday (``mon``..``sun``) to its working intervals ``[["08:30", "12:00"],
    ...]``; a missing weekday has none. ``holiday_source`` is ``"CN"`` (mainland China public
    holidays and 调休 from maintained packages) or ``"none"``. ``provisional_years`` is how many
    years after the last officially published year are filled from ``holidays.China``.
    ``extra_holidays`` and ``extra_workdays`` are local overrides applied last.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    version: int = Field(ge=1)
    title: str = ""
    timezone: str = "Asia/Shanghai"
    hours: dict[Weekday, tuple[tuple[str, str], ...]]
    makeup_hours: Weekday = "mon"
    holiday_source: Literal["CN", "none"] = "none"
    provisional_years: int = Field(default=1, ge=0, le=5)
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(
        cls, value: dict[Weekday, tuple[tuple[str, str], ...]]
    ) -> dict[Weekday, tuple[tuple[str, str], ...]]:
        for day, intervals in value.items():
            previous_end = -1
            for start_text, end_text in intervals:
                start, end = _parse_hhmm(start_text), _parse_hhmm(end_text)
                if start >= end:
                    raise ValueError(f"{day}: {start_text}-{end_text} ends before it starts")
                if start < previous_end:
                    raise ValueError(f"{day}: intervals overlap or are not in order")
                previous_end = end
        return value

    @model_validator(mode="after")
    def _disjoint_overrides(self) -> CalendarSpec:
        both = set(self.extra_holidays) & set(self.extra_workdays)
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"dates both in extra_holidays and extra_workdays: {listed}")
        return self

    def weekly(self) -> tuple[DayHours, ...]:
        """The hours as seconds since local midnight, Monday first, adjacent intervals merged."""
        days: list[DayHours] = []
        for day in WEEKDAYS:
            merged: list[Interval] = []
            for start_text, end_text in self.hours.get(day, ()):
                start, end = _parse_hhmm(start_text), _parse_hhmm(end_text)
                if merged and merged[-1][1] == start:
                    merged[-1] = (merged[-1][0], end)
                else:
                    merged.append((start, end))
            days.append(tuple(merged))
        return tuple(days)


_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


def _official_cn() -> tuple[frozenset[int], set[date], set[date]]:
    """Years, festival days off and weekend make-up days from chinese_calendar.

    Festival days include the weekend days of a break (Sat 3 Oct 2026): irrelevant for a
    Monday-Friday calendar, but a seven-day calendar with CN holidays must not work them.
    """
    off_days: Iterable[date] = chinese_calendar.holidays
    work_days: Iterable[date] = chinese_calendar.workdays
    years = frozenset(d.year for d in off_days)
    holidays = set(off_days)
    makeup = {d for d in work_days if d.weekday() >= 5}
    return years, holidays, makeup


def _provisional_cn(years: Iterable[int]) -> tuple[frozenset[int], set[date], set[date]]:
    """Public holidays of later years from holidays.China; make-up days parsed from its
    'Day off (substituted from MM/DD/YYYY)' entries (the named date is then a working day)."""
    wanted = frozenset(years)
    covered: set[int] = set()
    holidays: set[date] = set()
    makeup: set[date] = set()
    for year in sorted(wanted):
        table = holidays_lib.country_holidays("CN", years=year, language="en_US")
        entries: list[tuple[date, str]] = [(d, str(name)) for d, name in table.items()]
        if not entries:
            continue  # the package knows nothing of that year: leave it uncovered
        covered.add(year)
        for day, name in entries:
            holidays.add(day)
            for month, dom, yr in _SUBSTITUTED.findall(name):
                substituted = date(int(yr), int(month), int(dom))
                if substituted.year in wanted and substituted.weekday() >= 5:
                    makeup.add(substituted)
    return frozenset(covered), holidays, makeup


def build_calendar(spec: CalendarSpec) -> BusinessCalendar:
    """Build a :class:`BusinessCalendar` from its spec and the installed holiday data.

    The version is ``"{id}@{spec.version}[+chinesecalendar-X+holidays-Y]+{sha12}"`` where the sha
    covers the timezone, the hours, the holiday and make-up sets and the year coverage: two builds
    from the same spec and the same data give equal calendars with equal versions.
    """
    official: frozenset[int] = frozenset()
    provisional: frozenset[int] = frozenset()
    off: set[date] = set()
    makeup: set[date] = set()
    pins = ""
    if spec.holiday_source == "CN":
        official, off, makeup = _official_cn()
        if official and spec.provisional_years:
            last = max(official)
            later = range(last + 1, last + 1 + spec.provisional_years)
            provisional, later_off, later_makeup = _provisional_cn(later)
            off |= later_off
            makeup |= later_makeup
        cc_version = str(getattr(chinese_calendar, "__version__", "unknown"))
        hl_version = str(getattr(holidays_lib, "__version__", "unknown"))
        pins = f"+chinesecalendar-{cc_version}+holidays-{hl_version}"
    off |= set(spec.extra_holidays)
    off -= set(spec.extra_workdays)
    makeup -= set(spec.extra_holidays)
    makeup |= set(spec.extra_workdays)

    weekly = spec.weekly()
    makeup_weekday = WEEKDAYS.index(spec.makeup_hours)
    digest_source = json.dumps(
        {
            "timezone": spec.timezone,
            "weekly": weekly,
            "makeup_weekday": makeup_weekday,
            "holidays": sorted(d.isoformat() for d in off),
            "makeup_days": sorted(d.isoformat() for d in makeup),
            "official_years": sorted(official),
            "provisional_years": sorted(provisional),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(digest_source.encode()).hexdigest()[:12]
    return BusinessCalendar(
        id=spec.id,
        version=f"{spec.id}@{spec.version}{pins}+{digest}",
        weekly=weekly,
        timezone=spec.timezone,
        holidays=frozenset(off),
        makeup_days=frozenset(makeup),
        makeup_weekday=makeup_weekday,
        official_years=official,
        provisional_years=provisional,
    )
