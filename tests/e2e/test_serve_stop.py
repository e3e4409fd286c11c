"""``casetrail serve`` stops on SIGTERM or Ctrl-C with a live stream open, and logs no secret.

The server runs as an operator runs it: the console script in a subprocess (in-process workers,
a fresh SQLite file). A stream is opened the way the thin client opens it (a single-use ticket,
then ``GET /stream?ticket=``) and left open, as a browser tab on the monitor board would be.
Then the signal: the process must exit within its graceful shutdown period, having ended the
stream itself (uvicorn cancelling it when that period runs out is the hang we guard against:
it logs "timeout graceful shutdown exceeded").
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.serving import GRACE_SECONDS

ROOT = Path(__file__).resolve().parents[2]
AGENT = "demo-agent-service-center"
START_SECONDS = 60  # a cold start on a busy machine (imports, store, views)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CASETRAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'casetrail.sqlite'}",
        "PYTHONUNBUFFERED": "1",
    }
    script = Path(sys.executable).parent / "casetrail"
    return subprocess.Popen(
        [str(script), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("casetrail serve did not start")


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_serve_stops_with_a_stream_open(tmp_path: Path, stop: signal.Signals) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(tmp_path, port)
    try:
        _wait_until_up(url, process)
        with httpx.Client(base_url=url + "/api/v1", timeout=30) as client:
            r = client.post("/stream/tickets", headers={"Authorization": f"Bearer {AGENT}"})
            assert r.status_code == 201, r.text
            ticket = r.json()["ticket"]
            with client.stream("GET", "/stream", params={"ticket": ticket}) as stream:
                lines = stream.iter_lines()
                assert "event: progress" in (next(lines), next(lines), next(lines))
                first = json.loads(next(lines).removeprefix("data: "))
                assert "views" in first
                process.send_signal(stop)
                try:
                    rest = list(lines)  # returns when the server ends the stream
                except httpx.RemoteProtocolError as cut:  # cancelled at the grace period's end
                    raise AssertionError(f"the stream was cut, not ended: {cut}") from cut
        assert "event: progress" not in rest
        process.wait(timeout=GRACE_SECONDS + 30)
    finally:
        if process.poll() is None:
            process.kill()
        log = process.communicate()[0]
    assert process.returncode is not None
    assert "timeout graceful shutdown exceeded" not in log
    assert "Finished server process" in log
    # Neither the ticket nor the bearer token reached the access log: values are masked.
    assert '"GET /api/v1/stream?ticket=* HTTP/1.1" 200' in log
    assert ticket not in log
    assert AGENT not in log
