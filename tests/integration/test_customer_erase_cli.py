"""``casetrail customer erase``: erased, views blanked, file compacted; refusals exit 1."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from typer.testing import CliRunner

from bootstrap import build_followers
from cli.main import app
from config.settings import Settings
from domain.personal import ERASED
from projections.ticket_search import CUSTOMERS
from tests.factories import FakeClock, bj, make_desk, receive

PHONE = "13511112222"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return Settings(database_url=url)


def test_erase_blanks_the_views_and_leaves_no_phone_in_the_file(store: Settings) -> None:
    desk = make_desk(FakeClock(bj(2026, 10, 12, 9, 0)), env=store.eventsourcing_env())
    first = receive(desk, customer_name="上官婉儿", phone=PHONE)
    customer = desk.ticket(first.id).customer["id"]
    receive(desk, customer_id=customer, customer_name=None, phone=PHONE)
    desk.close()

    result = CliRunner().invoke(app, ["customer", "erase", customer, "--reason", "客户书面申请"])

    assert result.exit_code == 0, result.output
    assert "CustomerErased" in result.output
    blanked = next(line for line in result.output.splitlines() if "tickets blanked" in line)
    assert blanked.split("│")[2].strip() == "2"
    views = build_followers(store)
    search = next(f for f in views if f.projection.name == "ticket_search")
    row = search.store.load(search.projection.table(CUSTOMERS), (customer,))
    assert row is not None
    assert row["name"] == ERASED
    assert row["phone"] == ERASED
    for file in store.sqlite_path.parent.glob(store.sqlite_path.name + "*"):
        assert PHONE.encode() not in file.read_bytes(), file.name
        assert "上官婉儿".encode() not in file.read_bytes(), file.name
    views[0].store.datastore.close()


def test_erasing_an_unknown_customer_is_refused_with_exit_code_1(store: Settings) -> None:
    make_desk(FakeClock(), env=store.eventsourcing_env()).close()
    ghost = str(uuid4())
    result = CliRunner().invoke(app, ["customer", "erase", ghost, "--reason", "客户申请"])
    assert result.exit_code == 1
    assert "refused (not_found)" in result.output
    assert ghost in result.output
