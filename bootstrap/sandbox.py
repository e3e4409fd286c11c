"""An auditor's sandbox: every view rebuilt as the system knew it at a past instant, apart.

``casetrail audit replay --as-known-at T`` replays the events *recorded* up to ``T`` (the
recording axis: what was known then, not what had happened) through the ordinary projector
(:class:`workers.projector.Projector` over :class:`workers.known_at.KnownAt`) into views of
their own, never beside or instead of the live ones:

- PostgreSQL: the schema ``audit_<name>`` of the same database (its own tracking table too;
  the views' statements find their tables through the connection's ``search_path``);
- SQLite: the file ``<store>.audit-<name>.sqlite`` next to the store's file.

Every view reads there as it reads live (``casetrail report departments --sandbox <name>``,
or any SQL client on that schema or file). The table ``audit_sandbox`` in it says what it
holds: the horizon, the log's head when it was built, the events replayed. A sandbox whose
replay did not finish is dropped; one without that row (the process was killed) is listed as
incomplete. The live store is only read.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bootstrap import build_desk, build_followers, build_projections, schema_lock, system_clock
from bootstrap.pg_factory import Factory
from config.settings import Settings
from projections.core import Projection
from workers.known_at import KnownAt
from workers.projector import Follower, Projector

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
SCHEMA_PREFIX = "audit_"
FILE_INFIX = ".audit-"
INFO_TABLE = "audit_sandbox"


class SandboxError(Exception):
    """A sandbox that cannot be made, found or named as asked; nothing was changed."""


class SandboxFactory(Factory):
    """The PostgreSQL factory of a sandbox's views: its schema first on the search path.

    The library qualifies its own tables with ``POSTGRES_SCHEMA``; the view stores name theirs
    unqualified, so every connection of this datastore looks them up in that schema.
    """

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        kwargs = self.datastore.pool.kwargs
        if not isinstance(kwargs, dict):  # the parent checked it; say so to the type checker
            raise TypeError("the datastore's pool must have plain connection arguments")
        schema = self.datastore.schema
        options = kwargs.get("options", "")
        kwargs["options"] = f"{options} -c search_path={schema}".strip()


@dataclass(frozen=True)
class Sandbox:
    """One sandbox: its name, where it lives, and what it holds (None: incomplete)."""

    name: str
    where: str
    horizon: datetime | None = None
    head: int | None = None
    events: int | None = None
    built_at: datetime | None = None
    seconds: float | None = None

    @property
    def complete(self) -> bool:
        return self.horizon is not None


@dataclass(frozen=True)
class Replayed:
    """A finished replay: the sandbox, the log read and what it cost."""

    sandbox: Sandbox
    read: int  # notifications looked at (up to the head)
    events: int  # of which recorded by the horizon, folded
    left_out: int  # recorded after the horizon
    seconds: float


def check_name(name: str) -> str:
    """``name`` if it can name a schema and a file as it is; else :class:`SandboxError`."""
    if not NAME.fullmatch(name):
        raise SandboxError(
            f"{name!r} cannot name a sandbox: lower-case letters, digits and _, "
            "starting with a letter, at most 40"
        )
    return name


def default_name(horizon: datetime, settings: Settings) -> str:
    """``asof_20261016t1200``: the horizon in local time, to the minute."""
    return "asof_" + horizon.astimezone(settings.tz).strftime("%Y%m%dt%H%M")


def schema_of(name: str) -> str:
    return SCHEMA_PREFIX + check_name(name)


def file_of(settings: Settings, name: str) -> Path:
    store = settings.sqlite_path
    return store.with_name(f"{store.stem}{FILE_INFIX}{check_name(name)}.sqlite")


def where(settings: Settings, name: str) -> str:
    """Where the sandbox lives, as a reader finds it."""
    if settings.backend == "sqlite":
        return str(file_of(settings, name))
    return f"schema {schema_of(name)} of {settings.eventsourcing_env()['POSTGRES_DBNAME']}"


def sandbox_env(settings: Settings, name: str) -> dict[str, str]:
    """The library's environment for a sandbox's view datastore."""
    env = settings.eventsourcing_env()
    if settings.backend == "sqlite":
        env["SQLITE_DBNAME"] = str(file_of(settings, name))
        return env
    env.update(
        POSTGRES_SCHEMA=schema_of(name),
        PERSISTENCE_MODULE=f"{__name__}:SandboxFactory",
        POSTGRES_POOL_SIZE="2",
        POSTGRES_MAX_OVERFLOW="2",
    )
    return env


def exists(settings: Settings, name: str) -> bool:
    if settings.backend == "sqlite":
        return file_of(settings, name).exists()
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema_of(name),)
        ).fetchone()
    return found is not None


def sandbox_followers(
    settings: Settings, name: str, projections: list[Projection] | None = None
) -> list[Follower]:
    """The sandbox's view stores (every view, or ``projections``); it must exist."""
    if not exists(settings, name):
        raise SandboxError(f"no sandbox {name!r} ({where(settings, name)})")
    return build_followers(settings, projections, env=sandbox_env(settings, name))


def read(settings: Settings, name: str) -> Sandbox:
    """The sandbox ``name`` as its info row describes it; :class:`SandboxError` if none."""
    if not exists(settings, name):
        raise SandboxError(f"no sandbox {name!r} ({where(settings, name)})")
    return _info(settings, name)


def listed(settings: Settings) -> list[Sandbox]:
    """Every sandbox of the configured store, by name."""
    if settings.backend == "sqlite":
        store = settings.sqlite_path
        prefix = f"{store.stem}{FILE_INFIX}"
        names = [
            p.name.removeprefix(prefix).removesuffix(".sqlite")
            for p in store.parent.glob(f"{prefix}*.sqlite")
        ]
    else:
        with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                (SCHEMA_PREFIX,),
            ).fetchall()
        names = [row[0].removeprefix(SCHEMA_PREFIX) for row in rows]
    return [_info(settings, n) for n in sorted(names) if NAME.fullmatch(n)]


def drop(settings: Settings, name: str) -> bool:
    """Remove the sandbox (schema and all in it, or its file); False when there was none."""
    if settings.backend == "sqlite":
        path = file_of(settings, name)
        found = path.exists()
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
            leftover.unlink(missing_ok=True)
        return found
    found = exists(settings, name)
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema_of(name)))
        )
    return found


def replay(
    settings: Settings,
    name: str,
    horizon: datetime,
    *,
    batch_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> Replayed:
    """Build the sandbox ``name``: every view from the events recorded up to ``horizon``.

    ``progress(read_to, head)`` is called after each batch. Refused (:class:`SandboxError`)
    when the sandbox exists; a replay that fails, or is interrupted, drops what it built.
    """
    if exists(settings, name):
        raise SandboxError(
            f"sandbox {name!r} exists ({where(settings, name)}): drop it first "
            f"(casetrail audit replay --drop {name}) or choose another name"
        )
    desk = build_desk(settings)
    try:
        log = KnownAt(desk, horizon)
        _create(settings, name)
        try:
            followers = build_followers(
                settings, build_projections(settings), env=sandbox_env(settings, name)
            )
            started = time.monotonic()
            projector = Projector(log, followers, batch_size=batch_size)
            projector.catch_up(
                progress=None if progress is None else lambda _: progress(log.read_to, log.head)
            )
            seconds = time.monotonic() - started
            stopped = [f.failed for f in followers if f.failed is not None]
            if stopped:
                first = stopped[0]
                raise SandboxError(
                    f"{first.view} stopped at event {first.notification_id} ({first.event} of "
                    f"{first.originator_id} v{first.originator_version}): {first.error}"
                )
            sandbox = Sandbox(
                name,
                where(settings, name),
                horizon,
                log.head,
                log.kept,
                system_clock(),
                round(seconds, 3),
            )
            _write_info(settings, sandbox)
        except BaseException:
            drop(settings, name)
            raise
    finally:
        desk.close()
    return Replayed(sandbox, log.read_to, log.kept, log.left_out, seconds)


# ------------------------------------------------------------------ the sandbox's info row


def _create(settings: Settings, name: str) -> None:
    if settings.backend == "sqlite":
        file_of(settings, name).parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(file_of(settings, name))) as lite, lite:
            lite.execute(_INFO_DDL)
        return
    with schema_lock(settings), psycopg.connect(settings.postgres_conninfo) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema_of(name))))
        conn.execute(_qualified(name, _INFO_DDL))


_INFO_DDL = (
    f'CREATE TABLE IF NOT EXISTS "{INFO_TABLE}" (name TEXT PRIMARY KEY, horizon TEXT NOT NULL, '
    "head BIGINT NOT NULL, events BIGINT NOT NULL, built_at TEXT NOT NULL, seconds REAL)"
)


def _qualified(name: str, statement: str) -> str:
    """``statement`` on the sandbox's info table, qualified with its schema (PostgreSQL; the
    schema's name is checked to be plain letters, digits and _)."""
    return statement.replace(f'"{INFO_TABLE}"', f'"{schema_of(name)}"."{INFO_TABLE}"')


def _write_info(settings: Settings, sandbox: Sandbox) -> None:
    assert sandbox.horizon is not None
    assert sandbox.built_at is not None
    values = (
        sandbox.name,
        sandbox.horizon.astimezone(UTC).isoformat(),
        sandbox.head,
        sandbox.events,
        sandbox.built_at.astimezone(UTC).isoformat(),
        sandbox.seconds,
    )
    statement = f'INSERT INTO "{INFO_TABLE}" VALUES (?, ?, ?, ?, ?, ?)'
    if settings.backend == "sqlite":
        with closing(sqlite3.connect(file_of(settings, sandbox.name))) as lite, lite:
            lite.execute(statement, values)
        return
    with psycopg.connect(settings.postgres_conninfo) as conn:
        conn.execute(_qualified(sandbox.name, statement.replace("?", "%s")), values)


def _info(settings: Settings, name: str) -> Sandbox:
    statement = f'SELECT horizon, head, events, built_at, seconds FROM "{INFO_TABLE}"'
    row: Any = None
    try:
        if settings.backend == "sqlite":
            with closing(sqlite3.connect(file_of(settings, name))) as lite:
                row = lite.execute(statement).fetchone()
        else:
            with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
                row = conn.execute(_qualified(name, statement)).fetchone()
    except (sqlite3.Error, psycopg.Error):
        row = None  # no info table: a replay that never finished
    if row is None:
        return Sandbox(name, where(settings, name))
    horizon, head, events, built_at, seconds = row
    return Sandbox(
        name,
        where(settings, name),
        datetime.fromisoformat(horizon),
        int(head),
        int(events),
        datetime.fromisoformat(built_at),
        None if seconds is None else float(seconds),
    )
