"""Database faults under a running ``casetrail serve``: clear 503s, a health check that answers,
and recovery without a restart.

The server runs with its in-process workers (projector, SLA clock, callbacks) on PostgreSQL
reached through a TCP proxy the test can cut: connections refused, as when the server is
down or the network is. Other scenarios: a table lock held elsewhere, every connection
terminated by the server, the database dropped and made again, a worker thread that dies.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from bootstrap import build_desk, build_followers
from config.settings import Settings
from tests.e2e.test_api import CALLER
from tests.proxy import CuttableProxy

pytestmark = pytest.mark.postgres

V1 = "/api/v1"
AGENT = {"Authorization": "Bearer demo-agent-service-center"}


def _until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} not within {seconds} s"
        time.sleep(0.02)


def _intake(client: TestClient) -> Any:
    return client.post(f"{V1}/tickets", json=CALLER, headers=AGENT)


def _accepted(client: TestClient, seconds: float, what: str) -> Any:
    """The first intake accepted (201) within ``seconds``."""
    return _until(lambda: (r := _intake(client)).status_code == 201 and r, seconds, what)


def _in_views(client: TestClient, ticket_id: str) -> bool:
    found = client.get(f"{V1}/sla/deadlines", params={"ticket_id": ticket_id}, headers=AGENT)
    return found.status_code == 200 and bool(found.json()["rows"])


@pytest.fixture
def database(pg_server: str) -> Iterator[str]:
    name = f"casetrail_fault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def proxy() -> Iterator[CuttableProxy]:
    proxy = CuttableProxy(("127.0.0.1", 5432))
    yield proxy
    proxy.close()


def _serve(url: str, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(database_url=url, **settings), workers=True))


def test_an_outage_gives_503s_then_service_again_within_two_seconds(
    database: str, proxy: CuttableProxy
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}"
    with _serve(url) as client:
        first = _intake(client)
        assert first.status_code == 201
        _until(lambda: _in_views(client, first.json()["id"]), 10, "the first ticket in the views")

        proxy.cut()
        refused = _intake(client)
        assert refused.status_code == 503
        assert refused.json()["code"] == "database_unavailable"
        assert refused.headers["Retry-After"] == "2"
        # While it is down, every request is told so at once (the gate), reads too.
        worklist = client.get(f"{V1}/worklists", headers=AGENT)
        assert (worklist.status_code, worklist.json()["code"]) == (503, "database_unavailable")
        health = client.get(f"{V1}/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        assert health.json()["database"]["state"] == "down"

        proxy.restore()
        second = _accepted(client, 2.0, "an intake after the database came back")
        _until(lambda: _in_views(client, second.json()["id"]), 10, "the views moving again")
        healthy = client.get(f"{V1}/health").json()
        assert healthy["status"] == "ok", healthy
        assert healthy["database"]["state"] == "up"


def test_a_table_lock_held_elsewhere_gives_503_busy_not_a_hang(database: str, pg_server: str):
    url = f"{pg_server}/{database}"
    with _serve(url, postgres_lock_timeout_ms=300) as client:
        assert _intake(client).status_code == 201
        with psycopg.connect(url) as locker:
            events = client.app.state.runtime.desk.recorder.events_table_name  # type: ignore[attr-defined]
            locker.execute(f'LOCK TABLE "{events}" IN ACCESS EXCLUSIVE MODE')
            blocked = _intake(client)
            assert blocked.status_code == 503
            assert blocked.json()["code"] == "database_busy"
        # The lock is gone with its transaction: intakes go through again.
        assert _intake(client).status_code == 201


def test_terminated_connections_are_replaced_and_the_workers_go_on(
    database: str, pg_server: str
) -> None:
    url = f"{pg_server}/{database}"
    with _serve(url) as client:
        assert _intake(client).status_code == 201
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert killed is not None
        assert killed[0] > 0
        after = _accepted(client, 5, "an intake after")
        _until(lambda: _in_views(client, after.json()["id"]), 10, "the views after the sweep")
        # A worker that met a dead connection was restarted, and runs.
        _until(
            lambda: (
                {w["state"] for w in client.get(f"{V1}/health").json()["workers"].values()}
                == {"running"}
            ),
            5,
            "every worker running",
        )


def test_a_database_made_anew_answers_schema_missing_until_its_tables_exist(
    database: str, pg_server: str
) -> None:
    url = f"{pg_server}/{database}"
    with _serve(url) as client:
        assert _intake(client).status_code == 201
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{database}"')
        missing = _until(
            lambda: (r := _intake(client)).status_code == 503 and r, 5, "a 503 for the new db"
        )
        assert missing.json()["code"] == "schema_missing"
        assert "tables are missing" in missing.json()["message"]
        # Another casetrail process starting on it (any command) creates the tables again.
        settings = Settings(database_url=url)
        build_desk(settings).close()
        build_followers(settings)
        again = _accepted(client, 2.0, "an intake again")
        # The projector took the new, empty views' positions: the new ticket reaches them.
        _until(lambda: _in_views(client, again.json()["id"]), 10, "the new store's views")


def test_a_worker_thread_that_dies_is_restarted(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    with _serve(url) as client:
        workers = client.app.state.runtime.workers  # type: ignore[attr-defined]
        wakeup = workers.projector.wakeup  # waited on by the projector's loop alone
        wait = wakeup.wait
        failures = [RuntimeError("the projector's loop died")]

        def dying(timeout: float | None = None) -> bool:
            if failures:
                raise failures.pop()
            return bool(wait(timeout))

        wakeup.wait = dying
        wakeup.set()
        projector = _until(
            lambda: (
                (w := client.get(f"{V1}/health").json()["workers"]["projector"])["restarts"]
                and w["state"] == "running"
                and w
            ),
            10,
            "the projector restarted",
        )
        assert projector["last_error"] == "RuntimeError: the projector's loop died"
        ticket = _intake(client).json()
        _until(lambda: _in_views(client, ticket["id"]), 10, "the restarted projector folding")
