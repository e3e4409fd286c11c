"""A fuzzer against a live ``casetrail serve``: no 5xx, and every answer as documented.

schemathesis 4 (``st run``, its CLI: every phase - explicit examples, coverage of each
constraint's edges, fuzzing, and stateful sequences along the links it infers from the
responses) drives a real uvicorn process on a fresh SQLite file, first with the admin's token,
then with a front-office agent's. A little data is loaded first (tickets in several states, a
customer, a callback) and its ids are offered for the path parameters, so that requests reach
real tickets and not only 404s. The run is seeded, single-worker and without an example
database: the same requests every time, so a red CI run can be replayed
(``bench/fuzz_api.py --seed <seed> --verbose`` prints schemathesis' own report, with a ``curl``
line per failure). Bounded to well under three minutes on two cores; the bench runs longer.

Checks (``bench.fuzz_api.CHECKS``): no server error, documented status codes, content types,
headers and response bodies, and schema-invalid input refused. Left out, with its reason
(``bench.fuzz_api``): ``GET /api/v1/stream``, whose OpenAPI entry documents each Server-Sent
Event as a string where it is an ``{event, data}`` object; to come back once that entry says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fuzz_api import CHECKS, EXCLUDED, live_server, run, seed

EXAMPLES = 25  # per operation and phase: about 45 s per token on two cores
SEED = 20261012


@pytest.mark.slow
def test_the_fuzzer_finds_no_server_error_and_no_undocumented_answer(tmp_path: Path) -> None:
    with live_server(f"sqlite:///{tmp_path / 'fuzz.sqlite'}", tmp_path / "server.log") as base:
        ids = seed(base)
        assert (len(ids.tickets), len(ids.callbacks), len(ids.customers)) == (5, 1, 1)
        for who in ("admin", "agent"):
            result = run(base, who, ids, tmp_path, examples=EXAMPLES, seed_value=SEED)
            report = result.report
            assert report["seed"] == SEED
            assert report["operations"]["tested"] == report["operations"]["total"] - len(EXCLUDED)
            # Thousands of requests, every check applied: the run really exercised the API.
            assert report["test_cases"]["generated"] > 2000, who
            assert result.failures == {}, f"{who}: {result.failing_operations}\n{result.output}"
            assert result.errors == {}, f"{who}: {result.output}"
    assert "not_a_server_error" in CHECKS
    assert "response_schema_conformance" in CHECKS
