"""Which errors are the database's trouble (retry later) and which are an event's (stop a view).

A worker that meets an error must tell the two apart. A lost connection, a timeout, a server
that is restarting or a table that is missing after the database was re-created will pass by
themselves (or after a restart of the worker): retry with backoff and blame nothing. A value
the store cannot hold (a NUL in a JSON text, an instant past year 9999) or a fold that raises
will fail the same way on every try: that stops the one view it concerns (see
:mod:`workers.projector`), and the others go on.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import psycopg.errors
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout

# Errors that say "the database (or the way to it) is not there right now".
_TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,  # eventsourcing's wrapper of psycopg's and sqlite3's
    InterfaceError,
    psycopg.OperationalError,  # includes query_canceled (statement timeout), lock_not_available
    psycopg.InterfaceError,
    PoolTimeout,
    sqlite3.OperationalError,
    ConnectionError,
    TimeoutError,
)
# Tables gone: the database was dropped and re-created, or a view's tables were dropped
# under a running worker. A worker built anew creates them again.
_MISSING = (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction)
_MISSING_TEXT = ("does not exist", "no such table")


def is_transient(error: BaseException) -> bool:
    """True for an error of the infrastructure, which a later retry may not meet again."""
    seen: BaseException | None = error
    depth = 0
    while seen is not None and depth < 10:
        if isinstance(seen, _TRANSIENT + _MISSING):
            return True
        if type(seen).__name__ == "ProgrammingError" and any(
            text in str(seen) for text in _MISSING_TEXT
        ):
            return True  # eventsourcing's wrapper of UndefinedTable
        seen = seen.__cause__ or seen.__context__
        depth += 1
    return False


def retry_after(log: Any, message: str, error: BaseException) -> float:
    """Log a failed pass of a worker loop; seconds to wait before the next one.

    The database's trouble: one line, and try again in a second. Anything else may be a bug:
    the traceback, and five seconds.
    """
    if is_transient(error):
        log.warning(message, error=error_text(error)[:300], database=True)
        return 1.0
    log.exception(message)
    return 5.0


MAX_ERROR_TEXT = 2000  # of an error's text kept in a failure record or a log line


def error_text(error: BaseException) -> str:
    """``Type: message`` of an error, without the data it quotes.

    PostgreSQL's messages end with a CONTEXT quoting the offending value (a customer's own
    words, say): that stays out of logs and failure records.
    """
    lines = []
    for line in str(error).splitlines():
        if line.startswith(("CONTEXT:", "unnamed portal parameter")):
            break
        lines.append(line.strip())
    return f"{type(error).__name__}: {' '.join(lines)}"[:MAX_ERROR_TEXT]
