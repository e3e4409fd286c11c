"""How ``casetrail serve`` runs the app under uvicorn: no query values in logs, prompt stops.

- **Access log without query values.** uvicorn logs every request line with its query string.
  Query strings carry things that must not be kept in logs: a stream ticket
  (``/stream?ticket=``), a customer's phone number (``/tickets?phone=``). :class:`RedactQuery`
  keeps each parameter's name and replaces its value with ``*``
  (``GET /api/v1/stream?ticket=* HTTP/1.1 200``); :func:`log_config` is uvicorn's own logging
  configuration with that filter on the access handler.
- **A stop does not wait on open streams.** uvicorn stops by closing its listeners, then waits
  for every open connection to finish, and only then runs the app's lifespan shutdown; a live
  stream never finishes on its own, so a browser tab left open on the monitor board would hold
  the stop forever. :class:`Server` sets ``runtime.guards.stopping`` as its shutdown begins:
  every stream ends within a tenth of a second (``api/routes/stream.py``), and a stop takes
  about a second. ``GRACE_SECONDS`` bounds the wait for anything else: a stream still open
  when it runs out is cut, and uvicorn logs "timeout graceful shutdown exceeded", which
  ``tests/e2e/test_serve_stop.py`` (``casetrail serve`` in a subprocess, SIGTERM and Ctrl-C
  with a stream open) checks never happens.
"""

from __future__ import annotations

import copy
import logging
import socket
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

GRACE_SECONDS = 5
_NAME_MAX = 40


def redact_query(path: str) -> str:
    """``path`` with every query value replaced by ``*`` (names kept, cut at 40 characters)."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    names = []
    for part in query.split("&"):
        name, has_value, _ = part.partition("=")
        name = name[:_NAME_MAX]
        names.append(f"{name}=*" if has_value else name)
    return f"{base}?{'&'.join(names)}"


class RedactQuery(logging.Filter):
    """Rewrites uvicorn's access records: ``(client, method, path?query, version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_query(args[2]), args[3], args[4])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, its access lines passed through RedactQuery."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": f"{__name__}.RedactQuery"}
    config["handlers"]["access"]["filters"] = ["redact_query"]
    return config


class Server(uvicorn.Server):
    """uvicorn's server, which tells the app's open streams to end as its shutdown begins."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        runtime = getattr(getattr(self.config.app, "state", None), "runtime", None)
        if runtime is not None:
            runtime.guards.stopping.set()
        await super().shutdown(sockets)


def serve(app: Any, *, host: str, port: int, **options: Any) -> None:
    """Run ``app`` (the FastAPI app) until SIGINT/SIGTERM, as ``casetrail serve`` does."""
    options.setdefault("log_config", log_config())
    options.setdefault("timeout_graceful_shutdown", GRACE_SECONDS)
    server = Server(uvicorn.Config(app, host=host, port=port, **options))
    server.run()
    if not server.started:
        raise SystemExit(3)  # as uvicorn.run: the app failed to start (the error is logged)
