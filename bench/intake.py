#!/usr/bin/env python
"""Intake throughput of casetrail's desk against raw single-row commits, measured in one run.

What it measures (every figure is re-measured here; MEASURED.md only says what to expect):

* **raw PostgreSQL**: one ~500-byte INSERT per transaction into a table shaped like an event
  table, 1 client and K clients (each thread its own connection, autocommit off, commit each);
* **casetrail intake on PostgreSQL**: a fresh database ``casetrail_bench_<random>`` (dropped at
  the end), ~200 pre-registered customers, then ``desk.handle(ReceiveTicket(...))`` for a mix of
  ticket kinds, 1 thread and K threads sharing one desk (as the API will run);
* **the same on SQLite** (the embedded default) in a temp dir, next to raw ``sqlite3``
  single-row commits on the same file system, with the journal mode eventsourcing uses (WAL);
* **raw intake-shaped writes** on PostgreSQL: the very rows an intake stored (the ticket's two
  events, ~2.6 kB of state each, sampled from the bench database) written raw with
  ``executemany`` + commit, 1 client: the floor for an intake's write, as opposed to the
  500-byte single row the target is measured against;
* **in memory** (eventsourcing POPO): ``env={}`` as asked, plus the desk with the aggregate cache
  as configured, plus a breakdown (command validation, load + decide without saving, transcoding),
  so the reader sees what part of an intake is the domain and the library, not the database;
* how many SQL statements one intake sends to PostgreSQL, and the stored bytes per intake;
* a cProfile of PostgreSQL intake when single-thread intake misses the target (or ``--profile
  always``), grouped into cost buckets plus the top functions.

Target: single-thread intake on PostgreSQL >= 50 % of raw single-client commits/s.

Output: a rich table, then one ``figure: name=value unit`` line per figure (greppable);
``--json PATH`` writes the same figures (and the profile) as JSON.

Run from the repository root: ``.venv/bin/python bench/intake.py`` (``--help`` for options).
``--es-env KEY=VALUE`` overrides eventsourcing settings on every desk; ``--variants`` also runs
single-thread PostgreSQL intake under a few eventsourcing knobs and command shapes, interleaved
in small batches with a raw baseline (robust against other work on the machine).
``--repeat N`` repeats every measurement (raw and intake interleaved) and reports the median.
``--processes K[,K]`` also measures intake from K worker processes (spawned, each with its own
desks on the bench database, started together at a barrier, each doing n/K intakes): threads
share one desk and the GIL (an intake costs ~300 µs of Python CPU), so an 8-thread figure
measures the GIL, 8 processes the database. Next to it, in the same rounds (interleaved, order
rotating): raw single-row commits from K client processes, and intake through a recorder
without the ordering lock (``bench.common.UnorderedRecorder``: **not gap-free, for comparison
only**), so the reader sees what the guarantee costs; also raw one-statement commits with the
insert function's NOTIFY, with and without its ordering lock (the ceilings these two set, no
Python in the way). ``--processes-only`` skips the rest.
The "client CPU µs/op" column is this process's CPU time per operation: it is what bounds
threads sharing one desk (the GIL), and it is steadier than wall time on a busy machine.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import platform
import pstats
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ itself is sys.path[0]: drop it, or bench/projections.py would shadow
# the projections package that config.bootstrap imports. The repository root goes first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import eventsourcing  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import (  # noqa: E402
    GAP_FREE,
    RAW,
    RAW_LOCKED,
    RAW_NOTIFY,
    RAW_PG_INSERT,
    RAW_PG_TABLE,
    RAW_STATE_BYTES,
    RAW_TOPIC,
    UNORDERED,
    VARIANT_LABELS,
    DeskRecipe,
    DeskWorker,
    Figures,
    Run,
    load_average_note,
    make_desk,
    median_run,
    merge_runs,
    parse_counts,
    process_table,
    raw_writer,
    record_run,
    rotated,
    run_rounds,
    summarise_processes,
    variant_envs,
)
from config.bootstrap import system_clock  # noqa: E402
from config.catalogue import load_catalogue  # noqa: E402
from config.org_loader import load_directory  # noqa: E402
from config.settings import Settings  # noqa: E402
from domain import commands as c  # noqa: E402
from domain.base import Channel, Role  # noqa: E402
from domain.desk import Desk  # noqa: E402

TARGET_RATIO = 0.50
AGENT: dict[str, Any] = {
    "actor_id": "agent-bench",
    "role": Role.AGENT,
    "department": "service_center",
}
# Intake mix: a hotline's day is mostly complaints, outages and questions.
KIND_WEIGHTS: list[tuple[str, float]] = [
    ("complaint", 0.30),
    ("fault_repair", 0.25),
    ("inquiry", 0.15),
    ("new_connection", 0.08),
    ("meter_dispute", 0.07),
    ("billing_adjustment", 0.07),
    ("suggestion", 0.04),
    ("report", 0.04),
]
CATEGORIES = {
    "complaint": ["service_attitude", "billing", "outage_frequency", "meter_reading"],
    "fault_repair": ["no_power", "low_voltage", "line_down"],
}
PRIORITIES = [("normal", 0.7), ("high", 0.2), ("urgent", 0.07), ("low", 0.03)]
CHANNELS = [Channel.HOTLINE, Channel.HOTLINE, Channel.HOTLINE, Channel.ONLINE, Channel.APP]
CONTENT = "营业厅工作人员态度恶劣，要求道歉并说明处理结果。客户称近一个月多次停电，影响生产经营。"


# ------------------------------------------------------------------------------------ results


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


# ------------------------------------------------------------------------------ workload


def weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def register_customers(desk: Desk, count: int, rng: random.Random) -> list[uuid.UUID]:
    """Residential, commercial, industrial and group customers; every 10th a grade-A account."""
    ids: list[uuid.UUID] = []
    for i in range(count):
        ctype = weighted(
            rng,
            [("residential", 0.7), ("commercial", 0.15), ("industrial", 0.1), ("group", 0.05)],
        )
        voltage = {
            "residential": "lv_residential",
            "commercial": "lv",
            "industrial": rng.choice(["10kV", "35kV"]),
            "group": "10kV",
        }[ctype]
        out = desk.handle(
            c.RegisterCustomer(
                **AGENT,
                command_id=f"bench-customer-{uuid.uuid4().hex}",
                name=f"客户{i:04d}",
                customer_type=ctype,
                area=weighted(rng, [("urban", 0.6), ("rural", 0.3), ("remote", 0.1)]),
                voltage=voltage,
                station=f"station_{rng.randint(1, 5)}",
                phone=f"138{rng.randint(0, 99_999_999):08d}",
                address=f"城关镇幸福路{i}号",
            )
        )
        if i % 10 == 0:
            desk.handle(
                c.AssignGrade(
                    **AGENT,
                    customer_id=out.id,
                    grade="A",
                    key_account=True,
                    basis="年购电量超过100万元",
                )
            )
        ids.append(out.id)
    return ids


def intake_fields(
    rng: random.Random,
    customers: Sequence[uuid.UUID],
    count: int,
    new_caller_share: float,
    with_command_id: bool,
) -> list[dict[str, Any]]:
    """The raw payloads of ``count`` intake commands (validated later, outside the timing)."""
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        kind = weighted(rng, KIND_WEIGHTS)
        row: dict[str, Any] = {
            **AGENT,
            "kind": kind,
            "category": rng.choice(CATEGORIES.get(kind, ["general"])),
            "priority": weighted(rng, PRIORITIES),
            "channel": rng.choice(CHANNELS),
            "content": CONTENT,
        }
        if with_command_id:
            row["command_id"] = f"bench-{uuid.uuid4().hex}"
        if rng.random() < new_caller_share:
            row.update(
                customer_name="王建国",
                phone=f"139{rng.randint(0, 99_999_999):08d}",
                address="城关镇幸福路12号",
                area="urban",
                station="station_1",
            )
        else:
            row["customer_id"] = rng.choice(customers)
        rows.append(row)
    return rows


def customers_for(env: dict[str, str], count: int, rng: random.Random) -> list[uuid.UUID]:
    """Register ``count`` customers through a desk of their own (closed again)."""
    desk = make_desk(env)
    try:
        return register_customers(desk, count, rng)
    finally:
        desk.close()


def build_commands(rows: Sequence[dict[str, Any]]) -> list[c.ReceiveTicket]:
    return [c.ReceiveTicket(**row) for row in rows]


def intake_worker(desk: Desk) -> Callable[[c.ReceiveTicket], int]:
    def work(cmd: c.ReceiveTicket) -> int:
        out = desk.handle(cmd)
        # The ticket's events, plus CustomerRegistered for an unknown caller.
        return len(out.events) + (1 if cmd.customer_name else 0)

    return work


def same_desk(desk: Desk) -> Callable[[int], Callable[[c.ReceiveTicket], int]]:
    """Every thread drives the same desk (as the API's worker threads will)."""
    return lambda _thread: intake_worker(desk)


def warm(desk: Desk, customers: Sequence[uuid.UUID], commands: Sequence[c.ReceiveTicket]) -> None:
    """Fill the aggregate cache with every customer and run a few untimed intakes."""
    for ident in customers:
        desk.repository.get(ident)
    for cmd in commands:
        desk.handle(cmd)


# ------------------------------------------------------------------------------- postgres


@contextmanager
def fresh_pg_database(server_url: str, keep: bool) -> Iterator[str]:
    """Create ``casetrail_bench_<random>``; drop it at the end (unless ``keep``)."""
    name = f"casetrail_bench_{uuid.uuid4().hex[:10]}"
    admin = f"{server_url.rstrip('/')}/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def raw_pg(db_url: str, rows: int, threads: int) -> Run:
    """One ~500-byte INSERT per transaction, each thread with its own connection."""
    conns: dict[int, psycopg.Connection[Any]] = {}

    def make_worker(i: int) -> Callable[[Any], int]:
        conn = psycopg.connect(db_url, autocommit=False)
        conns[i] = conn
        return raw_writer(conn)

    def finish(i: int) -> None:
        conn = conns.get(i)
        if conn is not None:
            conn.close()

    return run_threads(threads, range(rows), make_worker, finish)


def sample_intake_writes(db_url: str, table: str, limit: int = 50) -> list[list[Any]]:
    """The (version, topic, state) rows of recent intakes (tickets: version 1 and 2)."""
    query = sql.SQL(
        "SELECT originator_id, originator_version, topic, state FROM {} "
        "WHERE originator_id IN (SELECT originator_id FROM {} WHERE originator_version = 2 "
        "AND topic LIKE %s ORDER BY notification_id DESC LIMIT %s) "
        "ORDER BY originator_id, originator_version"
    ).format(sql.Identifier(table), sql.Identifier(table))
    groups: dict[Any, list[Any]] = {}
    with psycopg.connect(db_url) as conn:
        for oid, version, topic, state in conn.execute(query, ("%SlaPolicyBound", limit)):
            groups.setdefault(oid, []).append((version, topic, bytes(state)))
    return [g for g in groups.values() if len(g) == 2]


def raw_pg_shaped(db_url: str, ops: int, writes: Sequence[list[Any]]) -> Run:
    """The same rows and bytes one intake writes, raw: executemany + commit, 1 client."""
    conns: dict[int, psycopg.Connection[Any]] = {}

    def make_worker(i: int) -> Callable[[Any], int]:
        conn = psycopg.connect(db_url, autocommit=False)
        conns[i] = conn
        cur = conn.cursor()
        insert = RAW_PG_INSERT.replace("raw_events", "raw_shaped")

        def work(n: int) -> int:
            oid = uuid.uuid4()
            rows = writes[n % len(writes)]
            cur.executemany(insert, [(oid, v, t, st) for v, t, st in rows])
            conn.commit()
            return len(rows)

        return work

    def finish(i: int) -> None:
        conn = conns.get(i)
        if conn is not None:
            conn.close()

    return run_threads(1, range(ops), make_worker, finish)


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


def pg_stored_bytes(db_url: str, table: str) -> tuple[int, float]:
    """How many events, and their average stored size (state + topic + id, version, serial)."""
    query = sql.SQL(
        "SELECT count(*), coalesce(avg(length(state) + length(topic) + 16 + 8 + 8), 0) FROM {}"
    ).format(sql.Identifier(table))
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


# --------------------------------------------------------------------------------- sqlite

RAW_SQLITE_TABLE = """
CREATE TABLE raw_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    originator_id BLOB NOT NULL,
    version INTEGER NOT NULL,
    topic TEXT NOT NULL,
    state BLOB NOT NULL,
    UNIQUE (originator_id, version)
)
"""


def raw_sqlite(path: Path, rows: int, threads: int) -> Run:
    """BEGIN; one INSERT; COMMIT per row, WAL journal (as eventsourcing sets it)."""
    state = os.urandom(RAW_STATE_BYTES)
    conns: dict[int, sqlite3.Connection] = {}

    def make_worker(i: int) -> Callable[[Any], int]:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conns[i] = conn

        def work(_: Any) -> int:
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO raw_events (originator_id, version, topic, state) VALUES (?, ?, ?, ?)",
                (uuid.uuid4().bytes, 1, RAW_TOPIC, state),
            )
            conn.execute("COMMIT")
            return 1

        return work

    def finish(i: int) -> None:
        conn = conns.get(i)
        if conn is not None:
            conn.close()

    return run_threads(threads, range(rows), make_worker, finish)


def prepare_raw_sqlite(path: Path) -> str:
    with sqlite3.connect(path, isolation_level=None) as conn:
        mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        conn.execute(RAW_SQLITE_TABLE)
        sync = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    conn.close()
    return f"{mode}, synchronous={sync}"


# -------------------------------------------------------------------------------- profile

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


def profile_intake(desk: Desk, commands: Sequence[c.ReceiveTicket], top: int) -> dict[str, Any]:
    prof = cProfile.Profile()
    work = intake_worker(desk)
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


# ------------------------------------------------------------------------------------ bench


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


@dataclass
class IntakeProcess(DeskRecipe):
    """A bench process taking intakes (``task`` = the desk variant)."""

    new_caller_share: float
    command_id: bool

    def __call__(self, index: int, processes: int) -> IntakeWorker:
        return IntakeWorker(self, index)


class IntakeWorker(DeskWorker):
    """Each round's intakes are drawn (and validated) before the start line."""

    def __init__(self, recipe: IntakeProcess, index: int) -> None:
        super().__init__(recipe, index)
        self.shape = (recipe.new_caller_share, recipe.command_id)

    def prepare(self, task: Any, count: int) -> tuple[Callable[[Any], int], Sequence[Any]]:
        if task not in self.desks:
            return super().prepare(task, count)
        rows = intake_fields(self.rng, self.customers, count, *self.shape)
        return intake_worker(self.desks[task]), build_commands(rows)


@dataclass
class Options:
    pg_url: str
    n: int
    raw_n: int
    threads: list[int]
    repeat: int
    customers: int
    new_caller_share: float
    command_id: bool
    profile: str
    profile_n: int
    variants: bool
    es_env: dict[str, str]
    seed: int
    no_pg: bool
    no_sqlite: bool
    keep_db: bool
    json_path: Path | None
    processes: list[int] = field(default_factory=list)
    processes_only: bool = False


class Bench:
    def __init__(self, opts: Options, console: Console) -> None:
        self.o = opts
        self.console = console
        self.figs = Figures()
        self.rng = random.Random(opts.seed)
        self.rows: list[tuple[str, str, str, str, str, str, str, str]] = []
        self.proc_rows: list[tuple[str, ...]] = []
        self.profile: dict[str, Any] | None = None
        self.notes: list[str] = []

    def say(self, text: str) -> None:
        self.console.print(f"[dim]… {text}[/dim]")

    def commands(self, customers: Sequence[uuid.UUID], count: int, **kw: Any) -> list[Any]:
        args: dict[str, Any] = {
            "new_caller_share": self.o.new_caller_share,
            "with_command_id": self.o.command_id,
        }
        args.update(kw)
        return build_commands(intake_fields(self.rng, customers, count, **args))

    def record(
        self, backend: str, what: str, threads: int, run: Run, base: float | None, prefix: str
    ) -> None:
        cells = record_run(self.figs, prefix, f"t{threads}", run, base)
        self.rows.append((backend, what, str(threads), *cells))

    # ---------------------------------------------------------------- in memory

    def in_memory(self) -> None:
        o = self.o
        self.say("in-memory (POPO): env={} and with the aggregate cache as configured")
        cache_env = {"AGGREGATE_CACHE_MAXSIZE": str(Settings().aggregate_cache_size), **o.es_env}
        for label, env, prefix in (
            ("intake, env={}", {}, "inmem_intake"),
            ("intake, cache as settings", cache_env, "inmem_cached_intake"),
        ):
            desk = make_desk(dict(env))
            customers = register_customers(desk, o.customers, self.rng)
            warm(desk, customers, self.commands(customers, 50))
            runs = [
                run_threads(1, self.commands(customers, o.n), same_desk(desk))
                for _ in range(o.repeat)
            ]
            self.record("memory", label, 1, median_run(runs), None, prefix)
            desk.close()

        # Breakdown of one intake (best of a few passes: these are CPU-only micro-timings):
        # validation, load + decide without saving, transcoding the events to bytes.
        rows = intake_fields(self.rng, [uuid.uuid4()], o.n, 0.0, o.command_id)
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            build_commands(rows)
            best = min(best, time.perf_counter() - t0)
        self.figs.add("cmd_validate_us", best / len(rows) * 1e6, "us/intake")
        desk = NoSaveDesk(
            catalogue=load_catalogue(),
            directory=load_directory(),
            clock=system_clock,
            env=cache_env,
        )
        customers = register_customers(desk, o.customers, self.rng)
        warm(desk, customers, self.commands(customers, 50))
        desk.dry = True
        best = math.inf
        for _ in range(max(2, o.repeat)):
            cmds = self.commands(customers, o.n)
            t0 = time.perf_counter()
            for cmd in cmds:
                desk.handle(cmd)
            best = min(best, time.perf_counter() - t0)
        self.figs.add("inmem_load_decide_us", best / o.n * 1e6, "us/intake")
        # Keep the events of one more batch to time their transcoding alone.
        pending: list[Any] = []
        desk.sink = pending
        for cmd in self.commands(customers, o.n):
            desk.handle(cmd)
        desk.sink = None
        best = math.inf
        stored: list[Any] = []
        for _ in range(3):
            t0 = time.perf_counter()
            stored = [desk.mapper.to_stored_event(e) for e in pending]
            best = min(best, time.perf_counter() - t0)
        self.figs.add("inmem_transcode_us", best / o.n * 1e6, "us/intake")
        self.figs.add(
            "event_state_bytes_avg", sum(len(s.state) for s in stored) / len(stored), "bytes"
        )
        self.figs.add("events_per_intake", len(stored) / o.n, "events")
        desk.close()

    # --------------------------------------------------------------------- postgres

    def postgres(self) -> None:
        o = self.o
        try:
            with psycopg.connect(f"{o.pg_url.rstrip('/')}/postgres", connect_timeout=5):
                pass
        except psycopg.OperationalError as exc:
            self.notes.append(f"PostgreSQL not reachable at {o.pg_url}: {exc}".strip())
            self.console.print(
                f"[red]PostgreSQL not reachable at {o.pg_url}; start it with "
                "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
                "or pass --no-pg[/red]"
            )
            return
        with fresh_pg_database(o.pg_url, o.keep_db) as dbname:
            db_url = f"{o.pg_url.rstrip('/')}/{dbname}"
            self.say(f"PostgreSQL database {dbname}")
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute(RAW_PG_TABLE)
                conn.execute(RAW_PG_TABLE.replace("raw_events", "raw_shaped"))
                version = conn.execute("SHOW server_version").fetchone()
                sync = conn.execute("SHOW synchronous_commit").fetchone()
            self.notes.append(
                f"PostgreSQL {version[0] if version else '?'}, "
                f"synchronous_commit={sync[0] if sync else '?'}"
            )
            if o.processes:
                self.pg_processes(db_url)
            if o.processes_only:
                return
            settings = Settings(database_url=db_url)
            env = {**settings.eventsourcing_env(), **o.es_env}
            pool_max = int(env["POSTGRES_POOL_SIZE"]) + int(env["POSTGRES_MAX_OVERFLOW"])
            self.notes.append(
                f"desk pool: POSTGRES_POOL_SIZE={env['POSTGRES_POOL_SIZE']} + "
                f"MAX_OVERFLOW={env['POSTGRES_MAX_OVERFLOW']} = {pool_max} connections; "
                f"ENABLE_DB_FUNCTIONS={env.get('POSTGRES_ENABLE_DB_FUNCTIONS', 'n')}, "
                f"AGGREGATE_CACHE_MAXSIZE={env.get('AGGREGATE_CACHE_MAXSIZE')}"
            )
            if max(o.threads, default=1) > pool_max:
                self.notes.append(
                    f"WARNING: {max(o.threads)} threads > {pool_max} pooled connections: "
                    "threads queue for a connection"
                )
            desk = make_desk(env)
            ks = [1, *o.threads]
            raw: dict[int, float] = {}
            try:
                self.say(f"registering {o.customers} customers")
                customers = register_customers(desk, o.customers, self.rng)
                warm(desk, customers, self.commands(customers, 50))
                with count_pg_statements() as counts:
                    sample = 50
                    work = intake_worker(desk)
                    for cmd in self.commands(customers, sample):
                        work(cmd)
                self.figs.add(
                    "pg_statements_per_intake", sum(counts.values()) / sample, "statements"
                )
                self.figs.add(
                    "pg_selects_per_intake", counts.get("select/other", 0) / sample, "statements"
                )
                table = desk.recorder.events_table_name  # type: ignore[attr-defined]
                writes = sample_intake_writes(db_url, table)
                raw_pg(db_url, min(200, o.raw_n), 1)  # warm-up: connections, WAL, plan
                shaped_runs: list[Run] = []
                raw_runs: dict[int, list[Run]] = {k: [] for k in ks}
                intake_runs: dict[int, list[Run]] = {k: [] for k in ks}
                for r in range(o.repeat):
                    # Rounds interleave raw and intake, so drift hits both alike.
                    for k in ks:
                        self.say(
                            f"[{r + 1}/{o.repeat}] raw psycopg, {o.raw_n} commits, {k} client(s)"
                        )
                        raw_runs[k].append(raw_pg(db_url, o.raw_n, k))
                    if writes:
                        self.say(f"[{r + 1}/{o.repeat}] raw psycopg, intake-shaped writes")
                        shaped_runs.append(raw_pg_shaped(db_url, o.n, writes))
                    for k in ks:
                        self.say(
                            f"[{r + 1}/{o.repeat}] casetrail intake, {o.n} commands, {k} thread(s)"
                        )
                        cmds = self.commands(customers, o.n)
                        intake_runs[k].append(run_threads(k, cmds, same_desk(desk)))
                for k in ks:
                    run = median_run(raw_runs[k])
                    raw[k] = run.rate
                    self.record("postgres", "raw 1-row commit", k, run, None, "raw_pg_commits")
                if shaped_runs:
                    run = median_run(shaped_runs)
                    self.record(
                        "postgres", "raw intake-shaped commit", 1, run, None, "raw_pg_shaped"
                    )
                    shaped = run.rate
                for k in ks:
                    run = median_run(intake_runs[k])
                    self.record("postgres", "casetrail intake", k, run, raw[k], "pg_intake")
                if shaped_runs:
                    pg1 = self.figs.get("pg_intake_per_s_t1") or 0.0
                    self.figs.add("pg_intake_ratio_to_shaped_t1", pg1 / shaped, "x_raw_shaped")
                _count, avg = pg_stored_bytes(db_url, table)
                self.figs.add("pg_stored_event_bytes_avg", avg, "bytes")
                ratio = self.figs.get("pg_intake_ratio_t1") or 0.0
                self.figs.add("pg_target_met", 1.0 if ratio >= TARGET_RATIO else 0.0, "bool")
                if o.profile == "always" or (o.profile == "auto" and ratio < TARGET_RATIO):
                    self.say(f"cProfile of {o.profile_n} intakes on PostgreSQL")
                    self.profile = profile_intake(
                        desk, self.commands(customers, o.profile_n), top=15
                    )
            finally:
                desk.close()
            if o.variants:
                self.pg_variants(db_url, env)

    def pg_variants(self, db_url: str, base_env: dict[str, str]) -> None:
        """Single-thread intake under eventsourcing knobs and command shapes (same database).

        Every variant has its own desk (pool of 1 + 1 connections: one thread needs one); the
        variants and a raw single-row-commit baseline run in batches of 50, in a shuffled order
        each round, so that other work on the machine hits all of them alike.
        """
        o = self.o
        ff_off = {"AGGREGATE_CACHE_FASTFORWARD": "n"}
        variants: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
            ("configured", "as configured", {}, {}),
            (
                "nodeepcopy",
                "DEEPCOPY_FROM_AGGREGATE_CACHE=n",
                {"DEEPCOPY_FROM_AGGREGATE_CACHE": "n"},
                {},
            ),
            ("noff", "AGGREGATE_CACHE_FASTFORWARD=n", ff_off, {}),
            (
                "noff_nodeepcopy",
                "FASTFORWARD=n + DEEPCOPY=n",
                {**ff_off, "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"},
                {},
            ),
            ("nocmdid", "no command_id", {}, {"with_command_id": False}),
            ("nocmdid_noff", "no command_id + FASTFORWARD=n", ff_off, {"with_command_id": False}),
            (
                "zlib",
                "COMPRESSOR_TOPIC=zlib",
                {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"},
                {},
            ),
            ("nodbfn", "POSTGRES_ENABLE_DB_FUNCTIONS=n", {"POSTGRES_ENABLE_DB_FUNCTIONS": "n"}, {}),
        ]
        small_pool = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "1"}
        batch = 50
        rounds = max(1, o.n // batch)
        desks: list[Desk] = []
        runs: dict[str, list[Run]] = {slug: [] for slug, *_ in variants}
        raw_runs: list[Run] = []
        try:
            prepared = []
            for slug, label, extra, kw in variants:
                self.say(f"variant desk: {label}")
                desk = make_desk({**base_env, **small_pool, **extra})
                desks.append(desk)
                customers = register_customers(desk, o.customers, self.rng)
                warm(desk, customers, self.commands(customers, 50, **kw))
                prepared.append((slug, desk, customers, kw))
            self.say(f"variants: {rounds} rounds of {batch} intakes each, shuffled")
            for _ in range(rounds):
                raw_runs.append(raw_pg(db_url, batch, 1))
                self.rng.shuffle(prepared)
                for slug, desk, customers, kw in prepared:
                    cmds = self.commands(customers, batch, **kw)
                    runs[slug].append(run_threads(1, cmds, same_desk(desk)))
        finally:
            for desk in desks:
                desk.close()
        raw = merge_runs(raw_runs)
        self.record("pg variant", "raw 1-row commit (interleaved)", 1, raw, None, "pg_variant_raw")
        for slug, label, _extra, _kw in variants:
            run = merge_runs(runs[slug])
            self.record("pg variant", label, 1, run, raw.rate, f"pg_variant_{slug}")

    def pg_processes(self, db_url: str) -> None:
        """Intake from K processes, each with its own desks, next to raw commits from K clients.

        Per round and per K: raw single-row commits, gap-free intake (the desk as configured)
        and intake through :class:`bench.common.UnorderedRecorder` (no ordering lock: not
        gap-free, for comparison only), in an order that rotates from round to round. Also raw
        commits shaped as the insert function (+ NOTIFY, + NOTIFY and ordering lock): the
        ceilings serialised commits set, with no Python in the way.
        """
        o = self.o
        envs = variant_envs(db_url, o.es_env)
        self.notes.append(
            "processes: every bench process has its own desks (pool 1 + 1 connections each, "
            "one thread drives them) and its own raw connections; p50/p99 over every operation "
            "of every process; client CPU is the sum over the processes"
        )
        self.say(f"registering {o.customers} customers for the process bench")
        customers = customers_for(envs[GAP_FREE], o.customers, self.rng)
        recipe = IntakeProcess(db_url, envs, customers, o.seed, o.new_caller_share, o.command_id)
        steps = {
            RAW: o.raw_n,
            RAW_NOTIFY: o.raw_n,
            RAW_LOCKED: o.raw_n,
            GAP_FREE: o.n,
            UNORDERED: o.n,
        }
        runs = run_rounds(
            recipe,
            o.processes,
            o.repeat,
            lambda r: [(task, steps[task]) for task in rotated(list(steps), r)],
            self.say,
        )
        measures = [
            (RAW_NOTIFY, VARIANT_LABELS[RAW_NOTIFY], "raw_pg_notify_commits"),
            (RAW_LOCKED, VARIANT_LABELS[RAW_LOCKED], "raw_pg_locked_commits"),
            (GAP_FREE, f"casetrail intake, {VARIANT_LABELS[GAP_FREE]}", "pg_intake"),
            (UNORDERED, f"casetrail intake, {VARIANT_LABELS[UNORDERED]}", "pg_unordered_intake"),
        ]
        for k in o.processes:
            rows, medians = summarise_processes(self.figs, runs, k, measures)
            self.proc_rows.extend(rows)
            self.figs.add(
                f"pg_intake_vs_unordered_proc{k}",
                medians[GAP_FREE].rate / medians[UNORDERED].rate,
                "x_unordered",
            )
            self.figs.add(
                f"raw_pg_locked_vs_notify_proc{k}",
                medians[RAW_LOCKED].rate / medians[RAW_NOTIFY].rate,
                "x_notify",
            )

    # ----------------------------------------------------------------------- sqlite

    def sqlite(self) -> None:
        o = self.o
        tmp = Path(tempfile.mkdtemp(prefix="casetrail_bench_"))
        try:
            raw_path = tmp / "raw.sqlite"
            mode = prepare_raw_sqlite(raw_path)
            self.notes.append(f"SQLite {sqlite3.sqlite_version} in {tmp} ({mode})")
            settings = Settings(database_url=f"sqlite:///{tmp / 'casetrail.sqlite'}")
            desk = make_desk({**settings.eventsourcing_env(), **o.es_env})
            ks = [1, *o.threads]
            try:
                customers = register_customers(desk, o.customers, self.rng)
                warm(desk, customers, self.commands(customers, 50))
                raw_sqlite(raw_path, min(200, o.raw_n), 1)
                raw_runs: dict[int, list[Run]] = {k: [] for k in ks}
                intake_runs: dict[int, list[Run]] = {k: [] for k in ks}
                for r in range(o.repeat):
                    for k in ks:
                        self.say(
                            f"[{r + 1}/{o.repeat}] raw sqlite3, {o.raw_n} commits, {k} conn(s)"
                        )
                        raw_runs[k].append(raw_sqlite(raw_path, o.raw_n, k))
                    for k in ks:
                        self.say(
                            f"[{r + 1}/{o.repeat}] intake on SQLite, {o.n} commands, {k} thread(s)"
                        )
                        cmds = self.commands(customers, o.n)
                        intake_runs[k].append(run_threads(k, cmds, same_desk(desk)))
                raw: dict[int, float] = {}
                for k in ks:
                    run = median_run(raw_runs[k])
                    raw[k] = run.rate
                    self.record("sqlite", "raw 1-row commit", k, run, None, "raw_sqlite_commits")
                for k in ks:
                    run = median_run(intake_runs[k])
                    self.record("sqlite", "casetrail intake", k, run, raw[k], "sqlite_intake")
            finally:
                desk.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---------------------------------------------------------------------- output

    def run(self) -> None:
        started = time.perf_counter()
        self.load_note("at start")
        if not self.o.processes_only:
            self.in_memory()
        if not self.o.no_pg:
            self.postgres()
        if not self.o.no_sqlite and not self.o.processes_only:
            self.sqlite()
        self.figs.add("bench_wall_s", time.perf_counter() - started, "s")
        self.load_note("at end")

    def load_note(self, when: str) -> None:
        note = load_average_note(self.figs, when)
        if note:
            self.notes.append(note)

    def report(self) -> None:
        con = self.console
        table = Table(title="casetrail intake vs raw single-row commits", show_lines=False)
        for col, just in (
            ("backend", "left"),
            ("what", "left"),
            ("threads", "right"),
            ("ops/s", "right"),
            ("events/s", "right"),
            ("p50 / p99 ms", "right"),
            ("client CPU µs/op", "right"),
            ("× raw (same threads)", "right"),
        ):
            table.add_column(col, justify=just, min_width=30 if col == "what" else None)  # type: ignore[arg-type]
        for row in self.rows:
            table.add_row(*row)
        if self.rows:
            con.print(table)
        if self.proc_rows:
            con.print(
                process_table(
                    "casetrail intake from K processes (each its own desk) vs raw commits "
                    "from K client processes, same rounds",
                    self.proc_rows,
                )
            )

        f = self.figs
        where = Table(title="where one intake's time goes (single thread)")
        where.add_column("part")
        where.add_column("µs / intake", justify="right")
        parts = [
            ("command validation (pydantic, before handle)", f.get("cmd_validate_us")),
            ("load + decide, no save (in memory, cache on)", f.get("inmem_load_decide_us")),
            ("JSON transcoding of the events", f.get("inmem_transcode_us")),
        ]
        cached = f.get("inmem_cached_intake_per_s_t1")
        if cached:
            parts.append(("full intake in memory (POPO, cache on)", 1e6 / cached))
        pg1 = f.get("pg_intake_per_s_t1")
        if pg1:
            parts.append(("full intake on PostgreSQL", 1e6 / pg1))
            raw1 = f.get("raw_pg_commits_per_s_t1")
            if raw1:
                parts.append(("raw single-row commit on PostgreSQL (500 B)", 1e6 / raw1))
            shaped = f.get("raw_pg_shaped_per_s_t1")
            if shaped:
                parts.append(("raw commit of the same rows one intake writes", 1e6 / shaped))
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

        if self.profile:
            prof = Table(
                title=(
                    f"cProfile, {self.profile['intakes']} intakes on PostgreSQL "
                    f"({self.profile['ms_per_intake_under_profiler']:.2f} ms/intake "
                    "under the profiler)"
                )
            )
            prof.add_column("bucket")
            prof.add_column("ms / intake", justify="right")
            prof.add_column("share", justify="right")
            for b in self.profile["buckets"]:
                prof.add_row(b["bucket"], f"{b['ms_per_intake']:.3f}", f"{b['share']:.0%}")
            con.print(prof)
            top = Table(title="top functions by own time")
            top.add_column("function")
            top.add_column("calls/intake", justify="right")
            top.add_column("own ms/intake", justify="right")
            top.add_column("cum ms/intake", justify="right")
            n = self.profile["intakes"]
            for t in self.profile["top_tottime"]:
                top.add_row(
                    t["function"],
                    f"{t['calls'] / n:.1f}",
                    f"{t['tottime_ms_per_intake']:.3f}",
                    f"{t['cumtime_ms_per_intake']:.3f}",
                )
            con.print(top)

        ratio = f.get("pg_intake_ratio_t1")
        if ratio is not None:
            verdict = "MET" if ratio >= TARGET_RATIO else "NOT MET"
            colour = "green" if ratio >= TARGET_RATIO else "red"
            con.print(
                f"[{colour}]target: single-thread intake on PostgreSQL = {ratio:.2f} × raw "
                f"single-client commits (target ≥ {TARGET_RATIO:.2f}): {verdict}[/{colour}]"
            )
        for note in self.notes:
            con.print(f"[dim]{note}[/dim]")
        f.print_lines()

    def write_json(self, path: Path) -> None:
        doc = {
            "bench": "intake",
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "eventsourcing": eventsourcing.__version__
            if hasattr(eventsourcing, "__version__")
            else None,
            "psycopg": psycopg.__version__,
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.o).items()},
            "target_ratio": TARGET_RATIO,
            "notes": self.notes,
            "figures": {k: {"value": v, "unit": u} for k, (v, u) in self.figs.values.items()},
            "profile": self.profile,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")


# ------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        description="casetrail intake throughput vs raw single-row commits (PostgreSQL, SQLite, "
        "in memory). Defaults finish in well under 3 minutes on 2 cores."
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("CASETRAIL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432"),
        help="server URL without database (a fresh casetrail_bench_<random> is created)",
    )
    p.add_argument("-n", "--n", type=int, default=1000, help="intake commands per run")
    p.add_argument("--raw-n", type=int, default=2000, help="raw single-row commits per run")
    p.add_argument(
        "--threads", default="4,8", help="comma-separated thread counts besides 1 (e.g. 4,8)"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every measurement (raw and intake interleaved); the median is reported",
    )
    p.add_argument("--customers", type=int, default=200, help="customers registered up front")
    p.add_argument(
        "--new-caller-share",
        type=float,
        default=0.05,
        help="share of intakes from an unknown caller (customer registered on the fly)",
    )
    p.add_argument(
        "--no-command-id",
        action="store_true",
        help="send intakes without command_id (skips the desk's idempotency lookup)",
    )
    p.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="cProfile PostgreSQL intake: auto = only when below the 50 %% target",
    )
    p.add_argument("--profile-n", type=int, default=300, help="intakes to profile")
    p.add_argument(
        "--variants",
        action="store_true",
        help="also run single-thread PostgreSQL intake under eventsourcing knobs, interleaved "
        "(+~60 s with the default -n)",
    )
    p.add_argument(
        "--es-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an eventsourcing setting on every desk (repeatable)",
    )
    p.add_argument(
        "--processes",
        default="",
        metavar="K[,K...]",
        help="also measure PostgreSQL intake from K processes (spawned, each with its own "
        "desks, started together), next to raw commits from K client processes and to intake "
        "without the ordering lock (not gap-free, for comparison only); e.g. 1,8",
    )
    p.add_argument(
        "--processes-only",
        action="store_true",
        help="with --processes: skip in memory, PostgreSQL threads and SQLite",
    )
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    p.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    p.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write figures here")
    a = p.parse_args(argv)
    es_env: dict[str, str] = {}
    for item in a.es_env:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--es-env wants KEY=VALUE, got {item!r}")
        es_env[key.strip()] = value
    threads = [int(t) for t in str(a.threads).split(",") if t.strip()]
    threads = [t for t in threads if t > 1]
    if a.n < 10 or a.raw_n < 10:
        p.error("--n and --raw-n must be at least 10")
    processes = parse_counts(p, a.processes, "--processes")
    if a.processes_only and not processes:
        p.error("--processes-only needs --processes K")
    return Options(
        pg_url=a.pg_url,
        n=a.n,
        raw_n=a.raw_n,
        threads=threads,
        repeat=max(1, a.repeat),
        customers=max(1, a.customers),
        new_caller_share=a.new_caller_share,
        command_id=not a.no_command_id,
        profile=a.profile,
        profile_n=a.profile_n,
        variants=a.variants,
        es_env=es_env,
        seed=a.seed,
        no_pg=a.no_pg,
        no_sqlite=a.no_sqlite,
        keep_db=a.keep_db,
        json_path=a.json,
        processes=processes,
        processes_only=a.processes_only,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    bench = Bench(opts, console)
    bench.run()
    bench.report()
    if opts.json_path is not None:
        bench.write_json(opts.json_path)
        console.print(f"[dim]figures written to {opts.json_path}[/dim]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
