"""Department report: the rows of ``department_performance`` turned into KPIs for a period.

Pure read side. :func:`department_report` is a function of the projection's rows, the period
(local dates, both ends included), the instant the backlog is aged at, and the org directory
(for names): no clock, no store of its own. Rows come from anything with ``dump(table)``: a
view store (SQLite, PostgreSQL) or the in-memory :class:`MemoryRows` that :func:`rows_as_of`
fills by replaying only the events recorded up to an instant, so a report "as of" a past
instant shows exactly what was known then.

KPIs (REQUIREMENTS.md §5.1), per department in charge when each fact happened:

- on-time rate per milestone = met on time / (met on time + met late), over the SLA clocks
  that stopped in the period; breaches are counted apart (a breached clock still running has
  no verdict yet).
- transfer rate = transfers out / work orders assigned (dispatched or transferred in); the
  company total uses tickets with at least one transfer / tickets received.
- reopen rate = reopened / closed; callback coverage = closures whose cycle had a callback
  that reached the customer / closed (回访率; at most 100 %);
  satisfaction rate = satisfied / (satisfied + dissatisfied) of reached callbacks, flagged
  below the 90 % target (确保客户满意度达到90%以上).
- durations (first response, resolution, closure; wall clock and business time): median and
  p90 by linear interpolation between closest ranks, over the samples that ended in the period.
- backlog: tickets open at ``as_of`` with the department now in charge (mapped to its
  successor at ``as_of``), by age since receipt: <1d, 1–3d, 3–7d, 7–30d, >30d.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from domain.errors import DomainError
from domain.org import OrgDirectory
from projections.core import Key, Projection, Row, Table
from projections.department_performance import (
    COUNTERS,
    METRICS,
    OPEN,
    PERFORMANCE,
    SAMPLES,
    DepartmentPerformance,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SATISFACTION_TARGET = 0.90
TOTAL = "TOTAL"
BACKLOG_BUCKETS: tuple[tuple[str, float], ...] = (
    ("lt_1d", 1),
    ("1_3d", 3),
    ("3_7d", 7),
    ("7_30d", 30),
    ("gt_30d", math.inf),
)
"""(bucket, upper bound in days, exclusive) of the backlog by age."""


class RowSource(Protocol):
    """Whatever can hand over all rows of a table: a view store or :class:`MemoryRows`."""

    def dump(self, table: Table) -> list[Row]: ...


class MemoryRows:
    """A throw-away in-memory row store for one projection (the fold's ``Rows`` door)."""

    def __init__(self, projection: Projection) -> None:
        self.tables = {t.name: t for t in projection.tables}
        self.data: dict[str, dict[Key, Row]] = {name: {} for name in self.tables}

    def get(self, table: str, key: Key) -> Row | None:
        row = self.data[table].get(key)
        return None if row is None else dict(row)

    def put(self, table: str, row: Row) -> None:
        spec = self.tables[table]
        unknown = set(row) - set(spec.names)
        if unknown:
            raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
        full = {name: row.get(name) for name in spec.names}
        self.data[table][spec.key_of(full)] = full

    def delete(self, table: str, key: Key) -> None:
        self.data[table].pop(key, None)

    def dump(self, table: Table) -> list[Row]:
        return [dict(r) for r in self.data[table.name].values()]


def rows_as_of(
    desk: Any,
    projection: Projection,
    as_of: datetime,
    *,
    page: int = 1000,
    happened_by: datetime | None = None,
) -> MemoryRows:
    """Fold every event recorded at or before ``as_of`` into fresh in-memory rows; with
    ``happened_by``, only those that had happened by then (``occurred_at``): the business axis.

    ``desk`` is the application: its recorder's notification log is read in pages and each
    event decoded with its mapper; events recorded later are left out, whatever their place in
    the log (recording times need not be monotonic when past traffic is backfilled).
    """
    rows = MemoryRows(projection)
    start = 1
    while True:
        notifications = desk.recorder.select_notifications(start=start, limit=page)
        if not notifications:
            return rows
        for notification in notifications:
            event = desk.mapper.to_domain_event(notification)
            if event.timestamp > as_of:
                continue
            meta = getattr(event, "meta", None)
            if happened_by is not None and meta is not None and meta.occurred_at > happened_by:
                continue
            projection.fold(event, rows)
        start = notifications[-1].id + 1


def report_as_of(
    desk: Any,
    projection: Projection,
    as_of: datetime,
    date_from: date,
    date_to: date,
    *,
    directory: OrgDirectory | None = None,
    total: bool = False,
) -> list[dict[str, Any]]:
    """The department report as it would have been printed at ``as_of``."""
    rows = rows_as_of(desk, projection, as_of)
    if directory is None:
        directory = getattr(projection, "directory", None)
    return department_report(rows, date_from, date_to, as_of, directory=directory, total=total)


# ---------------------------------------------------------------------------- the report


def _table(projection_tables: Iterable[Table], name: str) -> Table:
    for table in projection_tables:
        if table.name == name:
            return table
    raise KeyError(name)


def department_report(
    rows_source: RowSource,
    date_from: date,
    date_to: date,
    as_of: datetime,
    *,
    directory: OrgDirectory | None = None,
    total: bool = False,
) -> list[dict[str, Any]]:
    """One dict per department with any figure in ``[date_from, date_to]`` or any backlog.

    Sorted by department id; with ``total=True`` a last entry ``department == "TOTAL"`` sums
    the company (its durations are taken over all samples, not averaged).
    """
    tables = DepartmentPerformance.tables
    return build_report(
        rows_source.dump(_table(tables, PERFORMANCE)),
        rows_source.dump(_table(tables, SAMPLES)),
        rows_source.dump(_table(tables, OPEN)),
        date_from,
        date_to,
        as_of,
        directory=directory,
        total=total,
    )


def build_report(
    performance: Sequence[Row],
    samples: Sequence[Row],
    open_tickets: Sequence[Row],
    date_from: date,
    date_to: date,
    as_of: datetime,
    *,
    directory: OrgDirectory | None = None,
    total: bool = False,
) -> list[dict[str, Any]]:
    """The report from plain rows (see :func:`department_report`)."""
    if date_to < date_from:
        raise ValueError(f"date_to {date_to} lies before date_from {date_from}")
    first, last = date_from.isoformat(), date_to.isoformat()
    perf_by: dict[str, list[Row]] = defaultdict(list)
    for row in performance:
        if first <= row["day"] <= last:
            perf_by[row["department"]].append(row)
    samples_by: dict[str, list[Row]] = defaultdict(list)
    for row in samples:
        if first <= row["day"] <= last:
            samples_by[row["department"]].append(row)
    open_by: dict[str, list[Row]] = defaultdict(list)
    for row in open_tickets:
        if row["received_at"] <= as_of:
            open_by[_successor(directory, row["department"], as_of)].append(row)

    departments = sorted(set(perf_by) | set(samples_by) | set(open_by))
    out = [
        _summarise(
            dept,
            perf_by.get(dept, []),
            samples_by.get(dept, []),
            open_by.get(dept, []),
            as_of,
            _names(directory, dept, perf_by.get(dept, []), as_of),
        )
        for dept in departments
    ]
    if total:
        entry = _summarise(
            TOTAL,
            [r for d in departments for r in perf_by.get(d, [])],
            [r for d in departments for r in samples_by.get(d, [])],
            [r for d in departments for r in open_by.get(d, [])],
            as_of,
            ("合计", "Total", None),
        )
        # Company-wide transfer rate: tickets transferred at least once / tickets received.
        entry["transfer_rate"] = _rate(entry["tickets_transferred"], entry["received"])
        out.append(entry)
    return out


def _successor(directory: OrgDirectory | None, department: str, at: datetime) -> str:
    if directory is None:
        return department
    try:
        return directory.successor(department, at)
    except DomainError:
        return department


def _names(
    directory: OrgDirectory | None, department: str, rows: Sequence[Row], as_of: datetime
) -> tuple[str, str, str | None]:
    """Chinese and English names and the parent, from the record in force on its last day."""
    if directory is None:
        return department, department, None
    instants = [as_of]
    if rows:
        last_day = date.fromisoformat(max(r["day"] for r in rows))
        noon = datetime(last_day.year, last_day.month, last_day.day, 12, tzinfo=SHANGHAI)
        instants.insert(0, noon)
        instants.append(noon - timedelta(days=1))
    for at in instants:
        try:
            record = directory.department(department, at)
        except DomainError:
            continue
        return record.name_zh, record.name_en, record.parent
    return department, department, None


def _rate(numerator: int | float, denominator: int | float) -> float | None:
    return None if not denominator else numerator / denominator


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-quantile (0..1) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _durations(samples: Sequence[Row], metric: str) -> dict[str, dict[str, Any]]:
    chosen = [s for s in samples if s["metric"] == metric]
    wall = [float(s["wall_seconds"]) for s in chosen if s["wall_seconds"] is not None]
    business = [float(s["business_seconds"]) for s in chosen if s["business_seconds"] is not None]
    return {
        "wall": {"n": len(wall), "median": percentile(wall, 0.5), "p90": percentile(wall, 0.9)},
        "business": {
            "n": len(business),
            "median": percentile(business, 0.5),
            "p90": percentile(business, 0.9),
        },
    }


def _backlog(open_tickets: Sequence[Row], as_of: datetime) -> dict[str, int]:
    buckets = dict.fromkeys((name for name, _ in BACKLOG_BUCKETS), 0)
    for row in open_tickets:
        age_days = (as_of - row["received_at"]).total_seconds() / 86400
        for name, upper in BACKLOG_BUCKETS:
            if age_days < upper:
                buckets[name] += 1
                break
    return buckets


def _summarise(
    department: str,
    performance: Sequence[Row],
    samples: Sequence[Row],
    open_tickets: Sequence[Row],
    as_of: datetime,
    names: tuple[str, str, str | None],
) -> dict[str, Any]:
    sums = dict.fromkeys(COUNTERS, 0)
    breaches: dict[str, int] = defaultdict(int)
    sla: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    received_by_kind: dict[str, int] = defaultdict(int)
    assigned_by_kind: dict[str, int] = defaultdict(int)
    for row in performance:
        for counter in COUNTERS:
            sums[counter] += row[counter] or 0
        for milestone, n in (row["breaches"] or {}).items():
            breaches[milestone] += n
        for milestone, (met, late) in (row["sla"] or {}).items():
            sla[milestone][0] += met
            sla[milestone][1] += late
        if row["received"]:
            received_by_kind[row["kind"]] += row["received"]
        if row["assigned"]:
            assigned_by_kind[row["kind"]] += row["assigned"]
    answered = sums["satisfied"] + sums["dissatisfied"]
    satisfaction = _rate(sums["satisfied"], answered)
    backlog = _backlog(open_tickets, as_of)
    return {
        "department": department,
        "name_zh": names[0],
        "name_en": names[1],
        "parent": names[2],
        **sums,
        "transfer_rate": _rate(sums["transfers_out"], sums["assigned"]),
        "reopen_rate": _rate(sums["reopened"], sums["closed"]),
        "callback_coverage": _rate(sums["closed_with_callback"], sums["closed"]),
        "satisfaction_rate": satisfaction,
        "satisfaction_target": SATISFACTION_TARGET,
        "below_satisfaction_target": None
        if satisfaction is None
        else satisfaction < SATISFACTION_TARGET,
        "mean_satisfaction_score": _rate(sums["satisfaction_sum"], sums["callbacks_done"]),
        "breaches": dict(sorted(breaches.items())),
        "on_time": {
            m: {"met": met, "late": late, "rate": _rate(met, met + late)}
            for m, (met, late) in sorted(sla.items())
        },
        "durations": {metric: _durations(samples, metric) for metric in METRICS},
        "backlog": backlog,
        "backlog_total": sum(backlog.values()),
        "received_by_kind": dict(sorted(received_by_kind.items())),
        "assigned_by_kind": dict(sorted(assigned_by_kind.items())),
    }
