"""Enqueueing built jobs: the enqueue callbacks, :class:`PendingJob` and ``perform_all_later``.

Both ``goodjob.Job`` (one job at a time) and ``goodjob.Batch`` (many jobs at once) enqueue through
this module, which knows jobs only by their enqueue callbacks (:class:`EnqueueHooks`); that is what
lets ``job.py`` import ``batch.py`` without ``batch.py`` importing ``job.py`` back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from goodjob.core import events
from goodjob.core.enqueue import JobRequest
from goodjob.core.runtime import get_runtime, maybe_await
from goodjob.core.storage.db import Executor
from goodjob.core.types import Enqueued

__all__ = ["EnqueueAborted", "EnqueueHooks", "PendingJob", "enqueue_one", "perform_all_later",
           "perform_all_later_sync", "refused"]


class EnqueueAborted(Exception):
    """Raise from ``before_enqueue`` (or return False) to refuse an enqueue without an error."""


class EnqueueHooks:
    """The enqueue callbacks of a job (``goodjob.Job`` inherits them): override, call super()."""

    def before_enqueue(self) -> bool | Awaitable[bool | None] | None:
        """Return False (or raise EnqueueAborted) to refuse the enqueue."""
        return None

    def after_enqueue(self) -> Awaitable[None] | None:
        return None

    async def around_enqueue(self, call_next: Callable[[], Awaitable[Enqueued]]) -> Enqueued:
        return await call_next()


@dataclass(slots=True)
class PendingJob:
    """A job built but not saved yet (for bulk enqueue).

    A plain slots class: a frozen dataclass sets each field through ``object.__setattr__``, and
    bulk enqueue builds one per job (it was a tenth of ``job.new()``).
    """

    job: EnqueueHooks
    request: JobRequest
    connection: Executor | None = None


async def enqueue_one(pending: PendingJob) -> Enqueued:
    job, req = pending.job, pending.request
    hooks = type(job)
    if hooks.before_enqueue is not EnqueueHooks.before_enqueue:
        try:
            if await maybe_await(job.before_enqueue()) is False:
                return refused(req, "before_enqueue refused it")  # built here: it emits enqueue_refused
        except EnqueueAborted as exc:
            return refused(req, str(exc) or "before_enqueue refused it")
    runtime = get_runtime()
    if hooks.around_enqueue is EnqueueHooks.around_enqueue:
        result = await runtime.enqueue(req, pending.connection)  # the common case: no wrapper to call
    else:

        async def call() -> Enqueued:
            return await runtime.enqueue(req, pending.connection)

        result = await job.around_enqueue(call)
    if result and hooks.after_enqueue is not EnqueueHooks.after_enqueue:
        await maybe_await(job.after_enqueue())
    return result


def refused(req: JobRequest, reason: str) -> Enqueued:
    events.emit("enqueue_refused", job_id=req.id, job_class=req.job_class, queue_name=req.queue_name,
                reason=reason)
    return Enqueued(
        req.id, req.queue_name, req.priority, req.scheduled_at or datetime.now(UTC), False, reason
    )


async def perform_all_later(jobs: Iterable[PendingJob], *, connection: Executor | None = None) -> list[Enqueued]:
    """Enqueue many jobs in one round trip (one NOTIFY per queue). Callbacks run per job."""
    pendings = list(jobs)
    accepted: list[PendingJob] = []
    refusals: dict[int, Enqueued] = {}  # position in ``pendings`` -> the refusal
    for i, pending in enumerate(pendings):
        if type(pending.job).before_enqueue is EnqueueHooks.before_enqueue:
            accepted.append(pending)  # the common case: no callback to run
            continue
        try:
            ok = await maybe_await(pending.job.before_enqueue()) is not False
        except EnqueueAborted as exc:
            refusals[i] = refused(pending.request, str(exc) or "before_enqueue refused it")
            continue
        if ok:
            accepted.append(pending)
        else:
            refusals[i] = refused(pending.request, "before_enqueue refused it")
    enqueued = await get_runtime().enqueue_many([p.request for p in accepted], connection)
    for pending, result in zip(accepted, enqueued, strict=True):
        if result and type(pending.job).after_enqueue is not EnqueueHooks.after_enqueue:
            await maybe_await(pending.job.after_enqueue())
    if not refusals:
        return enqueued  # the common case: every job was accepted, in the caller's order
    results = iter(enqueued)
    return [refusals[i] if i in refusals else next(results) for i in range(len(pendings))]


def perform_all_later_sync(jobs: Iterable[PendingJob]) -> list[Enqueued]:
    items = list(jobs)
    return get_runtime().run_sync(lambda: perform_all_later(items))
