"""After the month, the 95598 loop closed: key accounts, assessment, an outage, a satisfaction
survey, problem customers and a visit — one line each.

The month's simulation already informs account managers of their accounts' tickets and flags
problem customers at intake; this step counts what it recorded. Then, on the first working
morning after the month (simulated clock, like the month), it proposes every department's
assessment of the month from the assessment view, plays one tripped feeder (30 fault calls in
20 minutes linked to one incident, one repair, every caller answered and given a callback)
and one survey at 87 % that may not close before its corrective actions are issued. Every
step goes through ``Desk.handle``; nothing is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog.testing
from rich.console import Console

from bootstrap import build_followers, build_projections
from bootstrap.assessment_rules import load_assessment_rules
from cli.assessment_cmd import summary_line
from cli.demo.clock import Sim
from config.settings import Settings
from domain import commands as c
from domain.assessment import ProposeAssessment
from domain.base import Channel, Role
from domain.customer_visit import ApproveVisitPlan, ApproveVisitReport, PlanVisit, ReportVisit
from domain.errors import DomainError
from domain.outage import (
    DispatchOutageCrew,
    LinkOutageTicket,
    OpenOutageIncident,
    RecordOutageArrival,
    RecordOutageRestoration,
)
from domain.survey import (
    AnalyseSurvey,
    CapaItemIn,
    CloseSurvey,
    DesignSurvey,
    FieldSurvey,
    IssueCapa,
    RecordSurveyResponse,
)
from projections.account_manager_worklist import FLAGS, AccountManagerWorklist
from projections.assessment import (
    AssessmentView,
    assessment_report,
    month_rows,
    parents_of,
    proposal_for,
)
from projections.due_queries import ViewQueries
from projections.outages import INCIDENTS, Outages
from workers.callbacks import CallbackScheduler
from workers.projector import Projector

FEEDER = "10kV城关线#3"
CALLS = 30
RESPONSES, SATISFIED = 100, 87


@dataclass
class LoopResult:
    """What closing the loop recorded (also returned for tests)."""

    informed: int = 0  # AccountManagerInformed in the month
    flagged: int = 0  # ProblemCustomerFlagged in the month
    assessed_departments: int = 0
    assessment_points: int = 0
    outage_calls: int = 0
    outage_repairs: int = 0
    outage_answers: int = 0
    outage_callbacks: int = 0
    survey_percent: float = 0.0
    survey_close_refused: str = ""
    capa_items: int = 0
    visit_state: str = ""


def close_the_loop(
    console: Console, sim: Sim, settings: Settings, month: str, event_types: dict[str, int]
) -> LoopResult:
    """Run the steps after the month and print one line each."""
    out = LoopResult(
        informed=event_types.get("AccountManagerInformed", 0),
        flagged=event_types.get("ProblemCustomerFlagged", 0),
    )
    console.print(
        f"key accounts 大客户: {out.informed:,} tickets of A/B-grade or key accounts informed "
        "their account managers at intake (AccountManagerInformed) and took their lane"
    )
    morning = sim.local(sim.now).replace(hour=9, minute=0, second=0, microsecond=0)
    while morning <= sim.local(sim.now) or not sim.office.is_working(morning):
        morning += timedelta(days=1)
    sim.now = morning
    _assessment(console, sim, settings, month, out)
    _outage(console, sim, settings, out)
    _survey(console, sim, out)
    _problem_customer(console, sim, settings, out)
    return out


def _problem_customer(console: Console, sim: Sim, settings: Settings, out: LoopResult) -> None:
    """The first problem customer with an account manager: a visit planned, approved, reported
    and archived, each step by its role."""
    view = next(
        f
        for f in build_followers(settings, build_projections(settings))
        if f.projection.name == AccountManagerWorklist.name
    )
    Projector(sim.desk, [view]).catch_up()
    flags = view.store.dump(view.projection.table(FLAGS))
    line = f"problem customers 问题客户: {out.flagged:,} flagged at their quarter's threshold"
    if not flags:
        console.print(line)
        return
    # One with an account manager if there is one; else the first gets one assigned first.
    flag = min(flags, key=lambda r: (r["manager"] is None, r["flagged_at"], r["customer_id"]))
    boss = sim.supervisor()
    name = flag["manager"]
    if name is None:
        name = "陈敏"
        sim.handle(
            c.AssignAccountManager(
                **boss,
                customer_id=flag["customer_id"],
                manager=name,
                command_id=f"{sim.tag}-visit-manager",
            )
        )
    manager = {"actor_id": name, "role": Role.AGENT, "department": "marketing"}
    planned = sim.handle(
        PlanVisit(
            **manager,
            customer_id=flag["customer_id"],
            manager=name,
            quarter=flag["quarter"],
            purpose="了解多次投诉的原因，商定改进措施",
            planned_for=sim.now + timedelta(days=2),
            command_id=f"{sim.tag}-visit",
        )
    )
    sim.handle(ApproveVisitPlan(**boss, visit_id=planned.id, command_id=f"{sim.tag}-visit-ok"))
    sim.now += timedelta(days=2)
    sim.handle(
        ReportVisit(
            **manager,
            visit_id=planned.id,
            manager=name,
            visited_at=sim.now,
            findings="客户对抄表时间不满意，已约定固定抄表日并每月短信提醒",
            command_id=f"{sim.tag}-visit-report",
        )
    )
    done = sim.handle(
        ApproveVisitReport(**boss, visit_id=planned.id, command_id=f"{sim.tag}-visit-archived")
    )
    out.visit_state = done.state
    console.print(
        f"{line} (ProblemCustomerFlagged, with the complaints); {name} visited one "
        f"flagged in {flag['quarter']} after {flag['complaints']} complaints: plan approved → "
        f"reported → report approved → {done.state}"
    )


def _assessment(
    console: Console, sim: Sim, settings: Settings, month: str, out: LoopResult
) -> None:
    desk = sim.desk
    [follower] = build_followers(settings, [AssessmentView(desk.directory, settings.timezone)])
    Projector(desk, [follower]).catch_up()
    facts, months = month_rows(follower.store, month)
    departments = sorted({f["department"] for f in facts})
    parents = parents_of(desk.directory, departments, month, settings.timezone)
    rules = load_assessment_rules(settings=settings)
    report = assessment_report(month, facts, months, rules, parents)
    for line in report["departments"]:
        sim.handle(
            ProposeAssessment(
                **sim.supervisor(),
                assessed_department=line["department"],
                month=month,
                proposal=proposal_for(line["department"], month, facts, months, rules, parents),
                command_id=f"{sim.tag}-assess-{line['department']}",
            )
        )
        out.assessed_departments += 1
    out.assessment_points = int(report["total_points"])
    console.print(
        f"{summary_line(report)}; {out.assessed_departments} months proposed, each to be signed "
        "off by its leader (casetrail report assessment --month " + month + ")"
    )


def _outage(console: Console, sim: Sim, settings: Settings, out: LoopResult) -> None:
    desk = sim.desk
    start = sim.now
    station = {"actor_id": "station_1/op1", "role": Role.AGENT, "department": "station_1"}
    tickets = []
    for k in range(CALLS):  # one every 40 s: the 30th at +19:20
        sim.now = start + timedelta(seconds=40 * k)
        tickets.append(
            sim.handle(
                c.ReceiveTicket(
                    **sim.front(),
                    kind="fault_repair",
                    customer_name=f"城关线用户{k + 1:02d}",
                    phone=f"1390731{k + 1:04d}",
                    category="outage",
                    content="家里突然停电，整栋楼都没电",
                    area="urban",
                    station="station_1",
                    feeder=FEEDER,
                    command_id=f"{sim.tag}-outage-call-{k}",
                )
            )
        )
    sim.now = start + timedelta(minutes=20)
    opened = sim.handle(
        OpenOutageIncident(
            **sim.supervisor(),
            area="urban",
            feeder=FEEDER,
            repair_department="station_1",
            started_at=start,
            description="城关线#3 跳闸",
            command_id=f"{sim.tag}-outage",
        )
    )
    sim.now = start + timedelta(minutes=21)
    for k, ticket in enumerate(tickets):
        sim.handle(
            LinkOutageTicket(
                **sim.front(),
                incident_id=opened.id,
                ticket_id=ticket.id,
                command_id=f"{sim.tag}-outage-link-{k}",
            )
        )
    sim.now = start + timedelta(minutes=25)
    sim.handle(
        DispatchOutageCrew(
            **station,
            incident_id=opened.id,
            crew="抢修一班",
            promised_arrival_at=start + timedelta(minutes=45),
            command_id=f"{sim.tag}-outage-dispatch",
        )
    )
    sim.now = start + timedelta(minutes=40)
    sim.handle(
        RecordOutageArrival(
            **station, incident_id=opened.id, crew="抢修一班", command_id=f"{sim.tag}-outage-on"
        )
    )
    sim.now = start + timedelta(hours=2, minutes=10)
    sim.handle(
        RecordOutageRestoration(
            **station,
            incident_id=opened.id,
            crew="抢修一班",
            cause="10kV城关线#3 跌落式熔断器熔断",
            answer="您反映的停电已恢复供电，给您带来不便深表歉意",
            command_id=f"{sim.tag}-outage-restored",
        )
    )
    sim.now += timedelta(minutes=5)
    projector = Projector(desk, build_followers(settings, build_projections(settings)))
    projector.catch_up()
    scheduler = CallbackScheduler(desk, projector, ViewQueries.of(projector.followers), sim.clock)
    with structlog.testing.capture_logs():  # the worker's log lines: not for the demo's reader
        scheduler.run_once(sim.clock())
    projector.catch_up()
    view = next(f for f in projector.followers if f.projection.name == Outages.name)
    row = view.store.load(view.projection.table(INCIDENTS), (str(opened.id),)) or {}
    out.outage_calls, out.outage_repairs = int(row.get("linked") or 0), 1
    answered = out.outage_answers = int(row.get("answered") or 0)
    out.outage_callbacks = int(row.get("callbacks") or 0)
    crew, on_site, back = (
        f"{sim.local(start + delta):%H:%M}"
        for delta in (timedelta(minutes=25), timedelta(minutes=40), timedelta(hours=2, minutes=10))
    )
    console.print(
        f"outage 停电事件 {opened.number} {FEEDER}: {out.outage_calls} calls in 20 min linked → "
        f"1 repair (crew {crew}, on site {on_site}, power back {back}), {answered} answers, "
        f"{out.outage_callbacks} callbacks scheduled (outages view)"
    )


def _survey(console: Console, sim: Sim, out: LoopResult) -> None:
    desk = sim.desk
    boss = sim.supervisor()
    survey = sim.handle(
        DesignSurvey(
            **boss,
            title="10月供电服务满意度调查",
            purpose="了解客户对95598受理、抢修与回访的满意程度",
            plan="随机抽取10月办结工单客户100户电话回访",
            questions=["您对本次服务是否满意？"],
            command_id=f"{sim.tag}-survey",
        )
    )
    sim.handle(FieldSurvey(**boss, survey_id=survey.id, command_id=f"{sim.tag}-survey-field"))
    agent = {**sim.front(), "channel": Channel.HOTLINE}
    for k in range(RESPONSES):
        sim.handle(
            RecordSurveyResponse(
                **agent,
                survey_id=survey.id,
                satisfied=k < SATISFIED,
                command_id=f"{sim.tag}-survey-r{k}",
            )
        )
    sim.handle(AnalyseSurvey(**boss, survey_id=survey.id, command_id=f"{sim.tag}-survey-a"))
    try:  # below the target: refused until corrective actions are issued (not a demo error)
        desk.handle(CloseSurvey(**boss, survey_id=survey.id))
    except DomainError as error:
        out.survey_close_refused = error.message
    due = [sim.now + timedelta(days=30), sim.now + timedelta(days=60)]
    items = [
        CapaItemIn(
            department="station_1", description="抢修到达超时的线路加装故障指示器", due_at=due[0]
        ),
        CapaItemIn(
            department="marketing", description="回访话术培训，答复须说明原因与时限", due_at=due[1]
        ),
    ]
    sim.handle(IssueCapa(**boss, survey_id=survey.id, items=items, command_id=f"{sim.tag}-capa"))
    out.survey_percent, out.capa_items = SATISFIED * 100 / RESPONSES, len(items)
    dates = ", ".join(f"{sim.local(d):%Y-%m-%d}" for d in due)
    console.print(
        f"survey 满意度调查 {survey.number}: {SATISFIED}/{RESPONSES} = {out.survey_percent:.1f} % "
        f"< target 90 % → closing refused ({out.survey_close_refused or 'not refused?'}); "
        f"{len(items)} corrective/preventive actions issued, due {dates}, now among the SLA "
        "deadlines"
    )
