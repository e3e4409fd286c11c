"""``casetrail demo``: a seeded month of 95598 hotline traffic, driven through the real desk.

The county power-supply company of the sources (REQUIREMENTS.md §4.1, [001§6]): five supply
stations, a customer service center (客户服务中心) answering 95598 day and night, a marketing
department, a metering center; on 2026-10-16 营销部 merges (合署) with 乡镇供电所管理部 and
客户服务中心 and four internal teams appear. October 2026 also has the National Day holiday
(1-7 Oct) and a make-up working Saturday (10 Oct), so business-time SLA clocks stand still for a
week and then run on a Saturday.

How it works
------------
* Customers are registered first (residential most, commercial and industrial some, a few
  group key accounts graded A/B/C with an account manager).
* Every ticket is a small *process* (a Python generator) that issues commands and then yields
  the simulated instant it wants to be woken at. A heap orders all wake-ups (and the SLA
  monitor's due instants) globally, so the recording clock handed to the desk never goes
  backwards; business time (``occurred_at``) may lag it when a phone call is logged later.
* Everything goes through ``Desk.handle``: no event is written by hand. The SLA monitor asks
  each open ticket for ``due_actions(now)`` at the exact instants its warnings, breaches and
  escalation steps fall due, and sends those commands as the system actor.
* The summary is computed by reading every event back from the store, so its figures are the
  store's truth, not the generator's intentions.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from config.bootstrap import build_desk
from config.settings import Settings
from domain import commands as c
from domain.base import Channel, Role
from domain.desk import Desk, Outcome
from domain.errors import DomainError, UnknownDepartment
from domain.ticket import COMMON, Ticket

# --------------------------------------------------------------------------- traffic shape

KIND_SHARES: dict[str, float] = {
    "fault_repair": 0.35,
    "inquiry": 0.25,
    "complaint": 0.12,
    "billing_adjustment": 0.08,
    "new_connection": 0.07,
    "meter_dispute": 0.05,
    "suggestion": 0.04,
    "report": 0.04,
}
KIND_ZH = {
    "fault_repair": "故障报修",
    "inquiry": "咨询",
    "complaint": "投诉",
    "billing_adjustment": "电费退补",
    "new_connection": "业扩报装",
    "meter_dispute": "计量争议",
    "suggestion": "建议",
    "report": "举报",
}
# Calls per hour of the day (local time): office-hours peaks for most kinds ...
HOURLY = [
    0.2,
    0.1,
    0.1,
    0.1,
    0.1,
    0.2,
    0.5,
    1.2,
    2.5,
    3.2,
    3.3,
    3.0,
    2.2,
    2.5,
    3.0,
    3.0,
    2.8,
    2.4,
    2.0,
    1.8,
    1.5,
    1.0,
    0.6,
    0.3,
]
# ... and a flatter curve with an evening peak for outages (cooking, air conditioning).
HOURLY_FAULT = [
    0.6,
    0.4,
    0.3,
    0.3,
    0.3,
    0.4,
    0.7,
    1.0,
    1.2,
    1.3,
    1.4,
    1.5,
    1.5,
    1.4,
    1.4,
    1.5,
    1.6,
    1.9,
    2.2,
    2.3,
    2.1,
    1.7,
    1.2,
    0.8,
]
CHANNELS = [
    (Channel.HOTLINE, 0.70),
    (Channel.ONLINE, 0.12),
    (Channel.APP, 0.12),
    (Channel.SERVICE_HALL, 0.06),
]

# Categories (Chinese, as agents type them) with a few realistic contents each.
CATEGORIES: dict[str, dict[str, list[str]]] = {
    "fault_repair": {
        "停电": [
            "{addr}家中突然停电,邻居家也没电,请尽快派人抢修",
            "{addr}整片停电,已超过半小时,家中有老人,请尽快处理",
            "{addr}小区停电,电梯停运,有人被困请尽快恢复",
        ],
        "电压低": [
            "{addr}晚上电压低,灯光闪烁,空调无法启动",
            "{addr}电压不稳,冰箱频繁停机,怀疑线路问题",
        ],
        "线路故障": [
            "{addr}门前电线被风刮断垂落在地,存在安全隐患",
            "{addr}变压器有异响并冒烟,请立即处理",
        ],
        "表箱故障": [
            "{addr}表箱内有烧焦味,进户线发热",
            "{addr}表后开关跳闸无法合上,户内无电",
        ],
    },
    "inquiry": {
        "电费查询": ["咨询本月电费金额及缴费截止日期", "查询上月电费明细及阶梯电量使用情况"],
        "停电计划查询": ["咨询{addr}近期是否有计划停电", "询问明天{addr}检修停电的具体时间"],
        "缴费方式咨询": ["咨询网上国网APP缴费和自动代扣的办理方法", "询问欠费停电后复电流程"],
        "电价政策咨询": ["咨询居民阶梯电价和峰谷分时电价政策", "咨询电动汽车充电桩执行何种电价"],
        "业务办理咨询": ["咨询过户、更名需要准备哪些资料", "咨询光伏并网申请流程和所需材料"],
    },
    "complaint": {
        "服务态度": [
            "营业厅工作人员态度生硬,不耐烦解答问题,要求道歉",
            "抢修人员到场后态度恶劣,不听客户说明情况",
        ],
        "业扩进度慢": [
            "新装申请已提交多日无人联系,要求说明进度",
            "增容申请一再拖延,影响企业正常投产",
        ],
        "频繁停电": [
            "{addr}本月已停电四次,严重影响生活,要求彻底整改",
            "{addr}频繁停电造成家电损坏,要求给出说法",
        ],
        "电费争议": ["本月电费比往月高出一倍,多次反映无人处理", "抄表员估抄导致电费异常,要求核实"],
        "抢修不及时": ["报修后超过两小时抢修人员仍未到场", "故障报修后一直无人联系,要求追责"],
    },
    "billing_adjustment": {
        "电费异常": [
            "本月电费突增,家中用电无明显变化,申请核查退补",
            "电费计算有误,申请退还多收电费",
        ],
        "抄表错误": [
            "抄表示数与电表实际示数不符,申请更正并退补",
            "连续两月估抄,申请按实际示数结算",
        ],
        "电价执行错误": [
            "商铺被错误执行大工业电价,申请退补差价",
            "居民合表用户电价执行错误,申请更正",
        ],
    },
    "meter_dispute": {
        "表计走快": ["怀疑电表走快,申请校验电能表", "家中无人居住电表仍在走字,申请检定"],
        "表计故障": ["电表显示屏黑屏无读数,申请更换", "智能表频繁报警,怀疑计量失准"],
    },
    "new_connection": {
        "低压居民新装": ["新建住宅申请低压居民用电新装", "自建房申请一户一表新装"],
        "低压非居民新装": ["新开门店申请低压非居民用电", "农业灌溉泵站申请低压用电"],
        "增容": ["企业扩大生产,申请变压器增容", "商场新增空调负荷,申请增加用电容量"],
        "高压新装": ["新建厂区申请10千伏高压供电", "工业园区项目申请双电源供电方案"],
    },
    "suggestion": {
        "服务建议": ["建议营业厅延长周末营业时间", "建议计划停电提前通过短信通知到户"],
        "缴费渠道建议": ["建议在乡镇增设自助缴费终端", "建议支持更多银行代扣电费"],
        "电网改造建议": ["建议对{addr}老旧线路进行改造", "建议{addr}增设变压器解决低电压问题"],
    },
    "report": {
        "窃电举报": ["举报{addr}有人私拉乱接电线窃电", "举报{addr}某厂疑似绕越电表用电"],
        "违约用电举报": ["举报{addr}居民电价用于经营生产", "举报{addr}私自增加用电容量"],
        "工作人员违规举报": ["举报抄表人员收取好处费", "举报施工人员违规收取客户费用"],
    },
}
FAULT_CAUSES = [
    "大风导致树枝搭线",
    "雷击造成跌落式熔断器熔断",
    "低压线路老化断线",
    "配变过载跳闸",
    "表箱进线接头烧损",
    "用户内部短路引起开关跳闸",
    "外力破坏电缆",
]
TOWNS = {
    "station_1": ("urban", ["城关街道", "东城街道"]),
    "station_2": ("urban", ["西城街道", "桥头镇"]),
    "station_3": ("rural", ["柳河镇", "白沙乡"]),
    "station_4": ("rural", ["石门乡", "河口乡"]),
    "station_5": ("remote", ["青山乡", "云岭乡"]),
}
ROADS = [
    "幸福路",
    "人民路",
    "解放路",
    "建设路",
    "新华街",
    "和平路",
    "朝阳路",
    "文化路",
    "工业路",
    "滨河路",
]
VILLAGES = ["李家村", "王庄村", "河西村", "后山村", "红星村", "新农村", "杨树湾村", "石桥村"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏"  # noqa: E501
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "建国",
    "建华",
    "国强",
    "志强",
    "玉兰",
    "海燕",
    "春梅",
    "德胜",
    "文博",
    "晓东",
    "红梅",
    "永福",
    "金凤",
    "长青",
]
SHOPS = ["超市", "饭店", "宾馆", "药店", "加油站", "农家乐", "五金店", "幼儿园", "诊所"]
PLANTS = ["水泥厂", "钢构厂", "造纸厂", "陶瓷厂", "食品厂", "纺织厂", "砖厂", "饲料厂"]
GROUPS = [
    ("华源集团", "A", "年用电量 1,200万kWh, 利润贡献 12%, 三年内战略合作伙伴"),
    ("宏达实业集团", "A", "年购电金额 980万元, 利润贡献 11%"),
    ("县城投集团", "B", "年用电量 640万kWh, 发展潜力大(园区扩建)"),
    ("新能矿业集团", "B", "年购电金额 420万元, 利润贡献 6%"),
    ("恒信医药集团", "C", "年购电金额 150万元, 重要客户(医疗保障)"),
    ("天成建设集团", "C", "年购电金额 120万元, 发展潜力中等"),
]
MANAGERS = ["李明", "周静", "陈建华", "王海燕", "赵志强", "孙晓东"]
CREWS = ["抢修一班", "抢修二班", "配电运维班", "农网抢修队"]

SYSTEM_ACTOR: dict[str, Any] = {
    "actor_id": "sla-clock",
    "role": Role.SYSTEM,
    "department": "system",
    "channel": Channel.SYSTEM,
}
TERMINAL = {"closed", "resolved_at_front", "rejected", "withdrawn"}
TRANSFERABLE = {"dispatched", "accepted", "in_progress"}
# Steps in which a department holds the work but the domain allows no transfer.
HANDOVER_STATES = {s.value for s in COMMON["hand_over"][0]}
HANDOVER = "机构调整"
# Events after which the ticket's next SLA due instant may have moved.
SLA_EVENTS = {
    "SlaPolicyBound",
    "SlaPolicyRebound",
    "SlaClockStarted",
    "SlaTargetMet",
    "SlaClockCancelled",
    "ClockPaused",
    "ClockResumed",
    "SlaWarningRaised",
    "SlaBreached",
    "Escalated",
    "TicketReopened",
}
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
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


class Abort(Exception):
    """A command was refused by the domain; the ticket's process stops there."""


# --------------------------------------------------------------------------- population


@dataclass
class Cust:
    id: UUID
    name: str
    customer_type: str
    area: str
    station: str
    voltage: str
    address: str
    phone: str
    grade: str = "none"
    weight: float = 1.0


@dataclass(eq=False)
class Tk:
    """The generator's own view of one ticket (what it sent and what the desk answered)."""

    no: int
    kind: str
    arrival: datetime
    cust: Cust | None
    category: str
    content: str
    channel: Channel
    priority: str
    area: str
    station: str
    voltage: str
    storm: bool = False
    new_applicant: str | None = None
    id: UUID | None = None
    number: str = ""
    state: str = "new"
    dept: str = ""
    received_at: datetime | None = None
    last_at: datetime | None = None
    supervised: bool = False
    paused: bool = False
    breached: bool = False
    transferred: bool = False
    cycle: int = 1
    seq: int = 0
    sla_gen: int = 0
    proc: Generator[datetime, None, None] | None = None
    failed: bool = False


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


# --------------------------------------------------------------------------- the store


def _store_events(desk: Desk) -> int:
    return int(desk.recorder.max_notification_id() or 0)


def prepare_store(console: Console, settings: Settings, *, reset: bool, clock: Any) -> Desk:
    """Open the configured store, resetting it only where that is safe; refuse otherwise."""
    if settings.backend == "sqlite":
        path = settings.sqlite_path
        if reset and str(path) != ":memory:":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            console.print(f"[yellow]reset:[/yellow] deleted the SQLite store {path}")
        desk = build_desk(settings, clock=clock)
        found = _store_events(desk)
        if found:
            desk.close()
            console.print(
                f"[red]refused:[/red] the store {path} already holds {found:,} events. "
                "Run `casetrail demo --reset` to delete it and start again."
            )
            raise typer.Exit(code=1)
        return desk
    desk = build_desk(settings, clock=clock)
    found = _store_events(desk)
    if found:
        desk.close()
        if reset:
            console.print(
                f"[red]refused:[/red] the PostgreSQL store holds {found:,} events; the demo never "
                "deletes data from a PostgreSQL database. Point CASETRAIL_DATABASE_URL at an "
                "empty database."
            )
        else:
            console.print(
                f"[red]refused:[/red] the PostgreSQL store already holds {found:,} events; the "
                "demo needs an empty database (CASETRAIL_DATABASE_URL)."
            )
        raise typer.Exit(code=1)
    return desk


# --------------------------------------------------------------------------- simulation


def _pick(rng: random.Random, pairs: Iterable[tuple[Any, float]]) -> Any:
    items = list(pairs)
    return rng.choices([i for i, _ in items], weights=[w for _, w in items], k=1)[0]


class Sim:
    """The simulated month: heap of wake-ups, recording clock, the desk and its counters."""

    def __init__(
        self, desk: Desk, rng: random.Random, tz: ZoneInfo, start: datetime, end: datetime, tag: str
    ) -> None:
        self.desk = desk
        self.rng = rng
        self.tz = tz
        self.start = start
        self.end = end
        self.tag = tag
        self.now = start
        self.heap: list[tuple[datetime, int, str, Any, int]] = []
        self.seq = itertools.count()
        self.open: set[Tk] = set()
        self.commands = 0
        self.errors: list[str] = []
        self.directory = desk.directory
        self.office = desk.catalogue.calendar("cn-office")
        self.hotline_day = desk.catalogue.calendar("cn-hotline-day")
        self.customers: list[Cust] = []

    # -- clock and scheduling ----------------------------------------------------------

    def clock(self) -> datetime:
        return self.now.astimezone(UTC)

    def push(self, at: datetime, what: str, obj: Any = None, gen: int = 0) -> None:
        heapq.heappush(self.heap, (max(at, self.now), next(self.seq), what, obj, gen))

    def mins(self, lo: float, hi: float) -> datetime:
        return self.now + timedelta(seconds=int(self.rng.uniform(lo, hi) * 60))

    def office_hours(self, lo: float, hi: float) -> datetime:
        return self.office.add(self.now, int(self.rng.uniform(lo, hi) * 3600))

    def office_days(self, lo: float, hi: float) -> datetime:
        day = self.office.standard_day_seconds
        return self.office.add(self.now, int(self.rng.uniform(lo, hi) * day))

    def hotline_hours(self, lo: float, hi: float) -> datetime:
        return self.hotline_day.add(self.now, int(self.rng.uniform(lo, hi) * 3600))

    def local(self, at: datetime | None = None) -> datetime:
        return (at or self.now).astimezone(self.tz)

    # -- who acts --------------------------------------------------------------------------

    def front(self, channel: Channel = Channel.HOTLINE) -> dict[str, Any]:
        dept = self.directory.front_office(self.now)
        return {
            "actor_id": f"95598-kf{self.rng.randint(1, 24):02d}",
            "role": Role.AGENT,
            "department": dept,
            "channel": channel,
        }

    def live_dept(self, dept: str) -> str:
        """The department acting for ``dept`` now (its heir if it was merged away)."""
        if self.directory.exists(dept, self.now):
            return dept
        try:
            return self.directory.successor(dept, self.now)
        except UnknownDepartment:
            return self.directory.front_office(self.now)

    def handler(self, tk: Tk) -> dict[str, Any]:
        dept = self.live_dept(tk.dept)
        return {
            "actor_id": f"{dept}/op{self.rng.randint(1, 6)}",
            "role": Role.AGENT,
            "department": dept,
            "channel": Channel.SYSTEM,
        }

    def supervisor(self) -> dict[str, Any]:
        dept = "marketing" if self.directory.exists("marketing", self.now) else "marketing_service"
        return {
            "actor_id": f"{dept}/supervisor",
            "role": Role.SUPERVISOR,
            "department": dept,
            "channel": Channel.SYSTEM,
        }

    def owner(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def route(self, tk: Tk) -> str:
        return self.directory.route(
            tk.kind, voltage=tk.voltage, station=tk.station, at=self.now, category=tk.category
        )

    # -- sending commands --------------------------------------------------------------

    def handle(self, cmd: c.Command) -> Outcome:
        self.commands += 1
        try:
            return self.desk.handle(cmd)
        except DomainError as error:
            self.errors.append(f"{type(cmd).__name__}: {error.message}")
            raise Abort(error.message) from error

    def cid(self, tk: Tk, what: str) -> str:
        tk.seq += 1
        return f"{self.tag}-{tk.no}-{tk.seq}-{what}"

    def lag(self, tk: Tk, chance: float = 0.06) -> datetime | None:
        """Sometimes a phone call is logged 5-30 minutes after it happened."""
        if self.rng.random() >= chance:
            return None
        room = (self.now - tk.last_at).total_seconds() / 60 if tk.last_at else 30.0
        if room < 5:
            return None
        return self.now - timedelta(minutes=self.rng.uniform(5, min(30.0, room)))

    def after(self, tk: Tk, out: Outcome, *, refresh: bool = True) -> None:
        tk.state = out.state
        tk.last_at = self.now
        names = set(out.events)
        if "SupervisionOpened" in names:
            tk.supervised = True
        if "ClockPaused" in names:
            tk.paused = True
        if "ClockResumed" in names:
            tk.paused = False
        if "SlaBreached" in names:
            tk.breached = True
        if tk.state in TERMINAL:
            self.open.discard(tk)
        elif refresh and names & SLA_EVENTS:
            self.refresh(tk)

    def act(
        self,
        tk: Tk,
        action: str,
        who: dict[str, Any],
        occurred: datetime | None = None,
        **fields: Any,
    ) -> Outcome:
        assert tk.id is not None
        payload = {**who, "ticket_id": tk.id, "command_id": self.cid(tk, action), **fields}
        if occurred is not None:
            payload["occurred_at"] = occurred
        out = self.handle(c.parse_action(action, payload))
        if action in ("dispatch", "transfer", "hand_over"):
            tk.dept = fields.get("to_department") or tk.dept
        if action == "transfer":
            tk.transferred = True
        self.after(tk, out)
        return out

    def work(self, tk: Tk, action: str, **fields: Any) -> Outcome:
        """A back-office step by the department holding the order (accepting it first if a
        reorganisation handed it over meanwhile)."""
        if tk.state == "dispatched" and action not in ("accept", "dispatch_crew", "transfer"):
            self.act(tk, "accept", self.handler(tk), owner=self.owner())
        if "owner" in c.TICKET_ACTIONS[action].model_fields and "owner" not in fields:
            fields["owner"] = self.owner()
        return self.act(tk, action, self.handler(tk), **fields)

    def peek(self, tk: Tk) -> Ticket:
        """The ticket as the desk has it now, for reading only.

        Same aggregate as ``desk.ticket(id)`` (the repository's cache, fast-forwarded from the
        store) but without the defensive deep copy the desk makes before a command mutates it:
        ``legal_actions()`` and ``due_actions()`` only read, and the copy was the largest cost.
        """
        assert tk.id is not None
        ticket: Any = self.desk.repository.get(tk.id, deepcopy_from_cache=False)
        assert isinstance(ticket, Ticket)
        return ticket

    def legal(self, tk: Tk, action: str) -> bool:
        return action in self.peek(tk).legal_actions()

    # -- SLA monitor ----------------------------------------------------------------------

    def refresh(self, tk: Tk) -> None:
        """Schedule the monitor at this ticket's next due SLA instant (if any)."""
        assert tk.id is not None
        tk.sla_gen += 1
        due = self.peek(tk).due_actions(FAR_FUTURE)
        if due:
            self.push(due[0]["at"], "sla", tk, tk.sla_gen)

    def sweep(self, tk: Tk) -> None:
        assert tk.id is not None
        for item in self.peek(tk).due_actions(self.now):
            extra: dict[str, Any] = {k: item[k] for k in ("threshold", "level") if k in item}
            step = extra.get("threshold", extra.get("level"))
            payload = {
                **SYSTEM_ACTOR,
                "ticket_id": tk.id,
                "milestone": item["milestone"],
                "cycle": item["cycle"],
                "command_id": f"{self.tag}-{tk.no}-sla-{item['milestone']}-{item['cycle']}-"
                f"{item['action']}-{step}",
                **extra,
            }
            out = self.handle(c.parse_action(item["action"], payload))
            self.after(tk, out, refresh=False)
        self.refresh(tk)

    # -- reorganisation -------------------------------------------------------------------

    def handover(self) -> None:
        """合署 day: open work orders held by departments that no longer exist are handed over
        to the unit the routing table names now, whatever step they are in (same ticket, same
        step, same deadlines: 一口对外; an organisational handover is not a transfer)."""
        for tk in sorted(self.open, key=lambda t: t.no):
            if not tk.dept or self.directory.exists(tk.dept, self.now):
                continue
            # The ticket's own state, not the generator's note of it: a callback verdict may
            # have closed or reopened it since.
            if self.peek(tk).state.value not in HANDOVER_STATES:
                continue
            target = self.route(tk)
            if target == tk.dept:
                continue
            try:
                self.act(
                    tk,
                    "hand_over",
                    self.front(Channel.SYSTEM),
                    to_department=target,
                    reason=f"{HANDOVER}(营销部合署): {tk.dept} 撤并, 在途工单移交 {target}",
                )
            except Abort:
                tk.failed = True


# --------------------------------------------------------------------------- ticket processes

Proc = Generator[datetime, None, Any]


def _addr(sim: Sim, tk: Tk) -> str:
    if tk.cust is not None:
        return tk.cust.address.split("号")[0] + "号"
    return TOWNS[tk.station][1][0]


def intake(sim: Sim, tk: Tk) -> None:
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


def dispatch(sim: Sim, tk: Tk, wrong_chance: float = 0.10) -> str | None:
    """派发. Sometimes to the wrong department (returns it), else by the routing table."""
    correct = sim.route(tk)
    wrong = _wrong_department(sim, tk, correct) if sim.rng.random() < wrong_chance else None
    who = sim.front(Channel.SYSTEM)
    if wrong is not None:
        sim.act(tk, "dispatch", who, to_department=wrong, owner=sim.owner(), note="派发")
    else:
        sim.act(tk, "dispatch", who, owner=sim.owner(), note="按派单规则派发")
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
        owner=sim.owner(),
        reason=f"非本部门职责, 派发错误, 转{correct}",
    )


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


def answer_and_callback(
    sim: Sim, tk: Tk, *, callback: float, repair: bool = False, quick: bool = False
) -> Proc:
    """答复客户, then 回访 (most) or close.

    Returns True when a dissatisfied callback reopened the ticket (a new SLA cycle)."""
    if repair:
        yield sim.mins(5, 60)
    elif quick:
        late = sim.rng.random() < 0.08
        yield sim.office_days(1.0, 2.0) if late else sim.office_hours(0.1, 1.5)
    elif sim.rng.random() < 0.12:
        yield sim.office_days(1.0, 4.0)  # the answer to the customer is late
    else:
        yield sim.office_hours(0.2, 5.0)
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
    # Attempts until the customer is reached (or three failures: unreachable, the desk closes).
    failures = _pick(sim.rng, [(0, 0.74), (1, 0.13), (2, 0.07), (3, 0.06)])
    yield sim.hotline_hours(0.5, 8.0)
    for _ in range(failures):
        outcome = _pick(
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
    if failures >= 3:  # the third failure made it unreachable and closed the ticket
        tk.state = "closed"
        sim.open.discard(tk)
        return False
    unhappy = 0.035 + 0.08 * tk.breached + 0.05 * tk.transferred + 0.03 * (tk.kind == "complaint")
    if tk.cycle > 1:
        unhappy *= 0.6
    satisfied = sim.rng.random() >= unhappy
    score = (
        _pick(sim.rng, [(5, 0.7), (4, 0.3)])
        if satisfied
        else _pick(sim.rng, [(1, 0.3), (2, 0.4), (3, 0.3)])
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


def complaint_proc(sim: Sim, tk: Tk) -> Proc:
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
        yield sim.mins(5, 120)
        wrong = dispatch(sim, tk)
        if wrong:
            yield sim.office_hours(0.5, 6)
            fix_routing(sim, tk)
        yield sim.office_hours(0.2, 2)
        if tk.state == "dispatched":
            sim.work(tk, "accept")
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
        sim.work(tk, "record_cause", cause="现场核查确认问题属实", solution="整改并向客户致歉")
        late = sim.rng.random() < 0.12
        until = sim.office_days(3.5, 8.0) if late else sim.office_days(0.2, 2.5)
        yield from slow_wait(sim, tk, until, urge=0.6, supervise=0.3)
        sim.work(tk, "reply", result="已核实并整改", measures="加强人员培训, 纳入考核")
        if not (yield from answer_and_callback(sim, tk, callback=0.92)):
            return


def fault_proc(sim: Sim, tk: Tk) -> Proc:
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
            sim.work(tk, "accept")
        yield sim.mins(1, 10)
        # The crew promises an arrival inside the commitment counted from the call.
        assert tk.received_at is not None
        promise = max(
            sim.now + timedelta(minutes=10),
            tk.received_at + timedelta(minutes=target * sim.rng.uniform(0.6, 0.95)),
        )
        crew = sim.rng.choice(CREWS)
        sim.work(tk, "dispatch_crew", crew=crew, promised_arrival_at=promise)
        late = sim.rng.random() < (0.35 if tk.storm else 0.14)
        if late:
            if sim.rng.random() < 0.7:
                yield promise + timedelta(minutes=sim.rng.uniform(2, 10))
                sim.act(tk, "urge", sim.front(), note="客户来电催促: 抢修人员超过承诺时间未到")
            yield max(sim.now, promise) + timedelta(minutes=sim.rng.uniform(5, 70))
        else:
            yield sim.now + (promise - sim.now) * sim.rng.uniform(0.4, 1.0)
        sim.work(tk, "record_arrival", crew=crew)
        span = (40, 300) if tk.storm else (15, 150)
        yield sim.mins(*span)
        sim.work(tk, "record_restoration", crew=crew, cause=sim.rng.choice(FAULT_CAUSES))
        yield sim.mins(3, 40)
        sim.work(tk, "reply", result="故障已排除, 恢复供电", measures="加强线路巡视")
        if not (yield from answer_and_callback(sim, tk, callback=0.85, repair=True)):
            return


def inquiry_proc(sim: Sim, tk: Tk) -> Proc:
    intake(sim, tk)
    first_contact = {"inquiry": 0.78, "suggestion": 0.0, "report": 0.0}[tk.kind]
    if sim.rng.random() < first_contact:
        yield sim.mins(2, 12)
        sim.act(tk, "resolve_at_first_contact", sim.front(), answer="坐席当即答复, 客户无异议")
        return
    while True:
        yield sim.mins(5, 45)
        wrong = dispatch(sim, tk)
        if wrong:
            yield sim.office_hours(0.3, 2)
            fix_routing(sim, tk)
        yield sim.office_hours(0.1, 1.5) if tk.kind == "inquiry" else sim.office_hours(0.2, 4)
        if tk.state == "dispatched":
            sim.work(tk, "accept")
        if maybe_withdraw(sim, tk, 0.02):
            return
        if tk.kind != "inquiry":
            yield sim.office_hours(0.5, 8)
            sim.work(tk, "start_work", note="现场核查" if tk.kind == "report" else "研究办理")
        if tk.kind == "inquiry":
            late = sim.rng.random() < 0.10
            until = sim.office_days(1.0, 2.5) if late else sim.office_hours(0.3, 3)
        else:
            late = sim.rng.random() < 0.12
            until = sim.office_days(10.0, 15.0) if late else sim.office_days(1.0, 8.0)
        yield from slow_wait(sim, tk, until, urge=0.5, supervise=0.25)
        sim.work(tk, "reply", result="已办理并形成答复意见")
        chance = {"inquiry": 0.5, "suggestion": 0.6, "report": 0.45}[tk.kind]
        quick = tk.kind == "inquiry"
        if not (yield from answer_and_callback(sim, tk, callback=chance, quick=quick)):
            return


def billing_proc(sim: Sim, tk: Tk) -> Proc:
    intake(sim, tk)
    while True:
        yield sim.mins(5, 120)
        wrong = dispatch(sim, tk)
        if wrong:
            yield sim.office_hours(0.5, 6)
            fix_routing(sim, tk)
        yield sim.office_hours(0.3, 4)
        if tk.state == "dispatched":
            sim.work(tk, "accept")
        if maybe_withdraw(sim, tk, 0.02):
            return
        late = sim.rng.random() < 0.13
        until = sim.office_days(6.0, 10.0) if late else sim.office_days(0.5, 4.0)
        yield from slow_wait(sim, tk, until, urge=0.6, supervise=0.25)
        kwh = round(sim.rng.uniform(20, 900), 1)
        sim.work(tk, "propose_adjustment", kwh=kwh, amount_yuan=round(kwh * 0.5883, 2))
        yield sim.office_days(0.2, 1.5)
        sim.work(tk, "approve_adjustment", note="电费核算及账务班审核确认")
        yield sim.office_hours(0.5, 6)
        sim.work(tk, "reply", result=f"已退补电量 {kwh} kWh")
        if not (yield from answer_and_callback(sim, tk, callback=0.9)):
            return


def meter_proc(sim: Sim, tk: Tk) -> Proc:
    intake(sim, tk)
    while True:
        yield sim.mins(5, 120)
        wrong = dispatch(sim, tk)
        if wrong:
            yield sim.office_hours(0.5, 6)
            fix_routing(sim, tk)
        yield sim.office_hours(0.3, 4)
        if tk.state == "dispatched":
            sim.work(tk, "accept")
        if sim.rng.random() < 0.85:
            yield sim.office_hours(0.3, 3)
            sim.act(
                tk,
                "contact_customer",
                sim.handler(tk) | {"channel": Channel.HOTLINE},
                note="与客户约定现场校验时间",
            )
        yield sim.office_hours(1, 10)
        sim.work(tk, "schedule_test", note="现场校验")
        if sim.rng.random() < 0.2:
            yield from pause_for(sim, tk, "客户要求改约时间", 1, 3)
        late = sim.rng.random() < 0.15
        until = sim.office_days(5.0, 8.0) if late else sim.office_days(0.5, 4.0)
        yield from slow_wait(sim, tk, until, urge=0.5, supervise=0.25)
        error = (
            round(sim.rng.uniform(-1.8, 1.8), 2)
            if sim.rng.random() < 0.65
            else round(sim.rng.uniform(2.1, 9.5), 2)
        )
        verdict = "合格" if abs(error) <= 2 else "超差"
        sim.work(tk, "record_test", result=f"校验{verdict}, 误差 {error}%", error_percent=error)
        if verdict == "超差":
            yield sim.office_days(0.3, 2)
            kwh = round(sim.rng.uniform(50, 600), 1)
            sim.work(tk, "propose_adjustment", kwh=kwh, amount_yuan=round(kwh * 0.5883, 2))
            yield sim.office_days(0.2, 1.5)
            sim.work(tk, "approve_adjustment", note="换表并按误差退补电费")
        yield sim.office_hours(0.5, 8)
        sim.work(tk, "reply", result=f"电能表校验{verdict}")
        if not (yield from answer_and_callback(sim, tk, callback=0.9)):
            return


def connection_proc(sim: Sim, tk: Tk) -> Proc:
    intake(sim, tk)
    hv = tk.voltage in ("10kV", "35kV")
    while True:
        yield sim.mins(10, 60)
        wrong = dispatch(sim, tk)
        if wrong:
            yield sim.office_hours(0.5, 3)
            fix_routing(sim, tk)
        yield sim.office_hours(0.2, 2)
        if tk.state == "dispatched":
            sim.work(tk, "accept")
        if maybe_withdraw(sim, tk, 0.02):
            return
        scale = 3.0 if hv else 0.6
        yield sim.office_days(0.1 * scale, (0.5 if hv else 0.8) * scale)
        sim.work(tk, "record_survey", note="现场勘察完成")
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
            sim.work(tk, step)
        yield sim.office_hours(0.5, 6)
        sim.work(tk, "reply", result="已送电, 业扩流程办结")
        if not (yield from answer_and_callback(sim, tk, callback=0.9)):
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


# --------------------------------------------------------------------------- population and traffic


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"


def register_customers(sim: Sim, count: int) -> None:
    """~400 customers: residential most, commercial/industrial some, a few graded group accounts."""
    rng = sim.rng
    day = sim.start - timedelta(days=1)
    at = day.astimezone(sim.tz).replace(hour=9, minute=0, second=0, microsecond=0)
    step = timedelta(seconds=max(20, int(8 * 3600 / max(count, 1))))
    agent = "营业厅建档"
    groups = GROUPS[: max(2, min(len(GROUPS), count // 60))]
    n = 0

    def register(
        name: str, ctype: str, station: str, voltage: str, address: str, group_id: str | None = None
    ) -> Cust:
        nonlocal at, n
        sim.now = at
        at += step
        n += 1
        area = TOWNS[station][0]
        phone = _phone(rng)
        out = sim.handle(
            c.RegisterCustomer(
                actor_id=agent,
                role=Role.AGENT,
                department=sim.directory.front_office(sim.now),
                channel=Channel.SERVICE_HALL,
                name=name,
                customer_type=ctype,
                area=area,
                voltage=voltage,
                station=station,
                phone=phone,
                address=address,
                group_id=group_id,
                command_id=f"{sim.tag}-customer-{n}",
            )
        )
        weight = {"residential": 1.0, "commercial": 2.0, "industrial": 3.0, "group": 4.0}[ctype]
        cust = Cust(out.id, name, ctype, area, station, voltage, address, phone, weight=weight)
        sim.customers.append(cust)
        return cust

    def grade(cust: Cust, grade: str, basis: str, manager: str) -> None:
        sim.now = at
        who = {"actor_id": "key-account-office", "role": Role.SUPERVISOR, "department": "marketing"}
        sim.handle(
            c.AssignGrade(
                **who,
                customer_id=cust.id,
                grade=grade,
                key_account=True,
                basis=basis,
                command_id=f"{sim.tag}-grade-{cust.id}",
            )
        )
        sim.handle(
            c.AssignAccountManager(
                **who,
                customer_id=cust.id,
                manager=manager,
                command_id=f"{sim.tag}-manager-{cust.id}",
            )
        )
        cust.grade = grade

    stations = list(TOWNS)
    for gi, (gname, g, basis) in enumerate(groups):
        station = stations[gi % len(stations)]
        town = TOWNS[station][1][0]
        hq = register(
            gname,
            "group",
            station,
            "35kV" if g == "A" else "10kV",
            f"{town}{rng.choice(ROADS)}{rng.randint(1, 200)}号",
        )
        grade(hq, g, basis, MANAGERS[gi % len(MANAGERS)])
        for _ in range(2):
            sub_station = rng.choice(stations)
            sub_town = rng.choice(TOWNS[sub_station][1])
            sub = register(
                f"{gname}{sub_town}{rng.choice(PLANTS)}",
                "industrial",
                sub_station,
                "10kV",
                f"{sub_town}工业园{rng.randint(1, 40)}号",
                group_id=str(hq.id),
            )
            grade(sub, g, f"{basis}; 集团成员单位", MANAGERS[gi % len(MANAGERS)])
    while n < count:
        station = _pick(
            rng,
            [
                ("station_1", 0.28),
                ("station_2", 0.24),
                ("station_3", 0.2),
                ("station_4", 0.18),
                ("station_5", 0.10),
            ],
        )
        area, towns = TOWNS[station]
        town = rng.choice(towns)
        ctype = _pick(rng, [("residential", 0.80), ("commercial", 0.13), ("industrial", 0.07)])
        if area == "urban":
            address = f"{town}{rng.choice(ROADS)}{rng.randint(1, 300)}号"
        else:
            address = f"{town}{rng.choice(VILLAGES)}{rng.randint(1, 120)}号"
        if ctype == "residential":
            register(
                rng.choice(SURNAMES) + rng.choice(GIVEN), ctype, station, "lv_residential", address
            )
        elif ctype == "commercial":
            voltage = "10kV" if rng.random() < 0.15 else "lv"
            register(
                f"{town}{rng.choice(SURNAMES)}记{rng.choice(SHOPS)}",
                ctype,
                station,
                voltage,
                address,
            )
        else:
            voltage = _pick(rng, [("10kV", 0.7), ("35kV", 0.1), ("lv", 0.2)])
            cust = register(f"{town}{rng.choice(PLANTS)}有限公司", ctype, station, voltage, address)
            if voltage != "lv" and rng.random() < 0.25:
                grade(
                    cust,
                    rng.choice("BC"),
                    f"年用电量 {rng.randint(80, 400)}万kWh, 用电稳定",
                    rng.choice(MANAGERS),
                )


def plan_traffic(sim: Sim, tickets: int) -> list[Tk]:
    """Arrivals over the month: daily and hourly shape, outages clustered on stormy days."""
    rng = sim.rng
    days = (sim.end - sim.start).days
    first = sim.start.astimezone(sim.tz)
    dates = [first + timedelta(days=d) for d in range(days)]
    storm_days = set(rng.sample(range(days), k=min(3, days)))
    storms = {
        d: (rng.randint(13, 20), rng.sample(list(TOWNS), k=2)) for d in storm_days
    }  # start hour, stations hit

    def day_weight(d: int, fault: bool) -> float:
        date = dates[d]
        weight = 1.0
        if date.weekday() >= 5:
            weight = 0.8
        if not sim.office.is_working(date.replace(hour=10)) and date.weekday() < 5:
            weight = 0.7  # public holiday
        if sim.office.is_working(date.replace(hour=10)) and date.weekday() >= 5:
            weight = 0.95  # make-up working day
        if fault and d in storm_days:
            weight *= 6.0
        return weight

    kinds = list(KIND_SHARES)
    plan: list[Tk] = []
    residential = [x for x in sim.customers if x.customer_type == "residential"]
    business = [x for x in sim.customers if x.customer_type != "residential"]
    everyone = sim.customers
    weights = [x.weight for x in everyone]
    for no in range(tickets):
        kind = rng.choices(kinds, weights=[KIND_SHARES[k] for k in kinds])[0]
        fault = kind == "fault_repair"
        d = rng.choices(range(days), weights=[day_weight(i, fault) for i in range(days)])[0]
        storm = fault and d in storm_days and rng.random() < 0.8
        if storm:
            begin, hit = storms[d]
            hour = min(23, begin + int(rng.expovariate(0.6)))
            pool = [x for x in everyone if x.station in hit] or everyone
            cust: Cust | None = rng.choice(pool)
        else:
            hour = rng.choices(range(24), weights=HOURLY_FAULT if fault else HOURLY)[0]
            cust = rng.choices(everyone, weights=weights)[0]
        arrival = dates[d].replace(hour=hour) + timedelta(seconds=rng.randint(0, 3599))
        category = rng.choice(list(CATEGORIES[kind]))
        new_applicant = None
        if kind == "new_connection":
            if category in ("增容", "高压新装") and business:
                cust = rng.choice(business)
            elif category == "低压居民新装" or not business:
                cust, new_applicant = None, rng.choice(SURNAMES) + rng.choice(GIVEN)
            else:
                cust = rng.choice(business)
        elif kind in ("complaint", "inquiry") and rng.random() < 0.5:
            cust = rng.choice(residential or everyone)
        if cust is not None:
            area, station, voltage = cust.area, cust.station, cust.voltage
            if (
                kind == "new_connection"
                and category == "高压新装"
                and voltage not in ("10kV", "35kV")
            ):
                voltage = "10kV"
        else:
            station = _pick(rng, [(s, 1.0) for s in TOWNS])
            area, voltage = TOWNS[station][0], "lv_residential"
        channel = _pick(rng, CHANNELS)
        if kind == "new_connection" and rng.random() < 0.5:
            channel = Channel.SERVICE_HALL
        if channel is Channel.SERVICE_HALL and not (
            sim.office.is_working(arrival) and 8 <= arrival.hour < 18
        ):
            channel = Channel.HOTLINE
        priority = "normal"
        if cust is not None and cust.grade in ("A", "B"):
            priority = "high"
        if fault and (storm or (cust is not None and cust.voltage == "35kV")):
            priority = "urgent" if cust is not None and cust.grade == "A" else "high"
        tk = Tk(
            no=no + 1,
            kind=kind,
            arrival=arrival,
            cust=cust,
            category=category,
            content="",
            channel=channel,
            priority=priority,
            area=area,
            station=station,
            voltage=voltage,
            storm=storm,
            new_applicant=new_applicant,
        )
        template = rng.choice(CATEGORIES[kind][category])
        tk.content = template.format(addr=_addr(sim, tk))
        plan.append(tk)
    plan.sort(key=lambda t: (t.arrival, t.no))
    return plan


# --------------------------------------------------------------------------- read-back summary


@dataclass
class DeptRow:
    received: int = 0
    replied: int = 0
    first_contact: int = 0
    ontime: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    breaches: int = 0
    transfers: int = 0
    handovers: int = 0
    urges: int = 0
    supervisions: int = 0
    reopenings: int = 0
    callbacks: int = 0
    satisfied: int = 0
    first_seen: datetime | None = None


@dataclass
class Facts:
    events: int = 0
    event_types: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    states: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    depts: dict[str, DeptRow] = field(default_factory=lambda: defaultdict(DeptRow))
    milestones: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    warnings: int = 0
    escalations: Counter[int] = field(default_factory=Counter)
    unreachable: int = 0
    late_crews: int = 0
    customers: int = 0
    graded: int = 0
    callbacks_scheduled: int = 0
    tickets: dict[UUID, Any] = field(default_factory=dict)
    flags: dict[UUID, set[str]] = field(default_factory=lambda: defaultdict(set))
    directory: Any = None

    def in_charge(self, dept: str, at: datetime | None) -> str:
        """The department answering for ``dept`` at ``at``: itself, or its heir once a
        reorganisation merged it away (a ticket may still name the old id)."""
        if self.directory is None or at is None or self.directory.exists(dept, at):
            return dept
        try:
            return str(self.directory.successor(dept, at))
        except UnknownDepartment:
            return dept


def read_back(desk: Desk, progress: Progress | None = None) -> Facts:
    """Fold every stored event (in notification order) with the aggregates' own code."""
    facts = Facts(directory=desk.directory)
    aggregates: dict[UUID, Any] = {}
    total = _store_events(desk)
    task = progress.add_task("reading back", total=total, info="") if progress else None
    start = 1
    while True:
        batch = desk.recorder.select_notifications(start=start, limit=2000)
        if not batch:
            break
        for notification in batch:
            event = desk.mapper.to_domain_event(notification)
            _fold(facts, aggregates, event)
        start = batch[-1].id + 1
        if progress is not None and task is not None:
            progress.update(task, completed=min(total, start - 1))
    for ident, agg in aggregates.items():
        if hasattr(agg, "cycle") and hasattr(agg, "kind"):
            facts.tickets[ident] = agg
            facts.kinds[agg.kind] += 1
            facts.states[agg.kind][agg.state.value] += 1
    return facts


def _fold(facts: Facts, aggregates: dict[UUID, Any], event: Any) -> None:
    name = type(event).__name__
    ident = event.originator_id
    before = aggregates.get(ident)
    dept_before = getattr(before, "department", None)
    agg = event.mutate(before)
    aggregates[ident] = agg
    facts.events += 1
    facts.event_types[name] += 1
    at = event.meta.occurred_at if getattr(event, "meta", None) else None

    def row(dept: str | None) -> DeptRow | None:
        if not dept:
            return None
        r = facts.depts[facts.in_charge(dept, at)]
        if r.first_seen is None:
            r.first_seen = at
        return r

    if name in ("ComplaintReceived", "ServiceRequestReceived"):
        if (r := row(agg.department)) is not None:
            r.received += 1
    elif name == "WorkOrderDispatched":
        if (r := row(event.department)) is not None:
            r.received += 1
    elif name == "WorkOrderTransferred":
        facts.flags[ident].add("transferred")
        if (r := row(event.from_department)) is not None:
            if event.reason.startswith(HANDOVER):
                r.handovers += 1
            else:
                r.transfers += 1
        if (r := row(event.department)) is not None:
            r.received += 1
    elif name == "DepartmentReplied":
        if (r := row(event.department)) is not None:
            r.replied += 1
    elif name == "ResolvedAtFirstContact":
        if (r := row(dept_before)) is not None:
            r.first_contact += 1
    elif name == "SlaTargetMet":
        cell = facts.milestones[event.milestone]
        cell[0 if event.on_time else 1] += 1
        if (r := row(dept_before)) is not None:
            r.ontime[event.milestone][0 if event.on_time else 1] += 1
    elif name == "SlaBreached":
        facts.flags[ident].add("breached")
        facts.milestones[event.milestone][2] += 1
        if (r := row(event.department)) is not None:
            r.breaches += 1
    elif name == "SlaWarningRaised":
        facts.warnings += 1
    elif name == "Escalated":
        facts.escalations[event.level] += 1
    elif name == "Urged":
        facts.flags[ident].add("urged")
        if (r := row(event.department)) is not None:
            r.urges += 1
    elif name == "SupervisionOpened":
        facts.flags[ident].add("supervised")
        if (r := row(dept_before)) is not None:
            r.supervisions += 1
    elif name == "TicketReopened":
        facts.flags[ident].add("reopened")
        if (r := row(dept_before)) is not None:
            r.reopenings += 1
    elif name == "CallbackScheduled":
        facts.callbacks_scheduled += 1
    elif name == "CallbackCompleted":
        if (r := row(event.department)) is not None:
            r.callbacks += 1
            r.satisfied += int(bool(event.satisfied))
    elif name == "CallbackUnreachable":
        facts.unreachable += 1
    elif name == "CustomerRegistered":
        facts.customers += 1
    elif name == "GradeAssigned":
        facts.graded += 1
    elif name == "CrewArrived" and not event.data.get("on_time", True):
        facts.late_crews += 1
        facts.flags[ident].add("late_crew")


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


MILESTONE_ORDER = [
    "arrival",
    "restoration",
    "first_contact",
    "department_reply",
    "resolution",
    "reply",
    "meter_test",
    "adjustment",
    "site_survey",
    "supply_plan",
    "contract",
    "meter_install",
    "energize",
    "total",
    "callback",
]


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
        table.add_row("[b]breaches recorded[/b]", *(str(ms[m][2]) for m in present))
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


def pick_samples(facts: Facts) -> list[tuple[str, str, str]]:
    wanted = [
        ("reopened complaint 投诉(回访不满意重办)", "complaint", {"reopened"}),
        ("fault repair with a late crew 抢修(超时到场)", "fault_repair", {"late_crew", "breached"}),
        ("transferred work order 转派工单", None, {"transferred", "urged"}),
    ]
    fallbacks = [set(), set(), {"transferred"}]
    chosen: list[tuple[str, str, str]] = []
    used: set[UUID] = set()
    for (label, kind, flags), fallback in zip(wanted, fallbacks, strict=True):
        for need in (flags, fallback, set()):
            found = next(
                (
                    (ident, t)
                    for ident, t in sorted(facts.tickets.items(), key=lambda x: x[1].number)
                    if ident not in used
                    and (kind is None or t.kind == kind)
                    and need <= facts.flags.get(ident, set())
                ),
                None,
            )
            if found:
                used.add(found[0])
                chosen.append((label, str(found[0]), found[1].number))
                break
    return chosen


# --------------------------------------------------------------------------- entry point


def _month(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=tz)
    except ValueError:
        raise typer.BadParameter(f"month must be YYYY-MM, got {month!r}") from None
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start, end


def run_demo(console: Console, *, reset: bool, tickets: int, seed: int, month: str) -> DemoResult:
    """Generate a month of 95598 traffic through the desk and print what the store holds."""
    began = time.perf_counter()
    if not console.is_terminal and console.width < 160:
        console.width = 160  # a log file or a pipe: room for the department table
    settings = Settings()
    tz = settings.tz
    start, end = _month(month, tz)
    holder: dict[str, Sim] = {}

    def sim_clock() -> datetime:
        return holder["sim"].clock() if "sim" in holder else start.astimezone(UTC)

    desk = prepare_store(console, settings, reset=reset, clock=sim_clock)
    rng = random.Random(seed)
    sim = Sim(desk, rng, tz, start, end, tag=f"demo{seed}-{month}")
    holder["sim"] = sim
    result = DemoResult()
    try:
        console.print(
            f"[b]casetrail demo[/b]: {tickets:,} tickets in {month}, seed {seed}, "
            f"store {settings.backend} ({settings.database_url})"
        )
        customers = max(40, min(400, tickets * 2 // 15))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("customers", total=customers, info="")
            register_customers(sim, customers)
            progress.update(task, completed=customers, info=f"{len(sim.customers)} registered")
            _simulate(sim, tickets, progress)
            result.generate_seconds = time.perf_counter() - began
            read_start = time.perf_counter()
            facts = read_back(desk, progress)
            result.read_seconds = time.perf_counter() - read_start
        result.commands = sim.commands
        result.domain_errors = len(sim.errors)
        result.error_messages = list(sim.errors)
        result.events = facts.events
        result.kinds = dict(facts.kinds)
        result.states = {k: dict(v) for k, v in facts.states.items()}
        result.event_types = dict(facts.event_types)
        result.samples = pick_samples(facts)
        result.elapsed_seconds = time.perf_counter() - began
        render(console, desk, facts, result, month)
        # The same month through the read side: projector, SLA board, department report.
        from cli.board import show_views

        month_end = end - timedelta(seconds=1)
        show_views(
            console, desk, settings, sim.directory, month_end, start.date(), month_end.date()
        )
        result.sla_clock_steps = _sla_clock_check(console, settings, month_end)
    finally:
        desk.close()
    return result


def _sla_clock_check(console: Console, settings: Settings, month_end: datetime) -> int:
    """The SLA clock worker over the month, from the views: what is left to send by month end.

    The simulation's monitor asked each ticket for its due steps at their instants (the same
    ``Ticket.due_actions`` the worker uses), so the worker should find nothing left; whatever
    it finds it records at its due instant, like ``casetrail sla run --until``.
    """
    from cli.sla_cmd import run_simulated

    _, sent = run_simulated(settings, month_end)
    colour = "green" if sent == 0 else "yellow"
    console.print(
        f"[{colour}]SLA clock worker (sla_deadlines view) up to {month_end:%Y-%m-%d %H:%M}: "
        f"{sent} step(s) left to send[/{colour}] — the simulation's monitor sent the rest at "
        "their due instants"
    )
    return sent


def _simulate(sim: Sim, tickets: int, progress: Progress) -> None:
    plan = plan_traffic(sim, tickets)
    for tk in plan:
        tk.proc = PROCESSES[tk.kind](sim, tk)
        sim.push(tk.arrival, "proc", tk)
    merger = [ch.at for ch in sim.directory.changes if sim.start <= ch.at < sim.end]
    for at in sorted(set(merger)):
        sim.push(sim.office.add(at, 1), "handover")
    days = (sim.end - sim.start).days
    task = progress.add_task("simulating", total=days, info="")
    last_day = -1
    pops = 0
    while sim.heap:
        at, _, what, obj, gen = sim.heap[0]
        if at >= sim.end:
            break
        heapq.heappop(sim.heap)
        sim.now = max(sim.now, at)
        if what == "proc":
            _resume(sim, obj)
        elif what == "sla":
            if gen == obj.sla_gen and obj in sim.open:
                try:
                    sim.sweep(obj)
                except Abort:
                    obj.failed = True
        elif what == "handover":
            sim.handover()
        pops += 1
        day = (sim.local() - sim.start.astimezone(sim.tz)).days
        if day != last_day or pops % 500 == 0:
            last_day = day
            progress.update(
                task,
                completed=day,
                info=f"{sim.local():%m-%d %H:%M}  commands {sim.commands:,}  open {len(sim.open):,}"
                f"  errors {len(sim.errors)}",
            )
    sim.now = max(sim.now, sim.end - timedelta(seconds=1))
    progress.update(
        task,
        completed=days,
        info=f"month end: commands {sim.commands:,}, backlog {len(sim.open):,} open tickets, "
        f"errors {len(sim.errors)}",
    )


def _resume(sim: Sim, tk: Tk) -> None:
    assert tk.proc is not None
    try:
        wake = next(tk.proc)
    except StopIteration:
        tk.proc = None
        return
    except Abort:
        tk.proc = None
        tk.failed = True
        return
    sim.push(wake, "proc", tk)
