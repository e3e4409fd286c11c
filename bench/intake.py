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
``--chain-cost`` also measures single-thread intake on a store with the hash chain and on one
without it (PostgreSQL: the chain's trigger dropped; SQLite: the library's own recorder), in
interleaved rounds, printed side by side with the time the chain adds (target ≤ 10 %);
``--chain-cost-only`` runs only that. ``--seal-cost`` (``--seal-cost-only``) does the same for
sealing personal data with per-customer keys (``bootstrap.personal``) against none.
The "client CPU µs/op" column is this process's CPU time per operation: it is what bounds
threads sharing one desk (the GIL), and it is steadier than wall time on a busy machine.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ itself is sys.path[0]: drop it, or bench/projections.py would shadow
# the projections package that bootstrap imports. The repository root goes first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import eventsourcing  # noqa: E402
import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402

from bench.common import (  # noqa: E402
    GAP_FREE,
    RAW,
    RAW_LOCKED,
    RAW_NOTIFY,
    UNORDERED,
    VARIANT_LABELS,
    add_output_options,
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
from bench.costs import (  # noqa: E402
    NoSaveDesk,
    intake_breakdown,
    pg_statements,
    pg_stored_bytes,
    print_breakdown,
    print_profile,
    profile_commands,
)
from bench.raw import (  # noqa: E402
    RAW_PG_TABLE,
    prepare_raw_sqlite,
    raw_pg,
    raw_pg_shaped,
    raw_sqlite,
    sample_intake_writes,
)
from bench.report import (  # noqa: E402
    Figures,
    Run,
    load_average_note,
    median_run,
    merge_runs,
    process_table,
    record_run,
    run_threads,
    runs_table,
    write_json,
)
from bench.workload import (  # noqa: E402
    IntakeProcess,
    add_workload_options,
    build_commands,
    customers_for,
    intake_fields,
    intake_worker,
    register_customers,
    same_desk,
    warm,
)
from bootstrap import system_clock  # noqa: E402
from bootstrap.catalogue import load_catalogue  # noqa: E402
from bootstrap.org_loader import load_directory  # noqa: E402
from config.settings import Settings  # noqa: E402
from domain.desk import Desk  # noqa: E402

TARGET_RATIO = 0.50
CHAIN_TARGET = 0.10  # the hash chain may add at most this share to an intake's time
PLAIN_SQLITE = "eventsourcing.sqlite:SQLiteApplicationRecorder"  # the library's: no chain


# ------------------------------------------------------------------------------------ bench


class Bench:
    def __init__(self, opts: argparse.Namespace, console: Console) -> None:
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
        shape = {"new_caller_share": self.o.new_caller_share, "with_command_id": self.o.command_id}
        return build_commands(intake_fields(self.rng, customers, count, **{**shape, **kw}))

    def ready(self, desk: Desk, **kw: Any) -> list[uuid.UUID]:
        """Register the customers through ``desk`` and warm it: its cache holds them all."""
        customers = register_customers(desk, self.o.customers, self.rng)
        warm(desk, customers, self.commands(customers, 50, **kw))
        return customers

    def record(
        self, backend: str, what: str, threads: int, run: Run, base: float | None, prefix: str
    ) -> None:
        cells = record_run(self.figs, prefix, f"t{threads}", run, base)
        self.rows.append((backend, what, str(threads), *cells))

    def rounds(
        self,
        desk: Desk,
        customers: Sequence[uuid.UUID],
        raw: tuple[str, Callable[[int], Run]],
        intake: str,
        between: Callable[[int], None] | None = None,
    ) -> tuple[dict[int, Run], dict[int, Run]]:
        """``--repeat`` rounds of raw commits, then intakes, at 1 and every ``--threads``
        count (interleaved, so drift hits both alike); the median run of each, per count.

        ``raw`` is (what it is, the run at k clients); ``between(r)`` runs after the raw
        commits of round r."""
        o = self.o
        ks = [1, *o.threads]
        raw_runs: dict[int, list[Run]] = {k: [] for k in ks}
        intake_runs: dict[int, list[Run]] = {k: [] for k in ks}
        for r in range(o.repeat):
            for k in ks:
                self.say(f"[{r + 1}/{o.repeat}] {raw[0]}, {o.raw_n} commits, {k} client(s)")
                raw_runs[k].append(raw[1](k))
            if between is not None:
                between(r)
            for k in ks:
                self.say(f"[{r + 1}/{o.repeat}] {intake}, {o.n} commands, {k} thread(s)")
                cmds = self.commands(customers, o.n)
                intake_runs[k].append(run_threads(k, cmds, same_desk(desk)))
        return (
            {k: median_run(runs) for k, runs in raw_runs.items()},
            {k: median_run(runs) for k, runs in intake_runs.items()},
        )

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
            customers = self.ready(desk)
            runs = [
                run_threads(1, self.commands(customers, o.n), same_desk(desk))
                for _ in range(o.repeat)
            ]
            self.record("memory", label, 1, median_run(runs), None, prefix)
            desk.close()
        self.breakdown(cache_env)

    def breakdown(self, cache_env: dict[str, str]) -> None:
        """Where one intake's time goes, on a desk that does not write (``bench.costs``)."""
        rows = intake_fields(self.rng, [uuid.uuid4()], self.o.n, 0.0, self.o.command_id)
        desk = NoSaveDesk(
            catalogue=load_catalogue(),
            directory=load_directory(),
            clock=system_clock,
            env=cache_env,
        )
        customers = self.ready(desk)
        batch = partial(self.commands, customers, self.o.n)
        intake_breakdown(self.figs, rows, desk, batch, max(2, self.o.repeat))
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
            env = {**Settings(database_url=db_url).eventsourcing_env(), **o.es_env}
            self.pool_notes(env)
            self.pg_threads(db_url, env)
            if o.variants:
                self.pg_variants(db_url, env)

    def pool_notes(self, env: dict[str, str]) -> None:
        pool_max = int(env["POSTGRES_POOL_SIZE"]) + int(env["POSTGRES_MAX_OVERFLOW"])
        self.notes.append(
            f"desk pool: POSTGRES_POOL_SIZE={env['POSTGRES_POOL_SIZE']} + "
            f"MAX_OVERFLOW={env['POSTGRES_MAX_OVERFLOW']} = {pool_max} connections; "
            f"ENABLE_DB_FUNCTIONS={env.get('POSTGRES_ENABLE_DB_FUNCTIONS', 'n')}, "
            f"AGGREGATE_CACHE_MAXSIZE={env.get('AGGREGATE_CACHE_MAXSIZE')}"
        )
        if max(self.o.threads, default=1) > pool_max:
            self.notes.append(
                f"WARNING: {max(self.o.threads)} threads > {pool_max} pooled connections: "
                "threads queue for a connection"
            )

    def pg_threads(self, db_url: str, env: dict[str, str]) -> None:
        """Intake from 1 and K threads sharing one desk, next to raw commits and the raw write
        of the very rows one intake stores; what one intake sends and stores; the profile."""
        o = self.o
        desk = make_desk(env)
        try:
            self.say(f"registering {o.customers} customers")
            customers = self.ready(desk)
            pg_statements(self.figs, intake_worker(desk), self.commands(customers, 50))
            table = desk.recorder.events_table_name  # type: ignore[attr-defined]
            writes = sample_intake_writes(db_url, table)
            raw_pg(db_url, min(200, o.raw_n), 1)  # warm-up: connections, WAL, plan
            shaped_runs: list[Run] = []

            def shaped_round(r: int) -> None:
                if writes:
                    self.say(f"[{r + 1}/{o.repeat}] raw psycopg, intake-shaped writes")
                    shaped_runs.append(raw_pg_shaped(db_url, o.n, writes))

            raw, intake = self.rounds(
                desk,
                customers,
                ("raw psycopg", lambda k: raw_pg(db_url, o.raw_n, k)),
                "casetrail intake",
                shaped_round,
            )
            for k, run in raw.items():
                self.record("postgres", "raw 1-row commit", k, run, None, "raw_pg_commits")
            if shaped_runs:
                shaped = median_run(shaped_runs)
                self.record(
                    "postgres", "raw intake-shaped commit", 1, shaped, None, "raw_pg_shaped"
                )
            for k, run in intake.items():
                self.record("postgres", "casetrail intake", k, run, raw[k].rate, "pg_intake")
            if shaped_runs:
                pg1 = self.figs.get("pg_intake_per_s_t1") or 0.0
                self.figs.add("pg_intake_ratio_to_shaped_t1", pg1 / shaped.rate, "x_raw_shaped")
            _count, avg = pg_stored_bytes(db_url, table)
            self.figs.add("pg_stored_event_bytes_avg", avg, "bytes")
            ratio = self.figs.get("pg_intake_ratio_t1") or 0.0
            self.figs.add("pg_target_met", 1.0 if ratio >= TARGET_RATIO else 0.0, "bool")
            if o.profile == "always" or (o.profile == "auto" and ratio < TARGET_RATIO):
                self.say(f"cProfile of {o.profile_n} intakes on PostgreSQL")
                cmds = self.commands(customers, o.profile_n)
                self.profile = profile_commands(intake_worker(desk), cmds, top=15)
        finally:
            desk.close()

    def pg_variants(self, db_url: str, base_env: dict[str, str]) -> None:
        """Single-thread intake under eventsourcing knobs and command shapes (same database).

        Every variant has its own desk (pool of 1 + 1 connections: one thread needs one); the
        variants and a raw single-row-commit baseline run in batches of 50, in a shuffled order
        each round, so that other work on the machine hits all of them alike.
        """
        o = self.o
        deep = {"DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}
        ff_off = {"AGGREGATE_CACHE_FASTFORWARD": "n"}
        zlib = {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
        no_id = {"with_command_id": False}
        variants: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
            ("configured", "as configured", {}, {}),
            ("nodeepcopy", "DEEPCOPY_FROM_AGGREGATE_CACHE=n", deep, {}),
            ("noff", "AGGREGATE_CACHE_FASTFORWARD=n", ff_off, {}),
            ("noff_nodeepcopy", "FASTFORWARD=n + DEEPCOPY=n", {**ff_off, **deep}, {}),
            ("nocmdid", "no command_id", {}, no_id),
            ("nocmdid_noff", "no command_id + FASTFORWARD=n", ff_off, no_id),
            ("zlib", "COMPRESSOR_TOPIC=zlib", zlib, {}),
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
                prepared.append((slug, desk, self.ready(desk, **kw), kw))
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
        ratios = [
            ("pg_intake_vs_unordered", GAP_FREE, UNORDERED, "x_unordered"),
            ("raw_pg_locked_vs_notify", RAW_LOCKED, RAW_NOTIFY, "x_notify"),
        ]
        self.proc_rows = summarise_counts(self.figs, runs, o.processes, measures, ratios)

    # ----------------------------------------------------------------------- sqlite

    def sqlite(self) -> None:
        o = self.o
        with tempfile.TemporaryDirectory(
            prefix="casetrail_bench_", ignore_cleanup_errors=True
        ) as name:
            tmp = Path(name)
            raw_path = tmp / "raw.sqlite"
            mode = prepare_raw_sqlite(raw_path)
            self.notes.append(f"SQLite {sqlite3.sqlite_version} in {tmp} ({mode})")
            settings = Settings(database_url=f"sqlite:///{tmp / 'casetrail.sqlite'}")
            desk = make_desk({**settings.eventsourcing_env(), **o.es_env})
            try:
                customers = self.ready(desk)
                raw_sqlite(raw_path, min(200, o.raw_n), 1)
                raw, intake = self.rounds(
                    desk,
                    customers,
                    ("raw sqlite3", lambda k: raw_sqlite(raw_path, o.raw_n, k)),
                    "intake on SQLite",
                )
                for k, run in raw.items():
                    self.record("sqlite", "raw 1-row commit", k, run, None, "raw_sqlite_commits")
                for k, run in intake.items():
                    self.record("sqlite", "casetrail intake", k, run, raw[k].rate, "sqlite_intake")
            finally:
                desk.close()

    # ------------------------------------------------------------ the chain's cost

    def chain_cost(self) -> None:
        """Single-thread intake on a store with the hash chain and on one without it (same
        backend, same customers, same commands), interleaved in ``max(3, --repeat)`` rounds
        whose order alternates; the median run of each. Without the chain: on PostgreSQL the
        chain's trigger dropped, on SQLite the library's own recorder (no hash columns)."""
        self._costs("chain")

    def seal_cost(self) -> None:
        """As :meth:`chain_cost`, for sealing personal data (``bootstrap.personal``): the same
        stores with the sealing mapper and without it (``MAPPER_TOPIC`` unset)."""
        self._costs("sealing")

    def _costs(self, what: str) -> None:
        o = self.o
        rounds = max(3, o.repeat)
        with ExitStack() as stack:
            d = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="casetrail_bench_", ignore_cleanup_errors=True)
            )
            stores: list[tuple[str, dict[str, str], dict[str, str]]] = []
            if not o.no_pg:
                urls = [
                    f"{o.pg_url.rstrip('/')}/"
                    + stack.enter_context(fresh_pg_database(o.pg_url, o.keep_db))
                    for _ in range(2)
                ]
                chained, plain = (Settings(database_url=url).eventsourcing_env() for url in urls)
                stores.append(("postgres", chained, plain))
            if not o.no_sqlite:
                chained = Settings(database_url=f"sqlite:///{Path(d) / 'a.sqlite'}")
                plain = Settings(database_url=f"sqlite:///{Path(d) / 'b.sqlite'}")
                without = plain.eventsourcing_env()
                if what == "chain":
                    without["APPLICATION_RECORDER_TOPIC"] = PLAIN_SQLITE
                stores.append(("sqlite", chained.eventsourcing_env(), without))
            for backend, with_env, without_env in stores:
                if what == "sealing":
                    without_env.pop("MAPPER_TOPIC")
                self._cost(what, backend, with_env, without_env, rounds)

    def _cost(
        self,
        what: str,
        backend: str,
        with_env: dict[str, str],
        without_env: dict[str, str],
        rounds: int,
    ) -> None:
        o = self.o
        desks = {"with": make_desk({**with_env, **o.es_env})}
        desks["without"] = make_desk({**without_env, **o.es_env})
        label = "the chain" if what == "chain" else "sealing"
        try:
            if what == "chain" and backend == "postgres":  # the same store, its trigger dropped
                recorder: Any = desks["without"].recorder
                with recorder.datastore.get_connection() as conn:
                    conn.execute(
                        f'DROP TRIGGER "{recorder.events_table_name}_chain_v1" '
                        f'ON "{recorder.events_table_name}"'
                    )
            customers = {k: self.ready(desk) for k, desk in desks.items()}
            runs: dict[str, list[Run]] = {"with": [], "without": []}
            for r in range(rounds):
                for k in rotated(["with", "without"], r):
                    self.say(f"[{r + 1}/{rounds}] {backend} intake {k} {label}, {o.n} commands")
                    cmds = self.commands(customers[k], o.n)
                    runs[k].append(run_threads(1, cmds, same_desk(desks[k])))
            med = {k: median_run(v) for k, v in runs.items()}
            for k in ("without", "with"):
                self.record(
                    backend, f"intake {k} {label}", 1, med[k], None, f"{backend}_{k}_{what}"
                )
            added = med["without"].rate / med["with"].rate - 1 if med["with"].rate else 0.0
            cpu = med["with"].cpu_us_per_op - med["without"].cpu_us_per_op
            self.figs.add(f"{backend}_{what}_added_time_pct", added * 100, "%")
            self.figs.add(f"{backend}_{what}_added_cpu_us_per_intake", cpu, "us")
            target = ""
            if what == "chain":
                met = "MET" if added <= CHAIN_TARGET else "NOT MET"
                target = f" (target ≤ {CHAIN_TARGET * 100:.0f} %: {met})"
            self.notes.append(
                f"{label} on {backend}: {med['with'].rate:,.0f} intakes/s with it, "
                f"{med['without'].rate:,.0f} without: {added * 100:+.1f} % time per intake, "
                f"{cpu:+.0f} µs client CPU{target}"
            )
        finally:
            for desk in desks.values():
                desk.close()

    # ---------------------------------------------------------------------- output

    def run(self) -> None:
        started = time.perf_counter()
        self.load_note("at start")
        if self.o.chain_cost_only or self.o.seal_cost_only:
            if self.o.chain_cost_only:
                self.chain_cost()
            if self.o.seal_cost_only:
                self.seal_cost()
            self.figs.add("bench_wall_s", time.perf_counter() - started, "s")
            return
        if not self.o.processes_only:
            self.in_memory()
        if not self.o.no_pg:
            self.postgres()
        if not self.o.no_sqlite and not self.o.processes_only:
            self.sqlite()
        if self.o.chain_cost:
            self.chain_cost()
        if self.o.seal_cost:
            self.seal_cost()
        self.figs.add("bench_wall_s", time.perf_counter() - started, "s")
        self.load_note("at end")

    def load_note(self, when: str) -> None:
        note = load_average_note(self.figs, when)
        if note:
            self.notes.append(note)

    def report(self) -> None:
        con = self.console
        if self.rows:
            title = "casetrail intake vs raw single-row commits"
            lead = ("backend", "what", "threads")
            con.print(runs_table(title, lead, self.rows, ratio="× raw (same threads)"))
        if self.proc_rows:
            title = "casetrail intake from K processes (each its own desk) vs raw commits from K "
            con.print(process_table(title + "client processes, same rounds", self.proc_rows))

        f = self.figs
        print_breakdown(con, f)
        if self.profile:
            print_profile(con, self.profile)

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

    def save_json(self, path: Path) -> None:
        write_json(
            path,
            "intake",
            vars(self.o),
            self.notes,
            self.figs,
            eventsourcing=getattr(eventsourcing, "__version__", None),
            psycopg=psycopg.__version__,
            target_ratio=TARGET_RATIO,
            profile=self.profile,
        )


# ------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="casetrail intake throughput vs raw single-row commits (PostgreSQL, SQLite, "
        "in memory). Defaults finish in well under 3 minutes on 2 cores."
    )
    add_pg_url(p, "server URL without database (a fresh casetrail_bench_<random> is created)")
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
    add_workload_options(p, customers=200)
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
    add_process_options(
        p,
        "also measure PostgreSQL intake from K processes (spawned, each with its own desks, "
        "started together), next to raw commits from K client processes and to intake without "
        "the ordering lock (not gap-free, for comparison only); e.g. 1,8",
        "in memory, PostgreSQL threads and SQLite",
    )
    p.add_argument(
        "--chain-cost",
        action="store_true",
        help="also measure single-thread intake with and without the hash chain (PostgreSQL: "
        "its trigger dropped; SQLite: the library's recorder), interleaved, side by side",
    )
    p.add_argument(
        "--chain-cost-only", action="store_true", help="only the chain's cost (see --chain-cost)"
    )
    p.add_argument(
        "--seal-cost",
        action="store_true",
        help="also measure single-thread intake with and without sealing personal data "
        "(per-customer keys), interleaved, side by side",
    )
    p.add_argument(
        "--seal-cost-only", action="store_true", help="only sealing's cost (see --seal-cost)"
    )
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    p.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    add_output_options(p)
    a = p.parse_args(argv)
    a.es_env = dict(_key_value(p, item) for item in a.es_env)
    a.threads = [t for t in (int(x) for x in str(a.threads).split(",") if x.strip()) if t > 1]
    if a.n < 10 or a.raw_n < 10:
        p.error("--n and --raw-n must be at least 10")
    a.processes = process_counts(p, a)
    a.repeat, a.customers = max(1, a.repeat), max(1, a.customers)
    a.command_id = not a.no_command_id
    return a


def _key_value(parser: argparse.ArgumentParser, item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        parser.error(f"--es-env wants KEY=VALUE, got {item!r}")
    return key.strip(), value


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    bench = Bench(opts, console)
    bench.run()
    bench.report()
    if opts.json is not None:
        bench.save_json(opts.json)
        console.print(f"[dim]figures written to {opts.json}[/dim]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
