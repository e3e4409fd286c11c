"""Validation at the edge: no input can reach the store or the views' SQL unbounded.

Every refusal here is a 4xx with a stable ``code`` that names the field, and records nothing:
NUL and other control characters in bodies and query filters, texts over their maximum
length, instants outside 2000-2100 or with a sub-minute offset, integers past their bounds,
bodies over ``CASETRAIL_MAX_BODY_BYTES``. Far instants already stored (written before these
bounds existed) are still presented, never a 500. Database faults answer 503 with a code and
``Retry-After``. Most stories run on SQLite and PostgreSQL alike: NUL bytes broke only the
latter (its text type cannot hold them).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing import persistence as store
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout

from api.app import create_app
from api.limits import BodyLimit
from api.present import shown
from config.settings import Settings
from domain import commands as c
from domain.base import Channel
from tests.e2e.test_api import CALLER, V1, Api, who
from tests.factories import HANDLER, FakeClock, bj, clean_postgres, make_desk

NUL = "\x00"
FAR = "9999-12-31T23:59:59-14:00"
FIRST = "0001-01-01T00:00:00+00:00"
# An RFC 3339 instant as the API writes it: the offset, when there is one, in whole minutes.
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(?P<offset>Z|[+-]\d\d:\d\d(:\d\d)?)$")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Api]:
    """The API on the embedded SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'edge.sqlite'}")
    else:
        url = request.getfixturevalue("pg_database")
        clean_postgres(url)
        settings = Settings(database_url=url)
    desk = make_desk(clock, env=settings.eventsourcing_env())
    try:
        with TestClient(create_app(settings, desk=desk, workers=False)) as client:
            yield Api(client, clock)
    finally:
        desk.close()


@pytest.fixture
def lite(clock: FakeClock, tmp_path: Path) -> Iterator[Api]:
    """The API on SQLite only: for rules that do not depend on the backend."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'lite.sqlite'}")
    desk = make_desk(clock, env=settings.eventsourcing_env())
    with TestClient(create_app(settings, desk=desk, workers=False)) as client:
        yield Api(client, clock)
    desk.close()


def refused(r: Any, field: str, where: str = "body", status: int = 422) -> dict[str, Any]:
    """The refusal's body, after checking its status, code and the field it names."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == "invalid_input", body
    assert [(e["field"], e["in"]) for e in body["errors"]] == [(field, where)], body
    return body


def repair(api: Api) -> dict[str, Any]:
    """A fault repair dispatched to station_1 (ready for a crew)."""
    t = api.intake(kind="fault_repair", category="outage")
    return api.act(t, "dispatch", "front", to_department="station_1", owner="张伟")


def answered(api: Api) -> dict[str, Any]:
    """A complaint replied to by station_1 and answered to the customer (ready for callback)."""
    t = api.dispatched("station_1")
    api.act(t, "accept", "station_1")
    api.act(t, "reply", "station_1", result="已道歉", measures="加强培训")
    return api.act(t, "answer", "front", content="已向客户答复处理结果")


# ------------------------------------------------------------------ control characters


def test_a_nul_in_content_is_422_naming_the_field_and_nothing_is_stored(api: Api) -> None:
    secret = f"营业厅{NUL}态度恶劣"
    r = api.post("/tickets", "front", {**CALLER, "content": secret})
    body = refused(r, "content")
    assert body["errors"][0]["type"] == "control_characters"
    assert "control characters" in body["message"]
    assert "营业厅" not in r.text  # the refused value is never echoed
    assert api.head() == 0


@pytest.mark.parametrize(
    ("action", "user", "body", "field"),
    [
        ("verify", "front", {"note": f"核实{NUL}"}, "note"),
        ("classify", "front", {"category": f"a{NUL}b", "priority": "normal"}, "category"),
        ("contact_customer", "front", {"note": "第一行\x07"}, "note"),
        ("reject", "front", {"reason": "duplicate", "note": "\x1b[31m"}, "note"),
        ("dispatch", "front", {"to_department": "station_1", "owner": "张\n伟"}, "owner"),
        ("pause", "front", {"reason": "等待\u0085资料"}, "reason"),
    ],
    ids=["nul-note", "nul-name", "bell", "escape", "newline-in-a-name", "c1-control"],
)
def test_control_characters_in_any_text_are_refused(
    lite: Api, action: str, user: str, body: dict[str, Any], field: str
) -> None:
    t = lite.intake()
    before = lite.head()
    r = lite.post(f"/tickets/{t['id']}/{action}", user, body)
    assert refused(r, field)["errors"][0]["type"] == "control_characters"
    assert lite.head() == before


def test_newlines_and_tabs_are_kept_in_free_text(lite: Api) -> None:
    t = lite.intake(content="客户来电：\n\t1. 态度恶劣\n\t2. 要求道歉")
    assert t["state"] == "received"
    shown_content = lite.get(f"/tickets/{t['id']}", "front").json()["content"]
    assert shown_content == "客户来电：\n\t1. 态度恶劣\n\t2. 要求道歉"


def test_customer_and_callback_texts_are_bounded_too(lite: Api) -> None:
    r = lite.post("/customers", "admin", {"name": f"城关{NUL}中学"})
    refused(r, "name")
    r = lite.post("/customers", "admin", {"name": "城关中学", "group_id": "g\x7f1"})
    refused(r, "group_id")
    t = answered(lite)
    cb = lite.post("/callbacks", "front", {"ticket_id": t["id"]}).json()
    before = lite.head()
    r = lite.post(f"/callbacks/{cb['id']}/outcome", "front", {"satisfaction": 5, "comment": NUL})
    refused(r, "comment")
    r = lite.post(f"/callbacks/{cb['id']}/attempts", "front", {"outcome": "busy", "note": NUL})
    refused(r, "note")
    r = lite.post(f"/callbacks/{cb['id']}/cancel", "front", {"reason": "x" * 4001})
    refused(r, "reason")
    assert lite.head() == before


# ------------------------------------------------------------------------ lengths


def test_a_5000_character_note_is_422_and_4000_are_accepted(lite: Api) -> None:
    t = lite.intake()
    before = lite.head()
    r = lite.post(f"/tickets/{t['id']}/verify", "front", {"note": "长" * 5000})
    body = refused(r, "note")
    assert body["errors"][0]["type"] == "string_too_long"
    assert "4000" in body["errors"][0]["message"]
    assert lite.head() == before
    r = lite.post(f"/tickets/{t['id']}/verify", "front", {"note": "长" * 4000})
    assert (r.status_code, r.json()["events"]) == (200, ["ComplaintVerified"])


def test_a_201_character_name_is_422(lite: Api) -> None:
    r = lite.post("/tickets", "front", {**CALLER, "customer_name": "王" * 201})
    assert refused(r, "customer_name")["errors"][0]["type"] == "string_too_long"
    assert lite.head() == 0


def test_openapi_documents_every_limit(lite: Api) -> None:
    schemas = lite.client.get("/openapi.json").json()["components"]["schemas"]
    reply = schemas["ReplyBody"]["properties"]
    assert (reply["result"]["maxLength"], reply["measures"]["maxLength"]) == (4000, 4000)
    assert "\\u0000" in reply["measures"]["pattern"]
    assert schemas["DispatchBody"]["properties"]["owner"]["maxLength"] == 200


# ------------------------------------------------------------------------- instants


def test_a_callback_due_in_year_369_is_422_naming_due_at(lite: Api) -> None:
    t = answered(lite)
    before = lite.head()
    body = {"ticket_id": t["id"], "due_at": "0369-10-12T09:00:00+08:00"}
    r = lite.post("/callbacks", "front", body)
    assert refused(r, "due_at")["errors"][0]["type"] == "instant_out_of_range"
    assert lite.head() == before


def test_a_promised_arrival_at_9999_12_31_is_422(api: Api) -> None:
    t = repair(api)
    before = api.head()
    body = {"crew": "抢修一班", "promised_arrival_at": FAR}
    r = api.post(f"/tickets/{t['id']}/dispatch_crew", "station_1", body)
    assert refused(r, "promised_arrival_at")["errors"][0]["type"] == "instant_out_of_range"
    assert api.head() == before


def test_an_offset_with_seconds_is_422(lite: Api) -> None:
    t = repair(lite)
    body = {"crew": "抢修一班", "promised_arrival_at": "2026-10-12T10:00:00+08:05:43"}
    r = lite.post(f"/tickets/{t['id']}/dispatch_crew", "station_1", body)
    refused(r, "promised_arrival_at")


@pytest.mark.parametrize("when", [FIRST, FAR, "1999-12-31T23:59:59+00:00", "2100-01-01T08:00"])
def test_as_of_and_due_before_outside_2000_2100_are_422(api: Api, when: str) -> None:
    t = api.intake()
    r = api.get(f"/tickets/{t['id']}", "front", as_of=when)
    body = refused(r, "as_of", "query")
    assert when not in body["message"]
    refused(api.get("/reports/departments", "front", as_of=when), "as_of", "query")
    refused(api.get("/sla/deadlines", "monitor", due_before=when), "due_before", "query")


def test_report_dates_outside_2000_2099_are_422(lite: Api) -> None:
    r = lite.get("/reports/departments", "front", **{"from": "0001-01-01", "to": "2026-10-02"})
    refused(r, "from", "query")
    r = lite.get("/reports/departments", "front", **{"from": "2026-10-01", "to": "9999-12-31"})
    refused(r, "to", "query")


def _instants(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _instants(item)
    elif isinstance(value, list):
        for item in value:
            yield from _instants(item)
    elif isinstance(value, str) and INSTANT.match(value):
        yield value


def test_every_instant_in_responses_has_a_whole_minute_offset(lite: Api) -> None:
    t = answered(lite)
    cb = lite.post("/callbacks", "front", {"ticket_id": t["id"]}).json()
    lite.runtime.catch_up()
    bodies = [
        cb,
        lite.get(f"/tickets/{t['id']}", "admin").json(),
        lite.get(f"/tickets/{t['id']}/history", "admin").json(),
        lite.get(f"/callbacks/{cb['id']}", "front").json(),
        lite.get("/worklists", "admin").json(),
        lite.get("/sla/deadlines", "monitor").json(),
        lite.get("/reports/departments", "admin").json(),
    ]
    found = [when for body in bodies for when in _instants(body)]
    assert len(found) > 20
    offsets = {INSTANT.match(when).group("offset") for when in found}  # type: ignore[union-attr]
    assert offsets == {"+08:00"}


def _dispatch_crew_unchecked(api: Api, ticket: dict[str, Any], promised: datetime) -> None:
    """Store a CrewDispatched as an old release did, before promised times were bounded."""
    command = c.DispatchCrew.model_construct(
        **HANDLER,
        channel=Channel.HOTLINE,
        command_id=None,
        expected_version=None,
        occurred_at=None,
        correlation_id=None,
        causation_id=None,
        ticket_id=uuid.UUID(ticket["id"]),
        action="dispatch_crew",
        crew="抢修一班",
        promised_arrival_at=promised,
    )
    assert api.runtime.desk.handle(command).events == ["CrewDispatched"]


def test_a_far_instant_already_stored_is_presented_not_500(api: Api) -> None:
    t = repair(api)
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))
    _dispatch_crew_unchecked(api, t, far)
    r = api.get(f"/tickets/{t['id']}/history", "admin")
    assert r.status_code == 200, r.text
    [crew] = [e for e in r.json()["events"] if e["name"] == "CrewDispatched"]
    assert crew["details"]["data"]["promised_arrival_at"] == FAR  # as stored: UTC cannot hold it
    r = api.get(f"/tickets/{t['id']}", "admin")
    assert (r.status_code, r.json()["state"]) == (200, "crew_en_route")
    r = api.post(f"/tickets/{t['id']}/record_arrival", "station_1", {"crew": "抢修一班"})
    assert (r.status_code, r.json()["state"]) == (200, "on_site")


def test_an_old_far_instant_is_shown_in_utc_never_with_a_local_mean_time_offset() -> None:
    shanghai = bj(2026, 1, 1).tzinfo
    assert shanghai is not None
    old = datetime(369, 10, 12, 9, 0, tzinfo=shanghai)  # +08:05:43, Shanghai's LMT
    assert shown(old, shanghai).isoformat() == "0369-10-12T00:54:17+00:00"
    assert shown(bj(2026, 10, 12, 9), shanghai).isoformat() == "2026-10-12T09:00:00+08:00"
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14, seconds=-3)))
    assert shown(last, shanghai).isoformat() == "9999-12-31T23:59:59.999999+00:00"


# ------------------------------------------------------------------------- queries


FILTERS = [
    ("/worklists", "department"),
    ("/worklists", "owner"),
    ("/worklists", "kind"),
    ("/worklists", "state"),
    ("/sla/deadlines", "state"),
    ("/sla/deadlines", "department"),
    ("/sla/deadlines", "ticket_id"),
    ("/sla/deadlines", "milestone"),
    ("/escalations", "department"),
    ("/escalations", "milestone"),
    ("/audit/access", "actor"),
]


def test_a_nul_in_any_query_filter_is_422(api: Api) -> None:
    api.intake()
    api.runtime.catch_up()
    for path, name in FILTERS:
        r = api.get(path, "admin", **{name: "a\x00b"})
        assert refused(r, name, "query")["errors"][0]["type"] == "control_characters", path
        r = api.get(path, "admin", **{name: "x" * 201})
        refused(r, name, "query")
        assert api.get(path, "admin", **{name: "a b"}).status_code == 200, path


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/worklists", {"offset": "9223372036854775808"}, "offset"),
        ("/sla/deadlines", {"offset": "-1"}, "offset"),
        ("/escalations", {"offset": "1000001"}, "offset"),
        ("/worklists", {"limit": "0"}, "limit"),
        ("/sla/deadlines", {"limit": "1001"}, "limit"),
        ("/escalations", {"min_level": "9223372036854775808"}, "min_level"),
        ("/escalations", {"min_level": "-1"}, "min_level"),
        ("/audit/access", {"limit": "99999999999999999999"}, "limit"),
    ],
)
def test_integers_in_queries_are_bounded(
    api: Api, path: str, params: dict[str, str], field: str
) -> None:
    refused(api.get(path, "admin", **params), field, "query")


def test_the_largest_accepted_offset_answers_an_empty_page(api: Api) -> None:
    api.intake()
    api.runtime.catch_up()
    r = api.get("/worklists", "admin", offset=1_000_000)
    assert (r.status_code, r.json()["rows"]) == (200, [])


def test_if_match_and_reason_are_bounded(lite: Api) -> None:
    t = lite.intake()
    before = lite.head()
    r = lite.post(f"/tickets/{t['id']}/verify", "front", {}, **{"If-Match": "9" * 20})
    refused(r, "If-Match", "header")
    # A superscript two is a digit to str.isdigit() but not to int(): never a 500.
    superscript = {**who("front"), "If-Match": '"²"'.encode("latin-1")}
    r = lite.client.post(f"{V1}/tickets/{t['id']}/verify", json={}, headers=superscript)
    refused(r, "If-Match", "header")
    r = lite.post(f"/tickets/{t['id']}/verify", "front", {}, **{"If-Match": "9999999999"})
    refused(r, "If-Match", "header")  # ten digits, but past the largest version
    r = lite.get(f"/tickets/{t['id']}", "front", reveal="true", reason=f"核实{NUL}")
    refused(r, "reason", "query")
    assert lite.head() == before


def test_an_unknown_key_is_named_without_its_control_characters(lite: Api) -> None:
    r = lite.post("/tickets", "front", {**CALLER, f"x{NUL}" + "y" * 300: 1})
    [error] = r.json()["errors"]
    assert (r.status_code, error["type"]) == (422, "extra_forbidden")
    assert error["field"].startswith("x?yyy")
    assert len(error["field"]) == 100


# ------------------------------------------------------------------------- body size


def test_a_note_over_the_body_limit_is_413_before_it_is_parsed(lite: Api) -> None:
    t = lite.intake()
    before = lite.head()
    r = lite.post(f"/tickets/{t['id']}/verify", "front", {"note": "x" * 300_000})
    assert r.status_code == 413
    assert r.json() == {
        "code": "payload_too_large",
        "message": "request body larger than 262144 bytes",
    }
    assert lite.head() == before


def test_a_chunked_body_without_length_is_counted_too(lite: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"note": "'
        for _ in range(40):
            yield b"x" * 8192
        yield b'"}'

    t = lite.intake()
    before = lite.head()
    headers = {**who("front"), "Content-Type": "application/json"}
    r = lite.client.post(f"{V1}/tickets/{t['id']}/verify", content=chunks(), headers=headers)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
    assert lite.head() == before


def test_the_limit_comes_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASETRAIL_MAX_BODY_BYTES", "2048")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'small.sqlite'}")
    assert settings.max_body_bytes == 2048
    with TestClient(create_app(settings, workers=False)) as client:
        r = client.post(
            f"{V1}/tickets", json={**CALLER, "content": "长" * 1000}, headers=who("front")
        )
        assert (r.status_code, r.json()["message"]) == (413, "request body larger than 2048 bytes")
        r = client.post(f"{V1}/tickets", json=CALLER, headers=who("front"))
        assert r.status_code == 201


def test_a_streamed_body_stops_being_read_once_over_the_limit() -> None:
    """Pure ASGI: the middleware answers 413 and leaves the rest of the stream unread."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        raise AssertionError("the whole body was read")

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": reads < 100}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    asyncio.run(BodyLimit(app, max_bytes=4096)(scope, receive, send))
    assert reads == 5
    assert sent[0]["status"] == 413
    assert b"payload_too_large" in sent[1]["body"]


# ------------------------------------------------------------------ database faults


def _from(outer: BaseException, cause: BaseException) -> BaseException:
    """``outer`` raised ``from cause``, as the eventsourcing recorders wrap driver errors."""
    outer.__cause__ = cause
    return outer


FAULTS = [
    (
        "refused",
        store.OperationalError("refused"),
        psycopg.OperationalError("refused"),
        "database_unavailable",
    ),
    (
        "closed",
        store.InterfaceError("closed"),
        psycopg.InterfaceError("the connection is closed"),
        "database_unavailable",
    ),
    (
        "pool",
        store.OperationalError("pool"),
        PoolTimeout("couldn't get a connection after 30 sec"),
        "database_unavailable",
    ),
    (
        "bare",
        psycopg.OperationalError("server closed the connection unexpectedly"),
        None,
        "database_unavailable",
    ),
    ("es-pool", store.ConnectionUnavailableError("timed out"), None, "database_unavailable"),
    (
        "locked",
        store.OperationalError("locked"),
        sqlite3.OperationalError("database is locked"),
        "database_unavailable",
    ),
    (
        "timeout",
        store.OperationalError("t"),
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        "database_busy",
    ),
    (
        "lock-wait",
        store.OperationalError("l"),
        psycopg.errors.LockNotAvailable("could not obtain lock"),
        "database_busy",
    ),
    (
        "no-table",
        store.ProgrammingError("p"),
        psycopg.errors.UndefinedTable('relation "stored_events" does not exist'),
        "schema_missing",
    ),
    (
        "no-table-text",
        store.ProgrammingError('relation "casetrail_events" does not exist'),
        None,
        "schema_missing",
    ),
    (
        "sqlite-no-table",
        store.OperationalError("o"),
        sqlite3.OperationalError("no such table: stored_events"),
        "schema_missing",
    ),
]


@pytest.mark.parametrize(
    ("error", "cause", "code"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
def test_database_faults_are_503_with_retry_after(
    lite: Api,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    cause: BaseException | None,
    code: str,
) -> None:
    def fails(*args: Any, **kwargs: Any) -> Any:
        raise error if cause is None else _from(error, cause)

    monkeypatch.setattr(lite.runtime.desk, "handle", fails)
    monkeypatch.setattr(lite.runtime.reader, "select", fails)
    for r in (lite.post("/tickets", "front", CALLER), lite.get("/worklists", "front")):
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "2"
        assert r.json()["code"] == code
        assert "try again" in r.json()["message"] or "restart casetrail" in r.json()["message"]


@pytest.mark.parametrize(
    "error",
    [
        _from(store.OperationalError("o"), sqlite3.OperationalError('near "SELEC": syntax error')),
        _from(store.InterfaceError("i"), TypeError("unsupported type")),
        store.IntegrityError("duplicate key"),
    ],
    ids=["sqlite-syntax", "wrapped-type-error", "integrity"],
)
def test_other_database_errors_stay_500(
    lite: Api, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def fails(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(lite.runtime.desk, "handle", fails)
    r = lite.post("/tickets", "front", CALLER)
    assert (r.status_code, r.json()["code"]) == (500, "internal_error")
    assert "Retry-After" not in r.headers


def test_a_locked_sqlite_file_is_503_database_unavailable(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    settings = Settings(database_url=f"sqlite:///{path}")
    # The shipped 10 s lock wait would only make this test slow; the answer is the same.
    desk = make_desk(clock, env={**settings.eventsourcing_env(), "SQLITE_LOCK_TIMEOUT": "1"})
    try:
        with TestClient(create_app(settings, desk=desk, workers=False)) as client:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            try:
                r = client.post(f"{V1}/tickets", json=CALLER, headers=who("front"))
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert (r.status_code, r.json()["code"]) == (503, "database_unavailable")
            assert r.headers["Retry-After"] == "2"
            assert (
                client.post(f"{V1}/tickets", json=CALLER, headers=who("front")).status_code == 201
            )
    finally:
        desk.close()


@pytest.mark.postgres
def test_dropped_tables_on_postgresql_are_503_schema_missing(
    pg_database: str, clock: FakeClock
) -> None:
    clean_postgres(pg_database)
    settings = Settings(database_url=pg_database)
    desk = make_desk(clock, env=settings.eventsourcing_env())
    try:
        with TestClient(create_app(settings, desk=desk, workers=False)) as client:
            assert (
                client.post(f"{V1}/tickets", json=CALLER, headers=who("front")).status_code == 201
            )
            clean_postgres(pg_database)
            r = client.post(f"{V1}/tickets", json=CALLER, headers=who("front"))
            assert (r.status_code, r.json()["code"]) == (503, "schema_missing")
            assert r.headers["Retry-After"] == "2"
            assert "restart casetrail" in r.json()["message"]
    finally:
        desk.close()


# ------------------------------------------------ what the fuzzer found (test_schemathesis)


def test_an_empty_due_before_is_refused_not_read_as_no_filter(lite: Api) -> None:
    refused(lite.get("/sla/deadlines", "monitor", due_before=""), "due_before", "query")
    for loose in ("20261012", "2026-10-12T09", " 2026-10-12"):
        refused(lite.get("/sla/deadlines", "monitor", due_before=loose), "due_before", "query")
    assert lite.get("/sla/deadlines", "monitor", due_before="2026-10-13").status_code == 200


def test_a_body_that_is_not_utf8_is_400_malformed_body(lite: Api) -> None:
    t = lite.intake()
    headers = {**who("front"), "Content-Type": "application/json"}
    r = lite.client.post(f"{V1}/tickets/{t['id']}/verify", content=b'"\xff\xfe"', headers=headers)
    assert (r.status_code, r.json()["code"]) == (400, "malformed_body")


def test_openapi_documents_the_answers_of_the_middlewares(lite: Api) -> None:
    paths = lite.client.get("/openapi.json").json()["paths"]
    verify = paths[f"{V1}/tickets/{{ticket_id}}/verify"]["post"]["responses"]
    assert {"400", "401", "413", "422", "503"} <= set(verify)
    me = paths[f"{V1}/me"]["get"]["responses"]
    assert {"401", "503"} <= set(me)
    assert "413" not in me  # no body, nothing to refuse for its size
