"""What the PostgreSQL write benches share: bench databases, desks and their variants, processes.

* :func:`fresh_pg_database`: a database of its own for one bench run, dropped at the end;
* :func:`make_desk`, :func:`variant_envs`, :func:`build_desks`: desks as casetrail builds them,
  gap-free as shipped or (for comparison) without the ordering lock;
* :class:`ProcessPool`: K worker processes (``spawn``), each with its own desks and its own raw
  connection on one bench database, set up once and then driven round by round: every round,
  each process prepares its share of the work untimed, all start together (a barrier), each
  times every operation; the round's wall time runs from the first start to the last finish.
  Threads share one desk and the GIL (an intake costs ~300 µs of Python CPU), so with threads an
  8-writer figure measures the GIL; processes measure the database;
* :class:`UnorderedRecorder`: casetrail's insert **without its ordering lock** — not gap-free,
  for comparison only, so that a bench can show what the guarantee costs. Never product code;
* :func:`run_rounds`, :func:`summarise_processes`, :func:`summarise_counts`: rounds of tasks on
  pools of K processes, and their medians as figures and table rows;
* :func:`add_pg_url`, :func:`add_process_options`, :func:`process_counts`,
  :func:`add_output_options`: the command-line options the benches share.

Runs, percentiles, figures and tables are in ``bench.report``; the raw baselines (single-row
commits in threads or processes) in ``bench.raw``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.sql import SQL, Composed, Identifier

from bench.raw import RAW_PG_INSERT, RAW_PG_INSERT_LOCKED, RAW_PG_INSERT_NOTIFY, raw_writer
from bench.report import Figures, Run, median_run, record_run
from bootstrap import schema_lock, system_clock
from bootstrap.catalogue import load_catalogue
from bootstrap.org_loader import load_directory
from bootstrap.pg_recorder import ArrayInsertRecorder
from config.settings import Settings
from domain.desk import Desk

# -------------------------------------------------------------------------------- databases


@contextlib.contextmanager
def fresh_pg_database(
    server_url: str, keep: bool = False, prefix: str = "casetrail_bench"
) -> Iterator[str]:
    """Create ``<prefix>_<random>``; drop it at the end (unless ``keep``)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = f"{server_url.rstrip('/')}/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    try:
        yield name
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                conn.execute(
                    SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name))
                )


# ------------------------------------------------------------------------------------ desks


def make_desk(env: dict[str, str]) -> Desk:
    return Desk(catalogue=load_catalogue(), directory=load_directory(), clock=system_clock, env=env)


class UnorderedRecorder(ArrayInsertRecorder):
    """NOT GAP-FREE, FOR COMPARISON ONLY: casetrail's insert minus its ordering lock.

    The same function body (binary arrays, ``lock_timeout``, the ``unchanged`` check,
    ``NOTIFY``) without ``PERFORM pg_advisory_xact_lock(...)``, created under a name of its
    own (``<table>_insert_unordered``) so that it never replaces the product's function in a
    database both use. Concurrent writers then commit notification ids out of order and a
    reader following the log can pass over an event committed late: only a bench may use it,
    to show what the ordering guarantee costs.
    """

    LOCK_STATEMENT = "PERFORM pg_advisory_xact_lock("

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        create = self.sql_create_statements[-1].as_string()
        start = create.find(self.LOCK_STATEMENT)
        if "CREATE OR REPLACE FUNCTION" not in create or start < 0:
            raise RuntimeError("ArrayInsertRecorder changed: its insert function was not found")
        end = create.index(";", start) + 1
        ordered = self._function.as_string()
        unordered = SQL("{}.{}").format(
            Identifier(self.datastore.schema),
            Identifier(f"{self.events_table_name}_insert_unordered"[: self.MAX_IDENTIFIER_LEN]),
        )
        name = unordered.as_string()
        body = create[:start] + create[end:]
        self.sql_create_statements[-1] = Composed([SQL(body.replace(ordered, name, 1))])
        self._function = unordered
        call = self._call_with_lists.as_string().replace(ordered, name, 1)
        self._call_with_lists = Composed([SQL(call)])


UNORDERED_TOPIC = f"{__name__}:{UnorderedRecorder.__qualname__}"

# The tasks of a process bench: raw commits of three shapes, and the desk variants.
GAP_FREE = "gapfree"
UNORDERED = "unordered"
RAW = "raw"
RAW_NOTIFY = "raw_notify"
RAW_LOCKED = "raw_locked"
# task -> (statement, autocommit)
RAW_INSERTS = {
    RAW: (RAW_PG_INSERT, False),
    RAW_NOTIFY: (RAW_PG_INSERT_NOTIFY, True),
    RAW_LOCKED: (RAW_PG_INSERT_LOCKED, True),
}
VARIANT_LABELS = {
    RAW: "raw 1-row commit",
    RAW_NOTIFY: "raw 1-statement commit + NOTIFY",
    RAW_LOCKED: "raw 1-statement commit + NOTIFY + ordering lock",
    GAP_FREE: "gap-free (ordering lock, as shipped)",
    UNORDERED: "no ordering lock: NOT gap-free, comparison only",
}


def variant_envs(db_url: str, es_env: dict[str, str]) -> dict[str, dict[str, str]]:
    """The desk environment of each variant on ``db_url``, with a pool fit for one thread.

    A bench process drives its desks from one thread: a pool of 1 (+1) connections is what it
    uses, and keeps K processes × 2 desks under the server's ``max_connections``.
    """
    env = {
        **Settings(database_url=db_url).eventsourcing_env(),
        **es_env,
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "1",
    }
    return {GAP_FREE: env, UNORDERED: {**env, "APPLICATION_RECORDER_TOPIC": UNORDERED_TOPIC}}


def build_desks(db_url: str, envs: dict[str, dict[str, str]]) -> dict[str, Desk]:
    """One desk per variant; tables and functions created one process at a time.

    Each variant is checked to be what its label says: the gap-free desk's insert function
    takes the ordering lock, the unordered desk's recorder is :class:`UnorderedRecorder`.
    """
    with schema_lock(Settings(database_url=db_url)):
        desks = {name: make_desk(env) for name, env in envs.items()}
    for name, desk in desks.items():
        recorder: Any = desk.recorder
        statements = getattr(recorder, "sql_create_statements", [])
        function = statements[-1].as_string() if statements else ""
        ordered = UnorderedRecorder.LOCK_STATEMENT in function
        if (name == UNORDERED) != isinstance(recorder, UnorderedRecorder) or ordered != (
            name == GAP_FREE
        ):
            raise RuntimeError(f"desk {name!r}: unexpected recorder {type(recorder).__name__}")
    return desks


# -------------------------------------------------------------------------------- processes


class Worker(Protocol):
    """What a bench process holds between rounds (built in the process by a factory)."""

    def prepare(self, task: Any, count: int) -> tuple[Callable[[Any], int], Sequence[Any]]:
        """Untimed: the per-item function (returns events written) and this round's items."""
        ...

    def close(self) -> None: ...


@dataclass
class DeskRecipe:
    """How a bench process is set up: sent to each spawned process, called there once."""

    db_url: str
    envs: dict[str, dict[str, str]]  # variant -> desk environment (see variant_envs)
    customers: list[uuid.UUID]  # registered beforehand; every desk caches them all
    seed: int


class DeskWorker:
    """A bench process's desks (one per variant, every customer in their caches), its own
    random generator, and its raw connection (the tasks of :data:`RAW_INSERTS`)."""

    def __init__(self, recipe: DeskRecipe, index: int) -> None:
        self.raw = [psycopg.connect(recipe.db_url, autocommit=auto) for auto in (False, True)]
        self.raw_work = {
            task: raw_writer(self.raw[auto], sql) for task, (sql, auto) in RAW_INSERTS.items()
        }
        self.desks = build_desks(recipe.db_url, recipe.envs)
        self.customers = recipe.customers
        self.rng = random.Random(recipe.seed * 1000 + index)
        for desk in self.desks.values():
            for ident in recipe.customers:
                desk.repository.get(ident)

    def prepare(self, task: Any, count: int) -> tuple[Callable[[Any], int], Sequence[Any]]:
        if task in self.raw_work:
            return self.raw_work[task], range(count)
        raise ValueError(f"unknown task {task!r}")

    def close(self) -> None:
        for desk in self.desks.values():
            desk.close()
        for conn in self.raw:
            conn.close()


def _serve(
    factory: Callable[[int, int], Worker],
    index: int,
    processes: int,
    barrier: Any,
    conn: Any,
    timeout: float,
) -> None:
    """A bench process: build the worker, then run rounds until told to stop (``None``)."""
    worker: Worker | None = None
    try:
        worker = factory(index, processes)
        conn.send(("ready", None))
        while (message := conn.recv()) is not None:
            task, count = message
            work, items = worker.prepare(task, count)
            latencies: list[float] = []
            events = 0
            barrier.wait(timeout)
            cpu0 = time.process_time()
            start = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
            for item in items:
                t0 = time.perf_counter()
                events += work(item)
                latencies.append(time.perf_counter() - t0)
            end = time.perf_counter()
            conn.send(
                (
                    "done",
                    (len(latencies), events, start, end, time.process_time() - cpu0, latencies),
                )
            )
    except BaseException:
        barrier.abort()  # the others stop waiting for this one
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
    finally:
        if worker is not None:
            worker.close()
        conn.close()


class ProcessPool:
    """``processes`` bench processes (spawned: no inherited pools, threads or locks).

    ``factory(index, processes)`` runs in each process once, before any round (opens its
    connections, builds and warms its desks); it must be picklable (a module-level function
    or an instance of a module-level class).
    """

    def __init__(
        self, factory: Callable[[int, int], Worker], processes: int, timeout: float = 600.0
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.size = processes
        self.timeout = timeout
        self.barrier = ctx.Barrier(processes)
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        for i in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_serve,
                args=(factory, i, processes, self.barrier, child, timeout),
                name=f"bench-{i}",
                daemon=True,
            )
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        try:
            self._collect("ready")
        except BaseException:
            self.close()
            raise

    def _collect(self, expected: str) -> list[Any]:
        """Every process's answer; a failure anywhere raises (the first cause, not the others'
        broken barrier)."""
        out, failures = [], []
        for i, conn in enumerate(self.conns):
            if not conn.poll(self.timeout):
                raise TimeoutError(f"bench process {i} silent for {self.timeout:.0f} s")
            kind, payload = conn.recv()
            if kind == "error":
                failures.append(f"bench process {i} failed:\n{payload}")
            elif kind != expected:
                failures.append(f"bench process {i}: {kind!r}, expected {expected!r}")
            out.append(payload)
        if failures:
            failures.sort(key=lambda text: "BrokenBarrierError" in text)
            raise RuntimeError(failures[0])
        return out

    def run(self, task: Any, count: int) -> Run:
        """``count`` items of ``task`` shared among the processes, all starting together."""
        shares = [
            count // self.size + (1 if i < count % self.size else 0) for i in range(self.size)
        ]
        for conn, share in zip(self.conns, shares, strict=True):
            conn.send((task, share))
        parts = self._collect("done")
        return Run(
            ops=sum(p[0] for p in parts),
            events=sum(p[1] for p in parts),
            seconds=max(p[3] for p in parts) - min(p[2] for p in parts),
            latencies=[x for p in parts for x in p[5]],
            cpu_seconds=sum(p[4] for p in parts),
        )

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):  # a process that failed has gone already
                conn.send(None)
        for proc in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        for conn in self.conns:
            conn.close()


def rotated(items: Sequence[Any], by: int) -> list[Any]:
    """``items`` starting at position ``by`` (modulo their number), wrapping round."""
    shift = by % len(items) if items else 0
    return [*items[shift:], *items[:shift]]


def run_rounds(
    factory: Callable[[int, int], Worker],
    counts: Sequence[int],
    repeat: int,
    plan: Callable[[int], Sequence[tuple[Any, int]]],
    say: Callable[[str], None],
) -> dict[tuple[int, Any], list[Run]]:
    """A pool of K processes for every K in ``counts``; ``repeat`` rounds of ``plan``.

    In round r every pool runs the (task, count) steps of ``plan(r)``, after one discarded
    warm-up pass of ``plan(0)`` at small counts. A plan rotates its variants from round to round
    (raw, gap-free, unordered; then gap-free, unordered, raw; ...), so that drift and other work
    on the machine hit every variant alike. Returns every run of each (K, task); the caller
    takes the median.
    """
    pools: dict[int, ProcessPool] = {}
    runs: dict[tuple[int, Any], list[Run]] = {}
    try:
        for k in counts:
            say(f"starting {k} bench process(es)")
            pools[k] = ProcessPool(factory, k)
            for task, count in plan(0):
                pools[k].run(task, min(count, 20 * k))
        for r in range(repeat):
            for k, pool in pools.items():
                for task, count in plan(r):
                    say(f"[{r + 1}/{repeat}] {k} process(es): {task_label(task)}, {count} ops")
                    runs.setdefault((k, task), []).append(pool.run(task, count))
    finally:
        for pool in pools.values():
            pool.close()
    return runs


def task_label(task: Any) -> str:
    parts: Iterable[Any] = task if isinstance(task, tuple) else (task,)
    return " ".join(VARIANT_LABELS.get(p, str(p)) for p in parts)


def summarise_processes(
    figs: Figures,
    runs: dict[tuple[int, Any], list[Run]],
    processes: int,
    measures: Sequence[tuple[Any, str, str]],
    raw_prefix: str = "raw_pg_commits",
) -> tuple[list[tuple[str, ...]], dict[Any, Run]]:
    """The median run of raw commits and of each (task, label, figure prefix) at ``processes``.

    Figures are suffixed ``_proc{K}``; every measure's ratio is to the raw commits with as many
    client processes, measured in the same rounds (a ratio of medians). The slowest and fastest
    round are shown too (``{prefix}_min_per_s_proc{K}``, ``_max_``): when they lie far apart,
    other work disturbed the rounds. Returns the table rows and the medians.
    """
    suffix = f"proc{processes}"
    medians: dict[Any, Run] = {}
    rows: list[tuple[str, ...]] = []
    for task, label, prefix in [(RAW, VARIANT_LABELS[RAW], raw_prefix), *measures]:
        rounds = runs[(processes, task)]
        run = medians[task] = median_run(rounds)
        base = None if task == RAW else medians[RAW].rate
        cells = record_run(figs, prefix, suffix, run, base)
        low = figs.add(f"{prefix}_min_per_s_{suffix}", min(r.rate for r in rounds), "ops/s")
        high = figs.add(f"{prefix}_max_per_s_{suffix}", max(r.rate for r in rounds), "ops/s")
        rows.append((label, str(processes), *cells, f"{low:,.0f}–{high:,.0f}"))
    return rows, medians


def summarise_counts(
    figs: Figures,
    runs: dict[tuple[int, Any], list[Run]],
    counts: Sequence[int],
    measures: Sequence[tuple[Any, str, str]],
    ratios: Sequence[tuple[str, Any, Any, str]],
) -> list[tuple[str, ...]]:
    """:func:`summarise_processes` at every K in ``counts``, then for each (figure, task, over,
    unit) of ``ratios`` the ratio of the two tasks' medians as ``{figure}_proc{K}``."""
    rows: list[tuple[str, ...]] = []
    for k in counts:
        part, medians = summarise_processes(figs, runs, k, measures)
        rows.extend(part)
        for name, task, over, unit in ratios:
            figs.add(f"{name}_proc{k}", medians[task].rate / medians[over].rate, unit)
    return rows


def parse_counts(parser: argparse.ArgumentParser, text: str, option: str) -> list[int]:
    """``"1,8"`` -> [1, 8] (distinct, in order); a parser error for anything else."""
    counts: list[int] = []
    for part in text.split(","):
        if not part.strip():
            continue
        if not part.strip().isdigit() or int(part) < 1:
            parser.error(f"{option} wants positive integers separated by commas, got {text!r}")
        if int(part) not in counts:
            counts.append(int(part))
    return counts


def add_pg_url(
    parser: argparse.ArgumentParser, help_text: str = "server URL without database"
) -> None:
    """``--pg-url``: the PostgreSQL server the bench creates its databases on."""
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CASETRAIL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432"),
        help=help_text,
    )


def add_process_options(parser: argparse.ArgumentParser, what: str, skipped: str) -> None:
    """``--processes K[,K...]`` (measure ``what`` from K processes) and ``--processes-only``
    (skip ``skipped``)."""
    parser.add_argument("--processes", default="", metavar="K[,K...]", help=what)
    parser.add_argument(
        "--processes-only", action="store_true", help=f"with --processes: skip {skipped}"
    )


def process_counts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[int]:
    """``--processes`` as counts; ``--processes-only`` without them is a parser error."""
    counts = parse_counts(parser, args.processes, "--processes")
    if args.processes_only and not counts:
        parser.error("--processes-only needs --processes K")
    return counts


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--keep-db`` (leave the bench databases for a look) and ``--json PATH``."""
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench databases")
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write figures here"
    )
