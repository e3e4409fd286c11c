"""What-if from settings: the candidate catalogue loaded, the store's desk, the run.

``casetrail audit what-if`` calls :func:`what_if`: the candidate SLA policies (and, if given,
calendars; each defaults to the file the settings choose) are loaded and validated like the
live ones, the live store is read through a desk that records nothing, and the tickets of the
period are judged under both (:func:`workers.what_if.replay_period`). Running clocks are
judged as of the newest recorded time in the store unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from bootstrap import build_desk, system_clock
from bootstrap.catalogue import load_catalogue
from bootstrap.store import newest_recorded
from config.settings import Settings
from domain.sla.policy import PolicyCatalogue
from workers.what_if import WhatIfRun, replay_period


def candidate_catalogue(
    settings: Settings, policies: Path | None, calendars: Path | None
) -> PolicyCatalogue:
    """The candidate catalogue: ``policies`` over ``calendars``, each the settings' when None.

    Raises :class:`bootstrap.catalogue.CatalogueError` naming every fault of a bad file.
    """
    return load_catalogue(
        calendars or settings.data_file("calendars").path,
        policies or settings.data_file("sla_policies").path,
    )


def what_if(
    settings: Settings,
    candidate: PolicyCatalogue,
    first: date,
    last: date,
    *,
    judged_at: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[WhatIfRun, str]:
    """The what-if run over the configured store, and the store's catalogue version."""
    desk = build_desk(settings)
    try:
        at = judged_at or newest_recorded(desk) or system_clock()
        run = replay_period(desk, candidate, first, last, settings.tz, at, progress=progress)
        return run, desk.catalogue.version
    finally:
        desk.close()
