"""``casetrail audit replay | what-if``: history replayed beside the live views."""

from __future__ import annotations

from cli.audit_cmd import audit_app  # noqa: F401
