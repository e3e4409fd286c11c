"""Load the SLA policy catalogue and its business calendars from TOML data files.

``config/data/calendars.toml`` holds ``[[calendar]]`` tables (:class:`CalendarSpec`),
``config/data/sla_policies.toml`` holds ``[[policy]]`` tables (:class:`SlaPolicy`). Everything is
validated by the domain's pydantic models; ``"N working days"`` targets are resolved against the
named calendar's standard working day. Bad data raises :class:`CatalogueError` naming the file and
the field (``sla_policies.toml: policy[3] (complaint@v1).milestones[1].target: ...``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config import DATA_DIR
from domain.errors import DomainError
from domain.sla.calendar import BusinessCalendar, CalendarSpec, build_calendar
from domain.sla.policy import PolicyCatalogue, SlaPolicy

__all__ = [
    "DEFAULT_CALENDARS",
    "DEFAULT_POLICIES",
    "CatalogueError",
    "load_calendars",
    "load_catalogue",
]

DATA = DATA_DIR
DEFAULT_CALENDARS = DATA / "calendars.toml"
DEFAULT_POLICIES = DATA / "sla_policies.toml"


class CatalogueError(ValueError):
    """A data file that cannot be read or does not validate; the message names file and field."""

    def __init__(self, path: Path, where: str, message: str) -> None:
        location = f"{path}: {where}: " if where else f"{path}: "
        super().__init__(f"{location}{message}")
        self.path = path
        self.where = where


def _read(path: Path, table: str) -> list[dict[str, Any]]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise CatalogueError(path, "", f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(path, "", f"not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {table})
    if unknown:
        raise CatalogueError(path, unknown[0], f"unknown top-level key; expected [[{table}]]")
    rows = data.get(table, [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise CatalogueError(path, table, f"must be an array of tables ([[{table}]])")
    return rows


def _explain(path: Path, prefix: str, error: ValidationError) -> CatalogueError:
    problems = []
    for item in error.errors():
        loc = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"])
        problems.append(f"{prefix}{loc}: {item['msg']}")
    first, *rest = problems
    where, _, message = first.partition(": ")
    more = f" (and {len(rest)} more: {'; '.join(rest)})" if rest else ""
    return CatalogueError(path, where, message + more)


def _label(index: int, row: dict[str, Any], table: str) -> str:
    ident = row.get("id")
    version = row.get("version")
    name = f"{ident}@v{version}" if version is not None else f"{ident}"
    return f"{table}[{index}] ({name})" if ident is not None else f"{table}[{index}]"


def load_calendars(path: Path | None = None) -> dict[str, BusinessCalendar]:
    """Calendars by id, built from ``path`` (default ``config/data/calendars.toml``)."""
    path = path or DEFAULT_CALENDARS
    calendars: dict[str, BusinessCalendar] = {}
    for index, row in enumerate(_read(path, "calendar")):
        label = _label(index, row, "calendar")
        try:
            spec = CalendarSpec.model_validate(row)
            calendar = build_calendar(spec)
        except ValidationError as exc:
            raise _explain(path, label, exc) from exc
        except DomainError as exc:
            raise CatalogueError(path, label, exc.message) from exc
        if spec.id in calendars:
            raise CatalogueError(path, f"{label}.id", f"calendar {spec.id!r} is defined twice")
        calendars[spec.id] = calendar
    return calendars


def load_catalogue(
    calendars_path: Path | None = None, policies_path: Path | None = None
) -> PolicyCatalogue:
    """The SLA policy catalogue with its calendars (defaults: the files in ``config/data/``)."""
    calendars = load_calendars(calendars_path)
    path = policies_path or DEFAULT_POLICIES
    context = {
        "working_day_seconds": {cid: cal.standard_day_seconds for cid, cal in calendars.items()}
    }
    policies: list[SlaPolicy] = []
    for index, row in enumerate(_read(path, "policy")):
        label = _label(index, row, "policy")
        try:
            policies.append(SlaPolicy.model_validate(row, context=context))
        except ValidationError as exc:
            raise _explain(path, label, exc) from exc
    try:
        return PolicyCatalogue(policies, calendars)
    except DomainError as exc:
        raise CatalogueError(path, "policy", exc.message) from exc
