"""The SQLite event recorder the desk uses: the library's, writing the hash chain as it inserts.

Chosen through eventsourcing's own setting ``APPLICATION_RECORDER_TOPIC`` (see
:meth:`config.settings.Settings.eventsourcing_env`); the factory stays the library's. Each insert
runs in one transaction that holds the file's write lock from its first statement
(``BEGIN IMMEDIATE``): it reads the last row's chain hash, then for each event its aggregate's
previous event hash (unless this process wrote that very event: it remembers the hashes it
stored last, per aggregate), and stores the event with both hashes of :mod:`bootstrap.chain` at the
position after the last (the rowid, given explicitly so the hash and the row agree). Nothing
else can write in between, so the chain follows the store's order exactly.

The table gets two more columns (``event_hash``, ``chain_hash``); the library's own insert
lists no columns and so no longer fits it: a writer without the chain fails rather than storing
rows the chain does not cover. A file made before the chain is upgraded when the recorder
creates its table (:meth:`bootstrap.chain_store.SQLiteChain.install`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from bootstrap.chain import ANCHOR_EVERY, ZERO, chain_hash, event_hash
from bootstrap.chain_store import ANCHORS_TABLE, ImmediateTransaction, SQLiteChain, now
from bootstrap.personal import TABLE as KEYS_TABLE

# Aggregates whose last written event hash the recorder remembers (one process's recent ones).
LAST_WRITTEN = 10_000


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    """Stores each event with its event hash and chain hash (:mod:`bootstrap.chain`)."""

    anchor_every = ANCHOR_EVERY

    def __init__(
        self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name)
        table = self.events_table_name
        self.insert_events_statement = (
            f"INSERT INTO {table} (rowid, originator_id, originator_version, topic, state, "
            "event_hash, chain_hash) VALUES (?,?,?,?,?,?,?)"
        )
        self._last_row = f"SELECT rowid, chain_hash FROM {table} ORDER BY rowid DESC LIMIT 1"
        self._previous = (
            f"SELECT event_hash FROM {table} WHERE originator_id = ? AND originator_version < ? "
            "ORDER BY originator_version DESC LIMIT 1"
        )
        self._moved_on = (
            f"SELECT 1 FROM {table} WHERE originator_id = ? AND originator_version > ? LIMIT 1"
        )
        self._last_written: dict[bytes, tuple[int, bytes]] = {}
        self._written: dict[bytes, tuple[int, bytes]] = {}
        self._anchor = (
            f"INSERT OR IGNORE INTO {ANCHORS_TABLE} (position, chain_hash, kind, recorded_at) "
            "VALUES (?, ?, 'every', ?)"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS "
            f"{self.events_table_name} ("
            "originator_id TEXT, "
            "originator_version INTEGER, "
            "topic TEXT, "
            "state BLOB, "
            "event_hash BLOB, "
            "chain_hash BLOB, "
            "PRIMARY KEY "
            "(originator_id, originator_version))"
        ]

    def create_table(self) -> None:
        super().create_table()
        SQLiteChain(self.datastore, self.events_table_name).install(self.anchor_every)

    # The keyring of the mapper that seals personal data (bootstrap.personal), when the desk has
    # one: the keys it made for this write are stored in the same transaction as the events.
    keyring: Any = None
    keys_in_transaction = True
    # ``unchanged``: (aggregate id, version) pairs the new events were decided on without being
    # written to (a ticket's customer at intake). Checked in the write transaction, which holds
    # the file's write lock: an aggregate that moved on since (the customer erased meanwhile)
    # refuses the write, as the PostgreSQL insert function does, so the desk may decide on a
    # cached aggregate without the query that brings it up to date.
    checks_unchanged = True

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        unchanged: Sequence[tuple[UUID, int]] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        keys = self.keyring.take_pending() if self.keyring is not None else []
        with (
            self.datastore.get_connection(commit=True) as conn,
            ImmediateTransaction(conn, commit=True) as curs,
        ):
            self._check_unchanged(curs.sqlite_cursor, unchanged)
            self._store_keys(curs.sqlite_cursor, keys)
            ids = self._insert_events(curs, stored_events, **kwargs)
            written = self._written
        if keys:
            self.keyring.committed(keys)
        # Committed: the event hashes just stored are what the next events of these aggregates
        # link to. Kept only while the next version follows (see _insert_events); at most
        # LAST_WRITTEN aggregates.
        if len(self._last_written) + len(written) > LAST_WRITTEN:
            self._last_written.clear()
        self._last_written.update(written)
        return ids

    def _check_unchanged(self, raw: Any, unchanged: Sequence[tuple[UUID, int]]) -> None:
        """Refuse the write when an aggregate it was decided on has a later event now."""
        for ident, version in unchanged:
            moved = raw.execute(self._moved_on, (ident.hex, version)).fetchone()
            if moved is not None:
                raise IntegrityError(f"aggregate {ident} changed after it was read for this write")

    @staticmethod
    def _store_keys(raw: Any, keys: list[tuple[str, bytes]]) -> None:
        """Store new customers' keys; a customer with another key already is a conflict."""
        for subject, key in keys:
            raw.execute(
                f'INSERT INTO "{KEYS_TABLE}" ("subject", "key", "created_at") '
                'VALUES (?, ?, CURRENT_TIMESTAMP) ON CONFLICT ("subject") DO NOTHING',
                (subject, key),
            )
            row = raw.execute(
                f'SELECT "key" FROM "{KEYS_TABLE}" WHERE "subject" = ?', (subject,)
            ).fetchone()
            if row is None or row[0] != key:
                raise IntegrityError(f"customer {subject} has another key, or was erased")

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **_: Any
    ) -> Sequence[int] | None:
        raw = c.sqlite_cursor
        row = raw.execute(self._last_row).fetchone()
        position, prev_chain = (0, ZERO) if row is None else (row[0], row[1] or ZERO)
        inserted: dict[bytes, tuple[int, bytes]] = {}
        returning = []
        for s in stored_events:
            ident = s.originator_id if isinstance(s.originator_id, UUID) else UUID(s.originator_id)
            oid = ident.bytes
            version = s.originator_version
            before = inserted.get(oid) or self._last_written.get(oid)
            if version == 1:
                prev_event = ZERO  # an aggregate's first event (see bootstrap.chain)
            elif before is not None and before[0] == version - 1:
                prev_event = before[1]  # this process wrote its predecessor: nothing to read
            else:
                found = raw.execute(self._previous, (ident.hex, version)).fetchone()
                prev_event = ZERO if found is None or found[0] is None else found[0]
            event = event_hash(prev_event, oid, version, s.topic, s.state)
            position += 1
            chain = chain_hash(prev_chain, position, event)
            raw.execute(
                self.insert_events_statement,
                (position, ident.hex, version, s.topic, s.state, event, chain),
            )
            if position % self.anchor_every == 0:
                raw.execute(self._anchor, (position, chain, now().isoformat()))
            inserted[oid] = (version, event)
            prev_chain = chain
            returning.append(position)
        self._written = inserted  # remembered once the transaction commits (insert_events)
        return returning
