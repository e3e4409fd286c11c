"""The live stream says what pages show moved, never that someone read.

Every unmasked read of personal data is recorded as an access event (``api/privacy.py``); a
stream that announced those woke every open page, whose re-read recorded another. Here a real
server (``tests.e2e.test_stream.Live``, no workers: the test folds the views with
``runtime.catch_up``) streams to httpx while a ticket is read and acted on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from api.routes.stream import WATCH_MAX
from tests.e2e.test_api import CALLER
from tests.e2e.test_stream import AGENT, AUDITOR, Live, Opened, bearer, wait_for


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("moves") / "casetrail.sqlite"
    with Live(database, uvicorn.Server, log_level="warning", timeout_graceful_shutdown=2) as s:
        yield s


@contextmanager
def watching(live: Live, *ids: str) -> Iterator[Opened]:
    params = {"ticket": live.ticket(), "watch": list(ids)}
    with live.client.stream("GET", "/stream", params=params) as r:
        assert r.status_code == 200
        yield Opened(r)


def intake(live: Live) -> dict[str, Any]:
    r = live.client.post("/tickets", json=CALLER, headers=bearer(AGENT))
    assert r.status_code == 201, r.text
    return dict(r.json())


def access_count(live: Live, ticket_id: str) -> int:
    r = live.client.get("/audit/access", params={"subject_id": ticket_id}, headers=bearer(AUDITOR))
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


def looked_twice(live: Live) -> None:
    """Wait until the stream has polled twice more: it has seen everything before this call."""
    watch = live.app.state.log_watch
    polls = watch.polls
    wait_for(lambda: watch.polls >= polls + 2)


def test_a_read_is_not_news_and_a_fact_is(live: Live) -> None:
    ticket = intake(live)
    ident = ticket["id"]
    live.runtime.catch_up()
    with watching(live, ident) as stream:
        first = stream.first_progress()
        assert first["versions"] == {ident: ticket["version"]}
        assert set(first["views"].values()) == {first["head"]}

        # An unmasked read: recorded as an access event, which every view then passes.
        seen = live.client.get(f"/tickets/{ident}", headers=bearer(AGENT)).json()
        assert seen["contact_masked"] is False
        assert access_count(live, ident) == 1
        live.runtime.catch_up()
        looked_twice(live)

        # The next message is the next fact's, not the read's: its views have not moved.
        r = live.client.post(f"/tickets/{ident}/verify", json={}, headers=bearer(AGENT))
        assert r.status_code == 200, r.text
        after = stream.first_progress()
        assert after["versions"] == {ident: ticket["version"] + 1}
        assert after["views"] == first["views"]
        assert after["head"] > first["head"]

        # Once the views fold it, they move to it; the ticket did not move again.
        live.runtime.catch_up()
        folded = stream.first_progress()
        assert folded["versions"] == {}
        assert set(folded["views"].values()) == {after["head"]}


def test_only_watched_aggregates_have_versions(live: Live) -> None:
    mine, theirs = intake(live), intake(live)
    with watching(live, mine["id"]) as stream:
        assert stream.first_progress()["versions"] == {mine["id"]: mine["version"]}
        r = live.client.post(f"/tickets/{theirs['id']}/verify", json={}, headers=bearer(AGENT))
        assert r.status_code == 200
        live.runtime.catch_up()
        moved = stream.first_progress()  # the views moved; the watched ticket did not
        assert moved["versions"] == {}
    with watching(live) as unwatched:
        assert unwatched.first_progress()["versions"] == {}


def test_watch_takes_ids_and_a_bounded_number_of_them(live: Live) -> None:
    too_many = [f"00000000-0000-0000-0000-{i:012d}" for i in range(WATCH_MAX + 1)]
    for watch in (["not-an-id"], too_many):
        r = live.client.get("/stream", params={"ticket": live.ticket(), "watch": watch})
        assert (r.status_code, r.json()["code"]) == (422, "invalid_input"), watch
    # An id that is no ticket (or an access log) has no version to tell.
    with watching(live, "00000000-0000-0000-0000-000000000001") as stream:
        assert stream.first_progress()["versions"] == {}
    wait_for(lambda: live.open_count("agent.li.na") == 0)
