"""The SLA clock: sends each due warning, breach and escalation step once, at its instant.

It finds what is due from the ``sla_deadlines`` view (``next_action_at``), asks the ticket which
steps are due (``Ticket.due_actions``; the worker decides nothing itself), and sends the
matching command (``RaiseSlaWarning``, ``RecordSlaBreach``, ``EscalateSla``) with
``occurred_at`` = the due instant. Every command carries a command id derived from
(ticket, milestone, cycle, action, threshold or level): the desk has one effect per id and the
ticket refuses doubles, so two clocks racing on the same store, or one clock run twice, record
each step once.

Time is injectable. ``run_until(until)`` processes everything due up to ``until`` and returns;
with a :class:`SimulatedClock` (the desk's clock too) the worker moves the clock to each due
instant before acting, so events are *recorded* when they were due: this is how tests, demos
and what-if runs drive time (``casetrail sla run --until`` on a store created as a simulation;
on a real store it runs on the real clock and records what is due now).

``run_forever(stop)`` sleeps exactly until the next due step (no polling interval), and is woken
early by :meth:`wake` when new events may have moved a deadline.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError

from domain import commands as c
from domain.base import Channel, Role
from domain.errors import (
    DomainError,
    IllegalTransition,
    InvariantViolated,
    VersionConflict,
)
from domain.ticket import Ticket
from projections.due_queries import ViewQueries
from workers.faults import retry_after

log = structlog.get_logger("casetrail.sla_clock")

ACTOR: dict[str, Any] = {
    "actor_id": "sla-clock",
    "role": Role.SYSTEM,
    "department": "system",
    "channel": Channel.SYSTEM,
}
MAX_CONFLICT_RETRIES = 5
# How long the live clock leaves a backfilled ticket's past alone (see ``SlaClock``).
BACKFILL_GRACE = timedelta(minutes=10)


class SimulatedClock:
    """A clock that only moves when told to, and never backwards.

    Starts at ``start`` (or, without one, at the first instant it is moved to). Thread-safe.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            if self._now is None:
                raise RuntimeError("simulated clock not started: advance_to() it first")
            return self._now

    @property
    def started(self) -> bool:
        return self._now is not None

    def advance_to(self, when: datetime) -> datetime:
        """Move to ``when`` unless already later; returns the clock's time."""
        with self._lock:
            if self._now is None or when > self._now:
                self._now = when
            return self._now


class ProjectorViews:
    """Views brought up to date by running a projector here, one caller at a time.

    A projector must be the only one folding into its views (two would apply an event twice),
    so everything in one process that catches up shares one of these (and its lock).
    """

    def __init__(self, projector: Any, lock: threading.Lock | None = None) -> None:
        self.projector = projector
        self.lock = lock or threading.Lock()

    @property
    def followers(self) -> list[Any]:
        return list(self.projector.followers)

    def catch_up(self) -> int:
        with self.lock:
            return int(self.projector.catch_up())


class FollowedViews:
    """Views kept up to date by a projector elsewhere (``casetrail worker projector``).

    ``catch_up`` waits until every view has tracked the event log's head as it stood when
    called, so a worker reads its own writes; it logs when the projector seems absent.
    """

    def __init__(
        self,
        app: Any,
        followers: list[Any],
        *,
        poll_seconds: float = 0.02,
        warn_after: float = 10.0,
        give_up_after: float = 30.0,
    ) -> None:
        self.app = app
        self.followers = followers
        self.poll_seconds = poll_seconds
        self.warn_after = warn_after
        self.give_up_after = give_up_after

    def catch_up(self) -> int:
        """Wait until the views reached the log's head as it is now (see the class).

        A view stopped at an event it cannot apply will not get there: the worker goes on
        with what it shows (the rest of the system must not stop with it). After
        ``give_up_after`` seconds of waiting the worker goes on too, and says so.
        """
        head = self.app.recorder.max_notification_id() or 0
        started = time.monotonic()
        warned = False
        stopped: set[str] = set()
        while True:
            behind = [
                f
                for f in self.followers
                if f.projection.name not in stopped and (f.store.position() or 0) < head
            ]
            if not behind:
                return 0
            waited = time.monotonic() - started
            if waited > self.warn_after:
                stopped.update(f.projection.name for f in behind if f.store.failure() is not None)
                names = [f.projection.name for f in behind if f.projection.name not in stopped]
                if not warned and names:
                    log.warning(
                        "views lag; is the projector worker running?", views=names, head=head
                    )
                    warned = True
                if waited > self.give_up_after:
                    log.warning("going on with views behind the log", views=names, head=head)
                    return 0
            time.sleep(self.poll_seconds)


def command_id(ticket_id: str, action: dict[str, Any]) -> str:
    """``sla:{ticket}:{milestone}:{cycle}:{action}[:{threshold|level}]`` — one per step."""
    base = f"sla:{ticket_id}:{action['milestone']}:{action['cycle']}:{action['action']}"
    if action["action"] == "raise_sla_warning":
        return f"{base}:{action['threshold']}"
    if action["action"] == "escalate":
        return f"{base}:{action['level']}"
    return base


def command_for(ticket_id: UUID, action: dict[str, Any]) -> c.TicketCommand:
    """The command the ticket's due step asks for, stamped with the due instant."""
    common: dict[str, Any] = {
        **ACTOR,
        "ticket_id": ticket_id,
        "milestone": action["milestone"],
        "cycle": action["cycle"],
        "occurred_at": action["at"],
        "command_id": command_id(str(ticket_id), action),
    }
    match action["action"]:
        case "raise_sla_warning":
            return c.RaiseSlaWarning(**common, threshold=action["threshold"])
        case "record_breach":
            return c.RecordSlaBreach(**common)
        case "escalate":
            return c.EscalateSla(**common, level=action["level"])
    raise ValueError(f"unknown SLA action {action['action']!r}")


@dataclass
class Stats:
    """What the clock did since it was built."""

    sent: int = 0  # commands that recorded events
    already_done: int = 0  # the step was recorded already (by us earlier, or another clock)
    stale: int = 0  # the view said due, the ticket did not (or refused): the view catches up
    conflicts: int = 0  # version conflicts retried
    by_action: dict[str, int] = field(default_factory=dict)
    lateness: list[float] = field(default_factory=list)  # seconds from due to recorded


class SlaClock:
    """Finds due SLA steps and sends their commands; see the module docstring.

    ``projector`` is whatever brings the views up to date before each look: a
    :class:`ProjectorViews` (project here), a :class:`FollowedViews` (a projector worker does
    it), a bare ``Projector`` when nothing else projects in this process, or None.
    ``clock`` is the desk's clock; a :class:`SimulatedClock` is moved to each due instant.
    """

    def __init__(
        self,
        desk: Any,
        projector: Any | None,
        queries: ViewQueries,
        clock: Callable[[], datetime],
        *,
        batch_size: int = 500,
        safety_timeout: float = 60.0,
        name: str = "sla-clock",
        backfill_grace: timedelta = BACKFILL_GRACE,
    ) -> None:
        self.desk = desk
        self.projector = projector
        self.queries = queries
        self.clock = clock
        self.batch_size = batch_size
        self.safety_timeout = safety_timeout
        self.name = name
        self.changed = threading.Event()
        self.stats = Stats()
        self.last_wait: float | None = None  # seconds run_forever last decided to sleep
        self.stuck = False  # the last pass left due rows it could not settle
        self.backfill_grace = backfill_grace
        # Backfilled tickets: id -> (when their past is judged, their next step due after
        # the intake was recorded, which is not held back; None if none).
        self.held: dict[str, tuple[datetime, datetime | None]] = {}
        self.log = log.bind(worker=name)

    @property
    def lateness(self) -> list[float]:
        """Seconds between each recorded step's due instant and its recording (for the bench)."""
        return self.stats.lateness

    @property
    def simulated(self) -> bool:
        return callable(getattr(self.clock, "advance_to", None))

    def wake(self) -> None:
        """New events were recorded: a deadline may have moved; look again now."""
        self.changed.set()

    # ------------------------------------------------------------ catching up

    def catch_up(self) -> None:
        """Bring the views up to the head of the log (see :class:`ProjectorViews`)."""
        if self.projector is not None:
            self.projector.catch_up()

    # -------------------------------------------------------------- one pass

    def run_until(self, until: datetime) -> int:
        """Send every SLA step due by ``until``; returns how many steps it recorded.

        A real (non-simulated) clock never acts ahead of itself: ``until`` is capped at now.
        """
        if not self.simulated:
            until = min(until, self.clock())
        sent_before = self.stats.sent
        started = time.monotonic()
        self.stuck = False
        while True:
            self.catch_up()
            rows = self.queries.due(until, limit=self.batch_size, exclude=self._holding(until))
            if not rows:
                break
            # With a full page, clocks beyond the page may be due before later heap entries:
            # act only up to the last instant the page covers, then look again.
            boundary = rows[-1].next_action_at if len(rows) == self.batch_size else until
            holding = len(self.held)
            if not self._work(rows, boundary):
                if len(self.held) > holding:
                    continue  # tickets newly held back: look again without them
                # Nothing the tickets agree is due: the view is behind, or steps were refused.
                self.log.warning("due rows left unsettled", rows=len(rows), until=until.isoformat())
                self.stuck = True
                break
        sent = self.stats.sent - sent_before
        if sent:
            self.log.info(
                "sla steps recorded",
                until=until.isoformat(),
                sent=sent,
                seconds=round(time.monotonic() - started, 3),
            )
        return sent

    def _work(self, rows: list[Any], boundary: datetime) -> int:
        """Act on the page's tickets in due order, up to ``boundary``; returns steps settled.

        A heap holds each ticket at the instant of its earliest due step; after acting, the
        ticket goes back in at its next step's instant, so steps of different tickets are
        taken in time order and a simulated clock only moves forward.
        """
        heap: list[tuple[datetime, str]] = []
        departments: dict[str, str | None] = {}
        for row in rows:
            if row.ticket_id not in departments:
                departments[row.ticket_id] = row.department
                heap.append((row.next_action_at, row.ticket_id))
        heapq.heapify(heap)
        settled = 0
        while heap:
            at, ticket_id = heapq.heappop(heap)
            if at > boundary:
                break
            done, following = self._step(ticket_id, departments[ticket_id], at, boundary)
            settled += done
            if following is not None:
                heapq.heappush(heap, (following, ticket_id))
        return settled

    def _step(
        self, ticket_id: str, department: str | None, not_after: datetime, boundary: datetime
    ) -> tuple[int, datetime | None]:
        """Send the ticket's earliest due step if it is due by ``not_after``.

        Returns (steps settled: 0 or 1, instant of the ticket's next due step or None).
        """
        bound = self.log.bind(ticket_id=ticket_id, department=department)
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            ticket = self._read(ticket_id)
            if ticket is None:
                bound.warning("sla row for an unknown ticket")
                self.stats.stale += 1
                return 0, None
            actions = ticket.due_actions(boundary)
            if not actions:
                self.stats.stale += 1
                return 0, None
            actions = self._not_held(ticket, actions, bound)
            if not actions:
                return 0, None
            action = actions[0]
            if action["at"] > not_after:
                return 0, action["at"]  # the view was early: keep time order
            if isinstance(ticket, Ticket):
                cmd = command_for(ticket.id, action)
            else:  # another aggregate with deadlines (a survey's CAPA items) says its command
                cmd = ticket.sla_command(action, ACTOR, command_id(str(ticket.id), action))
            if self.simulated:
                self.clock.advance_to(action["at"])  # type: ignore[attr-defined]
            try:
                outcome = self.desk.handle(cmd)
            except VersionConflict:
                self.stats.conflicts += 1
                bound.info("version conflict, retrying", attempt=attempt + 1)
                continue
            except (InvariantViolated, IllegalTransition) as refused:
                # Paused or moved since the ticket was read: the view will show the new due time.
                bound.info("sla step refused", reason=refused.message, command_id=cmd.command_id)
                self.stats.stale += 1
                return 0, None
            except DomainError as error:
                bound.warning("sla step failed", error=error.as_dict(), command_id=cmd.command_id)
                self.stats.stale += 1
                return 0, None
            self._note(outcome.changed, action, bound, cmd)
            return 1, (actions[1]["at"] if len(actions) > 1 else None)
        bound.warning("sla step gave up after conflicts", command_id=cmd.command_id)
        return 0, None

    def _backfill_release(self, ticket: Ticket, due: datetime) -> datetime | None:
        """When a step due before the ticket was even recorded may be judged, if not yet.

        A ticket taken in late (a paper form entered next day, a call typed in after the
        rush) has a past: its contact, dispatch or pause are entered in the minutes after the
        intake. The live clock leaves steps due before the intake was recorded alone for
        ``backfill_grace`` after that recording, so it judges the past once it is told; steps
        due after the recording are judged at their instant as usual. A simulated clock
        records the intake when it happened: nothing to wait for.
        """
        if self.simulated:
            return None
        recorded: datetime = ticket.created_on
        if due >= recorded:
            return None
        release = recorded + self.backfill_grace
        return release if self.clock() < release else None

    def _not_held(self, ticket: Ticket, actions: list[dict[str, Any]], bound: Any) -> list[Any]:
        """``actions`` less those held back as a backfilled past (noting the ticket as held)."""
        free = [a for a in actions if self._backfill_release(ticket, a["at"]) is None]
        if len(free) == len(actions):
            return actions
        release = self._backfill_release(ticket, actions[0]["at"])
        assert release is not None
        later = [a["at"] for a in ticket.due_actions(datetime.max.replace(tzinfo=release.tzinfo))]
        next_free = min((at for at in later if at >= ticket.created_on), default=None)
        if str(ticket.id) not in self.held:  # said once per ticket held
            bound.info(
                "backfilled ticket held",
                held_steps=len(actions) - len(free),
                until=release.isoformat(),
            )
        self.held[str(ticket.id)] = (release, next_free)
        return free

    def _holding(self, until: datetime) -> list[str]:
        """Tickets held back with nothing else due by ``until`` (those whose grace has passed
        are let go)."""
        if not self.held:
            return []  # nothing held (always so on a simulated clock): no need to read the clock
        now = self.clock()
        for ticket_id in [t for t, (release, _) in self.held.items() if release <= now]:
            del self.held[ticket_id]
        return sorted(
            t for t, (_, following) in self.held.items() if following is None or following > until
        )

    def _read(self, ticket_id: str) -> Any:
        """The ticket as it stands, for reading only: the desk's cached copy, not a deep copy
        (the desk copies again when it acts; copying here too doubled the cost of a step).
        Another aggregate whose deadlines ``sla_deadlines`` keeps (a survey's CAPA items) is
        read too when it says its steps (``due_actions``) and their command (``sla_command``)."""
        try:
            found = self.desk.repository.get(UUID(ticket_id), deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        if isinstance(found, Ticket) or callable(getattr(found, "sla_command", None)):
            return found
        return None

    def _note(self, changed: bool, action: dict[str, Any], bound: Any, cmd: Any) -> None:
        if not changed:
            self.stats.already_done += 1
            return
        recorded = self.clock()
        lateness = (recorded - action["at"]).total_seconds()
        self.stats.sent += 1
        self.stats.lateness.append(lateness)
        name = action["action"]
        self.stats.by_action[name] = self.stats.by_action.get(name, 0) + 1
        # Live, each step is worth a line; a simulated catch-up records thousands: debug.
        bound = bound.bind(correlation_id=cmd.command_id)
        emit = bound.debug if self.simulated else bound.info
        emit(
            "sla step recorded",
            action=name,
            milestone=action["milestone"],
            cycle=action["cycle"],
            threshold=action.get("threshold"),
            level=action.get("level"),
            due_at=action["at"].isoformat(),
            lateness_seconds=round(lateness, 3),
        )

    # ------------------------------------------------------------------ loop

    def seconds_to_next(self) -> float:
        """How long to sleep: exactly until the next due step, at most the safety timeout."""
        held = self._holding(self.clock())
        nxt = self.queries.next_due(exclude=held)
        for release, following in self.held.values():
            soonest = release if following is None else min(release, following)
            nxt = soonest if nxt is None else min(nxt, soonest)
        if nxt is None:
            return self.safety_timeout
        seconds = (nxt - self.clock()).total_seconds()
        if seconds <= 0 and self.stuck:
            # Rows due now that no ticket agrees with: wait for news rather than spin.
            return self.safety_timeout
        return min(max(seconds, 0.0), self.safety_timeout)

    def run_forever(self, stop: threading.Event) -> None:
        """Act on due steps until ``stop`` is set (call :meth:`wake` after setting it)."""
        self.log.info("sla clock started", simulated=self.simulated)
        while not stop.is_set():
            self.changed.clear()
            try:
                self.run_until(self.clock())
                wait = self.seconds_to_next()
            except Exception as error:
                wait = retry_after(self.log, "sla clock pass failed; retrying", error)
                wait = min(wait, self.safety_timeout)
            self.last_wait = wait
            if wait > 0 and not stop.is_set():
                self.changed.wait(wait)
        self.log.info("sla clock stopped", sent=self.stats.sent)
