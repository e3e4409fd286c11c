"""What people read instead of codes, in Chinese and English: one catalogue for every page.

``config/data/names.toml`` names every state, kind, milestone, action, event, channel, role,
priority, area, voltage class, SLA outcome, correction reason and error code; departments take
their names from the org directory (every id it ever had, under its latest name). No token
needed: the pages read it before anyone signs in.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from api.responses import as_json
from config.data_files import read_toml

router = APIRouter(tags=["system"])
LANGUAGES = ("zh", "en")


@cache
def catalogue() -> dict[str, Any]:
    """The shipped names file: ``{"version": ..., section: {code: {"zh": ..., "en": ...}}}``."""
    _, document = read_toml(None, "names.toml")
    return document


def department_names(directory: Any) -> dict[str, dict[str, str]]:
    """Every department id the directory ever had, under its latest record's names."""
    named: dict[str, dict[str, str]] = {}
    for record in sorted(directory.data.departments, key=lambda d: d.valid_from):
        named[record.id] = {"zh": record.name_zh, "en": record.name_en}
    return named


@router.get("/names")
def names(runtime: RuntimeDep) -> JSONResponse:
    """``{version, sections: {section: {code: {zh, en}}}}``: the texts for every code, by kind
    of code (``state``, ``kind``, ``milestone``, ``action``, ``event``, ``channel``, ``role``,
    ``priority``, ``area``, ``voltage``, ``ticket_class``, ``sla_outcome``, ``reason_code``,
    ``error``, ``department``)."""
    document = catalogue()
    sections = {k: v for k, v in document.items() if isinstance(v, dict)}
    sections["department"] = department_names(runtime.desk.directory)
    body = {
        "version": document["version"],
        "timezone": runtime.settings.timezone,  # the zone the pages show instants in
        "sections": sections,
    }
    return as_json(runtime, body)
