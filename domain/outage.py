"""Outage incidents (停电事件): one repair job answering every fault call it caused.

When a feeder (线路) trips, dozens of customers call 95598 within minutes, each call a fault
repair ticket (故障报修) of its own. An agent or supervisor opens an :class:`OutageIncident` for
the area and feeder and links the calls to it by hand (a suggestion rule, :mod:`domain.outage_rule`,
points at likely clusters). The repair is done once, on the incident: crew dispatched, crew
arrived, power restored, each judged against the arrival and restoration targets of the fault
repair SLA policy matched for the incident's area, counted from the outage's start.

Every linked ticket still gets its own lifecycle: the desk records, in the same write as the
incident's step, the matching step on each linked ticket (dispatch, crew dispatched, arrival,
restoration, then the department's reply and the answer to the customer), with the tickets'
own commands and events, so their SLA clocks stop, the customer is answered, and the callback
scheduler calls each of them back as usual. A ticket linked after the crew has moved is
brought up to the incident's stage at the time of its link.

A ticket is linked to at most one incident: the link is claimed by an :class:`OutageLink`
whose id is derived from the ticket's, so a second claim collides (two agents at once
included).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field

from domain import commands as c
from domain.base import Meta, Recorded, Role, recording_clock
from domain.errors import IllegalTransition, InvalidValue
from domain.extensions import aggregate, handles
from domain.sla.policy import TicketFacts
from domain.ticket import Ctx, State, Ticket

LINK_NAMESPACE = uuid.UUID("2b7d1f0e-5c3a-4e8b-9f61-7a0c4d2e9b35")
# Ticket states from which the incident's repair can carry a fault call on to its answer.
LINKABLE = frozenset(
    {
        State.RECEIVED,
        State.REOPENED,
        State.DISPATCHED,
        State.ACCEPTED,
        State.CREW_EN_ROUTE,
        State.ON_SITE,
        State.RESTORED,
    }
)
ACTORS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
Via = Literal["phone", "sms", "email", "visit", "online"]


class IncidentState(StrEnum):
    """Where an outage incident stands; ``restored`` closes it."""

    OPEN = "open"
    CREW_EN_ROUTE = "crew_en_route"  # 抢修人员出发
    ON_SITE = "on_site"  # 到达现场
    RESTORED = "restored"  # 恢复送电 (closed: no more links)


_NEXT: dict[str, tuple[IncidentState, IncidentState]] = {
    "dispatch_crew": (IncidentState.OPEN, IncidentState.CREW_EN_ROUTE),
    "record_arrival": (IncidentState.CREW_EN_ROUTE, IncidentState.ON_SITE),
    "record_restoration": (IncidentState.ON_SITE, IncidentState.RESTORED),
}


def link_id(ticket_id: UUID) -> UUID:
    """The id of the claim that links ``ticket_id`` to an incident (one per ticket)."""
    return uuid.uuid5(LINK_NAMESPACE, str(ticket_id))


@aggregate
class OutageIncident(Recorded):
    """One outage of a feeder in an area: one repair, many linked fault calls."""

    KIND = "outage"

    @event("OutageIncidentOpened")
    def __init__(
        self,
        id: UUID,
        meta: Meta,
        number: str,
        area: str,
        feeder: str,
        department: str,
        started_at: datetime,
        description: str,
        sla: dict[str, Any],
    ) -> None:
        self.number = number
        self.kind = "outage"
        self.area = area
        self.feeder = feeder
        self.department = department
        self.started_at = started_at
        self.description = description
        self.sla = sla
        self.state = IncidentState.OPEN
        self.tickets: list[str] = []
        self.crew: str | None = None
        self.promised_arrival_at: datetime | None = None
        self.dispatched_at: datetime | None = None
        self.arrived_at: datetime | None = None
        self.restored_at: datetime | None = None
        self.cause: str | None = None
        self.answer: str | None = None
        self.via = "phone"

    @property
    def label(self) -> str:
        return self.number

    def _refuse(self, action: str, reason: str) -> IllegalTransition:
        return IllegalTransition(
            kind="outage", ticket=self.number, state=self.state.value, action=action, reason=reason
        )

    # ------------------------------------------------------------------ links

    def link(self, meta: Meta, ticket: Ticket) -> None:
        """Link a fault call; refused for other kinds, closed incidents, tickets past repair."""
        if self.state is IncidentState.RESTORED:
            raise self._refuse("link", "the incident is closed (power restored): open a new one")
        if ticket.kind != "fault_repair":
            raise InvalidValue(
                "ticket_id",
                f"ticket {ticket.number} is a {ticket.kind}, not a fault repair: only fault calls "
                "are linked to an outage",
            )
        if str(ticket.id) in self.tickets:
            raise InvalidValue(
                "ticket_id", f"ticket {ticket.number} is linked to {self.number} already"
            )
        if ticket.state not in LINKABLE:
            raise InvalidValue(
                "ticket_id",
                f"ticket {ticket.number} is {ticket.state.value}: only fault calls not yet "
                "restored on their own are linked",
            )
        if meta.occurred_at < ticket.received_at:
            raise InvalidValue(
                "occurred_at",
                f"lies before ticket {ticket.number} was received "
                f"({ticket.received_at.isoformat()})",
            )
        self._ticket_linked(
            meta=meta,
            ticket_id=str(ticket.id),
            ticket_number=ticket.number,
            ticket_department=ticket.department,
            received_at=ticket.received_at,
            feeder=ticket.details.get("feeder"),
        )

    @event("OutageTicketLinked")
    def _ticket_linked(
        self,
        meta: Meta,
        ticket_id: str,
        ticket_number: str,
        ticket_department: str | None,
        received_at: datetime,
        feeder: str | None,
    ) -> None:
        self.tickets.append(ticket_id)

    # ----------------------------------------------------------------- repair

    def _require(self, action: str) -> None:
        needed, _ = _NEXT[action]
        if self.state is not needed:
            raise self._refuse(action, f"{action} needs the incident {needed.value}")

    def dispatch_crew(self, meta: Meta, crew: str, promised_arrival_at: datetime) -> None:
        """Send the repair crew (one for the whole outage) with the arrival time promised."""
        self._require("dispatch_crew")
        if promised_arrival_at < meta.occurred_at:
            raise InvalidValue("promised_arrival_at", "lies before the dispatch time")
        self._crew_dispatched(meta=meta, crew=crew, promised_arrival_at=promised_arrival_at)

    @event("OutageCrewDispatched")
    def _crew_dispatched(self, meta: Meta, crew: str, promised_arrival_at: datetime) -> None:
        self.state = IncidentState.CREW_EN_ROUTE
        self.crew = crew
        self.promised_arrival_at = promised_arrival_at
        self.dispatched_at = meta.occurred_at

    def record_arrival(self, meta: Meta, crew: str, used_seconds: int) -> None:
        """The crew is on site: judged against the policy's arrival target (到达现场)."""
        self._require("record_arrival")
        due = self.sla["arrival"]["due_at"]
        self._crew_arrived(
            meta=meta,
            crew=crew,
            on_time=meta.occurred_at <= due,
            due_at=due,
            used_seconds=used_seconds,
        )

    @event("OutageCrewArrived")
    def _crew_arrived(
        self, meta: Meta, crew: str, on_time: bool, due_at: datetime, used_seconds: int
    ) -> None:
        self.state = IncidentState.ON_SITE
        self.arrived_at = meta.occurred_at

    def record_restoration(
        self, meta: Meta, crew: str, cause: str, answer: str, via: str, used_seconds: int
    ) -> None:
        """Power is back: judged against the restoration target; answers every linked call."""
        self._require("record_restoration")
        due = self.sla["restoration"]["due_at"]
        self._power_restored(
            meta=meta,
            crew=crew,
            cause=cause,
            answer=answer,
            via=via,
            on_time=meta.occurred_at <= due,
            due_at=due,
            used_seconds=used_seconds,
            tickets=list(self.tickets),
        )

    @event("OutagePowerRestored")
    def _power_restored(
        self,
        meta: Meta,
        crew: str,
        cause: str,
        answer: str,
        via: str,
        on_time: bool,
        due_at: datetime,
        used_seconds: int,
        tickets: list[str],
    ) -> None:
        self.state = IncidentState.RESTORED
        self.restored_at = meta.occurred_at
        self.cause = cause
        self.answer = answer
        self.via = via


@aggregate
class OutageLink(Recorded):
    """The claim that one fault ticket belongs to one incident (its id derives from the ticket)."""

    KIND = "outage_link"

    @event("OutageLinkClaimed")
    def __init__(
        self, id: UUID, meta: Meta, ticket_id: str, incident_id: str, incident_number: str
    ) -> None:
        self.ticket_id = ticket_id
        self.incident_id = incident_id
        self.incident_number = incident_number


# ------------------------------------------------------------------ commands


class OpenOutageIncident(c.Command):
    """Open an outage incident (停电事件) for an area and feeder."""

    area: c.Area
    feeder: c.Feeder
    repair_department: c.Name = Field(description="The department that repairs (e.g. station_1)")
    started_at: c.Instant | None = Field(
        default=None,
        description="When the outage began (business time); the repair targets count from it. "
        "Omitted: the opening's occurred_at. RFC 3339 with a UTC offset",
    )
    description: c.OptionalNote = ""


class OutageCommand(c.Command):
    """A command addressed to one outage incident."""

    incident_id: UUID


class LinkOutageTicket(OutageCommand):
    """Link one fault call to the incident (manual: the agent judges the suggestion)."""

    ticket_id: UUID


class DispatchOutageCrew(OutageCommand):
    """Send the crew for the whole outage."""

    crew: c.Name
    promised_arrival_at: c.Instant = Field(
        description="The arrival time promised to callers (business time), RFC 3339 with offset"
    )


class RecordOutageArrival(OutageCommand):
    """The crew is on site."""

    crew: c.Name


class RecordOutageRestoration(OutageCommand):
    """Power is restored: every linked call gets the restoration, a reply and this answer."""

    crew: c.Name
    cause: c.Text
    answer: c.Text = Field(description="What each linked caller is told (答复客户)")
    via: Via = "phone"


# ------------------------------------------------------------------ handlers


def _number(at: datetime, ident: UUID) -> str:
    """``TD`` (停电), the local date the incident was opened, six hex digits of its id."""
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo("Asia/Shanghai"))
    return f"TD{local.year:04d}{local.month:02d}{local.day:02d}{ident.hex[:6].upper()}"


def _milestone(desk: Any, policy: Any, name: str, start: datetime) -> dict[str, Any]:
    spec = policy.milestone(name)
    clock = desk.catalogue.clock_for(spec)
    return {
        "target_seconds": spec.target_seconds,
        "target": spec.target,
        "clock": spec.clock,
        "calendar": spec.calendar,
        "due_at": clock.add(start, spec.target_seconds),
    }


def _used(desk: Any, incident: OutageIncident, name: str, at: datetime) -> int:
    """Seconds of the milestone's clock (24x7 or business) from the outage's start to ``at``."""
    policy = desk.catalogue.policy(incident.sla["policy_id"], incident.sla["policy_version"])
    clock = desk.catalogue.clock_for(policy.milestone(name))
    return int(clock.between(incident.started_at, at))


@handles(OpenOutageIncident)
def open_incident(desk: Any, cmd: OpenOutageIncident) -> Any:
    _refuse_role(cmd)
    ident = desk._derived_id("outage", cmd.command_id)
    if ident is not None and (existing := desk._find(ident)) is not None:
        return desk._outcome(existing, [], changed=False)
    meta = desk._meta(cmd)
    started = cmd.started_at or meta.occurred_at
    if started > meta.occurred_at:
        raise InvalidValue("started_at", "lies after the incident is opened")
    if meta.occurred_at - started > timedelta(days=7):
        raise InvalidValue("started_at", "lies more than 7 days before the incident is opened")
    desk.directory.department(cmd.repair_department, meta.occurred_at)  # refuses an unknown one
    facts = TicketFacts(
        kind="fault_repair", ticket_class="repair", category="outage", area=cmd.area
    )
    policy = desk.catalogue.match(facts, started)
    sla = {
        "policy_id": policy.id,
        "policy_version": policy.version,
        "arrival": _milestone(desk, policy, "arrival", started),
        "restoration": _milestone(desk, policy, "restoration", started),
    }
    ident = ident or uuid.uuid4()
    with recording_clock(desk.clock):
        incident = OutageIncident(
            id=ident,
            meta=meta,
            number=_number(meta.occurred_at, ident),
            area=cmd.area,
            feeder=cmd.feeder,
            department=cmd.repair_department,
            started_at=started,
            description=cmd.description,
            sla=sla,
        )
    return desk._outcome(incident, desk._save_all(incident))


@handles(LinkOutageTicket, DispatchOutageCrew, RecordOutageArrival, RecordOutageRestoration)
def act_on_incident(desk: Any, cmd: OutageCommand) -> Any:
    _refuse_role(cmd)
    incident: OutageIncident = desk._load(OutageIncident, cmd.incident_id, "outage incident")
    if incident.seen(cmd.command_id):
        return desk._outcome(incident, [], changed=False)
    desk._check_version(incident, cmd.expected_version)
    meta = desk._meta(cmd)
    touched: list[Recorded] = [incident]
    with recording_clock(desk.clock):
        if isinstance(cmd, LinkOutageTicket):
            touched += _link(desk, incident, cmd, meta)
        else:
            tickets = [desk._load(Ticket, UUID(t), "ticket") for t in incident.tickets]
            _refuse_earlier_than([incident, *tickets], meta)
            match cmd:
                case DispatchOutageCrew():
                    incident.dispatch_crew(meta, cmd.crew, cmd.promised_arrival_at)
                case RecordOutageArrival():
                    used = _used(desk, incident, "arrival", meta.occurred_at)
                    incident.record_arrival(meta, cmd.crew, used)
                case RecordOutageRestoration():
                    used = _used(desk, incident, "restoration", meta.occurred_at)
                    incident.record_restoration(
                        meta, cmd.crew, cmd.cause, cmd.answer, cmd.via, used
                    )
            for ticket in tickets:
                _carry(desk, incident, ticket, cmd, meta)
            touched += tickets
    out = desk._outcome(incident, desk._save_all(*touched))
    out.extra["tickets"] = len(touched) - 1
    return out


def _refuse_role(cmd: c.Command) -> None:
    if cmd.role not in ACTORS:
        raise InvalidValue("role", "agents and supervisors handle outage incidents")


def _link(desk: Any, incident: OutageIncident, cmd: LinkOutageTicket, meta: Meta) -> list[Any]:
    ticket: Ticket = desk._load(Ticket, cmd.ticket_id, "ticket")
    claim_id = link_id(ticket.id)
    claimed = desk._find(claim_id)
    if claimed is not None:
        raise InvalidValue(
            "ticket_id",
            f"ticket {ticket.number} is linked to outage {claimed.incident_number} already",
        )
    incident.link(meta, ticket)
    _refuse_earlier_than([incident, ticket], meta)
    claim = OutageLink(
        id=claim_id,
        meta=meta,
        ticket_id=str(ticket.id),
        incident_id=str(incident.id),
        incident_number=incident.number,
    )
    _carry(desk, incident, ticket, cmd, meta)
    return [claim, ticket]


def _refuse_earlier_than(aggregates: list[Any], meta: Meta) -> None:
    """A step is recorded on the incident and on each linked ticket: it must not precede the
    latest fact of any of them (the order of facts in business time is their story)."""
    for agg in aggregates:
        latest = agg.latest_fact
        if latest is not None and meta.occurred_at < latest[0]:
            raise InvalidValue(
                "occurred_at",
                f"{meta.occurred_at.isoformat()} lies before {agg.number}'s latest fact, "
                f"{latest[1]} at {latest[0].isoformat()}",
            )


def _carry(desk: Any, incident: OutageIncident, ticket: Ticket, cmd: Any, meta: Meta) -> None:
    """Bring a linked ticket to the incident's stage with the ticket's own commands."""
    who: dict[str, Any] = {
        "actor_id": cmd.actor_id,
        "role": cmd.role,
        "department": cmd.department,
        "channel": cmd.channel,
        "occurred_at": meta.occurred_at,
        "correlation_id": meta.correlation_id,
        "causation_id": str(incident.id),
        "ticket_id": ticket.id,
    }
    for step in _steps(incident, ticket, who):
        policy = f"{ticket.policy.get('id')}@{ticket.policy.get('version')}"
        ctx = Ctx(desk._meta(step, policy_version=policy), desk.catalogue)
        first = len(ticket.pending_events)
        desk._apply(ticket, step, ctx)
        fact = ticket.pending_events[first]  # the step's own fact (SLA facts follow it)
        ticket.review_sla(
            ctx,
            {
                "event": type(fact).__name__,
                "version": fact.originator_version,
                "occurred_at": ctx.at,
            },
        )


_ORDER = [State.RECEIVED, State.DISPATCHED, State.CREW_EN_ROUTE, State.ON_SITE, State.RESTORED]
_REACHED = {
    IncidentState.OPEN: State.RECEIVED,
    IncidentState.CREW_EN_ROUTE: State.CREW_EN_ROUTE,
    IncidentState.ON_SITE: State.ON_SITE,
    IncidentState.RESTORED: State.CUSTOMER_ANSWERED,
}


def _steps(incident: OutageIncident, ticket: Ticket, who: dict[str, Any]) -> list[c.TicketCommand]:
    """The ticket commands that take ``ticket`` from its state to the incident's stage."""
    goal = _REACHED[incident.state]
    state = {State.REOPENED: State.RECEIVED, State.ACCEPTED: State.DISPATCHED}.get(
        ticket.state, ticket.state
    )
    if goal is State.RECEIVED or state not in _ORDER:
        return []
    crew = incident.crew or "crew"
    at = who["occurred_at"]
    steps: list[c.TicketCommand] = []
    position = _ORDER.index(state)
    if position < 1:
        steps.append(c.Dispatch(**who, to_department=incident.department, owner=crew))
    if position < 2:
        promised = max(incident.promised_arrival_at or at, at)
        steps.append(c.DispatchCrew(**who, crew=crew, promised_arrival_at=promised))
    if goal is State.CREW_EN_ROUTE:
        return steps
    if position < 3:
        steps.append(c.RecordArrival(**who, crew=crew))
    if goal is State.ON_SITE:
        return steps
    if position < 4:
        steps.append(c.RecordRestoration(**who, crew=crew, cause=incident.cause or "outage"))
    steps.append(
        c.Reply(
            **who,
            result=f"outage {incident.number}: power restored ({incident.cause})",
            measures=f"repaired once for the whole feeder {incident.feeder}",
        )
    )
    steps.append(c.Answer(**who, content=incident.answer or "power restored", via=incident.via))
    return steps
