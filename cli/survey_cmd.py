"""``casetrail survey list|show`` and ``casetrail report year-end --year``.

``survey list`` reads the ``surveys`` view (caught up first): each survey's state, target,
responses, satisfaction and CAPA items open of issued. ``survey show`` reads one survey from
the log: its design, verdict and CAPA items with their due instants. ``report year-end`` lists
the year's complaints by category (year of intake, Beijing time) and the most frequent ones as
the next year's sources of corrective and preventive actions (纠正和预防措施).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

import typer
from eventsourcing.application import AggregateNotFoundError
from rich.console import Console
from rich.table import Table

from bootstrap import build_desk, build_followers
from cli.report_cmd import report_app
from config.settings import Settings
from domain.errors import NotFound
from domain.survey import Survey, percent_text
from projections.surveys import CAPA_ITEMS, SURVEYS, Surveys
from projections.year_end import DEFAULT_TOP, SOURCE_TABLE, year_end_summary
from workers.projector import Follower, Projector

survey_app = typer.Typer(help="Satisfaction surveys and their CAPA items", no_args_is_help=True)
console = Console()


def _caught_up(settings: Settings) -> tuple[Any, Follower]:
    """A desk and the ``surveys`` view brought up to the head of the log."""
    desk = build_desk(settings)
    [follower] = build_followers(settings, [Surveys()])
    Projector(desk, [follower]).catch_up()
    return desk, follower


def _pct(value: float | None) -> str:
    """A target: ``90 %``, ``92.5 %``."""
    return "–" if value is None else percent_text(value)


def _rate(value: float | None) -> str:
    """A measured satisfaction, to 0.1: ``80.0 %``."""
    return "–" if value is None else f"{value:.1f} %"


def _local(value: Any, settings: Settings) -> str:
    return "–" if value is None else value.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


@survey_app.command("list")
def list_surveys(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Every survey: state, target, responses, satisfaction, CAPA items open/issued."""
    settings = Settings()
    desk, follower = _caught_up(settings)
    try:
        rows = follower.store.dump(follower.projection.table(SURVEYS))
    finally:
        desk.close()
    rows.sort(key=lambda r: (r["designed_at"], r["survey_id"]))
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    table = Table(title="满意度调查 satisfaction surveys")
    for head in (
        "number\n编号",
        "title\n标题",
        "state\n状态",
        "target\n目标",
        "responses\n答卷",
        "satisfaction\n满意度",
        "CAPA open/issued\n措施未完成/已下达",
    ):
        table.add_column(head)
    for r in rows:
        below = r["below_target"]
        rate = _rate(r["satisfaction_percent"]) + (" ▼" if below else "")
        table.add_row(
            r["number"],
            r["title"],
            r["state"],
            _pct(r["target_percent"]) + (" (default)" if r["target_is_default"] else ""),
            f"{r['satisfied']}/{r['responses']}",
            rate,
            f"{r['capa_open']}/{r['capa_items']}",
        )
    console.print(table)


@survey_app.command("show")
def show_survey(
    survey_id: Annotated[UUID, typer.Argument(help="The survey's id")],
) -> None:
    """One survey: purpose, plan, questions, verdict against its target, CAPA items."""
    settings = Settings()
    desk, follower = _caught_up(settings)
    try:
        try:
            survey = desk.repository.get(survey_id)
        except AggregateNotFoundError:
            survey = None
        if not isinstance(survey, Survey):
            raise NotFound("survey", str(survey_id))
        items = [
            r
            for r in follower.store.dump(follower.projection.table(CAPA_ITEMS))
            if r["survey_id"] == str(survey_id)
        ]
    finally:
        desk.close()
    target = percent_text(survey.target_percent)
    console.print(f"[bold]{survey.number}[/bold] {survey.title} — {survey.state.value}")
    console.print(f"purpose 目的: {survey.purpose}")
    console.print(f"plan 方案: {survey.plan}")
    for n, question in enumerate(survey.questions, start=1):
        console.print(f"  Q{n}. {question}")
    console.print(
        f"satisfaction 满意度: {_rate(survey.satisfaction)} "
        f"({survey.satisfied}/{survey.responses}) target 目标 {target}"
        + (" (default)" if survey.target_is_default else "")
    )
    table = Table(title="纠正和预防措施 CAPA items")
    for head in ("#", "department\n部门", "owner\n责任人", "action\n措施", "due\n到期", "state"):
        table.add_column(head)
    for r in sorted(items, key=lambda r: r["item"]):
        done = r["state"] == "done"
        state = f"done {_local(r['completed_at'], settings)}" if done else "open"
        table.add_row(
            str(r["item"]),
            r["department"],
            r["owner"] or "–",
            r["description"],
            _local(r["due_at"], settings),
            state + ("" if not done else (" on time" if r["on_time"] else " late")),
        )
    console.print(table)


@report_app.command("year-end")
def year_end(
    year: Annotated[int, typer.Option(help="The year (business time of intake, Beijing)")],
    top: Annotated[int, typer.Option(min=1, max=50, help="Categories to list as sources")] = (
        DEFAULT_TOP
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """Year-end summary: the year's complaints by category; the top ones as next year's
    CAPA sources."""
    settings = Settings()
    desk, follower = _caught_up(settings)
    try:
        rows = follower.store.dump(follower.projection.table(SOURCE_TABLE))
    finally:
        desk.close()
    summary = year_end_summary(rows, year, top)
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{year} 年投诉分类 complaints by category ({summary['complaints']})")
    for head in ("rank\n排名", "category\n分类", "count\n件数", "share\n占比"):
        table.add_column(head)
    for c in summary["categories"]:
        table.add_row(str(c["rank"]), c["category"], str(c["count"]), f"{c['share']:.1f} %")
    console.print(table)
    console.print(f"[bold]{year + 1} 年纠正和预防措施来源 CAPA sources[/bold]")
    for s in summary["capa_sources"]:
        console.print(f"  • {s['source']}")
