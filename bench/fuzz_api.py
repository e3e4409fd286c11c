#!/usr/bin/env python
"""Fuzz the live HTTP API with schemathesis, from its own ``/openapi.json``.

What it does:

* starts ``casetrail serve`` as a real uvicorn process on a free local port, on a fresh SQLite
  file (or ``--database-url``), and waits for ``GET /api/v1/health``;
* loads a little realistic data over the API (tickets in several states, a customer, a
  callback) so that generated requests reach real tickets, not only 404s: the ids are given to
  schemathesis as dictionaries for the ``ticket_id``, ``callback_id`` and ``customer_id`` path
  parameters (drawn with probability 0.8; the rest are generated, so unknown ids are tried too);
* runs ``st run`` once per token (the admin, then a front-office agent) with every phase
  (examples, coverage, fuzzing, and stateful testing over the links schemathesis infers from
  the responses), a fixed seed, one worker and no example database, so a run is repeatable;
* prints a table per run: operations, requests (test cases), failures by kind, and exits 1 when
  any check failed or any request errored.

Checks: no 5xx, status codes, content types, response headers and bodies as documented, and
schema-invalid input refused (``negative_data_rejection``).

``GET /api/v1/stream`` is left out, for one reason: its OpenAPI entry (``api/routes/stream.py``)
declares ``text/event-stream`` with ``schema: {type: string}``, which OpenAPI 3.1 reads as the
schema of *each event*, while an event is ``{event, data}``: schemathesis reports every stream
(ST108, "SSE event violates schema"). The route answers correctly; its documentation needs an
``itemSchema`` (or an object schema) for its events. Take it out of ``EXCLUDED`` then.

``tests/e2e/test_schemathesis.py`` runs the same thing, bounded for ``make test``. Longer:
``.venv/bin/python bench/fuzz_api.py --examples 200 --seed 7`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
V1 = "/api/v1"
TOKENS = {
    "admin": "demo-admin-token",
    "agent": "demo-agent-service-center",
    "station_1": "demo-agent-station-1",
}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
# Operations left out, each with its reason (the module docstring says more).
EXCLUDED = {"/api/v1/stream": "its events are documented as strings (see the docstring)"}
CALLER = {
    "kind": "complaint",
    "customer_name": "王建国",
    "phone": "13800138000",
    "address": "城关镇幸福路12号",
    "category": "service_attitude",
    "content": "营业厅工作人员态度恶劣，要求道歉并说明处理结果",
    "area": "urban",
    "station": "station_1",
}


@dataclass
class Seeded:
    """Ids of what the data load created, by path parameter."""

    tickets: list[str] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """One ``st run``: the parsed JSON report and what it took."""

    who: str
    seconds: float
    report: dict[str, Any]
    output: str

    @property
    def failures(self) -> dict[str, int]:
        """Failure kinds (``code title``) with their counts."""
        return {f"{f['code']} {f['title']}": int(f["count"]) for f in self.report["failures"]}

    @property
    def errors(self) -> dict[str, int]:
        return {str(e["title"]): int(e["count"]) for e in self.report["errors"]}

    @property
    def failing_operations(self) -> dict[str, list[str]]:
        return {f"{f['code']} {f['title']}": f["operations"] for f in self.report["failures"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def live_server(database_url: str, log: Path) -> Iterator[str]:
    """``casetrail serve`` in its own process group; yields the base URL; stops it after."""
    port = free_port()
    env = {**os.environ, "CASETRAIL_DATABASE_URL": database_url}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "casetrail"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, process, deadline=time.monotonic() + 60)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_healthy(base: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"casetrail serve exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}{V1}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("casetrail serve did not answer /health in time")


def seed(base: str) -> Seeded:
    """Tickets in several states, a registered customer and a scheduled callback."""
    ids = Seeded()
    with httpx.Client(base_url=base + V1, timeout=30) as client:

        def post(path: str, who: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            r = client.post(path, json=body or {}, headers={"Authorization": f"Bearer {who}"})
            if r.status_code not in (200, 201):
                raise RuntimeError(f"seeding {path}: {r.status_code} {r.text}")
            answer: dict[str, Any] = r.json()
            return answer

        front, station = TOKENS["agent"], TOKENS["station_1"]

        def dispatched(**overrides: Any) -> str:
            t = post("/tickets", front, {**CALLER, **overrides})["id"]
            if overrides.get("kind", "complaint") == "complaint":  # a complaint is checked first
                post(f"/tickets/{t}/verify", front)
                post(
                    f"/tickets/{t}/classify",
                    front,
                    {"category": "service_attitude", "priority": "normal"},
                )
            post(f"/tickets/{t}/dispatch", front, {"to_department": "station_1", "owner": "张伟"})
            return str(t)

        ids.tickets.append(post("/tickets", front, CALLER)["id"])  # received
        ids.tickets.append(dispatched())  # dispatched
        accepted = dispatched()
        post(f"/tickets/{accepted}/accept", station)
        ids.tickets.append(accepted)
        repair = dispatched(kind="fault_repair", category="outage")
        ids.tickets.append(repair)
        answered = dispatched()
        post(f"/tickets/{answered}/accept", station)
        post(f"/tickets/{answered}/reply", station, {"result": "已道歉", "measures": "培训"})
        post(f"/tickets/{answered}/answer", front, {"content": "已答复客户"})
        ids.tickets.append(answered)
        callback = post("/callbacks", front, {"ticket_id": answered})
        ids.callbacks.append(callback["id"])
        ids.customers.append(post("/customers", TOKENS["admin"], {"name": "城关镇第一中学"})["id"])
    return ids


def _toml(value: Any) -> str:
    """A TOML value for strings, numbers, booleans and lists of them (JSON spells them so)."""
    return json.dumps(value, ensure_ascii=False)


def write_config(path: Path, token: str, ids: Seeded, *, examples: int, seed_value: int) -> None:
    """A ``schemathesis.toml`` for one token: checks, limits, and the seeded ids."""
    lines = [
        f"seed = {seed_value}",
        "workers = 1",
        "request-timeout = 30",
        f"headers = {{ Authorization = {_toml('Bearer ' + token)} }}",
        "[generation]",
        f"max-examples = {examples}",
        'database = "none"',
        "[checks]",
        "enabled = false",
        *[f"{check}.enabled = true" for check in CHECKS],
        "[dictionaries]",
        f"tickets = {{ values = {_toml(ids.tickets)} }}",
        f"callbacks = {{ values = {_toml(ids.callbacks)} }}",
        f"customers = {{ values = {_toml(ids.customers)} }}",
        "[parameters]",
        '"path.ticket_id" = { dictionary = "tickets", probability = 0.8 }',
        '"path.callback_id" = { dictionary = "callbacks", probability = 0.8 }',
        '"path.customer_id" = { dictionary = "customers", probability = 0.8 }',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(
    base: str, who: str, ids: Seeded, workdir: Path, *, examples: int, seed_value: int
) -> RunResult:
    """``st run`` against ``base`` with ``who``'s token; the JSON report parsed."""
    config = workdir / f"schemathesis-{who}.toml"
    write_config(config, TOKENS[who], ids, examples=examples, seed_value=seed_value)
    report = workdir / f"report-{who}.json"
    st = BIN / "st" if (BIN / "st").exists() else Path(shutil.which("st") or "st")
    command = [
        str(st),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{base}/openapi.json",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *[arg for path in EXCLUDED for arg in ("--exclude-path", path)],
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if not report.exists():
        raise RuntimeError(f"schemathesis wrote no report:\n{done.stdout}\n{done.stderr}")
    return RunResult(who, seconds, json.loads(report.read_text(encoding="utf-8")), done.stdout)


def table(result: RunResult) -> str:
    """Operations, requests and failures by kind, as a small text table."""
    report = result.report
    cases = report["test_cases"]
    rows = [
        ("token", result.who),
        ("seconds", f"{result.seconds:.1f}"),
        ("operations tested", f"{report['operations']['tested']}/{report['operations']['total']}"),
        ("requests (test cases)", str(cases["generated"])),
        ("test cases with failures", str(cases["with_failures"])),
        ("test cases errored", str(cases["errored"])),
    ]
    kinds = Counter(result.failures) + Counter(result.errors)
    rows += [(f"  {kind}", str(count)) for kind, count in sorted(kinds.items())] or [
        ("  failures by kind", "none")
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=100, help="max examples per operation")
    parser.add_argument("--seed", type=int, default=20261012, help="schemathesis seed")
    parser.add_argument("--who", default="admin,agent", help="tokens to run with, in order")
    parser.add_argument(
        "--database-url", default=None, help="store to serve (default: a fresh SQLite file)"
    )
    parser.add_argument("--verbose", action="store_true", help="print schemathesis' own output")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep configs, reports and the server log here"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="casetrail-fuzz-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = args.database_url or f"sqlite:///{workdir / 'fuzz.sqlite'}"
        results = []
        with live_server(url, workdir / "server.log") as base:
            ids = seed(base)
            for who in args.who.split(","):
                result = run(base, who, ids, workdir, examples=args.examples, seed_value=args.seed)
                results.append(result)
                if args.verbose:
                    print(result.output)
                print(table(result), end="\n\n", flush=True)
                for kind, operations in result.failing_operations.items():
                    print(f"{kind}: {', '.join(operations)}")
    bad = any(r.failures or r.errors for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
