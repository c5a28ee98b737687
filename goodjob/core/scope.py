"""What an enqueue inherits from the code around it: the batch being filled, the cron occurrence.

``ConfiguredJob.new`` reads :func:`current` when it builds a request, so that
``async with goodjob.Batch(...): await MyJob.perform_later()`` needs no extra argument on every
call, and the cron scheduler can enqueue through a job class's own ``perform_later`` (its class
defaults, labels, concurrency key and enqueue callbacks) while still stamping the cron key and time.
A context variable follows the caller's task (and a thread's own context), never other tasks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class EnqueueScope:
    batch_id: UUID | None = None
    cron_key: str | None = None
    cron_at: datetime | None = None


_scope: ContextVar[EnqueueScope | None] = ContextVar("goodjob_enqueue_scope", default=None)


def current() -> EnqueueScope | None:
    return _scope.get()


@contextlib.contextmanager
def entered(scope: EnqueueScope) -> Iterator[None]:
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


def enter(scope: EnqueueScope) -> object:
    """Set ``scope`` until :func:`leave` with the returned token (for ``__aenter__``/``__aexit__``)."""
    return _scope.set(scope)


def leave(token: object) -> None:
    _scope.reset(token)  # type: ignore[arg-type]
