"""An Idempotency-Key stays bound to its first request across restarts and racing processes.

Each test runs the API (``create_app``, no workers) on the embedded SQLite file and on a real
PostgreSQL database of its own. A "restart" is a second app built from the same settings
after the first has shut down; a "second process" is a second app on the same database
running at the same time. Tokens are the demo users of ``config/data/users.toml``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from tests.e2e.test_api import CALLER, V1, who

OTHER_CALLER = {**CALLER, "content": "另一位客户：抄表数据有误，要求重新核对电费"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for an empty store on each backend."""
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'keys.sqlite'}")
    return Settings(database_url=request.getfixturevalue("fresh_pg_url"))


class Processes:
    """API processes on one store, started and stopped by a test; all stopped at its end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: list[TestClient] = []

    def start(self) -> TestClient:
        client = TestClient(create_app(self.settings, workers=False))
        client.__enter__()
        self.running.append(client)
        return client

    def stop(self, client: TestClient) -> None:
        """The process ends: its memory of keys with it."""
        self.running.remove(client)
        client.__exit__(None, None, None)


@pytest.fixture
def processes(settings: Settings) -> Iterator[Processes]:
    started = Processes(settings)
    yield started
    for client in reversed(started.running):
        started.stop(client)


def intake(client: TestClient, key: str, body: dict[str, Any]) -> Any:
    return client.post(f"{V1}/tickets", json=body, headers=who("front", **{"Idempotency-Key": key}))


class HeldUntilBoth:
    """A process's memory of keys whose first use waits until the other process's first use."""

    def __init__(self, memory: Any, barrier: threading.Barrier) -> None:
        self.memory = memory
        self.barrier = barrier
        self.held = True

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.memory, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.held:
                self.held = False
                self.barrier.wait(timeout=30)  # a guard against a deadlock, not a timing
            return method(*args, **kwargs)

        return call


def content(client: TestClient, ticket_id: str) -> str:
    return str(client.get(f"{V1}/tickets/{ticket_id}", headers=who("front")).json()["content"])


def events(client: TestClient) -> int:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return int(runtime.desk.recorder.max_notification_id() or 0)


def first_intake_then_restart(processes: Processes, key: str) -> tuple[Any, TestClient]:
    """An intake with ``key`` on a process that then stops; the answer and a new process."""
    before = processes.start()
    first = intake(before, key, CALLER)
    assert first.status_code == 201, first.text
    processes.stop(before)
    return first, processes.start()


def test_a_key_reused_for_another_body_after_a_restart_is_refused(processes: Processes) -> None:
    first, after = first_intake_then_restart(processes, "call-7001")
    head = events(after)
    reused = intake(after, "call-7001", OTHER_CALLER)
    assert reused.status_code == 422, reused.text
    assert reused.json() == {
        "code": "idempotency_key_reused",
        "message": "Idempotency-Key 'call-7001' was already used for a different request",
    }
    assert events(after) == head
    assert content(after, first.json()["id"]) == CALLER["content"]


def test_the_same_body_after_a_restart_gets_the_first_ticket(processes: Processes) -> None:
    first, after = first_intake_then_restart(processes, "call-7002")
    head = events(after)
    again = intake(after, "call-7002", CALLER)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.content == first.content
    assert events(after) == head  # no second ticket


def test_two_requests_racing_with_one_key_and_different_bodies_one_wins(
    processes: Processes,
) -> None:
    # Two API processes on one database, each with its own memory of keys. Both requests pass
    # their process's memory before either binds the key: the database alone decides.
    clients = [processes.start(), processes.start()]
    barrier = threading.Barrier(len(clients))
    for client in clients:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        runtime.idempotency = HeldUntilBoth(runtime.idempotency, barrier)

    answers: list[Any] = [None, None]

    def send(i: int, body: dict[str, Any]) -> None:
        answers[i] = intake(clients[i], "call-7003", body)

    threads = [
        threading.Thread(target=send, args=(i, body))
        for i, body in enumerate((CALLER, OTHER_CALLER))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert sorted(a.status_code for a in answers) == [201, 422], [a.text for a in answers]
    won = next(i for i, a in enumerate(answers) if a.status_code == 201)
    lost = 1 - won
    assert answers[lost].json()["code"] == "idempotency_key_reused"
    # The winner's content is the ticket; the loser's is refused on either process, repeated.
    winner_body, loser_body = (CALLER, OTHER_CALLER) if won == 0 else (OTHER_CALLER, CALLER)
    ticket = answers[won].json()
    assert content(clients[lost], ticket["id"]) == winner_body["content"]
    for client in clients:
        assert intake(client, "call-7003", winner_body).json()["id"] == ticket["id"]
        assert intake(client, "call-7003", loser_body).status_code == 422


def test_a_keys_table_lost_with_its_database_is_made_again(processes: Processes) -> None:
    # A database made anew whose event tables another casetrail process brought back: the
    # running API serves again (api/health.py), keyed writes too, without a restart.
    client = processes.start()
    assert intake(client, "call-7004", CALLER).status_code == 201
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.idempotency.table.datastore.transaction(commit=True) as c:
        c.execute("DROP TABLE idempotency_keys")

    first = intake(client, "call-7005", CALLER)
    assert first.status_code == 201, first.text
    processes.stop(client)
    reused = intake(processes.start(), "call-7005", OTHER_CALLER)
    assert reused.json()["code"] == "idempotency_key_reused"
