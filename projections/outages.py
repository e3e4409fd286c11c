"""outages: outage incidents (停电事件) with their linked fault calls, and 1 repair vs N contacts.

Three tables:

- ``outage_incidents``: one row per incident: area, feeder, repairing department, state, the
  crew, when it was dispatched, arrived and restored, the arrival and restoration due instants
  of the fault repair policy and whether each was met, and how many fault calls are linked,
  answered and called back.
- ``outage_calls``: one row per fault repair ticket (故障报修): area, feeder, when received,
  whether still open, and the incident it is linked to (none yet: a candidate for the
  suggestion rule, :mod:`domain.outage_rule`), when it was answered and its callback.
- ``outage_department_daily``: per repairing department and local day (Asia/Shanghai) of
  business time: incidents opened, crews dispatched, arrivals (on time), repairs — one per
  restored incident, however many called — and, beside them, the contacts (calls linked), the
  answers given and the callbacks scheduled for those calls. Thirty calls about one tripped
  feeder count as 1 repair and 30 contacts, 30 answers, 30 callbacks.

A fact counts on the day it happened (``occurred_at``) for the incident's department.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.outage_rule import (
    FaultCall,
    OpenIncident,
    Suggestion,
    SuggestionRule,
    suggest,
)
from projections.core import Projection, Row, Rows, Table, meta_of

INCIDENTS = "outage_incidents"
CALLS = "outage_calls"
DAILY = "outage_department_daily"
COUNTERS = (
    "incidents",
    "crew_dispatches",
    "arrivals",
    "arrivals_on_time",
    "repairs",
    "repairs_on_time",
    "contacts",
    "answers",
    "callbacks",
)
# A fault call's state after these events of its own (the others are handled one by one).
_STEPS = {
    "CrewDispatched": "crew_en_route",
    "CrewArrived": "on_site",
    "PowerRestored": "restored",
    "DepartmentReplied": "replied",
    "CallbackReleased": "customer_answered",
}


class Outages(Projection):
    """Outage incidents, the fault calls they answer, and per-department repairs vs contacts."""

    name = "outages"
    # An incident's events and its linked tickets' events meet in these rows in log order; the
    # Kafka topic orders each ticket's events only (core.Projection.log_order_only).
    log_order_only = True
    version = 1
    tables = (
        Table(
            INCIDENTS,
            key=("incident_id",),
            columns=(
                ("incident_id", "text"),
                ("number", "text"),
                ("area", "text"),
                ("feeder", "text"),
                ("department", "text"),
                ("state", "text"),
                ("description", "text"),
                ("started_at", "ts"),
                ("opened_at", "ts"),
                ("opened_by", "text"),
                ("policy", "text"),
                ("arrival_due_at", "ts"),
                ("restoration_due_at", "ts"),
                ("crew", "text"),
                ("promised_arrival_at", "ts"),
                ("dispatched_at", "ts"),
                ("arrived_at", "ts"),
                ("arrival_on_time", "bool"),
                ("restored_at", "ts"),
                ("restoration_on_time", "bool"),
                ("cause", "text"),
                ("linked", "int"),
                ("answered", "int"),
                ("callbacks", "int"),
            ),
        ),
        Table(
            CALLS,
            key=("ticket_id",),
            columns=(
                ("ticket_id", "text"),
                ("number", "text"),
                ("area", "text"),
                ("feeder", "text"),
                ("department", "text"),
                ("received_at", "ts"),
                ("open", "bool"),
                ("state", "text"),
                ("incident_id", "text"),
                ("incident_number", "text"),
                ("linked_at", "ts"),
                ("answered_at", "ts"),
                ("callback_id", "text"),
            ),
        ),
        Table(
            DAILY,
            key=("department", "day"),
            columns=(("department", "text"), ("day", "text"), *((n, "int") for n in COUNTERS)),
        ),
    )

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(timezone)

    def _day(self, at: datetime) -> str:
        return at.astimezone(self.tz).date().isoformat()

    def _count(self, rows: Rows, department: str, at: datetime, **more: int) -> None:
        day = self._day(at)
        row = rows.get(DAILY, (department, day)) or {
            "department": department,
            "day": day,
            **dict.fromkeys(COUNTERS, 0),
        }
        rows.put(DAILY, {**row, **{k: row[k] + v for k, v in more.items()}})

    @staticmethod
    def _incident(event: Any, rows: Rows) -> Row | None:
        return rows.get(INCIDENTS, (str(event.originator_id),))

    # ------------------------------------------------------------ incidents

    def on_OutageIncidentOpened(self, event: Any, rows: Rows) -> None:
        meta = meta_of(event)
        sla = event.sla
        rows.put(
            INCIDENTS,
            {
                "incident_id": str(event.originator_id),
                "number": event.number,
                "area": event.area,
                "feeder": event.feeder,
                "department": event.department,
                "state": "open",
                "description": event.description,
                "started_at": event.started_at,
                "opened_at": meta.occurred_at,
                "opened_by": meta.actor,
                "policy": f"{sla['policy_id']}@v{sla['policy_version']}",
                "arrival_due_at": sla["arrival"]["due_at"],
                "restoration_due_at": sla["restoration"]["due_at"],
                "linked": 0,
                "answered": 0,
                "callbacks": 0,
            },
        )
        self._count(rows, event.department, meta.occurred_at, incidents=1)

    def on_OutageTicketLinked(self, event: Any, rows: Rows) -> None:
        incident = self._incident(event, rows)
        if incident is None:
            return
        at = meta_of(event).occurred_at
        rows.put(INCIDENTS, {**incident, "linked": incident["linked"] + 1})
        call = rows.get(CALLS, (event.ticket_id,))
        if call is not None:
            rows.put(
                CALLS,
                {
                    **call,
                    "incident_id": incident["incident_id"],
                    "incident_number": incident["number"],
                    "linked_at": at,
                },
            )
        self._count(rows, incident["department"], at, contacts=1)

    def on_OutageCrewDispatched(self, event: Any, rows: Rows) -> None:
        incident = self._incident(event, rows)
        if incident is None:
            return
        at = meta_of(event).occurred_at
        rows.put(
            INCIDENTS,
            {
                **incident,
                "state": "crew_en_route",
                "crew": event.crew,
                "promised_arrival_at": event.promised_arrival_at,
                "dispatched_at": at,
            },
        )
        self._count(rows, incident["department"], at, crew_dispatches=1)

    def on_OutageCrewArrived(self, event: Any, rows: Rows) -> None:
        incident = self._incident(event, rows)
        if incident is None:
            return
        at = meta_of(event).occurred_at
        on_time = bool(event.on_time)
        rows.put(
            INCIDENTS,
            {**incident, "state": "on_site", "arrived_at": at, "arrival_on_time": on_time},
        )
        self._count(rows, incident["department"], at, arrivals=1, arrivals_on_time=int(on_time))

    def on_OutagePowerRestored(self, event: Any, rows: Rows) -> None:
        incident = self._incident(event, rows)
        if incident is None:
            return
        at = meta_of(event).occurred_at
        on_time = bool(event.on_time)
        rows.put(
            INCIDENTS,
            {
                **incident,
                "state": "restored",
                "restored_at": at,
                "restoration_on_time": on_time,
                "cause": event.cause,
            },
        )
        self._count(rows, incident["department"], at, repairs=1, repairs_on_time=int(on_time))

    # ---------------------------------------------------------------- calls

    def on_ServiceRequestReceived(self, event: Any, rows: Rows) -> None:
        if event.kind != "fault_repair":
            return
        details = event.details
        rows.put(
            CALLS,
            {
                "ticket_id": str(event.originator_id),
                "number": event.number,
                "area": details.get("area"),
                "feeder": details.get("feeder"),
                "department": details.get("department"),
                "received_at": meta_of(event).occurred_at,
                "open": True,
                "state": "received",
            },
        )

    def _linked_call(self, event: Any, rows: Rows) -> tuple[Row, Row | None] | None:
        call = rows.get(CALLS, (str(event.originator_id),))
        if call is None:
            return None
        incident = None
        if call.get("incident_id"):
            incident = rows.get(INCIDENTS, (call["incident_id"],))
        return call, incident

    def on_CustomerAnswered(self, event: Any, rows: Rows) -> None:
        found = self._linked_call(event, rows)
        if found is None:
            return
        call, incident = found
        at = meta_of(event).occurred_at
        rows.put(CALLS, {**call, "open": False, "state": "customer_answered", "answered_at": at})
        if incident is not None:
            rows.put(INCIDENTS, {**incident, "answered": incident["answered"] + 1})
            self._count(rows, incident["department"], at, answers=1)

    def on_CallbackRequested(self, event: Any, rows: Rows) -> None:
        found = self._linked_call(event, rows)
        if found is None:
            return
        call, incident = found
        rows.put(
            CALLS, {**call, "state": "callback_pending", "callback_id": str(event.callback_id)}
        )
        if incident is not None:
            rows.put(INCIDENTS, {**incident, "callbacks": incident["callbacks"] + 1})
            self._count(rows, incident["department"], meta_of(event).occurred_at, callbacks=1)

    def fold(self, event: Any, rows: Rows) -> None:
        state = _STEPS.get(type(event).__name__)
        if state is None:
            super().fold(event, rows)
            return
        call = rows.get(CALLS, (str(event.originator_id),))
        if call is not None:
            rows.put(CALLS, {**call, "state": state})

    def on_WorkOrderDispatched(self, event: Any, rows: Rows) -> None:
        call = rows.get(CALLS, (str(event.originator_id),))
        if call is not None:
            rows.put(CALLS, {**call, "state": "dispatched", "department": event.department})

    def _settled(self, event: Any, rows: Rows, state: str) -> None:
        call = rows.get(CALLS, (str(event.originator_id),))
        if call is not None:
            rows.put(CALLS, {**call, "open": False, "state": state})

    def on_TicketClosed(self, event: Any, rows: Rows) -> None:
        self._settled(event, rows, "closed")

    def on_TicketWithdrawn(self, event: Any, rows: Rows) -> None:
        self._settled(event, rows, "withdrawn")

    def on_ResolvedAtFirstContact(self, event: Any, rows: Rows) -> None:
        self._settled(event, rows, "resolved_at_front")

    def on_TicketReopened(self, event: Any, rows: Rows) -> None:
        call = rows.get(CALLS, (str(event.originator_id),))
        if call is not None:
            # Reopened: answered again through its incident or on its own, not a new call.
            rows.put(CALLS, {**call, "open": call.get("incident_id") is None, "state": "reopened"})


# ---------------------------------------------------------------- reading the view


def _table(name: str) -> Table:
    return Outages.tables[[t.name for t in Outages.tables].index(name)]


def incidents(store: Any, state: str | None = None) -> list[Row]:
    """Every incident (or those in ``state``), newest start first."""
    rows = [r for r in store.dump(_table(INCIDENTS)) if state is None or r["state"] == state]
    return sorted(rows, key=lambda r: (r["started_at"], r["number"]), reverse=True)


def incident(store: Any, incident_id: str) -> Row | None:
    row: Row | None = store.load(_table(INCIDENTS), (incident_id,))
    return row


def calls_of(store: Any, incident_id: str) -> list[Row]:
    """The fault calls linked to an incident, in the order received."""
    rows = store.load_many(_table(CALLS), "incident_id", [incident_id])
    return sorted(rows, key=lambda r: (r["received_at"], r["number"]))


def department_daily(store: Any, first: date, last: date) -> list[Row]:
    """Per department and day in ``[first, last]``: repairs beside contacts, answers, callbacks."""
    lo, hi = first.isoformat(), last.isoformat()
    rows = [r for r in store.dump(_table(DAILY)) if lo <= r["day"] <= hi]
    return sorted(rows, key=lambda r: (r["day"], r["department"]))


def suggestions(
    store: Any, *, area: str, feeder: str, at: datetime, rule: SuggestionRule
) -> Suggestion:
    """What the rule suggests for a call from ``area``/``feeder`` at ``at``, from the view."""
    calls = [
        FaultCall(
            ticket_id=r["ticket_id"],
            number=r["number"],
            area=r["area"],
            feeder=r["feeder"],
            received_at=r["received_at"],
            incident_id=r["incident_id"],
            open=bool(r["open"]),
        )
        for r in store.load_many(_table(CALLS), "feeder", [feeder])
    ]
    found = [
        OpenIncident(r["incident_id"], r["number"], r["area"], r["feeder"], r["started_at"])
        for r in store.dump(_table(INCIDENTS))
        if r["state"] != "restored"
    ]
    return suggest(calls, found, area=area, feeder=feeder, at=at, rule=rule)
