"""The problem-customer threshold as configured: ``problem_customers.toml`` (shipped, or the
deployment's in ``CASETRAIL_DATA_DIR``).

The rule is pure domain (:mod:`domain.key_accounts`); this reads its one number, a casetrail
default in the shipped file, and gives it to the desk.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from config.data_files import load_rule_file
from domain.key_accounts import DEFAULT_PROBLEM_THRESHOLD

RULE_FILE = "problem_customers.toml"


class ProblemCustomersConfig(BaseModel):
    """``problem_customers.toml``: complaints in a quarter that flag a customer (default 3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    complaints_per_quarter: int = Field(DEFAULT_PROBLEM_THRESHOLD, ge=1, le=1000)


def load_problem_threshold(data_dir: Path | None = None) -> int:
    """The threshold from ``data_dir/problem_customers.toml`` when there, else the shipped
    file; a bad file raises :class:`DataFileError` naming the file and each faulty field."""
    return load_rule_file(data_dir, RULE_FILE, ProblemCustomersConfig).complaints_per_quarter
