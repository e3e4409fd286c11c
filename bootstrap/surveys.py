"""The surveys' configured default target and CAPA warning share: ``surveys.toml`` (shipped,
or the deployment's in ``CASETRAIL_DATA_DIR``).

The rule is pure domain (:mod:`domain.survey`); this reads its one number and gives it to the
desk, as :mod:`bootstrap.problem_customers` does for its threshold.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from config.data_files import load_rule_file
from domain.survey import DEFAULT_CAPA_WARN_AT, DEFAULT_TARGET_PERCENT

RULE_FILE = "surveys.toml"


class SurveysConfig(BaseModel):
    """``surveys.toml``: the target satisfaction of a survey designed without one, and the
    share of a CAPA item's time after which its owner is warned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    default_target_percent: float = Field(DEFAULT_TARGET_PERCENT, gt=0, le=100, allow_inf_nan=False)
    capa_warn_at: float = Field(DEFAULT_CAPA_WARN_AT, gt=0, lt=1, allow_inf_nan=False)


def load_survey_rules(data_dir: Path | None = None) -> SurveysConfig:
    """``data_dir/surveys.toml`` when there, else the shipped file; a bad file raises
    :class:`DataFileError` naming the file and each faulty field."""
    return load_rule_file(data_dir, RULE_FILE, SurveysConfig)


def load_survey_target(data_dir: Path | None = None) -> float:
    """The default target of ``surveys.toml`` (see :func:`load_survey_rules`)."""
    return load_survey_rules(data_dir).default_target_percent
