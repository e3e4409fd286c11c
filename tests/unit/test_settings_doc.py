"""README's settings table is the list of settings: one row per field of ``Settings``, with its
environment variable and its default as the code has them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings, env_name

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(?P<env>CASETRAIL_\w+)` \| (?P<default>[^|]+) \| (?P<meaning>[^|]+) \|$")


def documented() -> dict[str, tuple[str, str]]:
    """``{env var: (default cell, meaning)}`` of the table under README's "## Configuration"."""
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        found = ROW.match(line.strip())
        if found:
            assert found["env"] not in rows, f"{found['env']} has two rows"
            rows[found["env"]] = (found["default"].strip(), found["meaning"].strip())
    return rows


def as_documented(default: Any) -> str:
    """A default the way README writes it: as one would set it in the environment."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def test_every_setting_has_a_row_and_every_row_a_setting() -> None:
    expected = {env_name(name) for name in Settings.model_fields}

    assert sorted(documented()) == sorted(expected)


def test_each_row_gives_the_default_the_code_has() -> None:
    rows = documented()
    wrong = {}
    for name, field in Settings.model_fields.items():
        cell, _ = rows[env_name(name)]
        wanted = as_documented(field.get_default(call_default_factory=True))
        shown = cell.split(":", 1)[0] if wanted == "unset" else cell
        if shown != wanted:
            wrong[name] = (cell, wanted)

    assert wrong == {}


def test_each_setting_says_what_it_is_for_in_code_and_readme() -> None:
    rows = documented()

    assert [name for name, field in Settings.model_fields.items() if not field.description] == []
    assert [env for env, (_, meaning) in rows.items() if not meaning] == []


def test_env_names_are_the_ones_pydantic_settings_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        value = str(README.parent) if default is None else as_documented(default).strip("`")
        monkeypatch.setenv(env_name(name), value)

    assert Settings().model_fields_set == set(Settings.model_fields)
