"""What the live stream announces: where each view stands in facts pages show, what moved.

Every unmasked read of personal data is itself recorded, as a ``DataAccessRecorded`` event
(``api/privacy.py``, ``domain/access.py``), and the projector moves every view's tracked
position past it although no view folds it. Announcing raw positions therefore woke every open
page on every such read, and a page that re-read unmasked data recorded another one: an idle
ticket page read itself twice a second, forever. So the stream speaks in *facts*:

- a view's position is the log position of the newest event it has passed that is not an
  access record (the ``AccessLog`` aggregate's events): it moves when a ticket, customer or
  callback fact reaches the view, never when someone reads;
- ``head`` is the newest such fact in the log, folded or not;
- :meth:`LogWatch.poll` also gives the aggregates (id, version) that recorded a fact since a
  read position, so a page showing one ticket re-reads it only when its version moved.

A negative list (access records aside, everything else counts) rather than a list of the
topics each view folds: a new kind of fact then wakes pages (one needless read) instead of
going unannounced, and the folds need not declare anything. Access records could instead live
in a store of their own; that changes where the audit trail is written and replayed, for what
one filter here settles.

One :class:`LogWatch` per running API serves all of its streams: it reads the log's new
notifications (ids, aggregate ids, versions, topics; never decoded) at most once per
``interval`` however many streams poll it, and remembers the last ``keep`` facts. What it has
not read (a view far behind, a backlog beyond ``backlog`` notifications when it starts or
falls behind) it reports coarsely: such a view's position is its raw tracked position, and a
caller asking what moved since before the facts it remembers gets None (ask for the versions
again).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.access import AccessLog

# Every event of an access log (opened, read recorded): stored as ``module:qualname.Event``.
ACCESS_TOPICS = f"{AccessLog.__module__}:{AccessLog.__qualname__}."


@dataclass(frozen=True)
class Fact:
    """One recorded fact: its log position, its aggregate and the version it made."""

    position: int
    aggregate_id: str
    version: int


@dataclass(frozen=True)
class Positions:
    """The log and the views, as pages see them (see the module docstring)."""

    head: int
    views: dict[str, int]
    read: int  # the last notification read: pass it to the next :meth:`LogWatch.poll`


def is_fact(topic: str) -> bool:
    """Whether an event of this stored topic is shown by a page (not an access record)."""
    return not topic.startswith(ACCESS_TOPICS)


class LogWatch:
    """The log's facts and the views' positions in facts, shared by every stream of one API."""

    def __init__(
        self,
        recorder: Any,
        tracked: Callable[[], Mapping[str, int]],
        *,
        interval: float = 0.4,
        keep: int = 10_000,
        backlog: int = 2_000,
        batch: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recorder = recorder
        self.tracked = tracked  # each view's tracked position, by name
        self.interval = interval
        self.keep = keep
        self.backlog = backlog
        self.batch = batch
        self.clock = clock
        self._lock = threading.Lock()
        self._read: int | None = None  # the last notification read
        self._floor = 0  # every fact after this position (up to _read) is in _facts
        self._facts: list[Fact] = []
        self._keys: list[int] = []  # the facts' positions, for bisect
        self._tracked: dict[str, int] = {}
        self._checked = float("-inf")
        self.polls = 0  # calls of poll(), for whoever waits on the streams having looked

    def poll(self, since: int | None) -> tuple[Positions, list[Fact] | None]:
        """Positions now, and the facts recorded after ``since`` (a ``Positions.read`` of an
        earlier poll); None for those when they are no longer known (or ``since`` is None)."""
        with self._lock:
            self.polls += 1
            if self.clock() - self._checked >= self.interval:
                self._refresh()
                self._checked = self.clock()
            assert self._read is not None
            views = {name: self._shown(position) for name, position in self._tracked.items()}
            head = self._keys[-1] if self._keys else self._floor
            positions = Positions(head=head, views=views, read=self._read)
            if since is None or since < self._floor:
                return positions, None
            return positions, self._facts[bisect.bisect_right(self._keys, since) :]

    def version(self, aggregate_id: UUID | str) -> int | None:
        """The aggregate's current version; None when it has none or is an access log."""
        # A UUID, not its text: the SQLite recorder matches ids by their stored form.
        found = self.recorder.select_events(UUID(str(aggregate_id)), desc=True, limit=1)
        if not found or not is_fact(found[0].topic):
            return None
        return int(found[0].originator_version)

    # ------------------------------------------------------------------ inside

    def _refresh(self) -> None:
        # Positions before the head: a view never seems past the facts read with it.
        self._tracked = dict(sorted(self.tracked().items()))
        head = int(self.recorder.max_notification_id() or 0)
        if self._read is None:
            lowest = min(self._tracked.values(), default=head)
            self._restart(max(min(lowest, head), head - self.backlog))
        elif head < self._read:  # a store made anew under a running API
            self._restart(head)
        elif head - self._read > self.backlog:
            self._restart(head - self.backlog)
        read = self._floor if self._read is None else self._read
        while read < head:
            found = self.recorder.select_notifications(start=read + 1, limit=self.batch, stop=head)
            for note in found:
                if is_fact(note.topic):
                    self._facts.append(
                        Fact(note.id, str(note.originator_id), int(note.originator_version))
                    )
                    self._keys.append(note.id)
            read = found[-1].id if found else head
            if len(found) < self.batch:
                break
        self._read = max(read, head)
        if len(self._facts) > self.keep:
            drop = len(self._facts) - self.keep
            self._floor = self._keys[drop - 1]
            del self._facts[:drop], self._keys[:drop]

    def _restart(self, position: int) -> None:
        self._read = self._floor = position
        self._facts.clear()
        self._keys.clear()

    def _shown(self, tracked: int) -> int:
        """A view's position in facts: the newest fact at or before its tracked position."""
        if tracked <= self._floor:
            return tracked  # before what was read: the raw position, coarse but moving
        at = bisect.bisect_right(self._keys, tracked)
        return self._keys[at - 1] if at else self._floor
