"""A small fault-repair day for the what-if tests, with business times picked by hand.

Five urban fault repairs (policy ``fault-repair-urban``: arrival 45 min, restoration 3 h,
both on the 24x7 clock, so the arithmetic needs no calendar). Four are received on Monday
2026-10-12, two dispatched to station_1 (A, B) and two to station_2 (C, D); D's restoration
clock is paused for an hour. E comes the next day, outside the period the tests ask about.
The candidate catalogue promises arrival in 30 min and restoration in 4 h.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.desk import Desk, Outcome
from domain.sla.policy import PolicyCatalogue
from tests.factories import FakeClock, act, bj, receive

ARRIVAL_MINUTES, RESTORATION_HOURS = 30, 4  # the candidate's targets (live: 45 min, 3 h)

CANDIDATE_TOML = """
[[policy]]
id = "fault-repair-urban"
version = 1
title_zh = "故障抢修(城区, 拟议)"
title_en = "Fault repair, urban (proposed)"
effective_from = 2024-01-01T00:00:00+08:00

[policy.match]
kinds = ["fault_repair"]

[[policy.milestones]]
name = "arrival"
target = "30m"
clock = "24x7"
starts_on = "received"
met_on = ["crew_arrived"]
pausable = false

[[policy.milestones]]
name = "restoration"
target = "4h"
clock = "24x7"
starts_on = "received"
met_on = ["power_restored"]
"""


def candidate(live: PolicyCatalogue) -> PolicyCatalogue:
    """The live catalogue with fault-repair-urban's arrival at 30 min, restoration at 4 h."""
    policies = []
    for policy in live.policies:
        if policy.id == "fault-repair-urban":
            targets = {"arrival": ARRIVAL_MINUTES * 60, "restoration": RESTORATION_HOURS * 3600}
            milestones = tuple(
                m.model_copy(update={"target_seconds": targets[m.name], "target": None})
                if m.name in targets
                else m
                for m in policy.milestones
            )
            policy = policy.model_copy(update={"milestones": milestones})
        policies.append(policy)
    return PolicyCatalogue(policies, live.calendars)


# (ticket, local hour:minute on its day, action, fields); received first, steps in time order.
_DAY = {"A": 12, "B": 12, "C": 12, "D": 12, "E": 13}
_STATION = {
    "A": "station_1",
    "B": "station_1",
    "C": "station_2",
    "D": "station_2",
    "E": "station_1",
}
_STEPS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("A", "09:00", "receive", {}),
    ("A", "09:02", "dispatch", {}),
    ("A", "09:05", "dispatch_crew", {}),
    ("A", "09:40", "record_arrival", {}),
    ("B", "10:00", "receive", {}),
    ("B", "10:02", "dispatch", {}),
    ("B", "10:05", "dispatch_crew", {}),
    ("B", "10:35", "record_arrival", {}),
    ("A", "11:00", "record_restoration", {}),
    ("C", "11:00", "receive", {}),
    ("C", "11:02", "dispatch", {}),
    ("C", "11:05", "dispatch_crew", {}),
    ("C", "11:50", "record_arrival", {}),
    ("D", "12:00", "receive", {}),
    ("D", "12:02", "dispatch", {}),
    ("D", "12:05", "dispatch_crew", {}),
    ("D", "12:25", "record_arrival", {}),
    ("D", "13:00", "pause", {"reason": "客户不在现场, 等待客户到场"}),
    ("B", "13:30", "record_restoration", {}),
    ("D", "14:00", "resume", {}),
    ("C", "15:30", "record_restoration", {}),
    ("D", "16:30", "record_restoration", {}),
    ("E", "09:00", "receive", {}),
    ("E", "09:02", "dispatch", {}),
    ("E", "09:05", "dispatch_crew", {}),
    ("E", "09:40", "record_arrival", {}),
    ("E", "10:00", "record_restoration", {}),
]


def _at(ticket: str, hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return bj(2026, 10, _DAY[ticket], hour, minute)


def record_day(desk: Desk, clock: FakeClock) -> dict[str, Outcome]:
    """Record the five tickets, each step at its business time; {"A": outcome, ...}."""
    tickets: dict[str, Outcome] = {}
    for name, hhmm, action, fields in _STEPS:
        clock.set(_at(name, hhmm))
        if action == "receive":
            tickets[name] = receive(desk, kind="fault_repair", category="power_outage")
            continue
        extra: dict[str, Any] = dict(fields)
        if action == "dispatch":
            extra.update(owner="抢修班长", to_department=_STATION[name])
        elif action == "dispatch_crew":
            extra.update(crew="抢修一班", promised_arrival_at=clock.now + timedelta(minutes=30))
        elif action == "record_arrival":
            extra.update(crew="抢修一班")
        elif action == "record_restoration":
            extra.update(crew="抢修一班", cause="线路故障")
        tickets[name] = act(desk, tickets[name], action, **extra)
    return tickets
