"""GET /api/v1/audit/chain: a ticket's hash chain re-checked now, and the store's last check.

Given a ticket, the answer is ``intact`` until ``audit verify`` has checked the store past the
ticket's last event, then ``verified`` with that position and time; a row of the ticket altered
in the database makes it ``broken``, naming the position, version and rule. Auditors, admins and
supervisors may read it; agents may not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from bootstrap.chain_store import chain_of, verify
from config.settings import Settings
from domain.desk import Desk
from tests.factories import FakeClock, act, make_desk, receive

V1 = "/api/v1"
AUDITOR = {"Authorization": "Bearer demo-auditor-token"}
SUPERVISOR = {"Authorization": "Bearer demo-supervisor-marketing"}
AGENT = {"Authorization": "Bearer demo-agent-service-center"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Desk, Path]]:
    path = tmp_path / "api.sqlite"
    settings = Settings(database_url=f"sqlite:///{path}")
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    with TestClient(create_app(settings, desk=desk, workers=False)) as client:
        yield client, desk, path
    desk.close()


def test_a_tickets_chain_is_intact_then_verified_up_to_the_stores_last_check(
    served: tuple[TestClient, Desk, Path],
) -> None:
    client, desk, _ = served
    t = receive(desk)
    act(desk, t, "verify")
    r = client.get(f"{V1}/audit/chain", params={"ticket": str(t.id)}, headers=AUDITOR)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "intact"
    assert body["ticket"]["ok"] is True
    assert body["store"]["last_verification"] is None
    check = verify(chain_of(desk.recorder))
    body = client.get(f"{V1}/audit/chain", params={"ticket": str(t.id)}, headers=SUPERVISOR).json()
    assert body["status"] == "verified"
    last = body["store"]["last_verification"]
    assert (last["ok"], last["position"]) == (True, check.position)
    assert last["verified_at"].endswith("+08:00")  # in the hotline's zone, like every time
    assert body["ticket"]["last_position"] <= last["position"]


def test_an_altered_row_of_the_ticket_makes_it_broken_naming_where(
    served: tuple[TestClient, Desk, Path],
) -> None:
    client, desk, path = served
    t = receive(desk)
    act(desk, t, "verify")
    position = chain_of(desk.recorder).aggregate_rows(t.id)[1][0][0]
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(
            "UPDATE stored_events SET state = CAST(state || x'20' AS BLOB) WHERE rowid = ?",
            (position,),
        )
    body = client.get(f"{V1}/audit/chain", params={"ticket": str(t.id)}, headers=AUDITOR).json()
    assert body["status"] == "broken"
    brk = body["ticket"]["first_break"]
    assert (brk["position"], brk["version"], brk["rule"]) == (position, 2, "altered")


def test_agents_may_not_read_the_chain_and_an_unknown_ticket_is_not_found(
    served: tuple[TestClient, Desk, Path],
) -> None:
    client, desk, _ = served
    t = receive(desk)
    r = client.get(f"{V1}/audit/chain", params={"ticket": str(t.id)}, headers=AGENT)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = client.get(
        f"{V1}/audit/chain",
        params={"ticket": "00000000-0000-0000-0000-000000000001"},
        headers=AUDITOR,
    )
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
