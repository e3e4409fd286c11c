"""Several casetrail processes starting at once on an empty PostgreSQL database all come up.

Given an empty database, when four processes build the desk and every view store at the same
instant (as ``rebuild --jobs``, two projectors or a worker fleet do), then each one starts and
the schema exists once. Without the schema lock PostgreSQL refuses the racing
``CREATE OR REPLACE FUNCTION`` / ``CREATE TABLE IF NOT EXISTS`` ("tuple concurrently updated").
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import psycopg
import pytest

from bootstrap import build_desk, build_followers, build_projections
from config.settings import Settings

pytestmark = pytest.mark.postgres
STARTERS = 4


def _start(url: str, barrier: Any, results: Any) -> None:
    settings = Settings(database_url=url)
    barrier.wait(timeout=60)
    try:
        desk = build_desk(settings)
        followers = build_followers(settings)
        results.put(("ok", len(followers)))
        desk.close()
    except Exception as error:  # reported to the test, which names it
        results.put(("error", f"{type(error).__name__}: {error}"))


def test_processes_starting_together_on_an_empty_database_all_come_up(
    fresh_pg_url: str,
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(STARTERS)
    results: Any = context.Queue()
    children = [
        context.Process(target=_start, args=(fresh_pg_url, barrier, results))
        for _ in range(STARTERS)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)

    assert outcomes == [("ok", len(build_projections()))] * STARTERS
    with psycopg.connect(fresh_pg_url) as conn:
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE '%insert_events%'"
        ).fetchone()
    assert functions is not None
    assert functions[0] == 1
