"""A deployment's own data files: ``casetrail config check`` and what the app then serves.

The deployer puts policy, calendar, org, callback-plan and users files in a folder named by
``CASETRAIL_DATA_DIR`` (or names one file with its own setting); ``config check`` loads them as
``serve`` would and says which file is which and what it holds, or every fault with file, entry
and field.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from bootstrap.catalogue import DEFAULT_POLICIES, load_catalogue
from bootstrap.org_loader import load_directory
from cli.main import app
from config import DATA_DIR
from config.settings import Settings
from tests.factories import POLICY_HEAD

# Appended to the shipped catalogue: a policy "broken" with one milestone, as MILESTONE says.
POLICY = (
    POLICY_HEAD
    + """
[[policy.milestones]]
name = "reply"
met_on = ["customer_answered"]
"""
)
MILESTONE = {
    "negative target": ('target = "-1h"\nclock = "24x7"\n', "milestones[0].target"),
    "warning above 1": (
        'target = "1h"\nclock = "24x7"\nwarn_at = [0.5, 1.2]\n',
        "milestones[0].warn_at",
    ),
    "unknown calendar": (
        'target = "4h"\nclock = "business"\ncalendar = "cn-moon"\n',
        "milestones[0].calendar",
    ),
}
# A department only this deployment has, and an agent of it.
NIGHT_DESK = """
[[department]]
id = "night_desk"
name_zh = "夜班服务台"
name_en = "Night Service Desk"
kind = "back_office"
valid_from = 2024-01-01T00:00:00+08:00
"""
NIGHT_AGENT = """
[[user]]
id = "night.agent"
name = "夜班坐席"
role = "agent"
department = "night_desk"
token = "night-desk-agent-token"
"""


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "casetrail-data"
    folder.mkdir()
    monkeypatch.setenv("CASETRAIL_DATA_DIR", str(folder))
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps table cells to the terminal's width
    return folder


def check() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["config", "check"])
    return result.exit_code, result.output


def test_check_of_the_shipped_data_shows_each_file_and_its_version(data_dir: Path) -> None:
    code, output = check()

    assert code == 0, output
    assert load_catalogue().version in output
    assert load_directory().version in output
    for name in ("sla_policies", "calendars", "org", "callback_plan", "users"):
        assert str(DATA_DIR / f"{name}.toml") in output
    assert "CASETRAIL_DATA_DIR" not in output  # the folder is empty: everything is shipped
    assert f"{len(load_catalogue().policies)} policies" in output


@pytest.mark.parametrize("fault", sorted(MILESTONE))
def test_a_broken_policy_is_named_by_file_policy_and_field(data_dir: Path, fault: str) -> None:
    milestone, field = MILESTONE[fault]
    policies = data_dir / "sla_policies.toml"
    policies.write_text(
        DEFAULT_POLICIES.read_text(encoding="utf-8") + POLICY + milestone, encoding="utf-8"
    )

    code, output = check()

    assert code == 1, output
    fault_line = next(line for line in output.splitlines() if "broken@v1" in line)
    assert str(policies) in fault_line
    assert field in fault_line
    assert "Traceback" not in output


def test_a_configured_file_that_is_missing_is_named(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = data_dir / "elsewhere" / "org.toml"
    monkeypatch.setenv("CASETRAIL_ORG_FILE", str(missing))

    code, output = check()

    assert code == 1
    assert f"{missing}" in output
    assert "cannot read" in output


def test_settings_that_do_not_validate_are_faults_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASETRAIL_DATA_DIR", "/no/such/folder")
    monkeypatch.setenv("COLUMNS", "400")

    code, output = check()

    assert code == 1
    assert "CASETRAIL_DATA_DIR" in output


def test_show_masks_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", "postgresql://casetrail:s3cret@db:5432/casetrail")
    monkeypatch.setenv("COLUMNS", "400")

    result = CliRunner().invoke(app, ["config", "show"])

    assert result.exit_code == 0, result.output
    assert "postgresql://casetrail:***@db:5432/casetrail" in result.output
    assert "s3cret" not in result.output
    assert "CASETRAIL_USERS_FILE" in result.output


def own_org_and_users(folder: Path) -> None:
    org = (DATA_DIR / "org.toml").read_text(encoding="utf-8")
    (folder / "org.toml").write_text(org + NIGHT_DESK, encoding="utf-8")
    users = (DATA_DIR / "users.toml").read_text(encoding="utf-8")
    (folder / "users.toml").write_text(users + NIGHT_AGENT, encoding="utf-8")


def test_the_app_serves_the_org_and_users_of_the_data_dir(tmp_path: Path) -> None:
    folder = tmp_path / "casetrail-data"
    folder.mkdir()
    own_org_and_users(folder)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'own.sqlite'}", data_dir=folder)

    with TestClient(create_app(settings, workers=False)) as client:
        me = client.get("/api/v1/me", headers={"Authorization": "Bearer night-desk-agent-token"})

    assert me.status_code == 200, me.text
    assert me.json()["department"] == "night_desk"


def test_the_command_reads_the_data_dir_from_the_environment(tmp_path: Path) -> None:
    folder = tmp_path / "casetrail-data"
    folder.mkdir()
    own_org_and_users(folder)
    env = {**os.environ, "CASETRAIL_DATA_DIR": str(folder), "COLUMNS": "400"}

    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "config", "check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    own = load_directory(folder / "org.toml")
    assert own.version != load_directory().version
    assert own.version in done.stdout
    assert str(folder / "org.toml") in done.stdout
    assert "CASETRAIL_DATA_DIR" in done.stdout


def test_check_covers_the_loop_rules_and_names_a_bad_one(data_dir: Path) -> None:
    code, output = check()
    assert code == 0, output
    for name in ("assessment_rules", "outage_rule", "problem_customers", "surveys"):
        assert str(DATA_DIR / f"{name}.toml") in output
    assert "suggest at 3 calls per feeder within 30 min" in output
    assert "a survey without a target aims at 90 %" in output

    # The deployment's own files are read, and a bad one is a fault naming file and field.
    (data_dir / "problem_customers.toml").write_text("version = 1\ncomplaints_per_quarter = 5\n")
    (data_dir / "surveys.toml").write_text("version = 1\ndefault_target_percent = 120\n")
    code, output = check()
    assert code == 1, output
    assert "the complaint that makes 5 in a quarter flags the customer" in output
    fault = next(line for line in output.splitlines() if "default_target_percent" in line)
    assert str(data_dir / "surveys.toml") in fault
    assert "Traceback" not in output
