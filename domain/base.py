"""What every casetrail aggregate shares: event metadata, the recording clock, idempotency.

Events are eventsourcing ``@event`` methods: the public method guards, the event method only
mutates (it runs again on every replay). Every event carries a :class:`Meta` with who did it,
from where, and when it happened in business time (``occurred_at``); the event's own
``timestamp`` is when it was recorded (``recorded_at``), taken from the application's
injectable clock rather than the wall clock, so a demo or a backfill can record a past month.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, datetime_now_with_tzinfo

_recording_clock: ContextVar[Callable[[], datetime] | None] = ContextVar(
    "casetrail_recording_clock", default=None
)


@contextmanager
def recording_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Stamp events created inside the block with ``clock()`` as their recorded time."""
    token = _recording_clock.set(clock)
    try:
        yield
    finally:
        _recording_clock.reset(token)


def _recorded_now() -> datetime:
    clock = _recording_clock.get()
    # Outside an application (plain unit tests) the library's own stamp applies.
    return clock() if clock is not None else datetime_now_with_tzinfo()


class Role(StrEnum):
    """Who may act; the API maps bearer tokens to one of these."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    MONITOR = "monitor"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"  # the SLA clock and the callback scheduler


class Channel(StrEnum):
    """Where a contact came in (受理渠道)."""

    HOTLINE = "hotline"  # 95598
    ONLINE = "online"  # 在线客服
    SERVICE_HALL = "service_hall"  # 营业厅
    COMPLAINT_BOX = "complaint_box"  # 投诉箱
    EMAIL = "email"
    APP = "app"
    SYSTEM = "system"


@dataclass(frozen=True)
class Meta:
    """Metadata carried by every event (DESIGN.md §2)."""

    actor: str
    role: str
    department: str
    channel: str
    occurred_at: datetime
    correlation_id: str
    causation_id: str | None = None
    command_id: str | None = None
    policy_version: str | None = None
    # Why a fact dated before the ticket's latest fact was entered late (a paper form typed in
    # next day): set only for such late entries; the timeline marks them.
    backdated_reason: str | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Meta:
        return self  # immutable: a copy would be equal and never differ

    def as_dict(self) -> dict[str, Any]:
        # Shallow on purpose: every field is a plain value (asdict deep-copies, 3x per intake).
        data = dict(self.__dict__)
        if data["backdated_reason"] is None:
            # Stored only where given: events written before it existed read the same.
            del data["backdated_reason"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Meta:
        return cls(**data)


# Values copy.deepcopy would rebuild through __reduce_ex__ (7 µs for a datetime) although
# nothing can change them. Frozen value classes of the domain say so with __deepcopy__.
_IMMUTABLE = frozenset(
    {str, int, float, bool, type(None), bytes, datetime, date, timedelta, UUID, Decimal}
)


def copy_value(value: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy`` for aggregate state, without copying immutable values.

    Dicts, lists and sets are copied (shared references stay shared, through ``memo``); keys
    and set members are hashable, hence immutable here; everything else goes to deepcopy.
    """
    kind = type(value)
    if kind in _IMMUTABLE or isinstance(value, Enum):
        return value
    found = memo.get(id(value))
    if found is not None:
        return found
    if kind is dict:
        out: Any = {}
        memo[id(value)] = out
        for key, item in value.items():
            out[key] = item if type(item) in _IMMUTABLE else copy_value(item, memo)
    elif kind is list:
        out = []
        memo[id(value)] = out
        out.extend(item if type(item) in _IMMUTABLE else copy_value(item, memo) for item in value)
    elif kind is set:
        out = memo[id(value)] = set(value)
    elif kind is tuple:
        out = tuple(copy_value(item, memo) for item in value)
    else:
        return copy.deepcopy(value, memo)
    memo.setdefault(id(memo), []).append(value)  # keep originals alive, as deepcopy does
    return out


def _note_command(aggregate: Any, event: Any) -> None:
    """Remember the command id an event answered, and the latest fact a person recorded (in
    business time), on first apply and on every replay."""
    ids = aggregate.__dict__.setdefault("command_ids", set())
    meta = getattr(event, "meta", None)
    if not isinstance(meta, Meta):
        return
    if meta.command_id:
        ids.add(meta.command_id)
    if meta.role != "system":  # the SLA clock's steps are judgements, not facts
        latest = aggregate.__dict__.get("latest_fact")
        if latest is None or meta.occurred_at > latest[0]:
            aggregate.__dict__["latest_fact"] = (meta.occurred_at, type(event).__name__)


class Recorded(Aggregate):
    """Base aggregate: recording clock, idempotency by command id, typed guards."""

    KIND = "aggregate"

    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            return _recorded_now()

        def mutate(self, aggregate: Any) -> Any:
            aggregate = super().mutate(aggregate)
            _note_command(aggregate, self)
            return aggregate

    class Created(Event, Aggregate.Created):
        def mutate(self, aggregate: Any) -> Any:
            aggregate = super().mutate(aggregate)
            _note_command(aggregate, self)
            return aggregate

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # The desk copies a cached aggregate for every command (so a refused command cannot
        # leave the cache half-changed): the same result as deepcopy, at a fraction of the cost.
        new = object.__new__(type(self))
        memo[id(self)] = new
        state = new.__dict__
        for name, value in self.__dict__.items():
            state[name] = value if type(value) in _IMMUTABLE else copy_value(value, memo)
        return new

    @property
    def latest_fact(self) -> tuple[datetime, str] | None:
        """(business instant, event name) of the latest fact a person recorded here."""
        found: tuple[datetime, str] | None = self.__dict__.get("latest_fact")
        return found

    def seen(self, command_id: str | None) -> bool:
        """True when a command with this id has already had its effect here."""
        ids: set[str] = self.__dict__.get("command_ids", set())
        return command_id is not None and command_id in ids

    @property
    def label(self) -> str:
        return str(self.id)
