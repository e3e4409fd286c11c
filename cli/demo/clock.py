"""The simulated month's clock: the records it keeps, the desk it drives and the loop that runs it.

``Sim`` holds the recording clock handed to the desk, the heap of wake-ups, who acts for which
department, how commands are sent (a refusal becomes ``Abort``), the SLA monitor and the 合署
handover. ``simulate`` pops the heap in time order: a ticket's process resumes at the instant it
asked for, the monitor sweeps a ticket at its next due SLA instant, and the reorganisation hands
open work orders over on its day, so the recording clock never goes backwards.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from rich.progress import Progress

from domain import commands as c
from domain.base import Channel, Role
from domain.desk import Desk, Outcome
from domain.errors import DomainError, UnknownDepartment
from domain.ticket import COMMON, Ticket

SYSTEM_ACTOR: dict[str, Any] = {
    "actor_id": "sla-clock",
    "role": Role.SYSTEM,
    "department": "system",
    "channel": Channel.SYSTEM,
}
TERMINAL = {"closed", "resolved_at_front", "rejected", "withdrawn"}
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
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


class Abort(Exception):
    """A command was refused by the domain; the ticket's process stops there."""


# A ticket's process: it yields the simulated instant it wants to be woken at.
Proc = Generator[datetime, None, Any]


@dataclass
class Cust:
    """A registered customer as the generator drew it (and the id the desk gave it)."""

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
    proc: Proc | None = None
    failed: bool = False


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


def simulate(
    sim: Sim,
    plan: list[Tk],
    processes: Mapping[str, Callable[[Sim, Tk], Proc]],
    progress: Progress,
) -> None:
    """Run the month: start each planned ticket's process at its arrival, then pop the heap."""
    for tk in plan:
        tk.proc = processes[tk.kind](sim, tk)
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
