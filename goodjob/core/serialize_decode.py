"""Decoding stored job arguments: the tagged JSON of ``serialize.py`` back into Python values.

The half of the format that the worker, the dashboard and the job API need to read rows; the
encoder (and the format's description) stays in ``serialize.py``, which imports this module.
"""

from __future__ import annotations

import base64
import importlib
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from goodjob.core.describe import preview
from goodjob.core.errors import SerializationError

__all__ = ["TAG", "decode", "resolve_path"]

TAG = "__gj__"  # the key that marks a tagged value (see serialize.py for the format)


def decode(obj: Any) -> object:
    cls = type(obj)
    if cls is dict:
        if TAG in obj:
            return _decode_tagged(obj)
        return {key: decode(value) for key, value in obj.items()}
    if cls is list:
        return [decode(item) for item in obj]
    return obj


def _decode_tagged(obj: dict[str, Any]) -> object:
    tag = obj[TAG]
    decoder = _DECODERS.get(tag) if type(tag) is str else None
    if decoder is None:
        raise SerializationError(
            f"unknown tag {tag!r} in serialized arguments {preview(obj)}; was the job enqueued by a "
            "newer goodjob version?"
        )
    try:
        return decoder(obj)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(f"cannot decode tagged {tag!r} value {preview(obj)}: {exc!r}") from exc


def _text(obj: dict[str, Any], key: str = "v") -> str:
    value = obj[key]
    if type(value) is not str:
        raise TypeError(f"{key!r} must be a string")
    return value


def _items(obj: dict[str, Any]) -> list[Any]:
    value = obj["v"]
    if type(value) is not list:
        raise TypeError("'v' must be a list")
    return value


def _decode_dict(obj: dict[str, Any]) -> dict[object, object]:
    out: dict[object, object] = {}
    for pair in _items(obj):
        key, value = pair
        out[decode(key)] = decode(value)
    return out


def _decode_datetime_or_time(obj: dict[str, Any]) -> datetime | time:
    parse = datetime.fromisoformat if obj[TAG] == "datetime" else time.fromisoformat
    value = parse(_text(obj))
    if "tz" in obj:
        value = value.replace(tzinfo=ZoneInfo(_text(obj, "tz")))
    elif "tzname" in obj:
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("'tzname' given for a value without an offset")
        value = value.replace(tzinfo=timezone(offset, _text(obj, "tzname")))
    if obj.get("fold"):
        value = value.replace(fold=1)
    return value


def _decode_enum(obj: dict[str, Any]) -> Enum:
    path = _text(obj, "cls")
    try:
        cls = resolve_path(path)
    except Exception as exc:
        raise SerializationError(
            f"serialized argument names Enum class {path!r}, which cannot be imported here: {exc!r}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Enum)):
        raise SerializationError(f"serialized argument names {path!r} as an Enum class, but it is not one")
    if "name" in obj:
        member = cls.__members__.get(_text(obj, "name"))
        if member is None:
            raise SerializationError(f"Enum class {path!r} has no member named {obj['name']!r}")
        return member
    return cls(decode(obj["value"]))


def _decode_timedelta(obj: dict[str, Any]) -> timedelta:
    days, seconds, microseconds = _items(obj)
    if not all(type(part) is int for part in (days, seconds, microseconds)):
        raise TypeError("timedelta parts must be integers")
    return timedelta(days=days, seconds=seconds, microseconds=microseconds)


_DECODERS: dict[str, Callable[[dict[str, Any]], object]] = {
    "str": lambda obj: base64.b64decode(_text(obj), validate=True).decode("utf-8", "surrogatepass"),
    "int": lambda obj: int(_text(obj), 0),
    "float": lambda obj: float(_text(obj)),
    "tuple": lambda obj: tuple(decode(item) for item in _items(obj)),
    "set": lambda obj: {decode(item) for item in _items(obj)},
    "frozenset": lambda obj: frozenset(decode(item) for item in _items(obj)),
    "dict": _decode_dict,
    "datetime": _decode_datetime_or_time,
    "date": lambda obj: date.fromisoformat(_text(obj)),
    "time": _decode_datetime_or_time,
    "timedelta": _decode_timedelta,
    "uuid": lambda obj: uuid.UUID(_text(obj)),
    "decimal": lambda obj: Decimal(_text(obj)),
    "bytes": lambda obj: base64.b64decode(_text(obj), validate=True),
    "bytearray": lambda obj: bytearray(base64.b64decode(_text(obj), validate=True)),
    "enum": _decode_enum,
}


# ---------------------------------------------------------------------------------------------------
# helpers


def resolve_path(path: str) -> object:
    """``"package.module:Outer.Inner"`` -> the object, importing the module if needed."""
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"{path!r} is not of the form 'module:QualName'")
    found: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found
