"""What a view table is: its key and typed columns, and the names for rows, keys and slots.

The bottom of ``projections/``: it imports nothing of the package, so the batch (``core``),
the projector's cache (``cache``) and the adapters can all speak of tables and rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

Row = dict[str, Any]
Key = tuple[Any, ...]
Slot = tuple[str, Key]  # (table, key): one row of one projection
COLUMN_TYPES = ("text", "int", "real", "bool", "ts", "json")


def _key_getter(key: tuple[str, ...]) -> Callable[[Row], Key]:
    """A C-level ``row -> key tuple`` (``itemgetter`` returns a bare value for one column)."""
    if len(key) == 1:
        only = key[0]
        return lambda row: (row[only],)
    getter: Callable[[Row], Key] = itemgetter(*key)
    return getter


@dataclass(frozen=True)
class Table:
    """One view table: its key columns and its value columns with their types."""

    name: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (column, type) including the key columns
    append_only: bool = False  # the fold writes these rows and never reads them back
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    name_set: frozenset[str] = field(init=False, repr=False, compare=False)
    kinds: dict[str, str] = field(init=False, repr=False, compare=False)
    key_getter: Callable[[Row], Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [c for c, _ in self.columns]
        # Computed once: folds call put() for every event on the hot path.
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "name_set", frozenset(names))
        object.__setattr__(self, "kinds", dict(self.columns))
        object.__setattr__(self, "key_getter", _key_getter(self.key))
        for column, kind in self.columns:
            if kind not in COLUMN_TYPES:
                raise ValueError(f"{self.name}.{column}: unknown column type {kind!r}")
        missing = set(self.key) - set(names)
        if missing:
            raise ValueError(f"{self.name}: key columns {sorted(missing)} are not columns")

    def key_of(self, row: Row) -> Key:
        return self.key_getter(row)
