"""``casetrail outage list|show|report``: outage incidents (停电事件) from the ``outages`` view.

``outage list`` shows every incident (caught up first): area, feeder, state, the arrival and
restoration targets met or not, and how many fault calls are linked, answered and called back.
``outage show <id>`` shows one with its linked calls. ``outage report --from --to`` shows per
repairing department and day the repairs beside the contacts, answers and callbacks: thirty
calls about one tripped feeder are 1 repair and 30 contacts.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bootstrap import build_desk, build_followers
from cli.options import local_time
from config.settings import Settings
from projections.outages import COUNTERS, Outages, calls_of, department_daily, incident, incidents
from workers.projector import Follower, Projector

outage_app = typer.Typer(help="Outage incidents (停电事件)", no_args_is_help=True)
console = Console()
STATES = {
    "open": "停电中 open",
    "crew_en_route": "抢修出发 crew on the way",
    "on_site": "已到现场 on site",
    "restored": "已恢复送电 restored",
}
HEADS = {
    "incidents": "incidents\n停电事件",
    "crew_dispatches": "crews sent\n派出抢修",
    "arrivals": "arrivals\n到达现场",
    "arrivals_on_time": "on time\n按时到达",
    "repairs": "repairs\n抢修",
    "repairs_on_time": "on time\n按时复电",
    "contacts": "contacts\n来电",
    "answers": "answers\n答复",
    "callbacks": "callbacks\n回访",
}


def _caught_up(settings: Settings) -> Follower:
    desk = build_desk(settings)
    try:
        [follower] = build_followers(settings, [Outages(settings.timezone)])
        Projector(desk, [follower]).catch_up()
        return follower
    finally:
        desk.close()


def _met(value: bool | None) -> str:
    return "–" if value is None else ("✓ 按时" if value else "✗ 超时")


def _dump(rows: Any) -> None:
    print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))


@outage_app.command("list")
def list_outages(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Every incident, latest start first: state, targets, calls linked/answered/called back."""
    settings = Settings()
    rows = incidents(_caught_up(settings).store)
    if as_json:
        _dump(rows)
        return
    table = Table(title="停电事件 outage incidents")
    for head in (
        "number\n编号",
        "area / feeder\n区域 / 线路",
        "state\n状态",
        "started\n停电开始",
        "arrival\n到达现场",
        "restoration\n恢复送电",
        "linked\n关联来电",
        "answered\n已答复",
        "callbacks\n回访",
    ):
        table.add_column(head)
    for r in rows:
        table.add_row(
            r["number"],
            f"{r['area']} / {r['feeder']}",
            STATES.get(r["state"], r["state"]),
            local_time(r["started_at"], settings),
            f"{local_time(r['arrived_at'], settings)} {_met(r['arrival_on_time'])}",
            f"{local_time(r['restored_at'], settings)} {_met(r['restoration_on_time'])}",
            str(r["linked"]),
            str(r["answered"]),
            str(r["callbacks"]),
        )
    console.print(table)


@outage_app.command("show")
def show_outage(
    incident_id: Annotated[str, typer.Argument(help="The incident's id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """One incident with its SLA and its linked fault calls. Exit code 1 when unknown."""
    settings = Settings()
    store = _caught_up(settings).store
    row = incident(store, incident_id)
    if row is None:
        console.print(f"[red]outage incident {incident_id} not found[/red]")
        raise typer.Exit(1)
    calls = calls_of(store, incident_id)
    if as_json:
        _dump({"incident": row, "calls": calls})
        return
    console.print(
        f"[bold]{row['number']}[/bold] {row['area']} / {row['feeder']} — "
        f"{STATES.get(row['state'], row['state'])}, {row['department']}, {row['policy']}"
    )
    console.print(
        f"停电开始 started {local_time(row['started_at'], settings)}; "
        f"到达现场 arrival due {local_time(row['arrival_due_at'], settings)}, "
        f"arrived {local_time(row['arrived_at'], settings)} {_met(row['arrival_on_time'])}; "
        f"恢复送电 restoration due {local_time(row['restoration_due_at'], settings)}, "
        f"restored {local_time(row['restored_at'], settings)} {_met(row['restoration_on_time'])}"
    )
    table = Table(title=f"关联来电 linked calls ({len(calls)})")
    for head in ("number\n编号", "received\n受理", "state\n状态", "answered\n答复"):
        table.add_column(head)
    for c in calls:
        table.add_row(
            c["number"],
            local_time(c["received_at"], settings),
            c["state"] or "–",
            local_time(c["answered_at"], settings),
        )
    console.print(table)


@outage_app.command("report")
def report(
    date_from: Annotated[str, typer.Option("--from", help="First local day, YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="Last local day, YYYY-MM-DD")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Per repairing department and day: 1 repair per outage beside N contacts and answers."""
    settings = Settings()
    try:
        first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    rows = department_daily(_caught_up(settings).store, first, last)
    if as_json:
        _dump(rows)
        return
    table = Table(title="停电抢修 outages: repairs and contacts per department")
    table.add_column("day\n日期")
    table.add_column("department\n部门")
    for name in COUNTERS:
        table.add_column(HEADS[name], justify="right")
    for r in rows:
        table.add_row(r["day"], r["department"], *(str(r[n]) for n in COUNTERS))
    console.print(table)
