"""Every code the product can show has a name in Chinese and English (config/data/names.toml).

The pages show names, never codes: states, kinds, milestones, actions, events, channels, roles,
priorities, areas, voltage classes, SLA outcomes, correction reasons and error codes are all
enumerated here from the code and the shipped data, so a new one without names fails.
"""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path

import pytest
from eventsourcing.domain import CanMutateAggregate

from api.routes.chain import STATUSES
from api.routes.names import catalogue, department_names
from api.users import load_users
from bootstrap.chain import RULES
from bootstrap.org_loader import load_directory
from config import DATA_DIR
from domain import commands as c
from domain.access import AccessLog
from domain.base import Channel, Role
from domain.callback import Callback, CallbackState
from domain.complaint import Complaint
from domain.customer import Customer
from domain.customer_visit import VisitState
from domain.desk import Desk  # noqa: F401  (imports the modules that register aggregates)
from domain.errors import DomainError
from domain.extensions import AGGREGATES  # filled as domain.desk imports its modules
from domain.personal import ERASED
from domain.service_request import ServiceRequest
from domain.ticket import State

ROOT = Path(__file__).resolve().parents[2]


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _events() -> set[str]:
    names = set()
    for aggregate in (Complaint, ServiceRequest, Callback, Customer, AccessLog, *AGGREGATES):
        for attr in dir(aggregate):
            value = getattr(aggregate, attr)
            if isinstance(value, type) and issubclass(value, CanMutateAggregate):
                names.add(value.__name__)
    return names - {"Created", "Event"}


def _api_error_codes() -> set[str]:
    """Codes in api/errors.py's table and every literal code an API module raises."""
    codes = set()
    for path in (ROOT / "api").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r"ApiError\(\s*\d+,\s*\"([a-z_]+)\"", text))
        codes |= set(re.findall(r"\"code\": \"([a-z_]+)\"", text))
        codes |= set(re.findall(r"code=\"([a-z_]+)\"", text))
    table = (ROOT / "api" / "errors.py").read_text(encoding="utf-8")
    codes |= set(re.findall(r"\| ``([a-z_]+)``", table))
    codes |= set(re.findall(r"\(``([a-z_]+)``\)", table))
    return codes


def _milestones() -> set[str]:
    document = tomllib.loads((DATA_DIR / "sla_policies.toml").read_text(encoding="utf-8"))
    return {m["name"] for p in document["policy"] for m in p["milestones"]}


EXPECTED: dict[str, set[str]] = {
    "state": {s.value for s in State},
    "callback_state": {s.value for s in CallbackState},
    "visit_state": {s.value for s in VisitState},
    "kind": set(typing.get_args(c.Kind)) | {"callback"},
    "milestone": _milestones(),
    "action": set(c.TICKET_ACTIONS),
    "event": _events(),
    "channel": {ch.value for ch in Channel},
    "role": {r.value for r in Role},
    "priority": set(typing.get_args(c.Priority)),
    "area": set(typing.get_args(c.Area)),
    "voltage": set(typing.get_args(c.Voltage)),
    "ticket_class": set(typing.get_args(c.TicketClass)),
    "sla_outcome": {"running", "paused", "met", "late", "breached", "cancelled"},
    "reason_code": {"met_before", "paused_before"},
    "chain_status": set(STATUSES),
    "chain_rule": set(RULES),
    "personal": {ERASED},
    "error": {e.code for e in _subclasses(DomainError)} | {"domain_error"} | _api_error_codes(),
}


@pytest.mark.parametrize("section", sorted(EXPECTED))
def test_every_code_of_a_section_has_a_chinese_and_an_english_name(section: str) -> None:
    named = catalogue()[section]
    missing = sorted(EXPECTED[section] - set(named))
    assert missing == [], f"[{section}] lacks names for {missing}"
    for code in EXPECTED[section]:
        entry = named[code]
        assert entry["zh"].strip(), (section, code)
        assert entry["en"].strip(), (section, code)
        assert re.search(r"[\u4e00-\u9fff]", entry["zh"]) or code in ("app",), (section, code)


def test_every_department_the_directory_ever_had_has_both_names() -> None:
    directory = load_directory()
    named = department_names(directory)
    assert {d.id for d in directory.data.departments} == set(named)
    assert named["station_1"] == {"zh": "供电所1", "en": named["station_1"]["en"]}
    assert all(n["zh"] and n["en"] for n in named.values())


def test_every_users_unit_has_both_names() -> None:
    """A user's department is a directory department or a unit named in [unit] (auditors)."""
    directory = load_directory()
    users = load_users(DATA_DIR / "users.toml", directory)
    named = {**catalogue()["unit"], **department_names(directory)}
    units = {u.department for u in users.all}
    assert "audit" in units  # the auditors' office, outside the directory
    assert units <= set(named)
    assert all(named[u]["zh"] and named[u]["en"] for u in units)


def test_the_errors_the_api_documents_are_found() -> None:
    # The scan above must see the codes it is meant to check, or it would check nothing.
    assert {"unauthenticated", "database_unavailable", "idempotency_key_reused"} <= (
        _api_error_codes()
    )
    assert "SlaBreachWithdrawn" in _events()
    assert "DataAccessRecorded" in _events()
