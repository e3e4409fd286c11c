"""The SLA clock worker escalates a grade-A key account's complaint at its lane's earlier
threshold while an ordinary complaint received at the same instant waits (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.settings import Settings
from tests.factories import bj, receive
from tests.integration.test_sla_clock import (
    RECEIVED,
    World,
    at,
    make_world,
    settings,  # noqa: F401  (the fixture: a SQLite and a PostgreSQL store)
    sla_steps,
)
from tests.unit.test_key_accounts import key_customer


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:  # noqa: F811
    w = make_world(settings)
    yield w
    w.desk.close()


def test_the_clock_escalates_the_a_lane_at_half_its_department_reply_budget(
    world: World,
) -> None:
    w = world
    at(RECEIVED, w.clock)  # Mon 2026-10-12 09:00
    a_ticket = receive(w.desk, customer_id=key_customer(w.desk).id, occurred_at=RECEIVED)
    plain = receive(
        w.desk,
        customer_id=key_customer(w.desk, grade="none", manager=None).id,
        occurred_at=RECEIVED,
    )

    # A lane department_reply: 3 working days = 22.5 h, level 1 at 50 % = 11.25 h:
    # Mon 09:00-12:00, 13:30-18:00 (7.5 h) + Tue 09:00-12:00 (3 h) + 0.75 h = Tue 10-13 14:15.
    w.sla.run_until(bj(2026, 10, 13, 14, 15))

    a_reply = [s for s in sla_steps(w.desk, a_ticket) if s[1] == "department_reply"]
    assert [(n, d, o) for n, _, d, o, _ in a_reply if n == "Escalated"] == [
        ("Escalated", 1, bj(2026, 10, 13, 14, 15))
    ]
    # Ordinary complaint v1: level 1 at 80 % of 5 working days = 30 h: not before Fri 09:00.
    plain_reply = [s for s in sla_steps(w.desk, plain) if s[1] == "department_reply"]
    assert [s for s in plain_reply if s[0] == "Escalated"] == []
