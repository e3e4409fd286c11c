"""The hotline workload the write benches drive: customers, intake payloads, the per-command work.

A day at a hotline is mostly complaints, outages and questions (:data:`KIND_WEIGHTS`); callers
are mostly known customers, a few new ones give name, phone and address (:func:`new_caller`).
Payloads are drawn from a seeded random generator and validated into commands before any
timing starts (:func:`intake_fields`, :func:`build_commands`); :func:`intake_worker` is the
timed part, ``desk.handle`` returning how many events it wrote. :class:`IntakeProcess` is the
same workload in a bench process (``bench.common.ProcessPool``).
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import DeskRecipe, DeskWorker, make_desk
from domain import commands as c
from domain.base import Channel, Role
from domain.desk import Desk

AGENT: dict[str, Any] = {
    "actor_id": "agent-bench",
    "role": Role.AGENT,
    "department": "service_center",
}
# Intake mix: a hotline's day is mostly complaints, outages and questions.
KIND_WEIGHTS: list[tuple[str, float]] = [
    ("complaint", 0.30),
    ("fault_repair", 0.25),
    ("inquiry", 0.15),
    ("new_connection", 0.08),
    ("meter_dispute", 0.07),
    ("billing_adjustment", 0.07),
    ("suggestion", 0.04),
    ("report", 0.04),
]
CATEGORIES = {
    "complaint": ["service_attitude", "billing", "outage_frequency", "meter_reading"],
    "fault_repair": ["no_power", "low_voltage", "line_down"],
}
PRIORITIES = [("normal", 0.7), ("high", 0.2), ("urgent", 0.07), ("low", 0.03)]
CHANNELS = [Channel.HOTLINE, Channel.HOTLINE, Channel.HOTLINE, Channel.ONLINE, Channel.APP]
CONTENT = "营业厅工作人员态度恶劣，要求道歉并说明处理结果。客户称近一个月多次停电，影响生产经营。"


def add_workload_options(parser: argparse.ArgumentParser, customers: int) -> None:
    """``--customers``, ``--new-caller-share`` and ``--seed``: who calls, drawn how."""
    parser.add_argument(
        "--customers", type=int, default=customers, help="customers registered up front"
    )
    parser.add_argument(
        "--new-caller-share",
        type=float,
        default=0.05,
        help="share of intakes from an unknown caller (customer registered on the fly)",
    )
    parser.add_argument("--seed", type=int, default=20261122)


def weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    """One item of ``(item, weight)`` pairs, drawn by weight."""
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def customer_fields(rng: random.Random, i: int, ctype: str, voltage: str) -> dict[str, Any]:
    """The ``i``-th bench customer's registration fields (area, station and phone drawn)."""
    return {
        "name": f"客户{i:04d}",
        "customer_type": ctype,
        "area": weighted(rng, [("urban", 0.6), ("rural", 0.3), ("remote", 0.1)]),
        "voltage": voltage,
        "station": f"station_{rng.randint(1, 5)}",
        "phone": f"138{rng.randint(0, 99_999_999):08d}",
        "address": f"城关镇幸福路{i}号",
    }


def new_caller(rng: random.Random) -> dict[str, Any]:
    """What a caller the desk does not know yet gives at intake (registered on the fly)."""
    return {
        "customer_name": "王建国",
        "phone": f"139{rng.randint(0, 99_999_999):08d}",
        "address": "城关镇幸福路12号",
        "area": "urban",
        "station": "station_1",
    }


def register_customers(desk: Desk, count: int, rng: random.Random) -> list[uuid.UUID]:
    """Residential, commercial, industrial and group customers; every 10th a grade-A account."""
    ids: list[uuid.UUID] = []
    for i in range(count):
        ctype = weighted(
            rng,
            [("residential", 0.7), ("commercial", 0.15), ("industrial", 0.1), ("group", 0.05)],
        )
        voltage = {
            "residential": "lv_residential",
            "commercial": "lv",
            "industrial": rng.choice(["10kV", "35kV"]),
            "group": "10kV",
        }[ctype]
        out = desk.handle(
            c.RegisterCustomer(
                **AGENT,
                command_id=f"bench-customer-{uuid.uuid4().hex}",
                **customer_fields(rng, i, ctype, voltage),
            )
        )
        if i % 10 == 0:
            desk.handle(
                c.AssignGrade(
                    **AGENT,
                    customer_id=out.id,
                    grade="A",
                    key_account=True,
                    basis="年购电量超过100万元",
                )
            )
        ids.append(out.id)
    return ids


def customers_for(env: dict[str, str], count: int, rng: random.Random) -> list[uuid.UUID]:
    """Register ``count`` customers through a desk of their own (closed again)."""
    desk = make_desk(env)
    try:
        return register_customers(desk, count, rng)
    finally:
        desk.close()


def intake_fields(
    rng: random.Random,
    customers: Sequence[uuid.UUID],
    count: int,
    new_caller_share: float,
    with_command_id: bool,
) -> list[dict[str, Any]]:
    """The raw payloads of ``count`` intake commands (validated later, outside the timing)."""
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        kind = weighted(rng, KIND_WEIGHTS)
        row: dict[str, Any] = {
            **AGENT,
            "kind": kind,
            "category": rng.choice(CATEGORIES.get(kind, ["general"])),
            "priority": weighted(rng, PRIORITIES),
            "channel": rng.choice(CHANNELS),
            "content": CONTENT,
        }
        if with_command_id:
            row["command_id"] = f"bench-{uuid.uuid4().hex}"
        if rng.random() < new_caller_share:
            row.update(new_caller(rng))
        else:
            row["customer_id"] = rng.choice(customers)
        rows.append(row)
    return rows


def build_commands(rows: Sequence[dict[str, Any]]) -> list[c.ReceiveTicket]:
    return [c.ReceiveTicket(**row) for row in rows]


def intake_worker(desk: Desk) -> Callable[[c.ReceiveTicket], int]:
    def work(cmd: c.ReceiveTicket) -> int:
        out = desk.handle(cmd)
        # The ticket's events, plus CustomerRegistered for an unknown caller.
        return len(out.events) + (1 if cmd.customer_name else 0)

    return work


def same_desk(desk: Desk) -> Callable[[int], Callable[[c.ReceiveTicket], int]]:
    """Every thread drives the same desk (as the API's worker threads will)."""
    return lambda _thread: intake_worker(desk)


def warm(desk: Desk, customers: Sequence[uuid.UUID], commands: Sequence[c.ReceiveTicket]) -> None:
    """Fill the aggregate cache with every customer and run a few untimed intakes."""
    for ident in customers:
        desk.repository.get(ident)
    for cmd in commands:
        desk.handle(cmd)


@dataclass
class IntakeProcess(DeskRecipe):
    """A bench process taking intakes (``task`` = the desk variant)."""

    new_caller_share: float
    command_id: bool

    def __call__(self, index: int, processes: int) -> IntakeWorker:
        return IntakeWorker(self, index)


class IntakeWorker(DeskWorker):
    """Each round's intakes are drawn (and validated) before the start line."""

    def __init__(self, recipe: IntakeProcess, index: int) -> None:
        super().__init__(recipe, index)
        self.shape = (recipe.new_caller_share, recipe.command_id)

    def prepare(self, task: Any, count: int) -> tuple[Callable[[Any], int], Sequence[Any]]:
        if task not in self.desks:
            return super().prepare(task, count)
        rows = intake_fields(self.rng, self.customers, count, *self.shape)
        return intake_worker(self.desks[task]), build_commands(rows)
