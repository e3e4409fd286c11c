"""Load the org directory (departments, reorganisations, routing) from TOML.

The settings say which file (:meth:`config.settings.Settings.data_file`); the default is the
shipped ``config/data/org.toml``. The file's ``[[department]]``, ``[[change]]`` and ``[[route]]``
tables become the directory's departments, changes and routes; anything malformed is refused
with an :class:`OrgDataError` that names the file, the entry and the field
(``department[7] (station_2).valid_to: ...``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.data_files import DataFileError, field_problem, read_toml, validation_problems
from domain.errors import DomainError
from domain.org import OrgData, OrgDirectory

DEFAULT_FILE = "org.toml"

# TOML table name -> OrgData field.
_TABLES = {"department": "departments", "change": "changes", "route": "routes"}
_FIELDS = {field: table for table, field in _TABLES.items()}


class OrgDataError(DataFileError):
    """The org data file cannot be read or does not describe a consistent directory."""


def load_directory(path: Path | None = None) -> OrgDirectory:
    """Read, validate and build the org directory from ``path`` (default: the shipped file)."""
    try:
        source, document = read_toml(path, DEFAULT_FILE)
    except DataFileError as exc:
        raise OrgDataError(exc.problems) from exc
    return _build(document, source)


def parse_directory(text: str, *, source: str = "<org data>") -> OrgDirectory:
    """Build the directory from TOML text; ``source`` names it in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OrgDataError.one(source, f"not valid TOML: {exc}") from exc
    return _build(document, source)


def _build(document: dict[str, Any], source: str) -> OrgDirectory:
    unknown = sorted(set(document) - {"release", *_TABLES})
    if unknown:
        raise OrgDataError.one(source, f"unknown top-level keys {unknown}")
    content: dict[str, Any] = {"release": document.get("release")}
    content.update({field: document.get(table, []) for table, field in _TABLES.items()})
    try:
        data = OrgData.model_validate(content)
    except ValidationError as exc:
        raise OrgDataError(validation_problems(exc, source, content, tables=_FIELDS)) from exc
    try:
        return OrgDirectory(data)
    except DomainError as exc:
        field = str(exc.details.get("field", ""))
        raise OrgDataError([field_problem(source, field, exc.message)]) from exc
