"""The live stream over real HTTP: tickets instead of tokens in URLs, per-user limits, stops.

A uvicorn server in a thread serves ``create_app`` (no workers) on a fresh SQLite file; httpx
opens streams as a browser's ``EventSource`` would. Ticket expiry runs on a clock the tests
move (``runtime.guards.tickets.clock``); whatever the server must notice (a client gone, a
stop) is waited for with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.runtime import Runtime
from api.serving import Server, log_config, redact_query
from config.settings import Settings

V1 = "/api/v1"
AGENT = "demo-agent-service-center"  # agent.li.na
MONITOR = "demo-monitor-token"
AUDITOR = "demo-auditor-token"
LIMIT = 2


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Live:
    """A uvicorn server (``server_class``) in a thread, with the app's runtime at hand."""

    def __init__(self, database: Path, server_class: type[uvicorn.Server], **options: Any):
        settings = Settings(database_url=f"sqlite:///{database}", max_streams_per_user=LIMIT)
        self.app = create_app(settings, workers=False)
        self.url = f"http://127.0.0.1:{_free_port()}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=int(self.url.rsplit(":", 1)[1]), **options
        )
        self.server = server_class(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.client = httpx.Client(base_url=self.url + V1, timeout=10)

    def __enter__(self) -> Live:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), 30)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def ticket(self, token: str = AGENT) -> str:
        r = self.client.post("/stream/tickets", headers=bearer(token))
        assert r.status_code == 201, r.text
        return str(r.json()["ticket"])

    def open_count(self, user_id: str) -> int:
        return self.runtime.guards.streams.count(user_id)

    @contextmanager
    def stream(self, ticket: str, **headers: str) -> Iterator[Opened]:
        with self.client.stream("GET", "/stream", params={"ticket": ticket}, headers=headers) as r:
            yield Opened(r)


class Opened:
    """One open stream, read line by line through one iterator (dropping an httpx line
    iterator closes its connection: the server would see the client go)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.lines = response.iter_lines()

    def first_progress(self) -> dict[str, Any]:
        """The next ``progress`` message."""
        for line in self.lines:
            if line == "event: progress":
                data = next(self.lines)
                assert data.startswith("data: ")
                return dict(json.loads(data.removeprefix("data: ")))
        raise AssertionError("the stream ended before any progress message")

    def rest(self) -> list[str]:
        """Every line until the server ends the stream."""
        return list(self.lines)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("stream") / "casetrail.sqlite"
    with Live(database, uvicorn.Server, log_level="warning", timeout_graceful_shutdown=2) as s:
        yield s


@pytest.fixture(autouse=True)
def _no_stream_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "live" in request.fixturenames:
        live: Live = request.getfixturevalue("live")
        live.runtime.guards.tickets.clock = time.monotonic
        wait_for(lambda: live.open_count("agent.li.na") == 0)


# ------------------------------------------------------------------------ tickets


def test_a_ticket_opens_one_stream_once(live: Live) -> None:
    r = live.client.post("/stream/tickets", headers=bearer(AGENT))
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == {"ticket", "expires_in"}
    assert body["expires_in"] == 30
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["ticket"])  # 32 bytes, URL-safe base64
    with live.stream(body["ticket"]) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        progress = stream.first_progress()
        assert progress["head"] == 0
        assert "worklists" in progress["views"]
        assert live.open_count("agent.li.na") == 1
    again = live.client.get("/stream", params={"ticket": body["ticket"]})
    assert again.status_code == 401
    assert again.json()["code"] == "unauthenticated"
    assert "unknown, used or expired stream ticket" in again.json()["message"]


def test_a_ticket_expires_after_thirty_seconds(live: Live) -> None:
    now = [1000.0]
    live.runtime.guards.tickets.clock = lambda: now[0]
    early, late = live.ticket(), live.ticket()
    now[0] += 29.5
    with live.stream(early) as stream:
        assert stream.status_code == 200
    now[0] += 1.0  # 30.5 s after issue
    r = live.client.get("/stream", params={"ticket": late})
    assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")


def test_unknown_tickets_and_bearer_tokens_in_the_url_are_refused(live: Live) -> None:
    for ticket in ("not-a-ticket", AGENT, "x" * 128):
        r = live.client.get("/stream", params={"ticket": ticket})
        assert (r.status_code, r.json()["code"]) == (401, "unauthenticated"), ticket
    # The old way (?token=) no longer opens anything: the ticket is required.
    r = live.client.get("/stream", params={"token": AGENT})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_input")
    assert r.json()["errors"][0]["field"] == "ticket"
    r = live.client.get("/stream", params={"ticket": "x" * 129})
    assert r.status_code == 422


def test_a_ticket_needs_a_bearer_token_and_auditors_get_one(live: Live) -> None:
    r = live.client.post("/stream/tickets")
    assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")
    r = live.client.post("/stream/tickets", headers=bearer("no-such-token-at-all"))
    assert r.status_code == 401
    r = live.client.post("/stream/tickets", headers=bearer(AUDITOR))
    assert r.status_code == 201


def test_a_ticket_is_bound_to_the_user_who_asked(live: Live) -> None:
    # Presented together with another user's token, it is refused (and spent).
    ticket = live.ticket(AGENT)
    r = live.client.get("/stream", params={"ticket": ticket}, headers=bearer(MONITOR))
    assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")
    assert "another user" in r.json()["message"]
    assert live.client.get("/stream", params={"ticket": ticket}).status_code == 401
    # Alone, or with its own user's token, it opens a stream that counts as that user's.
    with live.stream(live.ticket(AGENT)) as one, live.stream(live.ticket(AGENT), **bearer(AGENT)):
        assert one.status_code == 200
        assert live.open_count("agent.li.na") == 2
        assert live.open_count("mon.zhao.lei") == 0


# ------------------------------------------------------------------------ limits


def test_one_stream_too_many_is_429_until_one_closes(live: Live) -> None:
    user = "agent.li.na"
    with live.stream(live.ticket()) as first:
        first.first_progress()
        with live.stream(live.ticket()) as second:
            second.first_progress()
            assert live.open_count(user) == LIMIT
            r = live.client.get("/stream", params={"ticket": live.ticket()})
            assert r.status_code == 429
            assert r.json()["code"] == "too_many_streams"
            assert int(r.headers["Retry-After"]) > 0
            # Another user is not held back by this one's streams.
            with live.stream(live.ticket(MONITOR)) as theirs:
                assert theirs.status_code == 200
        # The second client went away: its slot comes back, and a new stream opens.
        wait_for(lambda: live.open_count(user) == 1)
        with live.stream(live.ticket()) as third:
            assert third.status_code == 200
            assert third.first_progress()["head"] == 0
    wait_for(lambda: live.open_count(user) == 0)


def test_streams_end_when_the_server_stops(live: Live) -> None:
    with live.stream(live.ticket()) as stream:
        stream.first_progress()
        live.runtime.guards.stopping.set()
        try:
            ended = time.monotonic()
            rest = stream.rest()  # returns once the server ends the stream
            assert time.monotonic() - ended < 5
            assert "event: progress" not in rest
        finally:
            live.runtime.guards.stopping.clear()
    wait_for(lambda: live.open_count("agent.li.na") == 0)


# ------------------------------------------------------------------ casetrail serve


def test_redact_query_keeps_names_and_drops_values() -> None:
    assert redact_query("/api/v1/stream?ticket=abc") == "/api/v1/stream?ticket=*"
    assert redact_query("/api/v1/tickets?phone=138&flag&x=") == "/api/v1/tickets?phone=*&flag&x=*"
    assert redact_query("/api/v1/health") == "/api/v1/health"


def test_serve_stops_with_a_stream_open_and_logs_no_ticket(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The grace period is long: only the stop signal to the streams can end this one quickly.
    live = Live(
        tmp_path / "serve.sqlite", Server, log_config=log_config(), timeout_graceful_shutdown=60
    )
    with live:
        ticket = live.ticket()
        with live.stream(ticket) as stream:
            stream.first_progress()
            stopped = time.monotonic()
            live.server.should_exit = True
            stream.rest()
        live.thread.join(timeout=10)
        assert not live.thread.is_alive()
        assert time.monotonic() - stopped < 5
    out = capfd.readouterr().out
    assert '"GET /api/v1/stream?ticket=* HTTP/1.1" 200' in out
    assert '"POST /api/v1/stream/tickets HTTP/1.1" 201' in out
    assert ticket not in out
