"""The surveys' configured default target: ``surveys.toml`` (shipped, or the deployment's in
``CASETRAIL_DATA_DIR``).

The rule is pure domain (:mod:`domain.survey`); this reads its one number and gives it to the
desk, as :mod:`bootstrap.problem_customers` does for its threshold.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.data_files import DataFileError, read_toml, validation_problems
from domain.survey import DEFAULT_TARGET_PERCENT

RULE_FILE = "surveys.toml"


class SurveysConfig(BaseModel):
    """``surveys.toml``: the target satisfaction of a survey designed without one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    default_target_percent: float = Field(DEFAULT_TARGET_PERCENT, gt=0, le=100, allow_inf_nan=False)


def load_survey_target(data_dir: Path | None = None) -> float:
    """The default target from ``data_dir/surveys.toml`` when there, else the shipped file; a
    bad file raises :class:`DataFileError` naming the file and each faulty field."""
    own = data_dir / RULE_FILE if data_dir is not None else None
    path = own if own is not None and own.exists() else None
    source, document = read_toml(path, RULE_FILE)
    try:
        return SurveysConfig.model_validate(document).default_target_percent
    except ValidationError as exc:
        raise DataFileError(validation_problems(exc, source, document)) from exc
