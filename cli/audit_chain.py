"""``casetrail audit verify | anchor | export``: the tamper-evident chain over the events."""

from __future__ import annotations

from cli.audit_cmd import audit_app  # noqa: F401
