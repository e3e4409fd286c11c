"""The rooms of DESIGN.md §1: domain/ imports no infrastructure, edges or outer rooms."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_DOMAIN = {
    "psycopg",
    "sqlite3",
    "kafka",
    "structlog",
    "fastapi",
    "os",
    "config",
    "projections",
    "workers",
    "api",
    "cli",
}
FORBIDDEN_IN_PROJECTIONS = {"psycopg", "kafka", "fastapi", "workers", "api", "cli"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "domain").rglob("*.py")), ids=lambda p: p.name)
def test_domain_imports_no_infrastructure(path: Path) -> None:
    assert _imports(path) & FORBIDDEN_IN_DOMAIN == set()


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
        assert _imports(path) & FORBIDDEN_IN_PROJECTIONS == set(), path.name
