"""A projection replayed as of a past instant, resumed from checkpoints instead of event one.

:func:`projections.reports.rows_as_of` folds the whole log for every instant ``T``: every
notification read, every event decoded, those recorded at or before ``T`` folded, in id order.
:func:`replay_as_of` gives exactly the same rows for less, from two facts about the log:

- A :class:`Checkpoint` is the state after folding *every* event the projection handles up to
  notification id ``position``; ``recorded_up_to`` is the latest recording time among them. For
  any ``T >= recorded_up_to`` the full replay folds all of those events, in the same order, so
  it passes through exactly this state at ``position``: the replay for ``T`` restores it and
  folds only the events after it. Checkpoints are taken while a replay still folds every
  event it reads, which for a log recorded in time order means up to ``T``.
- A :class:`Block` remembers one page of the log: its id range and the earliest and latest
  recording time of the events in it that the projection handles. A page whose earliest time
  lies after ``T`` holds nothing the replay for ``T`` folds: it is skipped unread.

Events the projection has no handler for are never decoded (folding them does nothing), and
their recording time does not matter either. Both facts rest on the log being append-only and
committed in id order (what the recorders guarantee to every reader): a checkpoint or a block
never goes stale while the store is the same one, which :func:`anchor_of` and
:func:`anchor_holds` let a cache check cheaply. A checkpoint's rows are kept pickled: a
restored state is always a fresh copy, so a cached checkpoint can never be changed by a fold.

Pure read side: no clock, no HTTP; the cache and its bounds live with whoever holds them
(``api/replays.py``).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.utils import resolve_topic

from projections.core import Projection
from projections.reports import MemoryRows

PAGE = 1000
"""Notification ids read at once; also the span of a :class:`Block`."""
CHECKPOINT_EVERY = 4000
"""At least this many notifications between two checkpoints of one replay."""

Anchor = tuple[int, str, int]
"""(notification id, originator id, originator version): one event, to recognise the store."""


@dataclass(frozen=True)
class Checkpoint:
    """Every handled event up to ``position`` folded; valid for instants >= ``recorded_up_to``.

    ``recorded_up_to`` is None when no handled event lies at or below ``position`` (valid for
    any instant). ``state`` is the pickled rows (``MemoryRows.data``), restored by copy.
    """

    position: int
    recorded_up_to: datetime | None
    state: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.state)

    def valid_for(self, as_of: datetime) -> bool:
        return self.recorded_up_to is None or self.recorded_up_to <= as_of


@dataclass(frozen=True)
class Block:
    """One page of the log: notification ids ``first`` to ``last``, a multiple of the page size.

    Learnt only once the head has passed ``last``. ``earliest``/``latest``: recording times of
    the events in it that the projection handles (None when it handles none of them).
    """

    first: int
    last: int
    earliest: datetime | None
    latest: datetime | None

    def needed_for(self, as_of: datetime) -> bool:
        """Whether the replay for ``as_of`` folds anything in this block."""
        return self.earliest is not None and self.earliest <= as_of


@dataclass
class Replayed:
    """The rows as of the instant, what was learnt on the way, and what it cost."""

    rows: MemoryRows
    checkpoints: list[Checkpoint] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    anchor: Anchor | None = None  # the last notification read
    read: int = 0  # notifications read from the store
    skipped: int = 0  # pages left unread (their block holds nothing for the instant)
    decoded: int = 0
    folded: int = 0


class _Handled:
    """Which stored topics the projection folds (per topic, resolved once)."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        # A projection with its own fold() may act on any event: then every event counts.
        self.by_name = type(projection).fold is Projection.fold
        self.topics: dict[str, bool] = {}

    def __call__(self, topic: str) -> bool:
        known = self.topics.get(topic)
        if known is None:
            if self.by_name:
                # resolve_topic follows renamed event classes (register_topic) like the mapper.
                name = resolve_topic(topic).__name__
                known = getattr(self.projection, f"on_{name}", None) is not None
            else:
                known = True
            self.topics[topic] = known
        return known


def restore(projection: Projection, checkpoint: Checkpoint | None) -> MemoryRows:
    """Fresh rows holding the checkpoint's state (empty rows without one)."""
    rows = MemoryRows(projection)
    if checkpoint is not None:
        rows.data = pickle.loads(checkpoint.state)
    return rows


def replay_as_of(
    desk: Any,
    projection: Projection,
    as_of: datetime,
    *,
    start: Checkpoint | None = None,
    blocks: Mapping[int, Block] | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    page: int = PAGE,
) -> Replayed:
    """The rows :func:`projections.reports.rows_as_of` gives for ``as_of``, resumed at ``start``.

    ``start`` must be valid for ``as_of`` (:meth:`Checkpoint.valid_for`); ``blocks`` (by
    ``first``) must come from this store, read with the same ``page``. The log is read up to
    its head when the replay starts, in pages aligned on multiples of ``page`` (so that every
    replay meets the same blocks). Checkpoints are taken at page ends while every handled
    event read so far lies at or before ``as_of``:

    - after at least ``checkpoint_every`` notifications, and half as many as the state has
      rows (pickling costs per row, folding per event: the pickling stays a small part of the
      work), so that other instants find one not far before them;
    - at the last page end this may hold for ``as_of`` (the head of the log, the page before
      the log's unfinished last one, or the next block holds events recorded after
      ``as_of``) once a page has been read since the last one, so that the same instant asked
      again folds at most a page or two.
    """
    if start is not None and not start.valid_for(as_of):
        raise ValueError(f"checkpoint at {start.position} is not valid for {as_of.isoformat()}")
    known = blocks or {}
    handled = _Handled(projection)
    rows = restore(projection, start)
    done = Replayed(rows)
    head = int(desk.recorder.max_notification_id() or 0)
    position = start.position if start is not None else 0
    recorded_up_to = start.recorded_up_to if start is not None else None
    last_checkpoint = position
    whole = True  # every handled event up to ``position`` has been folded
    while position < head:
        end = (position // page + 1) * page  # this page's last id, aligned
        complete = position % page == 0 and end <= head
        block = known.get(position + 1) if complete else None
        if block is not None and not block.needed_for(as_of):
            # Nothing in it for this instant; handled events in it, if any, come later.
            done.skipped += 1
            whole = whole and block.earliest is None
            position = end
            continue
        stop = min(end, head)
        notifications = desk.recorder.select_notifications(
            start=position + 1, limit=page, stop=stop
        )
        done.read += len(notifications)
        earliest: datetime | None = None
        latest: datetime | None = None
        for notification in notifications:
            if not handled(notification.topic):
                continue
            event = desk.mapper.to_domain_event(notification)
            done.decoded += 1
            at: datetime = event.timestamp
            earliest = at if earliest is None or at < earliest else earliest
            latest = at if latest is None or at > latest else latest
            if at <= as_of:
                projection.fold(event, rows)
                done.folded += 1
                if whole:
                    recorded_up_to = _later(recorded_up_to, at)
            else:
                whole = False
        if complete and block is None:
            done.blocks.append(Block(position + 1, end, earliest, latest))
        if notifications:
            last = notifications[-1]
            done.anchor = (int(last.id), str(last.originator_id), int(last.originator_version))
        position = stop
        following = known.get(position + 1)
        # Perhaps whole no further: the log ends here or on the next page (never a block), or
        # the next page holds events recorded after the instant.
        last_whole = position + page > head or (
            following is not None and following.latest is not None and following.latest > as_of
        )
        since = position - last_checkpoint
        if whole and _worth_a_checkpoint(
            since, rows, checkpoint_every, page, last_whole=last_whole
        ):
            state = pickle.dumps(rows.data, protocol=pickle.HIGHEST_PROTOCOL)
            done.checkpoints.append(Checkpoint(position, recorded_up_to, state))
            last_checkpoint = position
    return done


def _worth_a_checkpoint(
    since: int, rows: MemoryRows, every: int, page: int, *, last_whole: bool
) -> bool:
    """Whether to keep the state reached ``since`` notifications after the last checkpoint."""
    if since >= max(every, _row_count(rows) // 2):
        return True
    # The last state that will be whole for this instant: the next request for it starts here.
    return last_whole and since >= page


def anchor_of(desk: Any, position: int) -> Anchor | None:
    """The notification at ``position`` as an :data:`Anchor` (None when there is none)."""
    if position <= 0:
        return None
    found = desk.recorder.select_notifications(start=position, limit=1, stop=position)
    if not found or found[0].id != position:
        return None
    n = found[0]
    return (int(n.id), str(n.originator_id), int(n.originator_version))


def anchor_holds(desk: Any, anchor: Anchor) -> bool:
    """Whether the store still holds that event at that position (not emptied or re-created)."""
    return anchor_of(desk, anchor[0]) == anchor


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _row_count(rows: MemoryRows) -> int:
    return sum(len(table) for table in rows.data.values())
