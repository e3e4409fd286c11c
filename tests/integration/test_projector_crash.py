"""SIGKILL mid-rebuild changes no live view; a projector killed mid-catch-up resumes to views
equal to a clean rebuild.

100k+ events in a fresh PostgreSQL database; the rebuild and the catch-ups run as real
`casetrail` processes killed at random points. A rebuild builds beside the live views and
swaps at the end, so a killed one leaves them as they were; catch-ups resume from the
tracked positions.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootstrap import build_followers
from config.settings import Settings
from projections.core import digest_rows
from tests.factories import FakeClock, bulk_complaints, make_desk

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TICKETS = 17_000  # six events each: 102,000 events
MAX_KILLS = 8


def _cli(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CASETRAIL_DATABASE_URL": settings.database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "projections", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _digests(settings: Settings) -> dict[str, tuple[int, str]]:
    out = {}
    for f in build_followers(settings):
        for table in f.projection.tables:
            out[table.name] = digest_rows(table, f.store.dump(table))
    return out


def _positions(settings: Settings) -> list[int]:
    return [f.position for f in build_followers(settings)]


def test_a_killed_rebuild_leaves_the_views_and_killed_catch_ups_resume_to_a_clean_one(
    fresh_pg_url: str,
) -> None:
    settings = Settings(database_url=fresh_pg_url)
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    written = bulk_complaints(desk, FakeClock(), TICKETS)
    head = desk.recorder.max_notification_id()
    assert written >= 100_000
    assert head == written

    rng = random.Random(95598)
    proc = _cli(settings, "rebuild", "--batch-size", "500")
    time.sleep(rng.uniform(1.5, 4.0))
    assert proc.poll() is None, "the rebuild finished before it could be killed; make it bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert set(_positions(settings)) == {0}  # the live views never saw the killed rebuild
    proc = _cli(settings, "catch-up", "--batch-size", "500")
    kills = 1
    # Kill resumed catch-ups at random points.
    while True:
        deadline = time.monotonic() + rng.uniform(1.5, 4.0)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        if proc.poll() is not None or kills == MAX_KILLS:
            # Bounded: on a slow or busy machine each life gets less done, and the test must
            # still end. After MAX_KILLS the last resumed process runs to the end.
            assert proc.wait(timeout=900) == 0, proc.stderr.read().decode() if proc.stderr else ""
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        positions = _positions(settings)
        assert all(0 <= p <= head for p in positions)
        proc = _cli(settings, "catch-up", "--batch-size", "500")
    assert kills >= 2, "the catch-up finished before it could be killed; make it bigger"
    assert _positions(settings) == [head] * len(_positions(settings))
    resumed = _digests(settings)

    clean = _cli(settings, "rebuild", "--batch-size", "2000")
    assert clean.wait(timeout=600) == 0
    assert _digests(settings) == resumed
    desk.close()
