"""The rooms of the house and which way their imports run (README, "Layout").

    domain <- projections <- workers <- bootstrap <- api, cli
    config: imported by all, importing none of them

Every import counts: at module level, inside functions and under ``TYPE_CHECKING`` alike (a
typing-only import still ties two modules together for the reader). A room may import only
the rooms listed for it; within a room, modules import each other without cycles. domain/ is
pure: no infrastructure, no wall clock.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("domain", "projections", "workers", "bootstrap", "api", "cli", "config")
MAY_IMPORT: dict[str, set[str]] = {
    "config": set(),
    "domain": set(),
    "projections": {"domain"},
    "workers": {"domain", "projections", "config"},
    "bootstrap": {"domain", "projections", "workers", "config"},
    "api": {"domain", "projections", "bootstrap", "config"},
    "cli": {"domain", "projections", "workers", "bootstrap", "api", "config"},
}
FORBIDDEN_IN_DOMAIN = {"psycopg", "sqlite3", "kafka", "structlog", "fastapi", "os"}
FORBIDDEN_IN_FOLDS = {"psycopg", "sqlite3", "kafka", "fastapi"}


def _modules(room: str) -> dict[str, Path]:
    """``{"room.sub.module": path}`` of every module of a room (packages by their __init__)."""
    found = {}
    for path in sorted((ROOT / room).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


ALL = {name: path for room in ROOMS for name, path in _modules(room).items()}


def _imported(name: str, path: Path) -> Iterator[str]:
    """Every module name ``name`` imports, relative imports resolved, ``from x import y``
    counted as ``x.y`` when ``x.y`` is a module of ours (else ``x``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in ALL else base


def _ours(imported: str) -> str | None:
    """The module of ours an import names (the longest known prefix), if any."""
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in ALL:
            return candidate
    return None


GRAPH = {
    name: {m for m in map(_ours, _imported(name, path)) if m is not None and m != name}
    for name, path in ALL.items()
}


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_the_rooms_below_it(room: str) -> None:
    upward = sorted(
        f"{name} imports {target}"
        for name in _modules(room)
        for target in GRAPH[name]
        if target.split(".")[0] != room and target.split(".")[0] not in MAY_IMPORT[room]
    )
    assert upward == []


def _cycles(nodes: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), within ``nodes``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node] & nodes:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("room", ROOMS)
def test_no_import_cycle_inside_a_room(room: str) -> None:
    # A package's __init__ re-exporting its modules is not a cycle of thought: leave it out.
    nodes = {name for name in _modules(room) if ALL[name].name != "__init__.py"}
    assert _cycles(nodes) == []


def test_the_architecture_test_sees_a_cycle_and_an_upward_import() -> None:
    """The checks above can fail: a made-up graph with both faults is caught."""
    GRAPH.update({"api.fake_a": {"api.fake_b"}, "api.fake_b": {"api.fake_a", "cli.main"}})
    try:
        assert _cycles({"api.fake_a", "api.fake_b"}) == [["api.fake_a", "api.fake_b"]]
        assert "cli" not in MAY_IMPORT["api"]
    finally:
        del GRAPH["api.fake_a"], GRAPH["api.fake_b"]


def _third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "domain").rglob("*.py")), ids=lambda p: p.name)
def test_domain_imports_no_infrastructure(path: Path) -> None:
    assert _third_party(path) & FORBIDDEN_IN_DOMAIN == set()


def test_domain_reads_no_wall_clock() -> None:
    offenders = []
    for path in (ROOT / "domain").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("datetime.now(", ".utcnow(", "time.time(", "date.today("):
            if needle in text:
                offenders.append(f"{path.name}: {needle}")
    assert offenders == []


def test_projection_folds_do_not_touch_drivers() -> None:
    folds = [p for p in (ROOT / "projections").rglob("*.py") if "adapter" not in p.name]
    for path in folds:
        assert _third_party(path) & FORBIDDEN_IN_FOLDS == set(), path.name


def test_every_module_says_first_what_lives_there() -> None:
    silent = [
        str(path.relative_to(ROOT))
        for path in ALL.values()
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text("utf-8"))) is None
    ]
    assert silent == []
