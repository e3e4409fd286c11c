"""The outage suggestion rule as configured: ``outage_rule.toml`` (shipped, or the deployment's).

The rule itself is pure domain (:mod:`domain.outage_rule`); this reads its two numbers, each a
casetrail default in the shipped file, from ``CASETRAIL_DATA_DIR/outage_rule.toml`` when the
deployment has one.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from config.data_files import load_rule_file
from domain.outage_rule import DEFAULT_MIN_CALLS, DEFAULT_WINDOW, SuggestionRule

RULE_FILE = "outage_rule.toml"


class OutageRuleConfig(BaseModel):
    """``outage_rule.toml``: the suggestion rule's threshold and window (defaults: 3, 30 min)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    min_calls: int = Field(DEFAULT_MIN_CALLS, ge=2, le=1000)
    window_minutes: int = Field(int(DEFAULT_WINDOW.total_seconds() // 60), ge=1, le=24 * 60)

    def rule(self) -> SuggestionRule:
        return SuggestionRule(self.min_calls, timedelta(minutes=self.window_minutes))


def load_outage_rule(data_dir: Path | None = None) -> SuggestionRule:
    """The rule from ``data_dir/outage_rule.toml`` when there, else the shipped file; a bad
    file raises :class:`DataFileError` naming the file and each faulty field."""
    return load_rule_file(data_dir, RULE_FILE, OutageRuleConfig).rule()
