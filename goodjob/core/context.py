"""The job being performed, as seen from inside it: ``goodjob.current_job()`` reads this.

The executor builds one :class:`JobContext` per attempt and sets it in a context variable for the
job's task; thread jobs run in a copy of that context, so a ``def`` job sees the same object. The
worker keeps a reference too: an operator's cancel sets ``cancelled`` on it and, for an ``async def``
job, cancels its task. A ``def`` job cannot be stopped from outside (Python threads cannot be
interrupted), so it sees ``cancelled`` turn true and returns when it chooses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


def _never() -> bool:
    return False


@dataclass(eq=False)
class JobContext:
    id: UUID | None
    job_class: str
    attempt: int
    queue: str
    priority: int
    labels: tuple[str, ...]
    batch_id: UUID | None
    scheduled_at: datetime | None
    shutting_down: Callable[[], bool] = _never
    task: asyncio.Task[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    threads: list[concurrent.futures.Future[Any]] = field(default_factory=list)
    # A plain flag, set once on the job's loop and read from its threads: a threading.Event per job
    # cost measurable CPU in the drain, and nothing ever waits on it.
    _cancelled: bool = False
    # ``current_job().complete(conn)`` / ``complete_sync(cursor)``: the recorder that writes this
    # attempt's success inside the caller's transaction, and the outcome to write (both set by the
    # executor where a worker or inline mode holds the row; None under perform_now).
    completer: Any = None
    success_now: Callable[[], Any] | None = None

    @property
    def cancelled(self) -> bool:
        """True once an operator cancelled this job (goodjob.jobs.cancel)."""
        return self._cancelled

    def request_cancel(self) -> None:
        """Mark cancelled; interrupt the task unless a thread is running the job (it cannot be
        interrupted: it sees ``cancelled`` and returns). Call it on the job's own loop."""
        if self._cancelled:
            return
        self._cancelled = True
        in_thread = any(not f.done() for f in self.threads)
        if self.task is not None and not self.task.done() and not in_thread:
            self.task.cancel("cancelled by operator")


_current: ContextVar[JobContext | None] = ContextVar("goodjob_current_job", default=None)


def current() -> JobContext | None:
    return _current.get()


def enter(ctx: JobContext) -> Token[JobContext | None]:
    """Make ``ctx`` the current job; give the token to :func:`leave` (the worker's per-job path)."""
    return _current.set(ctx)


def leave(token: Token[JobContext | None]) -> None:
    _current.reset(token)


@contextmanager
def entered(ctx: JobContext) -> Iterator[JobContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
