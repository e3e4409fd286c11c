"""The relay: publishes stored events, in order, to a Kafka topic (DESIGN.md §5).

The event store stays the source of truth; Kafka is transport. The relay reads the store's
ordered notification log from its tracked position, sends each event keyed so that everything
one fold needs stays in one partition, waits until the broker has acknowledged the whole batch
(``acks=all``), and only then records the new position (eventsourcing's tracking table, name
``casetrail.relay``). A crash between the two re-publishes that batch: at-least-once, which the
consumers absorb by (aggregate id, version) (:mod:`projections.at_least_once`).

Keys: a ticket's events by ticket id; a callback's by its source ticket (post-service) or its
customer (periodic); a customer's by customer id. So a ticket and its callbacks share one
partition, and so do a customer and its periodic callbacks.

Message value (JSON): ``notification_id``, ``originator_id``, ``originator_version``, ``topic``
and ``state`` (the stored bytes, base64): exactly what the store holds, decoded by consumers
with the desk's mapper (same transcoder, same upcasting).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import Notification, StoredEvent, Tracking

RELAY_NAME = "casetrail.relay"
CALLBACK_TOPIC = "domain.callback:"  # topic prefix of the Callback aggregate's events
SEND_TIMEOUT = 30.0  # seconds to wait for the broker to acknowledge one batch

log = structlog.get_logger("casetrail.relay")


def encode(note: Notification) -> bytes:
    return json.dumps(
        {
            "notification_id": note.id,
            "originator_id": str(note.originator_id),
            "originator_version": note.originator_version,
            "topic": note.topic,
            "state": base64.b64encode(note.state).decode("ascii"),
        },
        separators=(",", ":"),
    ).encode()


def decode(value: bytes) -> tuple[int, StoredEvent]:
    """A relayed message back into (notification id, the stored event)."""
    data = json.loads(value)
    return data["notification_id"], StoredEvent(
        originator_id=UUID(data["originator_id"]),
        originator_version=data["originator_version"],
        topic=data["topic"],
        state=base64.b64decode(data["state"]),
    )


class Relay:
    """Store → Kafka from a tracked position; ``step`` relays one batch."""

    def __init__(
        self,
        desk: Any,
        tracking: Any,
        producer: Any,
        topic: str,
        *,
        batch_size: int = 500,
        name: str = RELAY_NAME,
    ) -> None:
        self.desk = desk
        self.name = name  # the tracking row: one per relayed topic
        self.tracking = tracking  # an eventsourcing TrackingRecorder (insert/max_tracking_id)
        self.producer = producer
        self.topic = topic
        self.batch_size = batch_size
        self.wakeup = threading.Event()
        self._callback_key: Callable[[UUID], bytes] = lru_cache(maxsize=100_000)(
            self._load_callback_key
        )

    @property
    def position(self) -> int:
        return self.tracking.max_tracking_id(self.name) or 0

    def lag(self) -> int:
        return max(0, (self.desk.recorder.max_notification_id() or 0) - self.position)

    def key_of(self, note: Notification) -> bytes:
        if note.topic.startswith(CALLBACK_TOPIC):
            return self._callback_key(UUID(str(note.originator_id)))
        return str(note.originator_id).encode()

    def _load_callback_key(self, callback_id: UUID) -> bytes:
        """A callback goes with its source ticket, or (periodic) with its customer."""
        first: Sequence[StoredEvent] = self.desk.recorder.select_events(callback_id, lte=1, limit=1)
        if not first:
            return str(callback_id).encode()
        created = self.desk.mapper.to_domain_event(first[0])
        owner = getattr(created, "source_ticket_id", None) or getattr(created, "customer_id", None)
        return str(owner or callback_id).encode()

    def step(self) -> int:
        """Relay the next batch; returns how many events were published (0: caught up)."""
        position = self.position
        notes = self.desk.recorder.select_notifications(start=position + 1, limit=self.batch_size)
        if not notes:
            return 0
        sent = [
            self.producer.send(self.topic, key=self.key_of(note), value=encode(note))
            for note in notes
        ]
        self.producer.flush(timeout=SEND_TIMEOUT)
        for future in sent:
            future.get(timeout=SEND_TIMEOUT)  # raises what the broker refused
        last = notes[-1].id
        self.tracking.insert_tracking(Tracking(self.name, last))
        log.info("relayed", events=len(notes), position=last, topic=self.topic)
        return len(notes)

    def catch_up(self) -> int:
        total = 0
        while n := self.step():
            total += n
        return total

    def run(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Relay until ``stop``; sleeps until woken (new events) when caught up."""
        log.info("relay started", position=self.position, topic=self.topic)
        while not stop.is_set():
            try:
                if self.step():
                    continue
            except Exception:
                # Broker down or refusing: nothing was tracked, the batch goes again.
                log.exception("relay batch failed; retrying", position=self.position)
                stop.wait(idle_wait)
                continue
            self.wakeup.wait(idle_wait)
            self.wakeup.clear()
        log.info("relay stopped", position=self.position)
