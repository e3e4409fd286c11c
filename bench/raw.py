"""The raw baselines casetrail is measured against, in the same run: no casetrail in the way.

* PostgreSQL, one ~500-byte INSERT per transaction into a table shaped like an event table
  (:data:`RAW_PG_TABLE`, :func:`raw_writer`), from threads (:func:`raw_pg`) or processes
  (``bench.common``); also one-statement commits with the insert function's NOTIFY, with and
  without its ordering lock (the ceilings these set, with no Python in the way);
* PostgreSQL, the very rows one intake stored (:func:`sample_intake_writes`) written raw
  (:func:`raw_pg_shaped`): the floor for an intake's write;
* SQLite, BEGIN; one INSERT; COMMIT per row with the journal eventsourcing uses (WAL).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.report import Run, run_threads

RAW_TOPIC = "domain.complaint:Complaint.ComplaintReceived"
RAW_STATE_BYTES = 430  # + 16 B uuid + ~45 B topic + 4 B version + 8 B id ~= 500 B per row
RAW_PG_TABLE = """
CREATE TABLE raw_events (
    id bigserial PRIMARY KEY,
    originator_id uuid NOT NULL,
    version int NOT NULL,
    topic text NOT NULL,
    state bytea NOT NULL,
    UNIQUE (originator_id, version)
)
"""
RAW_PG_INSERT = (
    "INSERT INTO raw_events (originator_id, version, topic, state) VALUES (%s, %s, %s, %s)"
)
# The same row in one statement (sent in autocommit mode: one round trip, as casetrail's insert
# function is called) that also does what that function does around its insert: a NOTIFY
# (PostgreSQL serialises the commits of notifying transactions with one lock for the whole
# cluster, held until the commit is flushed), and for the second, first a transaction-level
# advisory lock all such writers share, held as long, as the events table's ordering lock is.
# With no Python in the way, they show the ceilings these set on commits per second, and what
# the ordering lock adds to NOTIFY's.
RAW_PG_INSERT_NOTIFY = (
    "INSERT INTO raw_events (originator_id, version, topic, state) "
    "SELECT %s, %s, %s, %s FROM (SELECT pg_notify('raw_events', '')) AS notified"
)
RAW_PG_INSERT_LOCKED = (
    "INSERT INTO raw_events (originator_id, version, topic, state) "
    "SELECT %s, %s, %s, %s FROM (SELECT pg_advisory_xact_lock(1918989089, 1), "
    "pg_notify('raw_events', '')) AS ordered"
)


def raw_writer(conn: psycopg.Connection[Any], insert: str = RAW_PG_INSERT) -> Callable[[Any], int]:
    """One ~500-byte INSERT per transaction on ``conn``: returns rows written.

    Autocommit off (the raw baseline): INSERT, then COMMIT, two round trips. Autocommit on: the
    statement is its own transaction.
    """
    state = os.urandom(RAW_STATE_BYTES)
    cur = conn.cursor()
    commit = None if conn.autocommit else conn.commit

    def work(_: Any) -> int:
        cur.execute(insert, (uuid.uuid4(), 1, RAW_TOPIC, state), prepare=True)
        if commit is not None:
            commit()
        return 1

    return work


def on_connections(
    threads: int,
    items: Sequence[Any],
    connect: Callable[[], Any],
    writer: Callable[[Any], Callable[[Any], int]],
) -> Run:
    """:func:`bench.report.run_threads` with a connection per thread: ``connect()`` opens it
    in the thread before the start line, ``writer(conn)`` is the per-item function, and the
    connection is closed once every thread is done."""
    conns: dict[int, Any] = {}

    def make_worker(i: int) -> Callable[[Any], int]:
        conns[i] = conn = connect()
        return writer(conn)

    def finish(i: int) -> None:
        conn = conns.get(i)
        if conn is not None:
            conn.close()

    return run_threads(threads, items, make_worker, finish)


def raw_pg(db_url: str, rows: int, threads: int) -> Run:
    """One ~500-byte INSERT per transaction, each thread with its own connection."""
    return on_connections(
        threads, range(rows), lambda: psycopg.connect(db_url, autocommit=False), raw_writer
    )


def sample_intake_writes(db_url: str, table: str, limit: int = 50) -> list[list[Any]]:
    """The (version, topic, state) rows of recent intakes (tickets: version 1 and 2)."""
    query = sql.SQL(
        "SELECT originator_id, originator_version, topic, state FROM {} "
        "WHERE originator_id IN (SELECT originator_id FROM {} WHERE originator_version = 2 "
        "AND topic LIKE %s ORDER BY notification_id DESC LIMIT %s) "
        "ORDER BY originator_id, originator_version"
    ).format(sql.Identifier(table), sql.Identifier(table))
    groups: dict[Any, list[Any]] = {}
    with psycopg.connect(db_url) as conn:
        for oid, version, topic, state in conn.execute(query, ("%SlaPolicyBound", limit)):
            groups.setdefault(oid, []).append((version, topic, bytes(state)))
    return [g for g in groups.values() if len(g) == 2]


def raw_pg_shaped(db_url: str, ops: int, writes: Sequence[list[Any]]) -> Run:
    """The same rows and bytes one intake writes, raw: executemany + commit, 1 client."""
    insert = RAW_PG_INSERT.replace("raw_events", "raw_shaped")

    def writer(conn: psycopg.Connection[Any]) -> Callable[[int], int]:
        cur = conn.cursor()

        def work(n: int) -> int:
            oid = uuid.uuid4()
            rows = writes[n % len(writes)]
            cur.executemany(insert, [(oid, v, t, st) for v, t, st in rows])
            conn.commit()
            return len(rows)

        return work

    return on_connections(1, range(ops), lambda: psycopg.connect(db_url, autocommit=False), writer)


RAW_SQLITE_TABLE = """
CREATE TABLE raw_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    originator_id BLOB NOT NULL,
    version INTEGER NOT NULL,
    topic TEXT NOT NULL,
    state BLOB NOT NULL,
    UNIQUE (originator_id, version)
)
"""


def raw_sqlite(path: Path, rows: int, threads: int) -> Run:
    """BEGIN; one INSERT; COMMIT per row, WAL journal (as eventsourcing sets it)."""
    state = os.urandom(RAW_STATE_BYTES)

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def writer(conn: sqlite3.Connection) -> Callable[[Any], int]:
        def work(_: Any) -> int:
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO raw_events (originator_id, version, topic, state) VALUES (?, ?, ?, ?)",
                (uuid.uuid4().bytes, 1, RAW_TOPIC, state),
            )
            conn.execute("COMMIT")
            return 1

        return work

    return on_connections(threads, range(rows), connect, writer)


def prepare_raw_sqlite(path: Path) -> str:
    """Create the raw table in WAL mode; returns the journal mode and synchronous setting."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        conn.execute(RAW_SQLITE_TABLE)
        sync = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    conn.close()
    return f"{mode}, synchronous={sync}"
