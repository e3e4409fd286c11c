"""How a bench measures and reports: runs, percentiles, figures, tables and the JSON document.

* :class:`Run`: one timed measurement (operations, events, wall and client CPU seconds, every
  operation's latency); :func:`percentile` is the one definition of a percentile every bench
  uses (nearest rank); :func:`run_threads` times work shared among threads;
* :class:`Figures`: the ``figure: name=value unit`` lines every bench prints (greppable), and
  :func:`write_json` the same figures as a JSON document;
* :func:`median_run`, :func:`merge_runs`: one run out of several rounds or batches;
* :func:`record_run`, :func:`runs_table`, :func:`process_table`: a run's figures, its table
  cells, and the tables that hold them;
* :func:`load_average_note`: how busy the machine was (other work skews every figure).
"""

from __future__ import annotations

import json
import math
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table


def percentile(values: Sequence[float], p: float, empty: float = 0.0) -> float:
    """The ``p`` percentile (0..1) of ``values`` by nearest rank; ``empty`` when there are none."""
    if not values:
        return empty
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1))]


@dataclass
class Figures:
    """Figures in insertion order: name -> (value, unit)."""

    values: dict[str, tuple[float, str]] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str) -> float:
        self.values[name] = (value, unit)
        return value

    def get(self, name: str) -> float | None:
        item = self.values.get(name)
        return item[0] if item else None

    def print_lines(self) -> None:
        """Machine-greppable lines, on stdout whatever rich decides about the terminal."""
        for name, (value, unit) in self.values.items():
            print(f"figure: {name}={value:.4g} {unit}")


@dataclass
class Run:
    """One timed run: how many operations, how long, each operation's latency."""

    ops: int
    events: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float = 0.0  # client CPU time (all threads, or all processes) during the run

    @property
    def cpu_us_per_op(self) -> float:
        return self.cpu_seconds / self.ops * 1e6 if self.ops else 0.0

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def event_rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def pct_ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000.0


def merge_runs(runs: Sequence[Run]) -> Run:
    """Batches of one measurement, summed (their wall times add up: they ran one after another)."""
    return Run(
        ops=sum(r.ops for r in runs),
        events=sum(r.events for r in runs),
        seconds=sum(r.seconds for r in runs),
        latencies=[x for r in runs for x in r.latencies],
        cpu_seconds=sum(r.cpu_seconds for r in runs),
    )


def median_run(runs: Sequence[Run]) -> Run:
    """The run with the median rate (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r.rate)
    return ordered[(len(ordered) - 1) // 2]


def record_run(
    figs: Figures, prefix: str, suffix: str, run: Run, base: float | None
) -> tuple[str, str, str, str, str]:
    """Add a run's figures (``{prefix}_per_s_{suffix}``, ...); return its table cells.

    The cells: ops/s, events/s (blank when one event per op), p50 / p99 ms, client CPU µs/op,
    and the ratio to ``base`` (ops/s of raw commits with as many clients), blank without one.
    """
    rate = figs.add(f"{prefix}_per_s_{suffix}", run.rate, "ops/s")
    if run.events != run.ops:
        figs.add(f"{prefix}_events_per_s_{suffix}", run.event_rate, "events/s")
    figs.add(f"{prefix}_p50_{suffix}", run.pct_ms(0.50), "ms")
    figs.add(f"{prefix}_p99_{suffix}", run.pct_ms(0.99), "ms")
    figs.add(f"{prefix}_cpu_{suffix}", run.cpu_us_per_op, "us/op")
    ratio = ""
    if base:
        figs.add(f"{prefix}_ratio_{suffix}", rate / base, "x_raw")
        ratio = f"{rate / base:.2f}×"
    return (
        f"{run.rate:,.0f}",
        f"{run.event_rate:,.0f}" if run.events != run.ops else "",
        f"{run.pct_ms(0.5):.2f} / {run.pct_ms(0.99):.2f}",
        f"{run.cpu_us_per_op:,.0f}",
        ratio,
    )


RUN_COLUMNS = ("ops/s", "events/s", "p50 / p99 ms", "client CPU µs/op", "× raw")


def load_average_note(figs: Figures, when: str) -> str | None:
    """Other work on this machine skews every figure: say how busy it was (``when``: "at X")."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return None
    cpus = os.cpu_count() or 1
    figs.add(f"load_avg_1min_{when.split()[-1]}", one, "load")
    note = f"load average {when}: {one:.2f} (1 min), {five:.2f} (5 min) on {cpus} CPUs"
    if one > 0.5:
        note += (
            " — other work is running: every figure (and every ratio, since the baseline"
            " suffers differently) is unreliable; rerun on a quiet machine or with --repeat 3"
        )
    return note


def run_threads(
    threads: int,
    items: Sequence[Any],
    make_worker: Callable[[int], Callable[[Any], int]],
    finish: Callable[[int], None] | None = None,
) -> Run:
    """Share ``items`` round-robin among ``threads``; time from a common start to the last join.

    ``make_worker(i)`` runs in thread i before the start line (e.g. opens its connection) and
    returns the per-item function, which returns the number of events (rows) it wrote.
    """
    shares = [list(items[i::threads]) for i in range(threads)]
    lats: list[list[float]] = [[] for _ in range(threads)]
    events = [0] * threads
    errors: list[BaseException] = []
    ready = threading.Barrier(threads + 1)
    done = threading.Barrier(threads + 1)

    def body(i: int) -> None:
        work: Callable[[Any], int] | None = None
        try:
            work = make_worker(i)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        ready.wait()
        try:
            if work is not None:
                out = lats[i]
                n = 0
                for item in shares[i]:
                    t0 = time.perf_counter()
                    n += work(item)
                    out.append(time.perf_counter() - t0)
                events[i] = n
        except BaseException as exc:
            errors.append(exc)
        done.wait()
        if finish is not None:
            finish(i)

    pool = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    ready.wait()
    start = time.perf_counter()
    cpu0 = time.process_time()
    done.wait()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return Run(
        ops=sum(len(s) for s in shares),
        events=sum(events),
        seconds=elapsed,
        latencies=[x for part in lats for x in part],
        cpu_seconds=cpu,
    )


def runs_table(
    title: str,
    lead: Sequence[str],
    rows: Sequence[tuple[str, ...]],
    ratio: str = "× raw",
    tail: Sequence[str] = (),
) -> Table:
    """Runs, one a row: the ``lead`` columns, the cells of :func:`record_run` (``ratio`` heads
    the last), then ``tail``; "backend" and "what" read from the left, the rest from the right."""
    table = Table(title=title)
    for column in lead:
        left = column in ("backend", "what")
        width = 30 if column == "what" else None
        table.add_column(column, justify="left" if left else "right", min_width=width)
    for column in (*RUN_COLUMNS[:-1], ratio, *tail):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def process_table(title: str, rows: Sequence[tuple[str, ...]]) -> Table:
    """The rows of :func:`bench.common.summarise_processes`, one table."""
    return runs_table(title, ("what", "processes"), rows, tail=("rounds ops/s",))


def write_json(
    path: Path, bench: str, options: dict[str, Any], notes: list[str], figs: Figures, **extra: Any
) -> None:
    """The figures as a JSON document: which bench, when, where, with what options and notes
    (``extra``: what else the bench wants kept, e.g. its target or profile)."""
    doc = {
        "bench": bench,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()},
        **extra,
        "notes": notes,
        "figures": {k: {"value": v, "unit": u} for k, (v, u) in figs.values.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
