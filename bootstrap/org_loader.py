"""Load the org directory (departments, reorganisations, routing) from TOML.

The default file is ``config/data/org.toml``, shipped as package data. The file's
``[[department]]``, ``[[change]]`` and ``[[route]]`` tables become the directory's departments,
changes and routes; anything malformed is refused with an :class:`OrgDataError` that names the
file and the field (``department[7] (station_2).valid_to: ...``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config import read_data
from domain.errors import DomainError
from domain.org import OrgData, OrgDirectory

DEFAULT_FILE = "org.toml"

# TOML table name -> OrgData field.
_TABLES = {"department": "departments", "change": "changes", "route": "routes"}
_FIELDS = {field: table for table, field in _TABLES.items()}


class OrgDataError(ValueError):
    """The org data file cannot be read or does not describe a consistent directory."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


def load_directory(path: Path | None = None) -> OrgDirectory:
    """Read, validate and build the org directory from ``path`` (default: the shipped file)."""
    try:
        source, raw_bytes = read_data(path, DEFAULT_FILE)
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
        raise OrgDataError(str(path or DEFAULT_FILE), reason) from exc
    return parse_directory(raw_bytes.decode("utf-8"), source=source)


def parse_directory(text: str, *, source: str = "<org data>") -> OrgDirectory:
    """Build the directory from TOML text; ``source`` names it in error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OrgDataError(source, f"not valid TOML: {exc}") from exc
    unknown = sorted(set(raw) - {"release", *_TABLES})
    if unknown:
        raise OrgDataError(source, f"unknown top-level keys {unknown}")
    content: dict[str, Any] = {"release": raw.get("release")}
    content.update({field: raw.get(table, []) for table, field in _TABLES.items()})
    try:
        data = OrgData.model_validate(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _describe(first["loc"], content)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise OrgDataError(source, f"{where}: {first['msg']}{more}") from exc
    try:
        return OrgDirectory(data)
    except DomainError as exc:
        raise OrgDataError(source, exc.message) from exc


def _describe(loc: tuple[int | str, ...], content: dict[str, Any]) -> str:
    """``('departments', 7, 'valid_to')`` -> ``department[7] (station_2).valid_to``."""
    if not loc:
        return "(file)"
    head, *rest = loc
    table = _FIELDS.get(str(head), str(head))
    if not rest or not isinstance(rest[0], int):
        return ".".join([table, *map(str, rest)])
    index, fields = rest[0], rest[1:]
    assert isinstance(index, int)
    label = f"{table}[{index}]"
    items = content.get(str(head))
    item = items[index] if isinstance(items, list) and index < len(items) else None
    ident = item.get("id") if isinstance(item, dict) else None
    if isinstance(ident, str):
        label += f" ({ident})"
    return ".".join([label, *map(str, fields)])
