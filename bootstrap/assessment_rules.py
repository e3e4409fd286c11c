"""Load the monthly assessment rules (考核) from ``config/data/assessment_rules.toml``.

The file holds ``version``, ``effective_from``, ``default_leader``, ``[[rule]]`` and
``[[leader]]`` tables (:class:`domain.assessment.AssessmentRules`). A bad file raises one
:class:`AssessmentRulesError` naming file, entry and field of every fault
(``assessment_rules.toml: rule[2].points: Input should be less than or equal to 100``).
Which file: the one named, else ``CASETRAIL_ASSESSMENT_RULES_FILE``, else
``assessment_rules.toml`` in ``CASETRAIL_DATA_DIR`` when it is there, else the shipped one.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from config import DATA_DIR
from config.data_files import SHIPPED, DataFileError, Problem, read_toml, validation_problems
from config.settings import Settings, env_name
from domain.assessment import AssessmentRules

DEFAULT_RULES = DATA_DIR / "assessment_rules.toml"
SETTING = env_name("assessment_rules_file")  # CASETRAIL_ASSESSMENT_RULES_FILE
_KEYS = {"version", "effective_from", "default_leader", "rule", "leader"}


class AssessmentRulesError(DataFileError):
    """The assessment rules file cannot be read or does not validate."""


def rules_path(settings: Settings | None = None) -> Path | None:
    """The file the settings choose (None: the shipped one)."""
    file = (settings or Settings()).data_file("assessment_rules")
    return None if file.origin == SHIPPED else file.path


def load_assessment_rules(
    path: Path | str | None = None, settings: Settings | None = None
) -> AssessmentRules:
    """The rules in ``path``, else in the file the environment chooses (:func:`rules_path`)."""
    chosen = path or rules_path(settings)
    try:
        source, document = read_toml(chosen, DEFAULT_RULES.name)
    except DataFileError as exc:
        raise AssessmentRulesError(exc.problems) from exc
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise AssessmentRulesError.one(
            source, f"unknown top-level key; expected one of {sorted(_KEYS)}", unknown[0]
        )
    data = {k: v for k, v in document.items() if k not in ("rule", "leader")}
    data["rules"] = document.get("rule", [])
    data["leaders"] = document.get("leader", [])
    try:
        return AssessmentRules.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(
            exc,
            source,
            {**document, "rules": data["rules"], "leaders": data["leaders"]},
            tables={"rules": "rule", "leaders": "leader"},
        )
        raise AssessmentRulesError(
            [Problem(p.file, p.entry or "rules", p.field, p.message) for p in problems]
        ) from exc
