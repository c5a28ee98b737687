"""Unit tests for job-argument serialization and exception text (goodjob.core.serialize)."""

from __future__ import annotations

import collections
import enum
import json
import math
import os
import sys
import uuid
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest

from goodjob.core.errors import GoodJobError, SerializationError
from goodjob.core.serialize import (
    TAG,
    dump_arguments,
    dumps_arguments,
    exception_info,
    load_arguments,
    loads_arguments,
)

PARIS = ZoneInfo("Europe/Paris")
INT64_MAX = 2**63 - 1


class Color(enum.Enum):
    RED = "red"
    GREEN = 2
    ALIAS = "red"  # an alias of RED


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mood(enum.StrEnum):
    HAPPY = "happy"


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


class Outer:
    class Inner(enum.Enum):
        A = (1, 2)


class User:
    """Stands in for an ORM model someone passes by mistake."""


class Point(NamedTuple):
    x: int
    y: int


class MyStr(str):
    pass


class MyInt(int):
    pass


class PytzLike(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=2)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "PTZ"


def same(a: object, b: object) -> bool:
    """Deep equality that also demands identical types (so True != 1, (1,) != [1]) and nan == nan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return str(a) == str(b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return (
            list(a) == list(b)
            and all(same(k1, k2) for k1, k2 in zip(a, b, strict=True))
            and all(same(a[k], b[k]) for k in a)
        )
    if isinstance(a, datetime | time) and isinstance(b, datetime | time):
        return a == b and a.tzinfo == b.tzinfo and a.fold == b.fold and str(a) == str(b)
    return a == b


ROUND_TRIP: list[tuple[str, object]] = [
    ("none", None),
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("int", -42),
    ("int64 max", INT64_MAX),
    ("int64 min", -(2**63)),
    ("int64 max + 1", INT64_MAX + 1),
    ("huge int", 3**200),
    ("huge negative int", -(7**500)),
    ("beyond str digit limit", 10**5000 + 1),
    ("float", 1.5),
    ("float one", 1.0),
    ("float zero", 0.0),
    ("negative zero", -0.0),
    ("tiny float", 1.5e-5),
    ("subnormal float", 5e-324),
    ("float just below 1e16", 9999999999999998.0),
    ("float 1e16", 1e16),
    ("big float", 1.7976931348623157e308),
    ("negative big float", -1e300),
    ("inf", math.inf),
    ("-inf", -math.inf),
    ("nan", math.nan),
    ("pi", math.pi),
    ("str", "hello"),
    ("empty str", ""),
    ("unicode str", "caf\u00e9 \u2603 \U0001f600"),
    ("str with NUL", "a\x00b"),
    ("lone surrogate", "x\ud800y"),
    ("str like a tag", "__gj__"),
    ("list", [1, "a", None, 2.5]),
    ("empty list", []),
    ("dict", {"a": 1, "b": [True, False]}),
    ("empty dict", {}),
    ("dict int keys", {1: "a", 2: "b"}),
    ("dict mixed keys", {True: "t", 2: "two", None: "n", "s": "s", 1.5: "f"}),
    ("dict tuple keys", {(1, "a"): [1], (2, "b"): {"x": 1}}),
    ("dict date keys", {date(2024, 1, 1): 1}),
    ("dict enum keys", {Color.RED: 1, Level.HIGH: 2}),
    ("dict with tag key", {TAG: "datetime", "v": "2024-01-01T00:00:00"}),
    ("dict with only tag key", {TAG: 1}),
    ("dict NUL key", {"a\x00": 1}),
    ("dict surrogate key", {"\udc80": 1}),
    ("tuple", (1, "a", (2, 3))),
    ("empty tuple", ()),
    ("one tuple", (None,)),
    ("set", {3, 1, 2}),
    ("set of mixed", {1, "a", (2, 3)}),
    ("frozenset", frozenset({"a", "b"})),
    ("empty set", set()),
    ("naive datetime", datetime(2024, 2, 29, 13, 45, 1, 123456)),
    ("utc datetime", datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),
    ("offset datetime", datetime(2024, 1, 1, 8, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))),
    ("odd offset", datetime(2024, 1, 1, tzinfo=timezone(timedelta(seconds=3661, microseconds=5)))),
    ("named offset", datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1), "CET"))),
    ("zoneinfo datetime", datetime(2024, 7, 1, 12, 0, tzinfo=PARIS)),
    ("zoneinfo utc", datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("UTC"))),
    ("ambiguous fold 0", datetime(2024, 10, 27, 2, 30, tzinfo=PARIS)),
    ("ambiguous fold 1", datetime(2024, 10, 27, 2, 30, tzinfo=PARIS, fold=1)),
    ("naive fold 1", datetime(2024, 1, 1, fold=1)),
    ("datetime min", datetime.min),
    ("datetime max", datetime.max),
    ("date", date(1999, 12, 31)),
    ("date min", date.min),
    ("time", time(23, 59, 59, 999999)),
    ("time with offset", time(8, 30, tzinfo=timezone(timedelta(hours=9)))),
    ("time with zone", time(8, 30, tzinfo=PARIS)),
    ("time fold", time(1, 0, fold=1)),
    ("timedelta", timedelta(days=3, seconds=5, microseconds=7)),
    ("negative timedelta", timedelta(microseconds=-1)),
    ("timedelta max", timedelta.max),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("uuid4", uuid.uuid4()),
    ("decimal", Decimal("1.10")),
    ("decimal exponent", Decimal("-1.2345E+400")),
    ("decimal many digits", Decimal("3.14159265358979323846264338327950288419716939937510")),
    ("decimal nan", Decimal("NaN")),
    ("decimal snan", Decimal("-sNaN123")),
    ("decimal inf", Decimal("-Infinity")),
    ("decimal negative zero", Decimal("-0.000")),
    ("enum", Color.GREEN),
    ("enum alias", Color.ALIAS),
    ("int enum", Level.HIGH),
    ("str enum", Mood.HAPPY),
    ("flag", Perm.R),
    ("flag combination", Perm.R | Perm.W),
    ("empty flag", Perm(0)),
    ("nested enum", Outer.Inner.A),
    ("bytes", b"\x00\xff binary"),
    ("empty bytes", b""),
    ("bytearray", bytearray(b"abc")),
    (
        "deeply mixed",
        {
            "when": [datetime(2024, 1, 1, tzinfo=PARIS), (date(2024, 1, 2), {uuid.UUID(int=1)})],
            "amounts": {Decimal("1.5"): [math.inf, -0.0, 2**64]},
            "tags": frozenset({Color.RED, Color.GREEN}),
            TAG: {TAG: [b"x", None]},
        },
    ),
]


@pytest.mark.parametrize("value", [value for _, value in ROUND_TRIP], ids=[name for name, _ in ROUND_TRIP])
def test_round_trip(value: object) -> None:
    args, kwargs = load_arguments(dump_arguments([value, [value]], {"k": value}))
    assert same(args, (value, [value]))
    assert same(kwargs, {"k": value})

    args, kwargs = loads_arguments(dumps_arguments([value], {"k": value}))
    assert same(args, (value,))
    assert same(kwargs, {"k": value})


def _check_jsonb_safe(text: str) -> None:
    """Reject what Postgres jsonb would not keep exactly: floats with a positive exponent (printed
    back as integers), -0.0, NaN/Infinity (invalid JSON), NUL (rejected), lone surrogates (not UTF-8),
    ints beyond int64."""

    def parse_float(token: str) -> float:
        # jsonb prints 1e+16 back as 10000000000000000 (an int); 1.5e-05 comes back as 0.000015
        assert "e" not in token.lower() or int(token.lower().partition("e")[2]) < 0, token
        assert token != "-0.0"
        return float(token)

    def parse_int(token: str) -> int:
        assert -(2**63) <= int(token) <= INT64_MAX, token
        return int(token)

    def parse_constant(token: str) -> object:
        raise AssertionError(f"non-JSON constant {token}")

    decoded = json.loads(text, parse_float=parse_float, parse_int=parse_int, parse_constant=parse_constant)
    assert "\x00" not in json.dumps(decoded, ensure_ascii=False)
    text.encode("utf-8")


@pytest.mark.parametrize("value", [value for _, value in ROUND_TRIP], ids=[name for name, _ in ROUND_TRIP])
def test_output_is_jsonb_safe(value: object) -> None:
    _check_jsonb_safe(dumps_arguments([value], {"k": value}))


def test_plain_json_is_stored_as_itself() -> None:
    args = [1, "two", 3.5, True, None, [1, [2]], {"a": {"b": 1}}]
    assert dump_arguments(args, {"x": 1}) == {"args": args, "kwargs": {"x": 1}}
    assert dumps_arguments(["caf\u00e9"], {"n": 1}) == '{"args":["caf\u00e9"],"kwargs":{"n":1}}'


def test_dump_does_not_alias_or_mutate_input() -> None:
    inner = {"a": [1, 2]}
    out = dump_arguments([inner], {})
    stored = out["args"]
    assert isinstance(stored, list)
    assert stored[0] == inner and stored[0] is not inner and stored[0]["a"] is not inner["a"]
    assert inner == {"a": [1, 2]}


def test_bool_and_int_keep_their_types() -> None:
    args, _ = loads_arguments(dumps_arguments([True, 1, False, 0, [True, 1]], {}))
    assert [type(x) for x in args] == [bool, int, bool, int, list]
    assert [type(x) for x in args[4]] == [bool, int]  # type: ignore[attr-defined]


def test_args_tuple_and_kwargs_dict_types() -> None:
    args, kwargs = load_arguments(dump_arguments((1, 2), {"a": 3}))
    assert args == (1, 2) and type(args) is tuple
    assert kwargs == {"a": 3} and type(kwargs) is dict


def test_kwarg_named_like_the_tag() -> None:
    args, kwargs = loads_arguments(dumps_arguments([], {TAG: "unknown-tag", "v": 1}))
    assert args == () and kwargs == {TAG: "unknown-tag", "v": 1}


def test_set_encoding_is_deterministic() -> None:
    assert dumps_arguments([{"b", "c", "a"}], {}) == dumps_arguments([{"c", "a", "b"}], {})
    assert (
        dumps_arguments([{"b", "c", "a"}], {}) == '{"args":[{"__gj__":"set","v":["a","b","c"]}],"kwargs":{}}'
    )


def test_load_tolerates_missing_sections() -> None:
    assert load_arguments({}) == ((), {})
    assert load_arguments({"args": [1]}) == ((1,), {})


def _local_enum() -> object:
    class Local(enum.Enum):
        A = 1

    return Local.A


def _generator() -> Iterator[int]:
    yield 1


UNSUPPORTED: list[tuple[str, object, str]] = [
    ("object", object(), "object"),
    ("model instance", User(), f"{__name__}.User"),
    ("class", User, "type"),
    ("function", _generator, "function"),
    ("lambda", lambda: 1, "function"),
    ("generator", _generator(), "generator"),
    ("builtin function", len, "builtin_function_or_method"),
    ("module", sys, "module"),
    ("local enum", _local_enum(), "test_serialize._local_enum.<locals>.Local"),
    ("str subclass", MyStr("x"), f"{__name__}.MyStr"),
    ("int subclass", MyInt(1), f"{__name__}.MyInt"),
    ("namedtuple", Point(1, 2), f"{__name__}.Point"),
    ("ordered dict", collections.OrderedDict(a=1), "collections.OrderedDict"),
    ("defaultdict", collections.defaultdict(list), "collections.defaultdict"),
    ("complex", 1j, "complex"),
    ("memoryview", memoryview(b"x"), "memoryview"),
    ("range", range(3), "range"),
    ("foreign tzinfo", datetime(2024, 1, 1, tzinfo=PytzLike()), "datetime.datetime"),
    ("foreign tzinfo time", time(1, tzinfo=PytzLike()), "datetime.time"),
]


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(value, type_name) for _, value, type_name in UNSUPPORTED],
    ids=[name for name, _, _ in UNSUPPORTED],
)
def test_unsupported_values_name_position_path_and_type(value: object, type_name: str) -> None:
    with pytest.raises(SerializationError) as info:
        dump_arguments([1, 2], {"user": {"items": [1, 2, 3, value]}})
    message = str(info.value)
    assert "argument kwargs['user'] -> ['items'][3] has type" in message
    assert type_name.rsplit(".", 1)[-1] in message
    assert f"'{type(value).__module__}." in message or type(value).__module__ == "builtins"
    assert isinstance(info.value, GoodJobError) and isinstance(info.value, TypeError)

    with pytest.raises(SerializationError, match=r"argument args\[1\] has type"):
        dump_arguments([1, value], {})


def test_qualified_type_name_in_message() -> None:
    with pytest.raises(SerializationError) as info:
        dump_arguments([], {"user": User()})
    assert f"argument kwargs['user'] has type '{User.__module__}.User'" in str(info.value)
    assert "pass an id or a plain value" in str(info.value)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ([[1, [2, object()]]], "args[0] -> [1][1]"),
        ([(1, object())], "args[0] -> [1]"),
        ([{"a": {"b": (0, {object()})}}], "args[0] -> ['a']['b'][1]<set item>"),
        ([{1: {"x": object()}}], "args[0] -> [1]['x']"),
        ([{(1, object()): 1}], "args[0] -> <key (1, <object"),
        ([{"k": Perm.R, "z": [User()]}], "args[0] -> ['z'][0]"),
        ([0, 0, frozenset({User()})], "args[2] -> <set item>"),
    ],
)
def test_error_paths(value: list[object], path: str) -> None:
    with pytest.raises(SerializationError) as info:
        dump_arguments(value, {})
    assert f"argument {path}" in str(info.value)


def test_local_enum_message_says_why() -> None:
    with pytest.raises(SerializationError, match="cannot be imported back"):
        dump_arguments([_local_enum()], {})


def test_foreign_tzinfo_message_says_what_to_do() -> None:
    with pytest.raises(SerializationError, match=r"tzinfo has type .*PytzLike.*ZoneInfo"):
        dump_arguments([datetime(2024, 1, 1, tzinfo=PytzLike())], {})


def test_zoneinfo_without_key() -> None:
    paths = [os.path.join(root, "UTC") for root in zoneinfo.TZPATH]
    path = next((p for p in paths if os.path.exists(p)), None)
    if path is None:
        pytest.skip("no system time zone database to build a keyless ZoneInfo from")
    with open(path, "rb") as file:
        zone = ZoneInfo.from_file(file)
    with pytest.raises(SerializationError, match="ZoneInfo has no key"):
        dump_arguments([datetime(2024, 1, 1, tzinfo=zone)], {})


def test_reference_cycle() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(SerializationError, match="reference cycle"):
        dump_arguments([cycle], {})


@pytest.mark.parametrize("name", [1, ("a",), "bad\x00name"])
def test_bad_kwarg_names(name: Any) -> None:
    with pytest.raises(SerializationError, match="keyword argument name"):
        dump_arguments([], {name: 1})


@pytest.mark.parametrize("args", ["abc", b"abc"])
def test_args_must_not_be_a_string(args: Any) -> None:
    with pytest.raises(SerializationError, match="args must be a sequence"):
        dump_arguments(args, {})


MALFORMED: list[tuple[str, object, str]] = [
    ("unknown tag", {TAG: "pickle", "v": "x"}, "unknown tag 'pickle'"),
    ("non-str tag", {TAG: 3, "v": "x"}, "unknown tag 3"),
    ("missing v", {TAG: "date"}, "cannot decode tagged 'date'"),
    ("bad date", {TAG: "date", "v": "yesterday"}, "cannot decode tagged 'date'"),
    ("date not str", {TAG: "date", "v": 20240101}, "cannot decode tagged 'date'"),
    ("bad datetime", {TAG: "datetime", "v": "2024-13-01T00:00:00"}, "cannot decode tagged 'datetime'"),
    ("bad zone", {TAG: "datetime", "v": "2024-01-01T00:00:00", "tz": "Mars/Olympus"}, "'datetime'"),
    ("tzname without offset", {TAG: "time", "v": "01:00:00", "tzname": "X"}, "cannot decode tagged 'time'"),
    ("bad uuid", {TAG: "uuid", "v": "nope"}, "cannot decode tagged 'uuid'"),
    ("bad decimal", {TAG: "decimal", "v": "1,5"}, "cannot decode tagged 'decimal'"),
    ("bad base64", {TAG: "bytes", "v": "***"}, "cannot decode tagged 'bytes'"),
    ("bad int", {TAG: "int", "v": "12x"}, "cannot decode tagged 'int'"),
    ("bad float", {TAG: "float", "v": 1.5}, "cannot decode tagged 'float'"),
    ("bad tuple", {TAG: "tuple", "v": "abc"}, "cannot decode tagged 'tuple'"),
    ("bad dict pairs", {TAG: "dict", "v": [[1, 2, 3]]}, "cannot decode tagged 'dict'"),
    ("unhashable dict key", {TAG: "dict", "v": [[[1], 2]]}, "cannot decode tagged 'dict'"),
    ("unhashable set item", {TAG: "set", "v": [[1]]}, "cannot decode tagged 'set'"),
    ("bad timedelta", {TAG: "timedelta", "v": [1, 2]}, "cannot decode tagged 'timedelta'"),
    ("float timedelta", {TAG: "timedelta", "v": [1, 2.5, 0]}, "cannot decode tagged 'timedelta'"),
    ("nested unknown tag", {TAG: "tuple", "v": [{TAG: "nope"}]}, "unknown tag 'nope'"),
    (
        "enum module missing",
        {TAG: "enum", "cls": "no_such_module_xyz:Color", "name": "RED"},
        "no_such_module_xyz:Color",
    ),
    ("enum class missing", {TAG: "enum", "cls": f"{__name__}:Nope", "name": "RED"}, f"{__name__}:Nope"),
    (
        "enum path malformed",
        {TAG: "enum", "cls": "Color", "name": "RED"},
        "'Color', which cannot be imported",
    ),
    ("not an enum", {TAG: "enum", "cls": f"{__name__}:User", "name": "RED"}, "but it is not one"),
    (
        "enum member missing",
        {TAG: "enum", "cls": f"{__name__}:Color", "name": "BLUE"},
        "no member named 'BLUE'",
    ),
    ("enum bad value", {TAG: "enum", "cls": f"{__name__}:Color", "value": 99}, "cannot decode tagged 'enum'"),
]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [(stored, expected) for _, stored, expected in MALFORMED],
    ids=[name for name, _, _ in MALFORMED],
)
def test_malformed_data(stored: object, expected: str) -> None:
    with pytest.raises(SerializationError) as info:
        load_arguments({"args": [stored], "kwargs": {}})
    assert expected in str(info.value)


@pytest.mark.parametrize(
    "data",
    [[], "x", {"args": {}}, {"args": [], "kwargs": []}, {"args": "abc"}],
)
def test_malformed_envelope(data: Any) -> None:
    with pytest.raises(SerializationError):
        load_arguments(data)


def test_loads_invalid_json() -> None:
    with pytest.raises(SerializationError, match="not valid JSON"):
        loads_arguments("{nope")


class AppError(Exception):
    class Nested(Exception):
        pass


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("boom")


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_exception_info_builtin() -> None:
    name, message, trace = exception_info(_raise(ValueError("bad value 42")))
    assert name == "ValueError"
    assert message == "bad value 42"
    assert trace.startswith("Traceback (most recent call last):")
    assert "raise exc" in trace
    assert trace.rstrip().endswith("ValueError: bad value 42")


def test_exception_info_qualified_names() -> None:
    assert exception_info(AppError("x"))[0] == f"{__name__}.AppError"
    assert exception_info(AppError.Nested("x"))[0] == f"{__name__}.AppError.Nested"
    assert exception_info(json.JSONDecodeError("m", "doc", 0))[0] == "json.decoder.JSONDecodeError"
    assert exception_info(KeyboardInterrupt())[0] == "KeyboardInterrupt"


def test_exception_info_not_raised_has_no_traceback_frames() -> None:
    name, message, trace = exception_info(RuntimeError("never raised"))
    assert (name, message) == ("RuntimeError", "never raised")
    assert trace == "RuntimeError: never raised\n"


def test_exception_info_includes_cause() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise AppError("outer") from inner
    except AppError as exc:
        _, message, trace = exception_info(exc)
    assert message == "outer"
    assert "KeyError: 'inner'" in trace
    assert "direct cause" in trace


def test_exception_info_unprintable() -> None:
    name, message, trace = exception_info(_raise(Unprintable()))
    assert name == f"{__name__}.Unprintable"
    assert message == f"<unprintable {__name__}.Unprintable object>"
    assert "Traceback" in trace


def test_exception_info_text_is_postgres_safe() -> None:
    _, message, trace = exception_info(_raise(ValueError("a\x00b \ud800 caf\u00e9")))
    assert message == "a\\x00b \\ud800 caf\u00e9"
    assert "\x00" not in trace
    trace.encode("utf-8")
