"""Job-level error rules: ``retry_on``, ``discard_on``, ``rescue_from`` (ActiveJob's, in Python).

A job class lists rules in ``error_policy``; rules of base classes apply to subclasses. When a job
raises, the most specific matching rule wins (the rule whose exception type is nearest to the raised
type in its MRO); between equally specific rules the one declared last wins, as in ActiveJob.
Errors no rule matches are *unhandled*: they reach ``on_thread_error`` and
``retry_on_unhandled_error`` decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from goodjob.core.retry import Wait, exponentially_longer, wait_seconds
from goodjob.core.types import OutcomeKind

Handler = Callable[[Any, BaseException], Any]  # (job instance, exception) -> None or awaitable

UNLIMITED = None


@dataclass(frozen=True)
class RetryOn:
    exceptions: tuple[type[BaseException], ...]
    attempts: int | None = 5
    wait: Wait = 3
    on_exhausted: Handler | None = None


@dataclass(frozen=True)
class DiscardOn:
    exceptions: tuple[type[BaseException], ...]
    callback: Handler | None = None


@dataclass(frozen=True)
class RescueFrom:
    exceptions: tuple[type[BaseException], ...]
    handler: Handler


Rule = RetryOn | DiscardOn | RescueFrom


def retry_on(
    *exceptions: type[BaseException],
    attempts: int | None = 5,
    wait: Wait = 3,
    on_exhausted: Handler | None = None,
) -> RetryOn:
    """Retry on these exceptions up to ``attempts`` executions in all (None: forever).

    ``wait`` is seconds, a timedelta, a callable of the attempt number, or
    :func:`exponentially_longer`. When the attempts are used up, ``on_exhausted(job, exc)`` runs
    instead of failing the job; without it the job is discarded as an unhandled error.
    """
    _check_types(exceptions, "retry_on")
    if attempts is not None and attempts < 1:
        raise ValueError(f"retry_on(attempts={attempts!r}) must be >= 1 or None for unlimited")
    return RetryOn(tuple(exceptions) or (Exception,), attempts, wait, on_exhausted)


def discard_on(*exceptions: type[BaseException], callback: Handler | None = None) -> DiscardOn:
    """Finish the job as discarded (no retry) on these exceptions; ``callback(job, exc)`` runs first."""
    _check_types(exceptions, "discard_on")
    return DiscardOn(tuple(exceptions), callback)


def rescue_from(*exceptions: type[BaseException], handler: Handler) -> RescueFrom:
    """Handle these exceptions with ``handler(job, exc)``; the job then counts as finished.

    If the handler raises, that error is unhandled.
    """
    _check_types(exceptions, "rescue_from")
    return RescueFrom(tuple(exceptions), handler)


def _check_types(exceptions: Iterable[object], where: str) -> None:
    for exc in exceptions:
        if not (isinstance(exc, type) and issubclass(exc, BaseException)):
            raise TypeError(f"{where}() takes exception classes, got {exc!r}")


@dataclass(frozen=True)
class Decision:
    kind: OutcomeKind
    wait: float | None = None
    handler: Handler | None = None
    unhandled: bool = False
    final: bool = False  # never retried, whatever retry_on_unhandled_error says


UNHANDLED = Decision(OutcomeKind.DISCARDED, unhandled=True)
# Retries used up: reported like an unhandled error, but final, so `attempts` keeps its meaning.
EXHAUSTED = Decision(OutcomeKind.DISCARDED, unhandled=True, final=True)


def rules_of(cls: type[Any] | None) -> list[Rule]:
    """Every rule that applies to ``cls``, base classes' first, in declaration order."""
    if cls is None:
        return []
    found: list[Rule] = []
    for klass in reversed(cls.__mro__):
        found.extend(klass.__dict__.get("error_policy", ()))
    return found


def _distance(exc_type: type[BaseException], rule_type: type[BaseException]) -> int | None:
    try:
        return exc_type.__mro__.index(rule_type)
    except ValueError:
        return None


def match(cls: type[Any] | None, exc: BaseException) -> Rule | None:
    best: tuple[int, int] | None = None
    chosen: Rule | None = None
    for order, rule in enumerate(rules_of(cls)):
        for rule_type in rule.exceptions:
            dist = _distance(type(exc), rule_type)
            if dist is None:
                continue
            key = (dist, -order)
            if best is None or key < best:
                best, chosen = key, rule
    return chosen


def decide(cls: type[Any] | None, exc: BaseException, attempt: int) -> Decision:
    """What to do after attempt number ``attempt`` (1 = first run) raised ``exc``."""
    rule = match(cls, exc)
    if rule is None:
        return UNHANDLED
    if isinstance(rule, DiscardOn):
        return Decision(OutcomeKind.DISCARDED, handler=rule.callback)
    if isinstance(rule, RescueFrom):
        return Decision(OutcomeKind.HANDLED, handler=rule.handler)
    if rule.attempts is None or attempt < rule.attempts:
        return Decision(OutcomeKind.RETRIED, wait=wait_seconds(rule.wait, attempt))
    if rule.on_exhausted is not None:
        return Decision(OutcomeKind.HANDLED, handler=rule.on_exhausted)
    return EXHAUSTED


def unhandled_retry_wait(attempt: int) -> float:
    """Backoff for ``retry_on_unhandled_error``: never a hot loop on a job that always fails."""
    return exponentially_longer(attempt)
