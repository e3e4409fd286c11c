"""Load the SLA policy catalogue and its business calendars from TOML data files.

``calendars.toml`` holds ``[[calendar]]`` tables (:class:`CalendarSpec`), ``sla_policies.toml``
holds ``[[policy]]`` tables (:class:`SlaPolicy`); the settings say which files
(:meth:`config.settings.Settings.data_file`), the shipped ones by default. Everything is
validated by the domain's pydantic models; ``"N working days"`` targets are resolved against the
named calendar's standard working day. Every row is checked, and a bad file raises one
:class:`CatalogueError` listing each fault with file, entry and field
(``sla_policies.toml: policy[3] (complaint@v1).milestones[1].target: ...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config import DATA_DIR
from config.data_files import DataFileError, Problem, entry_label, read_toml, validation_problems
from domain.errors import DomainError
from domain.sla.calendar import BusinessCalendar, CalendarSpec, build_calendar
from domain.sla.policy import PolicyCatalogue, SlaPolicy

__all__ = [
    "DEFAULT_CALENDARS",
    "DEFAULT_POLICIES",
    "CatalogueError",
    "load_calendars",
    "load_catalogue",
    "load_policies",
]

DEFAULT_CALENDARS = DATA_DIR / "calendars.toml"
DEFAULT_POLICIES = DATA_DIR / "sla_policies.toml"


class CatalogueError(DataFileError):
    """The calendars or the SLA policies file cannot be read or does not validate."""


def _rows(path: Path | None, shipped: Path, table: str) -> tuple[str, list[Any]]:
    """``(source, rows)``: the ``[[table]]`` rows of the file, the only key it may hold."""
    try:
        source, document = read_toml(path, shipped.name)
    except DataFileError as exc:
        raise CatalogueError(exc.problems) from exc
    unknown = sorted(set(document) - {table})
    if unknown:
        raise CatalogueError.one(source, f"unknown top-level key; expected [[{table}]]", unknown[0])
    rows = document.get(table, [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise CatalogueError.one(source, f"must be an array of tables ([[{table}]])", table)
    return source, rows


def load_calendars(path: Path | None = None) -> dict[str, BusinessCalendar]:
    """Calendars by id, built from ``path`` (default: the shipped ``calendars.toml``)."""
    source, rows = _rows(path, DEFAULT_CALENDARS, "calendar")
    calendars: dict[str, BusinessCalendar] = {}
    problems: list[Problem] = []
    for index, row in enumerate(rows):
        label = entry_label("calendar", index, row)
        try:
            spec = CalendarSpec.model_validate(row)
            calendar = build_calendar(spec)
        except ValidationError as exc:
            problems += validation_problems(
                exc, source, {"calendar": rows}, prefix=("calendar", index)
            )
            continue
        except DomainError as exc:
            problems.append(Problem(source, label, "", exc.message))
            continue
        if spec.id in calendars:
            problems.append(Problem(source, label, "id", f"calendar {spec.id!r} is defined twice"))
        calendars[spec.id] = calendar
    if problems:
        raise CatalogueError(problems)
    return calendars


def load_catalogue(
    calendars_path: Path | None = None, policies_path: Path | None = None
) -> PolicyCatalogue:
    """The SLA policy catalogue with its calendars (defaults: the shipped files)."""
    return load_policies(policies_path, load_calendars(calendars_path))


def load_policies(path: Path | None, calendars: Mapping[str, BusinessCalendar]) -> PolicyCatalogue:
    """The catalogue of the policies in ``path`` (default: the shipped file) over ``calendars``."""
    source, rows = _rows(path, DEFAULT_POLICIES, "policy")
    context = {
        "working_day_seconds": {cid: cal.standard_day_seconds for cid, cal in calendars.items()}
    }
    policies: list[SlaPolicy] = []
    problems: list[Problem] = []
    for index, row in enumerate(rows):
        problems += _unknown_calendars(source, entry_label("policy", index, row), row, calendars)
        try:
            policies.append(SlaPolicy.model_validate(row, context=context))
        except ValidationError as exc:
            problems += validation_problems(
                exc, source, {"policy": rows}, prefix=("policy", index), refine=_target_field
            )
    if problems:
        raise CatalogueError(problems)
    try:
        return PolicyCatalogue(policies, calendars)
    except DomainError as exc:
        raise CatalogueError.one(source, exc.message, "policy") from exc


def _target_field(item: ErrorDetails) -> tuple[str, ...]:
    """``("target",)`` for an error about a milestone's ``target`` text.

    The domain turns ``target = "45m"`` into seconds in a model validator, so pydantic places
    its errors at the milestone; they start with the target's text, which names the field.
    """
    raw = item.get("input")
    if not isinstance(raw, Mapping) or raw.get("target") is None:
        return ()
    message = item["msg"].removeprefix("Value error, ")
    return ("target",) if message.startswith(repr(str(raw["target"]))) else ()


def _unknown_calendars(
    source: str, label: str, row: Mapping[str, Any], calendars: Mapping[str, BusinessCalendar]
) -> list[Problem]:
    """The catalogue refuses these too, but without saying which row and field: say it here
    (a working-days target on an unknown calendar is refused as well, for want of a day)."""
    milestones = row.get("milestones")
    return [
        Problem(
            source,
            label,
            f"milestones[{index}].calendar",
            f"unknown calendar {spec['calendar']!r}; known: {sorted(calendars)}",
        )
        for index, spec in enumerate(milestones if isinstance(milestones, list) else [])
        if isinstance(spec, Mapping)
        and spec.get("clock") == "business"
        and spec.get("calendar") is not None
        and spec["calendar"] not in calendars
    ]
