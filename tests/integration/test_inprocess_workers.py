"""`casetrail serve`'s workers: the views follow the desk and the SLA clock fires on time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bootstrap import build_desk, build_inprocess_workers
from config.settings import Settings
from domain import commands as c
from tests.factories import AGENT


def _wait_for(condition, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_workers_in_one_process_project_and_fire_the_breach_at_its_instant(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'serve.sqlite'}")
    desk = build_desk(settings)
    workers = build_inprocess_workers(desk, settings)
    workers.start()
    try:
        # A fault reported 45 minutes less three seconds ago: the urban arrival target (45 min)
        # falls due in three seconds, after the intake was recorded.
        occurred = datetime.now(tz=UTC) - timedelta(minutes=45) + timedelta(seconds=3)
        out = desk.handle(
            c.ReceiveTicket(
                **AGENT,
                kind="fault_repair",
                customer_name="李梅",
                category="outage",
                content="整栋楼停电",
                area="urban",
                station="station_2",
                occurred_at=occurred,
            )
        )
        due = next(r["due_at"] for r in out.extra["deadlines"] if r["milestone"] == "arrival")

        def breach():  # type: ignore[no-untyped-def]
            return [e for e in desk.history(out.id) if type(e).__name__ == "SlaBreached"]

        breached = _wait_for(breach)
        assert len(breached) == 1
        assert breached[0].meta.occurred_at == due
        late = (breached[0].timestamp - due).total_seconds()
        assert 0 <= late < 5
        # Its warnings fell due before the intake was recorded: a backfilled past, held for
        # the backfill grace (the agent may still enter what happened), not fired at once.
        warnings = [e for e in desk.history(out.id) if type(e).__name__ == "SlaWarningRaised"]
        assert warnings == []
        assert str(out.id) in workers.sla_clock.held

        worklists = next(f for f in workers.projector.followers if f.projection.name == "worklists")
        rows = _wait_for(
            lambda: [
                r
                for r in worklists.store.dump(worklists.projection.tables[0])
                if r["ticket_id"] == str(out.id)
            ]
        )
        assert rows[0]["number"] == out.number
    finally:
        workers.close()
        desk.close()
