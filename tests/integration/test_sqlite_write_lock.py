"""A SQLite writer that is told "database is locked" at once asks again until the lock is free,
and leaves no open cursor behind for another thread to reset.

SQLite may answer a ``BEGIN IMMEDIATE`` with "database is locked" without waiting out the busy
timeout (seen with eight writers on a loaded machine: urges were lost to it). Nothing has been
written when that happens, so the write transaction asks again, a little later each time.

A cursor left open by a failed write is freed by the garbage collector in whichever thread
collects next, and resetting its statement waits for its connection's mutex: two SLA clocks on
one file waited on each other that way for the whole busy timeout (one thread holding the write
lock and collecting, the other holding the mutex while it waited for the lock).
"""

from __future__ import annotations

import gc
import sqlite3
import threading
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteConnection

from bootstrap import chain_store
from bootstrap.chain_store import ImmediateTransaction


def _file(tmp_path: Path) -> tuple[Path, sqlite3.Connection]:
    path = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE facts (n INTEGER)")
    return path, holder


def test_a_writer_answered_locked_at_once_waits_for_the_lock_and_writes(tmp_path: Path) -> None:
    path, holder = _file(tmp_path)
    # Given another connection holds the write lock for a while
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO facts VALUES (1)")
    released = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    released.start()
    # and this writer's own busy wait gives up almost at once ("locked" after 10 ms)
    impatient = sqlite3.connect(path, isolation_level=None, timeout=0.01, check_same_thread=False)
    # When it opens a write transaction
    with ImmediateTransaction(SQLiteConnection(impatient, max_age=None), commit=True) as curs:
        curs.execute("INSERT INTO facts VALUES (2)")
    released.join()
    # Then it got the lock once it was free, and both writes are there, in order
    assert [n for (n,) in holder.execute("SELECT n FROM facts ORDER BY rowid")] == [1, 2]


def test_a_lock_never_released_is_still_an_error_in_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, holder = _file(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(chain_store, "LOCKED_RETRY_SECONDS", 0.2)
    impatient = sqlite3.connect(path, isolation_level=None, timeout=0.01, check_same_thread=False)
    with (
        pytest.raises(sqlite3.OperationalError, match="locked"),
        ImmediateTransaction(SQLiteConnection(impatient, max_age=None), commit=True),
    ):
        pass
    holder.execute("ROLLBACK")


def _refused_write(path: Path) -> None:
    """A write transaction that reads (its statement still live) and is then refused."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    with ImmediateTransaction(SQLiteConnection(conn, max_age=None), commit=True) as curs:
        curs.execute("SELECT n FROM facts ORDER BY n")
        curs.fetchone()  # one row read, more to come: the statement is not reset
        curs.execute("INSERT INTO facts VALUES (1)")  # refused by the unique index


def test_a_refused_write_leaves_no_open_cursor_for_the_garbage_collector(tmp_path: Path) -> None:
    path, holder = _file(tmp_path)
    holder.execute("CREATE UNIQUE INDEX one_each ON facts (n)")
    holder.execute("INSERT INTO facts VALUES (1), (2)")
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        # When a write fails after a read, and its traceback is let go of
        with pytest.raises(IntegrityError):
            _refused_write(path)
        gc.collect()
        cursors = [o for o in gc.garbage if isinstance(o, sqlite3.Cursor)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    # Then the write's cursor is among what only the collector can free (the failed write's
    # traceback is a reference cycle) ...
    assert cursors
    # ... and it was closed by its own thread: collecting it resets no statement
    for cursor in cursors:
        with pytest.raises(sqlite3.ProgrammingError, match="closed cursor"):
            cursor.fetchone()
    assert [n for (n,) in holder.execute("SELECT n FROM facts ORDER BY n")] == [1, 2]
