"""Which of a batch's rows the projector may tell the store are new (Batch.new_slots).

Given what the row cache and the batch before know, when a batch is written, then only slots
the store certainly lacks are named new: never a slot with a committed row, one the previous
batch writes, one the cache forgot, or a deletion.
"""

from __future__ import annotations

from typing import Any

from projections.core import LRU, Batch, Key, Projection, Row, Rows, Table


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
