"""``casetrail account-manager worklist NAME`` and ``casetrail report key-accounts --quarter``.

Both catch the ``account_manager_worklist`` view up first and read it: a manager's open
key-account tickets, the problem customers flagged for them (those without a visit plan await
one) and their visits awaiting a report; per key customer, a quarter's tickets, SLA breaches
and satisfaction (季度大客户评估).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bootstrap import build_desk, build_followers
from cli.options import local_time
from cli.report_cmd import report_app
from config.settings import Settings
from projections.account_manager_worklist import (
    FLAGS,
    NAMES,
    TICKETS,
    VISITS,
    AccountManagerWorklist,
    quarter_report,
)
from workers.projector import Projector

account_manager_app = typer.Typer(
    help="Account managers (大客户经理): their worklist", no_args_is_help=True
)
console = Console()
QUARTER = re.compile(r"^\d{4}Q[1-4]$")


def _rows(settings: Settings, *tables: str) -> list[list[dict[str, Any]]]:
    """The view's rows of each table, caught up first; each row names its customer
    (``customer_name`` beside ``customer_id``, as the API's rows do)."""
    desk = build_desk(settings)
    try:
        [follower] = build_followers(settings, [AccountManagerWorklist()])
        Projector(desk, [follower]).catch_up()
        dump = follower.store.dump
        names = {r["customer_id"]: r["name"] for r in dump(follower.projection.table(NAMES))}
        return [
            [
                {**r, "customer_name": names.get(r["customer_id"])}
                for r in dump(follower.projection.table(t))
            ]
            for t in tables
        ]
    finally:
        desk.close()


def _customer(row: dict[str, Any]) -> str:
    """A customer as a manager knows them: the name, then the id (the name may be erased)."""
    return f"{row['customer_name'] or '—'}\n{row['customer_id']}"


@account_manager_app.callback()
def _group() -> None:
    """Account managers (a group even while it has one command)."""


@account_manager_app.command("worklist")
def worklist(
    name: Annotated[str, typer.Argument(help="The account manager, as assigned to customers")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """Open tickets of the manager's key customers; problem customers flagged for them (those
    without a visit plan await one); their visits awaiting a report."""
    settings = Settings()
    all_tickets, all_flags, all_visits = _rows(settings, TICKETS, FLAGS, VISITS)
    tickets = sorted(
        (r for r in all_tickets if r["manager"] == name and r["open"]),
        key=lambda r: (r["received_at"], r["ticket_id"]),
    )
    flagged = sorted(
        (r for r in all_flags if r["manager"] == name),
        key=lambda r: (r["quarter"], r["customer_id"]),
        reverse=True,
    )
    awaiting = sorted(
        (r for r in all_visits if r["manager"] == name and r["state"] == "plan_approved"),
        key=lambda r: (r["planned_for"], r["visit_id"]),
    )
    if as_json:
        body = {
            "manager": name,
            "tickets": tickets,
            "flagged": flagged,
            "awaiting_visit_plan": [f for f in flagged if f["visit_id"] is None],
            "visits_awaiting_report": awaiting,
        }
        print(json.dumps(body, ensure_ascii=False, indent=2, default=str))
        return
    table = Table(title=f"{name}: open key-account tickets 大客户待办 ({len(tickets)})")
    for head in ("number\n编号", "kind\n类型", "customer\n客户", "grade\n等级", "received\n受理"):
        table.add_column(head)
    for r in tickets:
        table.add_row(
            r["number"], r["kind"], _customer(r), r["grade"], local_time(r["received_at"], settings)
        )
    console.print(table)
    flags = Table(title=f"problem customers 问题客户 ({len(flagged)})")
    for head in ("customer\n客户", "quarter\n季度", "complaints\n投诉", "evidence\n依据"):
        flags.add_column(head)
    flags.add_column("visit\n走访")
    for r in flagged:
        flags.add_row(
            _customer(r),
            r["quarter"],
            f"{r['complaints']} ≥ {r['threshold']}",
            ", ".join(r["evidence"]),
            r["visit_id"] or "awaiting a plan 待计划",
        )
    console.print(flags)
    visits = Table(title=f"visits awaiting a report 待提交走访报告 ({len(awaiting)})")
    for head in ("visit\n走访", "customer\n客户", "planned for\n计划时间", "purpose\n目的"):
        visits.add_column(head)
    for r in awaiting:
        visits.add_row(
            r["visit_id"], _customer(r), local_time(r["planned_for"], settings), r["purpose"]
        )
    console.print(visits)


@report_app.command("key-accounts")
def key_accounts(
    quarter: Annotated[str, typer.Option(help="A quarter of business time, e.g. 2026Q4")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Per key customer: the quarter's tickets, SLA breaches and satisfaction."""
    if not QUARTER.match(quarter):
        raise typer.BadParameter(
            f"{quarter!r} is not a quarter like 2026Q4", param_hint="--quarter"
        )
    [tickets] = _rows(Settings(), TICKETS)
    report = quarter_report(r for r in tickets if r["quarter"] == quarter)
    if as_json:
        print(json.dumps({"quarter": quarter, "rows": report}, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{quarter} key accounts 大客户季度评估")
    heads = ("customer\n客户", "grade\n等级", "manager\n客户经理", "tickets\n工单")
    for head in (*heads, "breaches\n超时", "satisfaction\n满意率"):
        table.add_column(head)
    for r in report:
        rate = "—" if r["satisfaction"] is None else f"{100 * r['satisfaction']:.1f} %"
        table.add_row(
            _customer(r),
            r["grade"],
            r["manager"] or "—",
            str(r["tickets"]),
            str(r["breaches"]),
            f"{rate} ({r['satisfied']}/{r['with_verdict']})",
        )
    console.print(table)
