"""department_performance: what each department did, per local day and ticket kind.

Every fact is attributed to the department *in charge when it happened* (DESIGN.md §4), on
the local (Asia/Shanghai) date of its ``occurred_at``. A department that no longer existed at
that instant (a ticket dispatched to 营销部 before the 2026-10-16 merger and replied to after
it) is mapped to its successor in the org directory at that instant, so the merged
营销部(客户服务中心) answers for what happened after the merger and the old units keep their
history. The directory is pure data handed in at construction; the fold reads no clock.

Definitions (the report in ``projections/reports.py`` turns them into rates):

- ``received``: intake (受理), counted for the front office that took the call (the
  ``department`` in the intake details: 客户服务中心 before the merger, the merged 营销部 after).
- ``assigned``: work orders that arrived at the department, by dispatch (派发) or by transfer
  in (转派); ``transfers_in`` is the transfer part of it. ``transfers_out`` counts transfers
  away; ``tickets_transferred`` counts a ticket once, on its first transfer, for the
  department that passed it on (the numerator of the transfer rate, 非一站式服务).
- ``replied``: department replies (部门回复, ``DepartmentReplied``). ``answered``: answers to
  the customer (答复客户). ``closed``: closures (``TicketClosed``) plus settlements at first
  contact (一次解决, also counted alone in ``resolved_first_contact``). ``rejected`` and
  ``withdrawn`` end a ticket without closing it.
- ``reopened``: tickets reopened (after a dissatisfied callback), for the department whose
  work came back.
- ``urges`` 催办, ``supervisions`` 督办, ``escalations``: for the department holding the ticket.
- ``breaches``: ``{milestone: n}`` of ``SlaBreached``; ``sla``: ``{milestone: [met, late]}``
  of ``SlaTargetMet`` (on time or not), for the department in charge at the breach's due
  instant / the fact, in business time. A breach that later-recorded facts disprove
  (``SlaBreachWithdrawn``) leaves ``breaches`` and ``breaches_total`` again and is counted in
  ``breaches_withdrawn`` (the correction shows); one credited anew to the department that held
  the ticket at its due instant (``SlaBreachReattributed``, a transfer entered late) moves.
- Callbacks (回访) after service: ``callbacks_scheduled``, ``callbacks_done`` (customer
  reached), ``satisfied`` / ``dissatisfied`` and ``satisfaction_sum`` (1–5 scores) of the
  reached ones, ``unreachable``; for the department holding the source ticket. Periodic
  callbacks per customer grade have no ticket and no department in charge: not counted here.
  ``closed_with_callback`` counts the closures whose cycle had a callback that reached the
  customer (the numerator of callback coverage; a dissatisfied callback reopens instead of
  closing, so ``callbacks_done`` may exceed the closures).

Duration samples (one row per metric, ticket and SLA cycle, in ``department_samples``; the
report takes medians and p90 from them) start at the cycle's start (receipt, or the reopening
for a later cycle) and are attributed to the department and day of the fact that ends them:

- ``first_response``: to the first department reply of the cycle. Business seconds: the
  ``department_reply`` milestone's ``used_seconds`` (absent for kinds without that milestone).
- ``resolution``: to the answer to the customer (有结果; or the settlement at first contact).
  Business seconds: the ``used_seconds`` of the milestone met by that answer — ``resolution``
  where the policy has one, otherwise its equivalent (``reply`` for inquiries, suggestions,
  reports); never ``first_contact`` or ``callback``.
- ``closure``: to the closure (after the callback); wall clock only.

Open tickets (``dept_open_tickets``) feed the backlog-by-age figures, computed at read time
for an instant. ``dept_tickets`` and ``dept_callbacks`` are the fold's own memory: where each
ticket is, since when its cycle runs (with the plumbing of ``ticket_facts.py``), and which
ticket a callback belongs to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.errors import DomainError
from domain.org import OrgDirectory
from projections.core import Projection, Row, Rows, Table
from projections.ticket_facts import TicketFacts

PERFORMANCE = "department_performance"
SAMPLES = "department_samples"
TICKETS = "dept_tickets"
CALLBACKS = "dept_callbacks"
OPEN = "dept_open_tickets"
FACTS = TicketFacts(
    TICKETS,
    "ticket_id",
    "number",
    "kind",
    "department",  # in charge now (as recorded; mapped when used)
    "received_at",
    ("received_day", "text"),
    "grade",
    "key_account",
    "cycle",
    ("cycle_started_at", "ts"),
    ("first_replied_at", "ts"),  # in the current cycle
    "callback_cycle",  # the last cycle whose callback reached the customer
    "transfers",
    ("open", "bool"),
    start={"open": True},
)

COUNTERS: tuple[str, ...] = (
    "received",
    "assigned",
    "transfers_in",
    "transfers_out",
    "tickets_transferred",
    "replied",
    "answered",
    "closed",
    "closed_with_callback",
    "resolved_first_contact",
    "rejected",
    "withdrawn",
    "reopened",
    "urges",
    "supervisions",
    "escalations",
    "breaches_total",
    "breaches_withdrawn",
    "callbacks_scheduled",
    "callbacks_done",
    "satisfied",
    "dissatisfied",
    "satisfaction_sum",
    "unreachable",
)
"""The integer columns of ``department_performance``, all starting at zero."""

METRICS = ("first_response", "resolution", "closure")
UNKNOWN = "unknown"
# Milestones an answer to the customer can meet that say nothing about resolution time.
_NOT_RESOLUTION = frozenset({"first_contact", "callback"})


class DepartmentPerformance(Projection):
    """Per (department, day, kind) counters, duration samples and the open-ticket list."""

    name = "department_performance"
    version = 1
    tables = (
        Table(
            PERFORMANCE,
            key=("department", "day", "kind"),
            columns=(
                ("department", "text"),
                ("day", "text"),  # local date, YYYY-MM-DD
                ("kind", "text"),
                *((c, "int") for c in COUNTERS),
                ("breaches", "json"),  # {milestone: n}
                ("sla", "json"),  # {milestone: [met, late]}
            ),
        ),
        Table(
            SAMPLES,
            key=("metric", "ticket_id", "cycle"),
            columns=(
                ("metric", "text"),
                ("ticket_id", "text"),
                ("cycle", "int"),
                ("department", "text"),
                ("day", "text"),
                ("kind", "text"),
                ("wall_seconds", "real"),
                ("business_seconds", "int"),
            ),
        ),
        FACTS.table,
        Table(
            CALLBACKS,
            key=("callback_id",),
            columns=(
                ("callback_id", "text"),
                ("ticket_id", "text"),
                ("department", "text"),
            ),
        ),
        Table(
            OPEN,
            key=("ticket_id",),
            columns=(
                ("ticket_id", "text"),
                ("department", "text"),
                ("kind", "text"),
                ("received_at", "ts"),
                ("since", "ts"),  # with this department since
            ),
        ),
    )

    def __init__(
        self, directory: OrgDirectory | None = None, timezone: str = "Asia/Shanghai"
    ) -> None:
        self.directory = directory
        self.tz = ZoneInfo(timezone)

    # ------------------------------------------------------------------ helpers

    def day(self, at: datetime) -> str:
        """The local calendar date of an instant, ``YYYY-MM-DD``."""
        return at.astimezone(self.tz).date().isoformat()

    def in_charge(self, department: str | None, at: datetime) -> str:
        """The department answering at ``at`` for work held by ``department``."""
        if not department:
            return UNKNOWN
        if self.directory is None:
            return department
        try:
            return self.directory.successor(department, at)
        except DomainError:
            return department  # not in the directory (e.g. "system"): keep it as recorded

    def _bump(
        self,
        rows: Rows,
        department: str | None,
        at: datetime,
        kind: str,
        *counters: str,
        amount: int = 1,
    ) -> Row:
        key = (self.in_charge(department, at), self.day(at), kind)
        row = rows.get(PERFORMANCE, key) or {
            "department": key[0],
            "day": key[1],
            "kind": key[2],
            **dict.fromkeys(COUNTERS, 0),
            "breaches": {},
            "sla": {},
        }
        for counter in counters:
            row[counter] = (row[counter] or 0) + amount
        rows.put(PERFORMANCE, row)
        return row

    def _sample(
        self,
        rows: Rows,
        metric: str,
        ticket: Row,
        department: str | None,
        at: datetime,
        cycle: int | None = None,
    ) -> None:
        cycle = ticket["cycle"] if cycle is None else cycle
        started: datetime = ticket["cycle_started_at"]
        rows.put(
            SAMPLES,
            {
                "metric": metric,
                "ticket_id": ticket["ticket_id"],
                "cycle": cycle,
                "department": self.in_charge(department, at),
                "day": self.day(at),
                "kind": ticket["kind"],
                "wall_seconds": max((at - started).total_seconds(), 0.0),
                "business_seconds": None,
            },
        )

    def _set_open(self, rows: Rows, ticket: Row, since: datetime) -> None:
        rows.put(
            OPEN,
            {
                "ticket_id": ticket["ticket_id"],
                "department": ticket["department"],
                "kind": ticket["kind"],
                "received_at": ticket["received_at"],
                "since": since,
            },
        )

    def _end(self, rows: Rows, ticket: Row) -> None:
        rows.put(TICKETS, {**ticket, "open": False})
        rows.delete(OPEN, (ticket["ticket_id"],))

    # ------------------------------------------------------------------ intake

    def on_ComplaintReceived(self, event: Any, rows: Rows) -> None:
        at: datetime = event.meta.occurred_at
        front = event.details.get("department") or event.meta.department
        ticket = FACTS.received(
            event, department=front, received_day=self.day(at), cycle_started_at=at
        )
        rows.put(TICKETS, ticket)
        self._set_open(rows, ticket, at)
        self._bump(rows, front, at, ticket["kind"], "received")

    on_ServiceRequestReceived = on_ComplaintReceived

    # ------------------------------------------------------------ work orders

    def on_WorkOrderDispatched(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        at: datetime = event.meta.occurred_at
        ticket = {**ticket, "department": event.department}
        rows.put(TICKETS, ticket)
        self._set_open(rows, ticket, at)
        self._bump(rows, event.department, at, ticket["kind"], "assigned")

    def on_WorkOrderTransferred(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        at: datetime = event.meta.occurred_at
        kind = ticket["kind"]
        source = event.from_department or ticket["department"]
        self._bump(rows, source, at, kind, "transfers_out")
        if not ticket["transfers"]:
            self._bump(rows, source, at, kind, "tickets_transferred")
        self._bump(rows, event.department, at, kind, "assigned", "transfers_in")
        ticket = {
            **ticket,
            "department": event.department,
            "transfers": (ticket["transfers"] or 0) + 1,
        }
        rows.put(TICKETS, ticket)
        self._set_open(rows, ticket, at)

    def on_WorkOrderHandedOver(self, event: Any, rows: Rows) -> None:
        """An organisational handover: the work now counts for the new unit, not a transfer."""
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        ticket = {**ticket, "department": event.department}
        rows.put(TICKETS, ticket)
        self._set_open(rows, ticket, event.meta.occurred_at)

    def on_Urged(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is not None:
            dept = event.department or ticket["department"]
            self._bump(rows, dept, event.meta.occurred_at, ticket["kind"], "urges")

    def on_SupervisionOpened(self, event: Any, rows: Rows) -> None:
        # ``by`` is the supervising unit; the supervised one is the department in charge.
        ticket = FACTS.of(event, rows)
        if ticket is not None:
            at = event.meta.occurred_at
            self._bump(rows, ticket["department"], at, ticket["kind"], "supervisions")

    def on_Escalated(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is not None:
            dept = event.department or ticket["department"]
            self._bump(rows, dept, event.meta.occurred_at, ticket["kind"], "escalations")

    # ------------------------------------------------------------- replies

    def on_DepartmentReplied(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        at: datetime = event.meta.occurred_at
        dept = event.department or ticket["department"]
        self._bump(rows, dept, at, ticket["kind"], "replied")
        if ticket["first_replied_at"] is None:
            self._sample(rows, "first_response", ticket, dept, at)
            rows.put(TICKETS, {**ticket, "first_replied_at": at})

    def on_CustomerAnswered(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        at: datetime = event.meta.occurred_at
        self._bump(rows, ticket["department"], at, ticket["kind"], "answered")
        self._sample(rows, "resolution", ticket, ticket["department"], at)

    def on_SlaTargetMet(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        at: datetime = event.meta.occurred_at
        milestone: str = event.milestone
        row = self._bump(rows, ticket["department"], at, ticket["kind"])
        sla = {k: list(v) for k, v in (row["sla"] or {}).items()}
        pair = sla.setdefault(milestone, [0, 0])
        pair[0 if event.on_time else 1] += 1
        rows.put(PERFORMANCE, {**row, "sla": sla})
        if milestone == "department_reply":
            self._business(rows, "first_response", ticket, event, replace=True)
        elif event.fact == "customer_answered" and milestone not in _NOT_RESOLUTION:
            self._business(rows, "resolution", ticket, event, replace=milestone == "resolution")

    @staticmethod
    def _business(rows: Rows, metric: str, ticket: Row, event: Any, *, replace: bool) -> None:
        sample = rows.get(SAMPLES, (metric, ticket["ticket_id"], event.cycle))
        if sample is None or (sample["business_seconds"] is not None and not replace):
            return
        rows.put(SAMPLES, {**sample, "business_seconds": int(event.used_seconds)})

    def on_SlaBreached(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        dept = event.department or ticket["department"]
        row = self._bump(rows, dept, event.meta.occurred_at, ticket["kind"], "breaches_total")
        breaches = dict(row["breaches"] or {})
        breaches[event.milestone] = breaches.get(event.milestone, 0) + 1
        rows.put(PERFORMANCE, {**row, "breaches": breaches})

    def on_SlaBreachWithdrawn(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        self._unbreach(rows, event.department, event, ticket["kind"])
        self._bump(rows, event.department, event.breached_at, ticket["kind"], "breaches_withdrawn")

    def on_SlaBreachReattributed(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        self._unbreach(rows, event.from_department, event, ticket["kind"])
        at: datetime = event.breached_at
        row = self._bump(rows, event.department, at, ticket["kind"], "breaches_total")
        breaches = dict(row["breaches"] or {})
        breaches[event.milestone] = breaches.get(event.milestone, 0) + 1
        rows.put(PERFORMANCE, {**row, "breaches": breaches})

    def _unbreach(self, rows: Rows, department: str | None, event: Any, kind: str) -> None:
        """Take back one breach of ``event.milestone`` counted for ``department`` on the day
        of ``event.breached_at`` (where ``on_SlaBreached`` put it)."""
        at: datetime = event.breached_at
        row = self._bump(rows, department, at, kind, "breaches_total", amount=-1)
        breaches = dict(row["breaches"] or {})
        left = breaches.get(event.milestone, 0) - 1
        if left > 0:
            breaches[event.milestone] = left
        else:
            breaches.pop(event.milestone, None)
        rows.put(PERFORMANCE, {**row, "breaches": breaches})

    # ------------------------------------------------------------- endings

    def on_TicketClosed(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        at: datetime = event.meta.occurred_at
        dept = event.department or ticket["department"]
        counters = ["closed"]
        if ticket["callback_cycle"] == ticket["cycle"]:
            counters.append("closed_with_callback")
        self._bump(rows, dept, at, ticket["kind"], *counters)
        self._sample(rows, "closure", ticket, dept, at)
        self._end(rows, ticket)

    def on_ResolvedAtFirstContact(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        at: datetime = event.meta.occurred_at
        dept = ticket["department"]
        self._bump(rows, dept, at, ticket["kind"], "closed", "resolved_first_contact")
        self._sample(rows, "resolution", ticket, dept, at)
        self._sample(rows, "closure", ticket, dept, at)
        self._end(rows, ticket)

    def on_ComplaintRejected(self, event: Any, rows: Rows) -> None:
        self._ended(event, rows, "rejected")

    def on_TicketWithdrawn(self, event: Any, rows: Rows) -> None:
        self._ended(event, rows, "withdrawn")

    def _ended(self, event: Any, rows: Rows, counter: str) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        self._bump(rows, ticket["department"], event.meta.occurred_at, ticket["kind"], counter)
        self._end(rows, ticket)

    def on_TicketReopened(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        at: datetime = event.meta.occurred_at
        self._bump(rows, ticket["department"], at, ticket["kind"], "reopened")
        ticket = {
            **ticket,
            "cycle": event.cycle,
            "cycle_started_at": at,
            "first_replied_at": None,
            "open": True,
        }
        rows.put(TICKETS, ticket)
        self._set_open(rows, ticket, at)

    # ------------------------------------------------------------ callbacks

    def on_CallbackScheduled(self, event: Any, rows: Rows) -> None:
        if event.source_ticket_id is None:
            return  # a periodic callback: no ticket, no department in charge
        ticket_id = str(event.source_ticket_id)
        rows.put(
            CALLBACKS,
            {
                "callback_id": str(event.originator_id),
                "ticket_id": ticket_id,
                "department": event.department,
            },
        )
        ticket = FACTS.get(rows, ticket_id)
        kind = ticket["kind"] if ticket is not None else UNKNOWN
        dept = ticket["department"] if ticket is not None else event.department
        self._bump(rows, dept, event.meta.occurred_at, kind, "callbacks_scheduled")

    def _callback_owner(self, event: Any, rows: Rows) -> tuple[str | None, str] | None:
        link = rows.get(CALLBACKS, (str(event.originator_id),))
        if link is None:
            return None
        ticket = FACTS.get(rows, link["ticket_id"])
        if ticket is None:
            return link["department"], UNKNOWN
        return ticket["department"], ticket["kind"]

    def on_CallbackCompleted(self, event: Any, rows: Rows) -> None:
        owner = self._callback_owner(event, rows)
        if owner is None:
            return
        dept, kind = owner
        link = rows.get(CALLBACKS, (str(event.originator_id),))
        ticket = FACTS.get(rows, link["ticket_id"]) if link is not None else None
        if ticket is not None:
            rows.put(TICKETS, {**ticket, "callback_cycle": ticket["cycle"]})
        at: datetime = event.meta.occurred_at
        verdict = "satisfied" if event.satisfied else "dissatisfied"
        self._bump(rows, dept, at, kind, "callbacks_done", verdict)
        self._bump(rows, dept, at, kind, "satisfaction_sum", amount=int(event.satisfaction))

    def on_CallbackUnreachable(self, event: Any, rows: Rows) -> None:
        owner = self._callback_owner(event, rows)
        if owner is not None:
            self._bump(rows, owner[0], event.meta.occurred_at, owner[1], "unreachable")
