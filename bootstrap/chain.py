r"""The tamper-evident hash chain over the event store: its rules, and the check of them.

Every stored event carries two SHA-256 hashes, written when the event is inserted (by a
trigger on PostgreSQL, by the recorder on SQLite; see :mod:`bootstrap.chain_store`):

- ``event_hash`` links the event to the previous event *of its aggregate* (a ticket's history is
  a chain of its own)::

      event_hash = sha256(b"casetrail-chain-v1\n"
                          + previous event_hash of the same aggregate (32 zero bytes for its first)
                          + originator id (the UUID's 16 bytes)
                          + originator version (8 bytes, big-endian)
                          + length of the topic in UTF-8 (4 bytes, big-endian) + the topic
                          + the state, byte for byte as stored)

  "Previous" is the aggregate's event at the greatest version below this one; an aggregate's
  first version (1) has none (aggregates are numbered from 1, so nothing is looked up). The topic is
  length-prefixed so no choice of topic and state can read as another. The state is hashed as
  stored: personal fields sealed inside it are hashed sealed, so destroying a customer's key
  (crypto-shredding) leaves the chain intact.

- ``chain_hash`` runs over the whole store in notification order (the position)::

      chain_hash = sha256(chain_hash of the row before it in the store (32 zero bytes at the
                          start) + position (8 bytes, big-endian) + event_hash)

What a check finds (``casetrail audit verify``, :class:`Verifier`): a row whose content was
altered (its event hash no longer matches), a row removed (the next row does not follow the one
before it; if it was not its aggregate's last event, the aggregate's next event also misses its
predecessor), rows reordered (a chain link breaks, an aggregate's versions go backwards). It names
the first broken link: aggregate, version and position. Removing the *last* rows of the store
leaves a shorter chain that is consistent in itself: only a head recorded earlier shows it —
an anchor (every :data:`ANCHOR_EVERY` positions the insert records one; ``casetrail audit anchor``
records and prints the current head) or the head of the last recorded verification. Anchors and
verifications live in the same database as the events, so whoever can rewrite the events can
rewrite them too: an auditor keeps the printed anchors *outside* the system and checks against
them (``casetrail audit verify --anchors FILE``). Rewriting a row and recomputing every hash after
it is caught only that way.

A ticket's history exported as JSON Lines (``casetrail audit export``, :func:`export_lines`) can
be checked offline. The first line is a header (``"kind": "header"``); every other line is one
event of the ticket in version order with ``position``, ``originator_id``,
``originator_version``, ``topic``, ``state`` (base64), ``event_hash``, ``chain_hash`` and
``prev_chain_hash`` (the chain hash of the row before it in the store; ``prev_position`` is that
row's position), hashes in hex. This checks it with nothing but the standard library::

    import base64, hashlib, json, sys

    prev_event = bytes(32)
    for line in open(sys.argv[1], encoding="utf-8"):
        row = json.loads(line)
        if row["kind"] != "event":
            continue
        topic = row["topic"].encode()
        event = hashlib.sha256(
            b"casetrail-chain-v1\n" + prev_event
            + bytes.fromhex(row["originator_id"].replace("-", ""))
            + row["originator_version"].to_bytes(8, "big")
            + len(topic).to_bytes(4, "big") + topic + base64.b64decode(row["state"])
        ).digest()
        link = bytes.fromhex(row["prev_chain_hash"]) + row["position"].to_bytes(8, "big") + event
        chain = hashlib.sha256(link).hexdigest()
        if event.hex() != row["event_hash"] or chain != row["chain_hash"]:
            sys.exit(f"broken: version {row['originator_version']}, position {row['position']}")
        prev_event = event
    print("ok: every event hashes to its chain hash")

A ticket's last ``chain_hash`` can then be compared with the store's chain (``casetrail audit
verify`` on the store, or an anchor kept outside at or after its position).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

CHAIN_VERSION = "v1"
DOMAIN = b"casetrail-chain-v1\n"
ZERO = bytes(32)
# The insert records an anchor when a row's position crosses a multiple of this.
ANCHOR_EVERY = 10_000
# A check lists at most this many broken links (the first one is what matters).
MAX_BREAKS = 100

# Why a link is broken (the ``rule`` of a :class:`Break`).
ALTERED = "altered"
MISSING_PREDECESSOR = "missing_predecessor"
OUT_OF_ORDER = "out_of_order"
CHAIN_LINK = "chain_link"
UNHASHED = "unhashed"
TRUNCATED = "truncated"
ANCHOR_MISMATCH = "anchor_mismatch"
RULES = (
    ALTERED,
    MISSING_PREDECESSOR,
    OUT_OF_ORDER,
    CHAIN_LINK,
    UNHASHED,
    TRUNCATED,
    ANCHOR_MISMATCH,
)

_sha256 = hashlib.sha256


def event_hash(prev: bytes, originator_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    """The hash linking an event to the previous event of its aggregate (see the module)."""
    topic_bytes = topic.encode()
    return _sha256(
        b"".join(
            (
                DOMAIN,
                prev,
                originator_id,
                version.to_bytes(8, "big"),
                len(topic_bytes).to_bytes(4, "big"),
                topic_bytes,
                state,
            )
        )
    ).digest()


def chain_hash(prev: bytes, position: int, event: bytes) -> bytes:
    """The running hash at ``position``, over the one before it and this row's event hash."""
    return _sha256(prev + position.to_bytes(8, "big") + event).digest()


# One stored row as the check reads it: position, originator id (16 bytes), version, topic,
# state, event_hash, chain_hash (the two hashes None on a row stored without them).
Row = tuple[int, bytes, int, str, bytes, bytes | None, bytes | None]


@dataclass(frozen=True)
class Break:
    """One broken link: where (position, aggregate, version), which rule, in words."""

    position: int
    originator_id: UUID | None
    version: int | None
    rule: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "originator_id": None if self.originator_id is None else str(self.originator_id),
            "version": self.version,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass(frozen=True)
class Anchor:
    """A chain hash recorded at a position: kept in the store and, printed, outside it."""

    position: int
    chain_hash: bytes
    kind: str  # genesis | every | head
    recorded_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "chain_hash": self.chain_hash.hex(),
            "kind": self.kind,
            "recorded_at": None if self.recorded_at is None else self.recorded_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anchor:
        recorded = data.get("recorded_at")
        return cls(
            position=int(data["position"]),
            chain_hash=bytes.fromhex(data["chain_hash"]),
            kind=str(data.get("kind", "head")),
            recorded_at=datetime.fromisoformat(recorded) if recorded else None,
        )


@dataclass
class Verifier:
    """Re-checks rows fed in store order; keeps the first :data:`MAX_BREAKS` broken links.

    Each row is checked against what is stored just before it (the previous row's chain hash,
    the aggregate's previous event hash), so one altered, removed or moved row is reported where
    it is, not at every row after it. ``expect`` adds heads recorded earlier (anchors, the last
    verification): the row at that position must still carry that chain hash.
    """

    checked: int = 0
    position: int = 0
    head: bytes = ZERO
    breaks: list[Break] = field(default_factory=list)
    broken: int = 0
    _last: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)
    _expected: dict[int, tuple[bytes, str]] = field(default_factory=dict)

    def expect(self, position: int, chain: bytes, source: str) -> None:
        """The row at ``position`` must carry ``chain`` (``source`` names who said so)."""
        if position > 0:
            self._expected[position] = (chain, source)

    def feed(self, rows: Iterable[Row]) -> None:
        last = self._last
        expected = self._expected
        prev_chain, prev_position = self.head, self.position
        for position, oid, version, topic, state, stored_event, stored_chain in rows:
            self.checked += 1
            seen = last.get(oid)
            if stored_event is None or stored_chain is None:
                self._break(position, oid, version, UNHASHED, "the row carries no chain hash")
                prev_position = position
                continue
            prev_event = ZERO if seen is None else seen[1]
            if event_hash(prev_event, oid, version, topic, state) != stored_event:
                self._break(position, oid, version, *_why_event(seen, version))
            elif _sha256(prev_chain + position.to_bytes(8, "big") + stored_event).digest() != (
                stored_chain
            ):
                self._break(
                    position,
                    oid,
                    version,
                    CHAIN_LINK,
                    f"does not follow position {prev_position} in the chain: a row between "
                    "them was removed, or rows were moved",
                )
            if position in expected:
                self._anchor(position, oid, version, stored_chain, *expected.pop(position))
            if seen is None or version > seen[0]:
                last[oid] = (version, stored_event)
            prev_chain, prev_position = stored_chain, position
        self.head, self.position = prev_chain, prev_position

    def finish(self) -> None:
        """Heads expected at positions the store no longer holds are broken too."""
        for position, (_, source) in sorted(self._expected.items()):
            if position > self.position:
                self._break(
                    position,
                    None,
                    None,
                    TRUNCATED,
                    f"the store ends at position {self.position}, but {source} recorded "
                    f"position {position}: rows were removed from the end",
                )
            else:
                self._break(
                    position,
                    None,
                    None,
                    MISSING_PREDECESSOR,
                    f"{source} recorded position {position}, which the store no longer holds",
                )
        self._expected.clear()
        self.breaks.sort(key=lambda b: b.position)

    @property
    def ok(self) -> bool:
        return self.broken == 0

    @property
    def first(self) -> Break | None:
        return min(self.breaks, key=lambda b: b.position) if self.breaks else None

    def _anchor(
        self, position: int, oid: bytes, version: int, stored: bytes, chain: bytes, source: str
    ) -> None:
        if stored != chain:
            self._break(
                position,
                oid,
                version,
                ANCHOR_MISMATCH,
                f"its chain hash differs from the one {source} recorded at this position: "
                "history up to here was rewritten",
            )

    def _break(
        self, position: int, oid: bytes | None, version: int | None, rule: str, message: str
    ) -> None:
        self.broken += 1
        if len(self.breaks) < MAX_BREAKS:
            ident = None if oid is None else UUID(bytes=oid)
            self.breaks.append(Break(position, ident, version, rule, message))


def _why_event(seen: tuple[int, bytes] | None, version: int) -> tuple[str, str]:
    """Why an event hash does not match: what came before it in its aggregate tells."""
    if seen is not None and seen[0] >= version:
        return OUT_OF_ORDER, f"comes after the aggregate's version {seen[0]} in the store"
    before = 0 if seen is None else seen[0]
    if version - 1 != before:
        return (
            MISSING_PREDECESSOR,
            f"the aggregate's version {version - 1} is missing before it "
            "(removed, or moved later in the store)",
        )
    return ALTERED, "its content differs from what was hashed when it was stored"


def describe(b: Break) -> str:
    """A broken link in one line: position, aggregate, version, what broke."""
    where = f"position {b.position}"
    if b.originator_id is not None:
        where += f", aggregate {b.originator_id}, version {b.version}"
    return f"{where}: {b.message} ({b.rule})"


# ------------------------------------------------------------------------ a ticket's export

EXPORT_FORMAT = "casetrail-chain-export"


def export_lines(header: dict[str, Any], rows: Sequence[tuple[Row, int, bytes]]) -> Iterator[str]:
    """JSON Lines: ``header`` then one line per (row, position and chain hash of the row
    before it in the store)."""
    yield json.dumps({"kind": "header", "format": EXPORT_FORMAT, **header}, ensure_ascii=False)
    for (position, oid, version, topic, state, stored_event, stored_chain), before, prev in rows:
        yield json.dumps(
            {
                "kind": "event",
                "position": position,
                "originator_id": str(UUID(bytes=oid)),
                "originator_version": version,
                "topic": topic,
                "state": base64.b64encode(state).decode("ascii"),
                "event_hash": (stored_event or b"").hex(),
                "chain_hash": (stored_chain or b"").hex(),
                "prev_chain_hash": prev.hex(),
                "prev_position": before,
            },
            ensure_ascii=False,
        )


def verify_export(lines: Iterable[str]) -> tuple[dict[str, Any], Verifier]:
    """Check an export's lines (the offline procedure of the module docstring, with reasons).

    Returns the header and a finished :class:`Verifier` (positions are the store's).
    """
    header: dict[str, Any] = {}
    check = Verifier()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data.get("kind") != "event":
                header = data
                continue
            oid = UUID(data["originator_id"]).bytes
            row: Row = (
                int(data["position"]),
                oid,
                int(data["originator_version"]),
                str(data["topic"]),
                base64.b64decode(data["state"], validate=True),
                bytes.fromhex(data["event_hash"]),
                bytes.fromhex(data["chain_hash"]),
            )
            prev = bytes.fromhex(data["prev_chain_hash"])
        except (ValueError, KeyError, TypeError) as error:
            check.checked += 1
            check._break(number, None, None, ALTERED, f"line {number} is not an event: {error}")
            continue
        # Each line carries the chain hash before it: rows of other aggregates lie between.
        check.head, check.position = prev, int(data.get("prev_position", row[0] - 1))
        check.feed([row])
    check.finish()
    return header, check
