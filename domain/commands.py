"""Commands: what people and workers ask the desk to do, validated at the edge (pydantic).

Every command carries who asks (actor, role, department), through which channel, an optional
``command_id`` (the same id twice has one effect), an optional ``expected_version`` (a stale one
is refused, never merged) and an optional ``occurred_at`` (business time, e.g. a phone call
logged twenty minutes later); without it the desk's clock gives the time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from domain.base import Channel, Role

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Kind = Literal[
    "complaint",
    "fault_repair",
    "new_connection",
    "meter_dispute",
    "billing_adjustment",
    "inquiry",
    "suggestion",
    "report",
]
Priority = Literal["low", "normal", "high", "urgent"]
Area = Literal["urban", "rural", "remote"]
Voltage = Literal["lv_residential", "lv", "10kV", "35kV"]
Station = Literal["station_1", "station_2", "station_3", "station_4", "station_5"]
TicketClass = Literal["repair", "non_repair"]


class Command(BaseModel):
    """Fields every command carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor_id: Name
    role: Role
    department: Name
    channel: Channel = Channel.HOTLINE
    command_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    expected_version: Annotated[int, Field(ge=1)] | None = None
    occurred_at: AwareDatetime | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


class TicketCommand(Command):
    """A command addressed to one existing ticket."""

    ticket_id: UUID
    action: str = ""


# --- customers -------------------------------------------------------------------


class RegisterCustomer(Command):
    name: Name
    customer_type: Literal["residential", "commercial", "industrial", "group"] = "residential"
    area: Area = "urban"
    voltage: Voltage = "lv_residential"
    station: Station = "station_1"
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{5,20}$")] | None = None
    address: Text | None = None
    group_id: str | None = None


class AssignGrade(Command):
    customer_id: UUID
    grade: Literal["A", "B", "C", "none"]
    key_account: bool = False
    basis: Text


class AssignAccountManager(Command):
    customer_id: UUID
    manager: Name


# --- intake ----------------------------------------------------------------------


class ReceiveTicket(Command):
    """Intake (受理) of any ticket kind; an unknown caller may be registered on the fly."""

    kind: Kind
    customer_id: UUID | None = None
    customer_name: Name | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{5,20}$")] | None = None
    address: Text | None = None
    category: Name
    content: Text
    priority: Priority = "normal"
    area: Area | None = None
    voltage: Voltage | None = None
    station: Station | None = None


# --- lifecycle actions (POST /tickets/{id}/{action}) -------------------------------


class Verify(TicketCommand):
    action: Literal["verify"] = "verify"
    note: str = ""


class Classify(TicketCommand):
    action: Literal["classify"] = "classify"
    category: Name
    priority: Priority
    ticket_class: TicketClass = "non_repair"


class Reclassify(TicketCommand):
    action: Literal["reclassify"] = "reclassify"
    category: Name
    priority: Priority
    ticket_class: TicketClass = "non_repair"
    basis: Literal["from_receipt", "from_now"] | None = None


class ResolveAtFirstContact(TicketCommand):
    action: Literal["resolve_at_first_contact"] = "resolve_at_first_contact"
    answer: Text


class Reject(TicketCommand):
    action: Literal["reject"] = "reject"
    reason: Literal["duplicate", "not_ours", "invalid"]
    note: str = ""


class Dispatch(TicketCommand):
    action: Literal["dispatch"] = "dispatch"
    to_department: Name | None = None  # None: the routing table decides
    owner: Name
    note: str = ""


class Accept(TicketCommand):
    action: Literal["accept"] = "accept"
    owner: Name | None = None


class Transfer(TicketCommand):
    action: Literal["transfer"] = "transfer"
    to_department: Name
    owner: Name
    reason: Text


class HandOver(TicketCommand):
    """An organisational handover (合署): the duties of a department moved to another unit."""

    action: Literal["hand_over"] = "hand_over"
    to_department: Name
    reason: Text


class Urge(TicketCommand):
    action: Literal["urge"] = "urge"
    note: Text


class Supervise(TicketCommand):
    action: Literal["supervise"] = "supervise"
    reason: Text


class ContactCustomer(TicketCommand):
    action: Literal["contact_customer"] = "contact_customer"
    note: Text


class Pause(TicketCommand):
    action: Literal["pause"] = "pause"
    reason: Text


class Resume(TicketCommand):
    action: Literal["resume"] = "resume"


class RecordCause(TicketCommand):
    action: Literal["record_cause"] = "record_cause"
    cause: Text
    solution: Text


class Reply(TicketCommand):
    action: Literal["reply"] = "reply"
    result: Text
    measures: str = ""


class Answer(TicketCommand):
    action: Literal["answer"] = "answer"
    content: Text
    via: Literal["phone", "sms", "email", "visit", "online"] = "phone"


class Close(TicketCommand):
    action: Literal["close"] = "close"
    note: str = ""


class Reopen(TicketCommand):
    action: Literal["reopen"] = "reopen"
    reason: Text


class Withdraw(TicketCommand):
    action: Literal["withdraw"] = "withdraw"
    reason: Text


class OpenDispute(TicketCommand):
    action: Literal["open_dispute"] = "open_dispute"
    subject: Text


class ResolveDispute(TicketCommand):
    action: Literal["resolve_dispute"] = "resolve_dispute"
    outcome: Text


class RebindSla(TicketCommand):
    action: Literal["rebind_sla"] = "rebind_sla"
    basis: Literal["from_receipt", "from_now"]
    reason: Text


class DispatchCrew(TicketCommand):
    action: Literal["dispatch_crew"] = "dispatch_crew"
    crew: Name
    promised_arrival_at: AwareDatetime


class RecordArrival(TicketCommand):
    action: Literal["record_arrival"] = "record_arrival"
    crew: Name


class RecordRestoration(TicketCommand):
    action: Literal["record_restoration"] = "record_restoration"
    crew: Name
    cause: Text


class Step(TicketCommand):
    """A named step of a new connection, a meter test or a generic request, with its owner."""

    action: Literal[
        "record_survey",
        "draft_plan",
        "approve_plan",
        "sign_contract",
        "install_meter",
        "energize",
        "schedule_test",
        "approve_adjustment",
        "start_work",
    ]
    owner: Name
    note: str = ""


class RecordTest(TicketCommand):
    action: Literal["record_test"] = "record_test"
    owner: Name
    result: Text
    error_percent: float | None = None


class ProposeAdjustment(TicketCommand):
    action: Literal["propose_adjustment"] = "propose_adjustment"
    owner: Name
    kwh: float
    amount_yuan: float


# --- SLA clock (issued by the SLA clock worker; idempotent) ------------------------


class RaiseSlaWarning(TicketCommand):
    action: Literal["raise_sla_warning"] = "raise_sla_warning"
    milestone: Name
    cycle: Annotated[int, Field(ge=1)]
    threshold: Annotated[float, Field(gt=0, lt=1)]


class RecordSlaBreach(TicketCommand):
    action: Literal["record_breach"] = "record_breach"
    milestone: Name
    cycle: Annotated[int, Field(ge=1)]


class EscalateSla(TicketCommand):
    action: Literal["escalate"] = "escalate"
    milestone: Name
    cycle: Annotated[int, Field(ge=1)]
    level: Annotated[int, Field(ge=1)]


# --- callbacks -------------------------------------------------------------------


class ScheduleCallback(Command):
    kind: Literal["post_service", "periodic"] = "post_service"
    ticket_id: UUID | None = None
    customer_id: UUID | None = None
    due_at: AwareDatetime | None = None
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3


class RecordCallbackAttempt(Command):
    callback_id: UUID
    outcome: Literal["no_answer", "busy", "wrong_number", "call_back_later"]
    note: str = ""


class RecordCallbackOutcome(Command):
    callback_id: UUID
    satisfaction: Annotated[int, Field(ge=1, le=5)]
    satisfied: bool | None = None
    comment: str = ""
    follow_up: bool = False


class CancelCallback(Command):
    callback_id: UUID
    reason: Text


TICKET_ACTIONS: dict[str, type[TicketCommand]] = {
    cls.model_fields["action"].default: cls
    for cls in (
        Verify,
        Classify,
        Reclassify,
        ResolveAtFirstContact,
        Reject,
        Dispatch,
        Accept,
        Transfer,
        HandOver,
        Urge,
        Supervise,
        ContactCustomer,
        Pause,
        Resume,
        RecordCause,
        Reply,
        Answer,
        Close,
        Reopen,
        Withdraw,
        OpenDispute,
        ResolveDispute,
        RebindSla,
        DispatchCrew,
        RecordArrival,
        RecordRestoration,
        RecordTest,
        ProposeAdjustment,
        RaiseSlaWarning,
        RecordSlaBreach,
        EscalateSla,
    )
}
for _step in Step.model_fields["action"].annotation.__args__:  # type: ignore[union-attr]
    TICKET_ACTIONS[_step] = Step


def parse_action(action: str, payload: dict[str, object]) -> TicketCommand:
    """Build the command for ``POST /tickets/{id}/{action}`` (raises on unknown or invalid)."""
    cls = TICKET_ACTIONS.get(action)
    if cls is None:
        from domain.errors import InvalidValue

        raise InvalidValue("action", f"unknown action {action!r}")
    return cls.model_validate({**payload, "action": action})


__all__ = ["TICKET_ACTIONS", "Command", "TicketCommand", "datetime", "parse_action"]
