"""The hash chain in the store: its columns, tables, trigger, upgrade, reads and records.

The rules are :mod:`bootstrap.chain`'s; this module puts them where the events are, on both
backends, over the recorder's own datastore:

- **PostgreSQL**: ``event_hash`` and ``chain_hash`` (bytea) on the events table, computed by a
  ``BEFORE INSERT`` row trigger (:meth:`PostgresChain.install`), so every insert path has them —
  the desk's insert function and the library's default insert alike. The trigger reads the
  aggregate's previous event by primary key and the previous row by the notification-id index.
  It relies on what already orders the log: every writer holds a lock that makes notification
  ids commit in the order they were drawn (the insert function's advisory lock,
  :data:`bootstrap.pg_recorder._ORDER_LOCK`, or the library's ``EXCLUSIVE`` table lock), so the
  row before a new one is committed, or was inserted earlier by the same statement (a row-level
  ``BEFORE`` trigger's queries see those), and no other writer can slip a row between them. A
  writer outside those paths (a hand-written ``INSERT`` racing another) would make two rows
  follow the same one: ``audit verify`` reports that as a broken link, it is never hidden.
- **SQLite**: the same two columns (BLOB), computed by the desk's recorder
  (:class:`bootstrap.sqlite_recorder.ChainedSQLiteRecorder`) inside its write transaction, which
  holds the file's write lock from its first statement (``BEGIN IMMEDIATE``).

Beside the events, three small tables: ``casetrail_chain`` (the chain's version and where it
begins), ``casetrail_chain_anchors`` (a chain hash per :data:`bootstrap.chain.ANCHOR_EVERY`
positions, the genesis, and heads recorded by ``casetrail audit anchor``) and
``casetrail_chain_verifications`` (what each ``casetrail audit verify`` found, and when).

**Stores made before the chain** upgrade on the first start of this code (the recorder's
``create_table``): with writers locked out, the columns are added, every existing row is hashed
in store order, the trigger installed, and a *genesis* anchor recorded: "the chain was added at
position N at time T" — rows up to N were hashed then, not when they were stored, and the
chain vouches for them only from T on.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore, SQLiteTransaction
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from bootstrap.chain import (
    ANCHOR_EVERY,
    CHAIN_VERSION,
    DOMAIN,
    ZERO,
    Anchor,
    Row,
    Verifier,
    chain_hash,
    describe,
    event_hash,
)

META_TABLE = "casetrail_chain"
ANCHORS_TABLE = "casetrail_chain_anchors"
VERIFICATIONS_TABLE = "casetrail_chain_verifications"
FILL_BATCH = 5_000
READ_BATCH = 5_000


def now() -> datetime:
    return datetime.now(tz=UTC)


class ChainStore:
    """The chain of one store: what both backends offer (see the two subclasses)."""

    def rows(self, after: int, limit: int, stop: int | None = None) -> list[Row]:
        """Up to ``limit`` rows after position ``after`` (to ``stop``), in store order."""
        raise NotImplementedError

    def head(self) -> tuple[int, bytes]:
        """The last position and its chain hash ((0, zeros) when empty)."""
        raise NotImplementedError

    def anchors(self) -> list[Anchor]:
        raise NotImplementedError

    def record_anchor(self) -> Anchor:
        """Record the current head as an anchor (kind ``head``) and return it."""
        raise NotImplementedError

    def aggregate_rows(self, originator_id: UUID) -> list[tuple[Row, int, bytes]]:
        """An aggregate's rows in version order, each with the position and chain hash of the
        row before it in the store."""
        raise NotImplementedError

    def record_verification(self, check: Verifier, at: datetime) -> None:
        raise NotImplementedError

    def last_verification(self) -> dict[str, Any] | None:
        """The newest recorded verification: position, chain hash, when, ok, first break."""
        raise NotImplementedError

    def genesis(self) -> Anchor | None:
        return next((a for a in self.anchors() if a.kind == "genesis"), None)


def chain_of(recorder: Any) -> ChainStore:
    """The chain of the store a desk's recorder writes to."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return PostgresChain(recorder.datastore, recorder.events_table_name)
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLiteChain(recorder.datastore, recorder.events_table_name)
    raise TypeError(f"no hash chain on a {type(recorder).__name__}")


def verify(
    chain: ChainStore,
    *,
    anchors: Sequence[tuple[Anchor, str]] = (),
    progress: Callable[[int, int], None] | None = None,
    batch: int = READ_BATCH,
    record: bool = True,
) -> Verifier:
    """Re-check the whole store in order, against the anchors and the last clean verification
    recorded in it and ``anchors`` kept outside (each with its source's name); record the
    result unless ``record`` is false. ``progress(done, total)`` after every batch."""
    started = now()
    check = Verifier()
    for anchor in chain.anchors():
        check.expect(anchor.position, anchor.chain_hash, f"the {anchor.kind} anchor")
    last = chain.last_verification()
    if last is not None and last["ok"]:
        check.expect(
            last["position"],
            bytes.fromhex(last["chain_hash"]),
            f"the verification of {last['verified_at']}",
        )
    for anchor, source in anchors:
        check.expect(anchor.position, anchor.chain_hash, source)
    stop, _ = chain.head()
    after = 0
    while True:
        rows = chain.rows(after, batch, stop)
        if not rows:
            break
        check.feed(rows)
        after = rows[-1][0]
        if progress is not None:
            progress(check.checked, stop)
    check.finish()
    if record:
        chain.record_verification(check, started)
    return check


def check_aggregate(rows: Iterable[tuple[Row, int, bytes]]) -> Verifier:
    """Re-check one aggregate's rows, each against the chain hash stored before it."""
    check = Verifier()
    for row, before, prev in rows:
        check.head, check.position = prev, before
        check.feed([row])
    check.finish()
    return check


def first_break_text(check: Verifier) -> str | None:
    first = check.first
    return None if first is None else describe(first)


def fill(
    rows: Callable[[int], list[Row]], update: Callable[[list[tuple[int, bytes, bytes]]], None]
) -> tuple[int, bytes]:
    """Hash every row in store order (an upgrade); returns the head (position, chain hash)."""
    last: dict[bytes, bytes] = {}
    position, prev_chain = 0, ZERO
    while True:
        batch = rows(position)
        if not batch:
            return position, prev_chain
        hashed = []
        for pos, oid, version, topic, state, _, _ in batch:
            event = event_hash(last.get(oid, ZERO), oid, version, topic, state)
            prev_chain = chain_hash(prev_chain, pos, event)
            last[oid] = event
            hashed.append((pos, event, prev_chain))
            position = pos
        update(hashed)


# --------------------------------------------------------------------------------- PostgreSQL


class PostgresChain(ChainStore):
    """The chain on a PostgreSQL events table (``casetrail_events``), over its datastore."""

    def __init__(self, datastore: PostgresDatastore, table: str) -> None:
        self.datastore = datastore
        self.table = table
        self._schema = Identifier(datastore.schema)
        self._t = SQL("{}.{}").format(self._schema, Identifier(table))
        self._meta = SQL("{}.{}").format(self._schema, Identifier(META_TABLE))
        self._anchors = SQL("{}.{}").format(self._schema, Identifier(ANCHORS_TABLE))
        self._checks = SQL("{}.{}").format(self._schema, Identifier(VERIFICATIONS_TABLE))
        self.trigger = f"{table}_chain_{CHAIN_VERSION}"[:63]
        self._columns = SQL(
            "notification_id, uuid_send(originator_id), originator_version, topic, "
            "coalesce(state, ''::bytea), event_hash, chain_hash"
        )

    @contextmanager
    def _cursor(self, *, write: bool = False) -> Iterator[Any]:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(force_rollback=not write),
            conn.cursor(binary=True, row_factory=tuple_row) as curs,
        ):
            yield curs

    def installed(self) -> bool:
        with self._cursor() as curs:
            curs.execute(
                "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s",
                (f'"{self.datastore.schema}"."{self.table}"', self.trigger),
            )
            return curs.fetchone() is not None

    def install(self, order_lock: Composed, anchor_every: int = ANCHOR_EVERY) -> None:
        """Columns, tables, trigger; an existing store's rows hashed first (once).

        ``order_lock``: the SQL arguments of the writers' advisory lock, taken first (as they
        do) so no insert runs meanwhile; a ``SHARE ROW EXCLUSIVE`` lock keeps out the
        library's default insert and a second process doing the same.
        """
        if self.installed():
            return
        with self._cursor(write=True) as curs:
            curs.execute("SET LOCAL statement_timeout = 0")
            curs.execute(SQL("SELECT pg_advisory_xact_lock({})").format(order_lock))
            curs.execute(SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(self._t))
            curs.execute(
                "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s",
                (f'"{self.datastore.schema}"."{self.table}"', self.trigger),
            )
            if curs.fetchone() is not None:
                return  # another process installed it while this one waited
            for statement in self._create_statements(anchor_every):
                curs.execute(statement)
            curs.execute(
                SQL("SELECT count(*) FROM {} WHERE chain_hash IS NOT NULL").format(self._t)
            )
            (hashed,) = curs.fetchone()
            head = (0, ZERO)
            if not hashed:

                def read(after: int) -> list[Row]:
                    curs.execute(
                        SQL(
                            "SELECT {} FROM {} WHERE notification_id > %s "
                            "ORDER BY notification_id LIMIT %s"
                        ).format(self._columns, self._t),
                        (after, FILL_BATCH),
                    )
                    return list(curs.fetchall())

                def update(hashed: list[tuple[int, bytes, bytes]]) -> None:
                    curs.execute(
                        SQL(
                            "UPDATE {} AS t SET event_hash = v.e, chain_hash = v.c "
                            "FROM unnest(%s::bigint[], %s::bytea[], %s::bytea[]) AS v(n, e, c) "
                            "WHERE t.notification_id = v.n"
                        ).format(self._t),
                        ([h[0] for h in hashed], [h[1] for h in hashed], [h[2] for h in hashed]),
                    )

                head = fill(read, update)
            curs.execute(self._trigger_function(anchor_every))
            curs.execute(
                SQL(
                    "CREATE TRIGGER {} BEFORE INSERT ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
                ).format(Identifier(self.trigger), self._t, self._function)
            )
            curs.execute(
                SQL(
                    "INSERT INTO {} (key, value) VALUES ('version', %s), ('genesis', %s), "
                    "('anchor_every', %s) ON CONFLICT (key) DO NOTHING"
                ).format(self._meta),
                (CHAIN_VERSION, str(head[0]), str(anchor_every)),
            )
            curs.execute(
                SQL(
                    "INSERT INTO {} (position, chain_hash, kind, recorded_at) "
                    "VALUES (%s, %s, 'genesis', now()) ON CONFLICT (position) DO NOTHING"
                ).format(self._anchors),
                head,
            )

    @property
    def _function(self) -> Composed:
        return SQL("{}.{}").format(self._schema, Identifier(self.trigger))

    def _create_statements(self, anchor_every: int) -> list[Composed]:
        return [
            SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS event_hash bytea, "
                "ADD COLUMN IF NOT EXISTS chain_hash bytea"
            ).format(self._t),
            SQL("CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text NOT NULL)").format(
                self._meta
            ),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, "
                "chain_hash bytea NOT NULL, kind text NOT NULL, recorded_at timestamptz NOT NULL)"
            ).format(self._anchors),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, "
                "verified_at timestamptz NOT NULL, finished_at timestamptz NOT NULL, "
                "position bigint NOT NULL, chain_hash bytea NOT NULL, events bigint NOT NULL, "
                "ok boolean NOT NULL, broken bigint NOT NULL, first_break text)"
            ).format(self._checks),
        ]

    def _trigger_function(self, anchor_every: int) -> Composed:
        # Both hashes of bootstrap.chain, in SQL. The anchor is one integer comparison per row.
        return SQL(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $BODY$ "
            "DECLARE prev_event bytea; prev_chain bytea; prev_position bigint; topic bytea; "
            "BEGIN "
            "IF NEW.originator_version > 1 THEN "
            "SELECT t.event_hash INTO prev_event FROM {table} t "
            "WHERE t.originator_id = NEW.originator_id "
            "AND t.originator_version < NEW.originator_version "
            "ORDER BY t.originator_version DESC LIMIT 1; "
            "END IF; "
            "SELECT t.chain_hash, t.notification_id INTO prev_chain, prev_position "
            "FROM {table} t WHERE t.notification_id < NEW.notification_id "
            "ORDER BY t.notification_id DESC LIMIT 1; "
            "topic := convert_to(coalesce(NEW.topic, ''), 'UTF8'); "
            "NEW.event_hash := sha256({domain} || coalesce(prev_event, {zero}) "
            "|| uuid_send(NEW.originator_id) || int8send(NEW.originator_version) "
            "|| int4send(length(topic)) || topic || coalesce(NEW.state, ''::bytea)); "
            "NEW.chain_hash := sha256(coalesce(prev_chain, {zero}) "
            "|| int8send(NEW.notification_id) || NEW.event_hash); "
            "IF NEW.notification_id / {every} > coalesce(prev_position, 0) / {every} THEN "
            "INSERT INTO {anchors} (position, chain_hash, kind, recorded_at) "
            "VALUES (NEW.notification_id, NEW.chain_hash, 'every', now()) "
            "ON CONFLICT (position) DO NOTHING; "
            "END IF; "
            "RETURN NEW; "
            "END; $BODY$"
        ).format(
            function=self._function,
            table=self._t,
            domain=Literal(DOMAIN),
            zero=Literal(ZERO),
            every=Literal(anchor_every),
            anchors=self._anchors,
        )

    def rows(self, after: int, limit: int, stop: int | None = None) -> list[Row]:
        with self._cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT {} FROM {} WHERE notification_id > %s AND notification_id <= %s "
                    "ORDER BY notification_id LIMIT %s"
                ).format(self._columns, self._t),
                (after, stop if stop is not None else 2**63 - 1, limit),
                prepare=True,
            )
            return list(curs.fetchall())

    def head(self) -> tuple[int, bytes]:
        with self._cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT notification_id, chain_hash FROM {} "
                    "ORDER BY notification_id DESC LIMIT 1"
                ).format(self._t)
            )
            row = curs.fetchone()
        return (0, ZERO) if row is None else (row[0], row[1] or ZERO)

    def anchors(self) -> list[Anchor]:
        with self._cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT position, chain_hash, kind, recorded_at FROM {} ORDER BY position"
                ).format(self._anchors)
            )
            return [Anchor(*row) for row in curs.fetchall()]

    def record_anchor(self) -> Anchor:
        with self._cursor(write=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {a} (position, chain_hash, kind, recorded_at) "
                    "SELECT notification_id, chain_hash, 'head', now() FROM {t} "
                    "WHERE chain_hash IS NOT NULL ORDER BY notification_id DESC LIMIT 1 "
                    "ON CONFLICT (position) DO NOTHING"
                ).format(a=self._anchors, t=self._t)
            )
            curs.execute(
                SQL(
                    "SELECT a.position, a.chain_hash, a.kind, a.recorded_at FROM {a} a "
                    "WHERE a.position = (SELECT coalesce(max(notification_id), 0) FROM {t})"
                ).format(a=self._anchors, t=self._t)
            )
            row = curs.fetchone()
        if row is None:
            return Anchor(0, ZERO, "head", now())
        return Anchor(*row)

    def aggregate_rows(self, originator_id: UUID) -> list[tuple[Row, int, bytes]]:
        with self._cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT t.notification_id, uuid_send(t.originator_id), t.originator_version, "
                    "t.topic, coalesce(t.state, ''::bytea), t.event_hash, t.chain_hash, "
                    "coalesce(p.notification_id, 0), coalesce(p.chain_hash, %s) "
                    "FROM {t} t LEFT JOIN LATERAL (SELECT notification_id, chain_hash FROM {t} b "
                    "WHERE b.notification_id < t.notification_id "
                    "ORDER BY b.notification_id DESC LIMIT 1) p ON true "
                    "WHERE t.originator_id = %s ORDER BY t.originator_version"
                ).format(t=self._t),
                (ZERO, originator_id),
            )
            return [(tuple(r[:7]), r[7], r[8]) for r in curs.fetchall()]

    def record_verification(self, check: Verifier, at: datetime) -> None:
        with self._cursor(write=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {} (verified_at, finished_at, position, chain_hash, events, ok, "
                    "broken, first_break) VALUES (%s, now(), %s, %s, %s, %s, %s, %s)"
                ).format(self._checks),
                (
                    at,
                    check.position,
                    check.head,
                    check.checked,
                    check.ok,
                    check.broken,
                    first_break_text(check),
                ),
            )

    def last_verification(self) -> dict[str, Any] | None:
        with self._cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT position, chain_hash, verified_at, finished_at, events, ok, broken, "
                    "first_break FROM {} ORDER BY id DESC LIMIT 1"
                ).format(self._checks)
            )
            row = curs.fetchone()
        return None if row is None else _verification(row)


def _verification(row: Sequence[Any]) -> dict[str, Any]:
    position, chain, verified_at, finished_at, events, ok, broken, first_break = row
    return {
        "position": int(position),
        "chain_hash": bytes(chain).hex(),
        "verified_at": _instant(verified_at),
        "finished_at": _instant(finished_at),
        "events": int(events),
        "ok": bool(ok),
        "broken": int(broken),
        "first_break": first_break,
    }


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


# ------------------------------------------------------------------------------------- SQLite


# How long a writer keeps asking for the write lock when SQLite answers "database is locked".
LOCKED_RETRY_SECONDS = 10.0


class ImmediateTransaction(SQLiteTransaction):
    """The library's SQLite transaction, taking the write lock at ``BEGIN`` (IMMEDIATE).

    A deferred transaction that reads first (the last chain hash) and then writes fails at once
    with "database is locked" when another process wrote meanwhile; this one waits its turn
    (the busy timeout), as the library's insert-first transaction does, and asks again if
    SQLite says "locked" without waiting.
    """

    def __enter__(self) -> Any:
        cursor = self.connection.cursor()
        # SQLite may answer "database is locked" at once, without waiting out the busy timeout
        # (seen with eight writers on a loaded machine): nothing has been done yet, so asking
        # again, a little later each time, is safe. After LOCKED_RETRY_SECONDS it is an error.
        deadline = time.monotonic() + LOCKED_RETRY_SECONDS
        pause = 0.002
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                self._cursor = cursor
                return cursor
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    cursor.sqlite_cursor.close()
                    raise
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.25)

    def __exit__(self, *exc: Any) -> None:
        # The cursor is closed here, by the thread that owns the connection, before the commit
        # or rollback. Left open, a cursor whose statement is still live is freed by the garbage
        # collector once a failed write's traceback (a reference cycle) lets go of it, in
        # whatever thread collects next; resetting the statement then waits for this
        # connection's mutex. Were that thread holding the file's write lock while this
        # connection's thread waited for it in BEGIN IMMEDIATE (holding the mutex), both would
        # wait out the busy timeout: two SLA clocks on one file did, and a step failed.
        self._cursor.sqlite_cursor.close()
        super().__exit__(*exc)


def immediate(datastore: SQLiteDatastore) -> AbstractContextManager[sqlite3.Cursor]:
    """A raw cursor in a write transaction of the store's writer connection."""

    @contextmanager
    def opened() -> Iterator[sqlite3.Cursor]:
        with (
            datastore.get_connection(commit=True) as conn,
            ImmediateTransaction(conn, commit=True) as curs,
            curs as raw,
        ):
            raw.row_factory = None
            yield raw

    return opened()


class SQLiteChain(ChainStore):
    """The chain in a SQLite file (``stored_events``; the position is the rowid)."""

    def __init__(self, datastore: SQLiteDatastore, table: str) -> None:
        self.datastore = datastore
        self.table = table

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        with self.datastore.transaction(commit=False) as curs:
            raw = curs.sqlite_cursor
            raw.row_factory = None
            yield raw

    def installed(self, curs: sqlite3.Cursor) -> bool:
        columns = {r[1] for r in curs.execute(f"PRAGMA table_info({self.table})").fetchall()}
        if "chain_hash" not in columns:
            return False
        meta = curs.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (META_TABLE,)
        ).fetchone()
        return meta is not None

    def install(self, anchor_every: int = ANCHOR_EVERY) -> None:
        """Columns and tables; an existing store's rows hashed first (once)."""
        with self._read() as curs:
            if self.installed(curs):
                return
        with immediate(self.datastore) as curs:
            if self.installed(curs):
                return  # another process did it while this one waited
            columns = {r[1] for r in curs.execute(f"PRAGMA table_info({self.table})").fetchall()}
            for name in ("event_hash", "chain_hash"):
                if name not in columns:
                    curs.execute(f"ALTER TABLE {self.table} ADD COLUMN {name} BLOB")
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {META_TABLE} "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {ANCHORS_TABLE} (position INTEGER PRIMARY KEY, "
                "chain_hash BLOB NOT NULL, kind TEXT NOT NULL, recorded_at TEXT NOT NULL)"
            )
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {VERIFICATIONS_TABLE} (id INTEGER PRIMARY KEY, "
                "verified_at TEXT NOT NULL, finished_at TEXT NOT NULL, position INTEGER NOT NULL, "
                "chain_hash BLOB NOT NULL, events INTEGER NOT NULL, ok INTEGER NOT NULL, "
                "broken INTEGER NOT NULL, first_break TEXT)"
            )
            (hashed,) = curs.execute(
                f"SELECT count(*) FROM {self.table} WHERE chain_hash IS NOT NULL"
            ).fetchone()
            head = (0, ZERO)
            if not hashed:

                def read(after: int) -> list[Row]:
                    rows = curs.execute(self._select, (after, 2**63 - 1, FILL_BATCH)).fetchall()
                    return [_sqlite_row(r) for r in rows]

                def update(hashed: list[tuple[int, bytes, bytes]]) -> None:
                    curs.executemany(
                        f"UPDATE {self.table} SET event_hash = ?, chain_hash = ? WHERE rowid = ?",
                        [(e, c, n) for n, e, c in hashed],
                    )

                head = fill(read, update)
            curs.executemany(
                f"INSERT OR IGNORE INTO {META_TABLE} (key, value) VALUES (?, ?)",
                [
                    ("version", CHAIN_VERSION),
                    ("genesis", str(head[0])),
                    ("anchor_every", str(anchor_every)),
                ],
            )
            curs.execute(
                f"INSERT OR IGNORE INTO {ANCHORS_TABLE} (position, chain_hash, kind, recorded_at) "
                "VALUES (?, ?, 'genesis', ?)",
                (*head, now().isoformat()),
            )

    @property
    def _select(self) -> str:
        return (
            "SELECT rowid, originator_id, originator_version, topic, coalesce(state, x''), "
            f"event_hash, chain_hash FROM {self.table} WHERE rowid > ? AND rowid <= ? "
            "ORDER BY rowid LIMIT ?"
        )

    def rows(self, after: int, limit: int, stop: int | None = None) -> list[Row]:
        with self._read() as curs:
            found = curs.execute(
                self._select, (after, stop if stop is not None else 2**63 - 1, limit)
            ).fetchall()
        return [_sqlite_row(r) for r in found]

    def head(self) -> tuple[int, bytes]:
        with self._read() as curs:
            row = curs.execute(
                f"SELECT rowid, chain_hash FROM {self.table} ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
        return (0, ZERO) if row is None else (row[0], row[1] or ZERO)

    def anchors(self) -> list[Anchor]:
        with self._read() as curs:
            found = curs.execute(
                f"SELECT position, chain_hash, kind, recorded_at FROM {ANCHORS_TABLE} "
                "ORDER BY position"
            ).fetchall()
        return [Anchor(p, bytes(c), k, _instant(r)) for p, c, k, r in found]

    def record_anchor(self) -> Anchor:
        with immediate(self.datastore) as curs:
            row = curs.execute(
                f"SELECT rowid, chain_hash FROM {self.table} ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return Anchor(0, ZERO, "head", now())
            curs.execute(
                f"INSERT OR IGNORE INTO {ANCHORS_TABLE} (position, chain_hash, kind, recorded_at) "
                "VALUES (?, ?, 'head', ?)",
                (row[0], row[1] or ZERO, now().isoformat()),
            )
            p, c, k, r = curs.execute(
                f"SELECT position, chain_hash, kind, recorded_at FROM {ANCHORS_TABLE} "
                "WHERE position = ?",
                (row[0],),
            ).fetchone()
        return Anchor(p, bytes(c), k, _instant(r))

    def aggregate_rows(self, originator_id: UUID) -> list[tuple[Row, int, bytes]]:
        with self._read() as curs:
            found = curs.execute(
                "SELECT t.rowid, t.originator_id, t.originator_version, t.topic, "
                "coalesce(t.state, x''), t.event_hash, t.chain_hash, "
                "coalesce(p.rowid, 0), coalesce(p.chain_hash, ?) "
                f"FROM {self.table} t LEFT JOIN {self.table} p ON p.rowid = "
                f"(SELECT max(b.rowid) FROM {self.table} b WHERE b.rowid < t.rowid) "
                "WHERE t.originator_id = ? ORDER BY t.originator_version",
                (ZERO, originator_id.hex),
            ).fetchall()
        return [(_sqlite_row(r[:7]), r[7], bytes(r[8])) for r in found]

    def record_verification(self, check: Verifier, at: datetime) -> None:
        with immediate(self.datastore) as curs:
            curs.execute(
                f"INSERT INTO {VERIFICATIONS_TABLE} (verified_at, finished_at, position, "
                "chain_hash, events, ok, broken, first_break) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at.isoformat(),
                    now().isoformat(),
                    check.position,
                    check.head,
                    check.checked,
                    int(check.ok),
                    check.broken,
                    first_break_text(check),
                ),
            )

    def last_verification(self) -> dict[str, Any] | None:
        with self._read() as curs:
            row = curs.execute(
                "SELECT position, chain_hash, verified_at, finished_at, events, ok, broken, "
                f"first_break FROM {VERIFICATIONS_TABLE} ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _verification(row)


def _sqlite_row(r: Sequence[Any]) -> Row:
    """A SQLite row (originator id as hex text) as the check reads it.

    SQLite keeps whatever type a value was given: a row edited by hand may hold text where a
    blob was. Such values are read as their bytes (and then fail their hash), never refused.
    """
    try:
        oid = bytes.fromhex(r[1])
    except (TypeError, ValueError):
        oid = b""
    if len(oid) != 16:
        oid = str(r[1]).encode().ljust(16, b"\0")[:16]
    state, event, chain = r[4], r[5], r[6]
    return (
        int(r[0]),
        oid,
        int(r[2]),
        str(r[3]),
        _blob(state) or b"",
        _blob(event),
        _blob(chain),
    )


def _blob(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()
