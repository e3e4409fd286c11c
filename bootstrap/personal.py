"""Personal data sealed per customer: the mapper that seals it, the keys, and their destruction.

Every personal value an event carries (``domain.personal.PERSONAL``: a customer's name, phone,
address, and any contact field) is stored sealed — AES-256-GCM (PyCA ``cryptography``) with a
key of that customer's own — inside the otherwise readable JSON of the event::

    {"_type_": "sealed", "_data_": "<customer id>:<base64 of nonce + ciphertext>"}

The associated data binds each ciphertext to its customer and to its place in the event
(``contact.phone``), so a sealed value cannot be moved to another field or customer unnoticed.
Keys live outside the events, in ``customer_keys`` (subject, key, created_at, erased_at) of the
same database (SQLite file or PostgreSQL schema): one row per customer, made with the first
event that carries their data, in its own short transaction (a key made for an insert that
then fails is harmless). The hash chain over the events covers the sealed bytes, so destroying
a key changes no stored event.

Erasing (``Desk.erase_customer``) records ``CustomerErased`` and then calls :meth:`forget`:
the key is set to NULL (the row stays, so no new key is ever made for that customer) and the
table is compacted. From then on every sealed value of that customer decodes as
:data:`domain.personal.ERASED`; events, SLA clocks and department figures replay as before.
:func:`compact` then rewrites what held the clear copies (views, WAL) — see there.

Keys are cached per process for :data:`KEY_CACHE_SECONDS`: a process other than the one that
erased stops reading the customer's data within that time (its aggregate cache may hold
decoded copies until they are evicted or the process restarts).
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import (
    InterfaceError,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Transcoding,
)
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import resolve_topic

from domain.personal import ERASED, PERSONAL, Path, replace_leaves, subject_is_originator

TABLE = "customer_keys"
KEY_CACHE_SECONDS = 60.0
RETRIES = 3  # attempts of a key read or write whose connection failed
_NONCE = 12


class Sealed:
    """A personal value as stored: whose it is and its nonce + ciphertext."""

    __slots__ = ("blob", "subject")

    def __init__(self, subject: str, blob: bytes) -> None:
        self.subject = subject
        self.blob = blob

    def __repr__(self) -> str:
        return f"Sealed({self.subject}, {len(self.blob)} bytes)"


class SealedAsText(Transcoding):
    type = Sealed
    name = "sealed"

    def encode(self, obj: Sealed) -> str:
        return _sealed_text(obj.subject, obj.blob)

    def decode(self, data: str) -> Sealed:
        subject, _, blob = data.partition(":")
        return Sealed(subject, base64.b64decode(blob))


def _sealed_text(subject: str, blob: bytes) -> str:
    return f"{subject}:{base64.b64encode(blob).decode('ascii')}"


class ErasedSubject(Exception):
    """Personal data was to be sealed for a customer whose key was destroyed."""


def _aad(subject: str, path: Path) -> bytes:
    return f"{subject}|{'.'.join(path)}".encode()


# ----------------------------------------------------------------------------- keys


class Keyring:
    """Keys by customer, cached for :data:`KEY_CACHE_SECONDS`; the store is a subclass's.

    A key made for a customer who has none is, when the recorder can (``deferred``), written by
    the recorder in the very transaction that stores the first events sealed with it
    (:meth:`take_pending`, then :meth:`committed`): one commit per intake, not two, and a key is
    never kept for events that were not stored. Otherwise it is written at once.
    """

    deferred = False

    def __init__(self) -> None:
        self._cache: dict[str, tuple[bytes | None, float]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def key(self, subject: str, *, create: bool, new_subject: bool = False) -> bytes | None:
        """The customer's key; made when absent and ``create``; None once destroyed (or, when
        not creating, never made). ``new_subject``: the customer is being created by the same
        write (its first event), so no key can exist yet: none is looked up."""
        hit = self._cache.get(subject)
        now = time.monotonic()
        if hit is not None and (hit[0] is None or now - hit[1] < KEY_CACHE_SECONDS):
            return hit[0]
        pending = self._pending()
        if subject in pending:
            return pending[subject]
        if not (create and new_subject):
            found, key = self._lookup(subject)
            if found:
                self._remember(subject, key, now)
                return key
            if not create:
                return None
        key = os.urandom(32)
        if self.deferred:
            pending[subject] = key
            return key
        stored = self._store(subject, key)
        self._remember(subject, stored, now)
        return stored

    def take_pending(self) -> list[tuple[str, bytes]]:
        """The keys made on this thread since the last write, for the recorder to store."""
        pending = self._pending()
        items = list(pending.items())
        pending.clear()
        return items

    def committed(self, items: list[tuple[str, bytes]]) -> None:
        """The recorder stored these keys with their events."""
        now = time.monotonic()
        for subject, key in items:
            self._remember(subject, key, now)

    def forget(self, subject: str) -> None:
        """Destroy the customer's key for good."""
        self._destroy(subject)
        self._remember(subject, None, time.monotonic())

    def _pending(self) -> dict[str, bytes]:
        pending: dict[str, bytes] | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = {}
        return pending

    def _remember(self, subject: str, key: bytes | None, now: float) -> None:
        with self._lock:
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[subject] = (key, now)

    def _lookup(self, subject: str) -> tuple[bool, bytes | None]:
        """(whether the customer has a key row, its key: None when destroyed)."""
        raise NotImplementedError

    def _store(self, subject: str, new: bytes) -> bytes | None:
        """Store ``new`` unless the customer has a key row; the row's key (None: destroyed)."""
        raise NotImplementedError

    def _destroy(self, subject: str) -> None:
        raise NotImplementedError


class MemoryKeyring(Keyring):
    """Keys of an in-memory store (eventsourcing's POPO recorders: unit tests)."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, bytes | None] = {}

    def _lookup(self, subject: str) -> tuple[bool, bytes | None]:
        return subject in self._keys, self._keys.get(subject)

    def _store(self, subject: str, new: bytes) -> bytes | None:
        return self._keys.setdefault(subject, new)

    def _destroy(self, subject: str) -> None:
        self._keys[subject] = None


class SqlKeyring(Keyring):
    """``customer_keys`` beside the events, over the event store's own datastore."""

    def __init__(self, datastore: Any) -> None:
        super().__init__()
        self.datastore = datastore
        self.postgres = isinstance(datastore, PostgresDatastore)
        mark = "%s" if self.postgres else "?"
        blob, when = ("BYTEA", "TIMESTAMPTZ") if self.postgres else ("BLOB", "TEXT")
        self._create = (
            f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("subject" TEXT PRIMARY KEY, "key" {blob}, '
            f'"created_at" {when} NOT NULL, "erased_at" {when})'
        )
        self._insert = (
            f'INSERT INTO "{TABLE}" ("subject", "key", "created_at") VALUES ({mark}, {mark}, '
            f"{'now()' if self.postgres else 'CURRENT_TIMESTAMP'}) "
            'ON CONFLICT ("subject") DO NOTHING'
        )
        self._select = f'SELECT "key" FROM "{TABLE}" WHERE "subject" = {mark}'
        self._erase = (
            f'UPDATE "{TABLE}" SET "key" = NULL, "erased_at" = '
            f'{"now()" if self.postgres else "CURRENT_TIMESTAMP"} WHERE "subject" = {mark}'
        )
        self._made = False

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._create)
        self._made = True

    def _lookup(self, subject: str) -> tuple[bool, bytes | None]:
        def lookup() -> Any:
            with self.datastore.transaction(commit=False) as c:
                c.execute(self._select, (subject,))
                return c.fetchone()

        row = self._run(lookup)
        return (False, None) if row is None else (True, _key(row["key"]))

    def _store(self, subject: str, new: bytes) -> bytes | None:
        def store() -> Any:
            with self.datastore.transaction(commit=True) as c:
                c.execute(self._insert, (subject, new))
                c.execute(self._select, (subject,))
                return c.fetchone()

        return _key(self._run(store)["key"])

    def _destroy(self, subject: str) -> None:
        def destroy() -> None:
            with self.datastore.transaction(commit=True) as c:
                c.execute(self._insert, (subject, None))  # a customer never sealed: tombstone
                c.execute(self._erase, (subject,))

        self._run(destroy)

    def _run(self, work: Callable[[], Any]) -> Any:
        """``work()``, past stale pooled connections (after a server restart the pool still
        holds dead ones: they are checked and dropped, then it is tried again) and past a
        database made anew (the table made again, as every casetrail process makes the tables
        it needs)."""
        for attempt in range(RETRIES):
            try:
                return self._once(work)
            except (InterfaceError, OperationalError):
                if attempt == RETRIES - 1:
                    raise
                check = getattr(getattr(self.datastore, "pool", None), "check", None)
                if check is not None:
                    check()  # psycopg_pool: test the idle connections, drop the dead
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def _once(self, work: Callable[[], Any]) -> Any:
        if not self._made:
            self.create_table()
        try:
            return work()
        except ProgrammingError as error:
            if not any(text in str(error) for text in ("does not exist", "no such table")):
                raise
        self.create_table()
        return work()


def _key(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def keyring_for(recorder: Any) -> Keyring:
    """The keyring beside ``recorder``'s events (in memory when it has no SQL database)."""
    datastore = getattr(recorder, "datastore", None)
    if isinstance(datastore, PostgresDatastore | SQLiteDatastore):
        return SqlKeyring(datastore)
    return MemoryKeyring()


# --------------------------------------------------------------------------- mapper


class SealingMapper(Mapper[UUID]):
    """eventsourcing's mapper, sealing personal values on the way in and opening them on the
    way out (:data:`ERASED` where the key is gone). Chosen by ``MAPPER_TOPIC``; the desk
    calls :meth:`bind` once its recorder exists."""

    keyring: Keyring | None = None

    def bind(self, app: Any) -> None:
        self.keyring = keyring_for(app.recorder)
        if isinstance(self.keyring, SqlKeyring):
            self.keyring.create_table()  # with the event tables: a new store has them all
        if getattr(app.recorder, "keys_in_transaction", False):
            app.recorder.keyring = self.keyring  # new keys go with the events they seal
            self.keyring.deferred = True
        if isinstance(self.transcoder, JSONTranscoder):
            self.transcoder.register(SealedAsText())

    def begin_write(self) -> None:
        """A new write starts: keys made for one that never reached the recorder are dropped."""
        if self.keyring is not None:
            self.keyring.take_pending()

    def forget(self, subject: str) -> None:
        """Destroy the customer's key (crypto-shredding)."""
        assert self.keyring is not None
        self.keyring.forget(subject)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        spec = PERSONAL.get(type(domain_event).__name__)
        if spec is None or self.keyring is None:
            return super().to_stored_event(domain_event)
        state = vars(domain_event)
        subject = spec.subject(state)
        if subject is None:
            return super().to_stored_event(domain_event)
        first = subject_is_originator(spec) and state.get("originator_version") == 1
        key = self.keyring.key(subject, create=True, new_subject=first)
        if key is None:
            raise ErasedSubject(f"customer {subject} was erased: nothing personal is recorded")
        cipher = AESGCM(key)

        def seal(path: Path, value: Any) -> Any:
            if not isinstance(value, str) or value == ERASED:
                return value
            nonce = os.urandom(_NONCE)
            blob = nonce + cipher.encrypt(nonce, value.encode(), _aad(subject, path))
            # What SealedAsText writes, as a plain dict: the C JSON encoder takes it as it is,
            # without a call back into the transcoder's registry per value.
            return {"_type_": SealedAsText.name, "_data_": _sealed_text(subject, blob)}

        sealed = replace_leaves(state, spec, seal)
        proxy = object.__new__(type(domain_event))
        object.__setattr__(proxy, "__dict__", sealed)
        return super().to_stored_event(proxy)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        spec = PERSONAL.get(type(event).__name__)
        if spec is None:
            return event
        state = vars(event)
        try:
            opened = replace_leaves(state, spec, self._open)
        except InvalidTag as error:
            raise MapperDeserialisationError(
                f"a sealed personal value of event {stored_event.originator_id} "
                f"v{stored_event.originator_version} does not open with its customer's key: "
                "altered, or moved from another field"
            ) from error
        if opened is not state:
            object.__setattr__(event, "__dict__", opened)
        return event

    def _open(self, path: Path, value: Any) -> Any:
        if not isinstance(value, Sealed):
            return value
        key = None if self.keyring is None else self.keyring.key(value.subject, create=False)
        if key is None:
            return ERASED
        blob = value.blob
        return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], _aad(value.subject, path)).decode()

    def unsealed(self, recorder: Any, aggregates: Iterable[UUID]) -> list[str]:
        """Events of ``aggregates`` that hold personal values in clear (recorded before
        sealing), as ``"<aggregate> v<version>"``."""
        found = []
        for ident in aggregates:
            for stored in recorder.select_events(ident):
                name = resolve_topic(stored.topic).__name__
                spec = PERSONAL.get(name)
                if spec is None:
                    continue
                state = self.transcoder.decode(stored.state)
                state["originator_id"] = ident
                if any(not isinstance(v, Sealed) and v != ERASED for _, v in spec.leaves(state)):
                    found.append(f"{ident} v{stored.originator_version}")
        return found


# --------------------------------------------------------------------------- compaction


def compact(settings: Any, projections: Iterable[Any]) -> list[str]:
    """Rewrite what may still hold an erased customer's data in clear, once the views have
    blanked it (:meth:`Desk.erase_customer`, then a catch-up); returns what was rewritten.

    A database does not overwrite a row it updates or deletes: the old bytes stay in the file
    until the space is reused. SQLite: ``VACUUM`` writes every page anew and the write-ahead
    log is then checkpointed and truncated. PostgreSQL: ``VACUUM FULL`` rewrites the key table
    and the views that hold personal data (``holds_personal_data``) into new files. What
    PostgreSQL's own write-ahead log and any backup still hold ages out with them: keep their
    retention within the erasure deadline you promise.
    """
    if settings.backend == "sqlite":
        import sqlite3

        # Notification ids are the events table's rowids: SQLite documents that VACUUM *may*
        # renumber rowids of a table without an INTEGER PRIMARY KEY (3.40 keeps them, gaps
        # included: measured). Checked, so a release that did not would be told at once
        # (audit verify and every view's position depend on them).
        ids = "SELECT count(*), max(rowid), sum(rowid) FROM stored_events"
        with closing(sqlite3.connect(settings.sqlite_path, isolation_level=None)) as conn:
            before = conn.execute(ids).fetchone()
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            after = conn.execute(ids).fetchone()
        if before != after:
            raise RuntimeError(
                f"VACUUM renumbered the events (count, max, sum of ids {before} -> {after}): "
                "restore the store from its backup; views and the chain depend on the ids"
            )
        return [str(settings.sqlite_path)]
    import psycopg

    tables = [TABLE] + [
        table.name
        for projection in projections
        if getattr(projection, "holds_personal_data", False)
        for table in projection.tables
    ]
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        for table in tables:
            conn.execute(psycopg.sql.SQL("VACUUM FULL {}").format(psycopg.sql.Identifier(table)))
    return tables
