#!/usr/bin/env python
"""Ticket actions (verify, classify, dispatch, urge) on PostgreSQL, next to raw commits.

Fills a fresh database ``casetrail_bench_<random>`` (dropped at the end) with complaints taken
in through the desk, then times one lifecycle action after another on every ticket, one
thread, through the desk as the API calls it. Raw single-row commits (bench/intake.py's
baseline) are measured in the same run, before and after, and the median is used.

    .venv/bin/python bench/actions.py             # 1,000 complaints, 4 actions each
    .venv/bin/python bench/actions.py -n 3000

Output: a rich table, then one ``figure: name=value unit`` line per figure.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # after the root: bench/projections.py must not shadow projections

import intake as bench  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from config.settings import Settings  # noqa: E402
from domain import commands as c  # noqa: E402

ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("verify", {}),
    ("classify", {"category": "service_attitude", "priority": "normal"}),
    ("dispatch", {"owner": "张伟"}),
    ("urge", {"note": "客户来电催办"}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CASETRAIL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432"),
        help="server URL without database",
    )
    parser.add_argument("-n", type=int, default=1000, help="complaints (each gets every action)")
    parser.add_argument("--raw-n", type=int, default=3000, help="raw commits per baseline run")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    console = Console()
    rng = random.Random(args.seed)
    with bench.fresh_pg_database(args.pg_url, keep=False) as name:
        url = f"{args.pg_url.rstrip('/')}/{name}"
        desk = bench.make_desk(Settings(database_url=url).eventsourcing_env())
        customers = bench.register_customers(desk, 200, rng)
        rows = bench.intake_fields(rng, customers, args.n, 0.0, True)
        for row in rows:
            row["kind"], row["category"] = "complaint", "service_attitude"
        outcomes = [desk.handle(cmd) for cmd in bench.build_commands(rows)]
        with bench.psycopg.connect(url, autocommit=True) as conn:
            conn.execute(bench.RAW_PG_TABLE)
        raw = [bench.raw_pg(url, args.raw_n, 1)]
        runs: dict[str, bench.Run] = {}
        for action, fields in ACTIONS:
            commands = [
                c.parse_action(action, {**bench.AGENT, "ticket_id": o.id, **fields})
                for o in outcomes
            ]
            lats: list[float] = []
            unchanged = 0
            cpu, started = time.process_time(), time.perf_counter()
            for cmd in commands:
                t0 = time.perf_counter()
                unchanged += not desk.handle(cmd).changed
                lats.append(time.perf_counter() - t0)
            if unchanged:  # every action must record something, or the figure means nothing
                raise SystemExit(f"{action}: {unchanged} commands recorded nothing")
            runs[action] = bench.Run(
                ops=len(commands),
                events=len(commands),
                seconds=time.perf_counter() - started,
                latencies=lats,
                cpu_seconds=time.process_time() - cpu,
            )
        raw.append(bench.raw_pg(url, args.raw_n, 1))
        desk.close()
    baseline = bench.median_run(raw)
    figures = bench.Figures()
    table = Table(title="ticket actions on PostgreSQL, one thread, vs raw single-row commits")
    for column in ("what", "ops/s", "p50 / p99 ms", "client CPU µs/op", "× raw"):
        table.add_column(column, justify="right" if column != "what" else "left")
    table.add_row(
        "raw 1-row commit",
        f"{baseline.rate:,.0f}",
        f"{baseline.pct_ms(0.5):.2f} / {baseline.pct_ms(0.99):.2f}",
        f"{baseline.cpu_us_per_op:,.0f}",
        "1.00",
    )
    figures.add("raw_pg_commits_per_s", baseline.rate, "ops/s")
    for action, run in runs.items():
        ratio = run.rate / baseline.rate if baseline.rate else 0.0
        table.add_row(
            action,
            f"{run.rate:,.0f}",
            f"{run.pct_ms(0.5):.2f} / {run.pct_ms(0.99):.2f}",
            f"{run.cpu_us_per_op:,.0f}",
            f"{ratio:.2f}",
        )
        figures.add(f"{action}_per_s", run.rate, "ops/s")
        figures.add(f"{action}_p50", run.pct_ms(0.5), "ms")
        figures.add(f"{action}_cpu", run.cpu_us_per_op, "us/op")
        figures.add(f"{action}_ratio", ratio, "x_raw")
    console.print(table)
    for key, (value, unit) in figures.values.items():
        print(f"figure: {key}={value:.4g} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
