#!/usr/bin/env python
"""HTTP API under concurrent agents: requests/s and latency percentiles, next to direct intake.

What it does (every figure measured in this run):

* creates a fresh PostgreSQL database ``casetrail_bench_<random>`` and starts the API in a
  subprocess exactly as ``casetrail serve`` does (``python -m cli.main serve --port <free>``,
  ``CASETRAIL_DATABASE_URL`` pointing at that database, in-process workers included); waits for
  ``GET /api/v1/health``;
* registers a pool of customers over the API (untimed), runs a short untimed warm-up, then for
  each concurrency level (default 10, then 50 simulated agents) drives a fixed number of tickets
  through ``POST /api/v1/tickets`` (intake), ``verify``, ``classify``, ``dispatch`` (owner) and
  ``urge`` (the last by a supervisor: agents may not urge), one ``httpx.AsyncClient`` shared by
  all agents, each agent working its tickets one request after another;
* reports requests/s, p50/p95/p99 latency per request kind and overall, and errors by status;
* measures the direct application intake rate, ``Desk.handle(ReceiveTicket)`` in-process on
  another fresh database, single thread, the same number of intakes with the same payloads as the
  largest level (the server is not running then);
* stops the server and drops both databases at the end, also on errors.

Target (issue): p99 < 100 ms at 50 concurrent agents.

The load generator runs on the same machine as the server and PostgreSQL: on a small machine
its CPU competes with the server's, which inflates the latencies measured here.

Output: a table on stderr, then ``figure: name=value unit`` lines on stdout; ``--json PATH``.
Run from the repository root: ``.venv/bin/python bench/api_load.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ itself is sys.path[0]: drop it, or bench/projections.py would shadow
# the projections package that bootstrap imports. The repository root goes first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench import workload as wl  # noqa: E402
from bench.common import (  # noqa: E402
    add_output_options,
    add_pg_url,
    fresh_pg_database,
    make_desk,
)
from bench.report import Figures, Run, percentile, run_threads, write_json  # noqa: E402
from config.settings import Settings  # noqa: E402
from domain import commands as c  # noqa: E402

TARGET_P99_MS = 100.0
TARGET_AGENTS = 50
AGENT_TOKEN = "demo-agent-service-center"  # front office: may act on any ticket
SUPERVISOR_TOKEN = "demo-supervisor-marketing"  # urge is a supervisor's action
KINDS = ["intake", "verify", "classify", "dispatch", "urge"]
OWNERS = ["张伟", "王芳", "陈杰", "刘强"]
COMPLAINT_CATEGORIES = wl.CATEGORIES["complaint"]


# ------------------------------------------------------------------------------------ workload


@dataclass
class TicketPlan:
    """One ticket's requests: the intake body (customer by pool index or a new caller) and more."""

    intake: dict[str, Any]
    customer_index: int | None
    classify: dict[str, Any]
    dispatch: dict[str, Any]
    urge: dict[str, Any]


def customer_bodies(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Residential customers, registered over the API before any timing."""
    return [wl.customer_fields(rng, i, "residential", "lv_residential") for i in range(count)]


def ticket_plans(
    rng: random.Random, count: int, customers: int, new_caller_share: float
) -> list[TicketPlan]:
    plans = []
    for _ in range(count):
        body: dict[str, Any] = {
            "kind": "complaint",
            "category": rng.choice(COMPLAINT_CATEGORIES),
            "priority": wl.weighted(rng, wl.PRIORITIES),
            "channel": str(rng.choice(wl.CHANNELS).value),
            "content": wl.CONTENT,
        }
        index: int | None = None
        if rng.random() < new_caller_share:
            body.update(wl.new_caller(rng))
        else:
            index = rng.randrange(customers)
        plans.append(
            TicketPlan(
                intake=body,
                customer_index=index,
                classify={
                    "category": rng.choice(COMPLAINT_CATEGORIES),
                    "priority": wl.weighted(rng, wl.PRIORITIES),
                },
                dispatch={"owner": rng.choice(OWNERS)},
                urge={"note": "客户再次来电催促，请尽快处理"},
            )
        )
    return plans


def intake_body(plan: TicketPlan, customer_ids: Sequence[str]) -> dict[str, Any]:
    body = dict(plan.intake)
    if plan.customer_index is not None:
        body["customer_id"] = customer_ids[plan.customer_index]
    return body


# ------------------------------------------------------------------------------------ results


@dataclass
class Level:
    """One concurrency level: every request's kind, latency and status."""

    agents: int
    tickets: int
    seconds: float = 0.0
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.samples.values())

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if not s.startswith("2"))

    def all_latencies(self) -> list[float]:
        return [x for v in self.samples.values() for x in v]


def pct_ms(values: Sequence[float], p: float) -> float:
    return percentile(values, p) * 1000.0


# ------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m cli.main serve`` in a subprocess; its output goes to a temp log file."""

    def __init__(self, db_url: str, port: int, separate_workers: bool = False) -> None:
        self.db_url = db_url
        self.separate_workers = separate_workers
        self.workers: list[subprocess.Popen[bytes]] = []
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="casetrail_api_load_", suffix=".log", delete=False
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "CASETRAIL_DATABASE_URL": self.db_url}
        extra = ["--no-workers"] if self.separate_workers else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(self.port), *extra],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                r = httpx.get(f"{self.base}/api/v1/health", timeout=2.0)
                if r.status_code == 200:
                    if self.separate_workers:
                        self._start_workers(env)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"server did not answer /api/v1/health in {timeout:.0f} s:\n{self.tail()}"
        )

    def _start_workers(self, env: dict[str, str]) -> None:
        """`casetrail worker <name>` processes: the views move outside the API's process."""
        for name in ("projector", "sla-clock", "callbacks"):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cli.main", "worker", name],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # uvicorn: graceful shutdown, runs the lifespan end
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.log.close()


# -------------------------------------------------------------------------------------- load


async def register_customers_api(
    client: httpx.AsyncClient, bodies: Sequence[dict[str, Any]]
) -> list[str]:
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    ids = []
    for body in bodies:
        r = await client.post("/api/v1/customers", json=body, headers=headers)
        r.raise_for_status()
        ids.append(str(r.json()["id"]))
    return ids


async def drive(
    client: httpx.AsyncClient,
    plans: Sequence[TicketPlan],
    customer_ids: Sequence[str],
    agents: int,
    think: float = 0.0,
) -> Level:
    """``agents`` coroutines; agent i works tickets i, i+agents, ... one request at a time.

    ``think``: an agent's mean pause before each request (uniform between half and one and a
    half times it; the first one anywhere up to it, so agents do not start in step), as a
    person reading the screen and typing; 0 sends the next request the moment the last one
    answers (a stress test, not a person).
    """
    level = Level(agents=agents, tickets=len(plans))
    agent_h = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    sup_h = {"Authorization": f"Bearer {SUPERVISOR_TOKEN}"}

    async def call(kind: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        t0 = time.perf_counter()
        try:
            r = await client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            level.samples[kind].append(time.perf_counter() - t0)
            level.statuses[f"exc:{type(exc).__name__}"] += 1
            if len(level.first_errors) < 5:
                level.first_errors.append(f"{kind}: {exc!r}")
            return None
        level.samples[kind].append(time.perf_counter() - t0)
        level.statuses[str(r.status_code)] += 1
        if r.is_success:
            return r.json()
        if len(level.first_errors) < 5:
            level.first_errors.append(f"{kind} {r.status_code}: {r.text[:300]}")
        return None

    async def agent(i: int) -> None:
        pace = random.Random(i)
        first = True

        async def pause() -> None:
            nonlocal first
            if think > 0:
                # Agents do not start in step: the first pause is anywhere in one think time.
                low, high = (0.0, think) if first else (0.5 * think, 1.5 * think)
                await asyncio.sleep(pace.uniform(low, high))
            first = False

        for plan in plans[i::agents]:
            await pause()
            t = await call("intake", "/api/v1/tickets", intake_body(plan, customer_ids), agent_h)
            if t is None:
                continue
            base = f"/api/v1/tickets/{t['id']}"
            steps = [
                ("verify", {}, agent_h),
                ("classify", plan.classify, agent_h),
                ("dispatch", plan.dispatch, agent_h),
                ("urge", plan.urge, sup_h),
            ]
            for kind, body, headers in steps:
                await pause()
                if await call(kind, f"{base}/{kind}", body, headers) is None:
                    break

    start = time.perf_counter()
    await asyncio.gather(*(agent(i) for i in range(agents)))
    level.seconds = time.perf_counter() - start
    return level


async def api_run(
    base: str,
    customer_bodies_: Sequence[dict[str, Any]],
    warmup: Sequence[TicketPlan],
    levels: Sequence[tuple[int, Sequence[TicketPlan]]],
    think: float = 0.0,
) -> list[Level]:
    # A fresh connection pool per phase: a keep-alive connection left idle between phases
    # longer than uvicorn's keep-alive timeout (5 s) may be closed by the server just as the
    # client reuses it (a ReadError that is the client's race, not the server's failure).
    def client(agents: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=agents + 5, max_keepalive_connections=agents + 5)
        return httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0)

    async with client(1) as setup:
        customer_ids = await register_customers_api(setup, customer_bodies_)
    most = max(a for a, _ in levels)
    async with client(min(10, most)) as warm:
        await drive(warm, warmup, customer_ids, min(10, most))
    out = []
    for agents, plans in levels:
        async with client(agents) as load:
            out.append(await drive(load, plans, customer_ids, agents, think))
    return out


# ------------------------------------------------------------------------------------ direct


def direct_intake(
    pg_url: str, keep: bool, customer_bodies_: Sequence[dict[str, Any]], plans: Sequence[TicketPlan]
) -> Run:
    """``desk.handle(ReceiveTicket)`` in this process on a fresh database, one thread."""
    with fresh_pg_database(pg_url, keep) as name:
        settings = Settings(database_url=f"{pg_url.rstrip('/')}/{name}")
        desk = make_desk(settings.eventsourcing_env())
        try:
            customer_ids = []
            for body in customer_bodies_:
                out = desk.handle(
                    c.RegisterCustomer(
                        **wl.AGENT, command_id=f"bench-customer-{uuid.uuid4().hex}", **body
                    )
                )
                customer_ids.append(str(out.id))

            def command(plan: TicketPlan) -> c.ReceiveTicket:
                return c.ReceiveTicket(
                    **wl.AGENT,
                    command_id=f"bench-{uuid.uuid4().hex}",
                    **intake_body(plan, customer_ids),
                )

            rng = random.Random(7)
            warm = [command(rng.choice(plans)) for _ in range(30)]
            wl.warm(desk, [uuid.UUID(x) for x in customer_ids], warm)
            commands = [command(p) for p in plans]
            return run_threads(1, commands, wl.same_desk(desk))
        finally:
            desk.close()


# -------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="casetrail HTTP API under concurrent agents vs direct intake (PostgreSQL). "
        "Defaults finish in well under 2 minutes on 2 cores."
    )
    add_pg_url(
        p, "server URL without database (fresh casetrail_bench_<random> databases are created)"
    )
    p.add_argument(
        "--agents", default="10,50", help="comma-separated concurrency levels, run in this order"
    )
    p.add_argument(
        "--tickets",
        type=int,
        default=200,
        help="tickets per level (5 requests each: intake, verify, classify, dispatch, urge)",
    )
    p.add_argument("--warmup", type=int, default=20, help="untimed tickets before the levels")
    p.add_argument(
        "--separate-workers",
        action="store_true",
        help="serve --no-workers plus `casetrail worker projector|sla-clock|callbacks` processes",
    )
    p.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds an agent pauses before each request (0: back to back, a stress test)",
    )
    wl.add_workload_options(p, customers=50)
    p.add_argument("--no-direct", action="store_true", help="skip the direct intake run")
    add_output_options(p)
    a = p.parse_args(argv)
    a.agent_levels = [int(x) for x in str(a.agents).split(",") if x.strip()]
    if not a.agent_levels or min(a.agent_levels) < 1:
        p.error("--agents wants positive integers")
    if a.tickets < max(a.agent_levels):
        p.error("--tickets must be at least the largest --agents level")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    o = parse_args(argv)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    load_start = os.getloadavg()
    console.print(f"load average at start: {load_start} ({os.cpu_count()} CPUs)")
    rng = random.Random(o.seed)
    customers = customer_bodies(rng, o.customers)
    warmup = ticket_plans(rng, o.warmup, o.customers, o.new_caller_share)
    levels_in = [
        (a, ticket_plans(rng, o.tickets, o.customers, o.new_caller_share)) for a in o.agent_levels
    ]
    figs = Figures()
    notes: list[str] = []

    direct: Run | None = None
    if not o.no_direct:
        console.print(f"direct intake: {o.tickets} × Desk.handle(ReceiveTicket), 1 thread")
        direct = direct_intake(o.pg_url, o.keep_db, customers, levels_in[-1][1])

    levels: list[Level] = []
    with fresh_pg_database(o.pg_url, o.keep_db) as name:
        server = Server(f"{o.pg_url.rstrip('/')}/{name}", free_port(), o.separate_workers)
        try:
            t0 = time.perf_counter()
            server.start()
            console.print(
                f"server up on {server.base} in {time.perf_counter() - t0:.1f} s (db {name})"
            )
            levels = asyncio.run(api_run(server.base, customers, warmup, levels_in, o.think))
        except BaseException:
            if server.proc is not None:
                console.print(f"[red]server log tail:[/red]\n{server.tail()}")
            raise
        finally:
            server.stop()
    load_end = os.getloadavg()
    console.print(f"load average at end: {load_end}")

    paced = f"think {o.think:g} s" if o.think else "no think time"
    if o.separate_workers:
        paced += ", workers in their own processes"
    table = Table(title=f"HTTP API under concurrent agents (PostgreSQL, casetrail serve, {paced})")
    for col in ("agents", "kind", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for lv in levels:
        rows = [(k, lv.samples.get(k, [])) for k in KINDS] + [("all", lv.all_latencies())]
        for kind, vals in rows:
            rate = len(vals) / lv.seconds if lv.seconds else 0.0
            table.add_row(
                str(lv.agents),
                kind,
                str(len(vals)),
                f"{rate:.1f}",
                f"{pct_ms(vals, 0.50):.1f}",
                f"{pct_ms(vals, 0.95):.1f}",
                f"{pct_ms(vals, 0.99):.1f}",
                f"{max(vals, default=0.0) * 1000:.1f}",
            )
            prefix = f"api_c{lv.agents}_{kind}"
            if kind == "all":
                figs.add(f"api_c{lv.agents}_requests_per_s", rate, "req/s")
                figs.add(f"api_c{lv.agents}_tickets_per_s", lv.tickets / lv.seconds, "tickets/s")
            else:
                figs.add(f"{prefix}_per_s", rate, "req/s")
            for label, p in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
                figs.add(f"{prefix}_{label}", pct_ms(vals, p), "ms")
        figs.add(f"api_c{lv.agents}_requests", lv.requests, "requests")
        figs.add(f"api_c{lv.agents}_errors", lv.errors, "requests")
        for status, n in sorted(lv.statuses.items()):
            figs.add(f"api_c{lv.agents}_status_{status.replace(':', '_')}", n, "requests")
        for err in lv.first_errors:
            notes.append(f"{lv.agents} agents: {err}")
    console.print(table)

    if direct is not None:
        figs.add("direct_intake_t1_per_s", direct.rate, "intakes/s")
        figs.add("direct_intake_t1_p50", direct.pct_ms(0.50), "ms")
        figs.add("direct_intake_t1_p99", direct.pct_ms(0.99), "ms")
        for lv in levels:
            intakes = len(lv.samples.get("intake", []))
            rate = intakes / lv.seconds if lv.seconds else 0.0
            console.print(
                f"{lv.agents} agents: {rate:.1f} intakes/s over the API (mixed with 4 actions "
                f"per ticket) vs direct single-thread intake {direct.rate:.1f} intakes/s"
            )
    figs.add("think_mean_s", o.think, "s")
    figs.add("loadavg_start_1min", load_start[0], "load")
    figs.add("loadavg_end_1min", load_end[0], "load")
    if max(load_start[0], load_end[0]) > 1.5:
        notes.append(
            f"machine busy: 1-min load average {load_start[0]:.2f} at start, "
            f"{load_end[0]:.2f} at end (> 1.5)"
        )
    notes.append(
        "the load generator shares the machine's CPUs with the server and PostgreSQL "
        f"({os.cpu_count()} CPUs here)"
    )

    target = [lv for lv in levels if lv.agents == TARGET_AGENTS]
    if target:
        p99 = pct_ms(target[0].all_latencies(), 0.99)
        ok = p99 < TARGET_P99_MS and target[0].errors == 0
        colour = "green" if ok else "red"
        console.print(
            f"[{colour}]target: p99 < {TARGET_P99_MS:.0f} ms at {TARGET_AGENTS} agents: "
            f"p99 = {p99:.1f} ms, {target[0].errors} errors: "
            f"{'MET' if ok else 'NOT MET'}[/{colour}]"
        )
    for note in notes:
        console.print(f"[dim]{note}[/dim]")
    figs.print_lines()

    if o.json is not None:
        write_json(
            o.json,
            "api_load",
            vars(o),
            notes,
            figs,
            target_p99_ms=TARGET_P99_MS,
            loadavg_start=load_start,
            loadavg_end=load_end,
        )
        console.print(f"[dim]figures written to {o.json}[/dim]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
