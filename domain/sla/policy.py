"""SLA policies as data: which milestones a ticket has, their targets, warnings and escalations.

A :class:`SlaPolicy` matches tickets by their facts (:class:`TicketFacts`: kind, class 抢修/非抢修,
category, customer grade, priority, area, voltage, key-account flag) and lists
:class:`MilestoneSpec` s. Policies are versioned: for a given id, the version in force at an instant
is the highest one whose ``effective_from`` is not after it. :class:`PolicyCatalogue` picks the
policy for a ticket: the most specific match (most constrained fields), then the higher ``rank``;
a tie is refused (:class:`AmbiguousPolicy`), no match is refused (:class:`PolicyNotFound`).

**Durations.** A milestone's budget is ``target_seconds`` of *its clock's* time: wall seconds for a
``24x7`` clock, working seconds for a ``business`` clock. Data files may give ``target`` as text
instead (:func:`parse_duration`):

* ``"90s"``, ``"45m"``, ``"3h"``, ``"1h30m"`` — seconds, minutes, hours of the milestone's clock
  (on a business clock ``"4h"`` is four *working* hours);
* ``"2d"`` — 24-hour days, only for ``24x7`` clocks (refused on business clocks, where a day is
  ambiguous);
* ``"5 working days"`` (or ``"1 working day"``) — only for ``business`` clocks: N times the
  calendar's standard working day (:attr:`BusinessCalendar.standard_day_seconds`, the length of a
  normal weekday: 7.5 h for ``cn-office``). Resolving it needs that length, passed as pydantic
  validation context ``{"working_day_seconds": {calendar_id: seconds}}`` (the loader does this).

The text is kept in ``target`` for display; arithmetic uses ``target_seconds`` only. When both are
given (as in a dumped spec), ``target_seconds`` wins and ``target`` is not parsed again, so a spec
stored in an event validates identically without any calendar at hand.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.errors import (
    AmbiguousPolicy,
    CalendarError,
    InvalidValue,
    NotFound,
    PolicyNotFound,
)
from domain.sla.calendar import Always, BusinessCalendar, Clock, ensure_aware

__all__ = [
    "FACTS",
    "Area",
    "ClockKind",
    "EscalationAction",
    "EscalationStep",
    "Grade",
    "Kind",
    "MilestoneSpec",
    "PolicyCatalogue",
    "PolicyMatch",
    "Priority",
    "SlaPolicy",
    "TicketClass",
    "TicketFacts",
    "Voltage",
    "parse_duration",
]

Kind = Literal[
    "complaint",
    "fault_repair",  # 抢修
    "new_connection",  # 业扩报装
    "meter_dispute",
    "billing_adjustment",
    "inquiry",
    "suggestion",
    "report",  # 举报
    "callback",  # 回访
]
TicketClass = Literal["repair", "non_repair"]  # 抢修 / 非抢修
Grade = Literal["A", "B", "C", "none"]
Priority = Literal["low", "normal", "high", "urgent"]
Area = Literal["urban", "rural", "remote"]
Voltage = Literal["lv_residential", "lv", "10kV", "35kV"]
ClockKind = Literal["24x7", "business"]
EscalationAction = Literal["notify", "raise_priority", "open_supervision", "reassign"]

FACTS: frozenset[str] = frozenset(
    {
        "received",
        "dispatched",
        "accepted",
        "customer_contacted",
        "crew_arrived",
        "power_restored",
        "department_replied",
        "customer_answered",
        "closed",
        "callback_completed",
        "site_surveyed",
        "plan_approved",
        "contract_signed",
        "meter_installed",
        "energized",
        "meter_tested",
        "adjustment_approved",
    }
)
"""Lifecycle facts the aggregates emit; milestones start and stop on these names."""

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_COMPACT = re.compile(r"^(?:\d+[smhd])+$")
_COMPACT_PART = re.compile(r"(\d+)([smhd])")
_WORKING_DAYS = re.compile(r"^(\d+)\s+working\s+days?$")


def parse_duration(
    text: str, *, clock: ClockKind = "24x7", working_day_seconds: int | None = None
) -> int:
    """Seconds of the milestone's clock for ``"45m"``, ``"1h30m"``, ``"2d"``, ``"5 working days"``.

    ``d`` (24 h) is refused on business clocks and ``working days`` on 24x7 clocks; working days
    need ``working_day_seconds`` (the calendar's standard day). Raises ValueError with the reason.
    """
    cleaned = " ".join(text.strip().lower().split())
    days = _WORKING_DAYS.match(cleaned)
    if days:
        if clock != "business":
            raise ValueError(f"{text!r}: working days need a business clock, not {clock}")
        if not working_day_seconds:
            raise ValueError(f"{text!r}: the calendar's working-day length is unknown")
        seconds = int(days.group(1)) * working_day_seconds
    elif _COMPACT.match(cleaned):
        parts = _COMPACT_PART.findall(cleaned)
        if clock == "business" and any(unit == "d" for _, unit in parts):
            raise ValueError(
                f"{text!r}: 'd' (24 h) is ambiguous on a business clock; write 'N working days'"
            )
        seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in parts)
    else:
        raise ValueError(f"{text!r} is not a duration like '45m', '3h', '2d' or '5 working days'")
    if seconds <= 0:
        raise ValueError(f"{text!r}: a target must be positive")
    return seconds


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        return self  # immutable: a copy would be equal and never differ


class EscalationStep(_Frozen):
    """Level ``level`` of a milestone's escalation ladder, fired at ``at_fraction`` of its budget
    (1.0 = the deadline, 1.5 = half a budget late): notify, raise priority, open supervision
    (督办) or reassign, aimed at a role and/or department."""

    level: int = Field(ge=1)
    at_fraction: float = Field(gt=0)
    action: EscalationAction
    target_role: str | None = None
    target_department: str | None = None
    note: str = ""


class MilestoneSpec(_Frozen):
    """One clocked promise of a policy (first contact, arrival, reply, resolution, ...).

    Its clock starts on the lifecycle fact ``starts_on`` and stops on any fact in ``met_on``.
    ``warn_at`` are fractions of the budget at which a warning is raised.
    """

    name: str = Field(min_length=1)
    target_seconds: int = Field(gt=0)
    target: str | None = None
    clock: ClockKind
    calendar: str | None = None
    starts_on: str = "received"
    met_on: tuple[str, ...] = Field(min_length=1)
    warn_at: tuple[float, ...] = (0.5, 0.8)
    pausable: bool = True
    escalation: tuple[EscalationStep, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _resolve_target(cls, data: Any, info: ValidationInfo) -> Any:
        # target_seconds, when present, wins and target is only its label: this is how a dumped
        # spec (stored in a SlaPolicyBound event) validates again without calendar context.
        if not isinstance(data, Mapping) or data.get("target") is None:
            return data
        if data.get("target_seconds") is not None:
            return data
        clock = data.get("clock")
        if clock not in ("24x7", "business"):
            return data  # the field validator reports the bad clock
        working_day: int | None = None
        context = info.context if isinstance(info.context, Mapping) else {}
        lengths = context.get("working_day_seconds", {})
        if clock == "business" and isinstance(lengths, Mapping):
            found = lengths.get(data.get("calendar"))
            working_day = found if isinstance(found, int) else None
        seconds = parse_duration(str(data["target"]), clock=clock, working_day_seconds=working_day)
        return {**data, "target_seconds": seconds}

    @field_validator("starts_on")
    @classmethod
    def _known_start(cls, value: str) -> str:
        if value not in FACTS:
            raise ValueError(f"unknown lifecycle fact {value!r}; known: {sorted(FACTS)}")
        return value

    @field_validator("met_on")
    @classmethod
    def _known_stops(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [fact for fact in value if fact not in FACTS]
        if unknown:
            raise ValueError(f"unknown lifecycle facts {unknown}; known: {sorted(FACTS)}")
        if len(set(value)) != len(value):
            raise ValueError("met_on lists a fact twice")
        return value

    @field_validator("warn_at")
    @classmethod
    def _increasing_warnings(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError(f"warning fractions must lie in (0, 1), got {list(value)}")
        if any(a >= b for a, b in itertools.pairwise(value)):
            raise ValueError(f"warning fractions must be strictly increasing, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MilestoneSpec:
        if self.clock == "business" and not self.calendar:
            raise ValueError(f"milestone {self.name}: a business clock needs a calendar")
        if self.clock == "24x7" and self.calendar:
            raise ValueError(f"milestone {self.name}: a 24x7 clock takes no calendar")
        if self.starts_on in self.met_on:
            raise ValueError(f"milestone {self.name}: {self.starts_on} both starts and stops it")
        steps = self.escalation
        for lower, higher in itertools.pairwise(steps):
            if not (higher.level > lower.level and higher.at_fraction > lower.at_fraction):
                raise ValueError(
                    f"milestone {self.name}: escalation levels must increase with increasing "
                    f"at_fraction (level {lower.level}@{lower.at_fraction} then "
                    f"level {higher.level}@{higher.at_fraction})"
                )
        return self


class TicketFacts(_Frozen):
    """What a policy is matched on, as known at intake (or at a re-binding)."""

    kind: Kind
    ticket_class: TicketClass
    category: str | None = None
    grade: Grade = "none"
    priority: Priority = "normal"
    area: Area | None = None
    voltage: Voltage | None = None
    key_account: bool = False

    def describe(self) -> str:
        """Compact ``field=value`` text for error messages and logs."""
        return (
            f"kind={self.kind} class={self.ticket_class} category={self.category} "
            f"grade={self.grade} priority={self.priority} area={self.area} "
            f"voltage={self.voltage} key_account={self.key_account}"
        )


class PolicyMatch(_Frozen):
    """Which tickets a policy applies to. ``None`` accepts anything; a tuple lists the accepted
    values (a fact that is unknown, ``None``, fails a constrained field)."""

    kinds: tuple[Kind, ...] | None = None
    classes: tuple[TicketClass, ...] | None = None
    categories: tuple[str, ...] | None = None
    grades: tuple[Grade, ...] | None = None
    priorities: tuple[Priority, ...] | None = None
    areas: tuple[Area, ...] | None = None
    voltages: tuple[Voltage, ...] | None = None
    key_account: bool | None = None

    @model_validator(mode="after")
    def _no_empty_lists(self) -> PolicyMatch:
        for name in ("kinds", "classes", "categories", "grades", "priorities", "areas", "voltages"):
            value = getattr(self, name)
            if value is not None and len(value) == 0:
                raise ValueError(f"{name}: an empty list matches nothing; omit it to match any")
        return self

    @property
    def specificity(self) -> int:
        """Number of constrained fields: the more, the more specific the policy."""
        return sum(
            value is not None
            for value in (
                self.kinds,
                self.classes,
                self.categories,
                self.grades,
                self.priorities,
                self.areas,
                self.voltages,
                self.key_account,
            )
        )

    def accepts(self, facts: TicketFacts) -> bool:
        """True when every constrained field accepts the ticket's fact."""
        pairs: tuple[tuple[tuple[Any, ...] | None, Any], ...] = (
            (self.kinds, facts.kind),
            (self.classes, facts.ticket_class),
            (self.categories, facts.category),
            (self.grades, facts.grade),
            (self.priorities, facts.priority),
            (self.areas, facts.area),
            (self.voltages, facts.voltage),
        )
        if any(allowed is not None and value not in allowed for allowed, value in pairs):
            return False
        return self.key_account is None or self.key_account == facts.key_account


class SlaPolicy(_Frozen):
    """A versioned set of milestones for the tickets its ``match`` accepts.

    ``rebind_basis`` says how a re-binding to this policy restarts its clocks: from the original
    receipt, or from the moment of re-binding.
    """

    id: str = Field(min_length=1)
    version: int = Field(ge=1)
    title_zh: str
    title_en: str
    effective_from: AwareDatetime
    match: PolicyMatch
    rank: int = 0
    milestones: tuple[MilestoneSpec, ...] = Field(min_length=1)
    rebind_basis: Literal["from_receipt", "from_now"] = "from_receipt"

    @field_validator("milestones")
    @classmethod
    def _unique_names(cls, value: tuple[MilestoneSpec, ...]) -> tuple[MilestoneSpec, ...]:
        names = [m.name for m in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"milestone names must be unique, repeated: {duplicates}")
        return value

    @property
    def ref(self) -> str:
        """``id@vN``: how bindings and messages name this policy version."""
        return f"{self.id}@v{self.version}"

    def milestone(self, name: str) -> MilestoneSpec:
        """The milestone called ``name``; NotFound if the policy has none."""
        for spec in self.milestones:
            if spec.name == name:
                return spec
        raise NotFound("milestone", f"{name} in {self.ref}")


# The milestones of a policy as a binding event carries them (JSON form), made once per policy
# object, and the way back without validating again when an event carries that very list.
# Entries keep their policy and list alive, so neither id() is reused while they live.
_BOUND: dict[int, tuple[SlaPolicy, list[dict[str, Any]]]] = {}
_BOUND_BY_PAYLOAD: dict[int, tuple[list[dict[str, Any]], SlaPolicy]] = {}


def bound_specs(policy: SlaPolicy) -> list[dict[str, Any]]:
    """The JSON form of ``policy.milestones`` for a binding event (shared: never mutate it)."""
    hit = _BOUND.get(id(policy))
    if hit is None or hit[0] is not policy:
        if len(_BOUND) >= 1024:
            _BOUND.clear()
            _BOUND_BY_PAYLOAD.clear()
        payload = [spec.model_dump(mode="json") for spec in policy.milestones]
        hit = _BOUND[id(policy)] = (policy, payload)
        _BOUND_BY_PAYLOAD[id(payload)] = (payload, policy)
    return hit[1]


# Specs validated from a payload read back from the store: the event transcoder shares one
# list among the events carrying the same specs text, so each list is validated once.
_READ: dict[int, tuple[list[dict[str, Any]], tuple[MilestoneSpec, ...]]] = {}


def specs_of(payload: list[dict[str, Any]]) -> list[MilestoneSpec]:
    """The milestones a binding event carries (validated once per payload list)."""
    hit = _BOUND_BY_PAYLOAD.get(id(payload))
    if hit is not None and hit[0] is payload:
        return list(hit[1].milestones)
    read = _READ.get(id(payload))
    if read is not None and read[0] is payload:
        return list(read[1])
    specs = tuple(MilestoneSpec.model_validate(spec) for spec in payload)
    if len(_READ) >= 1024:
        _READ.clear()
    _READ[id(payload)] = (payload, specs)
    return list(specs)


class PolicyCatalogue:
    """All policy versions and the calendars their business milestones use.

    Immutable once built; ``version`` is a hash of every policy and calendar version in it, to be
    pinned next to a binding.
    """

    def __init__(
        self, policies: Iterable[SlaPolicy], calendars: Mapping[str, BusinessCalendar]
    ) -> None:
        ordered = tuple(sorted(policies, key=lambda p: (p.id, p.version)))
        seen: set[tuple[str, int]] = set()
        for policy in ordered:
            key = (policy.id, policy.version)
            if key in seen:
                raise InvalidValue("policies", f"SLA policy {policy.ref} is defined twice")
            seen.add(key)
            for spec in policy.milestones:
                if spec.clock == "business" and spec.calendar not in calendars:
                    raise CalendarError(
                        f"SLA policy {policy.ref} milestone {spec.name}: unknown calendar "
                        f"{spec.calendar!r}; known: {sorted(calendars)}",
                        calendar=spec.calendar,
                    )
        self._policies = ordered
        self._calendars: Mapping[str, BusinessCalendar] = MappingProxyType(dict(calendars))
        self._by_ref = {(p.id, p.version): p for p in ordered}
        self._always = Always()
        digest = hashlib.sha256(
            json.dumps(
                {
                    "policies": [p.model_dump(mode="json") for p in ordered],
                    "calendars": sorted((c.id, c.version) for c in self._calendars.values()),
                },
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        ).hexdigest()
        self.version = f"catalogue-{digest[:16]}"
        # The policies in force change only at an effective_from: match once per (facts,
        # window between two of them). Facts are frozen, so they key the cache themselves.
        self._window_starts = sorted({p.effective_from for p in ordered})
        self._matched: dict[tuple[TicketFacts, int], SlaPolicy] = {}

    @property
    def policies(self) -> tuple[SlaPolicy, ...]:
        """Every policy version, sorted by id then version."""
        return self._policies

    @property
    def calendars(self) -> Mapping[str, BusinessCalendar]:
        """Calendars by id (read-only)."""
        return self._calendars

    def in_force(self, at: datetime) -> tuple[SlaPolicy, ...]:
        """For each policy id, the highest version effective at ``at`` (if any)."""
        ensure_aware(at, "at")
        current: dict[str, SlaPolicy] = {}
        for policy in self._policies:
            if policy.effective_from <= at:
                held = current.get(policy.id)
                if held is None or policy.version > held.version:
                    current[policy.id] = policy
        return tuple(current[key] for key in sorted(current))

    def match(self, facts: TicketFacts, at: datetime) -> SlaPolicy:
        """The policy that governs a ticket with ``facts`` received (or re-bound) at ``at``."""
        key = (facts, bisect.bisect_right(self._window_starts, ensure_aware(at, "at")))
        found = self._matched.get(key)
        if found is None:
            if len(self._matched) >= 4096:  # categories are free text: stay bounded
                self._matched.clear()
            found = self._matched[key] = self._match(facts, at)
        return found

    def _match(self, facts: TicketFacts, at: datetime) -> SlaPolicy:
        candidates = [p for p in self.in_force(at) if p.match.accepts(facts)]
        described = f"{facts.describe()} at {ensure_aware(at, 'at').isoformat()}"
        if not candidates:
            raise PolicyNotFound(described)
        candidates.sort(key=lambda p: (p.match.specificity, p.rank), reverse=True)
        best = candidates[0]
        tied = [
            p
            for p in candidates
            if (p.match.specificity, p.rank) == (best.match.specificity, best.rank)
        ]
        if len(tied) > 1:
            raise AmbiguousPolicy(described, [p.ref for p in tied])
        return best

    def policy(self, policy_id: str, version: int) -> SlaPolicy:
        """One policy version by id and version (as recorded in a binding)."""
        found = self._by_ref.get((policy_id, version))
        if found is None:
            raise NotFound("SLA policy", f"{policy_id}@v{version}")
        return found

    def calendar(self, calendar_id: str) -> BusinessCalendar:
        """A calendar by id; CalendarError if unknown."""
        found = self._calendars.get(calendar_id)
        if found is None:
            raise CalendarError(
                f"unknown calendar {calendar_id!r}; known: {sorted(self._calendars)}",
                calendar=calendar_id,
            )
        return found

    def clock_for(self, spec: MilestoneSpec) -> Clock:
        """The clock a milestone counts on: 24x7, or its named business calendar."""
        if spec.clock == "24x7":
            return self._always
        return self.calendar(spec.calendar or "")
