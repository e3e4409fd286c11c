"""What a department report ``as_of`` costs: the full replay against the checkpoint cache.

Loads an event store (by default the 2026-12-04 demo store: October 2026, 50,840 events,
unpacked into a temporary directory) and, for a few ``as_of`` instants, prints in one run:

- ``full``: the uncached full replay (``projections.reports.report_as_of``), what every
  request cost before (median of ``--slow-repeat``);
- ``cold``: the first request on an empty cache (``api.replays.ReplayCache``; median too);
- ``first``: the first request for this instant on the cache as the instants before it left
  it (instants are asked in the order given);
- ``warm``: the same request asked again (median of ``--repeat``);

then four requests at once (different instants), full replays in four threads against the
cache behind its two turns, cold and warm; and what the cache holds. Every cached answer is
checked to be the same JSON, byte for byte, as the full replay's.

    .venv/bin/python bench/reports_as_of.py
    .venv/bin/python bench/reports_as_of.py --store var/casetrail.sqlite --repeat 10
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.replays import ReplayCache  # noqa: E402
from bootstrap import build_desk  # noqa: E402
from config.settings import Settings  # noqa: E402
from projections.department_performance import DepartmentPerformance  # noqa: E402
from projections.reports import report_as_of  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "demo-store-2026-12-04.sqlite.xz"
INSTANTS = (
    "2026-09-15T00:00:00+08:00",  # before the first event
    "2026-10-20T12:00:00+08:00",  # mid-month, asked first: the cache starts empty
    "2026-10-10T12:00:00+08:00",  # earlier: checkpoints at or before it exist
    "2026-10-25T18:30:00+08:00",  # later: folds on from the last checkpoint
    "2026-10-31T23:59:00+08:00",  # the end of the month
    "2026-12-04T00:00:00+08:00",  # after the last event
)
PERIOD = (date(2026, 10, 1), date(2026, 10, 31))


def unpack(source: Path, into: Path) -> Path:
    target = into / "store.sqlite"
    if source.suffix == ".xz":
        with lzma.open(source) as packed, target.open("wb") as out:
            shutil.copyfileobj(packed, out)
    else:
        shutil.copyfile(source, target)  # never the original: opening may add tables
    return target


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def as_bytes(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, default=str).encode("utf-8")


def at_once(calls: list[Callable[[], Any]]) -> float:
    """Wall time of the calls started together in threads."""
    barrier = threading.Barrier(len(calls) + 1)
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=FIXTURE, help="SQLite store (.xz or not)")
    parser.add_argument("--instant", action="append", help="ISO-8601 as_of (repeatable)")
    parser.add_argument("--repeat", type=int, default=5, help="warm repetitions per instant")
    parser.add_argument(
        "--slow-repeat", type=int, default=3, help="full and cold repetitions per instant"
    )
    args = parser.parse_args()
    instants = [datetime.fromisoformat(text) for text in (args.instant or INSTANTS)]

    with tempfile.TemporaryDirectory(prefix="casetrail-bench-") as tmp:
        path = unpack(args.store, Path(tmp))
        desk = build_desk(Settings(database_url=f"sqlite:///{path}"))
        try:
            head = int(desk.recorder.max_notification_id() or 0)
            projection = DepartmentPerformance(desk.directory, "Asia/Shanghai")

            def full(at: datetime) -> list[dict[str, Any]]:
                return report_as_of(desk, projection, at, *PERIOD, total=True)

            def cached(cache: ReplayCache, at: datetime) -> list[dict[str, Any]]:
                return cache.report_as_of(desk, projection, at, *PERIOD, total=True)

            print(f"store {args.store.name}: {head:,} events; report {PERIOD[0]} – {PERIOD[1]}")
            print(f"{'as_of':<27}{'full':>9}{'cold':>9}{'first':>9}{'warm':>9}  identical")
            cache = ReplayCache()
            for at in instants:
                fulls = [timed(lambda at=at: full(at)) for _ in range(args.slow_repeat)]
                colds = [timed(lambda at=at: cached(ReplayCache(), at)) for _ in fulls]
                t_full, expected = statistics.median(t for t, _ in fulls), fulls[0][1]
                t_cold, cold = statistics.median(t for t, _ in colds), colds[0][1]
                t_first, first = timed(lambda at=at: cached(cache, at))
                warm_times = []
                for _ in range(args.repeat):
                    t_warm, warm = timed(lambda at=at: cached(cache, at))
                    warm_times.append(t_warm)
                same = {as_bytes(x) for x in (cold, first, warm)} == {as_bytes(expected)}
                print(
                    f"{at.isoformat():<27}{t_full:>8.3f}s{t_cold:>8.3f}s{t_first:>8.3f}s"
                    f"{statistics.median(warm_times):>8.3f}s  {'yes' if same else 'NO'}"
                )
                if not same:
                    raise SystemExit(f"cached report differs from the full replay at {at}")

            four = instants[1:5]
            t_full4 = at_once([lambda at=at: full(at) for at in four])
            cold_cache = ReplayCache()
            t_cold4 = at_once([lambda at=at: cached(cold_cache, at) for at in four])
            t_warm4 = at_once([lambda at=at: cached(cache, at) for at in four])
            print(
                f"four at once ({len(four)} instants): full {t_full4:.3f}s, "
                f"cache cold {t_cold4:.3f}s (two turns), cache warm {t_warm4:.3f}s"
            )
            kept = cache.positions(projection)
            print(
                f"cache: {len(kept)} checkpoints ({cache.cached_bytes / 1e6:.1f} MB pickled) "
                f"at {kept}; {cache.stats.replays} replays, {cache.stats.hits} from a checkpoint"
            )
        finally:
            desk.close()


if __name__ == "__main__":
    main()
