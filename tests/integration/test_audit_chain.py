"""The hash chain over the event store, against real PostgreSQL and a real SQLite file.

Given a store of a few tickets, when a single row is altered, removed or moved directly in the
database, then ``audit verify`` finds it and names the first broken link: aggregate, version and
store position; an untouched store verifies clean (through the CLI too: exit code 0, else 1).
Removing the last rows is found against a head recorded earlier (an anchor, a verification).
Every insert path chains its rows in store order: many events in one statement, the library's
default insert, concurrent writers; a refused insert leaves no half chain. A store made before
the chain is hashed once when casetrail first opens it. A ticket's export checks offline with
the standard-library snippet of :mod:`bootstrap.chain`; a tampered line is found.
"""

from __future__ import annotations

import json
import lzma
import shutil
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from typer.testing import CliRunner

import bootstrap.chain
from bootstrap.chain import (
    ALTERED,
    ANCHOR_MISMATCH,
    CHAIN_LINK,
    MISSING_PREDECESSOR,
    OUT_OF_ORDER,
    TRUNCATED,
    Verifier,
    verify_export,
)
from bootstrap.chain_store import ChainStore, chain_of, check_aggregate, fill, verify
from bootstrap.pg_recorder import ArrayInsertRecorder
from bootstrap.sqlite_recorder import ChainedSQLiteRecorder
from cli.main import app
from config.settings import Settings
from domain.desk import Desk
from tests.factories import FakeClock, act, make_desk, receive

FIXTURE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "fixtures"
    / "demo-store-2026-12-04.sqlite.xz"
)


@dataclass
class Store:
    """A desk on one backend with a few tickets, and a raw connection to tamper with."""

    backend: str
    settings: Settings
    desk: Desk
    tickets: list[Any]

    @property
    def chain(self) -> ChainStore:
        return chain_of(self.desk.recorder)

    def sql(self, statement: str, *params: Any) -> list[Any]:
        """Run SQL straight on the database, behind casetrail's back (``?`` placeholders)."""
        if self.backend == "sqlite":
            with sqlite3.connect(self.settings.sqlite_path, isolation_level=None) as conn:
                return conn.execute(statement, params).fetchall()
        with psycopg.connect(self.settings.postgres_conninfo, autocommit=True) as conn:
            cur = conn.execute(statement.replace("?", "%s"), params)  # type: ignore[call-overload]
            return cur.fetchall() if cur.description else []

    @property
    def table(self) -> str:
        return "stored_events" if self.backend == "sqlite" else "casetrail_events"

    @property
    def position(self) -> str:
        return "rowid" if self.backend == "sqlite" else "notification_id"

    def row(self, position: int) -> tuple[uuid.UUID, int]:
        """(aggregate, version) stored at ``position``."""
        oid, version = self.sql(
            f"SELECT originator_id, originator_version FROM {self.table} WHERE {self.position} = ?",
            position,
        )[0]
        return uuid.UUID(str(oid)), version

    def alter(self, position: int) -> None:
        if self.backend == "sqlite":
            statement = "UPDATE stored_events SET state = CAST(state || x'20' AS BLOB)"
        else:
            statement = "UPDATE casetrail_events SET state = state || '\\x20'::bytea"
        self.sql(f"{statement} WHERE {self.position} = ?", position)

    def remove(self, position: int) -> None:
        self.sql(f"DELETE FROM {self.table} WHERE {self.position} = ?", position)

    def swap(self, a: int, b: int) -> None:
        for old, new in ((a, -1), (b, a), (-1, b)):
            self.sql(
                f"UPDATE {self.table} SET {self.position} = ? WHERE {self.position} = ?", new, old
            )

    def head(self) -> int:
        return int(self.sql(f"SELECT max({self.position}) FROM {self.table}")[0][0])


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'events.sqlite'}")
    else:
        settings = Settings(database_url=request.getfixturevalue("fresh_pg_url"))
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    tickets = []
    for i in range(4):
        t = receive(desk, customer_name=f"客户{i}", phone=f"1380013800{i}")
        act(desk, t, "verify")
        tickets.append(t)
    yield Store(request.param, settings, desk, tickets)
    desk.close()


def _first(check: Verifier) -> tuple[int, uuid.UUID | None, int | None, str]:
    first = check.first
    assert first is not None, "the check found nothing"
    return first.position, first.originator_id, first.version, first.rule


def _positions_of(store: Store, ticket: Any) -> list[int]:
    return [row[0][0] for row in store.chain.aggregate_rows(ticket.id)]


def test_an_untouched_store_verifies_clean(store: Store) -> None:
    check = verify(store.chain)
    assert check.ok, check.breaks
    assert check.checked == store.head() == check.position
    last = store.chain.last_verification()
    assert last is not None
    assert (last["ok"], last["position"], last["chain_hash"]) == (
        True,
        check.position,
        check.head.hex(),
    )


def test_an_altered_row_is_found_at_its_position(store: Store) -> None:
    position = _positions_of(store, store.tickets[1])[1]
    store.alter(position)
    check = verify(store.chain)
    assert _first(check) == (position, store.tickets[1].id, 2, ALTERED)
    assert check.broken == 1


def test_a_removed_row_is_found_where_the_chain_skips_it(store: Store) -> None:
    first, second = _positions_of(store, store.tickets[2])[:2]
    store.remove(first)  # the ticket's first event: its second misses its predecessor
    check = verify(store.chain)
    position, ident, version, rule = _first(check)
    assert position == first + 1  # the row after the gap no longer follows the one before it
    assert rule in (CHAIN_LINK, MISSING_PREDECESSOR)
    assert (position, ident, version) == (first + 1, *store.row(first + 1))
    rules = {b.position: b.rule for b in check.breaks}
    assert rules[second] == MISSING_PREDECESSOR


def test_two_rows_swapped_are_found_at_the_first(store: Store) -> None:
    a = _positions_of(store, store.tickets[0])[1]
    store.swap(a, a + 1)
    check = verify(store.chain)
    position, ident, version, _ = _first(check)
    assert (position, ident, version) == (a, *store.row(a))
    assert {b.position for b in check.breaks} <= {a, a + 1, a + 2}


def test_one_tickets_rows_swapped_break_its_version_order(store: Store) -> None:
    v1, v2 = _positions_of(store, store.tickets[3])[:2]
    store.swap(v1, v2)
    check = verify(store.chain)
    assert _first(check)[:3] == (v1, store.tickets[3].id, 2)
    assert {b.position: b.rule for b in check.breaks}[v2] == OUT_OF_ORDER


def test_removing_the_last_row_is_found_against_the_last_verification(store: Store) -> None:
    assert verify(store.chain).ok
    head = store.head()
    store.remove(head)
    check = verify(store.chain, record=False)
    assert _first(check)[0] == head
    assert _first(check)[3] == TRUNCATED


def test_removing_the_last_row_is_found_against_an_anchor_kept_outside(store: Store) -> None:
    kept = store.chain.record_anchor()
    assert kept.position == store.head()
    store.sql("DELETE FROM casetrail_chain_anchors")  # whoever rewrites rows can drop these too
    store.remove(store.head())
    assert verify(store.chain, record=False).ok  # consistent in itself: only a head shows it
    check = verify(store.chain, anchors=[(kept, "the anchor kept outside")], record=False)
    assert _first(check)[0] == kept.position
    assert "rows were removed from the end" in check.breaks[0].message


def test_a_history_rewritten_with_every_hash_recomputed_is_found_only_against_an_anchor(
    store: Store,
) -> None:
    kept = store.chain.record_anchor()
    position = _positions_of(store, store.tickets[0])[0]
    store.alter(position)

    def update(hashed: list[tuple[int, bytes, bytes]]) -> None:
        for n, event, chain in hashed:
            store.sql(
                f"UPDATE {store.table} SET event_hash = ?, chain_hash = ? "
                f"WHERE {store.position} = ?",
                event,
                chain,
                n,
            )

    fill(lambda after: store.chain.rows(after, 1000), update)  # every hash after it, anew
    store.sql("DELETE FROM casetrail_chain_anchors")
    assert verify(store.chain, record=False).ok  # consistent in itself
    check = verify(store.chain, anchors=[(kept, "the anchor kept outside")], record=False)
    assert [(b.position, b.rule) for b in check.breaks] == [(kept.position, ANCHOR_MISMATCH)]


def test_the_cli_exits_0_on_a_clean_store_and_1_naming_the_first_broken_link(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", store.settings.database_url)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    clean = runner.invoke(app, ["audit", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "chain intact" in clean.output
    position = _positions_of(store, store.tickets[1])[1]
    store.alter(position)
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1, broken.output
    assert f"the first at position {position}, aggregate {store.tickets[1].id}, version 2" in (
        broken.output
    )


def test_anchors_are_recorded_every_so_many_positions(store: Store) -> None:
    every = 5
    recorder: Any
    if store.backend == "sqlite":
        recorder = ChainedSQLiteRecorder(store.desk.recorder.datastore)
        recorder.anchor_every = every
    else:  # the trigger has the number built in: a table of its own, made with it
        recorder = type("EveryFive", (ArrayInsertRecorder,), {"anchor_every": every})(
            store.desk.recorder.datastore, events_table_name="every_five_events"
        )
        recorder.create_table()
        store.sql("DELETE FROM casetrail_chain_anchors")
    chain = chain_of(recorder)
    start = chain.head()[0]
    ident = uuid.uuid4()
    recorder.insert_events([StoredEvent(ident, v, "t", b"{}") for v in range(1, 13)])
    anchors = [a for a in chain.anchors() if a.kind == "every"]
    expected = [p for p in range(start + 1, start + 13) if p % every == 0]
    assert [a.position for a in anchors] == expected
    assert verify(chain).ok


def test_a_refused_insert_leaves_no_half_chain(store: Store) -> None:
    ident = uuid.uuid4()
    recorder: Any = store.desk.recorder
    recorder.insert_events([StoredEvent(ident, 1, "t", b"{}")])
    with pytest.raises(IntegrityError):
        recorder.insert_events([StoredEvent(ident, v, "t", b"{}") for v in (2, 3, 1, 4)])
    assert verify(store.chain).ok
    recorder.insert_events([StoredEvent(ident, v, "t", b"{}") for v in (2, 3)])
    check = verify(store.chain)
    assert check.ok, check.breaks
    assert check.checked == len(store.sql(f"SELECT 1 FROM {store.table}"))


def test_a_tickets_own_chain_is_checked_live(store: Store) -> None:
    ticket = store.tickets[2]
    assert check_aggregate(store.chain.aggregate_rows(ticket.id)).ok
    position = _positions_of(store, ticket)[0]
    store.alter(position)
    check = check_aggregate(store.chain.aggregate_rows(ticket.id))
    assert _first(check) == (position, ticket.id, 1, ALTERED)


# ------------------------------------------------------------------------ export, offline


def _offline_snippet() -> str:
    doc = bootstrap.chain.__doc__ or ""
    start = doc.index("    import base64")
    end = doc.index("\n\n", doc.index('    print("ok'))
    return "\n".join(line[4:] for line in doc[start:end].splitlines())


def test_an_export_checks_offline_and_a_tampered_line_is_found(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", store.settings.database_url)
    monkeypatch.setenv("COLUMNS", "300")
    ticket = store.tickets[1]
    act(store.desk, ticket, "classify", category="service_attitude", priority="high")
    export = tmp_path / "ticket.jsonl"
    runner = CliRunner()
    done = runner.invoke(app, ["audit", "export", "--ticket", str(ticket.id), "-o", str(export)])
    assert done.exit_code == 0, done.output
    lines = export.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert (header["kind"], header["ticket_id"]) == ("header", str(ticket.id))
    assert header["events"] == len(lines) - 1 >= 3
    assert header["number"] == ticket.number
    snippet = tmp_path / "check.py"
    snippet.write_text(_offline_snippet(), encoding="utf-8")
    # Standalone: a Python without casetrail's packages, nothing but the standard library.
    offline = subprocess.run(
        [sys.executable, "-I", str(snippet), str(export)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.startswith("ok")
    assert verify_export(lines)[1].ok
    assert runner.invoke(app, ["audit", "verify", "--file", str(export)]).exit_code == 0

    second = json.loads(lines[2])
    second["state"] = second["state"][:-4] + "AAAA"
    lines[2] = json.dumps(second)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    offline = subprocess.run(
        [sys.executable, "-I", str(snippet), str(export)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert offline.returncode != 0
    assert f"version 2, position {second['position']}" in offline.stderr
    found = runner.invoke(app, ["audit", "verify", "--file", str(export)])
    assert found.exit_code == 1
    assert f"position {second['position']}, aggregate {ticket.id}, version 2" in found.output


def test_an_export_by_ticket_number_when_the_views_know_it(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bootstrap import build_projector

    build_projector(store.desk, store.settings, views=["ticket_search"]).catch_up()
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", store.settings.database_url)
    ticket = store.tickets[0]
    done = CliRunner().invoke(app, ["audit", "export", "--ticket", ticket.number.lower()])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.splitlines()[0])["ticket_id"] == str(ticket.id)


# -------------------------------------------------------------- write paths, PostgreSQL only


def _pg_datastore(url: str, *, functions: bool = True) -> PostgresDatastore:
    parts = urlparse(url)
    return PostgresDatastore(
        dbname=parts.path.lstrip("/"),
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
        enable_db_functions=functions,
        pool_size=10,
    )


@pytest.fixture
def pg_recorder(fresh_pg_url: str) -> Iterator[ArrayInsertRecorder]:
    datastore = _pg_datastore(fresh_pg_url)
    recorder = ArrayInsertRecorder(datastore, events_table_name="casetrail_events")
    recorder.create_table()
    yield recorder
    recorder.close_writers()
    datastore.close()


@pytest.mark.postgres
@pytest.mark.parametrize("events", [3, 40])  # one parameter per value; one list per column
def test_many_events_in_one_statement_chain_in_store_order(
    pg_recorder: ArrayInsertRecorder, events: int
) -> None:
    # A row-level BEFORE trigger sees the rows the same statement inserted before it.
    a, b = uuid.uuid4(), uuid.uuid4()
    batch = [StoredEvent(a if i % 2 else b, i // 2 + 1, "t", b"{}") for i in range(events)]
    ids = pg_recorder.insert_events(batch)
    assert ids == sorted(ids)
    check = verify(chain_of(pg_recorder))
    assert check.ok, check.breaks
    assert check.checked == events


@pytest.mark.postgres
def test_the_librarys_default_insert_is_chained_too(fresh_pg_url: str) -> None:
    datastore = _pg_datastore(fresh_pg_url, functions=False)
    recorder = ArrayInsertRecorder(datastore, events_table_name="casetrail_events")
    recorder.create_table()
    ident = uuid.uuid4()
    recorder.insert_events([StoredEvent(ident, v, "t", b"{}") for v in (1, 2, 3)])
    recorder.insert_events([StoredEvent(ident, 4, "t", b"{}")])
    check = verify(chain_of(recorder))
    assert (check.ok, check.checked) == (True, 4)
    datastore.close()


@pytest.mark.postgres
def test_concurrent_writers_keep_the_chain_in_store_order(pg_recorder: ArrayInsertRecorder) -> None:
    # What the chain relies on: ids commit in the order they are drawn (the insert function's
    # advisory lock), so each row's predecessor is final when the trigger reads it.
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def write(writer: int) -> None:
        try:
            barrier.wait()
            for i in range(40):
                ident = uuid.uuid4()
                pg_recorder.insert_events(
                    [StoredEvent(ident, 1, "t", b"{}"), StoredEvent(ident, 2, "t", b"%d" % writer)]
                )
                if i % 5 == 0:
                    pg_recorder.insert_events([StoredEvent(ident, 3, "t", b"x" * 3000)])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    check = verify(chain_of(pg_recorder))
    assert check.ok, check.breaks
    assert check.checked == 8 * (40 * 2 + 8)


# ---------------------------------------------------------------- stores made before the chain


def test_a_sqlite_store_made_before_the_chain_is_hashed_on_start(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = SQLiteApplicationRecorder(SQLiteDatastore(str(path)))
    old.create_table()
    ids = [uuid.uuid4() for _ in range(3)]
    old.insert_events([StoredEvent(i, v, "t", b"{}") for v in (1, 2) for i in ids])
    old.datastore.close()
    settings = Settings(database_url=f"sqlite:///{path}")
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    try:
        receive(desk)
        chain = chain_of(desk.recorder)
        check = verify(chain)
        assert check.ok, check.breaks
        assert check.checked == chain.head()[0] > 6
        genesis = chain.genesis()
        assert genesis is not None
        assert genesis.position == 6
    finally:
        desk.close()


@pytest.mark.postgres
def test_a_postgres_store_made_before_the_chain_is_hashed_on_start(fresh_pg_url: str) -> None:
    datastore = _pg_datastore(fresh_pg_url)
    old = PostgresApplicationRecorder(datastore, events_table_name="casetrail_events")
    old.create_table()
    ids = [uuid.uuid4() for _ in range(3)]
    old.insert_events([StoredEvent(i, v, "t", b"{}") for v in (1, 2) for i in ids])
    datastore.close()
    desk = make_desk(FakeClock(), env=Settings(database_url=fresh_pg_url).eventsourcing_env())
    try:
        receive(desk)
        chain = chain_of(desk.recorder)
        check = verify(chain)
        assert check.ok, check.breaks
        assert check.checked == chain.head()[0] > 6
        genesis = chain.genesis()
        assert genesis is not None
        assert genesis.position == 6
        assert genesis.kind == "genesis"
    finally:
        desk.close()


@pytest.mark.slow
def test_the_demo_store_of_2026_12_04_is_hashed_on_start_and_verifies(tmp_path: Path) -> None:
    if not FIXTURE.exists():
        pytest.skip(f"stored-events fixture not found: {FIXTURE}")
    path = tmp_path / "demo.sqlite"
    with lzma.open(FIXTURE) as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked, length=1 << 20)
    settings = Settings(database_url=f"sqlite:///{path}")
    desk = make_desk(FakeClock(), env=settings.eventsourcing_env())
    try:
        chain = chain_of(desk.recorder)
        check = verify(chain)
        assert (check.ok, check.checked) == (True, 50_840)
        genesis = chain.genesis()
        assert genesis is not None
        assert (genesis.position, genesis.chain_hash) == (50_840, check.head)
    finally:
        desk.close()
