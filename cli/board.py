"""The SLA monitor's board and the department report, read from the projections.

Used by ``casetrail demo`` after its month (the views are brought up to date first, with a
progress bar) and usable on any store.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bootstrap import build_followers
from cli.report_cmd import _volume_table
from config.settings import Settings
from domain.org import OrgDirectory
from projections.reports import department_report
from workers.projector import Follower, Projector


def catch_up_views(console: Console, desk: Any, settings: Settings) -> list[Follower]:
    """Run the projector over everything recorded, with a progress bar."""
    followers = build_followers(settings)
    projector = Projector(desk, followers, batch_size=2000)
    lag = max(projector.lag().values(), default=0)
    with Progress(
        TextColumn("[bold]projecting[/bold] views"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("views", total=lag)
        projector.catch_up(progress=lambda n: progress.update(task, advance=n))
    return followers


def _view(followers: list[Follower], name: str) -> Follower:
    return next(f for f in followers if f.projection.name == name)


def _name(directory: OrgDirectory, dept: str | None, at: datetime) -> str:
    if not dept:
        return "-"
    try:
        return directory.department(dept, at).name_zh
    except Exception:  # a department merged away before `at`
        return dept


def sla_board(
    followers: list[Follower], directory: OrgDirectory, at: datetime, tz: Any
) -> tuple[Table, Table]:
    """Open escalations by department and level, and the next deadlines after ``at``."""
    queue = _view(followers, "escalation_queue")
    rows = queue.store.dump(queue.projection.table("escalation_queue"))
    by_dept: dict[str, Counter[str]] = defaultdict(Counter)
    oldest: dict[str, datetime] = {}
    for r in rows:
        dept = r["department"] or "-"
        by_dept[dept][f"L{r['level']}"] += 1
        if r["breached_at"] is not None:
            by_dept[dept]["breached"] += 1
        first = r["first_escalated_at"]
        if first is not None and (dept not in oldest or first < oldest[dept]):
            oldest[dept] = first
    board = Table(title=f"SLA 监控看板 escalation queue at {at.astimezone(tz):%Y-%m-%d %H:%M}")
    for col in ("department 部门", "L0", "L1", "L2", "L3", "breached 已超时", "oldest 最久 (h)"):
        board.add_column(col, justify="right" if col != "department 部门" else "left")
    for dept in sorted(by_dept, key=lambda d: -sum(by_dept[d].values())):
        counts = by_dept[dept]
        age = (at - oldest[dept]).total_seconds() / 3600 if dept in oldest else 0.0
        board.add_row(
            _name(directory, dept, at),
            *(str(counts.get(f"L{n}", 0)) for n in range(4)),
            str(counts.get("breached", 0)),
            f"{age:,.1f}",
        )
    deadlines = _view(followers, "sla_deadlines")
    upcoming = sorted(
        (
            r
            for r in deadlines.store.dump(deadlines.projection.table("sla_deadlines"))
            if r["state"] == "running" and r["due_at"] is not None and r["due_at"] >= at
        ),
        key=lambda r: r["due_at"],
    )[:10]
    nxt = Table(title="即将到期 next deadlines")
    for col in ("ticket 工单", "kind", "milestone 节点", "department 部门", "due 到期", "in (h)"):
        nxt.add_column(col)
    for r in upcoming:
        nxt.add_row(
            r["number"],
            r["kind"],
            r["milestone"],
            _name(directory, r["department"], at),
            f"{r['due_at'].astimezone(tz):%m-%d %H:%M}",
            f"{(r['due_at'] - at).total_seconds() / 3600:,.1f}",
        )
    return board, nxt


def show_views(
    console: Console,
    desk: Any,
    settings: Settings,
    directory: OrgDirectory,
    at: datetime,
    first: date,
    last: date,
) -> None:
    """Project everything, then print the SLA board and the department report from the views."""
    followers = catch_up_views(console, desk, settings)
    board, upcoming = sla_board(followers, directory, at, settings.tz)
    console.print(board)
    console.print(upcoming)
    perf = _view(followers, "department_performance")
    rows = department_report(perf.store, first, last, at, directory=directory, total=True)
    period = f"{first} – {last}"
    console.print(_volume_table(rows, f"部门绩效 (from the views) Department performance {period}"))
    console.print(
        f"on-time rates per milestone, durations and backlog: casetrail report departments "
        f"--from {first} --to {last}"
    )
