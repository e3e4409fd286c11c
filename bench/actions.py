#!/usr/bin/env python
"""Ticket actions (verify, classify, dispatch, urge) on PostgreSQL, next to raw commits.

Fills a fresh database ``casetrail_bench_<random>`` (dropped at the end) with complaints taken
in through the desk, then times one lifecycle action after another on every ticket, one
thread, through the desk as the API calls it. Raw single-row commits (``bench.raw``'s
baseline) are measured in the same run, before and after, and the median is used.

``--processes K[,K]`` also runs the actions from K worker processes (spawned, each with its own
desks on the bench database, started together at a barrier): every round, each process takes
in its n/K complaints (untimed), then the four actions are timed one after another, each on
every ticket; raw single-row commits from K client processes are measured in the same rounds,
before and after. Every action is also timed through a recorder without the ordering lock
(``bench.common.UnorderedRecorder``: **not gap-free, for comparison only**), interleaved with
the gap-free desk in an order that rotates from round to round; ``--repeat N`` rounds, medians
reported. ``--processes-only`` skips the single-thread part.

    .venv/bin/python bench/actions.py             # 1,000 complaints, 4 actions each
    .venv/bin/python bench/actions.py -n 3000
    .venv/bin/python bench/actions.py --processes 1,8 --processes-only --repeat 3

Output: rich tables, then one ``figure: name=value unit`` line per figure.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import workload as wl  # noqa: E402
from bench.common import (  # noqa: E402
    GAP_FREE,
    RAW,
    UNORDERED,
    VARIANT_LABELS,
    DeskRecipe,
    DeskWorker,
    add_pg_url,
    add_process_options,
    fresh_pg_database,
    make_desk,
    process_counts,
    rotated,
    run_rounds,
    summarise_counts,
    variant_envs,
)
from bench.raw import RAW_PG_TABLE, raw_pg  # noqa: E402
from bench.report import (  # noqa: E402
    Figures,
    Run,
    load_average_note,
    median_run,
    process_table,
)
from config.settings import Settings  # noqa: E402
from domain import commands as c  # noqa: E402
from domain.desk import Desk  # noqa: E402

ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("verify", {}),
    ("classify", {"category": "service_attitude", "priority": "normal"}),
    ("dispatch", {"owner": "张伟"}),
    ("urge", {"note": "客户来电催办"}),
]


def complaints(
    rng: random.Random, customers: Sequence[uuid.UUID], count: int
) -> list[c.ReceiveTicket]:
    """``count`` complaints about service attitude (every action applies to them)."""
    rows = wl.intake_fields(rng, customers, count, 0.0, True)
    for row in rows:
        row["kind"], row["category"] = "complaint", "service_attitude"
    return wl.build_commands(rows)


def action_commands(action: str, tickets: Sequence[uuid.UUID]) -> list[c.TicketCommand]:
    fields = dict(ACTIONS)[action]
    return [c.parse_action(action, {**wl.AGENT, "ticket_id": t, **fields}) for t in tickets]


def acting(desk: Desk) -> Callable[[c.TicketCommand], int]:
    """The per-command function: the events recorded; an action that records none is an error
    (the figure would then mean nothing)."""

    def work(cmd: c.TicketCommand) -> int:
        out = desk.handle(cmd)
        if not out.changed:
            raise RuntimeError(f"{cmd.action} on {out.id} recorded nothing")
        return len(out.events)

    return work


# ---------------------------------------------------------------------------- one thread


def single_thread(args: argparse.Namespace, url: str, rng: random.Random) -> dict[str, Any]:
    """Every action on every ticket, one thread, one desk; raw commits before and after."""
    desk = make_desk(Settings(database_url=url).eventsourcing_env())
    customers = wl.register_customers(desk, 200, rng)
    outcomes = [desk.handle(cmd) for cmd in complaints(rng, customers, args.n)]
    raw = [raw_pg(url, args.raw_n, 1)]
    runs: dict[str, Run] = {}
    work = acting(desk)
    for action, _fields in ACTIONS:
        commands = action_commands(action, [o.id for o in outcomes])
        lats: list[float] = []
        events = 0
        cpu, started = time.process_time(), time.perf_counter()
        for cmd in commands:
            t0 = time.perf_counter()
            events += work(cmd)
            lats.append(time.perf_counter() - t0)
        runs[action] = Run(
            ops=len(commands),
            events=events,
            seconds=time.perf_counter() - started,
            latencies=lats,
            cpu_seconds=time.process_time() - cpu,
        )
    raw.append(raw_pg(url, args.raw_n, 1))
    desk.close()
    return {"raw": median_run(raw), "runs": runs}


def single_thread_report(console: Console, figures: Figures, result: dict[str, Any]) -> None:
    baseline: Run = result["raw"]
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
    for action, run in result["runs"].items():
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


# ----------------------------------------------------------------------------- processes


class ActionsProcess(DeskRecipe):
    """A bench process acting on tickets (``task`` = (desk variant, action))."""

    def __call__(self, index: int, processes: int) -> ActionsWorker:
        return ActionsWorker(self, index)


class ActionsWorker(DeskWorker):
    """Each round's tickets are the process's own, taken in before the first action (untimed)."""

    def __init__(self, recipe: ActionsProcess, index: int) -> None:
        super().__init__(recipe, index)
        self.tickets: dict[str, list[uuid.UUID]] = {}

    def prepare(self, task: Any, count: int) -> tuple[Callable[[Any], int], Sequence[Any]]:
        if task not in PROCESS_TASKS:
            return super().prepare(task, count)
        variant, action = task
        desk = self.desks[variant]
        if action == ACTIONS[0][0]:
            intakes = complaints(self.rng, self.customers, count)
            self.tickets[variant] = [desk.handle(cmd).id for cmd in intakes]
        return acting(desk), action_commands(action, self.tickets[variant])


PROCESS_TASKS = [(variant, action) for action, _ in ACTIONS for variant in (GAP_FREE, UNORDERED)]


def processes(
    args: argparse.Namespace, url: str, rng: random.Random, say: Callable[[str], None]
) -> dict[tuple[int, Any], list[Run]]:
    """Every round: raw commits, the four actions (gap-free and unordered), raw commits."""
    envs = variant_envs(url, {})
    customers = wl.customers_for(envs[GAP_FREE], 200, rng)
    recipe = ActionsProcess(url, envs, customers, args.seed)

    def plan(r: int) -> list[tuple[Any, int]]:
        variants = rotated([GAP_FREE, UNORDERED], r)
        acts = [((v, action), args.n) for action, _ in ACTIONS for v in variants]
        return [(RAW, args.raw_n), *acts, (RAW, args.raw_n)]

    return run_rounds(recipe, args.processes, args.repeat, plan, say)


def processes_report(
    console: Console,
    figures: Figures,
    runs: dict[tuple[int, Any], list[Run]],
    counts: Sequence[int],
) -> None:
    measures = []
    for action, _ in ACTIONS:
        measures.append(((GAP_FREE, action), f"{action}, {VARIANT_LABELS[GAP_FREE]}", action))
        label = f"{action}, {VARIANT_LABELS[UNORDERED]}"
        measures.append(((UNORDERED, action), label, f"unordered_{action}"))
    ratios = [
        (f"{action}_vs_unordered", (GAP_FREE, action), (UNORDERED, action), "x_unordered")
        for action, _ in ACTIONS
    ]
    rows = summarise_counts(figures, runs, counts, measures, ratios)
    title = (
        "ticket actions from K processes (each its own desk) vs raw commits from K client "
        "processes, same rounds"
    )
    console.print(process_table(title, rows))


# ---------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pg_url(parser)
    parser.add_argument("-n", type=int, default=1000, help="complaints (each gets every action)")
    parser.add_argument("--raw-n", type=int, default=3000, help="raw commits per baseline run")
    parser.add_argument("--seed", type=int, default=11)
    add_process_options(
        parser,
        "also run the actions from K processes, each with its own desks (e.g. 1,8)",
        "the single thread",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the process measurements (median)"
    )
    args = parser.parse_args()
    args.processes = process_counts(parser, args)
    args.repeat = max(1, args.repeat)
    console = Console(width=None if sys.stdout.isatty() else 150)
    figures = Figures()
    notes = [load_average_note(figures, "at start")]
    started = time.perf_counter()
    rng = random.Random(args.seed)
    single: dict[str, Any] | None = None
    proc_runs: dict[tuple[int, Any], list[Run]] = {}
    with fresh_pg_database(args.pg_url, keep=False) as name:
        url = f"{args.pg_url.rstrip('/')}/{name}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RAW_PG_TABLE)
        if not args.processes_only:
            single = single_thread(args, url, rng)
        if args.processes:
            proc_runs = processes(args, url, rng, lambda text: console.print(f"[dim]… {text}"))
    if single is not None:
        single_thread_report(console, figures, single)
    if proc_runs:
        processes_report(console, figures, proc_runs, args.processes)
    figures.add("bench_wall_s", time.perf_counter() - started, "s")
    notes.append(load_average_note(figures, "at end"))
    for note in notes:
        if note:
            console.print(f"[dim]{note}[/dim]")
    figures.print_lines()
    return 0


if __name__ == "__main__":
    sys.exit(main())
