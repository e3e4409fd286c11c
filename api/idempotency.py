"""Which request each ``Idempotency-Key`` was first used for, per user, kept beside the events.

A key is bound to the first request (method, path, body: its *fingerprint*) that reached the
desk with it. A repeat of that request is answered again (``api/writes.py`` recomputes the
answer); the same key with a *different* request is refused with 422
``idempotency_key_reused``, before and after a restart and on every API process, because the
binding lives in the ``idempotency_keys`` table of the event store's own database (SQLite file
or PostgreSQL) and is made with one insert-if-absent: of two requests racing with one key,
exactly one binds it. A key stays bound for as long as the store lives, even when the desk
refused the command it carried (the request reached the desk; a corrected request takes a new
key). The table is created when the API starts, and again should a database made anew have
lost it while the API ran.

An LRU of the most recent keys sits in front of the table, so a repeat costs no round trip.
On eventsourcing's in-memory store (no SQL database: unit tests) the LRU alone remembers
keys, for as long as the process lives.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from threading import Lock
from typing import Any

from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from api.errors import SCHEMA_MISSING, ApiError, database_fault

TABLE = "idempotency_keys"


class KeyTable:
    """``idempotency_keys(user_id, key, fingerprint, command_id, first_seen_at)``, one row per
    (user, key), in the event store's database and over its connections."""

    def __init__(
        self, datastore: Any, mark: str, time_type: str, time_value: Callable[[datetime], Any]
    ) -> None:
        self.datastore = datastore
        self.time_type = time_type
        self.time_value = time_value
        self.insert = (
            f'INSERT INTO "{TABLE}" ("user_id", "key", "fingerprint", "command_id", '
            f'"first_seen_at") VALUES ({mark}, {mark}, {mark}, {mark}, {mark}) '
            'ON CONFLICT ("user_id", "key") DO NOTHING'
        )
        self.select = (
            f'SELECT "fingerprint" FROM "{TABLE}" WHERE "user_id" = {mark} AND "key" = {mark}'
        )

    @classmethod
    def beside(cls, recorder: Any) -> KeyTable | None:
        """The table in the database of ``recorder`` (the desk's), or None when that store has
        no SQL database (eventsourcing's in-memory one)."""
        datastore = getattr(recorder, "datastore", None)
        if isinstance(datastore, PostgresDatastore):
            return cls(datastore, "%s", "TIMESTAMPTZ", lambda at: at)
        if isinstance(datastore, SQLiteDatastore):
            return cls(datastore, "?", "TEXT", datetime.isoformat)
        return None

    def create(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("user_id" TEXT NOT NULL, '
                '"key" TEXT NOT NULL, "fingerprint" TEXT NOT NULL, "command_id" TEXT NOT NULL, '
                f'"first_seen_at" {self.time_type} NOT NULL, PRIMARY KEY ("user_id", "key"))'
            )

    def claim(self, user: str, key: str, fingerprint: str, command_id: str, at: datetime) -> str:
        """The fingerprint ``key`` is bound to: ``fingerprint`` when the key was free (it is
        now bound to it), else the one it was bound to first.

        The insert waits for a racing insert of the same key to commit (PostgreSQL's unique
        index; SQLite's single writer) and then does nothing, so the select that follows, in
        the same transaction, reads the winner's row.
        """
        try:
            return self._claim(user, key, fingerprint, command_id, at)
        except Exception as error:
            # A database made anew while we ran: another process brought the event tables
            # back (and the API with them, api/health.py); bring this one back too.
            if database_fault(error) != SCHEMA_MISSING:
                raise
        with suppress(IntegrityError):  # another process created it at the same moment
            self.create()
        return self._claim(user, key, fingerprint, command_id, at)

    def _claim(self, user: str, key: str, fingerprint: str, command_id: str, at: datetime) -> str:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.insert, (user, key, fingerprint, command_id, self.time_value(at)))
            c.execute(self.select, (user, key))
            found = c.fetchone()
        return str(found["fingerprint"])


class IdempotencyMemory:
    """Request fingerprints per (user, Idempotency-Key): the most recent ``size`` in memory,
    in front of the durable ``table`` when there is one (else memory is all there is)."""

    def __init__(self, table: KeyTable | None = None, size: int = 50_000) -> None:
        self.table = table
        self.size = size
        self.seen: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.lock = Lock()

    def claim(self, user: str, key: str, fingerprint: str, command_id: str, at: datetime) -> None:
        """Bind ``key`` to ``fingerprint`` unless it is bound already; 422 when it is bound to
        another request."""
        found = self._recall(user, key, fingerprint if self.table is None else None)
        if found is None and self.table is not None:
            # Outside the lock: the database arbitrates between requests and processes.
            found = self.table.claim(user, key, fingerprint, command_id, at)
            self._recall(user, key, found)
        if found is not None and found != fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"Idempotency-Key {key!r} was already used for a different request",
            )

    def _recall(self, user: str, key: str, bind: str | None) -> str | None:
        """The remembered fingerprint of (user, key), made ``bind`` when none is and ``bind``
        is given; the entry becomes the most recent."""
        with self.lock:
            found = self.seen.get((user, key))
            if found is None:
                if bind is None:
                    return None
                found = self.seen[(user, key)] = bind
            self.seen.move_to_end((user, key))
            while len(self.seen) > self.size:
                self.seen.popitem(last=False)
            return found
