"""account_manager_worklist: what each account manager (大客户经理) works from.

Four tables:

- ``account_manager_tickets``: one row per ticket of a key customer (grade A/B or a key
  account, as copied at intake) with the account manager named then, the quarter of receipt
  (business time, Beijing), the ticket's state (``open`` until closed, withdrawn, rejected or
  resolved at first contact; open again when reopened), its SLA breaches (withdrawn ones taken
  back) and the customer's verdict at the latest close (``satisfied``: true, false, or null
  when none was given). A manager's worklist is their open rows; the quarterly key-account
  report (:func:`quarter_report`) groups a quarter's rows by customer.
- ``account_manager_flags``: one row per problem customer flagged in a quarter
  (``ProblemCustomerFlagged``), with the complaints that flagged it (the evidence), the
  manager named at the intake that reached the threshold and the visit planned for it
  (``visit_id``: null while it awaits a visit plan).
- ``account_manager_visits``: one row per customer visit (客户走访) with its state: a manager's
  visits awaiting a report are those ``plan_approved``; a reported one carries its findings for
  the supervisor who approves it; archived ones are kept.
- ``account_manager_customers``: each customer's name, so that a manager reads who a row is
  about (:func:`customer_name_sql` joins it to the other tables when they are read). The other
  tables hold customer ids only; this one is the view's personal data, and a customer's
  erasure blanks their name here, as a rebuild writes it (the registration decodes as erased).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.key_accounts import KEY_GRADES, quarter_of
from domain.personal import ERASED
from projections.core import Projection, Row, Rows, Table, meta_of
from projections.ticket_facts import SERVICE_STEP_EVENTS, STATE_AFTER, TERMINAL, TicketFacts

TICKETS = "account_manager_tickets"
FLAGS = "account_manager_flags"
VISITS = "account_manager_visits"
NAMES = "account_manager_customers"
FACTS = TicketFacts(
    TICKETS,
    "ticket_id",
    "number",
    "kind",
    "customer_id",
    "grade",
    "key_account",
    "received_at",
    ("manager", "text"),
    ("quarter", "text"),
    ("state", "text"),
    ("open", "bool"),
    ("breaches", "int"),
    ("satisfied", "bool"),
    start={"state": "received", "open": True, "breaches": 0},
)


class AccountManagerWorklist(Projection):
    """Key customers' tickets by account manager; problem customers flagged per quarter."""

    name = "account_manager_worklist"
    # A flag row meets its tally's, its customer's and its visit's events (several aggregates) in
    # log order; the Kafka topic orders each ticket's events only (core.Projection.log_order_only).
    log_order_only = True
    holds_personal_data = True  # customers' names: erasure blanks them, compaction rewrites
    version = 3
    tables = (
        FACTS.table,
        Table(
            FLAGS,
            key=("customer_id", "quarter"),
            columns=(
                ("customer_id", "text"),
                ("quarter", "text"),
                ("manager", "text"),
                ("complaints", "int"),
                ("threshold", "int"),
                ("flagged_at", "ts"),
                ("evidence", "json"),
                ("visit_id", "text"),
            ),
        ),
        Table(
            VISITS,
            key=("visit_id",),
            columns=(
                ("visit_id", "text"),
                ("customer_id", "text"),
                ("manager", "text"),
                ("quarter", "text"),
                ("purpose", "text"),
                ("planned_for", "ts"),
                ("state", "text"),
                ("planned_at", "ts"),
                ("visited_at", "ts"),
                ("findings", "text"),
                ("archived_at", "ts"),
            ),
        ),
        Table(NAMES, key=("customer_id",), columns=(("customer_id", "text"), ("name", "text"))),
    )

    # ---------------------------------------------------------------- customers

    def on_CustomerRegistered(self, event: Any, rows: Rows) -> None:
        rows.put(NAMES, {"customer_id": str(event.originator_id), "name": event.name})

    def on_CustomerErased(self, event: Any, rows: Rows) -> None:
        row = rows.get(NAMES, (str(event.originator_id),))
        if row is not None:
            rows.put(NAMES, {**row, "name": ERASED})

    # ---------------------------------------------------------------- tickets

    def on_ComplaintReceived(self, event: Any, rows: Rows) -> None:
        customer = event.details.get("customer") or {}
        if customer.get("grade") not in KEY_GRADES and not customer.get("key_account"):
            return
        at = meta_of(event).occurred_at
        rows.put(
            TICKETS,
            FACTS.received(event, manager=customer.get("account_manager"), quarter=quarter_of(at)),
        )

    on_ServiceRequestReceived = on_ComplaintReceived

    def fold(self, event: Any, rows: Rows) -> None:
        name = type(event).__name__
        if name in STATE_AFTER or name in SERVICE_STEP_EVENTS:
            head = FACTS.of(event, rows)
            if head is None:
                return
            FACTS.follow(head, name, event)
            head["open"] = head["state"] not in TERMINAL
            if name == "TicketClosed":
                head["satisfied"] = event.satisfied
            rows.put(TICKETS, head)
            return
        super().fold(event, rows)

    def on_SlaBreached(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is not None:
            rows.put(TICKETS, {**head, "breaches": head["breaches"] + 1})

    def on_SlaBreachWithdrawn(self, event: Any, rows: Rows) -> None:
        head = FACTS.of(event, rows)
        if head is not None:
            rows.put(TICKETS, {**head, "breaches": max(0, head["breaches"] - 1)})

    def on_ProblemCustomerFlagged(self, event: Any, rows: Rows) -> None:
        rows.put(
            FLAGS,
            {
                "customer_id": event.customer_id,
                "quarter": event.quarter,
                "manager": event.account_manager,
                "complaints": len(event.complaints),
                "threshold": event.threshold,
                "flagged_at": meta_of(event).occurred_at,
                "evidence": [c["number"] for c in event.complaints],
                "visit_id": None,
            },
        )

    # ---------------------------------------------------------------- visits

    def on_VisitPlanned(self, event: Any, rows: Rows) -> None:
        visit_id = str(event.originator_id)
        rows.put(
            VISITS,
            {
                "visit_id": visit_id,
                "customer_id": event.customer_id,
                "manager": event.manager,
                "quarter": event.quarter,
                "purpose": event.purpose,
                "planned_for": event.planned_for,
                "state": "planned",
                "planned_at": meta_of(event).occurred_at,
            },
        )
        if event.quarter is not None:
            flag = rows.get(FLAGS, (event.customer_id, event.quarter))
            if flag is not None and flag["visit_id"] is None:
                rows.put(FLAGS, {**flag, "visit_id": visit_id})

    def _visit(self, event: Any, rows: Rows, **changes: Any) -> None:
        row = rows.get(VISITS, (str(event.originator_id),))
        if row is not None:
            rows.put(VISITS, {**row, **changes})

    def on_VisitPlanApproved(self, event: Any, rows: Rows) -> None:
        self._visit(event, rows, state="plan_approved")

    def on_VisitReported(self, event: Any, rows: Rows) -> None:
        self._visit(
            event, rows, state="reported", visited_at=event.visited_at, findings=event.findings
        )

    def on_VisitReportApproved(self, event: Any, rows: Rows) -> None:
        self._visit(event, rows, state="report_approved")

    def on_VisitArchived(self, event: Any, rows: Rows) -> None:
        self._visit(event, rows, state="archived", archived_at=meta_of(event).occurred_at)


def customer_name_sql(names: str) -> str:
    """SQL for the name of a row's customer (``t.customer_id``), ``names`` being the physical
    name of the ``account_manager_customers`` table; null for a customer never registered."""
    return f'(SELECT n."name" FROM "{names}" AS n WHERE n."customer_id" = t."customer_id")'


def quarter_report(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Per key customer, of ``account_manager_tickets`` rows of one quarter: tickets, breaches,
    tickets with a verdict, satisfied ones and the satisfaction rate (satisfied / with a
    verdict, null when none had one). Ordered by customer id."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = out.setdefault(
            row["customer_id"],
            {
                "customer_id": row["customer_id"],
                "customer_name": row.get("customer_name"),
                "grade": row["grade"],
                "key_account": row["key_account"],
                "manager": row["manager"],
                "tickets": 0,
                "breaches": 0,
                "with_verdict": 0,
                "satisfied": 0,
            },
        )
        entry["tickets"] += 1
        entry["breaches"] += row["breaches"] or 0
        if row["satisfied"] is not None:
            entry["with_verdict"] += 1
            entry["satisfied"] += 1 if row["satisfied"] else 0
    report = [out[k] for k in sorted(out)]
    for entry in report:
        verdicts = entry["with_verdict"]
        entry["satisfaction"] = round(entry["satisfied"] / verdicts, 4) if verdicts else None
    return report
