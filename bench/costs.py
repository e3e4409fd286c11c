"""What one intake costs and where its time goes: statements, stored bytes, parts, a cProfile.

* :func:`count_pg_statements`, :func:`pg_stored_bytes`: what PostgreSQL sees of a write (round
  trips per command, bytes stored per event);
* :func:`intake_breakdown` with :class:`NoSaveDesk` (the desk minus the write): validation,
  load + decide, transcoding, each timed alone; :func:`print_breakdown` sets them next to the
  full intake and the raw commits;
* :func:`profile_commands`: run commands under cProfile and add up the cumulative time of the
  frames each :data:`BUCKETS` predicate names (waiting on PostgreSQL, query conversion, SLA
  binding, transcoding, the aggregate cache's deepcopy, ...), plus the top functions by own time;
  :func:`print_profile` prints both tables.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from bench.report import Figures
from bench.workload import build_commands
from domain.desk import Desk

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def count_pg_statements() -> Iterator[dict[str, int]]:
    """Count psycopg ``Cursor.execute`` calls (each one a round trip in autocommit mode)."""
    counts: dict[str, int] = {}
    original = psycopg.Cursor.execute

    def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query if isinstance(query, str) else repr(query)
        word = "insert" if "insert" in text.lower() else "select/other"
        counts[word] = counts.get(word, 0) + 1
        return original(self, query, *args, **kwargs)

    psycopg.Cursor.execute = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]


def pg_statements(figs: Figures, work: Callable[[Any], int], commands: Sequence[Any]) -> None:
    """The SQL statements (round trips), and of them the SELECTs, one command sends on average
    (``pg_statements_per_intake``, ``pg_selects_per_intake``)."""
    with count_pg_statements() as counts:
        for cmd in commands:
            work(cmd)
    n = len(commands)
    figs.add("pg_statements_per_intake", sum(counts.values()) / n, "statements")
    figs.add("pg_selects_per_intake", counts.get("select/other", 0) / n, "statements")


def pg_stored_bytes(db_url: str, table: str) -> tuple[int, float]:
    """How many events, and their average stored size (state + topic + id, version, serial)."""
    query = sql.SQL(
        "SELECT count(*), coalesce(avg(length(state) + length(topic) + 16 + 8 + 8), 0) FROM {}"
    ).format(sql.Identifier(table))
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def intake_breakdown(
    figs: Figures,
    rows: Sequence[dict[str, Any]],
    desk: NoSaveDesk,
    batch: Callable[[], Sequence[Any]],
    passes: int,
) -> None:
    """Where one intake's time goes (best of a few passes: CPU-only micro-timings): validating
    ``rows`` into commands; load + decide without saving, on ``desk`` (customers registered,
    cache warm) over ``passes`` fresh batches; transcoding one more batch's events to bytes."""
    n = len(rows)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        build_commands(rows)
        best = min(best, time.perf_counter() - t0)
    figs.add("cmd_validate_us", best / n * 1e6, "us/intake")
    desk.dry = True
    best = float("inf")
    for _ in range(passes):
        cmds = batch()
        t0 = time.perf_counter()
        for cmd in cmds:
            desk.handle(cmd)
        best = min(best, time.perf_counter() - t0)
    figs.add("inmem_load_decide_us", best / n * 1e6, "us/intake")
    # Keep the events of one more batch to time their transcoding alone.
    pending: list[Any] = []
    desk.sink = pending
    for cmd in batch():
        desk.handle(cmd)
    desk.sink = None
    best = float("inf")
    stored: list[Any] = []
    for _ in range(3):
        t0 = time.perf_counter()
        stored = [desk.mapper.to_stored_event(e) for e in pending]
        best = min(best, time.perf_counter() - t0)
    figs.add("inmem_transcode_us", best / n * 1e6, "us/intake")
    figs.add("event_state_bytes_avg", sum(len(s.state) for s in stored) / len(stored), "bytes")
    figs.add("events_per_intake", len(stored) / n, "events")


def print_breakdown(con: Console, f: Figures) -> None:
    """The parts of one intake next to a full intake (in memory, on PostgreSQL) and raw commits."""
    where = Table(title="where one intake's time goes (single thread)")
    where.add_column("part")
    where.add_column("µs / intake", justify="right")
    parts = [
        ("command validation (pydantic, before handle)", f.get("cmd_validate_us")),
        ("load + decide, no save (in memory, cache on)", f.get("inmem_load_decide_us")),
        ("JSON transcoding of the events", f.get("inmem_transcode_us")),
    ]
    for label, name in (
        ("full intake in memory (POPO, cache on)", "inmem_cached_intake_per_s_t1"),
        ("full intake on PostgreSQL", "pg_intake_per_s_t1"),
        ("raw single-row commit on PostgreSQL (500 B)", "raw_pg_commits_per_s_t1"),
        ("raw commit of the same rows one intake writes", "raw_pg_shaped_per_s_t1"),
    ):
        rate = f.get(name)
        if rate:  # µs per operation, from operations per second
            parts.append((label, 1e6 / rate))
    for label, value in parts:
        if value is not None:
            where.add_row(label, f"{value:,.0f}")
    if where.row_count:
        con.print(where)
    for name, unit in (
        ("pg_statements_per_intake", "SQL statements (round trips) per intake"),
        ("pg_selects_per_intake", "of which SELECTs"),
        ("events_per_intake", "events per intake"),
        ("event_state_bytes_avg", "bytes of state per event"),
    ):
        v = f.get(name)
        if v is not None:
            con.print(f"  {unit}: {v:.2f}")


# Buckets of the profile: (label, predicate on (file, function name)); cumulative times of the
# outermost matching frames, so nested matches are not counted twice within a bucket.
BUCKETS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("waiting on PostgreSQL (psycopg wait)", lambda f, n: "psycopg" in f and n == "wait"),
    ("psycopg query conversion + dump", lambda f, n: "psycopg" in f and n == "_convert_query"),
    ("SLA binding (Ticket.bind_sla)", lambda f, n: f.endswith("ticket.py") and n == "bind_sla"),
    (
        "JSON transcoding (to_stored_event)",
        lambda f, n: f.endswith("persistence.py") and n == "to_stored_event",
    ),
    ("deepcopy (aggregate cache)", lambda f, n: f.endswith("copy.py") and n == "deepcopy"),
    ("Meta.as_dict (dataclasses.asdict)", lambda f, n: f.endswith("base.py") and n == "as_dict"),
    ("policy matching (catalogue.match)", lambda f, n: f.endswith("policy.py") and n == "match"),
    (
        "org directory (front_office)",
        lambda f, n: f.endswith("org.py") and n == "front_office",
    ),
]


def profile_commands(
    work: Callable[[Any], int], commands: Sequence[Any], top: int
) -> dict[str, Any]:
    """``work`` over ``commands`` under cProfile: cost buckets and the ``top`` functions, per
    command (the keys say "intake": the intake bench is what reads them)."""
    prof = cProfile.Profile()
    prof.enable()
    t0 = time.perf_counter()
    for cmd in commands:
        work(cmd)
    elapsed = time.perf_counter() - t0
    prof.disable()
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(elapsed, 1e-9)
    n = len(commands)
    buckets = []
    for label, pred in BUCKETS:
        cum = 0.0
        for (fname, _line, func), (_cc, _nc, _tt, ct, _callers) in raw.items():
            if pred(fname, func):
                cum = max(cum, ct) if func == "deepcopy" else cum + ct
        buckets.append({"bucket": label, "ms_per_intake": cum / n * 1000, "share": cum / total})
    rows = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    top_funcs = [
        {
            "function": f"{_short(fname)}:{line}({func})",
            "calls": nc,
            "tottime_ms_per_intake": tt / n * 1000,
            "cumtime_ms_per_intake": ct / n * 1000,
        }
        for (fname, line, func), (_cc, nc, tt, ct, _callers) in rows
    ]
    return {
        "intakes": n,
        "ms_per_intake_under_profiler": elapsed / n * 1000,
        "buckets": buckets,
        "top_tottime": top_funcs,
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.rsplit("/", 2)[-1] if "/" in path else path


def print_profile(console: Console, profile: dict[str, Any]) -> None:
    """The buckets, then the top functions by own time, of :func:`profile_commands`."""
    prof = Table(
        title=(
            f"cProfile, {profile['intakes']} intakes on PostgreSQL "
            f"({profile['ms_per_intake_under_profiler']:.2f} ms/intake "
            "under the profiler)"
        )
    )
    prof.add_column("bucket")
    prof.add_column("ms / intake", justify="right")
    prof.add_column("share", justify="right")
    for b in profile["buckets"]:
        prof.add_row(b["bucket"], f"{b['ms_per_intake']:.3f}", f"{b['share']:.0%}")
    console.print(prof)
    top = Table(title="top functions by own time")
    top.add_column("function")
    top.add_column("calls/intake", justify="right")
    top.add_column("own ms/intake", justify="right")
    top.add_column("cum ms/intake", justify="right")
    n = profile["intakes"]
    for t in profile["top_tottime"]:
        top.add_row(
            t["function"],
            f"{t['calls'] / n:.1f}",
            f"{t['tottime_ms_per_intake']:.3f}",
            f"{t['cumtime_ms_per_intake']:.3f}",
        )
    console.print(top)


class NoSaveDesk(Desk):
    """The desk minus the write once ``dry`` is set: load, match, decide, build events.

    Dry, the events are collected instead of stored (and kept in ``sink`` when it is a list,
    to time their transcoding alone).
    """

    dry = False
    sink: list[Any] | None = None

    def _commit(self, *aggregates: Any, unchanged: tuple[tuple[Any, int], ...] = ()) -> None:
        if not self.dry:
            super()._commit(*aggregates, unchanged=unchanged)
            return
        for agg in aggregates:
            events = agg.collect_events()
            if self.sink is not None:
                self.sink.extend(events)
