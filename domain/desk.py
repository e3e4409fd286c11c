"""The desk: casetrail's eventsourcing ``Application``, which turns commands into events.

It is the service layer of the write side. It loads aggregates, checks idempotency and
expected versions, builds each event's metadata, asks the aggregate to decide, and saves all
the aggregates a command touched in one atomic write. Time comes from the injected ``clock``
(the recording time of events) and from the command (business time, ``occurred_at``); the SLA
catalogue and the org directory are passed in, never read from files here.
"""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Recording,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import get_topic

from domain import commands as c
from domain import extensions
from domain.base import Meta, Recorded, Role, recording_clock
from domain.callback import Callback, CallbackState
from domain.complaint import Complaint
from domain.customer import Customer
from domain.errors import DomainError, InvalidValue, NotFound, VersionConflict
from domain.org import OrgDirectory
from domain.service_request import ServiceRequest
from domain.sla.policy import PolicyCatalogue, SlaPolicy, TicketFacts
from domain.ticket import Ctx, State, Ticket
from domain.transcoder import FastJSONTranscoder

# Ids derived from command ids make a repeated intake find the ticket it created.
ID_NAMESPACE = uuid.UUID("6f1c2b9e-4d0a-4c55-9a57-0d7d3e6c8a10")
NUMBER_PREFIX = {
    "complaint": "TS",  # 投诉
    "fault_repair": "GZ",  # 故障
    "new_connection": "YK",  # 业扩
    "meter_dispute": "JL",  # 计量
    "billing_adjustment": "DF",  # 电费
    "inquiry": "ZX",  # 咨询
    "suggestion": "JY",  # 建议
    "report": "JB",  # 举报
}
# Business time may lag the recording (a call logged later), never lead it by more than this.
FUTURE_SKEW = timedelta(minutes=5)


class MetaAsDict(Transcoding):
    type = Meta
    name = "casetrail_meta"

    def encode(self, obj: Meta) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Meta:
        return Meta.from_dict(data)


@dataclass
class Outcome:
    """What a command did: the aggregate as it now stands and the events it recorded."""

    id: UUID
    number: str
    kind: str
    state: str
    version: int
    changed: bool
    events: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class Desk(Application[UUID]):
    """Handles every casetrail command; the only writer of the event store."""

    name = "casetrail"

    def __init__(
        self,
        *,
        catalogue: PolicyCatalogue,
        directory: OrgDirectory,
        clock: Callable[[], datetime],
        env: dict[str, str] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.directory = directory
        self.clock = clock
        super().__init__(env=env)
        # A mapper that seals personal data (``MAPPER_TOPIC``) needs the recorder, made after it.
        bind = getattr(self.mapper, "bind", None)
        if bind is not None:
            bind(self)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """``Application.save`` for aggregates only, without its protocol checks.

        The library tells events from aggregates with ``isinstance`` against runtime-checkable
        protocols, which Python 3.11 answers by listing the protocol's members on every call
        (~30 µs of an intake's ~600). The desk only ever saves aggregates.
        """
        begin = getattr(self.mapper, "begin_write", None)
        if begin is not None:  # a sealing mapper forgets keys made for a write that failed
            begin()
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for agg in objs:
            processing_event.events.extend(agg.collect_events())
            processing_event.aggregates[agg.id] = agg
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def close(self) -> None:
        close_writers = getattr(self.recorder, "close_writers", None)
        if close_writers is not None:  # a recorder with connections of its own
            close_writers()
        super().close()

    def construct_transcoder(self) -> Transcoder:
        transcoder = FastJSONTranscoder()  # the library's JSON, written with less overhead
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MetaAsDict())

    # ---------------------------------------------------------------- helpers

    def _meta(self, cmd: c.Command, policy_version: str | None = None) -> Meta:
        now = self.clock()
        occurred = cmd.occurred_at or now
        if occurred > now + FUTURE_SKEW:
            raise InvalidValue("occurred_at", f"{occurred.isoformat()} lies in the future")
        return Meta(
            actor=cmd.actor_id,
            role=cmd.role.value,
            department=cmd.department,
            channel=cmd.channel.value,
            occurred_at=occurred,
            correlation_id=cmd.correlation_id or cmd.command_id or uuid.uuid4().hex,
            causation_id=cmd.causation_id,
            command_id=cmd.command_id,
            policy_version=policy_version,
            backdated_reason=getattr(cmd, "backdated_reason", None) or None,
        )

    def _load(self, cls: type[Recorded], ident: UUID, what: str, *, copy: bool = True) -> Any:
        """Load an aggregate; ``copy=False`` only for reading (the cached object is shared)."""
        try:
            agg: Any = self.repository.get(ident, deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            raise NotFound(what, str(ident)) from None
        if not isinstance(agg, cls):
            raise NotFound(what, str(ident))
        return agg

    def _peek(self, cls: type[Recorded], ident: UUID, what: str) -> tuple[Any, tuple[UUID, int]]:
        """Load an aggregate only to copy facts from it; returns it and the version read.

        When the recorder can refuse a write whose reads have moved on (``checks_unchanged``),
        a cached aggregate is taken as it is, without the query that brings it up to date:
        pass the returned pair to :meth:`_commit` as ``unchanged``. Otherwise it is loaded as
        usual (brought up to date), and the pair is merely informative.
        """
        agg = self._in_cache(cls, ident) if self._checks_reads else None
        if agg is None:
            agg = self._load(cls, ident, what, copy=False)
        return agg, (agg.id, agg.version)

    @property
    def _checks_reads(self) -> bool:
        """Whether the recorder refuses a write whose ``unchanged`` reads have moved on."""
        return bool(getattr(self.recorder, "checks_unchanged", False))

    def _in_cache(self, cls: type[Recorded], ident: UUID) -> Any | None:
        """The cached aggregate itself, as it is (not brought up to date), or None."""
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            agg = cache.get(ident)
        except KeyError:
            return None
        return agg if isinstance(agg, cls) else None

    def _commit(self, *aggregates: Aggregate, unchanged: tuple[tuple[UUID, int], ...] = ()) -> None:
        try:
            if unchanged and self._checks_reads:
                self.save(*aggregates, unchanged=unchanged)
            else:
                self.save(*aggregates)
        except IntegrityError:
            first = aggregates[0]
            raise VersionConflict(
                ticket=getattr(first, "number", str(first.id)),
                expected=first.version - len(first.pending_events),
                actual=None,
            ) from None
        # The library caches what it loads, not what it saves (with fast-forward on): the
        # next command would query and replay the events just written. Cache them as saved.
        cache = self.repository.cache
        if cache is not None:
            for agg in aggregates:
                cache.put(agg.id, agg)

    @staticmethod
    def _check_version(agg: Recorded, expected: int | None) -> None:
        if expected is not None and expected != agg.version:
            raise VersionConflict(
                ticket=getattr(agg, "number", str(agg.id)), expected=expected, actual=agg.version
            )

    @staticmethod
    def _outcome(agg: Any, pending: Iterable[Any], changed: bool = True) -> Outcome:
        return Outcome(
            id=agg.id,
            number=getattr(agg, "number", str(agg.id)),
            kind=getattr(agg, "kind", type(agg).__name__.lower()),
            state=str(getattr(agg, "state", "")),
            version=agg.version,
            changed=changed,
            events=[type(e).__name__ for e in pending],
        )

    def _save_all(self, *aggregates: Recorded) -> list[Any]:
        """Save the aggregates atomically; return the events saved (first aggregate's)."""
        pending = list(aggregates[0].pending_events)
        self._commit(*aggregates)
        return pending

    # -------------------------------------------------------------- customers

    def register_customer(self, cmd: c.RegisterCustomer) -> Outcome:
        ident = self._derived_id("customer", cmd.command_id)
        if ident is not None and (existing := self._find(ident)) is not None:
            return self._outcome(existing, [], changed=False)
        customer = self._new_customer(
            cmd,
            cmd.name,
            cmd.customer_type,
            cmd.area,
            cmd.voltage,
            cmd.station,
            cmd.phone,
            cmd.address,
            cmd.group_id,
            ident,
        )
        return self._outcome(customer, self._save_all(customer))

    def _new_customer(
        self,
        cmd: c.Command,
        name: str,
        customer_type: str,
        area: str,
        voltage: str,
        station: str,
        phone: str | None,
        address: str | None,
        group_id: str | None,
        ident: UUID | None,
    ) -> Customer:
        Customer.check_new(name, customer_type, area, voltage)
        meta = self._meta(cmd)
        with recording_clock(self.clock):
            return Customer(
                meta=meta,
                name=name,
                customer_type=customer_type,
                area=area,
                voltage=voltage,
                station=station,
                contact={"phone": phone, "address": address},
                group_id=group_id,
                id=ident or uuid.uuid4(),
            )

    def assign_grade(self, cmd: c.AssignGrade) -> Outcome:
        customer: Customer = self._load(Customer, cmd.customer_id, "customer")
        if customer.seen(cmd.command_id):
            return self._outcome(customer, [], changed=False)
        self._check_version(customer, cmd.expected_version)
        with recording_clock(self.clock):
            customer.assign_grade(self._meta(cmd), cmd.grade, cmd.key_account, cmd.basis)
        return self._outcome(customer, self._save_all(customer))

    def assign_account_manager(self, cmd: c.AssignAccountManager) -> Outcome:
        customer: Customer = self._load(Customer, cmd.customer_id, "customer")
        if customer.seen(cmd.command_id):
            return self._outcome(customer, [], changed=False)
        self._check_version(customer, cmd.expected_version)
        with recording_clock(self.clock):
            customer.assign_account_manager(self._meta(cmd), cmd.manager)
        return self._outcome(customer, self._save_all(customer))

    def erase_customer(self, cmd: c.EraseCustomer) -> Outcome:
        """Destroy a customer's personal data: record it, then destroy their key.

        The event names the customer's tickets, found in the log (their openings carry a copy
        of the name, phone and address), so the read models can blank those copies. An
        intake decided on the customer before the erasure may commit while the log is read:
        the log is read again up to the erasure and any ticket found then is recorded by a
        second ``CustomerErased``; after the erasure an intake is refused (the customer's
        version moved, so a cached read is checked afresh). The key goes last: if that
        fails, erasing again finishes it. Stores that recorded the customer before personal
        data was sealed hold it in clear, which no key can take back: refused, saying so.
        """
        customer: Customer = self._load(Customer, cmd.customer_id, "customer")
        sealing = getattr(self.mapper, "forget", None)
        if sealing is None:
            raise InvalidValue(
                "customer_id", "this store does not seal personal data: nothing can be erased"
            )
        start = 0
        tickets: list[str] = []
        if not customer.erased:
            self._check_version(customer, cmd.expected_version)
            start, tickets = self._tickets_of(customer.id, 0)
            self._refuse_unsealed(customer.id, tickets)
            with recording_clock(self.clock):
                customer.erase(self._meta(cmd), cmd.reason, tickets)
            pending = self._save_all(customer)
        else:
            pending = []
        while True:  # tickets opened while the log was read (see above)
            start, late = self._tickets_of(customer.id, start)
            late = [t for t in late if t not in customer.tickets_erased]
            if not late:
                break
            with recording_clock(self.clock):
                customer.erase(self._meta(cmd), cmd.reason, late)
            pending += self._save_all(customer)
        sealing(str(customer.id))
        self._forget_cached(customer.id, customer.tickets_erased)
        return self._outcome(customer, pending, changed=bool(pending))

    def _tickets_of(self, customer_id: UUID, start: int) -> tuple[int, list[str]]:
        """(last position read, ids of tickets opened for the customer after ``start``)."""
        topics = [
            get_topic(getattr(cls, name))
            for cls, name in (
                (Complaint, "ComplaintReceived"),
                (ServiceRequest, "ServiceRequestReceived"),
            )
        ]
        wanted = str(customer_id)
        found: list[str] = []
        while True:
            page = self.recorder.select_notifications(
                start=start, limit=1000, topics=topics, inclusive_of_start=False
            )
            for note in page:
                opened: Any = self.mapper.to_domain_event(note)
                if str(opened.details.get("customer", {}).get("id")) == wanted:
                    found.append(str(note.originator_id))
            if len(page) < 1000:
                return (page[-1].id if page else start), found
            start = page[-1].id

    def _refuse_unsealed(self, customer_id: UUID, tickets: list[str]) -> None:
        unsealed = getattr(self.mapper, "unsealed", None)
        if unsealed is None:
            return
        ids = [customer_id, *(UUID(t) for t in tickets)]
        found = unsealed(self.recorder, ids)
        if found:
            raise InvalidValue(
                "customer_id",
                f"customer {customer_id} was recorded before personal data was sealed "
                f"({len(found)} events hold it in clear, e.g. {found[0]}): destroying a key "
                "cannot erase them",
            )

    def _forget_cached(self, customer_id: UUID, tickets: Iterable[str]) -> None:
        """Drop the cached customer and tickets: they hold the personal data in clear."""
        cache = self.repository.cache
        if cache is None:
            return
        for ident in (customer_id, *(UUID(t) for t in tickets)):
            with contextlib.suppress(KeyError):
                cache.get(ident, evict=True)

    # ----------------------------------------------------------------- intake

    @staticmethod
    def _derived_id(prefix: str, command_id: str | None) -> UUID | None:
        return uuid.uuid5(ID_NAMESPACE, f"{prefix}:{command_id}") if command_id else None

    def _find(self, ident: UUID) -> Any | None:
        try:
            return self.repository.get(ident)
        except AggregateNotFoundError:
            return None

    def facts_for(self, ticket: Ticket) -> TicketFacts:
        return _facts(
            ticket.kind,
            ticket.ticket_class,
            ticket.category,
            ticket.priority,
            ticket.customer,
            ticket.details,
        )

    def receive(self, cmd: c.ReceiveTicket, *, fresh: bool = False) -> Outcome:
        """Intake (受理): create the ticket, bind the SLA policy, start the first clocks."""
        derived = self._derived_id("ticket", cmd.command_id)
        # No lookup first: a repeated intake collides on the derived id when it is saved,
        # and is answered from the stored ticket then (one query less for every new ticket).
        ident = derived or uuid.uuid4()
        new_customer: Customer | None = None
        read: tuple[tuple[UUID, int], ...] = ()
        if cmd.customer_id is not None:
            customer: Customer
            if fresh:
                customer = self._load(Customer, cmd.customer_id, "customer", copy=False)
                if self._checks_reads:  # still checked: the customer may change again meanwhile
                    read = ((customer.id, customer.version),)
            else:
                # Grade, voltage and area are copied into the ticket: the write is refused
                # if the customer changed since this (cached) read.
                customer, version = self._peek(Customer, cmd.customer_id, "customer")
                read = (version,)
        elif cmd.customer_name:
            new_customer = customer = self._new_customer(
                cmd,
                cmd.customer_name,
                "residential",
                cmd.area or "urban",
                cmd.voltage or "lv_residential",
                cmd.station or "station_1",
                cmd.phone,
                cmd.address,
                None,
                self._derived_id("customer-of", str(ident)),
            )
        else:
            raise InvalidValue("customer_id", "give customer_id or customer_name")
        customer.refuse_if_erased("customer_id")
        snapshot = customer.snapshot_for_ticket()
        details: dict[str, Any] = {
            "customer": snapshot,
            "category": cmd.category,
            "priority": cmd.priority,
            "ticket_class": "repair" if cmd.kind == "fault_repair" else "non_repair",
            "content": cmd.content,
            "channel": cmd.channel.value,
            "area": cmd.area or snapshot["area"],
            "voltage": cmd.voltage or snapshot["voltage"],
            "station": cmd.station or snapshot["station"],
            "contact": {
                "phone": cmd.phone or customer.contact.get("phone"),
                "address": cmd.address or customer.contact.get("address"),
            },
        }
        if cmd.feeder is not None:  # only when given: tickets without one keep their shape
            details["feeder"] = cmd.feeder
        meta = self._meta(cmd)
        details["department"] = self.directory.front_office(meta.occurred_at)
        facts = _facts(
            cmd.kind, details["ticket_class"], cmd.category, cmd.priority, snapshot, details
        )
        policy = self.catalogue.match(facts, meta.occurred_at)
        meta = self._meta_with_policy(meta, policy)
        number = _number(cmd.kind, meta.occurred_at, ident)
        with recording_clock(self.clock):
            ticket: Ticket
            if cmd.kind == "complaint":
                ticket = Complaint(meta=meta, number=number, details=details, id=ident)
            else:
                ticket = ServiceRequest(
                    meta=meta, number=number, kind=cmd.kind, details=details, id=ident
                )
            ticket.bind_sla(Ctx(meta, self.catalogue), policy, self.catalogue.version)
            fresh_caller = new_customer is not None
            also = [
                a
                for hook in extensions.INTAKE_HOOKS
                for a in hook(self, ticket, meta, fresh_caller)
            ]
        pending = list(ticket.pending_events)
        try:
            self._commit(
                *(a for a in (new_customer, ticket, *also) if a is not None), unchanged=read
            )
        except VersionConflict:
            if derived is None or (existing := self._find(derived)) is None:
                if read and not fresh:  # the customer changed since the cached read: again
                    return self.receive(cmd, fresh=True)
                raise
            return self._outcome(existing, [], changed=False)
        out = self._outcome(ticket, pending)
        out.extra["deadlines"] = ticket.sla_summary()
        return out

    @staticmethod
    def _meta_with_policy(meta: Meta, policy: SlaPolicy) -> Meta:
        return replace(meta, policy_version=f"{policy.id}@{policy.version}")

    # ---------------------------------------------------------------- tickets

    def ticket(
        self, ticket_id: UUID, as_of: datetime | None = None, *, copy: bool = True
    ) -> Ticket:
        """The ticket now, or as it was recorded up to ``as_of`` (the recording horizon: what
        the system knew then; :meth:`ticket_at` gives it at a business instant).

        ``copy=False`` hands out the cached object itself, without a deep copy: only for
        callers that read it (presenting, permission checks) and never change it.
        """
        if as_of is None:
            return self._load(Ticket, ticket_id, "ticket", copy=copy)  # type: ignore[no-any-return]
        version = 0
        for ev in self.events.get(ticket_id):
            if getattr(ev, "timestamp") > as_of:  # noqa: B009 - the protocol type hides it
                break
            version = ev.originator_version
        if version == 0:
            raise NotFound("ticket", f"{ticket_id} as of {as_of.isoformat()}")
        agg: Any = self.repository.get(ticket_id, version=version)
        if not isinstance(agg, Ticket):
            raise NotFound("ticket", str(ticket_id))
        return agg

    def ticket_at(
        self, ticket_id: UUID, at: datetime, as_known_at: datetime | None = None
    ) -> tuple[Ticket, list[Any]]:
        """The ticket at business instant ``at``, from the events recorded by ``as_known_at``
        (default: all): each event that had happened by ``at`` (``occurred_at``), in the order
        recorded. Returns the ticket and the events that happened by ``at`` but could not be
        applied without later ones (a late entry that depends on a fact dated after ``at``):
        an auditor is told, never shown a silently different history.
        """
        agg: Any = None
        unplaced: list[Any] = []
        stored: list[Any] = list(self.events.get(ticket_id))
        for ev in stored:
            if as_known_at is not None and getattr(ev, "timestamp") > as_known_at:  # noqa: B009
                break
            meta = getattr(ev, "meta", None)
            if meta is None or meta.occurred_at > at:
                continue
            if agg is None:
                agg = ev.mutate(None)
                continue
            trial = copy.deepcopy(agg)
            trial.version = ev.originator_version - 1  # the events skipped before it
            try:
                agg = ev.mutate(trial)
            except Exception:  # its state needs a fact dated after ``at``
                unplaced.append(ev)
        when = at.isoformat() + ("" if as_known_at is None else f" as known {as_known_at}")
        if not isinstance(agg, Ticket):
            raise NotFound("ticket", f"{ticket_id} at {when}")
        return agg, unplaced

    def history(self, ticket_id: UUID) -> list[Any]:
        """Every event of a ticket, oldest first."""
        self._load(Recorded, ticket_id, "ticket")
        return list(self.events.get(ticket_id))

    def act(self, cmd: c.TicketCommand) -> Outcome:
        """Carry out one lifecycle action on one ticket.

        The ticket is first taken from the desk's cache as it is, without the query that
        brings it up to date: another process (an SLA clock, a second API server) may have
        moved it on. That is safe because a write decided on an old version collides with
        the newer one when saved, and any refusal of a decision taken on the cached copy is
        tried once more on the ticket as stored, so what the caller sees is the answer for
        the ticket as it is.
        """
        cached = self._in_cache(Ticket, cmd.ticket_id)
        if cached is not None:
            try:
                return self._act(copy.deepcopy(cached), cmd)  # a private copy to decide on
            except DomainError:
                pass
        return self._act(self._load(Ticket, cmd.ticket_id, "ticket"), cmd)

    def _act(self, ticket: Ticket, cmd: c.TicketCommand) -> Outcome:
        if ticket.seen(cmd.command_id):
            return self._outcome(ticket, [], changed=False)
        self._check_version(ticket, cmd.expected_version)
        meta = self._meta(
            cmd, policy_version=f"{ticket.policy.get('id')}@{ticket.policy.get('version')}"
        )
        if meta.occurred_at < ticket.received_at:
            raise InvalidValue(
                "occurred_at",
                f"lies before the ticket was received ({ticket.received_at.isoformat()})",
            )
        late = not isinstance(cmd, c.SlaAction)
        if late:
            self._check_backdated(ticket, cmd, meta)
        ctx = Ctx(meta, self.catalogue)
        with recording_clock(self.clock):
            changed = self._apply(ticket, cmd, ctx)
            if changed and late:
                # A fact may show a recorded warning or breach wrong, or credited to the wrong
                # department: correcting events go in the same write.
                ticket.review_sla(ctx, _evidence(ticket))
        if not changed:
            return self._outcome(ticket, [], changed=False)
        return self._outcome(ticket, self._save_all(ticket))

    @staticmethod
    def _check_backdated(ticket: Ticket, cmd: c.TicketCommand, meta: Meta) -> None:
        """A fact dated before the ticket's latest one is a late entry: say so, with why."""
        if cmd.backdated and not cmd.backdated_reason:
            raise InvalidValue("backdated_reason", "a backdated fact needs the reason it is late")
        if cmd.backdated_reason and not cmd.backdated:
            raise InvalidValue("backdated", "backdated_reason is given: set backdated too")
        latest = ticket.latest_fact
        if latest is not None and meta.occurred_at < latest[0] and not cmd.backdated:
            raise InvalidValue(
                "occurred_at",
                f"{meta.occurred_at.isoformat()} lies before the ticket's latest fact, "
                f"{latest[1]} at {latest[0].isoformat()}; to enter it late, send backdated: "
                "true with a backdated_reason",
            )

    def _apply(self, t: Ticket, cmd: c.TicketCommand, ctx: Ctx) -> bool:
        """Route a command to the aggregate; False when it had nothing to do (idempotent)."""
        at = ctx.at
        match cmd:
            case c.Dispatch():
                dept = cmd.to_department or self.directory.route(
                    t.kind,
                    voltage=t.details["voltage"],
                    station=t.details["station"],
                    at=at,
                    category=t.category,
                )
                self.directory.department(dept, at)
                t.dispatch(ctx, dept, cmd.owner, cmd.note)
            case c.Transfer():
                self.directory.department(cmd.to_department, at)
                t.transfer(ctx, cmd.to_department, cmd.owner, cmd.reason)
            case c.HandOver():
                self.directory.department(cmd.to_department, at)
                t.hand_over(ctx, cmd.to_department, cmd.reason)
            case c.Classify() | c.Reclassify():
                if isinstance(cmd, c.Classify):
                    if not isinstance(t, Complaint):
                        t._require("classify")
                    assert isinstance(t, Complaint)
                    t.classify(ctx, cmd.category, cmd.priority, cmd.ticket_class)
                else:
                    t.reclassify(ctx, cmd.category, cmd.priority, cmd.ticket_class)
                self._rebind_if_needed(t, ctx, getattr(cmd, "basis", None), "reclassified")
            case c.RebindSla():
                when = t.received_at if cmd.basis == "from_receipt" else at
                policy = self.catalogue.match(self.facts_for(t), when)
                t.rebind_sla(ctx, policy, self.catalogue.version, cmd.basis, cmd.reason)
            case c.Accept():
                t.accept(ctx, cmd.owner)
            case c.Urge():
                t.urge(ctx, cmd.note)
            case c.Supervise():
                t.supervise(ctx, cmd.reason)
            case c.ContactCustomer():
                t.contact_customer(ctx, cmd.note)
            case c.Pause():
                t.pause(ctx, cmd.reason)
            case c.Resume():
                t.resume(ctx)
            case c.Reply():
                t.reply(ctx, cmd.result, cmd.measures)
            case c.Answer():
                t.answer(ctx, cmd.content, cmd.via)
            case c.Close():
                t.close(ctx, cmd.note)
            case c.Reopen():
                t.reopen(ctx, cmd.reason)
            case c.Withdraw():
                t.withdraw(ctx, cmd.reason)
            case c.OpenDispute():
                t.open_dispute(ctx, cmd.subject)
            case c.ResolveDispute():
                t.resolve_dispute(ctx, cmd.outcome)
            case c.ResolveAtFirstContact():
                t.resolve_at_first_contact(ctx, cmd.answer)
            case c.Verify() | c.Reject() | c.RecordCause():
                if not isinstance(t, Complaint):
                    t._require(cmd.action)
                assert isinstance(t, Complaint)
                if isinstance(cmd, c.Verify):
                    t.verify(ctx, cmd.note)
                elif isinstance(cmd, c.Reject):
                    t.reject(ctx, cmd.reason, cmd.note)
                else:
                    t.record_cause(ctx, cmd.cause, cmd.solution)
            case (
                c.DispatchCrew()
                | c.RecordArrival()
                | c.RecordRestoration()
                | c.Step()
                | c.RecordTest()
                | c.ProposeAdjustment()
            ):
                if not isinstance(t, ServiceRequest):
                    t._require(cmd.action)
                assert isinstance(t, ServiceRequest)
                self._service_step(t, cmd, ctx)
            case c.RaiseSlaWarning():
                return t.raise_sla_warning(ctx, cmd.milestone, cmd.cycle, cmd.threshold)
            case c.RecordSlaBreach():
                return t.record_breach(ctx, cmd.milestone, cmd.cycle)
            case c.EscalateSla():
                return t.escalate(ctx, cmd.milestone, cmd.cycle, cmd.level)
            case _:
                raise InvalidValue("action", f"unknown action {cmd.action!r}")
        return True

    @staticmethod
    def _service_step(t: ServiceRequest, cmd: c.TicketCommand, ctx: Ctx) -> None:
        match cmd:
            case c.DispatchCrew():
                t.dispatch_crew(ctx, cmd.crew, cmd.promised_arrival_at)
            case c.RecordArrival():
                t.record_arrival(ctx, cmd.crew)
            case c.RecordRestoration():
                t.record_restoration(ctx, cmd.crew, cmd.cause)
            case c.RecordTest():
                t.record_test(ctx, cmd.owner, cmd.result, cmd.error_percent)
            case c.ProposeAdjustment():
                t.propose_adjustment(ctx, cmd.owner, cmd.kwh, cmd.amount_yuan)
            case c.Step():
                t._require(cmd.action)
                getattr(t, cmd.action)(ctx, cmd.owner, cmd.note)

    def _rebind_if_needed(self, t: Ticket, ctx: Ctx, basis: str | None, why: str) -> None:
        """Re-bind only when the new facts match another policy *at receipt*.

        A policy version that came into force after intake is not a reason to re-bind: the
        ticket keeps the version bound when it was received unless its facts changed.
        """
        at_receipt = self.catalogue.match(self.facts_for(t), t.received_at)
        if (at_receipt.id, at_receipt.version) == (t.policy.get("id"), t.policy.get("version")):
            return
        chosen = basis or at_receipt.rebind_basis
        policy = (
            at_receipt
            if chosen == "from_receipt"
            else self.catalogue.match(self.facts_for(t), ctx.at)
        )
        t.rebind_sla(
            ctx,
            policy,
            self.catalogue.version,
            chosen,
            f"{why}: now matches {policy.id}@{policy.version}",
        )

    # -------------------------------------------------------------- callbacks

    def schedule_callback(self, cmd: c.ScheduleCallback) -> Outcome:
        """Schedule a callback; a post-service one moves its ticket to CALLBACK_PENDING."""
        ident = self._derived_id("callback", cmd.command_id)
        if ident is not None and (existing := self._find(ident)) is not None:
            return self._outcome(existing, [], changed=False)
        Callback.check_new(cmd.kind, cmd.max_attempts)
        meta = self._meta(cmd)
        ticket: Ticket | None = None
        if cmd.kind == "post_service":
            if cmd.ticket_id is None:
                raise InvalidValue("ticket_id", "a post-service callback needs its ticket")
            ticket = self._load(Ticket, cmd.ticket_id, "ticket")
            ticket._require("request_callback")
            customer_id = UUID(ticket.customer["id"]) if ticket.customer.get("id") else None
        else:
            if cmd.customer_id is None:
                raise InvalidValue("customer_id", "a periodic callback needs its customer")
            self._load(Customer, cmd.customer_id, "customer")
            customer_id = cmd.customer_id
        due = cmd.due_at or self._callback_due(ticket, meta.occurred_at)
        ident = ident or uuid.uuid4()
        with recording_clock(self.clock):
            callback = Callback(
                meta=meta,
                number=_number("callback", meta.occurred_at, ident),
                kind=cmd.kind,
                customer_id=customer_id,
                source_ticket_id=ticket.id if ticket else None,
                source_number=ticket.number if ticket else None,
                department=ticket.department if ticket else None,
                due_at=due,
                max_attempts=cmd.max_attempts,
                id=ident,
            )
            if ticket is not None:
                ticket.request_callback(Ctx(meta, self.catalogue), str(callback.id))
        pending = list(callback.pending_events)
        self._commit(*(a for a in (callback, ticket) if a is not None))
        return self._outcome(callback, pending)

    def _callback_due(self, ticket: Ticket | None, at: datetime) -> datetime:
        """The callback milestone's deadline if the policy has one, else one working day."""
        if ticket is not None:
            for run in ticket.running_clocks():
                if run.clock.milestone == "callback" and run.due_at is not None:
                    return run.due_at
        office = self.catalogue.calendar("cn-office")
        return office.add(at, office.standard_day_seconds)

    def _callback_and_ticket(self, callback_id: UUID) -> tuple[Callback, Ticket | None]:
        callback: Callback = self._load(Callback, callback_id, "callback")
        ticket = None
        if callback.source_ticket_id is not None:
            ticket = self._load(Ticket, callback.source_ticket_id, "ticket")
        return callback, ticket

    def record_callback_attempt(self, cmd: c.RecordCallbackAttempt) -> Outcome:
        callback, ticket = self._callback_and_ticket(cmd.callback_id)
        if callback.seen(cmd.command_id):
            return self._outcome(callback, [], changed=False)
        self._check_version(callback, cmd.expected_version)
        meta = self._meta(cmd)
        touched: list[Recorded] = [callback]
        with recording_clock(self.clock):
            callback.record_attempt(meta, cmd.outcome, cmd.note)
            if (
                callback.state is CallbackState.UNREACHABLE
                and ticket is not None
                and ticket.state is State.CALLBACK_PENDING
            ):
                ticket.close(
                    Ctx(meta, self.catalogue), note="回访失败: customer unreachable", satisfied=None
                )
                touched.append(ticket)
        return self._outcome(callback, self._save_all(*touched))

    def record_callback_outcome(self, cmd: c.RecordCallbackOutcome) -> Outcome:
        """Record the customer's verdict; closes or reopens the source ticket in the same write."""
        callback, ticket = self._callback_and_ticket(cmd.callback_id)
        if callback.seen(cmd.command_id):
            return self._outcome(callback, [], changed=False)
        self._check_version(callback, cmd.expected_version)
        meta = self._meta(cmd)
        touched: list[Recorded] = [callback]
        with recording_clock(self.clock):
            satisfied = callback.record_outcome(
                meta, cmd.satisfaction, cmd.satisfied, cmd.comment, cmd.follow_up
            )
            # A dissatisfied verdict reopens the ticket even if someone closed it meanwhile.
            pending = ticket is not None and ticket.state is State.CALLBACK_PENDING
            closed = ticket is not None and ticket.state is State.CLOSED
            if ticket is not None and (pending or (closed and not satisfied)):
                ctx = Ctx(meta, self.catalogue)
                if satisfied:
                    ticket.close(ctx, note="回访满意", satisfied=True)
                else:
                    ticket.reopen(
                        ctx, f"回访不满意 (satisfaction {cmd.satisfaction}): {cmd.comment}".strip()
                    )
                touched.append(ticket)
        return self._outcome(callback, self._save_all(*touched))

    def cancel_callback(self, cmd: c.CancelCallback) -> Outcome:
        """Cancel a callback; a ticket waiting for it goes back to answered in the same write.

        From there the agent schedules another callback or closes the ticket; the callback
        scheduler does not schedule one on its own (the cancel may be the customer's wish).
        """
        callback, ticket = self._callback_and_ticket(cmd.callback_id)
        if callback.seen(cmd.command_id):
            return self._outcome(callback, [], changed=False)
        self._check_version(callback, cmd.expected_version)
        meta = self._meta(cmd)
        touched: list[Recorded] = [callback]
        with recording_clock(self.clock):
            callback.cancel(meta, cmd.reason)
            if (
                ticket is not None
                and ticket.state is State.CALLBACK_PENDING
                and ticket.callback_id == str(callback.id)
            ):
                ticket.release_callback(
                    Ctx(meta, self.catalogue), str(callback.id), cmd.reason.strip()
                )
                touched.append(ticket)
        return self._outcome(callback, self._save_all(*touched))

    # ---------------------------------------------------------------- dispatch

    def handle(self, cmd: c.Command) -> Outcome:
        """One entry point for every command (CLI, API, workers)."""
        if cmd.role is Role.AUDITOR:
            raise InvalidValue("role", "auditors read; they change nothing")
        match cmd:
            case c.ReceiveTicket():
                return self.receive(cmd)
            case c.TicketCommand():
                return self.act(cmd)
            case c.RegisterCustomer():
                return self.register_customer(cmd)
            case c.AssignGrade():
                return self.assign_grade(cmd)
            case c.AssignAccountManager():
                return self.assign_account_manager(cmd)
            case c.EraseCustomer():
                return self.erase_customer(cmd)
            case c.ScheduleCallback():
                return self.schedule_callback(cmd)
            case c.RecordCallbackAttempt():
                return self.record_callback_attempt(cmd)
            case c.RecordCallbackOutcome():
                return self.record_callback_outcome(cmd)
            case c.CancelCallback():
                return self.cancel_callback(cmd)
        handler = extensions.HANDLERS.get(type(cmd))
        if handler is not None:
            out: Outcome = handler(self, cmd)
            return out
        raise InvalidValue("command", f"unknown command {type(cmd).__name__}")


def _facts(
    kind: str,
    ticket_class: str,
    category: str,
    priority: str,
    customer: dict[str, Any],
    details: dict[str, Any],
) -> TicketFacts:
    return TicketFacts(
        kind=kind,
        ticket_class=ticket_class,
        category=category,
        grade=customer.get("grade", "none"),
        priority=priority,
        area=details.get("area") or customer.get("area", "urban"),
        voltage=details.get("voltage") or customer.get("voltage", "lv_residential"),
        key_account=bool(customer.get("key_account", False)),
    )


def _evidence(ticket: Ticket) -> dict[str, Any]:
    """The fact just decided on ``ticket`` (the command's first event), named in corrections."""
    fact = ticket.pending_events[0]
    return {
        "event": type(fact).__name__,
        "version": fact.originator_version,
        "occurred_at": fact.meta.occurred_at,  # type: ignore[attr-defined]
    }


def _number(kind: str, at: datetime, ident: UUID) -> str:
    """A human ticket number: kind prefix, local date of receipt, six hex digits of the id."""
    local = at.astimezone(_SHANGHAI)
    prefix = NUMBER_PREFIX.get(kind, "HF")  # HF 回访
    day = local.year * 10_000 + local.month * 100 + local.day  # %Y%m%d without strftime
    return f"{prefix}{day}{ident.hex[:6].upper()}"


def _shanghai() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


_SHANGHAI = _shanghai()


# Domain modules with aggregates and commands of their own register their handlers
# (domain/extensions.py) when imported: one line each, here.
import domain.assessment  # noqa: E402
import domain.customer_visit  # noqa: E402
import domain.key_accounts  # noqa: E402
import domain.outage  # noqa: E402
import domain.survey  # noqa: E402,F401
