"""`projections rebuild --jobs 2` (views split over two processes) gives the same rows as one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap import build_followers
from config.settings import Settings
from projections.core import digest_rows
from tests.factories import FakeClock, bulk_complaints, make_desk

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def _rebuild(settings: Settings, *extra: str) -> dict[str, tuple[int, str]]:
    env = {**os.environ, "CASETRAIL_DATABASE_URL": settings.database_url}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "projections", "rebuild", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    # The CLI prints a failing child's traceback with the progress bar, on stdout.
    assert done.returncode == 0, (done.stdout + done.stderr).decode()[-3000:]
    return {
        t.name: digest_rows(t, f.store.dump(t))
        for f in build_followers(settings)
        for t in f.projection.tables
    }


def test_parallel_rebuild_equals_a_single_process_rebuild(fresh_pg_url: str) -> None:
    settings = Settings(database_url=fresh_pg_url)
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    bulk_complaints(desk, FakeClock(), 800)
    head = desk.recorder.max_notification_id()
    desk.close()

    single = _rebuild(settings, "--batch-size", "300")
    parallel = _rebuild(settings, "--jobs", "2", "--batch-size", "300")

    assert parallel == single
    assert single["ticket_timeline_heads"][0] == 800
    assert {f.position for f in build_followers(settings)} == {head}
