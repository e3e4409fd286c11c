"""Which facts carry a customer's personal data, and what an erased value reads as.

A customer's name, phone and address (and any other contact field) are personal data: the
store keeps them sealed with a key of that customer's own, held outside the event payload
(``bootstrap/personal.py``), so that destroying the key (``casetrail customer erase``,
crypto-shredding) makes them unreadable while every event still replays and every SLA and
department figure stays as it was.

This module only *declares*: for each event kind that carries personal data, whose it is (the
data subject: a customer id) and where in the event it sits. Events decoded after the key is
gone carry :data:`ERASED` in those places; a customer erased is ``Customer.erased``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# What a sealed personal value reads as once its subject's key was destroyed. The thin client
# and the API show it by name ("已删除" / "erased"); views store it as it is.
ERASED = "[erased]"

Path = tuple[str, ...]


@dataclass(frozen=True)
class PersonalFields:
    """Where an event kind carries personal data and whose it is.

    ``subject`` reads the customer id from the event's state (a dict of its attributes,
    ``originator_id`` included); ``paths`` lead to a text value or to a dict whose every text
    value is personal (``contact``: phone, address and whatever a later release adds).
    """

    subject: Callable[[dict[str, Any]], str | None]
    paths: tuple[Path, ...]

    def leaves(self, state: dict[str, Any]) -> Iterator[tuple[Path, Any]]:
        """``(path, value)`` of every personal value present in ``state``."""
        for path in self.paths:
            holder: Any = state
            for name in path:
                holder = holder.get(name) if isinstance(holder, dict) else None
            if isinstance(holder, dict):
                for key, value in holder.items():
                    if value is not None:
                        yield (*path, key), value
            elif holder is not None:
                yield path, holder


def _originator(state: dict[str, Any]) -> str | None:
    ident = state.get("originator_id")
    return None if ident is None else str(ident)


def _ticket_customer(state: dict[str, Any]) -> str | None:
    customer = (state.get("details") or {}).get("customer") or {}
    ident = customer.get("id")
    return None if ident is None else str(ident)


_CUSTOMER = PersonalFields(_originator, (("name",), ("contact",)))
_TICKET = PersonalFields(
    _ticket_customer, (("details", "customer", "name"), ("details", "contact"))
)

# Event class name -> where its personal data is. A new event kind that carries personal data
# must be named here (tests/unit/test_personal_data.py looks for unnamed ones).
PERSONAL: dict[str, PersonalFields] = {
    "CustomerRegistered": _CUSTOMER,
    "ContactUpdated": PersonalFields(_originator, (("contact",),)),
    "ComplaintReceived": _TICKET,
    "ServiceRequestReceived": _TICKET,
}


def subject_is_originator(spec: PersonalFields) -> bool:
    """Whether the data subject is the aggregate the event belongs to (a customer's own)."""
    return spec.subject is _originator


def replace_leaves(
    state: dict[str, Any], spec: PersonalFields, change: Callable[[Path, Any], Any]
) -> dict[str, Any]:
    """A copy of ``state`` with each personal value replaced by ``change(path, value)``.

    Only the dicts on the way to a personal value are copied: the rest is shared with
    ``state``, which is never changed (it may be an event an aggregate still holds).
    """
    leaves = list(spec.leaves(state))
    if not leaves:
        return state
    out = dict(state)
    copied = {id(out)}  # each dict on the way is copied once, however many leaves it holds
    for path, value in leaves:
        holder = out
        for name in path[:-1]:
            inner = holder[name]
            if id(inner) not in copied:
                inner = holder[name] = dict(inner)
                copied.add(id(inner))
            holder = inner
        holder[path[-1]] = change(path, value)
    return out


def erased_copy(state: dict[str, Any], spec: PersonalFields) -> dict[str, Any]:
    """``state`` as it reads once its subject is erased: every personal value :data:`ERASED`."""
    return replace_leaves(state, spec, lambda _path, _value: ERASED)
