"""Every text and instant field of every command is bounded (a guard for commands yet to come).

Walks every ``Command`` subclass and checks each field that can hold a string or a datetime
through pydantic itself: a NUL is refused, a text over its maximum is refused, an instant
outside 2000-2100 or with a sub-minute offset is refused. A new command with a plain
``str`` or ``datetime`` field fails here until it uses one of the bounded types.
"""

from __future__ import annotations

import re
import types
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import AwareDatetime, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from domain import commands as c


def _all_commands() -> list[type[c.Command]]:
    found: list[type[c.Command]] = []
    todo: list[type[c.Command]] = [c.Command]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda cls: cls.__name__)


def _leaves(annotation: Any) -> list[Any]:
    """The bare types a field may hold (``str | None`` -> ``[str, None]``)."""
    if get_origin(annotation) is Annotated:
        return _leaves(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [leaf for arg in get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


def _fields(*kinds: type) -> list[tuple[str, str, FieldInfo]]:
    return [
        (cls.__name__, name, info)
        for cls in _all_commands()
        for name, info in cls.model_fields.items()
        if set(kinds) & set(_leaves(info.annotation)) and name != "action"
    ]


def _adapter(info: FieldInfo) -> TypeAdapter[Any]:
    if not info.metadata:
        return TypeAdapter(info.annotation)
    return TypeAdapter(Annotated[info.annotation, *info.metadata])


TEXTS = _fields(str)
INSTANTS = _fields(datetime, AwareDatetime)


def test_the_walk_finds_the_fields_it_guards() -> None:
    names = {f"{cls}.{name}" for cls, name, _ in TEXTS}
    assert {"Reply.measures", "RecordCallbackOutcome.comment", "Verify.note"} <= names
    assert {"ReceiveTicket.content", "RegisterCustomer.group_id", "Command.correlation_id"} <= names
    assert {f"{cls}.{name}" for cls, name, _ in INSTANTS} >= {
        "Command.occurred_at",
        "DispatchCrew.promised_arrival_at",
        "ScheduleCallback.due_at",
    }


@pytest.mark.parametrize(("cls", "name", "info"), TEXTS, ids=[f"{c}.{n}" for c, n, _ in TEXTS])
def test_every_text_field_refuses_nul_and_overlong_values(
    cls: str, name: str, info: FieldInfo
) -> None:
    adapter = _adapter(info)
    for bad in ("12345\x00678", "1" * (c.TEXT_MAX + 1), "1" * 5 + "\x1b" + "1" * 5):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


@pytest.mark.parametrize(
    ("cls", "name", "info"), INSTANTS, ids=[f"{c}.{n}" for c, n, _ in INSTANTS]
)
def test_every_instant_field_refuses_far_dates_and_odd_offsets(
    cls: str, name: str, info: FieldInfo
) -> None:
    adapter = _adapter(info)
    lmt = timezone(timedelta(hours=8, minutes=5, seconds=43))
    for bad in (
        datetime(1999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
        datetime(2026, 10, 12, 9, 0, tzinfo=lmt),
    ):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
    fine = datetime(2026, 10, 12, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    assert adapter.validate_python(fine) == fine


def test_free_text_keeps_newlines_and_tabs_and_names_do_not() -> None:
    note = TypeAdapter(c.OptionalNote)
    name = TypeAdapter(c.Name)
    assert note.validate_python("  第一行\n\t第二行  ") == "第一行\n\t第二行"
    assert note.validate_python("") == ""
    with pytest.raises(ValidationError, match="control characters"):
        name.validate_python("张\n伟")
    with pytest.raises(ValidationError):
        name.validate_python("   ")  # blank once stripped
    assert len(name.validate_python("王" * c.NAME_MAX)) == c.NAME_MAX


# Edges where a pattern (ECMA-262 in clients) and pydantic's strip() could disagree.
SAMPLES = [
    "ok",
    "a\x00b",
    "x\ny",
    "\t",
    "",
    " ",
    "\u0085",
    "\x1f",
    "\u3000",
    "\ufeff",
    "\u2028x",
    "ü ✓ 中",
]


def test_the_documented_patterns_agree_with_the_validators() -> None:
    for pattern, adapter in (
        (c.FILLED_LINE_PATTERN, TypeAdapter(c.Name)),
        (c.FILLED_TEXT_PATTERN, TypeAdapter(c.Text)),
        (c.TEXT_PATTERN, TypeAdapter(c.OptionalNote)),
    ):
        for sample in SAMPLES:
            try:
                adapter.validate_python(sample)
                accepted = True
            except ValidationError:
                accepted = False
            assert accepted == bool(re.match(pattern, sample)), (pattern, sample)


@pytest.mark.parametrize(
    "phone",
    [
        "13800138000",
        "138-0013-8000",
        "139 1234 5678",
        "+86 13800138000",
        "0731-5550123",
        "010-12345678",
    ],
)
def test_a_mobile_or_a_landline_with_area_code_is_taken_as_written(phone: str) -> None:
    assert TypeAdapter(c.Phone).validate_python(phone) == phone


@pytest.mark.parametrize(
    "phone", ["12345", "110", "call me", "23800138000", "1380013800", "5550123", "138001380001"]
)
def test_anything_else_is_refused_as_a_phone(phone: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(c.Phone).validate_python(phone)
