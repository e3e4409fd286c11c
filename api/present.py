"""How aggregates and rows look in JSON: local times, masked personal data, plain shapes.

Every function here is a pure function of its arguments (the aggregate at a given version,
the rows, the instant asked about): the body of a repeated idempotent request is recomputed
from the same version and comes out byte for byte the same.

Masking (personal data, REQUIREMENTS.md §8): ``phone`` keeps its first three and last four
characters (``138****8000``); ``address`` is cut after the street (``城关镇幸福路***``);
ID numbers keep their first and last four. Keys are recognised wherever they appear, so event
details in a history are masked the same way.

Times are shown in the hotline's zone with whole-minute offsets (RFC 3339). An instant outside
2000-2100 - stored before commands were bounded, e.g. a promised arrival of
9999-12-31T23:59:59-14:00 - is shown in UTC instead (its local zone there may have a
local-mean-time offset such as +08:05:43), or as stored when even UTC cannot hold it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from domain.commands import EARLIEST, LATEST
from domain.errors import DomainError
from domain.personal import ERASED
from projections.ticket_timeline import details_of

PHONE_KEYS = frozenset({"phone", "mobile", "telephone"})
ADDRESS_KEYS = frozenset({"address"})
ID_KEYS = frozenset({"id_number", "id_card", "identity_number"})
PERSONAL_KEYS = PHONE_KEYS | ADDRESS_KEYS | ID_KEYS
# A Chinese address is shown up to its street (or village); the house number is hidden.
_STREET = re.compile(r"^.*?(大道|路|街|巷|弄|胡同|道|村)")
_EVENT_FIELDS = ("originator_id", "originator_version", "timestamp", "meta", "originator_topic")


def mask_phone(value: str) -> str:
    """``13800138000`` -> ``138****8000``; short numbers are hidden entirely."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_address(value: str) -> str:
    """Keep the address up to its street: ``城关镇幸福路12号`` -> ``城关镇幸福路***``."""
    found = _STREET.match(value)
    if found and found.end() < len(value):
        return found.group(0) + "***"
    keep = min(6, len(value) // 2)
    return value[:keep] + "***"


def mask_id(value: str) -> str:
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def _mask_value(key: str, value: str) -> str:
    if key in PHONE_KEYS:
        return mask_phone(value)
    if key in ADDRESS_KEYS:
        return mask_address(value)
    return mask_id(value)


def personal(value: Any, path: str = "") -> tuple[Any, Any, list[str]]:
    """``(unmasked, masked, paths)`` of a nested value; ``paths`` name non-empty personal fields."""
    if isinstance(value, dict):
        plain: dict[str, Any] = {}
        hidden: dict[str, Any] = {}
        paths: list[str] = []
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            # An erased value (crypto-shredding) is no personal data: shown as it is, unrecorded.
            if key in PERSONAL_KEYS and isinstance(item, str) and item and item != ERASED:
                plain[key], hidden[key] = item, _mask_value(key, item)
                paths.append(where)
                continue
            plain[key], hidden[key], found = personal(item, where)
            paths.extend(found)
        return plain, hidden, paths
    if isinstance(value, (list, tuple)):
        triples = [personal(item, f"{path}[]") for item in value]
        return (
            [t[0] for t in triples],
            [t[1] for t in triples],
            [p for t in triples for p in t[2]],
        )
    return value, value, []


def shown(value: datetime, tz: tzinfo) -> datetime:
    """An aware instant as a response writes it: in ``tz``, or UTC when out of range.

    Never raises: a far instant that not even UTC can hold (past 9999-12-31T23:59:59Z) keeps
    its own offset when that is whole minutes, else is clamped to the last (first) instant.
    """
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        offset = value.utcoffset() or timedelta(0)
        if offset % timedelta(minutes=1) == timedelta(0):
            return value.replace(tzinfo=timezone(offset))
        if value.year > 1:
            return datetime.max.replace(tzinfo=UTC)
        return datetime.min.replace(tzinfo=UTC)
    if not EARLIEST <= utc < LATEST:
        return utc
    there = utc.astimezone(tz)
    offset = there.utcoffset() or timedelta(0)
    return there if offset % timedelta(minutes=1) == timedelta(0) else utc


def local(value: Any, tz: tzinfo) -> Any:
    """Every aware datetime inside ``value`` as :func:`shown` writes it (the hotline's time)."""
    if isinstance(value, datetime):
        return shown(value, tz) if value.tzinfo is not None else value
    if isinstance(value, dict):
        return {k: local(v, tz) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [local(v, tz) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(local(v, tz) for v in value)
    return value


# ----------------------------------------------------------------- write responses


def ticket_outcome(t: Any, events: Iterable[str], changed: bool) -> dict[str, Any]:
    """``POST /tickets/{id}/{action}``: where the ticket stands after the command."""
    return {
        "id": str(t.id),
        "number": t.number,
        "kind": t.kind,
        "state": t.state.value,
        "version": t.version,
        "department": t.department,
        "owner": t.owner,
        "changed": changed,
        "events": list(events),
        "legal_actions": t.legal_actions(),
    }


def intake_outcome(t: Any, events: Iterable[str], changed: bool) -> dict[str, Any]:
    """``POST /tickets``: the new ticket with its bound deadlines."""
    return {
        **ticket_outcome(t, events, changed),
        "policy": dict(t.policy),
        "deadlines": t.sla_summary(),
    }


def callback_outcome(cb: Any, events: Iterable[str], changed: bool) -> dict[str, Any]:
    return {
        **callback_view(cb),
        "changed": changed,
        "events": list(events),
    }


def callback_view(cb: Any) -> dict[str, Any]:
    return {
        **cb.summary(),
        "version": cb.version,
        "customer_id": None if cb.customer_id is None else str(cb.customer_id),
        "source_ticket_id": None if cb.source_ticket_id is None else str(cb.source_ticket_id),
        "legal_actions": cb.legal_actions(),
    }


def customer_outcome(c: Any, events: Iterable[str], changed: bool) -> dict[str, Any]:
    return {**customer_view(c), "changed": changed, "events": list(events)}


def customer_view(c: Any) -> dict[str, Any]:
    """A customer without contact data (the caller adds it, masked or not)."""
    return {
        "id": str(c.id),
        "name": c.name,
        "customer_type": c.customer_type,
        "area": c.area,
        "voltage": c.voltage,
        "station": c.station,
        "group_id": c.group_id,
        "grade": c.grade,
        "key_account": c.key_account,
        "grade_basis": c.grade_basis,
        "account_manager": c.account_manager,
        "version": c.version,
    }


# ------------------------------------------------------------------------ reads


def ticket_view(t: Any, at: datetime, clocks: Any) -> dict[str, Any]:
    """A ticket as its page shows it, with each SLA clock's business time used and left at ``at``.

    Contact data is left under ``contact`` unmasked: the route masks it or records the read.
    """
    details = t.details
    return {
        "id": str(t.id),
        "number": t.number,
        "kind": t.kind,
        "state": t.state.value,
        "version": t.version,
        "department": t.department,
        "owner": t.owner,
        "priority": t.priority,
        "category": t.category,
        "ticket_class": t.ticket_class,
        "channel": details.get("channel"),
        "content": details.get("content"),
        "area": details.get("area"),
        "voltage": details.get("voltage"),
        "station": details.get("station"),
        "customer": dict(t.customer),
        "contact": dict(details.get("contact") or {}),
        "received_at": t.received_at,
        "cycle": t.cycle,
        "supervised": t.supervised,
        "disputed": t.disputed,
        "paused": None if t.paused is None else dict(t.paused),
        "transfers": t.transfers,
        "urges": t.urges,
        "replied": t.replied,
        "answered": t.answered,
        "callback_id": t.callback_id,
        "policy": dict(t.policy),
        "sla": t.sla_summary(at, clocks),
        "sla_evaluated_at": at,
        "legal_actions": t.legal_actions(),
    }


def departments_at(directory: Any, at: datetime) -> list[dict[str, Any]]:
    """Every department the org directory ever had, as it stood at ``at``, sorted by id.

    ``active``: it exists at ``at``; its names and parent are then the record in force. One
    that is gone shows its last record and ``successor``, where its duties are at ``at`` (null
    when none took them); one not yet created shows its first record.
    """
    records: dict[str, list[Any]] = {}
    for record in directory.data.departments:
        records.setdefault(record.id, []).append(record)
    shown = []
    for ident, history in sorted(records.items()):
        history.sort(key=lambda r: r.valid_from)
        current = next((r for r in history if r.active(at)), None)
        past = [r for r in history if r.valid_to is not None and r.valid_to <= at]
        record = current or (past[-1] if past else history[0])
        successor = None
        if current is None and past:
            try:
                successor = directory.successor(ident, at)
            except DomainError:
                successor = None
        shown.append(
            {
                "id": ident,
                "name_zh": record.name_zh,
                "name_en": record.name_en,
                "kind": record.kind,
                "parent": record.parent,
                "active": current is not None,
                "valid_from": record.valid_from,
                "valid_to": record.valid_to,
                "successor": successor,
            }
        )
    return shown


def history_rows(events: Iterable[Any]) -> list[dict[str, Any]]:
    """Each event: name, version, occurred and recorded, who, and its own fields."""
    rows = []
    for ev in events:
        meta = getattr(ev, "meta", None)
        rows.append(
            {
                "name": type(ev).__name__,
                "version": ev.originator_version,
                "occurred_at": meta.occurred_at if meta else None,
                "recorded_at": ev.timestamp,
                "actor": meta.actor if meta else None,
                "role": meta.role if meta else None,
                "department": meta.department if meta else None,
                "channel": meta.channel if meta else None,
                "correlation_id": meta.correlation_id if meta else None,
                "policy_version": meta.policy_version if meta else None,
                "backdated_reason": getattr(meta, "backdated_reason", None),
                "details": details_of(ev),
            }
        )
    return rows


__all__ = [
    "callback_outcome",
    "callback_view",
    "customer_outcome",
    "customer_view",
    "departments_at",
    "history_rows",
    "intake_outcome",
    "local",
    "mask_address",
    "mask_phone",
    "personal",
    "shown",
    "ticket_outcome",
    "ticket_view",
]
