"""What-if: the recorded SLA clocks of tickets judged again under a candidate policy catalogue.

The facts stay what was recorded: when each milestone clock started, its pauses, when it was
met or cancelled, and who held the ticket when (all business times, ``occurred_at``). What
changes is the promise: each ticket's policy is matched again in the candidate catalogue
(from its facts as last bound, at its receipt), and each clock's target and calendar are
taken from the candidate's milestone of the same name. Both sides are judged by one rule
(:mod:`domain.sla.clock`'s): a clock is **late** when it was met after its due instant,
**breached** when its due instant passed before it was cancelled or, still running, before the
judging instant; **on time** when met by then; **open** or **void** (cancelled in time) give no
verdict yet. "Actual" is the bound policy's spec on the store's own calendars: for a met clock
it is the verdict the desk recorded (``SlaTargetMet.on_time``).

A candidate milestone is compared only where the recorded facts bear on it: same name, same
starting and stopping facts, and pausable only if the recorded one was (its pauses are then
known). Otherwise the clock is listed as ``not_compared`` with the reason; a candidate
milestone that was never started in the record cannot be judged from these facts either.

Pure: :func:`clock_rows` turns one ticket (its aggregate as replayed) into rows of the scratch
view :data:`WHAT_IF`; :func:`compare` turns those rows into the difference an auditor reads.
No clock, no store; the caller says when clocks are judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction
from typing import Any

from domain.errors import ClockError
from domain.sla.calendar import Clock
from domain.sla.clock import MilestoneClock, due_at, is_paused, stop
from domain.sla.policy import MilestoneSpec, SlaPolicy
from domain.ticket import ClockSource, Run, Ticket
from projections.core import Row, Table

WHAT_IF = Table(
    "what_if_clocks",
    key=("ticket_id", "milestone", "cycle"),
    columns=(
        ("ticket_id", "text"),
        ("milestone", "text"),
        ("cycle", "int"),
        ("number", "text"),
        ("kind", "text"),
        ("received_at", "ts"),
        ("started_at", "ts"),
        ("stopped_at", "ts"),
        ("policy", "text"),
        ("target_seconds", "int"),
        ("due_at", "ts"),
        ("verdict", "text"),
        ("department", "text"),
        ("what_if_policy", "text"),
        ("what_if_target_seconds", "int"),
        ("what_if_due_at", "ts"),
        ("what_if_verdict", "text"),
        ("what_if_department", "text"),
        ("note", "text"),
    ),
)
"""The scratch view: one row per recorded clock (ticket, milestone, cycle), judged twice."""

ON_TIME, LATE, BREACHED, OPEN, VOID = "on_time", "late", "breached", "open", "void"
NOT_COMPARED = "not_compared"
JUDGED = frozenset({ON_TIME, LATE, BREACHED})
BREACH = frozenset({LATE, BREACHED})
TOTAL = "TOTAL"


def _group(verdict: str) -> str:
    """What a flip is about: on time, breach, or no verdict yet."""
    if verdict == ON_TIME:
        return "on time"
    return "breach" if verdict in BREACH else "no verdict"


@dataclass(frozen=True)
class Judgement:
    """One clock judged under one spec: the verdict, its due instant, whose it is."""

    verdict: str
    due_at: datetime | None
    department: str | None


def judge(run: Run, mc: MilestoneClock, clock: Clock, ticket: Ticket, at: datetime) -> Judgement:
    """``mc`` (a recorded clock, maybe with another target) judged on ``clock`` as of ``at``.

    A met clock is credited to the department holding the ticket when it was met, a late or
    breached one to the holder at its due instant (as the desk credits a recorded breach).
    """
    stopped = mc.stopped_at
    if stopped is not None and run.outcome in ("met", "late"):
        due = due_at(replace(mc, stopped_at=None), clock)
        if due is None or stopped <= due:
            return Judgement(ON_TIME, due, ticket.department_at(stopped))
        return Judgement(LATE, due, ticket.department_at(due))
    end = stopped if stopped is not None else at
    try:
        # A running clock as of ``at`` (an open pause closed there), its deadline since.
        probe = mc if stopped is not None else stop(mc, end)
    except ClockError:  # ``at`` lies before the clock started, or inside its last pause
        return Judgement(OPEN, None, ticket.department_at(end))
    due = due_at(replace(probe, stopped_at=None), clock)
    if due is not None and due < end:
        return Judgement(BREACHED, due, ticket.department_at(due))
    if stopped is not None:
        return Judgement(VOID, due, ticket.department_at(stopped))
    # Still paused: its due instant depends on when it resumes.
    return Judgement(OPEN, None if is_paused(mc) else due, ticket.department_at(end))


def _comparable(recorded: MilestoneSpec, candidate: MilestoneSpec | None) -> str | None:
    """Why a candidate milestone cannot be judged from the recorded clock (None: it can)."""
    if candidate is None:
        return "not in the candidate policy"
    if (candidate.starts_on, candidate.met_on) != (recorded.starts_on, recorded.met_on):
        return "starts or stops on other facts"
    if candidate.pausable and not recorded.pausable:
        return "pausable only in the candidate (its pauses were not recorded)"
    return None


def _ref(policy: dict[str, Any] | SlaPolicy | None) -> str | None:
    if policy is None:
        return None
    if isinstance(policy, SlaPolicy):
        return f"{policy.id}@{policy.version}"
    return f"{policy.get('id')}@{policy.get('version')}"


def clock_rows(
    ticket: Ticket,
    actual: ClockSource,
    candidate: SlaPolicy | None,
    candidate_clocks: ClockSource,
    at: datetime,
    *,
    unmatched: str | None = None,
) -> list[Row]:
    """One row of :data:`WHAT_IF` per clock the ticket recorded, oldest cycle first.

    ``actual``: the clocks the bound specs count on (the store's catalogue); ``candidate``:
    the ticket's policy in the candidate catalogue (None when none matched: ``unmatched``
    says why), counting on ``candidate_clocks``; ``at``: when running clocks are judged.
    """
    rows = []
    for run in sorted(ticket.runs.values(), key=lambda r: (r.clock.cycle, r.clock.started_at)):
        mc, spec = run.clock, run.spec
        before = judge(run, mc, actual.clock_for(spec), ticket, at)
        wanted = None
        if candidate is not None:
            wanted = next((m for m in candidate.milestones if m.name == spec.name), None)
        why = unmatched or _comparable(spec, wanted)
        after = Judgement(NOT_COMPARED, None, None)
        if why is None and wanted is not None:
            pauses = mc.pauses if wanted.pausable else ()
            shadow = replace(mc, target_seconds=wanted.target_seconds, pauses=pauses)
            after = judge(run, shadow, candidate_clocks.clock_for(wanted), ticket, at)
        rows.append(
            {
                "ticket_id": str(ticket.id),
                "milestone": mc.milestone,
                "cycle": mc.cycle,
                "number": ticket.number,
                "kind": ticket.kind,
                "received_at": ticket.received_at,
                "started_at": mc.started_at,
                "stopped_at": mc.stopped_at,
                "policy": _ref(ticket.policy),
                "target_seconds": mc.target_seconds,
                "due_at": before.due_at,
                "verdict": before.verdict,
                "department": before.department,
                "what_if_policy": _ref(candidate),
                "what_if_target_seconds": None if wanted is None else wanted.target_seconds,
                "what_if_due_at": after.due_at,
                "what_if_verdict": after.verdict,
                "what_if_department": after.department,
                "note": why,
            }
        )
    return rows


# ------------------------------------------------------------------------ the difference


@dataclass(frozen=True)
class Flip:
    """A clock whose verdict changes under the candidate (on time <-> breach, or no verdict)."""

    ticket_id: str
    number: str
    kind: str
    milestone: str
    cycle: int
    department: str | None  # in charge at the verdict that is a breach (else the met one)
    before: str
    after: str
    due_at: datetime | None
    what_if_due_at: datetime | None
    stopped_at: datetime | None

    @property
    def change(self) -> str:
        return f"{_group(self.before)} → {_group(self.after)}"


@dataclass(frozen=True)
class Rate:
    """On time over judged clocks of one department (or ``TOTAL``), before and after."""

    department: str
    on_time_before: int
    judged_before: int
    on_time_after: int
    judged_after: int

    @property
    def before(self) -> Fraction | None:
        return Fraction(self.on_time_before, self.judged_before) if self.judged_before else None

    @property
    def after(self) -> Fraction | None:
        return Fraction(self.on_time_after, self.judged_after) if self.judged_after else None


@dataclass(frozen=True)
class WhatIfDiff:
    """Which clocks flip, and the on-time rate per department before and after."""

    flips: list[Flip]
    rates: list[Rate]  # departments by id, TOTAL last
    compared: int  # clocks judged under both
    not_compared: dict[str, int]  # reason -> clocks

    def as_json(self) -> dict[str, Any]:
        return {
            "flips": [
                {
                    "ticket_id": f.ticket_id,
                    "number": f.number,
                    "kind": f.kind,
                    "milestone": f.milestone,
                    "cycle": f.cycle,
                    "department": f.department,
                    "change": f.change,
                    "before": f.before,
                    "after": f.after,
                    "due_at": _iso(f.due_at),
                    "what_if_due_at": _iso(f.what_if_due_at),
                    "stopped_at": _iso(f.stopped_at),
                }
                for f in self.flips
            ],
            "on_time": [
                {
                    "department": r.department,
                    "before": {"on_time": r.on_time_before, "judged": r.judged_before},
                    "after": {"on_time": r.on_time_after, "judged": r.judged_after},
                    "rate_before": None if r.before is None else float(r.before),
                    "rate_after": None if r.after is None else float(r.after),
                }
                for r in self.rates
            ],
            "compared": self.compared,
            "not_compared": dict(sorted(self.not_compared.items())),
        }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def compare(rows: Iterable[Row]) -> WhatIfDiff:
    """The difference between the two judgements of :data:`WHAT_IF` rows.

    Rates count the same clocks on both sides: those compared, each under the department its
    verdict is credited to on that side.
    """
    flips: list[Flip] = []
    counts: dict[str, list[int]] = {}  # department -> [on time, judged] before, then after
    not_compared: dict[str, int] = {}
    compared = 0
    for row in rows:
        before, after = row["verdict"], row["what_if_verdict"]
        if after == NOT_COMPARED:
            reason = row["note"] or "not compared"
            not_compared[reason] = not_compared.get(reason, 0) + 1
            continue
        compared += 1
        for side, verdict, department in (
            (0, before, row["department"]),
            (2, after, row["what_if_department"]),
        ):
            if verdict in JUDGED:
                for key in (department or "–", TOTAL):
                    tally = counts.setdefault(key, [0, 0, 0, 0])
                    tally[side] += verdict == ON_TIME
                    tally[side + 1] += 1
        if _group(before) != _group(after):
            flips.append(
                Flip(
                    ticket_id=row["ticket_id"],
                    number=row["number"],
                    kind=row["kind"],
                    milestone=row["milestone"],
                    cycle=row["cycle"],
                    department=row["what_if_department"]
                    if after in BREACH or before not in BREACH
                    else row["department"],
                    before=before,
                    after=after,
                    due_at=row["due_at"],
                    what_if_due_at=row["what_if_due_at"],
                    stopped_at=row["stopped_at"],
                )
            )
    flips.sort(key=lambda f: (f.number, f.milestone, f.cycle))
    departments = sorted(d for d in counts if d != TOTAL)
    rates = [Rate(d, *counts[d]) for d in [*departments, *([TOTAL] if counts else [])]]
    return WhatIfDiff(flips, rates, compared, not_compared)


def rows_by_key(rows: Sequence[Row]) -> dict[tuple[str, str, int], Row]:
    """Rows by (number, milestone, cycle): how a reader (and a test) finds one clock."""
    return {(r["number"], r["milestone"], r["cycle"]): r for r in rows}
