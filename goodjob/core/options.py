"""Per-enqueue options (queue, priority, wait, timeout, labels): checked and normalised in the caller.

Every value is checked before anything is written, against what the columns and the engine can
hold: a priority that does not fit Postgres ``integer``, a queue name too long for its index, a
wait that overflows ``datetime``, a negative timeout, labels that are not strings. Each refusal is a
:class:`~goodjob.core.errors.JobOptionError` naming the value and the allowed range, never a raw
driver error from a worker later. A leaf module: it imports only ``errors``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from goodjob.core.errors import JobOptionError

PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1  # Postgres integer
QUEUE_NAME_MAX = 255  # characters; far below the ~2700 bytes a btree index entry may hold
WAIT_MAX = 100 * 365.25 * 86400.0  # seconds (100 years): `now + wait` must stay a datetime
TIMEOUT_MAX = WAIT_MAX
_LABEL_FORBIDDEN = ("\x00", "\x1f")  # NUL: Postgres text; \x1f joins labels for the bulk insert


def priority(value: object, where: str = "priority") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobOptionError(f"{where}={value!r} must be an int (smaller runs first)")
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise JobOptionError(
            f"{where}={value!r} is out of range; use a whole number from {PRIORITY_MIN} to {PRIORITY_MAX}"
        )
    return value


def queue_name(value: object, where: str = "queue") -> str:
    if not isinstance(value, str) or not value.strip():
        raise JobOptionError(f"{where}={value!r} must be a non-empty string")
    if len(value) > QUEUE_NAME_MAX:
        raise JobOptionError(
            f"{where}={value[:20]!r}... is {len(value)} characters long; use at most {QUEUE_NAME_MAX}"
        )
    if "\x00" in value:
        raise JobOptionError(f"{where}={value!r} contains a NUL character, which Postgres text cannot hold")
    return value


def scheduled_at(wait: object, wait_until: object) -> datetime | None:
    """The row's scheduled time from ``wait`` (seconds or timedelta) or ``wait_until``; None: now."""
    if wait is not None and wait_until is not None:
        raise JobOptionError("set() takes wait or wait_until, not both")
    if wait_until is not None:
        if not isinstance(wait_until, datetime):
            raise JobOptionError(f"wait_until={wait_until!r} must be a datetime with a time zone")
        if wait_until.tzinfo is None:
            raise JobOptionError(f"wait_until={wait_until!r} has no time zone; pass an aware datetime (e.g. UTC)")
        return wait_until
    if wait is None:
        return None
    if isinstance(wait, timedelta):
        seconds = wait.total_seconds()
    elif isinstance(wait, int | float) and not isinstance(wait, bool):
        seconds = float(wait)
    else:
        raise JobOptionError(f"wait={wait!r} must be a number of seconds or a timedelta")
    if not math.isfinite(seconds) or abs(seconds) > WAIT_MAX:
        raise JobOptionError(
            f"wait={wait!r} is out of range; use a finite number of seconds up to {WAIT_MAX:.0f} (100 years), "
            "or wait_until"
        )
    return datetime.now(UTC) + timedelta(seconds=seconds)


def timeout(value: object, where: str = "timeout") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JobOptionError(f"{where}={value!r} must be a number of seconds, or None for no timeout")
    seconds = float(value)
    if not (math.isfinite(seconds) and 0 < seconds <= TIMEOUT_MAX):
        raise JobOptionError(
            f"{where}={value!r} is out of range; use seconds > 0 and <= {TIMEOUT_MAX:.0f}, or None for no timeout"
        )
    return seconds


def labels(value: object, where: str = "labels") -> tuple[str, ...]:
    """Strip each label, drop empty ones and repeats (first one wins); refuse a bare string."""
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        raise JobOptionError(
            f"{where}={value!r} is a single string; pass a list of labels, e.g. {where}=[{value!r}]"
        )
    if not isinstance(value, Iterable):
        raise JobOptionError(f"{where}={value!r} must be a list of strings")
    seen: dict[str, None] = {}
    for item in value:
        if not isinstance(item, str):
            raise JobOptionError(f"{where} item {item!r} ({type(item).__name__}) is not a string; labels are strings")
        if any(ch in item for ch in _LABEL_FORBIDDEN):
            raise JobOptionError(f"{where} item {item!r} contains a control character goodjob cannot store")
        label = item.strip()
        if label:
            seen.setdefault(label, None)
    return tuple(seen)
