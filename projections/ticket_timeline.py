"""ticket_timeline: every event of every ticket, with who, when (occurred and recorded) and why.

Callback events are listed under their source ticket too, so an auditor reads one story.
"""

from __future__ import annotations

from typing import Any

from domain.personal import PERSONAL, erased_copy
from projections.core import Projection, Rows, Table

_SKIP = {"originator_id", "originator_version", "timestamp", "meta", "specs"}
_TICKET_CREATED = ("ComplaintReceived", "ServiceRequestReceived")


def details_of(event: Any) -> dict[str, Any]:
    """The event's own fields, without metadata and without bulky SLA specs."""
    out: dict[str, Any] = {}
    for key, value in vars(event).items():
        if key in _SKIP:
            continue
        if key in ("clocks", "clock"):
            items = value if isinstance(value, list) else [value]
            value = [
                {"milestone": c["milestone"], "cycle": c["cycle"], "due_at": c["due_at"]}
                for c in items
            ]
        out[key] = value
    return out


class TicketTimeline(Projection):
    """One row per (ticket, position in its story)."""

    name = "ticket_timeline"
    holds_personal_data = True  # an intake's details: erasure blanks them, compaction rewrites
    version = 1
    tables = (
        Table(
            "ticket_timeline",
            key=("ticket_id", "seq"),
            columns=(
                ("ticket_id", "text"),
                ("seq", "int"),
                ("number", "text"),
                ("kind", "text"),
                ("source", "text"),
                ("event", "text"),
                ("occurred_at", "ts"),
                ("recorded_at", "ts"),
                ("actor", "text"),
                ("role", "text"),
                ("department", "text"),
                ("channel", "text"),
                ("correlation_id", "text"),
                ("details", "json"),
            ),
            append_only=True,
        ),
        Table(
            "ticket_timeline_heads",
            key=("ticket_id",),
            columns=(
                ("ticket_id", "text"),
                ("number", "text"),
                ("kind", "text"),
                ("events", "int"),
            ),
        ),
    )

    @staticmethod
    def _erased(event: Any, rows: Rows) -> None:
        for ticket in event.tickets:
            _erased_intake(rows, ticket)

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        meta = getattr(event, "meta", None)
        if meta is None:
            return
        if name == "CustomerErased":
            self._erased(event, rows)
            return
        source = str(event.originator_id)
        if name in _TICKET_CREATED:
            kind = "complaint" if name == "ComplaintReceived" else event.kind
            rows.put(
                "ticket_timeline_heads",
                {"ticket_id": source, "number": event.number, "kind": kind, "events": 0},
            )
        ticket_id = source
        if name.startswith("Callback"):
            linked = getattr(event, "source_ticket_id", None)
            head = rows.get("ticket_timeline_heads", (source,))
            if linked is not None and head is None:
                # Remember which ticket this callback belongs to.
                rows.put(
                    "ticket_timeline_heads",
                    {"ticket_id": source, "number": str(linked), "kind": "callback", "events": 0},
                )
            if head is not None and head["kind"] == "callback":
                ticket_id = head["number"]
            elif linked is not None:
                ticket_id = str(linked)
            else:
                return
        head = rows.get("ticket_timeline_heads", (ticket_id,))
        if head is None:
            return  # customers and other aggregates have no timeline here
        seq = head["events"] + 1
        rows.put("ticket_timeline_heads", {**head, "events": seq})
        rows.put(
            "ticket_timeline",
            {
                "ticket_id": ticket_id,
                "seq": seq,
                "number": head["number"],
                "kind": head["kind"],
                "source": source,
                "event": name,
                "occurred_at": meta.occurred_at,
                "recorded_at": event.timestamp,
                "actor": meta.actor,
                "role": meta.role,
                "department": meta.department,
                "channel": meta.channel,
                "correlation_id": meta.correlation_id,
                "details": _with_backdating(details_of(event), meta),
            },
        )


def _with_backdating(details: dict[str, Any], meta: Any) -> dict[str, Any]:
    """A late entry (dated before the ticket's latest fact) says so, with its reason."""
    reason = getattr(meta, "backdated_reason", None)
    return {**details, "backdated_reason": reason} if reason else details


def _erased_intake(rows: Rows, ticket_id: str) -> None:
    """The intake entry of an erased customer's ticket, as a rebuild writes it (its events
    then decode the name, phone and address as erased)."""
    row = rows.get("ticket_timeline", (ticket_id, 1))
    if row is not None and row["event"] in PERSONAL:
        rows.put(
            "ticket_timeline",
            {**row, "details": erased_copy(row["details"], PERSONAL[row["event"]])},
        )
