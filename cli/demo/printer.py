"""The figures and tables printed at the end of the demo, from the facts read back.

Tickets by kind and final state, the departments in charge (on-time rate, breaches, transfers,
urges, supervisions, reopenings, callbacks, satisfaction against the 90 % target), the on-time
rate per SLA milestone, and the overall figures with the sample tickets to inspect.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.demo.generator import KIND_SHARES, KIND_ZH
from cli.demo.readback import DeptRow, Facts
from domain.desk import Desk
from domain.errors import UnknownDepartment

MILESTONE_ZH = {
    "arrival": "到场",
    "restoration": "复电",
    "first_contact": "首次联系",
    "department_reply": "部门回复",
    "resolution": "答复客户",
    "callback": "回访",
    "meter_test": "校验",
    "adjustment": "退补",
    "site_survey": "勘察",
    "supply_plan": "方案",
    "contract": "合同",
    "meter_install": "装表",
    "energize": "送电",
    "total": "业扩总时限",
    "reply": "答复",
}
SATISFACTION_TARGET = 0.90


@dataclass
class DemoResult:
    """What ``run_demo`` measured, read back from the store (also returned for tests)."""

    events: int = 0
    commands: int = 0
    domain_errors: int = 0
    error_messages: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    states: dict[str, dict[str, int]] = field(default_factory=dict)
    event_types: dict[str, int] = field(default_factory=dict)
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: list[tuple[str, str, str]] = field(default_factory=list)
    generate_seconds: float = 0.0
    read_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    sla_clock_steps: int = -1  # what the SLA clock worker still found due at month end
    store_events: int = 0  # events in the store at the end: the month and the loop after it
    chain_checked: int = -1  # events `audit verify` re-checked at the end (-1: not run)
    chain_intact: bool = False
    sealed_customers: int = 0  # customers whose personal data is sealed with a key of their own
    loop: Any = None  # cli.demo.loop.LoopResult: what closing the 95598 loop recorded


def _pct(good: int, total: int) -> str:
    return f"{good / total:.0%}" if total else "–"


def _dept_label(desk: Desk, dept: str, at: datetime | None) -> tuple[str, str, int]:
    order = {"front_office": 0, "back_office": 1, "team": 2, "station": 3, "station_group": 4}
    for when in (at, desk.directory.start):
        if when is None:
            continue
        try:
            record = desk.directory.department(dept, when)
        except UnknownDepartment:
            continue
        return record.name_zh, record.name_en, order.get(record.kind, 9)
    return dept, dept, 9


def render(console: Console, desk: Desk, facts: Facts, result: DemoResult, month: str) -> None:
    """Print the figures read back from the store."""
    _render_kinds(console, facts, month)
    rows = _render_departments(console, desk, facts, result)
    _render_milestones(console, facts, rows)
    _render_overall(console, facts, result)


def _render_kinds(console: Console, facts: Facts, month: str) -> None:
    kinds = [k for k in KIND_SHARES if facts.kinds.get(k)]
    terminal = ["closed", "resolved_at_front", "rejected", "withdrawn"]
    table = Table(title=f"Tickets by kind and final state 工单 ({month}, read back from the store)")
    table.add_column("kind 类型")
    table.add_column("tickets", justify="right")
    for label in (
        "closed 办结",
        "first contact 一次解决",
        "rejected 退单",
        "withdrawn 撤单",
        "open 在途",
    ):
        table.add_column(label, justify="right")
    table.add_column("open by state (month-end backlog)")
    totals = Counter[str]()
    for kind in kinds:
        states = facts.states[kind]
        open_states = {s: n for s, n in states.items() if s not in terminal}
        top = ", ".join(f"{s} {n}" for s, n in sorted(open_states.items(), key=lambda x: -x[1])[:4])
        cells = [states.get(s, 0) for s in terminal]
        n_open = sum(open_states.values())
        totals.update({"all": facts.kinds[kind], "open": n_open})
        totals.update(dict(zip(terminal, cells, strict=True)))
        table.add_row(
            f"{KIND_ZH[kind]} {kind}",
            str(facts.kinds[kind]),
            *(str(x) for x in cells),
            str(n_open),
            top,
        )
    table.add_section()
    table.add_row(
        "[b]total[/b]",
        str(totals["all"]),
        *(str(totals[s]) for s in terminal),
        str(totals["open"]),
        "",
    )
    console.print(table)


def _render_departments(
    console: Console, desk: Desk, facts: Facts, result: DemoResult
) -> list[tuple[str, str, DeptRow]]:
    table = Table(
        title="Departments 部门 (facts attributed to the department in charge when they happened)",
        caption="received: tickets taken in (front office) or work orders dispatched/transferred "
        "in · replied: department replies (+n resolved at first contact by the front office) · "
        "transfers: sent on after wrong routing, (+n) handed over on 合署 day · satisfaction: "
        f"satisfied ÷ completed callbacks, target {SATISFACTION_TARGET:.0%}",
    )
    table.add_column("department 部门", min_width=22, max_width=30)
    for col in (
        "received\n受理/派入",
        "replied\n回复",
        "on-time\n按时率",
        "breaches\n超时",
        "transfers\n转派",
        "urges\n催办",
        "supervised\n督办",
        "reopened\n重办",
        "callbacks\n回访",
        "satisfied\n满意率",
    ):
        table.add_column(col, justify="right")
    end = desk.clock()
    labelled = []
    for dept, r in facts.depts.items():
        zh, en, order = _dept_label(desk, dept, r.first_seen)
        labelled.append((order, dept, zh, en, r))
    rows: list[tuple[str, str, DeptRow]] = []
    for _, dept, zh, en, r in sorted(labelled, key=lambda x: (x[0], x[1])):
        met = sum(v[0] for v in r.ontime.values())
        all_ = sum(v[0] + v[1] for v in r.ontime.values())
        if r.callbacks:
            rate = r.satisfied / r.callbacks
            mark = "[green]✓[/green]" if rate >= SATISFACTION_TARGET else "[red]✗[/red]"
            sat = f"{rate:.1%} {mark}"
        else:
            sat = "–"
        gone = "" if desk.directory.exists(dept, end) else " [dim](until 合署)[/dim]"
        transfers = f"{r.transfers}" + (f" (+{r.handovers})" if r.handovers else "")
        table.add_row(
            f"{zh}{gone}\n[dim]{en}[/dim]",
            str(r.received),
            f"{r.replied}" + (f" (+{r.first_contact})" if r.first_contact else ""),
            _pct(met, all_),
            str(r.breaches),
            transfers,
            str(r.urges),
            str(r.supervisions),
            str(r.reopenings),
            str(r.callbacks),
            sat,
        )
        rows.append((dept, zh, r))
        result.departments[dept] = {
            "name_zh": zh,
            "name_en": en,
            "received": r.received,
            "replied": r.replied,
            "first_contact": r.first_contact,
            "on_time": met,
            "clocked": all_,
            "breaches": r.breaches,
            "transfers": r.transfers,
            "handovers": r.handovers,
            "urges": r.urges,
            "supervisions": r.supervisions,
            "reopenings": r.reopenings,
            "callbacks": r.callbacks,
            "satisfied": r.satisfied,
        }
    console.print(table)
    return rows


MILESTONE_GROUPS = (
    (
        "repair, complaint and reply milestones 抢修/投诉/答复",
        [
            "arrival",
            "restoration",
            "first_contact",
            "department_reply",
            "resolution",
            "reply",
            "callback",
        ],
    ),
    (
        "work-order steps 计量/退补/业扩",
        [
            "meter_test",
            "adjustment",
            "site_survey",
            "supply_plan",
            "contract",
            "meter_install",
            "energize",
            "total",
        ],
    ),
)


def _render_milestones(
    console: Console, facts: Facts, rows: list[tuple[str, str, DeptRow]]
) -> None:
    known = {m for _, group in MILESTONE_GROUPS for m in group}
    groups = [
        (title, [m for m in group if m in facts.milestones]) for title, group in MILESTONE_GROUPS
    ]
    extra = sorted(set(facts.milestones) - known)
    if extra:
        groups.append(("other milestones", extra))
    for title, present in groups:
        if not present:
            continue
        table = Table(
            title=f"On-time rate per milestone 各时限按时率: {title} "
            "(SlaTargetMet.on_time; breaches = SlaBreached)"
        )
        table.add_column("department 部门", min_width=14)
        for m in present:
            table.add_column(f"{MILESTONE_ZH.get(m, m)}\n[dim]{m}[/dim]", justify="right")
        for _, zh, r in rows:
            counts = [r.ontime.get(m, [0, 0]) for m in present]
            if not any(good + late for good, late in counts):
                continue
            cells = [
                _pct(good, good + late) if good + late else "[dim]·[/dim]" for good, late in counts
            ]
            table.add_row(zh, *cells)
        table.add_section()
        ms = facts.milestones
        table.add_row("[b]all: on time/late[/b]", *(f"{ms[m][0]}/{ms[m][1]}" for m in present))
        table.add_row(
            "[b]all: on-time rate[/b]", *(_pct(ms[m][0], ms[m][0] + ms[m][1]) for m in present)
        )
        table.add_row("[b]breaches (after corrections)[/b]", *(str(ms[m][2]) for m in present))
        console.print(table)


def _render_overall(console: Console, facts: Facts, result: DemoResult) -> None:
    sat_all = sum(r.satisfied for r in facts.depts.values())
    cb_all = sum(r.callbacks for r in facts.depts.values())
    per_second = result.commands / max(result.generate_seconds, 1e-9)
    overall = Table(title="Overall 总体", show_header=False)
    rows = [
        ("customers registered / graded key accounts", f"{facts.customers} / {facts.graded}"),
        ("tickets received", f"{sum(facts.kinds.values()):,}"),
        ("events written (read back from the store)", f"{facts.events:,}"),
        ("commands sent to the desk", f"{result.commands:,}"),
        ("domain errors (should be 0)", f"{result.domain_errors}"),
        (
            "SLA warnings / breaches / escalations",
            f"{facts.warnings:,} / {sum(m[2] for m in facts.milestones.values()):,} / "
            f"{sum(facts.escalations.values()):,}",
        ),
        ("breaches withdrawn (a fact recorded late showed them met)", f"{facts.withdrawn:,}"),
        (
            "transfers / urges / supervisions / reopenings",
            f"{facts.event_types['WorkOrderTransferred']:,} / {facts.event_types['Urged']:,} / "
            f"{facts.event_types['SupervisionOpened']:,} / {facts.event_types['TicketReopened']:,}",
        ),
        (
            "clock pauses / crews arriving late",
            f"{facts.event_types['ClockPaused']:,} / {facts.late_crews:,}",
        ),
        (
            "callbacks scheduled / completed / unreachable",
            f"{facts.callbacks_scheduled:,} / {cb_all:,} / {facts.unreachable:,}",
        ),
        (
            "satisfaction (callbacks) vs 90 % target",
            f"{_pct(sat_all, cb_all)} {'✓' if cb_all and sat_all / cb_all >= 0.9 else '✗'}",
        ),
        (
            "generation: seconds / commands per second",
            f"{result.generate_seconds:.1f} s / {per_second:,.0f}",
        ),
        ("reading back: seconds", f"{result.read_seconds:.1f} s"),
        ("elapsed seconds", f"{result.elapsed_seconds:.1f} s"),
    ]
    for label, value in rows:
        overall.add_row(label, value)
    console.print(overall)
    if result.error_messages:
        console.print(f"[red]{result.domain_errors} domain errors[/red]; the first ones:")
        for message in result.error_messages[:5]:
            console.print(f"  [red]•[/red] {message}")
    console.print("[b]Sample tickets 样例工单[/b] — inspect them with:")
    for label, ident, number in result.samples:
        console.print(f"  {label}: {number}")
        console.print(f"    casetrail ticket show {ident}")
        console.print(f"    casetrail ticket history {ident}")
