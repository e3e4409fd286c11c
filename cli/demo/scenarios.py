"""The month's scenario catalogue: how each kind of ticket runs, one process per kind.

A process is a generator: it sends one ticket's commands through ``Sim`` and yields the simulated
instant it wants to be woken at. The steps several kinds share are helpers below (intake, 派发
with the odd wrong department and its correction, waits the hotline urges 催办 and 营销部
supervises 督办, pauses, bill adjustments 退补, the answer to the customer and the callback
回访); each ``*_proc`` then reads as its ticket's story and fits on a screen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cli.demo.clock import TERMINAL, Proc, Sim, Tk
from cli.demo.generator import TOWNS, VILLAGES, person, pick
from domain import commands as c
from domain.base import Channel
from domain.desk import Outcome

FAULT_CAUSES = [
    "大风导致树枝搭线",
    "雷击造成跌落式熔断器熔断",
    "低压线路老化断线",
    "配变过载跳闸",
    "表箱进线接头烧损",
    "用户内部短路引起开关跳闸",
    "外力破坏电缆",
]
CREWS = ["抢修一班", "抢修二班", "配电运维班", "农网抢修队"]
TRANSFERABLE = {"dispatched", "accepted", "in_progress"}
YUAN_PER_KWH = 0.5883  # what one kWh of a 退补 is worth in the demo

# --------------------------------------------------------------------------- shared steps


def intake(sim: Sim, tk: Tk) -> None:
    """受理: the front office takes the call (a new applicant gives name, phone and address)."""
    occurred = sim.lag(tk) if tk.channel is Channel.HOTLINE else None
    fields: dict[str, Any] = {
        **sim.front(tk.channel),
        "kind": tk.kind,
        "category": tk.category,
        "content": tk.content,
        "priority": tk.priority,
        "command_id": f"{sim.tag}-{tk.no}-intake",
    }
    if tk.new_applicant is not None:
        fields.update(
            customer_name=tk.new_applicant,
            phone=f"139{sim.rng.randint(10_000_000, 99_999_999)}",
            address=f"{sim.rng.choice(TOWNS[tk.station][1])}{sim.rng.choice(VILLAGES)}新建住宅",
            area=tk.area,
            station=tk.station,
            voltage=tk.voltage,
        )
    else:
        assert tk.cust is not None
        fields.update(customer_id=tk.cust.id, area=tk.area, station=tk.station, voltage=tk.voltage)
    if occurred is not None:
        fields["occurred_at"] = occurred
    out = sim.handle(c.ReceiveTicket(**fields))
    tk.id, tk.number = out.id, out.number
    tk.received_at = occurred or sim.now
    tk.dept = sim.directory.front_office(sim.now)
    sim.open.add(tk)
    sim.after(tk, out)


def work(sim: Sim, tk: Tk, action: str, **fields: Any) -> Outcome:
    """A back-office step by the department holding the order (accepting it first if a
    reorganisation handed it over meanwhile)."""
    if tk.state == "dispatched" and action not in ("accept", "dispatch_crew", "transfer"):
        sim.act(tk, "accept", sim.handler(tk), owner=person(sim.rng))
    if "owner" in c.TICKET_ACTIONS[action].model_fields and "owner" not in fields:
        fields["owner"] = person(sim.rng)
    return sim.act(tk, action, sim.handler(tk), **fields)


def dispatch(sim: Sim, tk: Tk, wrong_chance: float = 0.10) -> str | None:
    """派发. Sometimes to the wrong department (returns it), else by the routing table."""
    correct = sim.route(tk)
    wrong = _wrong_department(sim, tk, correct) if sim.rng.random() < wrong_chance else None
    who = sim.front(Channel.SYSTEM)
    if wrong is not None:
        sim.act(tk, "dispatch", who, to_department=wrong, owner=person(sim.rng), note="派发")
    else:
        sim.act(tk, "dispatch", who, owner=person(sim.rng), note="按派单规则派发")
        tk.dept = correct
    return wrong


def _wrong_department(sim: Sim, tk: Tk, correct: str) -> str | None:
    options: list[str] = []
    for station in TOWNS:
        if station != tk.station:
            options.append(
                sim.directory.route(tk.kind, voltage=tk.voltage, station=station, at=sim.now)
            )
    for other in ("complaint", "meter_dispute", "billing_adjustment", "report", "new_connection"):
        if other != tk.kind and tk.kind != "fault_repair":
            options.append(
                sim.directory.route(other, voltage=tk.voltage, station=tk.station, at=sim.now)
            )
    options = sorted({o for o in options if o != correct})
    return sim.rng.choice(options) if options else None


def fix_routing(sim: Sim, tk: Tk) -> None:
    """The wrong department sends the order on to the right one (same ticket, same clocks)."""
    correct = sim.route(tk)
    if tk.dept == correct or tk.state not in TRANSFERABLE:
        return
    sim.act(
        tk,
        "transfer",
        sim.handler(tk),
        to_department=correct,
        owner=person(sim.rng),
        reason=f"非本部门职责, 派发错误, 转{correct}",
    )


def dispatched_and_accepted(
    sim: Sim,
    tk: Tk,
    *,
    after: tuple[float, float],
    fix: tuple[float, float],
    accept: tuple[float, float],
) -> Proc:
    """派发 ``after`` minutes from now; a wrong department sends the order on ``fix`` office
    hours later; the department holding it accepts ``accept`` office hours after that."""
    yield sim.mins(*after)
    wrong = dispatch(sim, tk)
    if wrong:
        yield sim.office_hours(*fix)
        fix_routing(sim, tk)
    yield sim.office_hours(*accept)
    if tk.state == "dispatched":
        work(sim, tk, "accept")


def done_by(
    sim: Sim, *, late: float, late_days: tuple[float, float], usual_days: tuple[float, float]
) -> datetime:
    """When the department will be done: usually within ``usual_days`` office days, and with
    chance ``late`` after ``late_days``."""
    if sim.rng.random() < late:
        return sim.office_days(*late_days)
    return sim.office_days(*usual_days)


def slow_wait(sim: Sim, tk: Tk, until: datetime, *, urge: float, supervise: float) -> Proc:
    """Wait for a department; the hotline urges (催办) and 营销部 supervises (督办) slow ones."""
    span = (until - sim.now).total_seconds() / 3600
    if span > 20 and sim.rng.random() < urge:
        yield sim.now + (until - sim.now) * sim.rng.uniform(0.35, 0.6)
        if tk.state not in TERMINAL and sim.legal(tk, "urge"):
            sim.act(
                tk, "urge", sim.front(Channel.SYSTEM), note="客户再次来电催促, 请加快办理并回复"
            )
    if span > 50 and not tk.supervised and sim.rng.random() < supervise:
        yield sim.now + (until - sim.now) * sim.rng.uniform(0.4, 0.7)
        if tk.state not in TERMINAL and sim.legal(tk, "supervise"):
            sim.act(tk, "supervise", sim.supervisor(), reason="工单办理超期风险, 营销部督办")
    yield until


def maybe_withdraw(sim: Sim, tk: Tk, chance: float) -> bool:
    if sim.rng.random() >= chance or not sim.legal(tk, "withdraw"):
        return False
    sim.act(tk, "withdraw", sim.front(), reason="客户来电撤销诉求: 问题已自行解决")
    return True


def pause_for(sim: Sim, tk: Tk, reason: str, lo: float, hi: float) -> Proc:
    if not sim.legal(tk, "pause"):
        return
    sim.act(tk, "pause", sim.handler(tk), reason=reason)
    yield sim.office_days(lo, hi)
    sim.act(tk, "resume", sim.handler(tk))


def adjust_bill(sim: Sim, tk: Tk, kwh: tuple[float, float], note: str) -> Proc:
    """退补 of some ``kwh`` (lo, hi): the department proposes it, the approver confirms it a day
    or so later. Returns the kWh adjusted."""
    amount = round(sim.rng.uniform(*kwh), 1)
    work(sim, tk, "propose_adjustment", kwh=amount, amount_yuan=round(amount * YUAN_PER_KWH, 2))
    yield sim.office_days(0.2, 1.5)
    work(sim, tk, "approve_adjustment", note=note)
    return amount


# --------------------------------------------------------------------------- answer and callback


def answer_and_callback(
    sim: Sim, tk: Tk, *, callback: float, repair: bool = False, quick: bool = False
) -> Proc:
    """答复客户, then 回访 (most) or close.

    Returns True when a dissatisfied callback reopened the ticket (a new SLA cycle)."""
    yield _answer_due(sim, repair=repair, quick=quick)
    hour = sim.local().hour
    via = "phone" if 8 <= hour < 21 else "sms"
    occurred = sim.lag(tk) if via == "phone" else None
    sim.act(tk, "answer", sim.front(), occurred=occurred, content="已将处理结果告知客户", via=via)
    if tk.cycle >= 3 or sim.rng.random() >= callback:
        yield sim.mins(2, 40)
        sim.act(tk, "close", sim.front(), note="客户认可处理结果, 无需回访")
        return False
    yield sim.mins(5, 90)
    assert tk.id is not None
    cb = sim.handle(
        c.ScheduleCallback(
            **sim.front(), ticket_id=tk.id, command_id=sim.cid(tk, "schedule-callback")
        )
    )
    tk.state = "callback_pending"
    tk.last_at = sim.now
    if not (yield from _reach_customer(sim, tk, cb)):
        # the third failure made it unreachable and closed the ticket
        tk.state = "closed"
        sim.open.discard(tk)
        return False
    return _callback_verdict(sim, tk, cb)


def reply_and_answer(
    sim: Sim, tk: Tk, *, callback: float, repair: bool = False, quick: bool = False, **reply: Any
) -> Proc:
    """部门回复 (``reply`` says what was done), then the answer to the customer and 回访.

    Returns True when a dissatisfied callback reopened the ticket (a new SLA cycle)."""
    work(sim, tk, "reply", **reply)
    return (yield from answer_and_callback(sim, tk, callback=callback, repair=repair, quick=quick))


def _answer_due(sim: Sim, *, repair: bool, quick: bool) -> datetime:
    """When the front office tells the customer: minutes after a repair, else office hours
    (now and then days: the answer is late)."""
    if repair:
        return sim.mins(5, 60)
    if quick:
        late = sim.rng.random() < 0.08
        return sim.office_days(1.0, 2.0) if late else sim.office_hours(0.1, 1.5)
    if sim.rng.random() < 0.12:
        return sim.office_days(1.0, 4.0)  # the answer to the customer is late
    return sim.office_hours(0.2, 5.0)


def _reach_customer(sim: Sim, tk: Tk, cb: Outcome) -> Proc:
    """Callback attempts until the customer answers; returns False after three failures."""
    failures = pick(sim.rng, [(0, 0.74), (1, 0.13), (2, 0.07), (3, 0.06)])
    yield sim.hotline_hours(0.5, 8.0)
    for _ in range(failures):
        outcome = pick(
            sim.rng,
            [
                ("no_answer", 0.6),
                ("busy", 0.2),
                ("call_back_later", 0.15),
                ("wrong_number", 0.05),
            ],
        )
        sim.handle(
            c.RecordCallbackAttempt(
                **sim.front(),
                callback_id=cb.id,
                outcome=outcome,
                command_id=sim.cid(tk, "callback-attempt"),
                note="回访未接通",
            )
        )
        tk.last_at = sim.now
        yield sim.hotline_hours(1.0, 6.0)
    return failures < 3


def _callback_verdict(sim: Sim, tk: Tk, cb: Outcome) -> bool:
    """The customer's verdict: satisfied closes the ticket; dissatisfied reopens it (True)."""
    unhappy = 0.035 + 0.08 * tk.breached + 0.05 * tk.transferred + 0.03 * (tk.kind == "complaint")
    if tk.cycle > 1:
        unhappy *= 0.6
    satisfied = sim.rng.random() >= unhappy
    score = (
        pick(sim.rng, [(5, 0.7), (4, 0.3)])
        if satisfied
        else pick(sim.rng, [(1, 0.3), (2, 0.4), (3, 0.3)])
    )
    comment = (
        "对处理结果满意"
        if satisfied
        else sim.rng.choice(
            ["问题没有彻底解决", "处理时间太长", "工作人员解释不清", "要求上门重新处理"]
        )
    )
    sim.handle(
        c.RecordCallbackOutcome(
            **sim.front(),
            callback_id=cb.id,
            satisfaction=score,
            comment=comment,
            command_id=sim.cid(tk, "callback-outcome"),
        )
    )
    tk.last_at = sim.now
    if satisfied:
        tk.state = "closed"
        sim.open.discard(tk)
        return False
    tk.state, tk.cycle, tk.paused = "reopened", tk.cycle + 1, False
    sim.refresh(tk)
    return True


# --------------------------------------------------------------------------- one process per kind


def complaint_proc(sim: Sim, tk: Tk) -> Proc:
    """投诉: some rejected or resolved on the phone; the rest verified, investigated, replied."""
    intake(sim, tk)
    roll = sim.rng.random()
    if roll < 0.06:
        yield sim.mins(10, 120)
        note = "与已受理工单重复, 并案处理"
        sim.act(tk, "reject", sim.front(), reason="duplicate", note=note)
        return
    if roll < 0.08:
        yield sim.mins(10, 120)
        sim.act(tk, "reject", sim.front(), reason="not_ours", note="非供电企业职责, 已告知客户")
        return
    if roll < 0.16:
        yield sim.mins(3, 15)
        sim.act(tk, "resolve_at_first_contact", sim.front(), answer="当即解释政策并致歉, 客户认可")
        return
    yield sim.mins(10, 90)
    sim.act(tk, "verify", sim.front(), note="核实客户信息及诉求属实")
    yield sim.mins(1, 10)
    priority = "high" if tk.priority in ("high", "urgent") else "normal"
    sim.act(tk, "classify", sim.front(), category=tk.category, priority=priority)
    while True:
        yield from dispatched_and_accepted(sim, tk, after=(5, 120), fix=(0.5, 6), accept=(0.2, 2))
        if sim.rng.random() < 0.12:
            yield sim.office_days(1.0, 2.5)  # first contact late
        else:
            yield sim.office_hours(0.3, 3)
        sim.act(
            tk,
            "contact_customer",
            sim.handler(tk) | {"channel": Channel.HOTLINE},
            occurred=sim.lag(tk),
            note="电话联系客户, 了解详细情况",
        )
        if maybe_withdraw(sim, tk, 0.03):
            return
        if sim.rng.random() < 0.06:
            yield from pause_for(sim, tk, "等待客户提供资料", 0.5, 3)
        yield sim.office_days(0.3, 2.0)
        work(sim, tk, "record_cause", cause="现场核查确认问题属实", solution="整改并向客户致歉")
        until = done_by(sim, late=0.12, late_days=(3.5, 8.0), usual_days=(0.2, 2.5))
        yield from slow_wait(sim, tk, until, urge=0.6, supervise=0.3)
        measures = "加强人员培训, 纳入考核"
        reopened = yield from reply_and_answer(
            sim, tk, callback=0.92, result="已核实并整改", measures=measures
        )
        if not reopened:
            return


def fault_proc(sim: Sim, tk: Tk) -> Proc:
    """故障报修: a crew promised within the area's commitment, arrival, restoration, reply."""
    intake(sim, tk)
    target = {"urban": 45, "rural": 90, "remote": 120}[tk.area]
    while True:
        yield sim.mins(1, 8)
        wrong = dispatch(sim, tk, wrong_chance=0.08)
        if wrong:
            yield sim.mins(3, 15)
            fix_routing(sim, tk)
        if sim.rng.random() < 0.5:
            yield sim.mins(1, 5)
            work(sim, tk, "accept")
        yield sim.mins(1, 10)
        # The crew promises an arrival inside the commitment counted from the call.
        assert tk.received_at is not None
        promise = max(
            sim.now + timedelta(minutes=10),
            tk.received_at + timedelta(minutes=target * sim.rng.uniform(0.6, 0.95)),
        )
        crew = sim.rng.choice(CREWS)
        work(sim, tk, "dispatch_crew", crew=crew, promised_arrival_at=promise)
        late = sim.rng.random() < (0.35 if tk.storm else 0.14)
        if late:
            if sim.rng.random() < 0.7:
                yield promise + timedelta(minutes=sim.rng.uniform(2, 10))
                sim.act(tk, "urge", sim.front(), note="客户来电催促: 抢修人员超过承诺时间未到")
            yield max(sim.now, promise) + timedelta(minutes=sim.rng.uniform(5, 70))
        else:
            yield sim.now + (promise - sim.now) * sim.rng.uniform(0.4, 1.0)
        if sim.rng.random() < 0.2:
            # On site, but the crew phones it in later: recorded with the time it happened.
            # When the commitment ran out meanwhile, the breach recorded then is withdrawn.
            arrived = sim.now
            yield sim.mins(10, 30)
            work(sim, tk, "record_arrival", crew=crew, occurred_at=arrived)
        else:
            work(sim, tk, "record_arrival", crew=crew)
        span = (40, 300) if tk.storm else (15, 150)
        yield sim.mins(*span)
        work(sim, tk, "record_restoration", crew=crew, cause=sim.rng.choice(FAULT_CAUSES))
        yield sim.mins(3, 40)
        reopened = yield from reply_and_answer(
            sim,
            tk,
            callback=0.85,
            repair=True,
            result="故障已排除, 恢复供电",
            measures="加强线路巡视",
        )
        if not reopened:
            return


def inquiry_proc(sim: Sim, tk: Tk) -> Proc:
    """咨询 (mostly answered on the phone), 建议 and 举报 (studied or checked on site)."""
    intake(sim, tk)
    first_contact = {"inquiry": 0.78, "suggestion": 0.0, "report": 0.0}[tk.kind]
    if sim.rng.random() < first_contact:
        yield sim.mins(2, 12)
        sim.act(tk, "resolve_at_first_contact", sim.front(), answer="坐席当即答复, 客户无异议")
        return
    while True:
        accept = (0.1, 1.5) if tk.kind == "inquiry" else (0.2, 4)
        yield from dispatched_and_accepted(sim, tk, after=(5, 45), fix=(0.3, 2), accept=accept)
        if maybe_withdraw(sim, tk, 0.02):
            return
        if tk.kind != "inquiry":
            yield sim.office_hours(0.5, 8)
            work(sim, tk, "start_work", note="现场核查" if tk.kind == "report" else "研究办理")
        if tk.kind == "inquiry":
            late = sim.rng.random() < 0.10
            until = sim.office_days(1.0, 2.5) if late else sim.office_hours(0.3, 3)
        else:
            until = done_by(sim, late=0.12, late_days=(10.0, 15.0), usual_days=(1.0, 8.0))
        yield from slow_wait(sim, tk, until, urge=0.5, supervise=0.25)
        work(sim, tk, "reply", result="已办理并形成答复意见")
        chance = {"inquiry": 0.5, "suggestion": 0.6, "report": 0.45}[tk.kind]
        quick = tk.kind == "inquiry"
        if not (yield from answer_and_callback(sim, tk, callback=chance, quick=quick)):
            return


def billing_proc(sim: Sim, tk: Tk) -> Proc:
    """电费退补: the department checks the bill, proposes the adjustment, it is approved."""
    intake(sim, tk)
    while True:
        yield from dispatched_and_accepted(sim, tk, after=(5, 120), fix=(0.5, 6), accept=(0.3, 4))
        if maybe_withdraw(sim, tk, 0.02):
            return
        until = done_by(sim, late=0.13, late_days=(6.0, 10.0), usual_days=(0.5, 4.0))
        yield from slow_wait(sim, tk, until, urge=0.6, supervise=0.25)
        kwh = yield from adjust_bill(sim, tk, (20, 900), note="电费核算及账务班审核确认")
        yield sim.office_hours(0.5, 6)
        if not (yield from reply_and_answer(sim, tk, callback=0.9, result=f"已退补电量 {kwh} kWh")):
            return


def meter_proc(sim: Sim, tk: Tk) -> Proc:
    """计量争议: an on-site meter test; a meter out of tolerance is replaced, the bill adjusted."""
    intake(sim, tk)
    while True:
        yield from dispatched_and_accepted(sim, tk, after=(5, 120), fix=(0.5, 6), accept=(0.3, 4))
        if sim.rng.random() < 0.85:
            yield sim.office_hours(0.3, 3)
            sim.act(
                tk,
                "contact_customer",
                sim.handler(tk) | {"channel": Channel.HOTLINE},
                note="与客户约定现场校验时间",
            )
        yield sim.office_hours(1, 10)
        work(sim, tk, "schedule_test", note="现场校验")
        if sim.rng.random() < 0.2:
            yield from pause_for(sim, tk, "客户要求改约时间", 1, 3)
        until = done_by(sim, late=0.15, late_days=(5.0, 8.0), usual_days=(0.5, 4.0))
        yield from slow_wait(sim, tk, until, urge=0.5, supervise=0.25)
        error = (
            round(sim.rng.uniform(-1.8, 1.8), 2)
            if sim.rng.random() < 0.65
            else round(sim.rng.uniform(2.1, 9.5), 2)
        )
        verdict = "合格" if abs(error) <= 2 else "超差"
        work(sim, tk, "record_test", result=f"校验{verdict}, 误差 {error}%", error_percent=error)
        if verdict == "超差":
            yield sim.office_days(0.3, 2)
            yield from adjust_bill(sim, tk, (50, 600), note="换表并按误差退补电费")
        yield sim.office_hours(0.5, 8)
        if not (yield from reply_and_answer(sim, tk, callback=0.9, result=f"电能表校验{verdict}")):
            return


def connection_proc(sim: Sim, tk: Tk) -> Proc:
    """业扩报装: survey, supply plan, its approval, contract, meter, energising (HV slower)."""
    intake(sim, tk)
    hv = tk.voltage in ("10kV", "35kV")
    while True:
        yield from dispatched_and_accepted(sim, tk, after=(10, 60), fix=(0.5, 3), accept=(0.2, 2))
        if maybe_withdraw(sim, tk, 0.02):
            return
        scale = 3.0 if hv else 0.6
        yield sim.office_days(0.1 * scale, (0.5 if hv else 0.8) * scale)
        work(sim, tk, "record_survey", note="现场勘察完成")
        if sim.rng.random() < 0.25:
            yield from pause_for(sim, tk, "等待客户提供资料", 1, 5)
        for step, lo, hi in (
            ("draft_plan", 0.2, 1.0),
            ("approve_plan", 0.2, 1.2),
            ("sign_contract", 0.3, 1.3),
            ("install_meter", 0.3, 1.3),
            ("energize", 0.2, 1.1),
        ):
            until = sim.office_days(lo * scale, hi * scale * (2.2 if sim.rng.random() < 0.1 else 1))
            yield from slow_wait(sim, tk, until, urge=0.3, supervise=0.15)
            work(sim, tk, step)
        yield sim.office_hours(0.5, 6)
        if not (yield from reply_and_answer(sim, tk, callback=0.9, result="已送电, 业扩流程办结")):
            return


PROCESSES: dict[str, Callable[[Sim, Tk], Proc]] = {
    "complaint": complaint_proc,
    "fault_repair": fault_proc,
    "inquiry": inquiry_proc,
    "suggestion": inquiry_proc,
    "report": inquiry_proc,
    "billing_adjustment": billing_proc,
    "meter_dispute": meter_proc,
    "new_connection": connection_proc,
}
