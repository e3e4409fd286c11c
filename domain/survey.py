"""Satisfaction survey (满意度调查) and its corrective and preventive actions (CAPA).

纠正和预防措施: DESIGNED (purpose, plan, questions, target) → FIELDED → responses recorded →
ANALYSED (satisfaction = satisfied ÷ responses, computed here and recorded) → CAPA_ISSUED →
CLOSED. A survey whose satisfaction lies below its target cannot close before corrective or
preventive actions are issued; each action item has a department in charge, optionally a person,
a description and a due instant, and is tracked like an SLA milestone until completed (its
deadline shows among the SLA deadlines, ``projections/sla_deadlines.py``).

The default target is 90 % (确保客户满意度达到90%以上, the department report's target); a survey
records whether its target was that default or chosen.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict, Field

from domain.base import Meta, Recorded, recording_clock
from domain.commands import Command, Instant, Name, OptionalNote, Text
from domain.errors import IllegalTransition, InvalidValue, InvariantViolated
from domain.extensions import aggregate, handles
from domain.sla.clock import as_instant

DEFAULT_TARGET_PERCENT = 90.0
"""The target of a survey designed without one, unless ``surveys.toml`` says otherwise."""
TARGET_ATTRIBUTE = "survey_default_target"


def set_default_target(desk: Any, percent: float) -> None:
    """Give the desk the configured default target (``config/data/surveys.toml``)."""
    if not 0 < percent <= 100:
        raise InvalidValue("default_target_percent", "must be above 0 and at most 100")
    desk.__dict__[TARGET_ATTRIBUTE] = float(percent)


def default_target(desk: Any) -> float:
    """The desk's configured default target, or casetrail's own when none was given."""
    return float(desk.__dict__.get(TARGET_ATTRIBUTE, DEFAULT_TARGET_PERCENT))


DEFAULT_CAPA_WARN_AT = 0.8
"""The share of a CAPA item's time (issue to due) after which its owner is warned, as a
milestone's 80 % warning, unless ``surveys.toml`` says otherwise."""
WARN_ATTRIBUTE = "capa_warn_at"


def set_capa_warning(desk: Any, fraction: float) -> None:
    """Give the desk the configured warning share (``config/data/surveys.toml``)."""
    if not 0 < fraction < 1:
        raise InvalidValue("capa_warn_at", "must lie between 0 and 1 (a share of the time)")
    desk.__dict__[WARN_ATTRIBUTE] = float(fraction)


def capa_warning(desk: Any) -> float:
    """The desk's configured warning share, or casetrail's own when none was given."""
    return float(desk.__dict__.get(WARN_ATTRIBUTE, DEFAULT_CAPA_WARN_AT))


def warning_instant(issued: datetime, due: datetime, fraction: float) -> datetime:
    """When ``fraction`` of the time from ``issued`` to ``due`` has passed, to the second up."""
    seconds = math.ceil((due - issued).total_seconds() * fraction)
    return issued + timedelta(seconds=seconds)


MAX_QUESTIONS = 50
MAX_CAPA_ITEMS = 50


class SurveyState(StrEnum):
    DESIGNED = "designed"
    FIELDED = "fielded"
    ANALYSED = "analysed"
    CAPA_ISSUED = "capa_issued"
    CLOSED = "closed"


def satisfaction_percent(satisfied: int, responses: int) -> float:
    """Satisfied ÷ responses as a percentage rounded to 0.1 (87 of 100 → 87.0)."""
    return round(satisfied * 100 / responses, 1)


def percent_text(value: float) -> str:
    """``87.0 %``, ``90 %``: a whole target without decimals, a measured rate with one."""
    return f"{value:g} %" if float(value).is_integer() else f"{value:.1f} %"


@aggregate
class Survey(Recorded):
    """One satisfaction survey, its responses, its verdict and its CAPA items."""

    KIND = "survey"

    @event("SurveyDesigned")
    def __init__(
        self,
        id: UUID,
        meta: Meta,
        number: str,
        title: str,
        purpose: str,
        plan: str,
        questions: list[str],
        target_percent: float,
        target_is_default: bool,
    ) -> None:
        self.number = number
        self.kind = "survey"
        self.title = title
        self.purpose = purpose
        self.plan = plan
        self.questions = list(questions)
        self.target_percent = target_percent
        self.target_is_default = target_is_default
        self.state = SurveyState.DESIGNED
        self.responses = 0
        self.satisfied = 0
        self.satisfaction: float | None = None
        self.capa: dict[str, dict[str, Any]] = {}

    @staticmethod
    def check_new(questions: list[str], target_percent: float) -> None:
        if not questions:
            raise InvalidValue("questions", "a survey asks at least one question")
        if len(questions) > MAX_QUESTIONS:
            raise InvalidValue("questions", f"at most {MAX_QUESTIONS} questions")
        if not 0 < target_percent <= 100:
            raise InvalidValue("target_percent", "must be above 0 and at most 100")

    def _require(self, action: str, *states: SurveyState) -> None:
        if self.state not in states:
            raise IllegalTransition(
                kind="survey", ticket=self.number, state=self.state.value, action=action
            )

    def below_target(self) -> bool:
        """Whether the analysed satisfaction lies below the target (exact, not rounded)."""
        if not self.responses:
            return False
        target = Fraction(str(self.target_percent))
        return Fraction(self.satisfied * 100, self.responses) < target

    def open_items(self) -> list[str]:
        return [k for k, v in self.capa.items() if v["completed_at"] is None]

    # ---------------------------------------------------------------- fielding

    def field(self, meta: Meta) -> None:
        self._require("field", SurveyState.DESIGNED)
        self._survey_fielded(meta=meta)

    @event("SurveyFielded")
    def _survey_fielded(self, meta: Meta) -> None:
        self.state = SurveyState.FIELDED

    def record_response(
        self, meta: Meta, satisfied: bool | None, score: int | None, comment: str = ""
    ) -> bool:
        """One respondent's answer: satisfied or not, and/or a score 1–5 (≥ 4 is satisfied)."""
        self._require("record_response", SurveyState.FIELDED)
        if score is not None and not 1 <= score <= 5:
            raise InvalidValue("score", "must be between 1 and 5")
        if satisfied is None and score is None:
            raise InvalidValue("satisfied", "give satisfied (yes or no) or a score 1-5")
        verdict = bool(score is not None and score >= 4) if satisfied is None else satisfied
        self._survey_response_recorded(
            meta=meta,
            response=self.responses + 1,
            satisfied=verdict,
            score=score,
            comment=comment.strip(),
        )
        return verdict

    @event("SurveyResponseRecorded")
    def _survey_response_recorded(
        self, meta: Meta, response: int, satisfied: bool, score: int | None, comment: str
    ) -> None:
        self.responses = response
        self.satisfied += 1 if satisfied else 0

    # ---------------------------------------------------------------- verdict

    def analyse(self, meta: Meta) -> float:
        self._require("analyse", SurveyState.FIELDED)
        if not self.responses:
            raise InvariantViolated(
                kind="survey",
                ticket=self.number,
                state=self.state.value,
                action="analyse",
                rule="no responses recorded: nothing to analyse",
            )
        rate = satisfaction_percent(self.satisfied, self.responses)
        below = Fraction(self.satisfied * 100, self.responses) < Fraction(str(self.target_percent))
        self._survey_analysed(
            meta=meta,
            responses=self.responses,
            satisfied=self.satisfied,
            satisfaction_percent=rate,
            target_percent=self.target_percent,
            below_target=below,
        )
        return rate

    @event("SurveyAnalysed")
    def _survey_analysed(
        self,
        meta: Meta,
        responses: int,
        satisfied: int,
        satisfaction_percent: float,
        target_percent: float,
        below_target: bool,
    ) -> None:
        self.satisfaction = satisfaction_percent
        self.state = SurveyState.ANALYSED

    # ---------------------------------------------------------------- CAPA

    def issue_capa(
        self, meta: Meta, items: list[dict[str, Any]], warn_at: float | None = None
    ) -> list[str]:
        """Issue action items (department, owner, description, due_at); returns their numbers.
        With ``warn_at`` (a share of each item's time), each item is warned at that instant
        (recorded on the item: replay does not depend on today's configuration)."""
        self._require("issue_capa", SurveyState.ANALYSED, SurveyState.CAPA_ISSUED)
        if not items:
            raise InvalidValue("items", "issue at least one corrective or preventive action")
        if len(self.capa) + len(items) > MAX_CAPA_ITEMS:
            raise InvalidValue("items", f"at most {MAX_CAPA_ITEMS} items per survey")
        issued = []
        for index, item in enumerate(items):
            due = item["due_at"]
            if due <= meta.occurred_at:
                raise InvalidValue(
                    f"items[{index}].due_at",
                    f"{due.isoformat()} is not after the issue ({meta.occurred_at.isoformat()})",
                )
            issued.append(
                {
                    "item": str(len(self.capa) + index + 1),
                    "department": item["department"],
                    "owner": item.get("owner"),
                    "description": item["description"],
                    "due_at": due,
                    **(
                        {}
                        if warn_at is None
                        else {
                            "warn_at": warning_instant(meta.occurred_at, due, warn_at),
                            "warn_threshold": warn_at,
                        }
                    ),
                }
            )
        self._capa_issued(meta=meta, number=self.number, items=issued)
        return [i["item"] for i in issued]

    @event("CapaIssued")
    def _capa_issued(self, meta: Meta, number: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            self.capa[item["item"]] = {
                **item,
                "completed_at": None,
                "breached": False,
                "warned": False,
            }
        self.state = SurveyState.CAPA_ISSUED

    def due_actions(self, until: datetime) -> list[dict[str, Any]]:
        """The breaches of open CAPA items due by ``until``, earliest first, in the shape of
        ``Ticket.due_actions`` (the SLA clock records them like a milestone's breach)."""
        due = [
            {"action": "record_breach", "milestone": "capa", "cycle": int(key), "at": v["due_at"]}
            for key, v in self.capa.items()
            if v["completed_at"] is None and not v["breached"] and v["due_at"] <= until
        ]
        # Items issued with a warning instant (earlier items have none) are warned first.
        due += [
            {
                "action": "record_warning",
                "milestone": "capa",
                "cycle": int(key),
                "at": warned,
                "threshold": v["warn_threshold"],
            }
            for key, v in self.capa.items()
            if (warned := as_instant(v.get("warn_at"))) is not None
            and v["completed_at"] is None
            and not v["breached"]
            and not v.get("warned")
            and warned <= until
        ]
        return sorted(due, key=lambda a: (a["at"], a["action"] != "record_warning", a["cycle"]))

    def sla_command(
        self, action: dict[str, Any], actor: dict[str, Any], command_id: str
    ) -> RecordCapaBreach | RecordCapaWarning:
        """The command the SLA clock sends for a due action of :meth:`due_actions`."""
        step = RecordCapaWarning if action["action"] == "record_warning" else RecordCapaBreach
        return step(
            **actor,
            survey_id=self.id,
            item=str(action["cycle"]),
            occurred_at=action["at"],
            command_id=command_id,
        )

    def record_capa_warning(self, meta: Meta, item: str) -> None:
        """An open CAPA item reached its warning instant (recorded by the SLA clock)."""
        self._require("record_capa_warning", SurveyState.CAPA_ISSUED, SurveyState.CLOSED)
        found = self.capa.get(item)
        if found is None:
            raise InvalidValue("item", f"survey {self.number} has no CAPA item {item}")
        warned = as_instant(found.get("warn_at"))
        if warned is None or found["completed_at"] is not None or found["breached"]:
            rule = f"CAPA item {item} has no warning due (none set, completed or breached)"
        elif found.get("warned"):
            rule = f"CAPA item {item} was warned already"
        elif meta.occurred_at < warned:
            rule = f"CAPA item {item} is to be warned at {warned.isoformat()}, not before"
        else:
            self._capa_item_warned(
                meta=meta,
                item=item,
                threshold=found["warn_threshold"],
                due_at=found["due_at"],
            )
            return
        raise InvariantViolated(
            kind="survey",
            ticket=self.number,
            state=self.state.value,
            action="record_capa_warning",
            rule=rule,
        )

    @event("CapaItemWarned")
    def _capa_item_warned(self, meta: Meta, item: str, threshold: float, due_at: datetime) -> None:
        self.capa[item] = {**self.capa[item], "warned": True}

    def record_capa_breach(self, meta: Meta, item: str) -> None:
        """An open CAPA item passed its due instant (recorded by the SLA clock)."""
        self._require("record_capa_breach", SurveyState.CAPA_ISSUED, SurveyState.CLOSED)
        found = self.capa.get(item)
        if found is None:
            raise InvalidValue("item", f"survey {self.number} has no CAPA item {item}")
        if found["completed_at"] is not None or found["breached"]:
            raise InvariantViolated(
                kind="survey",
                ticket=self.number,
                state=self.state.value,
                action="record_capa_breach",
                rule=f"CAPA item {item} is completed or breached already",
            )
        if meta.occurred_at < found["due_at"]:
            raise InvariantViolated(
                kind="survey",
                ticket=self.number,
                state=self.state.value,
                action="record_capa_breach",
                rule=f"CAPA item {item} is due at {found['due_at'].isoformat()}, not before",
            )
        self._capa_item_breached(meta=meta, item=item, due_at=found["due_at"])

    @event("CapaItemBreached")
    def _capa_item_breached(self, meta: Meta, item: str, due_at: datetime) -> None:
        self.capa[item] = {**self.capa[item], "breached": True}

    def complete_capa_item(self, meta: Meta, item: str, note: str = "") -> None:
        self._require("complete_capa_item", SurveyState.CAPA_ISSUED, SurveyState.CLOSED)
        found = self.capa.get(item)
        if found is None:
            raise InvalidValue("item", f"survey {self.number} has no CAPA item {item}")
        if found["completed_at"] is not None:
            raise InvalidValue("item", f"CAPA item {item} is completed already")
        on_time = meta.occurred_at <= found["due_at"]
        self._capa_item_completed(meta=meta, item=item, note=note.strip(), on_time=on_time)

    @event("CapaItemCompleted")
    def _capa_item_completed(self, meta: Meta, item: str, note: str, on_time: bool) -> None:
        self.capa[item] = {**self.capa[item], "completed_at": meta.occurred_at}

    # ---------------------------------------------------------------- closing

    def close(self, meta: Meta) -> None:
        self._require("close", SurveyState.ANALYSED, SurveyState.CAPA_ISSUED)
        if self.below_target() and not self.capa:
            assert self.satisfaction is not None
            raise InvariantViolated(
                kind="survey",
                ticket=self.number,
                state=self.state.value,
                action="close",
                rule=f"satisfaction {self.satisfaction:.1f} % < target "
                f"{percent_text(self.target_percent)}: issue corrective/preventive actions first",
            )
        self._survey_closed(meta=meta, open_items=self.open_items())

    @event("SurveyClosed")
    def _survey_closed(self, meta: Meta, open_items: list[str]) -> None:
        self.state = SurveyState.CLOSED

    def legal_actions(self) -> list[str]:
        return {
            SurveyState.DESIGNED: ["field"],
            SurveyState.FIELDED: ["record_response", "analyse"],
            SurveyState.ANALYSED: ["issue_capa", "close"],
            SurveyState.CAPA_ISSUED: ["issue_capa", "complete_capa_item", "close"],
            SurveyState.CLOSED: ["complete_capa_item"] if self.open_items() else [],
        }[self.state]


# ------------------------------------------------------------------ commands


class DesignSurvey(Command):
    """Design a satisfaction survey: its purpose, plan, questions and target satisfaction."""

    title: Name
    purpose: Text
    plan: Text
    questions: Annotated[list[Text], Field(min_length=1, max_length=MAX_QUESTIONS)]
    target_percent: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = Field(
        default=None, description="Target satisfaction in percent; omitted: the 90 % default"
    )


class SurveyCommand(Command):
    """A command addressed to one survey."""

    survey_id: UUID


class FieldSurvey(SurveyCommand):
    """Put the survey in the field: responses may be recorded from now on."""


class RecordSurveyResponse(SurveyCommand):
    """One respondent's answer: satisfied or not, and/or a score 1-5 (4 and 5 are satisfied)."""

    satisfied: bool | None = None
    score: Annotated[int, Field(ge=1, le=5)] | None = None
    comment: OptionalNote = ""


class AnalyseSurvey(SurveyCommand):
    """Compute and record satisfaction = satisfied ÷ responses against the target."""


class CapaItemIn(BaseModel):
    """One corrective or preventive action to issue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    department: Name
    owner: Name | None = None
    description: Text
    due_at: Instant = Field(
        description="When the action is due (business time): its deadline among the SLA "
        "deadlines; RFC 3339 with a UTC offset, after the issue"
    )


class IssueCapa(SurveyCommand):
    """Issue corrective and preventive actions (纠正和预防措施) for an analysed survey."""

    items: Annotated[list[CapaItemIn], Field(min_length=1, max_length=MAX_CAPA_ITEMS)]


class CompleteCapaItem(SurveyCommand):
    """An action item done: it leaves the SLA deadlines."""

    item: Annotated[str, Field(min_length=1, max_length=4, pattern=r"^[0-9]+$")]
    note: OptionalNote = ""


class CloseSurvey(SurveyCommand):
    """Close the survey; below its target only once CAPA items are issued."""


class RecordCapaBreach(SurveyCommand):
    """An open CAPA item passed its due instant (sent by the SLA clock, at that instant)."""

    item: Annotated[str, Field(min_length=1, max_length=4, pattern=r"^[0-9]+$")]


class RecordCapaWarning(SurveyCommand):
    """An open CAPA item reached its warning instant (sent by the SLA clock, at that instant)."""

    item: Annotated[str, Field(min_length=1, max_length=4, pattern=r"^[0-9]+$")]


# ------------------------------------------------------------------ handlers


def _survey_number(at: datetime, ident: UUID) -> str:
    """``DY`` (调研), the local date of the design, six hex digits of the id."""
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo("Asia/Shanghai"))
    return f"DY{local.year:04d}{local.month:02d}{local.day:02d}{ident.hex[:6].upper()}"


@handles(DesignSurvey)
def design_survey(desk: Any, cmd: DesignSurvey) -> Any:
    import uuid

    ident = desk._derived_id("survey", cmd.command_id)
    if ident is not None and (existing := desk._find(ident)) is not None:
        return desk._outcome(existing, [], changed=False)
    default = cmd.target_percent is None
    target = default_target(desk) if cmd.target_percent is None else cmd.target_percent
    Survey.check_new(list(cmd.questions), target)
    meta = desk._meta(cmd)
    ident = ident or uuid.uuid4()
    with recording_clock(desk.clock):
        survey = Survey(
            id=ident,
            meta=meta,
            number=_survey_number(meta.occurred_at, ident),
            title=cmd.title,
            purpose=cmd.purpose,
            plan=cmd.plan,
            questions=list(cmd.questions),
            target_percent=float(target),
            target_is_default=default,
        )
    return desk._outcome(survey, desk._save_all(survey))


@handles(
    FieldSurvey,
    RecordSurveyResponse,
    AnalyseSurvey,
    IssueCapa,
    CompleteCapaItem,
    CloseSurvey,
    RecordCapaBreach,
    RecordCapaWarning,
)
def act_on_survey(desk: Any, cmd: SurveyCommand) -> Any:
    survey: Survey = desk._load(Survey, cmd.survey_id, "survey")
    if survey.seen(cmd.command_id):
        return desk._outcome(survey, [], changed=False)
    desk._check_version(survey, cmd.expected_version)
    meta = desk._meta(cmd)
    with recording_clock(desk.clock):
        match cmd:
            case FieldSurvey():
                survey.field(meta)
            case RecordSurveyResponse():
                survey.record_response(meta, cmd.satisfied, cmd.score, cmd.comment)
            case AnalyseSurvey():
                survey.analyse(meta)
            case IssueCapa():
                survey.issue_capa(
                    meta, [item.model_dump() for item in cmd.items], capa_warning(desk)
                )
            case CompleteCapaItem():
                survey.complete_capa_item(meta, cmd.item, cmd.note)
            case CloseSurvey():
                survey.close(meta)
            case RecordCapaBreach():
                survey.record_capa_breach(meta, cmd.item)
            case RecordCapaWarning():
                survey.record_capa_warning(meta, cmd.item)
    return desk._outcome(survey, desk._save_all(survey))
