"""What kind of store this is — real, or created as a simulation — written in the store itself.

Every event has two times: when it happened (``occurred_at``, business time, in its Meta) and
when it was recorded (its ``timestamp``, from the desk's clock). In a *real* store the recording
clock is the real one (:func:`bootstrap.system_clock`): recorded times say when casetrail learnt
each fact, and they only move forward. A store *created as a simulation* (``casetrail demo``,
``casetrail store init --simulation``, tests and what-if runs) may be recorded on a simulated
clock: there ``casetrail sla run --until`` records each step at the instant it fell due.

The mark is one row (``kind``) of a small table, ``casetrail_store``, beside the events in the
same SQLite file or PostgreSQL database. A store without the mark is real: the safe default,
and what every store made before the mark existed was meant to be. The kind is chosen while the
store holds no events (:func:`mark_store`) and is fixed from its first event on.

Either way recorded times never go backwards within a store: a desk on a simulated clock
(:func:`bootstrap.build_simulated_desk`) records nothing at an instant before the newest one the
store already holds (:class:`NotBefore`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from config.settings import Settings

if TYPE_CHECKING:
    from domain.desk import Desk

REAL = "real"
SIMULATION = "simulation"
KINDS = (REAL, SIMULATION)
MARK_TABLE = "casetrail_store"
SQLITE_EVENTS = "stored_events"  # eventsourcing's SQLite table, one per file
POSTGRES_EVENTS = "casetrail_events"  # eventsourcing's PostgreSQL table: "<app name>_events"
# Any fixed number: two processes marking one empty PostgreSQL store at once take turns.
_MARK_LOCK = 0x6B696E64  # "kind"
# On PostgreSQL, writers stamp an event before they take the log's insert lock, so the
# newest recorded time may sit a few notifications below the head: look at this many.
NEWEST_WINDOW = 64


class StoreRefusal(Exception):
    """What was asked would record at a time the store's kind does not allow; nothing was."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StoreNotEmpty(StoreRefusal):
    """A store's kind is chosen while it is empty; this one holds events."""

    def __init__(self, where: str, events: int, wanted: str) -> None:
        super().__init__(
            f"{where} already holds {events:,} events: a store's kind is chosen while it is "
            f"empty, so it cannot become a {wanted} store"
        )
        self.events = events


class RecordedTimeWouldGoBack(StoreRefusal):
    """A simulated clock reached an instant before the newest time the store recorded."""

    def __init__(
        self, at: datetime, newest: datetime, what: str = "the simulated clock stands at"
    ) -> None:
        super().__init__(
            f"{what} {at.isoformat()}, before the newest time already recorded in the store "
            f"({newest.isoformat()}): recorded times must not go backwards within a store, so "
            "nothing was recorded at it"
        )
        self.at = at
        self.newest = newest


@dataclass(frozen=True)
class StoreFacts:
    """The store's kind, whether that kind is written in it, and how many events it holds."""

    kind: str
    marked: bool
    events: int

    @property
    def simulation(self) -> bool:
        return self.kind == SIMULATION


def describe(settings: Settings) -> str:
    """The store named for a person, without the password a database URL may carry."""
    if settings.backend == "sqlite":
        return f"the SQLite store {settings.sqlite_path}"
    env = settings.eventsourcing_env()
    return (
        f"the PostgreSQL store {env['POSTGRES_DBNAME']} at "
        f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
    )


def read_store(settings: Settings) -> StoreFacts:
    """The store's kind and size; reads only (a SQLite file that is not there is not made)."""
    with _connected(settings, write=False) as db:
        if db is None:
            return StoreFacts(REAL, marked=False, events=0)
        kind = db.kind()
        return StoreFacts(kind or REAL, marked=kind is not None, events=db.events())


def mark_store(settings: Settings, kind: str) -> StoreFacts:
    """Write the store's kind; only while it holds no events (else :class:`StoreNotEmpty`).

    The check and the mark are one transaction that keeps writers of events out meanwhile, so
    no event slips in between.
    """
    if kind not in KINDS:
        raise ValueError(f"a store is {' or '.join(KINDS)}, not {kind!r}")
    with _connected(settings, write=True) as db:
        assert db is not None  # opened for writing: made if need be
        events = db.events()
        if events:
            raise StoreNotEmpty(describe(settings), events, kind)
        db.set_kind(kind)
    return StoreFacts(kind, marked=True, events=0)


def newest_recorded(desk: Desk) -> datetime | None:
    """The newest recorded time (event ``timestamp``) in the desk's store, None when empty."""
    head = desk.recorder.max_notification_id()
    if not head:
        return None
    start = max(1, head - NEWEST_WINDOW + 1)
    notes = desk.recorder.select_notifications(start=start, limit=NEWEST_WINDOW)
    events: list[Any] = [desk.mapper.to_domain_event(n) for n in notes]
    recorded: list[datetime] = [e.timestamp for e in events]
    return max(recorded)


class NotBefore:
    """A recording clock that refuses instants before ``floor`` (the store's newest).

    Wraps a simulated clock handed to a desk on a simulation store; the desk reads it before it
    records anything, so a refused instant records nothing.
    """

    def __init__(self, clock: Callable[[], datetime], floor: datetime | None = None) -> None:
        self.clock = clock
        self.floor = floor

    def __call__(self) -> datetime:
        now = self.clock()
        if self.floor is not None and now < self.floor:
            raise RecordedTimeWouldGoBack(now, self.floor)
        return now


# ------------------------------------------------------------------------ the two backends


class _Mark:
    """The mark table and the events table of one store, over a DB-API connection."""

    has_table: str  # SQL: does the table named by the one parameter exist?
    events_table: str
    last_id: str  # SQL: the events table's last notification id
    param: str  # the driver's placeholder

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def _value(self, sql: str, *args: Any) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row else None

    def kind(self) -> str | None:
        if not self._value(self.has_table, MARK_TABLE):
            return None
        value = self._value(f"SELECT value FROM {MARK_TABLE} WHERE key = 'kind'")
        return None if value is None else str(value)

    def events(self) -> int:
        if not self._value(self.has_table, self.events_table):
            return 0
        return int(self._value(self.last_id) or 0)

    def set_kind(self, kind: str) -> None:
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MARK_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self.conn.execute(
            f"INSERT INTO {MARK_TABLE} (key, value) VALUES ({self.param}, {self.param}) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            ("kind", kind),
        )


class _SQLiteMark(_Mark):
    """In a SQLite file, beside eventsourcing's ``stored_events``."""

    has_table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    events_table = SQLITE_EVENTS
    last_id = f"SELECT MAX(rowid) FROM {SQLITE_EVENTS}"
    param = "?"


class _PostgresMark(_Mark):
    """In a PostgreSQL database, beside ``casetrail_events``."""

    has_table = "SELECT to_regclass(%s) IS NOT NULL"
    events_table = POSTGRES_EVENTS
    last_id = f"SELECT max(notification_id) FROM {POSTGRES_EVENTS}"
    param = "%s"

    def lock_out_writers(self) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MARK_LOCK,))
        if self._value(self.has_table, POSTGRES_EVENTS):
            # SHARE conflicts with the inserts' ROW EXCLUSIVE: no event lands until we commit.
            self.conn.execute(f"LOCK TABLE {POSTGRES_EVENTS} IN SHARE MODE")


@contextmanager
def _connected(settings: Settings, *, write: bool) -> Iterator[_Mark | None]:
    """The store's mark in one transaction (committed on success); None: no SQLite file yet."""
    if settings.backend == "sqlite":
        path = settings.sqlite_path
        if not write and not path.exists():
            yield None
            return
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            target = str(path)
        else:
            target = f"{path.resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(target, uri=not write, timeout=10, isolation_level=None)) as c:
            # IMMEDIATE takes the file's write lock at once: no event lands until we commit.
            c.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield _SQLiteMark(c)
            c.execute("COMMIT")
        return
    with psycopg.connect(
        settings.postgres_conninfo, connect_timeout=settings.postgres_connect_timeout
    ) as conn:
        mark = _PostgresMark(conn)
        if write:
            mark.lock_out_writers()
        yield mark
