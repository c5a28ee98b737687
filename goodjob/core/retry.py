"""Backoff policies. Pure functions of the attempt number, so they are trivially testable."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import TypeAlias

Wait: TypeAlias = "float | int | timedelta | Callable[[int], float | int | timedelta]"

JITTER = 0.15


def exponentially_longer(attempt: int, *, jitter: float = JITTER) -> float:
    """ActiveJob's ``:exponentially_longer``: ``attempt**4 + 2`` seconds plus up to 15% jitter.

    Jitter spreads the retries of jobs that failed together (a database restart, an API outage) so
    they do not all come back in the same second.
    """
    base = float(attempt) ** 4
    return base + 2 + random.random() * base * jitter


def polynomially_longer(attempt: int) -> float:
    """Alias kept for Rails 7.1 users: the same curve under its newer name."""
    return exponentially_longer(attempt)


def wait_seconds(wait: Wait, attempt: int) -> float:
    """Resolve any supported ``wait`` value to seconds for the given attempt (1 = first run)."""
    value = wait(attempt) if callable(wait) else wait
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    return max(0.0, float(value))
