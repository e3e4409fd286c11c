"""Who calls, about what and when: the month's customers and its plan of arrivals.

The traffic shape (kinds and their shares, hourly curves, channels, categories with what callers
say), the county's places and people's names, and the seeded draws made from them: customers are
registered first (residential most, commercial and industrial some, a few group key accounts
graded A/B/C with an account manager), then every ticket of the month is planned (kind, day,
hour, caller, category, channel, priority) before the clock starts.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from cli.demo.clock import Cust, Sim, Tk
from domain import commands as c
from domain.base import Channel, Role

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


def pick(rng: random.Random, pairs: Iterable[tuple[Any, float]]) -> Any:
    """One item of ``(item, weight)`` pairs, drawn by weight."""
    items = list(pairs)
    return rng.choices([i for i, _ in items], weights=[w for _, w in items], k=1)[0]


def person(rng: random.Random) -> str:
    """A plausible Chinese full name: surname and given name."""
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"


class _ServiceHall:
    """Registers customers one after another at the service hall, the day before the month."""

    AGENT = "营业厅建档"
    KEY_ACCOUNTS: dict[str, Any] = {
        "actor_id": "key-account-office",
        "role": Role.SUPERVISOR,
        "department": "marketing",
    }
    WEIGHT = {"residential": 1.0, "commercial": 2.0, "industrial": 3.0, "group": 4.0}

    def __init__(self, sim: Sim, count: int) -> None:
        self.sim = sim
        day = sim.start - timedelta(days=1)
        self.at = day.astimezone(sim.tz).replace(hour=9, minute=0, second=0, microsecond=0)
        self.step = timedelta(seconds=max(20, int(8 * 3600 / max(count, 1))))
        self.registered = 0

    def register(
        self,
        name: str,
        ctype: str,
        station: str,
        voltage: str,
        address: str,
        group_id: str | None = None,
    ) -> Cust:
        sim = self.sim
        sim.now = self.at
        self.at += self.step
        self.registered += 1
        area = TOWNS[station][0]
        phone = _phone(sim.rng)
        out = sim.handle(
            c.RegisterCustomer(
                actor_id=self.AGENT,
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
                command_id=f"{sim.tag}-customer-{self.registered}",
            )
        )
        weight = self.WEIGHT[ctype]
        cust = Cust(out.id, name, ctype, area, station, voltage, address, phone, weight=weight)
        sim.customers.append(cust)
        return cust

    def grade(self, cust: Cust, grade: str, basis: str, manager: str) -> None:
        """A key account: its grade (分级) and its account manager (客户经理)."""
        sim = self.sim
        sim.now = self.at
        sim.handle(
            c.AssignGrade(
                **self.KEY_ACCOUNTS,
                customer_id=cust.id,
                grade=grade,
                key_account=True,
                basis=basis,
                command_id=f"{sim.tag}-grade-{cust.id}",
            )
        )
        sim.handle(
            c.AssignAccountManager(
                **self.KEY_ACCOUNTS,
                customer_id=cust.id,
                manager=manager,
                command_id=f"{sim.tag}-manager-{cust.id}",
            )
        )
        cust.grade = grade


def register_customers(sim: Sim, count: int) -> None:
    """~400 customers: residential most, commercial/industrial some, a few graded group accounts."""
    hall = _ServiceHall(sim, count)
    _register_groups(hall, GROUPS[: max(2, min(len(GROUPS), count // 60))])
    while hall.registered < count:
        _register_one(hall)


def _register_groups(hall: _ServiceHall, groups: list[tuple[str, str, str]]) -> None:
    """Each group: its headquarters and two member plants, all graded as the group is."""
    rng = hall.sim.rng
    stations = list(TOWNS)
    for gi, (gname, g, basis) in enumerate(groups):
        station = stations[gi % len(stations)]
        town = TOWNS[station][1][0]
        hq = hall.register(
            gname,
            "group",
            station,
            "35kV" if g == "A" else "10kV",
            f"{town}{rng.choice(ROADS)}{rng.randint(1, 200)}号",
        )
        hall.grade(hq, g, basis, MANAGERS[gi % len(MANAGERS)])
        for _ in range(2):
            sub_station = rng.choice(stations)
            sub_town = rng.choice(TOWNS[sub_station][1])
            sub = hall.register(
                f"{gname}{sub_town}{rng.choice(PLANTS)}",
                "industrial",
                sub_station,
                "10kV",
                f"{sub_town}工业园{rng.randint(1, 40)}号",
                group_id=str(hq.id),
            )
            hall.grade(sub, g, f"{basis}; 集团成员单位", MANAGERS[gi % len(MANAGERS)])


def _register_one(hall: _ServiceHall) -> None:
    """One household, shop or plant somewhere in the county (a quarter of HV plants graded)."""
    rng = hall.sim.rng
    station = pick(
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
    ctype = pick(rng, [("residential", 0.80), ("commercial", 0.13), ("industrial", 0.07)])
    if area == "urban":
        address = f"{town}{rng.choice(ROADS)}{rng.randint(1, 300)}号"
    else:
        address = f"{town}{rng.choice(VILLAGES)}{rng.randint(1, 120)}号"
    if ctype == "residential":
        hall.register(person(rng), ctype, station, "lv_residential", address)
    elif ctype == "commercial":
        voltage = "10kV" if rng.random() < 0.15 else "lv"
        name = f"{town}{rng.choice(SURNAMES)}记{rng.choice(SHOPS)}"
        hall.register(name, ctype, station, voltage, address)
    else:
        voltage = pick(rng, [("10kV", 0.7), ("35kV", 0.1), ("lv", 0.2)])
        cust = hall.register(
            f"{town}{rng.choice(PLANTS)}有限公司", ctype, station, voltage, address
        )
        if voltage != "lv" and rng.random() < 0.25:
            hall.grade(
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
                cust, new_applicant = None, person(rng)
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
            station = pick(rng, [(s, 1.0) for s in TOWNS])
            area, voltage = TOWNS[station][0], "lv_residential"
        channel = pick(rng, CHANNELS)
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
        tk.content = template.format(addr=_address(tk))
        plan.append(tk)
    plan.sort(key=lambda t: (t.arrival, t.no))
    return plan


def _address(tk: Tk) -> str:
    """Where the caller is: the customer's street and number, or the station's first town."""
    if tk.cust is not None:
        return tk.cust.address.split("号")[0] + "号"
    return TOWNS[tk.station][1][0]
