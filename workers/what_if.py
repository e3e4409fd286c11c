"""The what-if run: replay the tickets received in a period, judge their clocks twice.

One pass over the event log: an aggregate's first event says whether it is a ticket received
in the period (local days, both ends included); that ticket's events are then decoded by the
desk's mapper and folded into it, in version order, by the aggregate's own event methods —
the same replay the desk does, in memory, nothing written. Each replayed ticket's recorded
clocks are then judged under the bound policy and under the candidate catalogue's
(:func:`projections.what_if.clock_rows`) into the scratch view's rows, and compared
(:func:`projections.what_if.compare`). The store is only read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.errors import DomainError
from domain.sla.policy import PolicyCatalogue, SlaPolicy
from domain.ticket import Ticket
from projections.core import Row
from projections.what_if import WhatIfDiff, clock_rows, compare

PAGE = 2000


@dataclass(frozen=True)
class WhatIfRun:
    """The scratch view's rows, their difference, and what the replay cost."""

    rows: list[Row]
    diff: WhatIfDiff
    tickets: int
    events: int  # events of those tickets folded
    read: int  # notifications read
    seconds: float
    judged_at: datetime


def replay_period(
    desk: Any,
    candidate: PolicyCatalogue,
    first: date,
    last: date,
    tz: ZoneInfo,
    judged_at: datetime,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> WhatIfRun:
    """Judge the clocks of the tickets received from ``first`` to ``last`` (local days in
    ``tz``) under ``candidate``, running clocks as of ``judged_at``.

    ``desk`` gives the log, the mapper, the store's catalogue (the actual clocks) and the
    facts a policy is matched on. ``progress(read_to, head)`` after each page of the log.
    """
    started = time.monotonic()
    head = int(desk.recorder.max_notification_id() or 0)
    tickets: dict[Any, Ticket] = {}
    folded = read = 0
    position = 0
    while position < head:
        page = desk.recorder.select_notifications(start=position + 1, limit=PAGE, stop=head)
        if not page:
            break
        for note in page:
            ident = note.originator_id
            held = tickets.get(ident)
            if held is None and note.originator_version != 1:
                continue
            event = desk.mapper.to_domain_event(note)
            if held is None:
                opened = event.mutate(None)
                if not isinstance(opened, Ticket):
                    continue
                if not first <= opened.received_at.astimezone(tz).date() <= last:
                    continue
                tickets[ident] = opened
            else:
                tickets[ident] = event.mutate(held)
            folded += 1
        read += len(page)
        position = int(page[-1].id)
        if progress is not None:
            progress(position, head)
    rows: list[Row] = []
    for ticket in sorted(tickets.values(), key=lambda t: (t.received_at, t.number)):
        policy, unmatched = _candidate_policy(desk, candidate, ticket)
        rows += clock_rows(
            ticket, desk.catalogue, policy, candidate, judged_at, unmatched=unmatched
        )
    return WhatIfRun(
        rows,
        compare(rows),
        len(tickets),
        folded,
        read,
        time.monotonic() - started,
        judged_at,
    )


def _candidate_policy(
    desk: Any, candidate: PolicyCatalogue, ticket: Ticket
) -> tuple[SlaPolicy | None, str | None]:
    """The ticket's policy in the candidate catalogue, matched on its facts as last bound at
    its receipt; or None and why none is."""
    try:
        return candidate.match(desk.facts_for(ticket), ticket.received_at), None
    except DomainError as error:
        return None, f"no candidate policy: {error.code}"
