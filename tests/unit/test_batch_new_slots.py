"""What the row cache knows without asking the store: which of a batch's rows are new
(Batch.new_slots), and which rows of a prefetched aggregate exist (prefetch_rows).

Given what the row cache and the batch before know, when a batch is written, then only slots
the store certainly lacks are named new: never a slot with a committed row, one the previous
batch writes, one the cache forgot, or a deletion.
"""

from __future__ import annotations

from typing import Any

from projections.core import LRU, Batch, Key, Projection, Row, Rows, Table, prefetch_rows


class Pairs(Projection):
    name = "pairs"
    tables = (
        Table("pairs", key=("k",), columns=(("k", "text"), ("v", "int"))),
        Table("log", key=("k",), columns=(("k", "text"), ("v", "int")), append_only=True),
    )

    def fold(self, event: Any, rows: Rows) -> None:
        raise AssertionError("rows are put directly")


class NoStore:
    def load(self, table: Table, key: Key) -> Row | None:
        return None


def test_in_fresh_views_unseen_slots_are_new_and_known_rows_are_not() -> None:
    cache = LRU(size=2)
    cache.put(("pairs", ("stored",)), {"k": "stored", "v": 1})
    cache.put(("pairs", ("absent",)), None)
    before = Batch(Pairs(), NoStore(), cache, fresh=True)  # type: ignore[arg-type]
    before.put("pairs", {"k": "from-before", "v": 1})
    batch = Batch(Pairs(), NoStore(), cache, fresh=True, pending=before)  # type: ignore[arg-type]
    for k in ("stored", "absent", "from-before", "unseen"):
        batch.put("pairs", {"k": k, "v": 2})
    batch.put("log", {"k": "line", "v": 1})
    batch.delete("pairs", ("gone",))
    assert batch.new_slots() == {("pairs", ("absent",)), ("pairs", ("unseen",)), ("log", ("line",))}

    # Evicting "stored" (a row) makes the cache unsure of it: still not new.
    cache.put(("pairs", ("x",)), None)
    cache.put(("pairs", ("y",)), None)
    assert ("pairs", ("stored",)) not in batch.new_slots()


def test_in_views_with_rows_of_unknown_origin_only_known_absences_are_new() -> None:
    cache = LRU()
    cache.put(("pairs", ("absent",)), None)
    cache.put(("pairs", ("stored",)), {"k": "stored", "v": 1})
    batch = Batch(Pairs(), NoStore(), cache, fresh=False)  # type: ignore[arg-type]
    for k in ("stored", "absent", "unseen"):
        batch.put("pairs", {"k": k, "v": 2})
    batch.put("log", {"k": "line", "v": 1})
    assert batch.new_slots() == {("pairs", ("absent",))}


class Tickets(Projection):
    name = "tickets"
    tables = (
        Table("tickets", key=("ticket_id",), columns=(("ticket_id", "text"), ("v", "int"))),
        Table(
            "log",
            key=("ticket_id",),
            columns=(("ticket_id", "text"), ("v", "int")),
            append_only=True,
        ),
    )

    def fold(self, event: Any, rows: Rows) -> None:
        raise AssertionError("rows are put directly")


def test_a_prefetch_makes_the_cache_answer_for_its_aggregates_until_one_of_their_rows_goes() -> (
    None
):
    cache = LRU(size=3)
    stored = {"ticket_id": "a", "v": 1}
    prefetch_rows(cache, Tickets(), ["a", "b"], lambda table, column, ids: [stored])
    assert cache.get(("tickets", ("a",))) == (True, stored)
    assert cache.get(("tickets", ("b",))) == (True, None)  # fetched: absent
    assert cache.get(("tickets", ("c",))) == (False, None)  # not fetched: ask the store
    assert cache.peek(("log", ("a",))) == (False, None)  # append-only rows are not fetched
    for k in ("x", "y", "z"):  # "a" is evicted: the cache is no longer sure of it
        cache.put(("tickets", (k,)), None)
    assert cache.get(("tickets", ("a",))) == (False, None)
    assert cache.get(("tickets", ("b",))) == (True, None)


def test_what_a_prefetch_knows_stays_bounded() -> None:
    cache = LRU(size=2)
    for start in range(0, 20, 5):
        prefetch_rows(cache, Tickets(), [f"id{i}" for i in range(start, start + 5)], lambda *a: [])
    assert len(cache.complete) <= 2 * cache.size + 5
    assert cache.get(("tickets", ("id19",))) == (True, None)
