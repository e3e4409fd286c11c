"""Stream tickets and stream slots: the live stream without a bearer token in its URL.

``EventSource`` cannot send an ``Authorization`` header, and a token in a query string ends up
in access logs, proxies and browser history. So the client first asks, with its bearer token,
for a :class:`StreamTickets` ticket: 32 random bytes, good for one connection within
``TICKET_SECONDS`` (30 s), bound to the user who asked. Only the ticket's sha256 is kept, in a
bounded table (``capacity`` 4,096 in all, ``per_user`` 8 outstanding per user: the oldest go
first), so neither a memory dump nor a slow comparison gives a usable ticket away.

:class:`StreamSlots` counts each user's open streams (``CASETRAIL_MAX_STREAMS_PER_USER``); a
:class:`Lease` gives its slot back exactly once, however the stream ends.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from api.users import User

TICKET_SECONDS = 30
TICKET_BYTES = 32


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class _Issued:
    user: User
    expires_at: float


class StreamTickets:
    """Single-use, short-lived stream tickets, thread-safe; ``clock`` is injectable (seconds)."""

    def __init__(
        self,
        *,
        ttl_seconds: float = TICKET_SECONDS,
        capacity: int = 4096,
        per_user: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.capacity = capacity
        self.per_user = per_user
        self.clock = clock
        self._lock = threading.Lock()
        # Insertion order is expiry order (one TTL for all): the oldest is always first.
        self._issued: OrderedDict[bytes, _Issued] = OrderedDict()

    def issue(self, user: User) -> str:
        """A new ticket for ``user``."""
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        with self._lock:
            now = self.clock()
            self._purge(now)
            mine = [key for key, issued in self._issued.items() if issued.user.id == user.id]
            for key in mine[: max(len(mine) - self.per_user + 1, 0)]:
                del self._issued[key]
            while len(self._issued) >= self.capacity:
                self._issued.popitem(last=False)
            self._issued[_digest(ticket)] = _Issued(user, now + self.ttl_seconds)
        return ticket

    def redeem(self, ticket: str) -> User | None:
        """The user the ticket was issued to, once; None when unknown, used or expired."""
        with self._lock:
            issued = self._issued.pop(_digest(ticket), None)
            now = self.clock()
        if issued is None or issued.expires_at <= now:
            return None
        return issued.user

    def __len__(self) -> int:
        with self._lock:
            return len(self._issued)

    def _purge(self, now: float) -> None:
        while self._issued:
            oldest = next(iter(self._issued.values()))
            if oldest.expires_at > now:
                return
            self._issued.popitem(last=False)


class Lease:
    """One open stream's slot; :meth:`release` gives it back once, however often called."""

    def __init__(self, slots: StreamSlots, user_id: str) -> None:
        self.slots = slots
        self.user_id = user_id
        self._released = False

    def release(self) -> None:
        with self.slots._lock:
            if self._released:
                return
            self._released = True
            left = self.slots._open[self.user_id] - 1
            if left:
                self.slots._open[self.user_id] = left
            else:
                del self.slots._open[self.user_id]


class StreamSlots:
    """How many streams each user has open; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def acquire(self, user_id: str, limit: int) -> Lease | None:
        """A lease on one more stream for ``user_id``; None when ``limit`` are open already."""
        with self._lock:
            count = self._open.get(user_id, 0)
            if count >= limit:
                return None
            self._open[user_id] = count + 1
        return Lease(self, user_id)

    def count(self, user_id: str) -> int:
        with self._lock:
            return self._open.get(user_id, 0)
