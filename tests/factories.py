"""Factories for realistic tickets and a clock tests can move by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bootstrap.catalogue import load_catalogue
from bootstrap.org_loader import load_directory
from domain import commands as c
from domain.base import Meta, Role, recording_clock
from domain.complaint import Complaint
from domain.desk import Desk, Outcome
from domain.sla.policy import PolicyCatalogue, SlaPolicy, TicketFacts
from domain.ticket import Ctx

SHANGHAI = ZoneInfo("Asia/Shanghai")

# A policy's TOML up to its milestones: append ``[[policy.milestones]]`` tables to try a loader.
POLICY_HEAD = """
[[policy]]
id = "broken"
version = 1
title_zh = "坏"
title_en = "broken"
effective_from = 2024-01-01T00:00:00+08:00
[policy.match]
kinds = ["inquiry"]
"""


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Beijing-time instant (the hotline's local time)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


class FakeClock:
    """The desk's recording clock, moved explicitly by the test."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or bj(2026, 10, 12, 9, 0)

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


_CATALOGUE = None
_DIRECTORY = None


def make_desk(clock: FakeClock, env: dict[str, str]) -> Desk:
    global _CATALOGUE, _DIRECTORY
    _CATALOGUE = _CATALOGUE or load_catalogue()
    _DIRECTORY = _DIRECTORY or load_directory()
    return Desk(catalogue=_CATALOGUE, directory=_DIRECTORY, clock=clock, env=env)


AGENT: dict[str, Any] = {
    "actor_id": "agent-007",
    "role": Role.AGENT,
    "department": "service_center",
}
HANDLER: dict[str, Any] = {"actor_id": "handler-12", "role": Role.AGENT, "department": "station_1"}
SUPERVISOR: dict[str, Any] = {
    "actor_id": "sup-3",
    "role": Role.SUPERVISOR,
    "department": "marketing",
}
SYSTEM: dict[str, Any] = {"actor_id": "sla-clock", "role": Role.SYSTEM, "department": "system"}


def receive(desk: Desk, kind: str = "complaint", **overrides: Any) -> Outcome:
    fields: dict[str, Any] = {
        **AGENT,
        "kind": kind,
        "customer_name": "王建国",
        "phone": "13800138000",
        "address": "城关镇幸福路12号",
        "category": "service_attitude" if kind == "complaint" else "general",
        "content": "营业厅工作人员态度恶劣，要求道歉并说明处理结果",
        "area": "urban",
        "station": "station_1",
    }
    fields.update(overrides)
    return desk.handle(c.ReceiveTicket(**fields))


def act(
    desk: Desk, outcome: Outcome, action: str, who: dict[str, Any] | None = None, **fields: Any
) -> Outcome:
    payload = {**(who or AGENT), "ticket_id": outcome.id, **fields}
    return desk.handle(c.parse_action(action, payload))


# --- helpers for the domain tests (given events / when command / then events) -------------


def register_customer(desk: Desk, **overrides: Any) -> Outcome:
    """A registered residential customer in station_1 (override any RegisterCustomer field)."""
    fields: dict[str, Any] = {
        **AGENT,
        "name": "城关镇第一中学",
        "customer_type": "commercial",
        "area": "urban",
        "voltage": "lv",
        "station": "station_1",
        "phone": "0731-5550123",
    }
    fields.update(overrides)
    return desk.handle(c.RegisterCustomer(**fields))


def history(desk: Desk, ident: Any) -> list[Any]:
    """Every stored event of an aggregate (ticket, callback or customer), oldest first."""
    return list(desk.events.get(ident))


def names(events: list[Any]) -> list[str]:
    """Event class names, e.g. ``['WorkOrderDispatched', 'SlaTargetMet']``."""
    return [type(e).__name__ for e in events]


def recorded_after(desk: Desk, ident: Any, version: int) -> list[Any]:
    """The events of ``ident`` recorded after ``version`` (what a command just did)."""
    return [e for e in history(desk, ident) if e.originator_version > version]


def of_type(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if type(e).__name__ == name]


def stored_count(desk: Desk) -> int:
    """How many events the whole store holds (to prove a refusal recorded nothing)."""
    return desk.recorder.max_notification_id() or 0


def meta_at(at: datetime, who: dict[str, Any] | None = None, **extra: Any) -> Meta:
    """Event metadata for calling an aggregate directly, as the desk would build it."""
    who = who or AGENT
    return Meta(
        actor=who["actor_id"],
        role=who["role"].value,
        department=who["department"],
        channel="hotline",
        occurred_at=at,
        correlation_id="test",
        **extra,
    )


def ctx_at(desk: Desk, at: datetime, who: dict[str, Any] | None = None) -> Ctx:
    """A command context for calling a ticket directly (its clocks from the desk's catalogue)."""
    return Ctx(meta_at(at, who), desk.catalogue)


def make_desk_with_policies(clock: FakeClock, *extra: SlaPolicy) -> Desk:
    """A desk on the in-memory store whose catalogue is the shipped one plus ``extra``."""
    base = load_catalogue()
    catalogue = PolicyCatalogue([*base.policies, *extra], base.calendars)
    return Desk(catalogue=catalogue, directory=load_directory(), clock=clock, env={})


def deadlines(desk: Desk, ident: Any) -> dict[str, datetime | None]:
    """``{'milestone#cycle': due_at}`` of every clock the ticket has had."""
    return {
        f"{row['milestone']}#{row['cycle']}": row["due_at"]
        for row in desk.ticket(ident).sla_summary()
    }


def bulk_complaints(desk: Desk, clock: FakeClock, tickets: int) -> int:
    """Write realistic complaint streams straight through the aggregates, in bulk saves."""
    facts = TicketFacts(
        kind="complaint",
        ticket_class="non_repair",
        category="service_attitude",
        grade="none",
        priority="normal",
        area="urban",
        voltage="lv_residential",
        key_account=False,
    )
    batch: list[Complaint] = []
    written = 0
    for i in range(tickets):
        clock.advance(seconds=37)
        meta = Meta(
            actor=f"agent-{i % 40}",
            role="agent",
            department="service_center",
            channel="hotline",
            occurred_at=clock(),
            correlation_id=f"c{i}",
        )
        ctx = Ctx(meta, desk.catalogue)
        policy = desk.catalogue.match(facts, meta.occurred_at)
        details = {
            "customer": {"id": None, "name": f"客户{i}", "grade": "none", "key_account": False},
            "category": "service_attitude",
            "priority": "normal",
            "ticket_class": "non_repair",
            "content": "服务态度差",
            "channel": "hotline",
            "area": "urban",
            "voltage": "lv_residential",
            "station": f"station_{i % 5 + 1}",
            "contact": {},
            "department": "service_center",
        }
        with recording_clock(clock):
            ticket = Complaint(id=uuid.uuid4(), meta=meta, number=f"TS{i:08d}", details=details)
            ticket.bind_sla(ctx, policy, desk.catalogue.version)
            ticket.verify(ctx)
            ticket.classify(ctx, "service_attitude", "normal", "non_repair")
            ticket.dispatch(ctx, f"station_{i % 5 + 1}", "张三")
            ticket.urge(ctx, "请尽快处理")
        batch.append(ticket)
        if len(batch) == 250:
            desk.save(*batch)
            written += 6 * len(batch)
            batch = []
    if batch:
        desk.save(*batch)
        written += 6 * len(batch)
    return written


def clean_postgres(url: str) -> None:
    """Drop every table of the database's public schema: a test starts from an empty store."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
