"""Projection rebuild throughput, next to the raw limits measured in the same run.

For each backend (PostgreSQL, SQLite) and each size it fills a fresh store with realistic
complaint streams, then measures:
- raw read + decode of the notification log (events/s): the ceiling of any projector;
- raw COPY (PostgreSQL) / executemany (SQLite) of timeline-shaped rows (rows/s);
- `casetrail projections rebuild` as a child process: events/s and its peak RSS, from the
  child's start (imports and setup included) and as the command itself reports it (the replay
  alone); with ``--jobs 1 2`` also split over two processes (PostgreSQL only);
- `casetrail projections catch-up` as a child on views another process projected half way
  (a restart after a crash): events/s.
Peak RSS at two sizes shows whether memory stays flat as the event count grows.

    .venv/bin/python bench/projections.py                    # 100k events, both backends
    .venv/bin/python bench/projections.py --sizes 100000 1000000 --backends postgres
    .venv/bin/python bench/projections.py --backends postgres --jobs 1 2 --skip-lateness
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_pg_database  # noqa: E402
from bench.report import percentile  # noqa: E402
from bootstrap.store import SIMULATION, mark_store  # noqa: E402
from config.settings import Settings  # noqa: E402
from tests.factories import FakeClock, bulk_complaints, make_desk  # noqa: E402

PG = os.environ.get("CASETRAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
EVENTS_PER_TICKET = 6


@contextlib.contextmanager
def store(backend: str, sqlite_path: Path) -> Iterator[str]:
    """The database URL of a fresh store: a PostgreSQL database of its own (dropped after), or
    a SQLite file at ``sqlite_path``. Marked a simulation: the benches fill it on a fake clock."""
    if backend != "postgres":
        url = f"sqlite:///{sqlite_path}"
        mark_store(Settings(database_url=url), SIMULATION)
        yield url
        return
    with fresh_pg_database(PG) as name:
        url = f"{PG}/{name}"
        mark_store(Settings(database_url=url), SIMULATION)
        yield url


def fill(settings: Settings, events: int) -> tuple[int, float]:
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    started = time.monotonic()
    written = bulk_complaints(desk, FakeClock(), events // EVENTS_PER_TICKET)
    seconds = time.monotonic() - started
    desk.close()
    return written, seconds


def read_decode_rate(settings: Settings) -> float:
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    started = time.monotonic()
    start, total = 1, 0
    while batch := desk.recorder.select_notifications(start=start, limit=1000):
        for n in batch:
            desk.mapper.to_domain_event(n)
        total += len(batch)
        start = batch[-1].id + 1
    seconds = time.monotonic() - started
    desk.close()
    return total / seconds


def _rows(n: int) -> list[tuple[Any, ...]]:
    return [
        (
            str(uuid.uuid4()),
            i,
            f"TS{i:08d}",
            "complaint",
            "Urged",
            "2026-10-12T01:00:00+00:00",
            "agent-1",
            "service_center",
            json.dumps({"note": "请尽快处理"}, ensure_ascii=False),
        )
        for i in range(n)
    ]


def raw_write_rate_postgres(url: str, n: int) -> float:
    rows = _rows(n)
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE bench_rows (ticket_id text, seq bigint, number text, kind text, "
            "event text, occurred_at timestamptz, actor text, department text, details jsonb)"
        )
        started = time.monotonic()
        with conn.cursor() as cur, cur.copy("COPY bench_rows FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return n / (time.monotonic() - started)


def raw_write_rate_sqlite(path: Path, n: int) -> float:
    rows = _rows(n)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_rows (ticket_id text, seq int, number text, kind text, "
        "event text, occurred_at text, actor text, department text, details text)"
    )
    started = time.monotonic()
    conn.executemany("INSERT INTO bench_rows VALUES (?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    rate = n / (time.monotonic() - started)
    conn.close()
    return rate


def rebuild(settings: Settings, jobs: int) -> tuple[float, float, int, float]:
    """Run the real CLI rebuild as a child.

    Returns (seconds from the child's start, peak RSS MiB of the largest process, events,
    the events/s the command reports for the replay itself).
    """
    env = {**os.environ, "CASETRAIL_DATABASE_URL": settings.database_url, "COLUMNS": "100"}
    started = time.monotonic()
    command = ["projections", "rebuild", "--batch-size", "2000", "--jobs", str(jobs)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"rebuild failed: {err[-2000:]}")
    summary = out.split("rebuilt from ")[1]
    events = int(summary.split(" ")[0].replace(",", ""))
    reported = _reported_rate(summary)
    # wait4's usage covers the child and the children it waited for (--jobs): the largest.
    return seconds, usage.ru_maxrss / 1024, events, reported


def project_half(url: str) -> None:
    """Project the first half of the log into emptied views, then stop (run as a child, so
    the bench process stays small: a child's peak RSS counts what it inherits at fork)."""
    from bootstrap import build_desk, build_followers
    from workers.projector import Projector

    settings = Settings(database_url=url)
    desk = build_desk(settings)
    followers = build_followers(settings)
    for f in followers:
        f.reset()
    head = desk.recorder.max_notification_id() or 0
    Projector(desk, followers, batch_size=max(1, head // 2)).step()
    desk.close()


def resume_rate(settings: Settings) -> float:
    """Events/s of `casetrail projections catch-up` (a child) on views projected half way by
    another process: what a projector restarted after a crash or a redeploy does."""
    env = {**os.environ, "CASETRAIL_DATABASE_URL": settings.database_url, "COLUMNS": "100"}
    run = functools.partial(subprocess.run, cwd=ROOT, env=env, capture_output=True, text=True)
    run([sys.executable, __file__, "--project-half", settings.database_url], check=True)
    command = ["projections", "catch-up", "--batch-size", "2000"]
    out = run([sys.executable, "-m", "cli.main", *command], check=True).stdout
    return _reported_rate(out.split("applied ")[1])


def _reported_rate(summary: str) -> float:
    """The "(12,345 events/s)" that `projections rebuild` and `catch-up` end their line with."""
    return float(summary.split("(")[1].split(" events/s")[0].replace(",", ""))


def view_rows(url: str) -> int:
    """Rows in every view table after a rebuild (what it had to write, at least)."""
    from bootstrap import build_projections

    with psycopg.connect(url) as conn:
        return sum(
            conn.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0]  # type: ignore[index]
            for projection in build_projections()
            for table in projection.tables
        )


def no_fold_ceiling(r: dict[str, Any]) -> float | None:
    """Events/s one core could replay if folding cost nothing: read and decode each event,
    then COPY its share of view rows at the raw rate measured in the same run."""
    per_event = r["view_rows_per_event"]
    if per_event is None:
        return None
    return float(1 / (1 / r["read_decode_events_per_s"] + per_event / r["raw_write_rows_per_s"]))


def bench(backend: str, size: int, tmp: Path, jobs: list[int]) -> list[dict[str, Any]]:
    with store(backend, tmp / f"bench_{size}.sqlite") as url:
        settings = Settings(database_url=url)
        written, fill_s = fill(settings, size)
        decode = read_decode_rate(settings)
        raw = (
            raw_write_rate_postgres(url, 100_000)
            if backend == "postgres"
            else raw_write_rate_sqlite(tmp / "raw.sqlite", 100_000)
        )
        results = []
        for job_count in jobs if backend == "postgres" else [1]:  # SQLite: one writer
            seconds, rss, events, reported = rebuild(settings, job_count)
            rows = view_rows(url) if backend == "postgres" else None
            resume = resume_rate(settings) if job_count == jobs[0] else None
            results.append(
                {
                    "backend": backend,
                    "jobs": job_count,
                    "events": events,
                    "fill_events_per_s": written / fill_s,
                    "read_decode_events_per_s": decode,
                    "raw_write_rows_per_s": raw,
                    "rebuild_events_per_s": events / seconds,
                    "rebuild_reported_events_per_s": reported,
                    "rebuild_seconds": seconds,
                    "rebuild_peak_rss_mib": rss,
                    "view_rows_per_event": rows / events if rows is not None else None,
                    "resume_events_per_s": resume,
                }
            )
        return results


def sla_lateness(backend: str, open_deadlines: int, hot: int, tmp: Path) -> dict[str, Any]:
    """SLA-clock lateness (due instant -> event recorded) with many open deadlines.

    ``open_deadlines`` clocks run with due instants days ahead (three per complaint); ``hot``
    fault repairs are received so that their 45-minute arrival breach falls due one after
    another over the next seconds of wall time. The workers of ``casetrail serve`` (projector,
    SLA clock on the wall clock) must record each breach as it falls due.
    """
    from datetime import UTC, datetime, timedelta

    from bootstrap import build_desk, build_inprocess_workers
    from config.logging import configure
    from domain import commands as c
    from tests.factories import AGENT

    configure(json=True, level="WARNING")

    with store(backend, tmp / "lateness.sqlite") as url:
        settings = Settings(database_url=url)
        now = datetime.now(tz=UTC)
        future = FakeClock(now + timedelta(hours=2))
        bulk = make_desk(future, env=settings.eventsourcing_env())
        bulk_complaints(bulk, future, open_deadlines // 3)
        bulk.close()
        desk = build_desk(settings)
        workers = build_inprocess_workers(desk, settings)  # what `casetrail serve` runs
        workers.views.catch_up()
        workers.start()
        start = datetime.now(tz=UTC) + timedelta(seconds=5)
        dues = []
        for i in range(hot):
            due = start + timedelta(milliseconds=40 * i)
            out = desk.handle(
                c.ReceiveTicket(
                    **AGENT,
                    kind="fault_repair",
                    customer_name=f"客户{i}",
                    category="outage",
                    content="停电",
                    area="urban",
                    station="station_1",
                    occurred_at=due - timedelta(minutes=45),
                )
            )
            dues.append((out.id, due))
        deadline = time.monotonic() + 120
        lateness: list[float] = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            lateness = []
            for ticket_id, due in dues:
                for event in desk.events.get(ticket_id):
                    if type(event).__name__ == "SlaBreached":
                        lateness.append((event.timestamp - due).total_seconds())
            if len(lateness) == hot:
                break
        workers.close()
        desk.close()
        lateness.sort()

        def pct(p: float) -> float:
            return percentile(lateness, p, empty=float("nan"))

        return {
            "backend": backend,
            "open_deadlines": open_deadlines + 2 * hot,
            "breaches": len(lateness),
            "expected": hot,
            "lateness_p50_s": pct(0.50),
            "lateness_p99_s": pct(0.99),
            "lateness_max_s": lateness[-1] if lateness else float("nan"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--backends", nargs="+", default=["postgres", "sqlite"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--open-deadlines", type=int, default=100_000)
    parser.add_argument("--hot", type=int, default=200, help="breaches falling due during the run")
    parser.add_argument("--skip-lateness", action="store_true")
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument("--project-half", metavar="URL", help=argparse.SUPPRESS)  # a child
    parser.add_argument(
        "--jobs", type=int, nargs="+", default=[1], help="rebuild --jobs values (PostgreSQL)"
    )
    args = parser.parse_args()
    if args.project_half:
        project_half(args.project_half)
        return
    from rich.console import Console
    from rich.table import Table

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends if not args.skip_rebuild else []:
            for size in args.sizes:
                results.extend(bench(backend, size, Path(tmp), args.jobs))
    table = Table(title="projection rebuild (all views) vs raw limits, same run")
    cols = [
        "backend",
        "jobs",
        "events",
        "rebuild ev/s",
        "replay ev/s",
        "read+decode ev/s",
        "raw write rows/s",
        "rebuild / read+decode",
        "view rows/event",
        "no-fold ceiling ev/s",
        "resume ev/s",
        "peak RSS MiB",
    ]
    for col in cols:
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            r["backend"],
            str(r["jobs"]),
            f"{r['events']:,}",
            f"{r['rebuild_events_per_s']:,.0f}",
            f"{r['rebuild_reported_events_per_s']:,.0f}",
            f"{r['read_decode_events_per_s']:,.0f}",
            f"{r['raw_write_rows_per_s']:,.0f}",
            f"{r['rebuild_events_per_s'] / r['read_decode_events_per_s']:.2f}",
            "-" if r["view_rows_per_event"] is None else f"{r['view_rows_per_event']:.2f}",
            "-" if (ceiling := no_fold_ceiling(r)) is None else f"{ceiling:,.0f}",
            "-" if r["resume_events_per_s"] is None else f"{r['resume_events_per_s']:,.0f}",
            f"{r['rebuild_peak_rss_mib']:,.0f}",
        )
    Console(width=170).print(table)  # wide: twelve columns
    for r in results:
        tag = f"{r['backend']}_{r['events']}_jobs{r['jobs']}"
        for key in (
            "rebuild_events_per_s",
            "rebuild_reported_events_per_s",
            "read_decode_events_per_s",
            "raw_write_rows_per_s",
            "rebuild_peak_rss_mib",
        ):
            print(f"figure: {key}[{tag}]={r[key]:.1f}")
        if (ceiling := no_fold_ceiling(r)) is not None:
            print(f"figure: no_fold_ceiling_events_per_s[{tag}]={ceiling:.1f}")
        if r["resume_events_per_s"] is not None:
            print(f"figure: resume_events_per_s[{tag}]={r['resume_events_per_s']:.1f}")
    late_results = []
    if not args.skip_lateness:
        with tempfile.TemporaryDirectory() as tmp:
            for backend in args.backends:
                late_results.append(sla_lateness(backend, args.open_deadlines, args.hot, Path(tmp)))
        late = Table(title="SLA clock lateness (due instant -> breach recorded), wall clock")
        for col in ("backend", "open deadlines", "breaches recorded", "p50 s", "p99 s", "max s"):
            late.add_column(col, justify="right")
        for r in late_results:
            late.add_row(
                r["backend"],
                f"{r['open_deadlines']:,}",
                f"{r['breaches']}/{r['expected']}",
                f"{r['lateness_p50_s']:.3f}",
                f"{r['lateness_p99_s']:.3f}",
                f"{r['lateness_max_s']:.3f}",
            )
        Console().print(late)
        for r in late_results:
            for key in ("lateness_p50_s", "lateness_p99_s", "lateness_max_s"):
                print(f"figure: sla_{key}[{r['backend']}_{r['open_deadlines']}]={r[key]:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"rebuild": results, "lateness": late_results}, indent=2))


if __name__ == "__main__":
    main()
