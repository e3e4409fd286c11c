"""The data files a deployment may replace, where each is read from, and how a bad one is told.

Five TOML files drive casetrail: the SLA policies, their calendars, the org directory, the
callback plan and the API users. Each ships in ``config/data/``; a deployer points
``CASETRAIL_DATA_DIR`` at a folder holding any of them, or names one file with its own setting
(``CASETRAIL_ORG_FILE``, ...). :meth:`config.settings.Settings.data_file` says which applies.

Every loader refuses a bad file with one :class:`DataFileError` carrying all the
:class:`Problem` s it found, each naming the file, the entry (``policy[3] (complaint@v1)``,
``department[7] (station_2)``) and the field (``milestones[1].target``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from config import read_data

DataName = Literal["sla_policies", "calendars", "org", "callback_plan", "users"]
DATA_NAMES: tuple[DataName, ...] = ("sla_policies", "calendars", "org", "callback_plan", "users")
# The rules of the loop after the callback, each read from CASETRAIL_DATA_DIR when there (the
# assessment rules also from their own setting), else shipped.
RuleName = Literal["assessment_rules", "outage_rule", "problem_customers", "surveys"]
RULE_NAMES: tuple[RuleName, ...] = (
    "assessment_rules",
    "outage_rule",
    "problem_customers",
    "surveys",
)
SHIPPED = "shipped"


@dataclass(frozen=True)
class DataFile:
    """One data file as the settings choose it: its path and which setting chose it."""

    name: DataName | RuleName
    path: Path
    origin: str  # "shipped", or the environment variable that chose the file


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a data file: where (file, entry, field) and what."""

    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        where = ".".join(part for part in (self.entry, self.field) if part)
        return f"{self.file}: {where}: {self.message}" if where else f"{self.file}: {self.message}"


class DataFileError(ValueError):
    """A data file that cannot be read or does not validate; ``problems`` says every fault."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(map(str, self.problems)))

    @classmethod
    def one(cls, file: str, message: str, entry: str = "", field: str = "") -> Self:
        return cls([Problem(file, entry, field, message)])


def read_toml(path: Path | str | None, shipped: str) -> tuple[str, dict[str, Any]]:
    """``(source, document)`` of ``path`` or the shipped file; raises :class:`DataFileError`."""
    try:
        source, raw = read_data(path, shipped)
    except OSError as exc:
        raise DataFileError.one(
            str(path or shipped), f"cannot read: {exc.strerror or exc}"
        ) from exc
    try:
        return source, tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataFileError.one(source, f"not valid TOML: {exc}") from exc


def entry_label(table: str, index: int, row: object) -> str:
    """``policy[3] (complaint@v1)``: a table's row by position, and by id when it has one."""
    label = f"{table}[{index}]"
    if not isinstance(row, Mapping) or row.get("id") is None:
        return label
    version = row.get("version")
    return f"{label} ({row['id']}@v{version})" if version is not None else f"{label} ({row['id']})"


def validation_problems(
    error: ValidationError,
    source: str,
    document: Mapping[str, Any],
    *,
    prefix: tuple[str | int, ...] = (),
    tables: Mapping[str, str] | None = None,
    refine: Callable[[ErrorDetails], tuple[str, ...]] | None = None,
) -> list[Problem]:
    """Every error pydantic found, located in ``document`` (the file as parsed).

    ``prefix`` is where the validated value sits in ``document`` (``("policy", 3)`` when one
    row is validated alone); ``tables`` renames a model's field to the file's table name
    (``departments`` -> ``department``); ``refine`` names the field of an error that a
    model-level validator raised (pydantic locates those at the model).
    """
    names = tables or {}
    problems = []
    for item in error.errors():
        loc = (*prefix, *item["loc"], *(refine(item) if refine else ()))
        entry, rest = "", loc
        rows = document.get(str(loc[0])) if loc else None
        if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(rows, list):
            row = rows[loc[1]] if loc[1] < len(rows) else None
            entry, rest = entry_label(names.get(str(loc[0]), str(loc[0])), loc[1], row), loc[2:]
        elif len(loc) >= 2 and isinstance(rows, Mapping):
            entry, rest = str(loc[0]), loc[1:]
        message = item["msg"].removeprefix("Value error, ")
        problems.append(Problem(source, entry, dotted(rest), message))
    return problems


def dotted(loc: Iterable[str | int]) -> str:
    """``("milestones", 1, "target")`` -> ``milestones[1].target``; a bad key of a table is
    named by itself (pydantic adds ``[key]`` after it)."""
    parts = (f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc if p != "[key]")
    return "".join(parts).lstrip(".")


_FIELD = re.compile(r"(?P<entry>[^.\[]+(?:\[[^\]]*\])?)\.?(?P<field>.*)")


def field_problem(source: str, field: str, message: str) -> Problem:
    """A fault the domain names by a path (``routes[post.billing].target``): entry and field."""
    found = _FIELD.fullmatch(field)
    entry, rest = (found["entry"], found["field"]) if found else (field, "")
    return Problem(source, entry, rest, message.removeprefix(f"{field}: "))


Rules = TypeVar("Rules", bound=BaseModel)


def load_rule_file(data_dir: Path | None, filename: str, model: type[Rules]) -> Rules:
    """A small rule file (``outage_rule.toml``, ...): ``data_dir/filename`` when the deployment
    has one, else the shipped file, validated by ``model``; a bad file raises
    :class:`DataFileError` naming the file and each faulty field."""
    own = data_dir / filename if data_dir is not None else None
    path = own if own is not None and own.exists() else None
    source, document = read_toml(path, filename)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise DataFileError(validation_problems(exc, source, document)) from exc
