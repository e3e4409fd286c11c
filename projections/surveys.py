"""surveys: satisfaction surveys (满意度调查), their verdict and their CAPA items.

Three tables:

- ``surveys``: one row per survey: title, purpose, plan, questions, state, the target (and
  whether it is the 90 % default), responses and satisfied so far, the satisfaction recorded
  by the analysis (``satisfaction_percent``, null before) and whether it lies below the target,
  how many CAPA items were issued and how many are still open, and when it was designed,
  fielded, analysed and closed (business time).
- ``survey_capa_items``: one row per corrective or preventive action (纠正和预防措施): its
  department and person in charge, description, when issued and due, ``open``, ``breached``
  (overdue, recorded by the SLA clock) or ``done``, when done and whether on time.
- ``survey_complaint_sources``: one row per complaint with its category as it stands (a
  reclassification corrects it) and its intake in business time: what the year-end summary
  (``projections/year_end.py``) counts as next year's CAPA sources.

:func:`capa_clock_row` is the row a CAPA item's deadline takes among the SLA deadlines
(``projections/sla_deadlines.py``): the survey stands in for the ticket, ``milestone`` is
``capa`` and ``cycle`` the item's number, on a 24x7 clock from the issue to the due instant,
its scheduled steps a warning at the item's warning instant (``surveys.toml``: by default when
80 % of its time is used; items issued before warnings existed have none), recorded as
``CapaItemWarned``, and the breach at the due instant (``CapaItemBreached``).
"""

from __future__ import annotations

from typing import Any

from projections.core import Projection, Row, Rows, Table
from projections.ticket_facts import TicketFacts, instant, stamp

SURVEYS = "surveys"
CAPA_ITEMS = "survey_capa_items"
CAPA_MILESTONE = "capa"
CAPA_KIND = "survey"
COMPLAINTS = "survey_complaint_sources"
FACTS = TicketFacts(COMPLAINTS, "ticket_id", "number", "kind", "category", "received_at")


def capa_clock_row(event: Any, item: dict[str, Any]) -> Row:
    """The SLA-deadline row of one CAPA item issued by ``event`` (a ``CapaIssued``)."""
    issued = event.meta.occurred_at
    due = instant(item["due_at"])
    assert due is not None
    # An item issued with a warning instant is warned first (earlier items have none).
    warned = instant(item.get("warn_at"))
    warning = (
        []
        if warned is None
        else [{"type": "warning", "threshold": item["warn_threshold"], "at": stamp(warned)}]
    )
    first: dict[str, Any] = (
        {"action": "record_breach"}
        if warned is None
        else {"action": "raise_sla_warning", "threshold": item["warn_threshold"]}
    )
    return {
        "ticket_id": str(event.originator_id),
        "milestone": CAPA_MILESTONE,
        "cycle": int(item["item"]),
        "number": event.number,
        "kind": CAPA_KIND,
        "department": item["department"],
        "owner": item.get("owner"),
        "priority": None,
        "grade": None,
        "policy": None,
        "clock": "24x7",
        "target_seconds": int((due - issued).total_seconds()),
        "started_at": issued,
        "pauses": [],
        "due_at": due,
        "state": "running",
        "warnings": [],
        "escalation_level": 0,
        "next_action_at": due if warned is None else warned,
        "next_action": first,
        "schedule": [*warning, {"type": "breach", "at": stamp(due)}],
        "stopped_at": None,
        "used_seconds": None,
        "updated_at": issued,
    }


def capa_clock_key(event: Any) -> tuple[str, str, int]:
    """The SLA-deadline key of the item a ``CapaItemCompleted``, ``CapaItemWarned`` or
    ``CapaItemBreached`` names."""
    return (str(event.originator_id), CAPA_MILESTONE, int(event.item))


class Surveys(Projection):
    """Folds the survey events into one row per survey and one per CAPA item."""

    name = "surveys"
    version = 1
    tables = (
        Table(
            SURVEYS,
            key=("survey_id",),
            columns=(
                ("survey_id", "text"),
                ("number", "text"),
                ("title", "text"),
                ("purpose", "text"),
                ("plan", "text"),
                ("questions", "json"),
                ("state", "text"),
                ("target_percent", "real"),
                ("target_is_default", "bool"),
                ("responses", "int"),
                ("satisfied", "int"),
                ("satisfaction_percent", "real"),
                ("below_target", "bool"),
                ("capa_items", "int"),
                ("capa_open", "int"),
                ("designed_at", "ts"),
                ("fielded_at", "ts"),
                ("analysed_at", "ts"),
                ("closed_at", "ts"),
                ("updated_at", "ts"),
            ),
        ),
        Table(
            CAPA_ITEMS,
            key=("survey_id", "item"),
            columns=(
                ("survey_id", "text"),
                ("item", "int"),
                ("number", "text"),
                ("department", "text"),
                ("owner", "text"),
                ("description", "text"),
                ("issued_at", "ts"),
                ("due_at", "ts"),
                ("state", "text"),
                ("completed_at", "ts"),
                ("on_time", "bool"),
                ("note", "text"),
            ),
        ),
        FACTS.table,
    )

    # ------------------------------------------------------------ complaints

    def on_ComplaintReceived(self, event: Any, rows: Rows) -> None:
        rows.put(COMPLAINTS, FACTS.received(event))

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in FACTS.moves:  # classified or reclassified: the category it holds now
            FACTS.change(event, rows, FACTS.moved(name, event))
            return
        super().fold(event, rows)

    # ------------------------------------------------------------ surveys

    @staticmethod
    def _change(event: Any, rows: Rows, **changes: Any) -> Row | None:
        row = rows.get(SURVEYS, (str(event.originator_id),))
        if row is None:
            return None
        new = {**row, **changes, "updated_at": event.meta.occurred_at}
        rows.put(SURVEYS, new)
        return new

    def on_SurveyDesigned(self, event: Any, rows: Rows) -> None:
        at = event.meta.occurred_at
        rows.put(
            SURVEYS,
            {
                "survey_id": str(event.originator_id),
                "number": event.number,
                "title": event.title,
                "purpose": event.purpose,
                "plan": event.plan,
                "questions": list(event.questions),
                "state": "designed",
                "target_percent": float(event.target_percent),
                "target_is_default": bool(event.target_is_default),
                "responses": 0,
                "satisfied": 0,
                "satisfaction_percent": None,
                "below_target": None,
                "capa_items": 0,
                "capa_open": 0,
                "designed_at": at,
                "fielded_at": None,
                "analysed_at": None,
                "closed_at": None,
                "updated_at": at,
            },
        )

    def on_SurveyFielded(self, event: Any, rows: Rows) -> None:
        self._change(event, rows, state="fielded", fielded_at=event.meta.occurred_at)

    def on_SurveyResponseRecorded(self, event: Any, rows: Rows) -> None:
        row = rows.get(SURVEYS, (str(event.originator_id),))
        if row is None:
            return
        satisfied = row["satisfied"] + (1 if event.satisfied else 0)
        self._change(event, rows, responses=int(event.response), satisfied=satisfied)

    def on_SurveyAnalysed(self, event: Any, rows: Rows) -> None:
        self._change(
            event,
            rows,
            state="analysed",
            responses=int(event.responses),
            satisfied=int(event.satisfied),
            satisfaction_percent=float(event.satisfaction_percent),
            below_target=bool(event.below_target),
            analysed_at=event.meta.occurred_at,
        )

    def on_CapaIssued(self, event: Any, rows: Rows) -> None:
        survey_id = str(event.originator_id)
        for item in event.items:
            rows.put(
                CAPA_ITEMS,
                {
                    "survey_id": survey_id,
                    "item": int(item["item"]),
                    "number": event.number,
                    "department": item["department"],
                    "owner": item.get("owner"),
                    "description": item["description"],
                    "issued_at": event.meta.occurred_at,
                    "due_at": instant(item["due_at"]),
                    "state": "open",
                    "completed_at": None,
                    "on_time": None,
                    "note": None,
                },
            )
        row = rows.get(SURVEYS, (survey_id,))
        if row is not None:
            self._change(
                event,
                rows,
                state="capa_issued",
                capa_items=row["capa_items"] + len(event.items),
                capa_open=row["capa_open"] + len(event.items),
            )

    def on_CapaItemCompleted(self, event: Any, rows: Rows) -> None:
        survey_id = str(event.originator_id)
        item = rows.get(CAPA_ITEMS, (survey_id, int(event.item)))
        if item is not None:
            rows.put(
                CAPA_ITEMS,
                {
                    **item,
                    "state": "done",
                    "completed_at": event.meta.occurred_at,
                    "on_time": bool(event.on_time),
                    "note": event.note,
                },
            )
        row = rows.get(SURVEYS, (survey_id,))
        if row is not None:
            self._change(event, rows, capa_open=max(row["capa_open"] - 1, 0))

    def on_CapaItemBreached(self, event: Any, rows: Rows) -> None:
        item = rows.get(CAPA_ITEMS, (str(event.originator_id), int(event.item)))
        if item is not None and item["state"] == "open":
            rows.put(CAPA_ITEMS, {**item, "state": "breached"})

    def on_SurveyClosed(self, event: Any, rows: Rows) -> None:
        self._change(event, rows, state="closed", closed_at=event.meta.occurred_at)
