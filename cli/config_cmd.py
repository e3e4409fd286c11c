"""``casetrail config check|show``: what a deployment's settings and data files amount to.

``check`` loads every data file as the settings choose it (:meth:`Settings.data_file`) with the
same loaders ``serve`` and the workers use, and prints which file each is, its version and what
it holds; or every fault found, each with file, entry and field, and exit code 1. ``show``
prints the effective settings, with the password of a database URL masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from api.users import Users, load_users
from bootstrap.assessment_rules import load_assessment_rules
from bootstrap.catalogue import load_calendars, load_policies
from bootstrap.org_loader import load_directory
from bootstrap.outage_rule import load_outage_rule
from bootstrap.problem_customers import load_problem_threshold
from bootstrap.surveys import SurveysConfig, load_survey_rules
from config.data_files import (
    DATA_NAMES,
    RULE_NAMES,
    DataFile,
    DataFileError,
    DataName,
    Problem,
    RuleName,
)
from config.settings import Settings, env_name
from domain.assessment import AssessmentRules
from domain.org import OrgDirectory
from domain.outage_rule import SuggestionRule
from domain.sla.calendar import BusinessCalendar
from domain.sla.policy import PolicyCatalogue
from workers.callbacks import CallbackPlanConfig, load_callback_plan

# What a loader gave, its version and a line of what it holds.
Loaded = tuple[Any, str, str]

config_app = typer.Typer(
    help="The settings and data files this process would use", no_args_is_help=True
)
console = Console()


@dataclass(frozen=True)
class Checked:
    """One data file as loaded (``version``, ``contents``), or why it was not."""

    file: DataFile
    status: str  # "ok", "faulty" or "not checked: <why>"
    version: str = ""
    contents: str = ""


def check_data(settings: Settings) -> tuple[list[Checked], list[Problem]]:
    """Load every data file the way the desk, the views, the workers and the API do.

    A file that depends on a faulty one (the policies on their calendars) is not checked.
    """
    loaded: dict[DataName | RuleName, Any] = {}
    checked: dict[DataName | RuleName, Checked] = {}
    problems: list[Problem] = []

    def attempt(name: DataName | RuleName, load: Callable[[DataFile], Loaded]) -> None:
        file = settings.data_file(name)
        try:
            loaded[name], version, contents = load(file)
        except DataFileError as exc:
            problems.extend(exc.problems)
            checked[name] = Checked(file, "faulty")
        else:
            checked[name] = Checked(file, "ok", version, contents)

    attempt("calendars", lambda f: _calendars(load_calendars(f.path)))
    if "calendars" in loaded:
        attempt("sla_policies", lambda f: _policies(load_policies(f.path, loaded["calendars"])))
    else:
        file = settings.data_file("sla_policies")
        checked["sla_policies"] = Checked(file, "not checked: its calendars are faulty")
    attempt("org", lambda f: _org(load_directory(f.path)))
    attempt("callback_plan", lambda f: _plan(load_callback_plan(f.path)))
    # Without a directory the users' departments cannot be checked; their other fields can.
    attempt("users", lambda f: _users(load_users(f.path, loaded.get("org"))))
    attempt("assessment_rules", lambda f: _assessment(load_assessment_rules(f.path)))
    attempt("outage_rule", lambda f: _outage(load_outage_rule(settings.data_dir)))
    attempt("problem_customers", lambda f: _problem(load_problem_threshold(settings.data_dir)))
    attempt("surveys", lambda f: _surveys(load_survey_rules(settings.data_dir)))
    return [checked[name] for name in (*DATA_NAMES, *RULE_NAMES)], problems


def _assessment(rules: AssessmentRules) -> Loaded:
    contents = (
        f"{len(rules.rules)} point rules, {len(rules.leaders)} leaders, "
        f"effective from {rules.effective_from}"
    )
    return rules, rules.version, contents


def _outage(rule: SuggestionRule) -> Loaded:
    minutes = int(rule.window.total_seconds() // 60)
    return rule, "", f"suggest at {rule.min_calls} calls per feeder within {minutes} min"


def _problem(threshold: int) -> Loaded:
    return threshold, "", f"the complaint that makes {threshold} in a quarter flags the customer"


def _surveys(rules: SurveysConfig) -> Loaded:
    contents = (
        f"a survey without a target aims at {rules.default_target_percent:g} %; "
        f"CAPA owners warned at {rules.capa_warn_at:.0%} of their time"
    )
    return rules, f"v{rules.version}", contents


def _calendars(calendars: dict[str, BusinessCalendar]) -> Loaded:
    versions = ", ".join(calendar.version for calendar in calendars.values())
    return calendars, versions, f"{len(calendars)} calendars"


def _policies(catalogue: PolicyCatalogue) -> Loaded:
    ids = {policy.id for policy in catalogue.policies}
    milestones = sum(len(policy.milestones) for policy in catalogue.policies)
    contents = f"{len(catalogue.policies)} policies ({len(ids)} ids), {milestones} milestones"
    return catalogue, catalogue.version, contents


def _org(directory: OrgDirectory) -> Loaded:
    departments = {department.id for department in directory.data.departments}
    contents = (
        f"{len(departments)} departments, {len(directory.routes)} routes, "
        f"{len(directory.changes)} changes"
    )
    return directory, f"{directory.version} (release {directory.release})", contents


def _plan(plan: CallbackPlanConfig) -> Loaded:
    every = ", ".join(f"{g} {d}d" for g, d in sorted(plan.periodic.every_days.items()))
    contents = f"post-service for {len(plan.post_service.kinds)} kinds; periodic {every}"
    return plan, f"v{plan.version}", contents


def _users(users: Users) -> Loaded:
    return users, "", f"{len(users.all)} users"


@config_app.callback()
def config() -> None:
    """The settings and data files this process would use."""


@config_app.command("check")
def check() -> None:
    """Load every data file as the settings choose it: versions and counts, or every fault."""
    settings = _settings()
    checked, problems = check_data(settings)
    table = Table(title="data files")
    for column in ("data", "file", "from", "status", "version", "contents"):
        table.add_column(column, overflow="fold")
    for item in checked:
        table.add_row(
            item.file.name,
            str(item.file.path),
            item.file.origin,
            item.status,
            item.version,
            item.contents,
        )
    console.print(table)
    if problems:
        print_problems(problems)
        raise typer.Exit(code=1)
    console.print("[green]every data file loads[/green]")


@config_app.command("show")
def show() -> None:
    """The effective settings: value, where it comes from, what it means."""
    settings = _settings()
    table = Table(title="settings")
    for column in ("setting", "environment variable", "value", "from", "meaning"):
        table.add_column(column, overflow="fold")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        table.add_row(
            name,
            env_name(name),
            "" if value is None else masked(str(value)),
            "environment" if name in settings.model_fields_set else "default",
            field.description or "",
        )
    console.print(table)


def masked(value: str) -> str:
    """``value`` with the password of a URL in it replaced by ``***``."""
    parts = urlsplit(value)
    if not parts.password:
        return value
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _settings() -> Settings:
    """The settings from the environment; refused ones are printed as faults (exit 1)."""
    try:
        return Settings()
    except ValidationError as exc:
        print_problems(
            [
                Problem("environment", env_name(str(item["loc"][0])), "", item["msg"])
                for item in exc.errors()
            ]
        )
        raise typer.Exit(code=1) from None


def print_problems(problems: Sequence[Problem]) -> None:
    """Each fault as a row: file, entry, field, problem."""
    count = f"{len(problems)} fault" + ("" if len(problems) == 1 else "s")
    table = Table(title=f"[red]{count}[/red]")
    for column in ("file", "entry", "field", "problem"):
        table.add_column(column, overflow="fold")
    for problem in problems:
        table.add_row(problem.file, problem.entry, problem.field, problem.message)
    console.print(table)
