"""assessment: the facts each department is assessed for (考核), per month, and each month's state.

Two tables for the month's figures and one of the fold's own memory:

- ``assessment_facts``: one row per assessable fact, on the local (Asia/Shanghai) month of its
  business time (``occurred_at``), credited like ``department_performance`` credits it — to the
  department in charge then (a department gone by then: its successor in the org directory):

  - ``breach``: ``SlaBreached``, for the department it names (else the one holding the ticket);
    ``SlaBreachWithdrawn`` removes it, ``SlaBreachReattributed`` moves it;
  - ``urge`` (``Urged``, the department urged), ``supervision`` (``SupervisionOpened``, the
    department supervised), ``reopen`` (``TicketReopened``, the department whose work came
    back), ``dissatisfied`` (a ``CallbackCompleted`` not satisfied, for the department holding
    the callback's ticket).

  Its ``fact_id`` is readable and stable: ``<ticket number>/<reason>/<milestone>/<cycle>`` for
  a breach, ``<ticket number>/<reason>/<version of the event>`` otherwise.
- ``assessment_months``: one row per :class:`domain.assessment.AssessmentMonth`: its state, the
  units' self-assessed items, the proposal (items, totals, joint liability, rules version),
  disputes, cancelled items, the points standing, who signed it off and when.

:func:`domain.assessment.assess_month` turns a department's facts of a month into the proposal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from domain.assessment import AssessmentRules, Proposal, assess_month, month_id
from domain.errors import DomainError
from domain.org import OrgDirectory
from projections.core import Projection, Row, Rows, Table
from projections.ticket_facts import TicketFacts

FACTS_TABLE = "assessment_facts"
MONTHS = "assessment_months"
TICKETS = "assessment_tickets"
FACTS = TicketFacts(TICKETS, "ticket_id", "number", "kind", "department")
UNKNOWN = "unknown"


class AssessmentView(Projection):
    """Assessable facts per department and month, and the assessment months' state."""

    name = "assessment"
    version = 1
    tables = (
        Table(
            FACTS_TABLE,
            key=("fact_id",),
            columns=(
                ("fact_id", "text"),
                ("month", "text"),  # local YYYY-MM of occurred_at
                ("department", "text"),
                ("ticket_id", "text"),
                ("number", "text"),
                ("kind", "text"),
                ("reason", "text"),
                ("milestone", "text"),
                ("occurred_at", "ts"),
            ),
        ),
        Table(
            MONTHS,
            key=("month_id",),
            columns=(
                ("month_id", "text"),
                ("department", "text"),
                ("month", "text"),
                ("state", "text"),
                ("rules_version", "text"),
                ("leader", "text"),
                ("points", "int"),
                ("proposal", "json"),
                ("self_assessed", "json"),
                ("disputes", "json"),
                ("cancelled", "json"),
                ("signed_by", "text"),
                ("signed_at", "ts"),
                ("proposed_at", "ts"),
            ),
        ),
        FACTS.table,
    )

    def __init__(
        self, directory: OrgDirectory | None = None, timezone: str = "Asia/Shanghai"
    ) -> None:
        self.directory = directory
        self.tz = ZoneInfo(timezone)

    # ------------------------------------------------------------------ helpers

    def month(self, at: datetime) -> str:
        """The local calendar month of an instant, ``YYYY-MM``."""
        local = at.astimezone(self.tz)
        return f"{local.year:04d}-{local.month:02d}"

    def in_charge(self, department: str | None, at: datetime) -> str:
        if not department:
            return UNKNOWN
        if self.directory is None:
            return department
        try:
            return self.directory.successor(department, at)
        except DomainError:
            return department

    def _fact(
        self,
        rows: Rows,
        fact_id: str,
        ticket: Row,
        reason: str,
        department: str | None,
        at: datetime,
        milestone: str | None = None,
    ) -> None:
        rows.put(
            FACTS_TABLE,
            {
                "fact_id": fact_id,
                "month": self.month(at),
                "department": self.in_charge(department, at),
                "ticket_id": ticket["ticket_id"],
                "number": ticket["number"],
                "kind": ticket["kind"],
                "reason": reason,
                "milestone": milestone,
                "occurred_at": at,
            },
        )

    @staticmethod
    def _breach_id(ticket: Row, milestone: str, cycle: int) -> str:
        return f"{ticket['number']}/breach/{milestone}/{cycle}"

    # ------------------------------------------------------------------ tickets

    def on_ComplaintReceived(self, event: Any, rows: Rows) -> None:
        front = event.details.get("department") or event.meta.department
        rows.put(TICKETS, FACTS.received(event, department=front))

    on_ServiceRequestReceived = on_ComplaintReceived

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in FACTS.moves:  # dispatched, transferred or handed over: the department
            FACTS.change(event, rows, FACTS.moved(name, event))
            return
        super().fold(event, rows)

    # -------------------------------------------------------------------- facts

    def on_SlaBreached(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        dept = event.department or ticket["department"]
        fact_id = self._breach_id(ticket, event.milestone, event.cycle)
        at = event.meta.occurred_at
        self._fact(rows, fact_id, ticket, "breach", dept, at, event.milestone)

    def on_SlaBreachWithdrawn(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is not None:
            rows.delete(FACTS_TABLE, (self._breach_id(ticket, event.milestone, event.cycle),))

    def on_SlaBreachReattributed(self, event: Any, rows: Rows) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        fact_id = self._breach_id(ticket, event.milestone, event.cycle)
        at = event.breached_at
        self._fact(rows, fact_id, ticket, "breach", event.department, at, event.milestone)

    def _ticket_fact(self, event: Any, rows: Rows, reason: str, department: str | None) -> None:
        ticket = FACTS.of(event, rows)
        if ticket is None:
            return
        fact_id = f"{ticket['number']}/{reason}/{event.originator_version}"
        dept = department or ticket["department"]
        self._fact(rows, fact_id, ticket, reason, dept, event.meta.occurred_at)

    def on_Urged(self, event: Any, rows: Rows) -> None:
        self._ticket_fact(event, rows, "urge", event.department)

    def on_SupervisionOpened(self, event: Any, rows: Rows) -> None:
        # ``by`` is the supervising unit; the supervised one is the department in charge.
        self._ticket_fact(event, rows, "supervision", None)

    def on_TicketReopened(self, event: Any, rows: Rows) -> None:
        self._ticket_fact(event, rows, "reopen", None)

    def on_CallbackCompleted(self, event: Any, rows: Rows) -> None:
        if event.satisfied or event.source_ticket_id is None:
            return
        ticket = FACTS.get(rows, str(event.source_ticket_id))
        if ticket is None:
            return
        callback = str(event.originator_id)[:8]
        fact_id = f"{ticket['number']}/dissatisfied/{callback}.{event.originator_version}"
        dept = ticket["department"] or event.department
        self._fact(rows, fact_id, ticket, "dissatisfied", dept, event.meta.occurred_at)

    # ------------------------------------------------------------------- months

    def on_AssessmentMonthOpened(self, event: Any, rows: Rows) -> None:
        rows.put(
            MONTHS,
            {
                "month_id": str(event.originator_id),
                "department": event.department,
                "month": event.month,
                "state": "open",
                "points": 0,
                "self_assessed": [],
                "disputes": {},
                "cancelled": [],
            },
        )

    def _month(self, event: Any, rows: Rows) -> Row | None:
        return rows.get(MONTHS, (str(event.originator_id),))

    def on_AssessmentItemSelfAssessed(self, event: Any, rows: Rows) -> None:
        row = self._month(event, rows)
        if row is not None:
            done = {"ticket": event.ticket, "reason": event.reason, "note": event.note}
            rows.put(MONTHS, {**row, "self_assessed": [*(row["self_assessed"] or []), done]})

    def on_AssessmentProposed(self, event: Any, rows: Rows) -> None:
        row = self._month(event, rows)
        if row is None:
            return
        proposal = event.proposal
        rows.put(
            MONTHS,
            {
                **row,
                "state": "proposed",
                "rules_version": proposal["rules_version"],
                "leader": proposal["leader"],
                "points": proposal["points"],
                "proposal": proposal,
                "disputes": {},
                "cancelled": [],
                "proposed_at": event.meta.occurred_at,
            },
        )

    def on_AssessmentDisputed(self, event: Any, rows: Rows) -> None:
        row = self._month(event, rows)
        if row is None:
            return
        disputes = dict(row["disputes"] or {})
        disputes[event.item] = {"reason": event.reason, "by": event.meta.actor, "decision": None}
        rows.put(MONTHS, {**row, "state": "disputed", "disputes": disputes})

    def on_AssessmentDisputeResolved(self, event: Any, rows: Rows) -> None:
        row = self._month(event, rows)
        if row is None:
            return
        disputes = dict(row["disputes"] or {})
        disputes[event.item] = {
            **disputes.get(event.item, {}),
            "decision": event.decision,
            "note": event.note,
        }
        cancelled = list(row["cancelled"] or [])
        points = row["points"]
        if event.decision == "cancelled":
            cancelled.append(event.item)
            items = (row["proposal"] or {}).get("items", [])
            points -= sum(int(i["points"]) for i in items if i["key"] == event.item)
        state = "proposed" if all(d.get("decision") for d in disputes.values()) else "disputed"
        rows.put(
            MONTHS,
            {**row, "state": state, "disputes": disputes, "cancelled": cancelled, "points": points},
        )

    def on_AssessmentSignedOff(self, event: Any, rows: Rows) -> None:
        row = self._month(event, rows)
        if row is not None:
            rows.put(
                MONTHS,
                {
                    **row,
                    "state": "signed_off",
                    "signed_by": event.leader,
                    "signed_at": event.meta.occurred_at,
                    "points": event.points,
                },
            )


# ------------------------------------------------------------------ the report


def month_end(month: str, timezone: str = "Asia/Shanghai") -> datetime:
    """The last instant of a local month (the org directory as it stood then)."""
    year, number = int(month[:4]), int(month[5:7])
    first = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=ZoneInfo(timezone))
    return first - timedelta(microseconds=1)


def parents_of(
    directory: OrgDirectory | None,
    departments: Iterable[str],
    month: str,
    timezone: str = "Asia/Shanghai",
) -> dict[str, str | None]:
    """Each department's parent and their parents, up to the top (逐级): as the directory stood
    at the month's end, or at its start for a unit gone during the month (merged away)."""
    end = month_end(month, timezone)
    start = datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=ZoneInfo(timezone))
    found: dict[str, str | None] = {}
    todo = list(departments)
    while todo:
        current = todo.pop()
        if current in found:
            continue
        parent = None
        for at in (end, start):
            if directory is None:
                break
            try:
                parent = directory.department(current, at).parent
                break
            except DomainError:
                continue
        found[current] = parent
        if parent:
            todo.append(parent)
    return found


def assessment_report(
    month: str,
    facts: Sequence[Row],
    months: Sequence[Row],
    rules: AssessmentRules,
    parents: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The month per department and per responsible person, from the view's rows of the month.

    A department with a proposal shows it as proposed (``stale`` when the facts now give other
    items: propose again); one without, as computed now. ``points`` per department are those
    standing (cancelled items out); ``total_points`` counts every item once. ``people`` are the
    responsible leaders with the points they answer for jointly (连带责任): their own
    departments' and, 逐级, those under them — liability, not added to the total.
    """
    rules.check_month(month)
    own = {row["department"]: row for row in months if row["month"] == month}
    departments = sorted({f["department"] for f in facts if f["month"] == month} | set(own))
    lines = []
    for department in departments:
        row = own.get(department)
        done = [(s["ticket"], s["reason"]) for s in (row or {}).get("self_assessed") or []]
        computed = assess_month(
            department,
            month,
            [f for f in facts if f["department"] == department and f["month"] == month],
            rules,
            self_assessed=done,
            parents=parents,
        ).model_dump(mode="json")
        proposal = (row or {}).get("proposal") or computed
        cancelled = list((row or {}).get("cancelled") or [])
        standing = proposal["points"] - sum(
            int(i["points"]) for i in proposal["items"] if i["key"] in cancelled
        )
        counts: dict[str, int] = {}
        for item in proposal["items"]:
            if item["skipped"] is None and item["key"] not in cancelled:
                counts[item["reason"]] = counts.get(item["reason"], 0) + 1
        lines.append(
            {
                "department": department,
                "month_id": str(month_id(department, month)),
                "state": (row or {}).get("state") or "open",
                "leader": proposal["leader"],
                "rules_version": proposal["rules_version"],
                "points": standing,
                "counts": counts,
                "by_reason": proposal["by_reason"],
                "skipped": [i["key"] for i in proposal["items"] if i["skipped"]],
                "cancelled": cancelled,
                "items": proposal["items"],
                "liability": [{**line, "points": standing} for line in proposal["liability"]],
                "self_assessed": (row or {}).get("self_assessed") or [],
                "disputes": (row or {}).get("disputes") or {},
                "signed_by": (row or {}).get("signed_by"),
                "signed_at": (row or {}).get("signed_at"),
                "proposed_at": (row or {}).get("proposed_at"),
                "stale": row is not None
                and row.get("proposal") is not None
                and computed["items"] != proposal["items"],
            }
        )
    people: dict[str, dict[str, Any]] = {}
    for line in lines:
        for share in line["liability"]:
            person = people.setdefault(
                share["person"],
                {"person": share["person"], "leads": set(), "departments": [], "liability": 0},
            )
            person["leads"].add(share["department"])
            person["departments"].append(line["department"])
            person["liability"] += share["points"]
    return {
        "month": month,
        "rules_version": rules.version,
        "departments": lines,
        "people": [{**p, "leads": sorted(p["leads"])} for _, p in sorted(people.items())],
        "total_points": sum(line["points"] for line in lines),
    }


class MonthSource(Protocol):
    """Where a month's rows are read from: a view store (``load_many`` by a column)."""

    def load_many(self, table: Table, column: str, values: Sequence[Any]) -> list[Row]: ...


def month_rows(source: MonthSource, month: str) -> tuple[list[Row], list[Row]]:
    """``(facts, months)``: the view's rows of ``month``."""
    tables = {t.name: t for t in AssessmentView.tables}
    facts = source.load_many(tables[FACTS_TABLE], "month", [month])
    months = source.load_many(tables[MONTHS], "month", [month])
    return facts, months


def proposal_for(
    department: str,
    month: str,
    facts: Sequence[Row],
    months: Sequence[Row],
    rules: AssessmentRules,
    parents: Mapping[str, str | None] | None = None,
) -> Proposal:
    """The proposal to send for ``department``'s month: its facts under ``rules``, less the
    items the unit recorded as self-assessed on the month."""
    row = next((m for m in months if m["department"] == department and m["month"] == month), None)
    done = [(s["ticket"], s["reason"]) for s in (row or {}).get("self_assessed") or []]
    mine = [f for f in facts if f["department"] == department and f["month"] == month]
    return assess_month(department, month, mine, rules, self_assessed=done, parents=parents)
