"""The ``casetrail`` command (typer): demo, tickets, and later workers and projections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from bootstrap import build_desk
from cli import audit_chain, audit_sandbox  # noqa: F401  (register their commands)
from cli.assessment_cmd import assessment_app  # also adds ``report assessment``
from cli.audit_cmd import audit_app
from cli.config_cmd import config_app, print_problems
from cli.customer_cmd import customer_app
from cli.key_accounts_cmd import account_manager_app  # also adds ``report key-accounts``
from cli.outage_cmd import outage_app
from cli.projections_cmd import projections_app
from cli.report_cmd import report_app
from cli.sla_cmd import sla_app
from cli.store_cmd import store_app
from cli.survey_cmd import survey_app  # also adds ``report year-end``
from cli.visit_cmd import visit_app
from config.data_files import DataFileError
from config.settings import Settings
from domain.errors import DomainError

app = typer.Typer(
    help="casetrail: event-sourced complaint and service-ticket desk", no_args_is_help=True
)
ticket_app = typer.Typer(help="Look at one ticket", no_args_is_help=True)
app.add_typer(ticket_app, name="ticket")
app.add_typer(projections_app, name="projections")
app.add_typer(report_app, name="report")
app.add_typer(sla_app, name="sla")
app.add_typer(store_app, name="store")
app.add_typer(config_app, name="config")
app.add_typer(audit_app, name="audit")
app.add_typer(customer_app, name="customer")
app.add_typer(assessment_app, name="assessment")
app.add_typer(account_manager_app, name="account-manager")
app.add_typer(survey_app, name="survey")
app.add_typer(outage_app, name="outage")
app.add_typer(visit_app, name="visit")
console = Console()


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(Settings().tz).strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def _duration(seconds: int) -> str:
    sign = "-" if seconds < 0 else ""
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60}h{minutes % 60:02d}m"


def _fail(error: DomainError) -> None:
    console.print(f"[red]{error.code}[/red]: {error.message}")
    raise typer.Exit(code=1)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=Settings().tz)
    return parsed


@ticket_app.command("show")
def ticket_show(
    ticket_id: UUID,
    at: Annotated[
        str | None,
        typer.Option(help="ISO-8601 business instant: the ticket as it stood then (what happened)"),
    ] = None,
    as_known_at: Annotated[
        str | None,
        typer.Option(
            "--as-known-at",
            "--as-of",
            help="ISO-8601 recording horizon: only what was recorded by then (what was known)",
        ),
    ] = None,
) -> None:
    """Show a ticket's state, department and SLA clocks, now or on two time axes:
    ``--at`` a business instant, ``--as-known-at`` a recording horizon (both: the state at
    ``--at`` as it was known at ``--as-known-at``)."""
    desk = build_desk()
    business, horizon = _parse_time(at), _parse_time(as_known_at)
    unplaced: list[Any] = []
    try:
        if business is not None:
            t, unplaced = desk.ticket_at(ticket_id, business, horizon)
        else:
            t = desk.ticket(ticket_id, as_of=horizon)
    except DomainError as e:
        _fail(e)
        return
    head = Table(title=f"{t.number}  ({t.kind})", show_header=False)
    if business is not None or horizon is not None:
        head.add_row("at 业务时刻", _when(business) if business else "now")
        head.add_row("as known at 记录截至", _when(horizon) if horizon else "now")
    if unplaced:
        names = ", ".join(f"{type(e).__name__}#{e.originator_version}" for e in unplaced)
        head.add_row("not placed 无法排入", names)
    for label, value in (
        ("state 状态", t.state.value),
        ("department 责任部门", t.department or ""),
        ("owner 责任人", t.owner or ""),
        ("customer 客户", f"{t.customer.get('name')} (grade {t.customer.get('grade')})"),
        ("category / priority", f"{t.category} / {t.priority}"),
        ("policy SLA策略", f"{t.policy.get('id')} v{t.policy.get('version')}"),
        ("cycle / transfers / urges", f"{t.cycle} / {t.transfers} / {t.urges}"),
        ("supervised 督办", "yes" if t.supervised else "no"),
        ("paused", f"{t.paused['reason']} since {_when(t.paused['at'])}" if t.paused else "no"),
        ("version", str(t.version)),
        ("legal actions", ", ".join(t.legal_actions())),
    ):
        head.add_row(label, value)
    console.print(head)
    clocks = Table(title="SLA clocks 时限")
    for col in (
        "milestone",
        "cycle",
        "started",
        "due",
        "outcome",
        "breached",
        "warnings",
        "levels",
    ):
        clocks.add_column(col)
    clocks.add_column("used 已用", justify="right")
    clocks.add_column("left 剩余", justify="right")
    for row in t.sla_summary(business or horizon or desk.clock(), desk.catalogue):
        clocks.add_row(
            row["milestone"],
            str(row["cycle"]),
            _when(row["started_at"]),
            "paused" if row["paused"] else _when(row["due_at"]),
            row["outcome"],
            "yes" if row["breached"] else "",
            ",".join(f"{w:.0%}" for w in row["warnings"]),
            ",".join(str(level) for level in row["escalation_levels"]),
            _duration(row["used_seconds"]),
            _duration(row["left_seconds"]),
        )
    console.print(clocks)
    console.print(f"used / left: business time of each clock as of {_when(at)}")


@ticket_app.command("history")
def ticket_history(ticket_id: UUID) -> None:
    """Every event of a ticket: what, who, when it happened and when it was recorded."""
    desk = build_desk()
    try:
        events = desk.history(ticket_id)
    except DomainError as e:
        _fail(e)
        return
    table = Table(title=f"history of {ticket_id}")
    for col in ("v", "event", "occurred", "recorded", "actor", "role", "department", "details"):
        table.add_column(col, overflow="fold")
    for ev in events:
        meta = getattr(ev, "meta", None)
        details = {
            k: v
            for k, v in vars(ev).items()
            if k
            not in ("originator_id", "originator_version", "timestamp", "meta", "originator_topic")
            and not isinstance(v, (list, dict))
        }
        table.add_row(
            str(ev.originator_version),
            type(ev).__name__,
            _when(meta.occurred_at) if meta else "",
            _when(ev.timestamp),
            meta.actor if meta else "",
            meta.role if meta else "",
            meta.department if meta else "",
            ", ".join(f"{k}={v}" for k, v in details.items())[:120],
        )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[
        bool,
        typer.Option(
            help="Run the projector, SLA clock and callback scheduler in this process; "
            "--no-workers when they run as `casetrail worker <name>` processes"
        ),
    ] = True,
) -> None:
    """HTTP API and thin client, with the projector, SLA clock and callbacks in this process."""
    from api.app import create_app
    from api.serving import serve as run_server
    from config.logging import configure

    settings = Settings()
    configure(json=False, level=settings.log_level)
    console.print(
        f"casetrail on http://{host}:{port}/ (API /api/v1), store {settings.database_url}"
    )
    # Query values masked in the access log (stream tickets, phone numbers); a stop ends open
    # live streams at once instead of waiting on them (api/serving.py).
    run_server(create_app(settings, workers=workers), host=host, port=port)


@app.command()
def worker(
    name: Annotated[
        str, typer.Argument(help="projector | sla-clock | callbacks | relay | kafka-projector")
    ],
    project: Annotated[
        bool, typer.Option(help="Fold the views in this process (when no projector worker runs)")
    ] = False,
    views: Annotated[
        str | None,
        typer.Option(
            help="projector, kafka-projector: comma-separated views to fold (default: all)"
        ),
    ] = None,
) -> None:
    """Run one worker in the foreground with JSON logs until SIGTERM.

    relay publishes the event store to CASETRAIL_KAFKA_TOPIC; kafka-projector is one member
    of the CASETRAIL_KAFKA_GROUP consumer group folding that topic into the views (start as
    many as there are partitions; run it instead of, never beside, the log projector).
    """
    from bootstrap.run import run_worker

    chosen = [v.strip() for v in views.split(",") if v.strip()] if views else None
    run_worker(name, project=project, only=chosen)


@app.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Delete the embedded SQLite store first")] = False,
    tickets: Annotated[int, typer.Option(help="How many tickets to generate")] = 3000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same month")
    ] = 95598,
    month: Annotated[str, typer.Option(help="Month to simulate, YYYY-MM")] = "2026-10",
) -> None:
    """Load a realistic month of 95598 hotline traffic through the real desk and summarise it."""
    from cli.demo import run_demo

    run_demo(console, reset=reset, tickets=tickets, seed=seed, month=month)


def main() -> None:
    try:
        app()
    except DataFileError as exc:  # a bad policy, org, plan or users file: say where, not a trace
        print_problems(exc.problems)
        console.print("`casetrail config check` lists what each data file holds")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
