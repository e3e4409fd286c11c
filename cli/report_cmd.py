"""``casetrail report departments --from --to [--as-of]``: the department performance report.

Without ``--as-of`` the views are caught up first and the report is read from them, with the
backlog aged at the current instant. With ``--as-of`` the report is rebuilt from the events
recorded up to that instant only, in memory (the views are not touched): it shows exactly what
was known then, backlog included.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bootstrap import build_desk, build_followers, system_clock
from bootstrap import sandbox as sandboxes
from cli.options import instant_option
from config.settings import Settings
from projections.department_performance import DepartmentPerformance
from projections.reports import BACKLOG_BUCKETS, department_report, report_as_of
from workers.projector import Projector

report_app = typer.Typer(help="Reports over the read models", no_args_is_help=True)
console = Console()


@report_app.callback()
def _reports() -> None:
    """Reports over the read models (a group even while it has one command)."""


_BUCKET_LABELS = {
    "lt_1d": "<1d",
    "1_3d": "1–3d",
    "3_7d": "3–7d",
    "7_30d": "7–30d",
    "gt_30d": ">30d",
}
# Milestones worth a column of their own when present, in this order; others follow.
_MILESTONE_ORDER = (
    "first_contact",
    "department_reply",
    "resolution",
    "reply",
    "arrival",
    "restoration",
    "callback",
)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=option) from None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _hours(value: float | None) -> str:
    return "–" if value is None else f"{value / 3600:.1f}"


def build(
    date_from: date,
    date_to: date,
    as_of: datetime | None,
    settings: Settings | None = None,
    sandbox: str | None = None,
) -> tuple[list[dict[str, Any]], datetime]:
    """The report rows (departments then TOTAL) and the instant the backlog is aged at.

    ``sandbox``: read from an auditor's sandbox (``casetrail audit replay``) as it was built,
    the backlog aged at its horizon.
    """
    settings = settings or Settings()
    desk = build_desk(settings)
    try:
        projection = DepartmentPerformance(desk.directory, settings.timezone)
        if sandbox is not None:
            box = sandboxes.read(settings, sandbox)
            if box.horizon is None:
                raise sandboxes.SandboxError(f"sandbox {sandbox!r} is incomplete: drop it")
            [kept] = sandboxes.sandbox_followers(settings, sandbox, [projection])
            rows = department_report(
                kept.store,
                date_from,
                date_to,
                box.horizon,
                directory=projection.directory,
                total=True,
            )
            return rows, box.horizon
        if as_of is not None:
            return report_as_of(desk, projection, as_of, date_from, date_to, total=True), as_of
        # Only this report's view is brought up to date: the others are not read here.
        [follower] = build_followers(settings, [projection])
        Projector(desk, [follower]).catch_up()
        now = system_clock()
        rows = department_report(
            follower.store,
            date_from,
            date_to,
            now,
            directory=projection.directory,
            total=True,
        )
        return rows, now
    finally:
        desk.close()


def _volume_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("department\n部门", no_wrap=True)
    for header in (
        "received\n受理",
        "assigned\n派单",
        "replied\n回复",
        "closed\n办结",
        "transfers\nout/in 转派",
        "transfer\nrate 转派率",
        "urges\n催办",
        "supervisions\n督办",
        "reopened\n重开",
        "reopen\nrate 重开率",
        "callbacks\n回访",
        "unreachable\n未接通",
        "coverage\n回访率",
        "satisfaction\n满意率",
    ):
        table.add_column(header, justify="right")
    for r in rows:
        satisfaction = _pct(r["satisfaction_rate"])
        if r["below_satisfaction_target"]:
            satisfaction = f"[red]{satisfaction} <90%[/red]"
        table.add_row(
            _label(r),
            str(r["received"]),
            str(r["assigned"]),
            str(r["replied"]),
            str(r["closed"]),
            f"{r['transfers_out']}/{r['transfers_in']}",
            _pct(r["transfer_rate"]),
            str(r["urges"]),
            str(r["supervisions"]),
            str(r["reopened"]),
            _pct(r["reopen_rate"]),
            str(r["callbacks_done"]),
            str(r["unreachable"]),
            _pct(r["callback_coverage"]),
            satisfaction,
        )
    return table


def _milestones(rows: list[dict[str, Any]]) -> list[str]:
    seen = {m for r in rows for m in (*r["on_time"], *r["breaches"])}
    ordered = [m for m in _MILESTONE_ORDER if m in seen]
    return ordered + sorted(seen - set(ordered))


def _on_time_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("department 部门", no_wrap=True)
    table.add_column("milestone 节点")
    for header in ("met 按时", "late 超时办结", "on-time rate 按时率", "breaches 超时"):
        table.add_column(header, justify="right")
    milestones = _milestones(rows)
    for r in rows:
        shown = [m for m in milestones if m in r["on_time"] or m in r["breaches"]]
        for i, m in enumerate(shown):
            on_time = r["on_time"].get(m, {"met": 0, "late": 0, "rate": None})
            table.add_row(
                _label(r) if i == 0 else "",
                m,
                str(on_time["met"]),
                str(on_time["late"]),
                _pct(on_time["rate"]),
                str(r["breaches"].get(m, 0)),
                end_section=i == len(shown) - 1,
            )
    return table


def _durations_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("department 部门", no_wrap=True)
    for header in (
        "first response 首次响应",
        "business 工作时",
        "resolution 答复客户",
        "business 工作时",
        "closure 办结",
    ):
        table.add_column(f"{header}\nmedian / p90 h", justify="right")
    for r in rows:
        d = r["durations"]
        table.add_row(
            _label(r),
            _spread(d["first_response"]["wall"]),
            _spread(d["first_response"]["business"]),
            _spread(d["resolution"]["wall"]),
            _spread(d["resolution"]["business"]),
            _spread(d["closure"]["wall"]),
        )
    return table


def _spread(figures: dict[str, Any]) -> str:
    if not figures["n"]:
        return "–"
    return f"{_hours(figures['median'])} / {_hours(figures['p90'])} (n={figures['n']})"


def _backlog_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("department 部门", no_wrap=True)
    for name, _ in BACKLOG_BUCKETS:
        table.add_column(_BUCKET_LABELS[name], justify="right")
    table.add_column("open 在办", justify="right")
    for r in rows:
        if r["backlog_total"] or r["department"] == "TOTAL":
            table.add_row(
                _label(r),
                *(str(r["backlog"][name]) for name, _ in BACKLOG_BUCKETS),
                str(r["backlog_total"]),
            )
    return table


def _label(row: dict[str, Any]) -> str:
    """``id 中文名``: short enough for a column; the JSON output has the English name too."""
    if row["department"] == "TOTAL":
        return "TOTAL 合计"
    return f"{row['department']} {row['name_zh']}"


@report_app.command("departments")
def departments(
    date_from: Annotated[str, typer.Option("--from", help="First local day, YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="Last local day (included), YYYY-MM-DD")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-known-at",
            "--as-of",
            help="ISO-8601 recording horizon: the report from the events recorded up to then "
            "(what was known); --from/--to are business days",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
    sandbox: Annotated[
        str | None,
        typer.Option(
            "--sandbox",
            help="Read the views of this auditor's sandbox (casetrail audit replay): as known "
            "at its horizon",
        ),
    ] = None,
) -> None:
    """Per department: volumes, on-time rates, durations, 催办/督办, satisfaction, backlog."""
    first, last = _day(date_from, "--from"), _day(date_to, "--to")
    if last < first:
        raise typer.BadParameter("--to lies before --from", param_hint="--to")
    if sandbox is not None and as_of is not None:
        raise typer.BadParameter("a sandbox has its own horizon", param_hint="--sandbox")
    horizon = instant_option(as_of, "--as-of", Settings()) if as_of else None
    try:
        rows, aged_at = build(first, last, horizon, sandbox=sandbox)
    except sandboxes.SandboxError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from None
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    period = f"{first} – {last}"
    stamp = aged_at.astimezone(Settings().tz).strftime("%Y-%m-%d %H:%M")
    known = f" as recorded up to {stamp}" if as_of else ""
    if sandbox is not None:
        known = f" as known at {stamp} (sandbox {sandbox})"
    console.print(_volume_table(rows, f"部门绩效 Department performance {period}{known}"))
    console.print(_on_time_table(rows, f"时限 On time by SLA milestone {period}"))
    console.print(_durations_table(rows, f"时长 Durations in hours {period}"))
    console.print(_backlog_table(rows, f"积压 Backlog by age at {stamp}"))
