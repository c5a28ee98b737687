"""Concurrency rules as values: :class:`Concurrency` (what a job class declares), the key of a job,
and the perform rules a row carries for the claim.

Pure and database-free, so that the job API and the enqueue path can build and check rules without
importing the enqueue-time and perform-time checks in ``concurrency.py``, which need the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from goodjob.core import registry
from goodjob.core.errors import ConfigurationError, UnknownJobError

__all__ = ["Concurrency", "KeySpec", "PerformRules", "Throttle", "class_name_key", "class_rules", "period_of",
           "resolve"]

KeySpec = str | Callable[[Any], object] | None
Throttle = tuple[int, float | timedelta]

def class_name_key(job: Any) -> str:
    """The default key (GoodJob's): the job's class name, so the limits apply to the class as a whole."""
    return str(type(job).job_name)


class PerformRules(NamedTuple):
    """What a row carries for the claim: limit on running jobs, and throttle count per period."""

    limit: int | None
    throttle: int | None
    period: float | None


@dataclass(frozen=True)
class Concurrency:
    """Concurrency controls for one job class (``concurrency = goodjob.Concurrency(...)``).

    ``key``: a string, or a callable receiving the job (``job.arguments``, ``job.kwargs``,
    ``job.queue_name``) and returning a string, or None for no limit on that job. Omitted, the key is
    the job's class name. ``enqueue_limit`` caps jobs with the key waiting to run, ``total_limit``
    waiting plus running (and, as in GoodJob, running when there is no ``perform_limit``),
    ``perform_limit`` running at once. ``enqueue_throttle`` / ``perform_throttle`` = ``(count,
    period)`` cap enqueues / performs started within any sliding ``period`` (seconds or timedelta).
    """

    key: KeySpec = class_name_key
    enqueue_limit: int | None = None
    perform_limit: int | None = None
    total_limit: int | None = None
    enqueue_throttle: Throttle | None = None
    perform_throttle: Throttle | None = None

    def __post_init__(self) -> None:
        if self.key is not None and not isinstance(self.key, str) and not callable(self.key):
            raise TypeError(
                f"Concurrency(key=...) must be a str, a callable that receives the job, or None; "
                f"got {type(self.key).__name__}: {self.key!r}"
            )
        for name in ("enqueue_limit", "perform_limit", "total_limit"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigurationError(f"Concurrency({name}={value!r}) must be an int >= 0, or None for no limit")
        for name in ("enqueue_throttle", "perform_throttle"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _throttle(name, value))

    @property
    def checks_enqueue(self) -> bool:
        return self.enqueue_limit is not None or self.total_limit is not None or self.enqueue_throttle is not None

    @property
    def perform_rules(self) -> PerformRules | None:
        limit = self.perform_limit if self.perform_limit is not None else self.total_limit
        if self.perform_throttle is None:
            return None if limit is None else PerformRules(limit, None, None)
        return PerformRules(limit, self.perform_throttle[0], period_of(self.perform_throttle))


def _throttle(name: str, value: object) -> tuple[int, float]:
    if isinstance(value, tuple) and len(value) == 2:
        count, period = value
        if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
            seconds = _seconds(period)
            if seconds is not None and seconds > 0:
                return count, seconds
    raise ConfigurationError(
        f"Concurrency({name}={value!r}) must be (count, period): an int >= 1 and a period > 0 in seconds "
        "or a timedelta, e.g. (10, 60) for at most 10 per minute"
    )


def period_of(throttle: Throttle) -> float:
    """A validated throttle's period in seconds."""
    period = throttle[1]
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


def _seconds(period: object) -> float | None:
    if isinstance(period, timedelta):
        return period.total_seconds()
    if isinstance(period, int | float) and not isinstance(period, bool):
        return float(period)
    return None


def resolve(cls: type[Any], job: Any) -> tuple[str | None, Concurrency | None]:
    """The key of a job about to be enqueued, and the rules that go with it (None: no limit).

    Called once per enqueue, when the job is built; the key is then stored on the row and never
    computed again, so a retry keeps it even if the callable would now answer differently.
    """
    rules = getattr(cls, "concurrency", None)
    if rules is None:
        return None, None
    if not isinstance(rules, Concurrency):
        raise TypeError(
            f"{cls.__name__}.concurrency must be a goodjob.Concurrency, got {type(rules).__name__}: {rules!r}"
        )
    key = rules.key(job) if callable(rules.key) else rules.key
    if key is None:
        return None, None
    if not isinstance(key, str):
        raise TypeError(
            f"the concurrency key of {cls.__name__} must be a str (or None for no limit), "
            f"got {type(key).__name__}: {key!r}"
        )
    return key, rules


def class_rules(job_class: str) -> PerformRules | None:
    """The perform rules a job class declares now (for rows enqueued without stored rules)."""
    try:
        cls = registry.resolve(job_class)
    except UnknownJobError:
        return None  # the executor records the unknown class
    rules = getattr(cls, "concurrency", None)
    return rules.perform_rules if isinstance(rules, Concurrency) else None
