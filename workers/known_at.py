"""The event log as it was known at an instant: only the events recorded by then.

:class:`KnownAt` stands in for the desk where a :class:`workers.projector.Projector` reads
its log (``recorder.select_notifications``, ``recorder.max_notification_id``,
``mapper.to_domain_event``), so the ordinary projector folds exactly the events whose
recording time (their ``timestamp``) is at or before ``horizon``, in log order, and nothing
recorded after — a late entry of an earlier fact included, whatever its business time. The
log is read up to the head it had when the replay began. Each event is decoded once, here,
by the desk's own mapper; one that cannot be decoded is handed on and fails in the
projector's decode, which stops the views as it always does.

Recording times need not follow the log's order exactly (writers on PostgreSQL stamp an event
before they take the insert lock; a backfilled store), so every notification up to the head
is looked at: none is skipped for where it lies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any


class KnownAt:
    """A desk's log restricted to the events recorded at or before ``horizon``."""

    def __init__(self, app: Any, horizon: datetime, head: int | None = None) -> None:
        self.app = app
        self.horizon = horizon
        self.head = int(app.recorder.max_notification_id() or 0) if head is None else head
        self.recorder = self
        self.mapper = self
        self.read_to = 0  # the highest notification id looked at so far
        self.kept = 0  # events at or before the horizon handed to the projector
        self.left_out = 0  # events recorded after it (each counted once)
        self._decoded: dict[int, Any] = {}  # id -> event (or the decode error), until taken

    def max_notification_id(self) -> int:
        return self.head

    def select_notifications(
        self, start: int, limit: int, stop: int | None = None, **_: Any
    ) -> Sequence[Any]:
        """The next notifications recorded by the horizon, from id ``start`` on.

        Pages that hold none are read past, so an empty answer means the end of the log.
        """
        last = self.head if stop is None else min(stop, self.head)
        kept: list[Any] = []
        to_event = self.app.mapper.to_domain_event
        while start <= last and not kept:
            page = self.app.recorder.select_notifications(start=start, limit=limit, stop=last)
            if not page:
                break
            for note in page:
                try:
                    event = to_event(note)
                except Exception as error:  # the projector's decode reports it
                    kept.append(note)
                    self._decoded[note.id] = error
                    continue
                if event.timestamp <= self.horizon:
                    kept.append(note)
                    self._decoded[note.id] = event
                elif note.id > self.read_to:
                    self.left_out += 1
            start = page[-1].id + 1
            if start - 1 > self.read_to:
                self.kept += sum(1 for n in kept if n.id > self.read_to)
                self.read_to = start - 1
        return kept

    def to_domain_event(self, note: Any) -> Any:
        found = self._decoded.pop(note.id, None)
        if found is None:  # read again after a rewind: decode it once more
            found = self.app.mapper.to_domain_event(note)
        if isinstance(found, Exception):
            raise found
        return found
