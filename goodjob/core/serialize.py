"""Job arguments <-> JSON, and exceptions -> text for the ``error`` columns.

Arguments are stored in a ``jsonb`` column, so the dashboard and SQL can read them, and must come
back *exactly* (same type, same value) in a worker that may run days later on another host. Plain
JSON values are stored as themselves; everything else supported is a tagged object
``{"__gj__": TAG, "v": ...}``. A user dict that itself has a ``"__gj__"`` key is stored in the
tagged ``dict`` form, so no user value is ever mistaken for a tag.

Some plain-looking values are tagged too, because Postgres or Python would otherwise change them:

* floats from ``1e16`` up (``jsonb`` stores numbers as ``numeric`` and prints ``1e+16`` back as
  ``10000000000000000``, an ``int``), ``-0.0`` (``numeric`` has no negative zero), ``inf``, ``nan``;
* ints outside the signed 64-bit range (other readers of the column, and Python's 4300-digit
  int/str conversion limit);
* strings containing NUL or lone surrogates, which Postgres text and ``jsonb`` reject.

Anything else is refused at enqueue time with a :class:`SerializationError` that names the argument,
the path inside it and the type: failing in the caller is far better than failing in a worker.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from goodjob.core.describe import exception_info, type_name
from goodjob.core.errors import SerializationError
from goodjob.core.serialize_decode import TAG, decode, resolve_path

__all__ = [
    "TAG",
    "dump_arguments",
    "dumps_arguments",
    "exception_info",
    "load_arguments",
    "loads_arguments",
]


def dump_arguments(args: Sequence[object], kwargs: Mapping[str, object]) -> dict[str, object]:
    """Encode job arguments as ``{"args": [...], "kwargs": {...}}`` made only of JSON types."""
    if isinstance(args, str | bytes):
        raise SerializationError(f"args must be a sequence of arguments, not the {type_name(args)} {args!r}")
    try:
        out_args = [_encode_top(value, f"args[{index}]") for index, value in enumerate(args)]
        out_kwargs: dict[str, object] = {}
        for name, value in kwargs.items():
            if type(name) is not str or not _plain_str(name):
                raise SerializationError(
                    f"keyword argument name {name!r} ({type_name(name)}) is not a plain str; "
                    "goodjob stores keyword names as JSON object keys"
                )
            out_kwargs[name] = _encode_top(value, f"kwargs[{name!r}]")
    except RecursionError:
        raise SerializationError(
            "job arguments are nested too deeply or contain a reference cycle; "
            "goodjob cannot store them as JSON"
        ) from None
    if jsonb_ordered(out_kwargs):
        return {"args": out_args, "kwargs": out_kwargs}
    # jsonb reorders object keys; the names' order rides along so **kwargs come back as passed
    return {"args": out_args, "kwargs": out_kwargs, "kwargs_order": list(out_kwargs)}


def dumps_arguments(args: Sequence[object], kwargs: Mapping[str, object]) -> str:
    """:func:`dump_arguments` as compact JSON text, ready for a ``jsonb`` parameter."""
    return _json_encode(dump_arguments(args, kwargs))


def load_arguments(data: Mapping[str, object]) -> tuple[tuple[object, ...], dict[str, object]]:
    """Decode what :func:`dump_arguments` produced back into ``(args, kwargs)``."""
    if not isinstance(data, Mapping):
        raise SerializationError(f"serialized arguments must be a JSON object, got {type_name(data)}")
    raw_args = data.get("args", [])
    raw_kwargs = data.get("kwargs", {})
    if type(raw_args) is not list or type(raw_kwargs) is not dict:
        raise SerializationError(
            'serialized arguments must look like {"args": [...], "kwargs": {...}}, got '
            f"args of type {type_name(raw_args)} and kwargs of type {type_name(raw_kwargs)}"
        )
    try:
        # kwargs names are stored as plain keys (never escaped), so decode only the values
        order = data.get("kwargs_order")
        names = order if type(order) is list and sorted(order) == sorted(raw_kwargs) else raw_kwargs
        return (
            tuple(decode(value) for value in raw_args),
            {name: decode(raw_kwargs[name]) for name in names},
        )
    except RecursionError:
        raise SerializationError("serialized arguments are nested too deeply to decode") from None


#: How Postgres prints the params of a job enqueued without arguments (``jsonb`` output puts a space
#: after ``:`` and ``,``): the worker recognizes it and skips the JSON parser.
NO_ARGUMENTS_TEXT = '{"args": [], "kwargs": {}}'


def loads_arguments(text: str | bytes) -> tuple[tuple[object, ...], dict[str, object]]:
    """:func:`load_arguments` from JSON text (asyncpg returns ``jsonb`` as text by default)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SerializationError(f"serialized arguments are not valid JSON: {exc}") from None
    return load_arguments(data)


# ---------------------------------------------------------------------------------------------------
# encoding

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_json_encode = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
).encode


class _Unsupported(Exception):
    """Raised deep inside the encoder; containers append their path segment as it unwinds, so the
    successful path never pays for path bookkeeping."""

    def __init__(self, value: object, reason: str = "") -> None:
        super().__init__()
        self.value = value
        self.reason = reason
        self.path: list[str] = []


def _encode_top(value: object, position: str) -> object:
    try:
        return _encode(value)
    except _Unsupported as exc:
        inner = "".join(reversed(exc.path))
        where = f"{position} -> {inner}" if inner else position
        reason = exc.reason or (
            "which goodjob cannot store as JSON and restore exactly; pass an id or a plain value "
            "(str, int, float, bool, None, list, tuple, dict, set, datetime, date, time, timedelta, "
            "UUID, Decimal, bytes or an importable Enum) instead"
        )
        raise SerializationError(f"argument {where} has type {type_name(exc.value)!r}, {reason}") from None


def _encode(obj: Any) -> object:
    """One recursive pass; exact-type checks (not isinstance) so subclasses such as a ``str``
    subclass or a namedtuple are refused rather than silently restored as their base type."""
    cls = type(obj)
    if cls is str:
        if obj.isascii() and "\x00" not in obj:
            return obj
        return obj if _plain_str(obj) else _tagged_str(obj)
    if cls is int:
        if _INT64_MIN <= obj <= _INT64_MAX:
            return obj
        return {TAG: "int", "v": str(obj) if obj.bit_length() < 10_000 else hex(obj)}
    if obj is None or cls is bool:
        return obj
    if cls is float:
        magnitude = abs(obj)
        if magnitude < 1e16 and (magnitude != 0.0 or math.copysign(1.0, obj) > 0):
            return obj
        return {TAG: "float", "v": repr(obj)}
    if cls is list:
        try:
            return [_encode(item) for item in obj]
        except _Unsupported:
            _relocate((f"[{index}]", item) for index, item in enumerate(obj))
    if cls is dict:
        return _encode_dict(obj)
    encoder = _ENCODERS.get(cls)
    if encoder is not None:
        return encoder(obj)
    if isinstance(obj, Enum):
        return _encode_enum(obj)
    raise _Unsupported(obj)


def _plain_str(text: str) -> bool:
    """False for text Postgres cannot store: NUL, or lone surrogates (which fail UTF-8 encoding)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _tagged_str(text: str) -> dict[str, object]:
    return {TAG: "str", "v": _b64(text.encode("utf-8", "surrogatepass"))}


def _relocate(items: Iterable[tuple[str, object]]) -> NoReturn:
    """Re-encode a failed container's items one by one to find which one held the bad value.

    Only runs on the error path, which keeps the success path free of path bookkeeping."""
    for segment, item in items:
        try:
            _encode(item)
        except _Unsupported as exc:
            exc.path.append(segment)
            raise exc from None
    raise AssertionError("encoding failed but no item fails on its own")  # pragma: no cover


def _encode_dict(obj: dict[Any, Any]) -> object:
    for key in obj:  # cheap ASCII test first; the UTF-8 check runs only for non-ASCII keys
        if type(key) is not str or not key.isascii() or "\x00" in key or key == TAG:
            if not (type(key) is str and _plain_str(key) and key != TAG):
                return _encode_pairs(obj)
    if not jsonb_ordered(obj):
        return _encode_pairs(obj)  # jsonb would reorder the keys: keep the order as pairs
    try:
        return {key: _encode(value) for key, value in obj.items()}
    except _Unsupported:
        _relocate((f"[{key!r}]", value) for key, value in obj.items())


def jsonb_ordered(keys: Iterable[str]) -> bool:
    """True if ``jsonb`` keeps these keys in this order. It stores object keys sorted by length in
    bytes, then bytewise; a dict in any other order would come back reordered."""
    previous: tuple[int, bytes] | None = None
    for key in keys:
        raw = key.encode("utf-8", "surrogatepass")
        current = (len(raw), raw)
        if previous is not None and current < previous:
            return False
        previous = current
    return True


def _encode_pairs(obj: dict[Any, Any]) -> object:
    """Non-str keys (and keys JSON or Postgres cannot hold, or the tag key) as ``[[k, v], ...]``."""
    pairs: list[object] = []
    for key, value in obj.items():
        try:
            encoded_key = _encode(key)
        except _Unsupported as exc:
            exc.path.append(f"<key {key!r}>")
            raise
        try:
            pairs.append([encoded_key, _encode(value)])
        except _Unsupported as exc:
            exc.path.append(f"[{key!r}]")
            raise
    return {TAG: "dict", "v": pairs}


def _encode_tuple(obj: tuple[Any, ...]) -> object:
    return {TAG: "tuple", "v": _encode(list(obj))}


def _encode_set(obj: set[Any] | frozenset[Any]) -> object:
    try:
        # sorted where possible so equal sets give equal JSON in every process (hash seeds differ)
        items = sorted(obj)
    except Exception:
        items = list(obj)
    try:
        return {TAG: type(obj).__name__, "v": [_encode(item) for item in items]}
    except _Unsupported:
        _relocate(("<set item>", item) for item in items)


def _encode_datetime_or_time(obj: datetime | time) -> object:
    """The ISO text carries the offset; a ZoneInfo also needs its key, a named fixed offset its name,
    and an ambiguous wall time its ``fold``, or equality would not survive the trip."""
    out: dict[str, object] = {TAG: "datetime" if type(obj) is datetime else "time", "v": obj.isoformat()}
    if obj.fold:
        out["fold"] = 1
    tz = obj.tzinfo
    if tz is None:
        return out
    if type(tz) is ZoneInfo:
        if tz.key is None:
            raise _Unsupported(obj, "whose ZoneInfo has no key (built from a file); use ZoneInfo(key)")
        out["tz"] = tz.key
    elif type(tz) is timezone:
        name = tz.tzname(None)
        if name != timezone(tz.utcoffset(None)).tzname(None):
            out["tzname"] = name
    else:
        raise _Unsupported(
            obj,
            f"whose tzinfo has type {type_name(tz)!r}; goodjob restores only zoneinfo.ZoneInfo and "
            "datetime.timezone exactly, so convert with .astimezone(ZoneInfo(...)) first",
        )
    return out


def _encode_enum(obj: Enum) -> object:
    cls = type(obj)
    path = _enum_paths.get(cls)
    if path is None:
        path = f"{cls.__module__}:{cls.__qualname__}"
        try:
            found = resolve_path(path)
        except Exception:
            found = None
        if found is not cls:
            raise _Unsupported(
                obj,
                f"whose Enum class cannot be imported back as {path!r}; define the Enum at module "
                "level (not inside a function) or pass its value instead",
            )
        _enum_paths[cls] = path
    if obj._name_ is not None and cls.__members__.get(obj._name_) is obj:
        return {TAG: "enum", "cls": path, "name": obj._name_}
    return {TAG: "enum", "cls": path, "value": _encode(obj._value_)}  # e.g. a Flag combination


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(data).decode("ascii")


_enum_paths: dict[type[Enum], str] = {}
_ENCODERS: dict[type, Callable[[Any], object]] = {
    tuple: _encode_tuple,
    set: _encode_set,
    frozenset: _encode_set,
    datetime: _encode_datetime_or_time,
    date: lambda obj: {TAG: "date", "v": obj.isoformat()},
    time: _encode_datetime_or_time,
    timedelta: lambda obj: {TAG: "timedelta", "v": [obj.days, obj.seconds, obj.microseconds]},
    uuid.UUID: lambda obj: {TAG: "uuid", "v": str(obj)},
    Decimal: lambda obj: {TAG: "decimal", "v": str(obj)},
    bytes: lambda obj: {TAG: "bytes", "v": _b64(obj)},
    bytearray: lambda obj: {TAG: "bytearray", "v": _b64(obj)},
}
