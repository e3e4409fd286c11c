"""eventsourcing's PostgreSQL factory, with connections that time out and come back quickly.

Chosen through the library's own setting ``PERSISTENCE_MODULE`` (see
:meth:`config.settings.Settings.eventsourcing_env`). Differences from the library's factory:

- the application recorder is :class:`bootstrap.pg_recorder.ArrayInsertRecorder` (unless
  ``APPLICATION_RECORDER_TOPIC`` names another);
- every connection carries ``statement_timeout`` and ``lock_timeout`` (``POSTGRES_STATEMENT_
  TIMEOUT_MS``, ``POSTGRES_LOCK_TIMEOUT_MS``) and a libpq ``connect_timeout``: a table lock or
  a hung server makes a request fail with a clear error instead of hanging;
- the pool reconnects after an outage within about a second. psycopg_pool retries a failed
  connection with exponential backoff (1, 2, 4, 8 ... seconds, for five minutes): after an
  18 s outage the first new connection came 23 s after the server was back. Here the retries
  start at 0.2 s and never wait more than ``RECONNECT_MAX_DELAY``.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import ConnectionPool, PostgresFactory
from eventsourcing.utils import Environment
from psycopg_pool.base import AttemptWithBackoff

from bootstrap.pg_recorder import ArrayInsertRecorder

RECONNECT_MAX_DELAY = 1.0  # seconds between two attempts to reconnect after an outage


class _QuickRetry(AttemptWithBackoff):
    """psycopg_pool's reconnection backoff, started small and capped."""

    INITIAL_DELAY = 0.2
    DELAY_BACKOFF = 1.5

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_MAX_DELAY)


class RecoveringPool(ConnectionPool[Any]):
    """The library's pool, reconnecting with :class:`_QuickRetry` after an outage."""

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        if attempt is None:
            attempt = _QuickRetry(timeout=self.reconnect_timeout)
        super()._add_connection(attempt, growing=growing)


class Factory(PostgresFactory):
    """The PostgreSQL infrastructure of a casetrail process (desk, views, relay)."""

    application_recorder_class = ArrayInsertRecorder
    POSTGRES_STATEMENT_TIMEOUT_MS = "POSTGRES_STATEMENT_TIMEOUT_MS"
    POSTGRES_LOCK_TIMEOUT_MS = "POSTGRES_LOCK_TIMEOUT_MS"
    POSTGRES_LIBPQ_CONNECT_TIMEOUT = "POSTGRES_LIBPQ_CONNECT_TIMEOUT"

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        # Not opened yet (the datastore opens it on first use): the class may still change.
        pool.__class__ = RecoveringPool
        kwargs = pool.kwargs
        if not isinstance(kwargs, dict):
            raise TypeError("the datastore's pool must have plain connection arguments")
        options = []
        for key, name in (
            (self.POSTGRES_STATEMENT_TIMEOUT_MS, "statement_timeout"),
            (self.POSTGRES_LOCK_TIMEOUT_MS, "lock_timeout"),
        ):
            value = self.env.get(key)
            if value:
                options.append(f"-c {name}={int(value)}")
        if options:
            kwargs["options"] = " ".join(options)
        connect = self.env.get(self.POSTGRES_LIBPQ_CONNECT_TIMEOUT)
        if connect:
            kwargs["connect_timeout"] = int(connect)
