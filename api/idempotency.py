"""Which request each ``Idempotency-Key`` was first used for, per user, while this process lives.

A repeat with the same key and the same request is answered again (``api/writes.py``
recomputes the answer); the same key reused for a *different* request (method, path, body)
is refused with 422 ``idempotency_key_reused``. Only the most recent ``size`` keys are kept.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from api.errors import ApiError


class IdempotencyMemory:
    """Request fingerprints per (user, Idempotency-Key), the most recent ``size`` of them."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self.seen: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.lock = Lock()

    def check(self, user: str, key: str, fingerprint: str) -> None:
        with self.lock:
            found = self.seen.get((user, key))
        if found is not None and found != fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"Idempotency-Key {key!r} was already used for a different request",
            )

    def remember(self, user: str, key: str, fingerprint: str) -> None:
        with self.lock:
            self.seen[(user, key)] = fingerprint
            self.seen.move_to_end((user, key))
            while len(self.seen) > self.size:
                self.seen.popitem(last=False)
