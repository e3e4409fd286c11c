"""The org directory: departments over time, their reorganisations, and work-order routing.

The county company reorganises (营销部 merged 合署 with 乡镇供电所管理部 and 客户服务中心), so
every department record, routing rule and front office has a validity window, half-open
``[valid_from, valid_to)``. Asking "who is X" or "where does this work order go" always takes
the instant ``at``: reports attribute history to the department valid at event time, and a
ticket received before the merger is routed by the rules of its day.

One department id may have several consecutive records (a station keeps its id when its
parent changes); a department that disappears is named in a :class:`DirectoryChange`, which
says where its duties went (:meth:`OrgDirectory.successor`).

Routing rules match kind, voltage class and optionally category. A rule naming categories beats
one naming only voltages, which beats one naming neither; two equally specific rules in force
for the same facts are refused when the directory is built, as is a (kind, voltage) without a
rule or a rule whose target does not exist. A target may contain ``{station}``: the customer's
supply station (e.g. ``{station}.distribution`` is the station's 配电组).

Pure: no I/O, no clock; the directory is built from data by the config loader.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from domain.errors import InvalidValue, UnknownDepartment

KINDS: tuple[str, ...] = (
    "complaint",
    "fault_repair",  # 故障报修 (抢修类)
    "new_connection",  # 业扩报装
    "meter_dispute",  # 计量争议 / 计量器具检验
    "billing_adjustment",  # 退补电量电费
    "inquiry",  # 咨询、查询
    "suggestion",  # 建议
    "report",  # 举报 (窃电、违约用电)
)
"""Work-order kinds the routing table must cover."""

VOLTAGES: tuple[str, ...] = ("lv_residential", "lv", "10kV", "35kV")
"""Customer voltage classes: 0.4 kV residential, other 0.4 kV, 10 kV, 35 kV (10–35千伏)."""

DepartmentKind = Literal["front_office", "back_office", "team", "station", "station_group"]
ChangeKind = Literal["merge", "split", "rename", "create", "retire"]

STATION_PLACEHOLDER = "{station}"
_SLUG = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_TARGET = re.compile(r"^(\{station\}|[a-z][a-z0-9_]*)(\.[a-z][a-z0-9_]*)*$")


def _aware(at: datetime, field: str = "at") -> datetime:
    if not isinstance(at, datetime):
        raise InvalidValue(field, f"must be a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidValue(field, f"{at.isoformat()} is naive; give a timezone")
    return at


def _active(valid_from: datetime, valid_to: datetime | None, at: datetime) -> bool:
    return valid_from <= at and (valid_to is None or at < valid_to)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Department(_Frozen):
    """One record of a department, valid in ``[valid_from, valid_to)``.

    ``id`` is an English slug, stable across records (``station_3``, ``station_3.distribution``);
    ``duties`` are English keys for what the unit answers for (its Chinese duties are in the
    source text quoted in the data file's comments).
    """

    id: str
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    kind: DepartmentKind
    parent: str | None = None
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None
    duties: tuple[str, ...] = ()

    @field_validator("id", "parent")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not _SLUG.match(value):
            raise ValueError(f"{value!r} is not a slug like 'station_1' or 'station_1.business'")
        return value

    @field_validator("valid_to")
    @classmethod
    def _after_start(cls, value: datetime | None, info: Any) -> datetime | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value <= start:
            raise ValueError(f"must be after valid_from ({start.isoformat()})")
        return value

    def active(self, at: datetime) -> bool:
        """Whether this record is in force at ``at``."""
        return _active(self.valid_from, self.valid_to, at)


class DirectoryChange(_Frozen):
    """A dated reorganisation: where departments went (合署, 撤销, 新设, 更名, 拆分).

    ``from_ids`` stop existing at ``at`` (except for ``create``, which has none); ``to_ids``
    exist from ``at``. For a ``split`` the first of ``to_ids`` is the primary heir; for a
    ``retire`` the ``to_ids`` (possibly none) are where the remaining duties went.
    """

    at: AwareDatetime
    kind: ChangeKind
    description_zh: str = Field(min_length=1)
    description_en: str = Field(min_length=1)
    from_ids: tuple[str, ...] = ()
    to_ids: tuple[str, ...] = ()

    @field_validator("to_ids")
    @classmethod
    def _shape(cls, value: tuple[str, ...], info: Any) -> tuple[str, ...]:
        kind = info.data.get("kind")
        sources = info.data.get("from_ids", ())
        expected = {
            "merge": (len(sources) >= 2 and len(value) == 1, "two or more from_ids, one to_id"),
            "split": (len(sources) == 1 and len(value) >= 2, "one from_id, two or more to_ids"),
            "rename": (len(sources) == 1 and len(value) == 1, "one from_id, one to_id"),
            "create": (not sources and len(value) >= 1, "no from_ids, one or more to_ids"),
            "retire": (len(sources) >= 1, "one or more from_ids"),
        }
        if kind in expected and not expected[kind][0]:
            raise ValueError(f"a {kind} needs {expected[kind][1]}")
        return value


class RoutingRule(_Frozen):
    """Which department receives work orders of these kinds and voltages (and categories).

    ``voltages`` / ``categories`` left out match any. ``target`` is a department id, possibly
    with ``{station}`` for the customer's supply station. ``basis`` cites the duty it rests on.
    """

    id: str = Field(min_length=1)
    kinds: tuple[str, ...] = Field(min_length=1)
    voltages: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    target: str
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None
    basis: str = ""

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; expected some of {list(KINDS)}")
        return value

    @field_validator("voltages")
    @classmethod
    def _known_voltages(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = sorted(set(value or ()) - set(VOLTAGES))
        if unknown:
            raise ValueError(f"unknown voltages {unknown}; expected some of {list(VOLTAGES)}")
        if value is not None and not value:
            raise ValueError("leave voltages out to match any; an empty list matches none")
        return value

    @field_validator("categories")
    @classmethod
    def _some_categories(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("leave categories out to match any; an empty list matches none")
        return value

    @field_validator("target")
    @classmethod
    def _target_shape(cls, value: str) -> str:
        if not _TARGET.match(value):
            raise ValueError(
                f"{value!r} is not a department id or a '{{station}}.<group>' template"
            )
        return value

    @field_validator("valid_to")
    @classmethod
    def _after_start(cls, value: datetime | None, info: Any) -> datetime | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value <= start:
            raise ValueError(f"must be after valid_from ({start.isoformat()})")
        return value

    @property
    def specificity(self) -> int:
        """Categories weigh more than voltages: a category rule overrides a voltage rule."""
        return (2 if self.categories is not None else 0) + (1 if self.voltages is not None else 0)

    def active(self, at: datetime) -> bool:
        """Whether this rule is in force at ``at``."""
        return _active(self.valid_from, self.valid_to, at)

    def matches(self, kind: str, voltage: str, category: str | None) -> bool:
        """Whether a work order with these facts falls under this rule."""
        return (
            kind in self.kinds
            and (self.voltages is None or voltage in self.voltages)
            and (self.categories is None or category in self.categories)
        )


class OrgData(_Frozen):
    """The content of an org data file: a release name, departments, changes, routing rules."""

    release: str = Field(min_length=1)
    departments: tuple[Department, ...] = Field(min_length=1)
    changes: tuple[DirectoryChange, ...] = ()
    routes: tuple[RoutingRule, ...] = Field(min_length=1)


class OrgDirectory:
    """Departments, reorganisations and routing rules of one company, versioned in time.

    ``release`` is a human name for this edition of the data; ``version`` is a short sha256 of
    the content (departments, changes, routes; not the release name), to be pinned next to
    facts that depended on it. Immutable. Consistency is checked when the directory is built:
    an inconsistent one raises :class:`InvalidValue` naming the offending field.
    """

    def __init__(self, data: OrgData) -> None:
        self.data = data
        records: dict[str, list[Department]] = {}
        for dept in data.departments:
            records.setdefault(dept.id, []).append(dept)
        self._records = {
            key: tuple(sorted(found, key=lambda d: d.valid_from))
            for key, found in sorted(records.items())
        }
        self._start = min(d.valid_from for d in data.departments)
        # Between two consecutive instants at which any record starts or ends, the set of
        # active departments is the same: answer departments(at) once per such window.
        self._window_starts = sorted(
            {d.valid_from for d in data.departments}
            | {d.valid_to for d in data.departments if d.valid_to is not None}
        )
        self._by_window: dict[int, tuple[Department, ...]] = {}
        self._check_records()
        self._check_changes()
        for point in self._boundaries():
            self._check_point(point)
        content = data.model_dump(mode="json", exclude={"release"})
        digest = hashlib.sha256(
            json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        ).hexdigest()
        self._version = f"org-{digest[:12]}"

    # -- queries ---------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """``org-<12 hex>``: changes whenever departments, changes or routes change."""
        return self._version

    @property
    def release(self) -> str:
        """The human name of this edition of the data."""
        return self.data.release

    @property
    def start(self) -> datetime:
        """The earliest instant the directory knows anything about."""
        return self._start

    @property
    def changes(self) -> tuple[DirectoryChange, ...]:
        """The change log, as given."""
        return self.data.changes

    @property
    def routes(self) -> tuple[RoutingRule, ...]:
        """The routing rules, as given."""
        return self.data.routes

    def exists(self, department_id: str, at: datetime) -> bool:
        """Whether ``department_id`` is an active department at ``at``."""
        return self._record(department_id, _aware(at)) is not None

    def department(self, department_id: str, at: datetime) -> Department:
        """The record of ``department_id`` in force at ``at``; UnknownDepartment otherwise."""
        found = self._record(department_id, _aware(at))
        if found is None:
            raise UnknownDepartment(department_id, at.isoformat())
        return found

    def departments(self, at: datetime) -> list[Department]:
        """Every department active at ``at``, sorted by id."""
        window = bisect.bisect_right(self._window_starts, _aware(at))
        found = self._by_window.get(window)
        if found is None:
            found = tuple(d for key in self._records if (d := self._record(key, at)) is not None)
            self._by_window[window] = found
        return list(found)

    def children(self, department_id: str, at: datetime) -> list[Department]:
        """The departments directly under ``department_id`` at ``at``, sorted by id."""
        self.department(department_id, at)
        return [d for d in self.departments(at) if d.parent == department_id]

    def stations(self, at: datetime) -> list[str]:
        """Ids of the supply stations (供电所) active at ``at``, sorted."""
        return [d.id for d in self.departments(at) if d.kind == "station"]

    def front_office(self, at: datetime) -> str:
        """The unit that owns the customer conversation at ``at`` (一口对外).

        客户服务中心 before the merger, the merged 营销部(客户服务中心) after.
        """
        offices = [d.id for d in self.departments(at) if d.kind == "front_office"]
        if not offices:
            raise UnknownDepartment("front_office", at.isoformat())
        return offices[0]

    def successor(self, department_id: str, at: datetime) -> str:
        """Where the duties of ``department_id`` are at ``at``, following the change log.

        Identity for an active department; for one merged, renamed, split or retired away, the
        heir named by the change (the primary heir of a split), followed further if the heir
        itself went away later. UnknownDepartment if the id never existed, did not exist yet at
        ``at``, or was retired without an heir.
        """
        _aware(at)
        current = department_id
        seen: set[str] = set()
        while not self.exists(current, at):
            records = self._records.get(current)
            if not records or at < records[0].valid_from or current in seen:
                raise UnknownDepartment(department_id, at.isoformat())
            seen.add(current)
            change = self._change_ending(current, at)
            if change is None or not change.to_ids:
                raise UnknownDepartment(department_id, at.isoformat())
            current = change.to_ids[0]
        return current

    def route(
        self,
        kind: str,
        *,
        voltage: str,
        station: str | None,
        at: datetime,
        category: str | None = None,
    ) -> str:
        """The department that receives a work order with these facts at ``at``.

        ``station`` is the customer's supply station (``station_1``..); rules whose target is
        a station group need it. Unknown kind, voltage or station raise InvalidValue naming the
        field.
        """
        _aware(at)
        if kind not in KINDS:
            raise InvalidValue("kind", f"unknown kind {kind!r}; expected one of {list(KINDS)}")
        if voltage not in VOLTAGES:
            raise InvalidValue(
                "voltage", f"unknown voltage {voltage!r}; expected one of {list(VOLTAGES)}"
            )
        if at < self.start:
            raise InvalidValue(
                "at", f"{at.isoformat()} is before the org directory begins ({self.start})"
            )
        if station is not None and station not in self.stations(at):
            raise InvalidValue(
                "station",
                f"unknown station {station!r} on {at.isoformat()}; "
                f"expected one of {self.stations(at)}",
            )
        rule = self._best_rule(kind, voltage, category, at)
        if rule is None:
            raise InvalidValue(
                "kind", f"no routing rule for {kind} at {voltage} on {at.isoformat()}"
            )
        target = rule.target
        if STATION_PLACEHOLDER in target:
            if station is None:
                raise InvalidValue(
                    "station",
                    f"required to route {kind} at {voltage} (rule {rule.id} sends it to {target})",
                )
            target = target.replace(STATION_PLACEHOLDER, station)
        return self.department(target, at).id

    def rule_for(
        self, kind: str, *, voltage: str, at: datetime, category: str | None = None
    ) -> RoutingRule | None:
        """The routing rule that decides for these facts at ``at`` (for explanations)."""
        return self._best_rule(kind, voltage, category, _aware(at))

    # -- internals -------------------------------------------------------------------------

    def _record(self, department_id: str, at: datetime) -> Department | None:
        for record in self._records.get(department_id, ()):
            if record.active(at):
                return record
        return None

    def _change_ending(self, department_id: str, at: datetime) -> DirectoryChange | None:
        ended = [
            c
            for c in self.changes
            if department_id in c.from_ids and c.kind != "create" and c.at <= at
        ]
        return max(ended, key=lambda c: c.at) if ended else None

    def _candidates(
        self, kind: str, voltage: str, category: str | None, at: datetime
    ) -> list[RoutingRule]:
        found = [r for r in self.routes if r.active(at) and r.matches(kind, voltage, category)]
        if not found:
            return []
        top = max(r.specificity for r in found)
        return [r for r in found if r.specificity == top]

    def _best_rule(
        self, kind: str, voltage: str, category: str | None, at: datetime
    ) -> RoutingRule | None:
        found = self._candidates(kind, voltage, category, at)
        return found[0] if found else None

    def _boundaries(self) -> list[datetime]:
        windows = [(d.valid_from, d.valid_to) for d in self.data.departments]
        windows += [(r.valid_from, r.valid_to) for r in self.routes]
        points = {start for start, _ in windows}
        points.update(end for _, end in windows if end is not None)
        points.update(c.at for c in self.changes)
        return sorted(p for p in points if p >= self.start)

    def _check_records(self) -> None:
        for key, records in self._records.items():
            for before, after in itertools.pairwise(records):
                if before.valid_to is None or before.valid_to > after.valid_from:
                    raise InvalidValue(
                        f"departments[{key}].valid_to",
                        f"records of {key} overlap: one from {before.valid_from.isoformat()} "
                        f"runs past the next from {after.valid_from.isoformat()}",
                    )

    def _check_changes(self) -> None:
        for index, change in enumerate(self.changes):
            where = f"changes[{index}]"
            for key in (*change.from_ids, *change.to_ids):
                if key not in self._records:
                    raise InvalidValue(where, f"names unknown department {key!r}")
            for key in change.from_ids:
                if not any(r.valid_to == change.at for r in self._records[key]):
                    raise InvalidValue(
                        f"{where}.from_ids",
                        f"{key} has no record ending at {change.at.isoformat()}",
                    )
                if self._record(key, change.at) is not None:
                    raise InvalidValue(
                        f"{where}.from_ids", f"{key} still exists at {change.at.isoformat()}"
                    )
            for key in change.to_ids:
                if self._record(key, change.at) is None:
                    raise InvalidValue(
                        f"{where}.to_ids", f"{key} does not exist at {change.at.isoformat()}"
                    )
        # Every department that disappears, or appears after the start, is explained.
        for key, records in self._records.items():
            for index, record in enumerate(records):
                nxt = records[index + 1] if index + 1 < len(records) else None
                prev = records[index - 1] if index > 0 else None
                end, begin = record.valid_to, record.valid_from
                ends = end is not None and (nxt is None or nxt.valid_from != end)
                if end is not None and ends and not self._explained(key, end, "from_ids"):
                    raise InvalidValue(
                        f"departments[{key}].valid_to",
                        f"{key} ends at {end.isoformat()} but no change says where its duties went",
                    )
                appears = begin > self.start and (prev is None or prev.valid_to != begin)
                if appears and not self._explained(key, begin, "to_ids"):
                    raise InvalidValue(
                        f"departments[{key}].valid_from",
                        f"{key} appears at {begin.isoformat()} but no change creates it",
                    )

    def _explained(self, key: str, at: datetime, side: Literal["from_ids", "to_ids"]) -> bool:
        return any(c.at == at and key in getattr(c, side) for c in self.changes)

    def _check_point(self, at: datetime) -> None:
        when = at.isoformat()
        active = self.departments(at)
        ids = {d.id for d in active}
        for dept in active:
            if dept.parent is not None and dept.parent not in ids:
                raise InvalidValue(
                    f"departments[{dept.id}].parent",
                    f"parent {dept.parent!r} does not exist on {when}",
                )
        offices = [d.id for d in active if d.kind == "front_office"]
        if len(offices) != 1:
            raise InvalidValue(
                "departments", f"need exactly one front_office on {when}, found {offices}"
            )
        stations = [d.id for d in active if d.kind == "station"]
        categories: list[str | None] = [None]
        categories += sorted({c for r in self.routes for c in r.categories or ()})
        for kind in KINDS:
            for voltage in VOLTAGES:
                for category in categories:
                    self._check_route(kind, voltage, category, at, ids, stations)

    def _check_route(
        self,
        kind: str,
        voltage: str,
        category: str | None,
        at: datetime,
        ids: set[str],
        stations: Iterable[str],
    ) -> None:
        when = at.isoformat()
        facts = f"{kind} at {voltage}" + (f" category {category}" if category else "")
        found = self._candidates(kind, voltage, category, at)
        if not found:
            raise InvalidValue("routes", f"no rule routes {facts} on {when}")
        if len(found) > 1:
            names = " and ".join(r.id for r in found)
            raise InvalidValue("routes", f"rules {names} both route {facts} on {when}")
        rule = found[0]
        targets = (
            [rule.target.replace(STATION_PLACEHOLDER, s) for s in stations]
            if STATION_PLACEHOLDER in rule.target
            else [rule.target]
        )
        for target in targets:
            if target not in ids:
                raise InvalidValue(
                    f"routes[{rule.id}].target",
                    f"{target} does not exist on {when} (routing {facts})",
                )
