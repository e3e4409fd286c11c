"""The API over a SQLite store, as the end-to-end tests of several files drive it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from tests.e2e.test_api import Api
from tests.factories import FakeClock, make_desk


@pytest.fixture
def api(clock: FakeClock, tmp_path: Path) -> Iterator[Api]:
    """The app (no workers) on a fresh SQLite file, its desk on the test's clock."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.sqlite'}")
    desk = make_desk(clock, env=settings.eventsourcing_env())
    with TestClient(create_app(settings, desk=desk, workers=False)) as client:
        yield Api(client, clock)
    desk.close()
