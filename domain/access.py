"""Access log (查阅记录): who saw a customer's personal data unmasked, when, and why.

Personal data (phone, address, ID numbers) is shown masked unless the reader's role needs it;
every read that shows it unmasked is itself a fact, recorded here as a ``DataAccessRecorded``
event on one :class:`AccessLog` per subject (a ticket or a customer), so an auditor can list
every reveal of one customer's data, or every reveal by one person. The log is written by
:func:`record_access` through the desk's own event store, with the desk's recording clock: it
is replayed, hash-chained and rebuilt like any other fact.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from eventsourcing.domain import event
from eventsourcing.persistence import IntegrityError

from domain.base import Meta, Recorded, recording_clock
from domain.errors import InvalidValue, VersionConflict

ACCESS_NAMESPACE = uuid.UUID("0b6a1f3e-58c2-4f0e-9d6b-2a7c51e0c4d3")
SUBJECT_KINDS = ("ticket", "customer", "callback")
# Concurrent reveals of one subject race for the log's next version; the loser reloads.
SAVE_ATTEMPTS = 5


def access_log_id(subject_id: UUID | str) -> UUID:
    """The id of a subject's access log (derived, so no lookup table is needed)."""
    return uuid.uuid5(ACCESS_NAMESPACE, f"access-log:{subject_id}")


class AccessLog(Recorded):
    """Every unmasked read of one subject's personal data, oldest first."""

    KIND = "access_log"

    @event("Opened")
    def __init__(self, id: UUID, subject_kind: str, subject_id: str) -> None:
        self.subject_kind = subject_kind
        self.subject_id = subject_id
        self.reads = 0

    def record(
        self,
        meta: Meta,
        *,
        subject_number: str | None,
        fields: list[str],
        reason: str,
        endpoint: str,
    ) -> None:
        """Note one unmasked read of ``fields`` (dotted paths, e.g. ``contact.phone``)."""
        if not fields:
            raise InvalidValue("fields", "an access record names the fields it revealed")
        self._data_access_recorded(
            meta=meta,
            subject_kind=self.subject_kind,
            subject_id=self.subject_id,
            subject_number=subject_number,
            fields=sorted(set(fields)),
            reason=reason,
            endpoint=endpoint,
        )

    @event("DataAccessRecorded")
    def _data_access_recorded(
        self,
        meta: Meta,
        subject_kind: str,
        subject_id: str,
        subject_number: str | None,
        fields: list[str],
        reason: str,
        endpoint: str,
    ) -> None:
        self.reads += 1


# The stored topic of DataAccessRecorded (``module:qualname``), to select only those events.
ACCESS_TOPIC = f"{AccessLog.__module__}:{AccessLog.__qualname__}.DataAccessRecorded"


def record_access(
    desk: Any,
    meta: Meta,
    *,
    subject_kind: str,
    subject_id: UUID | str,
    subject_number: str | None,
    fields: list[str],
    reason: str = "",
    endpoint: str = "",
) -> None:
    """Append one ``DataAccessRecorded`` to the subject's log and save it with ``desk``.

    ``desk`` is the application (``domain.desk.Desk``): its repository, ``save`` and
    recording ``clock`` are used, nothing else. Raises :class:`VersionConflict` if the log
    kept moving under concurrent reveals for :data:`SAVE_ATTEMPTS` tries.
    """
    if subject_kind not in SUBJECT_KINDS:
        raise InvalidValue("subject_kind", f"must be one of {', '.join(SUBJECT_KINDS)}")
    ident = access_log_id(subject_id)
    for _ in range(SAVE_ATTEMPTS):
        log = _load(desk, ident)
        with recording_clock(desk.clock):
            if log is None:
                log = AccessLog(id=ident, subject_kind=subject_kind, subject_id=str(subject_id))
            log.record(
                meta,
                subject_number=subject_number,
                fields=fields,
                reason=reason,
                endpoint=endpoint,
            )
        try:
            desk.save(log)
            return
        except IntegrityError:
            continue
    raise VersionConflict(ticket=f"access log of {subject_id}", expected=None, actual=None)


def _load(desk: Any, ident: UUID) -> AccessLog | None:
    from eventsourcing.application import AggregateNotFoundError

    try:
        found = desk.repository.get(ident)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, AccessLog) else None


def access_records(events: list[Any]) -> list[dict[str, Any]]:
    """The ``DataAccessRecorded`` events given, as plain rows (for the audit listing)."""
    rows = []
    for ev in events:
        if type(ev).__name__ != "DataAccessRecorded":
            continue
        meta: Meta = ev.meta
        rows.append(
            {
                "recorded_at": ev.timestamp,
                "occurred_at": meta.occurred_at,
                "actor": meta.actor,
                "role": meta.role,
                "department": meta.department,
                "correlation_id": meta.correlation_id,
                "subject_kind": ev.subject_kind,
                "subject_id": ev.subject_id,
                "subject_number": ev.subject_number,
                "fields": list(ev.fields),
                "reason": ev.reason,
                "endpoint": ev.endpoint,
            }
        )
    return rows
