"""Milestone clocks: how much of a milestone's budget is used, and when it runs out.

A :class:`MilestoneClock` is a value (frozen): when the milestone started, its budget in the clock's
seconds, its pauses, and when it stopped. Every function takes the :class:`Clock` to count on
(24x7 or a business calendar) and, where it asks "as of when", an explicit instant: nothing here
reads the wall clock.

Definitions (``n`` seconds of a clock, pauses clipped to ``[started_at, at]``):

* ``used(at)`` = business seconds in ``[started_at, min(at, stopped_at))`` minus those inside pauses
  (an open pause counts up to ``at``).
* the instant a budget share ``n`` is reached = the earliest ``t`` with ``used(t) >= n``,
  walking the running segments between pauses. ``due_at`` is that instant for
  ``n = target_seconds``; ``instant_of_fraction`` for ``n = ceil(fraction * target_seconds)``.
  Both are ``None`` while the clock is paused (the instant depends on when it resumes) or once it
  is stopped.
* **Breach is decided by instants**: a clock is breached when its target was reached strictly before
  ``at`` (running or paused) or before ``stopped_at`` (stopped). A stop exactly at the due instant
  is met; a stop later, even in non-working time right after the deadline (a reply at 18:00 for a
  17:30 deadline), is a breach although ``used == target``: the deadline is an instant on the
  customer's wall clock, and the SLA worker fires breaches by comparing instants with ``due_at``.

Errors: pausing a paused or stopped clock, resuming a running one, stopping a stopped one, or any
instant before the clock started (or before the last pause ended) raises :class:`ClockError`;
naive datetimes raise :class:`CalendarError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

from domain.errors import ClockError
from domain.sla.calendar import Clock, ensure_aware

__all__ = [
    "ClockState",
    "MilestoneClock",
    "Pause",
    "as_instant",
    "due_at",
    "instant_of_fraction",
    "instants_of_fractions",
    "is_paused",
    "pause",
    "reached_by",
    "remaining_seconds",
    "resume",
    "state",
    "stop",
    "used_seconds",
    "utc_text",
]

ClockState = Literal["running", "paused", "met", "breached"]


@dataclass(frozen=True)
class Pause:
    """A stretch during which the milestone's clock did not run (e.g. waiting for the customer's
    documents). ``ended_at`` is None while the pause is open."""

    started_at: datetime
    ended_at: datetime | None
    reason: str

    def __deepcopy__(self, memo: dict[int, Any]) -> Pause:
        return self  # immutable: a copy would be equal and never differ

    def __post_init__(self) -> None:
        ensure_aware(self.started_at, "pause started_at")
        if self.ended_at is not None:
            ensure_aware(self.ended_at, "pause ended_at")
            if self.ended_at < self.started_at:
                raise ClockError(
                    "pause", f"pause ends {self.ended_at} before it starts {self.started_at}"
                )


@dataclass(frozen=True)
class MilestoneClock:
    """The clock of one milestone in one SLA cycle of a ticket (a reopened ticket: cycle 2)."""

    milestone: str
    cycle: int
    target_seconds: int
    started_at: datetime
    pauses: tuple[Pause, ...] = ()
    stopped_at: datetime | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> MilestoneClock:
        return self  # immutable: a copy would be equal and never differ

    def __post_init__(self) -> None:
        ensure_aware(self.started_at, "started_at")
        if self.target_seconds <= 0:
            raise ClockError(self.milestone, f"target {self.target_seconds}s must be positive")
        if self.cycle < 1:
            raise ClockError(self.milestone, f"cycle {self.cycle} must be at least 1")
        previous_end = self.started_at
        for index, p in enumerate(self.pauses):
            if p.started_at < previous_end:
                raise ClockError(
                    self.milestone,
                    f"pause {index} starts {p.started_at.isoformat()}, before the clock started "
                    "or the previous pause ended",
                )
            if p.ended_at is None and index != len(self.pauses) - 1:
                raise ClockError(self.milestone, f"pause {index} is open but is not the last one")
            previous_end = p.ended_at if p.ended_at is not None else p.started_at
        if self.stopped_at is not None:
            ensure_aware(self.stopped_at, "stopped_at")
            if self.stopped_at < previous_end:
                raise ClockError(
                    self.milestone,
                    f"stopped at {self.stopped_at.isoformat()}, before it started or was resumed",
                )
            if self.pauses and self.pauses[-1].ended_at is None:
                raise ClockError(self.milestone, "a stopped clock cannot hold an open pause")

    @property
    def label(self) -> str:
        """``milestone#cycle``, for messages."""
        return f"{self.milestone}#{self.cycle}"


def is_paused(c: MilestoneClock) -> bool:
    """True while the clock has an open pause."""
    return bool(c.pauses) and c.pauses[-1].ended_at is None


def used_seconds(c: MilestoneClock, clock: Clock, at: datetime) -> int:
    """Seconds of ``clock`` the milestone has used by ``at`` (pauses excluded)."""
    ensure_aware(at, "at")
    end = at if c.stopped_at is None else min(at, c.stopped_at)
    if end <= c.started_at:
        return 0
    used = clock.between(c.started_at, end)
    for p in c.pauses:
        if p.started_at >= end:
            break
        pause_end = end if p.ended_at is None else min(p.ended_at, end)
        used -= clock.between(p.started_at, pause_end)
    return used


def remaining_seconds(c: MilestoneClock, clock: Clock, at: datetime) -> int:
    """Budget left at ``at``; negative once overdue."""
    return c.target_seconds - used_seconds(c, clock, at)


def _reached_at(c: MilestoneClock, clock: Clock, needed: int) -> datetime | None:
    """Earliest instant at which ``needed`` seconds are used, ignoring a stop; None if an open
    pause comes first."""
    used = 0
    segment_start = c.started_at
    for p in c.pauses:
        in_segment = clock.between(segment_start, p.started_at)
        if used + in_segment >= needed:
            return clock.add(segment_start, needed - used)
        used += in_segment
        if p.ended_at is None:
            return None
        segment_start = p.ended_at
    return clock.add(segment_start, needed - used)


def instants_of_fractions(
    c: MilestoneClock, clock: Clock, fractions: list[float]
) -> tuple[datetime | None, dict[float, datetime | None]]:
    """:func:`due_at` and :func:`instant_of_fraction` of several fractions, in one go.

    Without pauses the instants are found in one walk, each from the one before: adding
    ``a`` then ``b`` seconds of a clock lands where adding ``a + b`` does (``add`` returns the
    earliest instant, so the second walk starts where the first one stopped). Equal budget
    shares (a warning at 80 % and an escalation at 80 %, the breach and 100 %) are computed
    once.
    """
    if c.stopped_at is not None or is_paused(c):
        return None, dict.fromkeys(fractions)
    needs = {f: _share(c, f) for f in fractions}
    wanted = {c.target_seconds, *needs.values()}
    if c.pauses:
        found = {n: _reached_at(c, clock, n) for n in wanted}
    else:
        found = {}
        at, used = c.started_at, 0
        for n in sorted(wanted):
            at = clock.add(at, n - used)
            used = n
            found[n] = at
    return found[c.target_seconds], {f: found[n] for f, n in needs.items()}


def utc_text(at: datetime) -> str:
    """An instant as event payloads and views spell it: UTC ISO 8601 to the microsecond."""
    return (at if at.tzinfo is UTC else at.astimezone(UTC)).isoformat(timespec="microseconds")


def as_instant(value: datetime | str | None) -> datetime | None:
    """An instant from a payload: a datetime, or its :func:`utc_text` spelling (or None)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _share(c: MilestoneClock, fraction: float) -> int:
    if fraction <= 0:
        raise ClockError(c.label, f"fraction {fraction} must be positive")
    return _ceil_share(fraction, c.target_seconds)


@lru_cache(maxsize=4096)
def _ceil_share(fraction: float, target_seconds: int) -> int:
    return max(1, math.ceil(_exact(fraction) * target_seconds))


@lru_cache(maxsize=256)
def _exact(fraction: float) -> Fraction:
    """Decimal text of the float, so that 0.8 * 27000 is 21600, not 21600.000000000004 -> 21601."""
    return Fraction(repr(fraction))


def due_at(c: MilestoneClock, clock: Clock) -> datetime | None:
    """Instant the budget runs out; None while paused or once stopped."""
    if c.stopped_at is not None or is_paused(c):
        return None
    return _reached_at(c, clock, c.target_seconds)


def instant_of_fraction(c: MilestoneClock, clock: Clock, fraction: float) -> datetime | None:
    """Instant ``ceil(fraction * target)`` seconds are used (warnings, escalation levels; a fraction
    above 1 lies after the deadline); None while paused or once stopped."""
    if c.stopped_at is not None or is_paused(c):
        return None
    return _reached_at(c, clock, _share(c, fraction))


def reached_by(c: MilestoneClock, clock: Clock, fraction: float, at: datetime) -> bool:
    """True when ``fraction`` of the budget (1 for the deadline) was used up by ``at``, as
    the clock is known now: its pauses counted and a stop before that instant honoured.

    This is how a recorded warning or breach is checked again once later-recorded facts are
    known: a pause dated earlier moves the instant, a stop dated earlier (the crew arrived,
    phoned in late) means it was never reached. A stop exactly at the instant is on time.
    """
    ensure_aware(at, "at")
    needed = c.target_seconds if fraction == 1 else _share(c, fraction)
    reached = _reached_at(c, clock, needed)
    if reached is None or reached > at:
        return False
    return c.stopped_at is None or c.stopped_at > reached


def state(c: MilestoneClock, clock: Clock, at: datetime) -> ClockState:
    """The clock's state as of ``at`` (see the module docstring for the breach rule)."""
    ensure_aware(at, "at")
    stopped = c.stopped_at is not None and c.stopped_at <= at
    horizon = c.stopped_at if stopped and c.stopped_at is not None else at
    deadline = _reached_at(c, clock, c.target_seconds)
    if deadline is not None and deadline < horizon:
        return "breached"
    if stopped:
        return "met"
    if any(p.started_at <= at and (p.ended_at is None or at < p.ended_at) for p in c.pauses):
        return "paused"
    return "running"


def pause(c: MilestoneClock, at: datetime, reason: str) -> MilestoneClock:
    """The clock paused at ``at`` for ``reason``."""
    ensure_aware(at, "at")
    if c.stopped_at is not None:
        raise ClockError(c.label, "cannot pause: the clock is stopped")
    if is_paused(c):
        raise ClockError(c.label, "cannot pause: the clock is already paused")
    last = c.pauses[-1].ended_at if c.pauses else None
    floor = last if last is not None else c.started_at
    if at < floor:
        raise ClockError(c.label, f"cannot pause at {at.isoformat()}: before {floor.isoformat()}")
    return replace(c, pauses=(*c.pauses, Pause(started_at=at, ended_at=None, reason=reason)))


def resume(c: MilestoneClock, at: datetime) -> MilestoneClock:
    """The clock resumed at ``at`` (closes the open pause)."""
    ensure_aware(at, "at")
    if not is_paused(c):
        raise ClockError(c.label, "cannot resume: the clock is not paused")
    open_pause = c.pauses[-1]
    if at < open_pause.started_at:
        raise ClockError(
            c.label,
            f"cannot resume at {at.isoformat()}: paused at {open_pause.started_at.isoformat()}",
        )
    return replace(c, pauses=(*c.pauses[:-1], replace(open_pause, ended_at=at)))


def stop(c: MilestoneClock, at: datetime) -> MilestoneClock:
    """The clock stopped at ``at`` (its milestone is met or abandoned); an open pause ends there."""
    ensure_aware(at, "at")
    if c.stopped_at is not None:
        raise ClockError(c.label, f"cannot stop: already stopped at {c.stopped_at.isoformat()}")
    current = resume(c, at) if is_paused(c) else c
    return replace(current, stopped_at=at)
