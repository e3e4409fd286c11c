"""``casetrail report assessment --month`` and ``casetrail assessment ...``: the monthly 考核.

``report assessment`` brings the ``assessment`` view up to date and prints, per department, the
items by reason (breach 超时, urge 催办, supervision 督办, reopen 重办, dissatisfied 回访不满意),
the points standing, the state of its month, and per responsible leader the points answered
for jointly (连带责任; the total counts every item once). ``assessment`` sends the month's
steps: ``self-assess`` (the unit assessed a fault itself), ``propose`` (the items computed from
the view under ``config/data/assessment_rules.toml``), ``dispute``, ``resolve``, ``sign-off``
(the responsible leader only). Exit code 1 when the desk refuses, naming the rule.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from bootstrap import build_desk, build_followers
from bootstrap.assessment_rules import load_assessment_rules
from cli.report_cmd import report_app
from config.settings import Settings
from domain.assessment import (
    MONTH_PATTERN,
    REASONS,
    DisputeAssessment,
    ProposeAssessment,
    ResolveAssessmentDispute,
    SelfAssessItem,
    SignOffAssessment,
)
from domain.base import Role
from domain.desk import Desk
from domain.errors import DomainError
from projections.assessment import (
    AssessmentView,
    assessment_report,
    month_rows,
    parents_of,
    proposal_for,
)
from workers.projector import Follower, Projector

assessment_app = typer.Typer(
    help="The monthly assessment (考核): self-assess, propose, dispute, resolve, sign off",
    no_args_is_help=True,
)
console = Console()
_REASON_LABELS = {
    "breach": "breach\n超时",
    "urge": "urge\n催办",
    "supervision": "superv.\n督办",
    "reopen": "reopen\n重办",
    "dissatisfied": "dissat.\n不满意",
}

MonthOption = Annotated[str, typer.Option(help="The month, YYYY-MM (local)")]
DepartmentOption = Annotated[str, typer.Option(help="The department assessed (org id)")]
ActorOption = Annotated[str, typer.Option(help="Who acts (an actor id)")]


def _month(value: str) -> str:
    if not re.match(MONTH_PATTERN, value):
        raise typer.BadParameter(
            f"{value!r} is not a month YYYY-MM (2000-01 to 2099-12)", param_hint="--month"
        )
    return value


def _caught_up(desk: Desk, settings: Settings) -> Follower:
    [follower] = build_followers(settings, [AssessmentView(desk.directory, settings.timezone)])
    Projector(desk, [follower]).catch_up()
    return follower


def build(month: str, settings: Settings | None = None) -> dict[str, Any]:
    """The month's report from the caught-up view (departments, people, total)."""
    settings = settings or Settings()
    desk = build_desk(settings)
    try:
        facts, months = month_rows(_caught_up(desk, settings).store, month)
        departments = {f["department"] for f in facts} | {m["department"] for m in months}
        parents = parents_of(desk.directory, departments, month, settings.timezone)
        return assessment_report(
            month, facts, months, load_assessment_rules(settings=settings), parents
        )
    finally:
        desk.close()


def summary_line(report: dict[str, Any]) -> str:
    """One line for the demo: the month's total, and the heaviest department with its roll-up."""
    lines = report["departments"]
    head = f"assessment 考核 {report['month']}: {report['total_points']} points over "
    head += f"{len(lines)} departments (each item once, rules {report['rules_version']})"
    if not lines:
        return head
    top = max(lines, key=lambda line: (line["points"], line["department"]))
    above = [s["person"] for s in top["liability"] if s["level"] > 0]
    rolled = f", rolled up to {', '.join(above)}" if above else ""
    return f"{head}; most: {top['department']} {top['points']} ({top['leader']}{rolled})"


def report_tables(report: dict[str, Any]) -> tuple[Table, Table]:
    """The departments' table and the responsible leaders' table."""
    month = report["month"]
    table = Table(title=f"assessment 考核 {month} (rules {report['rules_version']})")
    table.add_column("department\n部门", no_wrap=True)
    table.add_column("leader\n责任领导", no_wrap=True)
    for reason in REASONS:
        table.add_column(_REASON_LABELS[reason], justify="right")
    table.add_column("skipped\n已自行考核", justify="right")
    table.add_column("points\n分值", justify="right")
    table.add_column("rolled up to\n连带责任")
    table.add_column("state\n状态")
    for line in report["departments"]:
        rolled = ", ".join(s["person"] for s in line["liability"] if s["level"] > 0) or "–"
        state = line["state"] + (" (stale)" if line["stale"] else "")
        table.add_row(
            line["department"],
            line["leader"],
            *(str(line["counts"].get(reason, 0)) for reason in REASONS),
            str(len(line["skipped"])),
            str(line["points"]),
            rolled,
            state,
        )
    table.add_row("TOTAL", "", *("" for _ in REASONS), "", str(report["total_points"]), "", "")
    people = Table(title=f"joint liability 连带责任 {month} (not added to the total)")
    people.add_column("person\n责任人", no_wrap=True)
    people.add_column("leads\n分管")
    people.add_column("departments answered for\n承担的部门")
    people.add_column("points\n分值", justify="right")
    for person in report["people"]:
        people.add_row(
            person["person"],
            ", ".join(person["leads"]),
            ", ".join(person["departments"]),
            str(person["liability"]),
        )
    return table, people


def assessment(
    month: MonthOption,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """The month's assessment per department and per responsible leader."""
    report = build(_month(month))
    if json_out:
        console.print_json(data=report, default=str)
        return
    for table in report_tables(report):
        console.print(table)
    console.print(summary_line(report))


report_app.command("assessment")(assessment)


def _send(command: type, fields: dict[str, Any], *, propose: bool = False) -> None:
    settings = Settings()
    desk = build_desk(settings)
    try:
        if propose:
            follower = _caught_up(desk, settings)
            department, month = fields["assessed_department"], fields["month"]
            facts, months = month_rows(follower.store, month)
            parents = parents_of(desk.directory, [department], month, settings.timezone)
            rules = load_assessment_rules(settings=settings)
            fields["proposal"] = proposal_for(department, month, facts, months, rules, parents)
        try:
            out = desk.handle(command(**fields))
        except DomainError as error:
            console.print(f"[red]refused ({error.code}):[/red] {error.message}", soft_wrap=True)
            raise typer.Exit(code=1) from None
        except ValidationError as error:
            for problem in error.errors():
                where = ".".join(str(p) for p in problem["loc"])
                console.print(f"[red]invalid:[/red] {where}: {problem['msg']}", soft_wrap=True)
            raise typer.Exit(code=1) from None
        month_agg: Any = desk.repository.get(out.id)
        summary = month_agg.summary()
        console.print(
            f"{summary['department']} {summary['month']}: {summary['state']}, "
            f"{summary['points']} points ({', '.join(out.events) or 'nothing new'})"
        )
    finally:
        desk.close()


def _envelope(
    actor: str, role: Role, department: str, assessed: str, month: str, at: datetime | None
) -> dict[str, Any]:
    return {
        "actor_id": actor,
        "role": role,
        "department": department,
        "assessed_department": assessed,
        "month": _month(month),
        **({"occurred_at": at} if at is not None else {}),
    }


AtOption = Annotated[
    datetime | None, typer.Option(help="When it happened (business time); default now")
]


@assessment_app.command("self-assess")
def self_assess(
    department: DepartmentOption,
    month: MonthOption,
    ticket: Annotated[str, typer.Option(help="The ticket number")],
    reason: Annotated[str, typer.Option(help=f"One of {', '.join(REASONS)}")],
    note: Annotated[str, typer.Option(help="How the unit assessed it")],
    actor: ActorOption,
    at: AtOption = None,
) -> None:
    """The unit assessed a fault itself: the proposal will not assess it again."""
    fields = _envelope(actor, Role.AGENT, department, department, month, at)
    _send(SelfAssessItem, {**fields, "ticket": ticket, "reason": reason, "note": note})


@assessment_app.command("propose")
def propose(
    department: DepartmentOption,
    month: MonthOption,
    actor: ActorOption = "sup.liu.yang",
    actor_department: Annotated[str, typer.Option(help="The proposer's unit")] = "marketing",
    at: AtOption = None,
) -> None:
    """Propose the month: items computed from the view under the rules in force."""
    fields = _envelope(actor, Role.SUPERVISOR, actor_department, department, month, at)
    _send(ProposeAssessment, fields, propose=True)


@assessment_app.command("dispute")
def dispute(
    department: DepartmentOption,
    month: MonthOption,
    item: Annotated[str, typer.Option(help="The item's key (see report assessment --json)")],
    reason: Annotated[str, typer.Option(help="Why the item is disputed")],
    actor: ActorOption,
    at: AtOption = None,
) -> None:
    """The unit disputes an item, saying why."""
    fields = _envelope(actor, Role.AGENT, department, department, month, at)
    _send(DisputeAssessment, {**fields, "item": item, "reason": reason})


@assessment_app.command("resolve")
def resolve(
    department: DepartmentOption,
    month: MonthOption,
    item: Annotated[str, typer.Option(help="The item's key")],
    decision: Annotated[str, typer.Option(help="upheld or cancelled")],
    note: Annotated[str, typer.Option(help="Why")],
    actor: ActorOption = "sup.liu.yang",
    actor_department: Annotated[str, typer.Option(help="The resolver's unit")] = "marketing",
    at: AtOption = None,
) -> None:
    """Resolve an item's dispute: upheld, or cancelled (its points go)."""
    fields = _envelope(actor, Role.SUPERVISOR, actor_department, department, month, at)
    _send(ResolveAssessmentDispute, {**fields, "item": item, "decision": decision, "note": note})


@assessment_app.command("sign-off")
def sign_off(
    department: DepartmentOption,
    month: MonthOption,
    actor: Annotated[str, typer.Option(help="The responsible leader's id")],
    at: AtOption = None,
) -> None:
    """The responsible leader signs the month off (anyone else is refused)."""
    _send(SignOffAssessment, _envelope(actor, Role.SUPERVISOR, department, department, month, at))
