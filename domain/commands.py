"""Commands: what people and workers ask the desk to do, validated at the edge (pydantic).

Every command carries who asks (actor, role, department), through which channel, an optional
``command_id`` (the same id twice has one effect), an optional ``expected_version`` (a stale one
is refused, never merged) and an optional ``occurred_at`` (business time, e.g. a phone call
logged twenty minutes later); without it the desk's clock gives the time. A command addressed
to one aggregate derives from ``TicketCommand``, ``CustomerCommand`` or ``CallbackCommand``
(the id the API takes from the path); lifecycle actions of one shape share a base with their
fields (``WithReason``, ``SlaAction``, ...), each action still a class of its own.

What a command may carry is bounded here, once, by a few reusable types (every text field of
every command uses one of them, and the HTTP bodies are derived from these commands):

| type | length | control characters | for |
|---|---|---|---|
| ``Name`` | 1-200 | none | names, departments, owners, crews, categories, milestones |
| ``Ident`` | 1-200 | none | machine identifiers (command, correlation, group ids) |
| ``Text`` | 1-4000 | newline and tab only | free text: content, reasons, results, answers |
| ``OptionalNote`` | 0-4000 | newline and tab only | free text that may be empty (notes) |
| ``Instant`` | 2000-01-01 to 2100-01-01 (UTC) | whole-minute UTC offset | every business instant |

Names and texts are stripped of surrounding whitespace. NUL and the other control characters
(and lone surrogates, which no database encoding can store) are refused because one such value
stored in an event would be replayed into every view, for ever; a bounded length keeps one
request from filling the log. Instants outside the range, or with an offset such as a local
mean time's ``+08:05:43``, cannot be written back as RFC 3339 or converted safely.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from domain.base import Channel, Role

T = TypeVar("T")
NAME_MAX = 200
TEXT_MAX = 4000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

# C0 and C1 controls (Unicode category Cc); free text keeps tab and newline. Lone surrogates
# are refused too (no database encoding can store one), but JSON Schema engines cannot spell
# them in a pattern, so the documented patterns leave them out.
_LINE_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f"
_TEXT_CONTROLS = "\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f"
_SURROGATES = "\\ud800-\\udfff"
# What str.strip() removes besides controls: a blank name or text is empty once stripped.
_BLANKS = " \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_LINE_BAD = re.compile(f"[{_LINE_CONTROLS}{_SURROGATES}]")
_TEXT_BAD = re.compile(f"[{_TEXT_CONTROLS}{_SURROGATES}]")
# The same rules as JSON Schema patterns, so /openapi.json tells clients (and fuzzers) what
# is accepted: at least one non-blank character where one is required.
LINE_PATTERN = f"^[^{_LINE_CONTROLS}]*$"
TEXT_PATTERN = f"^[^{_TEXT_CONTROLS}]*$"
FILLED_LINE_PATTERN = f"^[^{_LINE_CONTROLS}]*[^{_BLANKS}{_LINE_CONTROLS}][^{_LINE_CONTROLS}]*$"
FILLED_TEXT_PATTERN = f"^[^{_TEXT_CONTROLS}]*[^{_BLANKS}{_LINE_CONTROLS}][^{_TEXT_CONTROLS}]*$"


def single_line(value: T) -> T:
    """Refuse control characters (the value is never echoed: it may be anything).

    Checked before whitespace is stripped (a stripped control is still refused, as the
    documented pattern says); a value that is not a string is left to the type's own check.
    """
    if isinstance(value, str) and _LINE_BAD.search(value):
        raise PydanticCustomError(
            "control_characters", "must not contain control characters (NUL, tab, newline, ...)"
        )
    return value


def free_text(value: T) -> T:
    """Refuse control characters other than newline and tab (before stripping, as above)."""
    if isinstance(value, str) and _TEXT_BAD.search(value):
        raise PydanticCustomError(
            "control_characters", "must not contain control characters other than newline and tab"
        )
    return value


def sane_instant(value: datetime) -> datetime:
    """An instant between 2000 and 2100 (UTC) with a whole-minute offset.

    Raises ``PydanticCustomError`` (a ``ValueError``) whose message names the rule broken.
    """
    offset = value.utcoffset()
    if offset is None:
        raise PydanticCustomError("timezone_aware", "needs a UTC offset, e.g. +08:00")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last UTC datetime
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise PydanticCustomError(
            "instant_out_of_range", "must lie between 2000-01-01 and 2100-01-01 (UTC)"
        )
    if offset % timedelta(minutes=1):
        raise PydanticCustomError(
            "offset_not_whole_minutes", "the UTC offset must be whole minutes, e.g. +08:00"
        )
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    BeforeValidator(single_line),
    Field(json_schema_extra={"pattern": FILLED_LINE_PATTERN}),
]
Ident = Annotated[
    str,
    StringConstraints(min_length=1, max_length=NAME_MAX),
    BeforeValidator(single_line),
    Field(json_schema_extra={"pattern": LINE_PATTERN}),
]
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX),
    BeforeValidator(free_text),
    Field(json_schema_extra={"pattern": FILLED_TEXT_PATTERN}),
]
OptionalNote = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=TEXT_MAX),
    BeforeValidator(free_text),
    Field(json_schema_extra={"pattern": TEXT_PATTERN}),
]
Instant = Annotated[
    AwareDatetime,
    AfterValidator(sane_instant),
    Field(description="RFC 3339 with offset, 2000-01-01 to 2100-01-01, whole-minute offset"),
]
# A mobile (11 digits, 13x-19x) or a landline with its area code (0 + 2-3 digits + 7-8 digits),
# optionally +86; spaces and dashes as people write them. Kept as typed.
PHONE_PATTERN = r"^(?:\+?86[ -]?)?(?:1[3-9]\d(?:[ -]?\d{4}){2}|0\d{2,3}[ -]?\d{7,8})$"
Phone = Annotated[
    str,
    StringConstraints(pattern=PHONE_PATTERN),
    Field(
        description="A mobile number (11 digits, e.g. 138 0013 8000) or a landline with its area "
        "code (e.g. 0731-5550123); +86 allowed; spaces and dashes as written"
    ),
]
Version = Annotated[int, Field(ge=1, le=1_000_000_000)]
Cycle = Annotated[int, Field(ge=1, le=1000)]
Amount = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
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
# A distribution feeder (线路) as the dispatcher names it: letters, digits, CJK, "#", "-", "_".
Feeder = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=60,
        pattern=r"^[0-9A-Za-z\u4e00-\u9fff#_-]+$",
    ),
    Field(
        description="The distribution feeder (线路) the caller is supplied from, e.g. 10kV城关线#3"
    ),
]


class Command(BaseModel):
    """Fields every command carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor_id: Name
    role: Role
    department: Name
    channel: Channel = Channel.HOTLINE
    command_id: Ident | None = None
    expected_version: Version | None = None
    occurred_at: Instant | None = Field(
        default=None,
        description=(
            "When it happened, in business time: RFC 3339 with a UTC offset, 2000-01-01 to "
            "2100-01-01. Omitted: now. May lie in the past (a call typed in after the rush, a "
            "crew's arrival phoned in from the field); at most 5 minutes ahead of the server. "
            "SLA outcomes, attribution and report days go by this time; when it was recorded "
            "is kept separately. On a ticket it may not lie before the ticket was received, nor "
            "(without `backdated`) before the ticket's latest recorded fact."
        ),
    )
    correlation_id: Ident | None = None
    causation_id: Ident | None = None


class TicketCommand(Command):
    """A command addressed to one existing ticket."""

    ticket_id: UUID
    action: str = ""
    backdated: bool = Field(
        default=False,
        description=(
            "Set to record a fact whose `occurred_at` lies before the ticket's latest recorded "
            "fact (a late entry); needs `backdated_reason`. The timeline marks it, and SLA "
            "warnings or breaches it shows to be wrong are withdrawn by correcting events."
        ),
    )
    backdated_reason: OptionalNote | None = Field(
        default=None, description="Why the fact is entered late (with `backdated`)."
    )


class CustomerCommand(Command):
    """A command addressed to one registered customer."""

    customer_id: UUID


class CallbackCommand(Command):
    """A command addressed to one scheduled callback."""

    callback_id: UUID


# --- customers -------------------------------------------------------------------


class RegisterCustomer(Command):
    name: Name
    customer_type: Literal["residential", "commercial", "industrial", "group"] = "residential"
    area: Area = "urban"
    voltage: Voltage = "lv_residential"
    station: Station = "station_1"
    phone: Phone | None = None
    address: Text | None = None
    group_id: Ident | None = None


class AssignGrade(CustomerCommand):
    grade: Literal["A", "B", "C", "none"]
    key_account: bool = False
    basis: Text


class AssignAccountManager(CustomerCommand):
    manager: Name


class EraseCustomer(CustomerCommand):
    """Destroy a customer's personal data (crypto-shredding); every figure stays."""

    reason: Text


# --- intake ----------------------------------------------------------------------


class ReceiveTicket(Command):
    """Intake (受理) of any ticket kind; an unknown caller may be registered on the fly."""

    kind: Kind
    customer_id: UUID | None = None
    customer_name: Name | None = None
    phone: Phone | None = None
    address: Text | None = None
    category: Name
    content: Text
    priority: Priority = "normal"
    area: Area | None = None
    voltage: Voltage | None = None
    station: Station | None = None
    feeder: Feeder | None = None


# --- lifecycle actions (POST /tickets/{id}/{action}) -------------------------------
# Actions of one shape share a base that holds their fields; each action is still its own
# class (the desk matches on it), adding only its name.


class WithReason(TicketCommand):
    """An action whose only field is why it is taken."""

    reason: Text


class WithNote(TicketCommand):
    """An action whose only field is a note that must say something."""

    note: Text


class WithOptionalNote(TicketCommand):
    """An action whose only field is a note that may be left empty."""

    note: OptionalNote = ""


class CategoryAction(TicketCommand):
    """Category, priority and ticket class: what (re)classifying a complaint sets."""

    category: Name
    priority: Priority
    ticket_class: TicketClass = "non_repair"


class CrewAction(TicketCommand):
    """A fault repair's field step, taken by one crew."""

    crew: Name


class OwnedAction(TicketCommand):
    """A service request's step, with the person who owns it."""

    owner: Name


class SlaAction(TicketCommand):
    """A step of one SLA clock (milestone and cycle), sent by the SLA clock worker."""

    milestone: Name
    cycle: Cycle


class Verify(WithOptionalNote):
    action: Literal["verify"] = "verify"


class Classify(CategoryAction):
    action: Literal["classify"] = "classify"


class Reclassify(CategoryAction):
    action: Literal["reclassify"] = "reclassify"
    basis: Literal["from_receipt", "from_now"] | None = None


class ResolveAtFirstContact(TicketCommand):
    action: Literal["resolve_at_first_contact"] = "resolve_at_first_contact"
    answer: Text


class Reject(TicketCommand):
    action: Literal["reject"] = "reject"
    reason: Literal["duplicate", "not_ours", "invalid"]
    note: OptionalNote = ""


class Dispatch(TicketCommand):
    action: Literal["dispatch"] = "dispatch"
    to_department: Name | None = None  # None: the routing table decides
    owner: Name
    note: OptionalNote = ""


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


class Urge(WithNote):
    action: Literal["urge"] = "urge"


class Supervise(WithReason):
    action: Literal["supervise"] = "supervise"


class ContactCustomer(WithNote):
    action: Literal["contact_customer"] = "contact_customer"


class Pause(WithReason):
    action: Literal["pause"] = "pause"


class Resume(TicketCommand):
    action: Literal["resume"] = "resume"


class RecordCause(TicketCommand):
    action: Literal["record_cause"] = "record_cause"
    cause: Text
    solution: Text


class Reply(TicketCommand):
    action: Literal["reply"] = "reply"
    result: Text
    measures: OptionalNote = ""


class Answer(TicketCommand):
    action: Literal["answer"] = "answer"
    content: Text
    via: Literal["phone", "sms", "email", "visit", "online"] = "phone"


class Close(WithOptionalNote):
    action: Literal["close"] = "close"


class Reopen(WithReason):
    action: Literal["reopen"] = "reopen"


class Withdraw(WithReason):
    action: Literal["withdraw"] = "withdraw"


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


class DispatchCrew(CrewAction):
    action: Literal["dispatch_crew"] = "dispatch_crew"
    promised_arrival_at: Instant


class RecordArrival(CrewAction):
    action: Literal["record_arrival"] = "record_arrival"


class RecordRestoration(CrewAction):
    action: Literal["record_restoration"] = "record_restoration"
    cause: Text


class Step(OwnedAction):
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
    note: OptionalNote = ""


class RecordTest(OwnedAction):
    action: Literal["record_test"] = "record_test"
    result: Text
    error_percent: Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)] | None = None


class ProposeAdjustment(OwnedAction):
    action: Literal["propose_adjustment"] = "propose_adjustment"
    kwh: Amount
    amount_yuan: Amount


# --- SLA clock (issued by the SLA clock worker; idempotent) ------------------------


class RaiseSlaWarning(SlaAction):
    action: Literal["raise_sla_warning"] = "raise_sla_warning"
    threshold: Annotated[float, Field(gt=0, lt=1)]


class RecordSlaBreach(SlaAction):
    action: Literal["record_breach"] = "record_breach"


class EscalateSla(SlaAction):
    action: Literal["escalate"] = "escalate"
    level: Annotated[int, Field(ge=1, le=100)]


# --- callbacks -------------------------------------------------------------------


class ScheduleCallback(Command):
    kind: Literal["post_service", "periodic"] = "post_service"
    ticket_id: UUID | None = None
    customer_id: UUID | None = None
    due_at: Instant | None = Field(
        default=None,
        description="When the callback is due (business time); omitted: by the callback plan",
    )
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3


class RecordCallbackAttempt(CallbackCommand):
    outcome: Literal["no_answer", "busy", "wrong_number", "call_back_later"]
    note: OptionalNote = ""


class RecordCallbackOutcome(CallbackCommand):
    satisfaction: Annotated[int, Field(ge=1, le=5)]
    satisfied: bool | None = None
    comment: OptionalNote = ""
    follow_up: bool = False


class CancelCallback(CallbackCommand):
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


__all__ = [
    "TICKET_ACTIONS",
    "CallbackCommand",
    "Command",
    "CustomerCommand",
    "TicketCommand",
    "datetime",
    "parse_action",
]
