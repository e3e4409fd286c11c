#!/usr/bin/env python
"""``casetrail audit verify`` throughput against a raw read of the same rows, in one run.

What it measures, on PostgreSQL and on SQLite:

* **the store**: the demo store of 2026-12-04 (``../shared/fixtures``, 50,840 events of a
  hotline month, states as recorded) copied and opened by casetrail — which hashes it, once,
  as it would any store made before the chain (the time is printed: the upgrade's cost). On
  PostgreSQL the same events are inserted through the desk's recorder (the chain's trigger
  hashes each), in batches; the insert rate is printed too. Without the fixture: ``--events``
  synthetic events of ~2.6 kB.
* **raw read**: the very query verification runs (position, aggregate, version, topic, state and
  the two hashes, in store order, ``--batch`` rows per select), rows fetched and nothing done.
* **verify**: :func:`bootstrap.chain_store.verify` without recording (both hashes recomputed,
  every link compared).

Rounds alternate raw read and verify (``--repeat``, median reported) so drift hits both alike.
Target: verify ≥ 0.5 × the raw read's events/s.

Run from the repository root: ``.venv/bin/python bench/audit.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import lzma
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from eventsourcing.persistence import StoredEvent  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import fresh_pg_database  # noqa: E402
from bootstrap import build_desk  # noqa: E402
from bootstrap.chain_store import ChainStore, chain_of, verify  # noqa: E402
from config.settings import Settings  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "demo-store-2026-12-04.sqlite.xz"
TARGET = 0.5


def raw_read(chain: ChainStore, batch: int) -> int:
    """Every row, in store order, by the verification's own query; nothing done with them."""
    stop, _ = chain.head()
    after, count = 0, 0
    while True:
        rows = chain.rows(after, batch, stop)
        if not rows:
            return count
        count += len(rows)
        after = rows[-1][0]


def checked(chain: ChainStore, batch: int) -> int:
    check = verify(chain, batch=batch, record=False)
    if not check.ok:
        raise SystemExit(f"the bench store does not verify: {check.first}")
    return check.checked


def rounds(
    chain: ChainStore, batch: int, repeat: int, say: Callable[[str], None]
) -> dict[str, float]:
    """Median events/s of raw read and of verify, alternating which goes first."""
    runs: dict[str, list[float]] = {"raw read": [], "verify": []}
    jobs: dict[str, Callable[[], int]] = {
        "raw read": lambda: raw_read(chain, batch),
        "verify": lambda: checked(chain, batch),
    }
    raw_read(chain, batch)  # warm: caches, prepared statements
    for r in range(repeat):
        order = list(jobs) if r % 2 == 0 else list(reversed(jobs))
        for name in order:
            started = time.perf_counter()
            events = jobs[name]()
            runs[name].append(events / (time.perf_counter() - started))
            say(f"[{r + 1}/{repeat}] {name}: {runs[name][-1]:,.0f} events/s")
    return {name: statistics.median(rates) for name, rates in runs.items()}


def fixture_events(path: Path, limit: int | None) -> list[StoredEvent]:
    """The stored events of a SQLite store, in store order."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "ORDER BY rowid" + (f" LIMIT {int(limit)}" if limit else "")
        ).fetchall()
    return [StoredEvent(uuid.UUID(o), v, t, s) for o, v, t, s in rows]


def synthetic_events(count: int) -> list[StoredEvent]:
    events, ident, version = [], uuid.uuid4(), 0
    for i in range(count):
        if i % 17 == 0:
            ident, version = uuid.uuid4(), 0
        version += 1
        state = b'{"n":%d,"text":"' % i + b"x" * 2600 + b'"}'
        events.append(StoredEvent(ident, version, "domain.complaint:Complaint.Urged", state))
    return events


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--repeat", type=int, default=3, help="rounds (median reported)")
    p.add_argument("--batch", type=int, default=5000, help="rows per select")
    p.add_argument("--events", type=int, default=50_000, help="synthetic events (no fixture)")
    p.add_argument("--no-pg", action="store_true")
    p.add_argument("--no-sqlite", action="store_true")
    o = p.parse_args(argv)
    console = Console(stderr=True)

    def say(text: str) -> None:
        console.print(f"[dim]… {text}[/dim]")

    results: list[tuple[str, dict[str, float]]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="casetrail_bench_audit_") as tmp:
        source = Path(tmp) / "source.sqlite"
        if FIXTURE.exists():
            with lzma.open(FIXTURE) as packed, source.open("wb") as out:
                shutil.copyfileobj(packed, out, length=1 << 20)
            events = fixture_events(source, None)
            notes.append(f"store: the demo store of 2026-12-04, {len(events):,} events")
        else:
            events = synthetic_events(o.events)
            notes.append(f"store: {len(events):,} synthetic events of ~2.6 kB (no fixture)")

        if not o.no_sqlite:
            settings = Settings(database_url=f"sqlite:///{source}")
            started = time.perf_counter()
            if FIXTURE.exists():
                desk = build_desk(settings)  # made before the chain: hashed here, once
                notes.append(
                    f"sqlite: the store hashed on first start in "
                    f"{time.perf_counter() - started:.2f} s (upgrade, once)"
                )
            else:
                desk = build_desk(settings)
                desk.recorder.insert_events(events)
            try:
                results.append(("sqlite", rounds(chain_of(desk.recorder), o.batch, o.repeat, say)))
            finally:
                desk.close()

        if not o.no_pg:
            with fresh_pg_database(o.pg_url, prefix="casetrail_bench_audit") as name:
                desk = build_desk(Settings(database_url=f"{o.pg_url.rstrip('/')}/{name}"))
                try:
                    started = time.perf_counter()
                    for i in range(0, len(events), 1000):
                        desk.recorder.insert_events(events[i : i + 1000])
                    seconds = time.perf_counter() - started
                    notes.append(
                        f"postgres: {len(events):,} events inserted through the chain's trigger "
                        f"in 1,000-event statements: {len(events) / seconds:,.0f} events/s"
                    )
                    results.append(
                        ("postgres", rounds(chain_of(desk.recorder), o.batch, o.repeat, say))
                    )
                finally:
                    desk.close()

    table = Table(title="casetrail audit verify vs a raw read of the same rows (median)")
    for column in ("backend", "raw read events/s", "verify events/s", "verify / raw"):
        table.add_column(column, justify="right")
    for backend, rates in results:
        ratio = rates["verify"] / rates["raw read"]
        colour = "green" if ratio >= TARGET else "red"
        table.add_row(
            backend,
            f"{rates['raw read']:,.0f}",
            f"{rates['verify']:,.0f}",
            f"[{colour}]{ratio:.2f}[/{colour}]",
        )
    console.print(table)
    for note in notes:
        console.print(f"[dim]{note}[/dim]")
    for backend, rates in results:
        print(f"figure: {backend}_raw_read_per_s={rates['raw read']:.0f} events/s")
        print(f"figure: {backend}_verify_per_s={rates['verify']:.0f} events/s")
        print(f"figure: {backend}_verify_ratio={rates['verify'] / rates['raw read']:.2f}")
        verdict = "MET" if rates["verify"] / rates["raw read"] >= TARGET else "NOT MET"
        print(f"target: {backend} verify >= {TARGET} x raw read: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
