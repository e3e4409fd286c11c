"""Monthly assessment (考核): the rules, the month's items per department, and its sign-off.

Three parts, all pure:

- :class:`AssessmentRules`: points per fact (a breach 超时, an urge 催办, a supervision 督办, a
  reopening 重办, a dissatisfied callback 回访不满意), per ticket kind and SLA milestone where a
  rule names them; versioned data (``config/data/assessment_rules.toml``). The sources give no
  figures: every shipped number is a casetrail default and says so.
- :func:`assess_month`: from the month's facts of one department (rows of the ``assessment``
  view) and the rules, the items with their points, the totals, and the joint liability
  (连带责任) rolled up to the responsible leaders: the department's leader and, 逐级, the
  leaders of its parents. A liability line repeats points already in the department's total:
  the total counts every item once. An item the department assessed itself (子公司已自行考核) is
  listed as skipped and scores nothing here ("集团公司管控部门不再重复考核").
- :class:`AssessmentMonth`: one department's month, id derived from department and month.
  Self-assessed items are recorded while it is open; then the computed items are proposed
  (``AssessmentProposed``), may be disputed item by item with a reason, each dispute resolved
  (upheld, or the item cancelled), and the month is signed off by the responsible leader only
  ("考核分值由集团分管领导签发"). OPEN → PROPOSED ⇄ DISPUTED → SIGNED_OFF. Proposing again
  while proposed replaces the proposal (facts corrected since: the report marks the old one
  stale); once proposed, a unit that assessed an item itself disputes it instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.base import Meta, Recorded, recording_clock
from domain.commands import Command, Name, OptionalNote, Text
from domain.errors import IllegalTransition, InvalidValue, NotFound
from domain.extensions import aggregate, handles

REASONS: tuple[str, ...] = ("breach", "urge", "supervision", "reopen", "dissatisfied")
"""What an item is assessed for: 超时, 催办, 督办, 重办, 回访不满意."""
Reason = Literal["breach", "urge", "supervision", "reopen", "dissatisfied"]
SELF_ASSESSED = "self_assessed"
MONTH_NAMESPACE = uuid.UUID("3c2f7a51-9b0e-4d8c-a1f6-5e2d9c7b4a03")
MONTH_PATTERN = r"^20\d{2}-(0[1-9]|1[0-2])$"
"""A month assessed, ``YYYY-MM``, 2000-01 to 2099-12 (local dates)."""


def month_id(department: str, month: str) -> UUID:
    """The id of a department's assessment month (the same for every caller)."""
    return uuid.uuid5(MONTH_NAMESPACE, f"{department}/{month}")


# ------------------------------------------------------------------ the rules


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PointsRule(_Frozen):
    """Points for one reason; ``kind`` / ``milestone`` narrow it (the most specific wins)."""

    reason: Reason
    points: int = Field(ge=0, le=100)
    kind: str | None = None
    milestone: str | None = None
    casetrail_default: bool = Field(
        description="true: a figure casetrail chose, not one the sources give"
    )
    note: str = ""

    @model_validator(mode="after")
    def _milestone_for_breaches(self) -> PointsRule:
        if self.milestone is not None and self.reason != "breach":
            raise ValueError("only a breach rule may name a milestone")
        return self

    def matches(self, reason: str, kind: str | None, milestone: str | None) -> bool:
        return (
            self.reason == reason
            and self.kind in (None, kind)
            and self.milestone in (None, milestone)
        )

    @property
    def specificity(self) -> int:
        return (self.kind is not None) * 2 + (self.milestone is not None)


class Leader(_Frozen):
    """The responsible leader (分管领导) of a department, who signs its month off."""

    department: str = Field(min_length=1)
    person: str = Field(min_length=1)
    casetrail_default: bool


class AssessmentRules(_Frozen):
    """Versioned points per reason, and who leads which department."""

    version: str = Field(min_length=1)
    effective_from: date
    default_leader: str = Field(
        default="leader.{department}",
        description="the leader of a department not listed: {department} is its id",
    )
    rules: tuple[PointsRule, ...]
    leaders: tuple[Leader, ...] = ()

    @field_validator("default_leader")
    @classmethod
    def _names_department(cls, value: str) -> str:
        if "{department}" not in value:
            raise ValueError("must contain {department}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> AssessmentRules:
        general = {r.reason for r in self.rules if r.kind is None and r.milestone is None}
        missing = [r for r in REASONS if r not in general]
        if missing:
            raise ValueError(f"no general rule (without kind or milestone) for {missing[0]}")
        seen: set[tuple[str, str | None, str | None]] = set()
        for rule in self.rules:
            key = (rule.reason, rule.kind, rule.milestone)
            if key in seen:
                raise ValueError(f"two rules for {key[0]} kind={key[1]} milestone={key[2]}")
            seen.add(key)
        departments = [leader.department for leader in self.leaders]
        for department in departments:
            if departments.count(department) > 1:
                raise ValueError(f"two leaders for {department}")
        return self

    def points(self, reason: str, kind: str | None, milestone: str | None) -> int:
        """Points of the most specific rule matching the fact."""
        found = [r for r in self.rules if r.matches(reason, kind, milestone)]
        return max(found, key=lambda r: r.specificity).points

    def check_month(self, month: str) -> None:
        """Refuse a month (``YYYY-MM``) before these rules take effect, naming their date."""
        first = date(int(month[:4]), int(month[5:7]), 1)
        if first < self.effective_from.replace(day=1):
            raise InvalidValue(
                "month",
                f"{month} precedes the assessment rules {self.version} "
                f"(in effect from {self.effective_from.isoformat()})",
            )

    def leader_of(self, department: str) -> str:
        for leader in self.leaders:
            if leader.department == department:
                return leader.person
        return self.default_leader.replace("{department}", department)


# ---------------------------------------------------------- the computation


class Item(_Frozen):
    """One assessed fact of the month: what, on which ticket, for how many points."""

    key: str = Field(min_length=1)  # the fact's id in the view
    ticket: str = Field(min_length=1)  # ticket number
    reason: Reason
    kind: str | None = None
    milestone: str | None = None
    occurred_at: datetime = Field(description="When the fact happened, in business time.")
    points: int = Field(ge=0)
    skipped: str | None = None  # "self_assessed": listed, scores nothing here


class Liability(_Frozen):
    """Points a leader answers for jointly (连带责任); already counted in the department's."""

    person: str
    department: str  # the department led
    level: int  # 0: the department's own leader; 1: its parent's; ...
    points: int


class Proposal(_Frozen):
    """A department's month as computed: items, totals, joint liability, the rules used."""

    department: str = Field(min_length=1)
    month: str = Field(pattern=MONTH_PATTERN)
    rules_version: str = Field(min_length=1)
    leader: str = Field(min_length=1)
    items: tuple[Item, ...]
    points: int = Field(ge=0)
    by_reason: dict[str, int]
    liability: tuple[Liability, ...]

    @model_validator(mode="after")
    def _totals(self) -> Proposal:
        counted = [i for i in self.items if i.skipped is None]
        if self.points != sum(i.points for i in counted):
            raise ValueError("points must equal the sum of the items not skipped")
        if self.by_reason != _by_reason(counted):
            raise ValueError("by_reason must sum the items not skipped per reason")
        keys = [i.key for i in self.items]
        if len(set(keys)) != len(keys):
            raise ValueError("an item is listed twice")
        if any(line.points != self.points for line in self.liability):
            raise ValueError("every liability line carries the department's points")
        return self


def _by_reason(items: Iterable[Item]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item.reason] = out.get(item.reason, 0) + item.points
    return out


def assess_month(
    department: str,
    month: str,
    facts: Iterable[Mapping[str, Any]],
    rules: AssessmentRules,
    *,
    self_assessed: Iterable[tuple[str, str]] = (),
    parents: Mapping[str, str | None] | None = None,
) -> Proposal:
    """The month's proposal for ``department`` from its facts (view rows with ``fact_id``,
    ``number``, ``reason``, ``kind``, ``milestone``, ``occurred_at``), in business-time order.

    ``self_assessed``: (ticket number, reason) pairs the department assessed itself: those
    items are listed with ``skipped="self_assessed"`` and score nothing. ``parents``: each
    department's parent, for the liability of the leaders above (逐级); none: the department's
    own leader only.
    """
    rules.check_month(month)
    done = set(self_assessed)
    items = []
    for fact in sorted(facts, key=lambda f: (f["occurred_at"], f["fact_id"])):
        reason, number = fact["reason"], fact["number"]
        items.append(
            Item(
                key=fact["fact_id"],
                ticket=number,
                reason=reason,
                kind=fact.get("kind"),
                milestone=fact.get("milestone"),
                occurred_at=fact["occurred_at"],
                points=rules.points(reason, fact.get("kind"), fact.get("milestone")),
                skipped=SELF_ASSESSED if (number, reason) in done else None,
            )
        )
    counted = [i for i in items if i.skipped is None]
    points = sum(i.points for i in counted)
    chain: list[tuple[str, int]] = []
    current, level = department, 0
    while current and current not in {d for d, _ in chain}:
        chain.append((current, level))
        current, level = (parents or {}).get(current) or "", level + 1
    liability = tuple(
        Liability(person=rules.leader_of(d), department=d, level=lv, points=points)
        for d, lv in chain
    )
    return Proposal(
        department=department,
        month=month,
        rules_version=rules.version,
        leader=rules.leader_of(department),
        items=tuple(items),
        points=points,
        by_reason=_by_reason(counted),
        liability=liability,
    )


# ------------------------------------------------------------- the aggregate


class MonthState(StrEnum):
    OPEN = "open"
    PROPOSED = "proposed"
    DISPUTED = "disputed"
    SIGNED_OFF = "signed_off"


_ALLOWED: dict[str, tuple[MonthState, ...]] = {
    "self_assess": (MonthState.OPEN,),
    "propose": (MonthState.OPEN, MonthState.PROPOSED),
    "dispute": (MonthState.PROPOSED, MonthState.DISPUTED),
    "resolve": (MonthState.DISPUTED,),
    "sign_off": (MonthState.PROPOSED,),
}
DECISIONS = ("upheld", "cancelled")


@aggregate
class AssessmentMonth(Recorded):
    """One department's assessment of one month."""

    KIND = "assessment_month"

    @event("AssessmentMonthOpened")
    def __init__(self, id: UUID, meta: Meta, department: str, month: str) -> None:
        self.department = department
        self.month = month
        self.number = f"{department}/{month}"
        self.kind = "assessment_month"
        self.state = MonthState.OPEN
        self.self_assessed: list[dict[str, str]] = []
        self.proposal: dict[str, Any] | None = None
        self.disputes: dict[str, dict[str, Any]] = {}  # item key -> dispute
        self.cancelled: list[str] = []
        self.signed_by: str | None = None

    def _require(self, action: str) -> None:
        allowed = _ALLOWED[action]
        if self.state not in allowed:
            raise IllegalTransition(
                kind="assessment month",
                ticket=self.number,
                state=self.state.value,
                action=action,
                reason=f"allowed only when {' or '.join(s.value for s in allowed)}",
            )

    def _item(self, key: str) -> dict[str, Any]:
        for item in (self.proposal or {}).get("items", []):
            if item["key"] == key:
                return dict(item)
        raise InvalidValue("item", f"{key} is not an item of {self.number}'s proposal")

    @property
    def points(self) -> int:
        """The points standing: the proposal's, less the items cancelled on dispute."""
        if self.proposal is None:
            return 0
        return int(self.proposal["points"]) - sum(
            int(self._item(key)["points"]) for key in self.cancelled
        )

    # ------------------------------------------------------------- commands

    def self_assess(self, meta: Meta, ticket: str, reason: str, note: str) -> None:
        self._require("self_assess")
        if reason not in REASONS:
            raise InvalidValue("reason", f"must be one of {', '.join(REASONS)}")
        if not ticket.strip():
            raise InvalidValue("ticket", "must name the ticket number")
        if not note.strip():
            raise InvalidValue("note", "must say how the unit assessed it")
        if any((s["ticket"], s["reason"]) == (ticket.strip(), reason) for s in self.self_assessed):
            return  # recorded already
        self._self_assessed(meta=meta, ticket=ticket.strip(), reason=reason, note=note.strip())

    @event("AssessmentItemSelfAssessed")
    def _self_assessed(self, meta: Meta, ticket: str, reason: str, note: str) -> None:
        self.self_assessed.append({"ticket": ticket, "reason": reason, "note": note})

    def propose(self, meta: Meta, proposal: Proposal) -> None:
        self._require("propose")
        if (proposal.department, proposal.month) != (self.department, self.month):
            raise InvalidValue("proposal", f"is for {proposal.department}/{proposal.month}")
        done = {(s["ticket"], s["reason"]) for s in self.self_assessed}
        for item in proposal.items:
            if ((item.ticket, item.reason) in done) != (item.skipped == SELF_ASSESSED):
                raise InvalidValue(
                    "items",
                    f"{item.key} ({item.ticket} {item.reason}): self-assessed by the unit is "
                    "skipped, and only that (子公司已自行考核的,不再重复考核)",
                )
        self._proposed(meta=meta, proposal=proposal.model_dump(mode="json"))

    @event("AssessmentProposed")
    def _proposed(self, meta: Meta, proposal: dict[str, Any]) -> None:
        self.proposal = proposal
        self.disputes = {}
        self.cancelled = []
        self.state = MonthState.PROPOSED

    def dispute(self, meta: Meta, item: str, reason: str) -> None:
        self._require("dispute")
        if not reason.strip():
            raise InvalidValue("reason", "a dispute must say why")
        found = self._item(item)
        if found.get("skipped"):
            raise InvalidValue("item", f"{item} is not assessed here ({found['skipped']})")
        if item in self.disputes:
            raise InvalidValue("item", f"{item} is disputed already")
        self._disputed(meta=meta, item=item, reason=reason.strip())

    @event("AssessmentDisputed")
    def _disputed(self, meta: Meta, item: str, reason: str) -> None:
        self.disputes[item] = {"reason": reason, "by": meta.actor, "decision": None}
        self.state = MonthState.DISPUTED

    def resolve(self, meta: Meta, item: str, decision: str, note: str) -> None:
        self._require("resolve")
        if decision not in DECISIONS:
            raise InvalidValue("decision", f"must be one of {', '.join(DECISIONS)}")
        if not note.strip():
            raise InvalidValue("note", "must say why")
        dispute = self.disputes.get(item)
        if dispute is None or dispute["decision"] is not None:
            raise InvalidValue("item", f"{item} has no open dispute")
        self._resolved(meta=meta, item=item, decision=decision, note=note.strip())

    @event("AssessmentDisputeResolved")
    def _resolved(self, meta: Meta, item: str, decision: str, note: str) -> None:
        self.disputes[item] = {**self.disputes[item], "decision": decision, "note": note}
        if decision == "cancelled":
            self.cancelled.append(item)
        if all(d["decision"] is not None for d in self.disputes.values()):
            self.state = MonthState.PROPOSED

    def sign_off(self, meta: Meta) -> None:
        self._require("sign_off")
        leader = (self.proposal or {}).get("leader")
        if meta.actor != leader:
            raise InvalidValue(
                "actor_id",
                f"{meta.actor} may not sign off {self.number}: only its responsible leader "
                f"{leader} signs the month's assessment (考核分值由分管领导签发)",
            )
        self._signed_off(meta=meta, leader=meta.actor, points=self.points)

    @event("AssessmentSignedOff")
    def _signed_off(self, meta: Meta, leader: str, points: int) -> None:
        self.signed_by = leader
        self.state = MonthState.SIGNED_OFF

    def summary(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "department": self.department,
            "month": self.month,
            "state": self.state.value,
            "points": self.points,
            "self_assessed": list(self.self_assessed),
            "disputes": dict(self.disputes),
            "signed_by": self.signed_by,
        }


# ------------------------------------------------------------------ commands

Month = Field(pattern=MONTH_PATTERN, description="The month assessed, YYYY-MM (local dates).")


class _MonthCommand(Command):
    assessed_department: Name = Field(description="The department assessed (org id).")
    month: str = Month


class SelfAssessItem(_MonthCommand):
    """The unit assessed this fault itself: the group's proposal will not assess it again."""

    ticket: Name = Field(description="The ticket number.")
    reason: Reason
    note: Text = Field(description="How the unit assessed it.")


class ProposeAssessment(_MonthCommand):
    """Propose the month's items and totals, as computed by :func:`assess_month`."""

    proposal: Proposal


class DisputeAssessment(_MonthCommand):
    """Dispute one item of the proposal, saying why."""

    item: Name = Field(description="The item's key.")
    reason: OptionalNote = Field(description="Why the item is disputed (required).")


class ResolveAssessmentDispute(_MonthCommand):
    """Resolve an item's dispute: upheld (the points stand) or cancelled (they go)."""

    item: Name = Field(description="The item's key.")
    decision: Literal["upheld", "cancelled"]
    note: Text = Field(description="Why.")


class SignOffAssessment(_MonthCommand):
    """The responsible leader signs the month off (签发)."""


def _month(desk: Any, cmd: _MonthCommand, create: bool) -> tuple[AssessmentMonth, bool]:
    """The month addressed, and whether it is opened by this command (not yet saved)."""
    ident = month_id(cmd.assessed_department, cmd.month)
    try:
        found: AssessmentMonth = desk._load(AssessmentMonth, ident, "assessment month")
        return found, False
    except NotFound:  # opened by the first self-assessment or proposal
        if not create:
            raise
    with recording_clock(desk.clock):
        opened = AssessmentMonth(
            id=ident,
            meta=desk._meta(cmd),
            department=cmd.assessed_department,
            month=cmd.month,
        )
    return opened, True


@handles(
    SelfAssessItem,
    ProposeAssessment,
    DisputeAssessment,
    ResolveAssessmentDispute,
    SignOffAssessment,
)
def handle_assessment(desk: Any, cmd: _MonthCommand) -> Any:
    """Open the month when a self-assessment or a proposal comes first; decide; save."""
    creates = isinstance(cmd, SelfAssessItem | ProposeAssessment)
    month, opened = _month(desk, cmd, creates)
    if not opened:  # a new month's opening carries this command's id already
        if month.seen(cmd.command_id):
            return desk._outcome(month, [], changed=False)
        desk._check_version(month, cmd.expected_version)
    meta = desk._meta(cmd)
    with recording_clock(desk.clock):
        match cmd:
            case SelfAssessItem():
                month.self_assess(meta, cmd.ticket, cmd.reason, cmd.note)
            case ProposeAssessment():
                month.propose(meta, cmd.proposal)
            case DisputeAssessment():
                month.dispute(meta, cmd.item, cmd.reason)
            case ResolveAssessmentDispute():
                month.resolve(meta, cmd.item, cmd.decision, cmd.note)
            case SignOffAssessment():
                month.sign_off(meta)
    if not month.pending_events:
        return desk._outcome(month, [], changed=False)
    return desk._outcome(month, desk._save_all(month))
