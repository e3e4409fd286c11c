"""What the routes share: the desk, the users, the views and their projector, the policy.

Built once by ``api.app.create_app`` (in its lifespan) and reached by routes through the
``api.deps.get_runtime`` dependency. Only state lives here: this module imports the parts it
holds (``auth.Policy``, ``reads.ViewReader``, ``idempotency``, ``guards``, ``health``) and no
service, route or FastAPI machinery.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from api.auth import Policy
from api.guards import Guards
from api.health import DatabaseGate, HealthProbe
from api.idempotency import IdempotencyMemory
from api.reads import ViewReader
from api.users import Users
from config.settings import Settings
from domain.desk import Desk
from domain.errors import NotFound


@dataclass
class Runtime:
    """One running API: everything a request may need, nothing it must build."""

    settings: Settings
    desk: Desk
    users: Users
    policy: Policy
    projector: Any  # workers.projector.Projector
    reader: ViewReader
    idempotency: IdempotencyMemory
    workers: Any = None  # workers.inprocess.InProcessWorkers when they run here
    lock: threading.Lock = field(default_factory=threading.Lock)
    guards: Guards = field(default_factory=Guards)  # stream tickets/slots, replays, stop
    # The outage gate (503 at once while PostgreSQL is unreachable) and /health's reader.
    gate: DatabaseGate = field(default_factory=lambda: DatabaseGate(None, ""))
    health: HealthProbe | None = None

    def now(self) -> datetime:
        """The desk's clock: the instant reads are evaluated at (injectable in tests)."""
        return self.desk.clock()

    def load(self, cls: type[Any], ident: UUID, what: str, version: int | None = None) -> Any:
        """An aggregate of class ``cls`` (optionally at ``version``); NotFound (404) otherwise."""
        try:
            found: Any = self.desk.repository.get(ident, version=version)
        except AggregateNotFoundError:
            raise NotFound(what, str(ident)) from None
        if not isinstance(found, cls):
            raise NotFound(what, str(ident))
        return found

    def at_version(self, ident: UUID, version: int) -> Any:
        """The aggregate exactly at ``version``: a copy from the desk's cache when it is at that
        version (just written, the usual case after a command), else replayed from the store."""
        try:
            # Read only (the callers present it): the cached object itself, no deep copy.
            cached: Any = self.desk.repository.get(ident, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            cached = None
        if cached is not None and cached.version == version:
            return cached
        return self.desk.repository.get(ident, version=version)

    def catch_up(self) -> int:
        """Bring the views up to date in this process (one projector at a time)."""
        if self.workers is not None:
            return int(self.workers.views.catch_up())
        with self.lock:
            return int(self.projector.catch_up())
