"""Enqueueing built jobs: the enqueue callbacks, :class:`PendingJob` and ``perform_all_later``.

Both ``goodjob.Job`` (one job at a time) and ``goodjob.Batch`` (many jobs at once) enqueue through
this module, which knows jobs only by their enqueue callbacks (:class:`EnqueueHooks`); that is what
lets ``job.py`` import ``batch.py`` without ``batch.py`` importing ``job.py`` back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from goodjob.core import events
from goodjob.core.enqueue import JobRequest, Shape, params_json, uuid7
from goodjob.core.runtime import get_runtime, maybe_await
from goodjob.core.storage.db import Executor
from goodjob.core.types import Enqueued

__all__ = ["EnqueueAborted", "EnqueueHooks", "JobSource", "PendingJob", "enqueue_one", "perform_all_later",
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


class JobSource(Protocol):
    """What a pending job is built from (``ConfiguredJob``): it makes the request and the instance
    when something asks for them."""

    def request_for(self, args: tuple[Any, ...], kwargs: dict[str, Any], job_id: UUID) -> JobRequest: ...

    def instance(self, request: JobRequest) -> EnqueueHooks: ...

    def uniform(self) -> tuple[Shape, Mapping[str, Any] | None] | None:
        """The shape its jobs share and their meta, unless its jobs cannot take the uniform insert."""
        ...


class PendingJob:
    """A job built but not saved yet (for bulk enqueue).

    Bulk enqueue builds one per job, so a pending job of a plain class (no enqueue callbacks,
    concurrency rules or ``__init__`` of its own) built outside a Batch block and without a relative
    ``wait`` holds only its arguments and id: ``perform_all_later`` of such jobs from one
    ``job.set(...)`` writes them as they are (one JSON text of arguments, one array of ids), and the
    request (:attr:`request`) and the job's instance (:attr:`job`) are made only if something asks.
    The instance (its object, ``__dict__`` and copied kwargs) was half of ``job.new()``, the request
    and the per-job comparisons a uniform insert needs another third.
    """

    __slots__ = ("_args", "_id", "_job", "_kwargs", "_request", "_source", "connection")

    def __init__(
        self, job: EnqueueHooks | None, request: JobRequest, connection: Executor | None = None,
        source: JobSource | None = None,
    ) -> None:
        self._job = job
        self._request: JobRequest | None = request
        self._source = source
        self._args: tuple[Any, ...] = ()
        self._kwargs: dict[str, Any] = {}
        self._id = request.id
        self.connection = connection

    @classmethod
    def deferred(
        cls, source: JobSource, args: tuple[Any, ...], kwargs: dict[str, Any], connection: Executor | None
    ) -> PendingJob:
        """Arguments and an id only; ``source`` makes the request and the instance on demand."""
        pending = object.__new__(cls)
        pending._job = None
        pending._request = None
        pending._source = source
        pending._args = args
        pending._kwargs = kwargs
        pending._id = uuid7()
        pending.connection = connection
        return pending

    @property
    def request(self) -> JobRequest:
        req = self._request
        if req is None:
            assert self._source is not None
            req = self._request = self._source.request_for(self._args, self._kwargs, self._id)
        return req

    @property
    def job(self) -> EnqueueHooks:
        job = self._job
        if job is None:
            assert self._source is not None
            job = self._job = self._source.instance(self.request)
        return job

    @property
    def built(self) -> bool:
        """Whether the instance exists (a deferred one takes its batch id from the request)."""
        return self._job is not None

    def __repr__(self) -> str:
        r = self.request
        return f"<PendingJob {r.job_class} id={r.id} queue={r.queue_name!r}>"


def _shared_shape(pendings: list[PendingJob]) -> tuple[Shape, Mapping[str, Any] | None] | None:
    """The shared shape and meta of deferred jobs from equal sources, or None."""
    first = pendings[0]
    source = first._source
    if source is None or first._request is not None:
        return None
    shared = source.uniform()
    if shared is None:
        return None
    for p in pendings:
        if p._request is not None or (p._source is not source and (
                p._source is None or p._source.uniform() != shared)):
            return None
    return shared


async def enqueue_one(pending: PendingJob) -> Enqueued:
    req = pending.request
    if pending._job is None:  # no callbacks (see PendingJob): straight to the database
        return await get_runtime().enqueue(req, pending.connection)
    job = pending._job
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
    if pendings and (shared := _shared_shape(pendings)) is not None:  # the common case, without requests
        shape, meta = shared
        params = [params_json(p._args, p._kwargs, meta) for p in pendings]  # raises before any write
        return await get_runtime().enqueue_uniform(shape, [p._id for p in pendings], params, connection)
    accepted: list[PendingJob] = []
    refusals: dict[int, Enqueued] = {}  # position in ``pendings`` -> the refusal
    built = False  # any instance, so after_enqueue may need calling
    for i, pending in enumerate(pendings):
        job = pending._job
        if job is None:
            accepted.append(pending)  # the common case: no instance, so no callback to run
            continue
        built = True
        if type(job).before_enqueue is EnqueueHooks.before_enqueue:
            accepted.append(pending)
            continue
        try:
            ok = await maybe_await(job.before_enqueue()) is not False
        except EnqueueAborted as exc:
            refusals[i] = refused(pending.request, str(exc) or "before_enqueue refused it")
            continue
        if ok:
            accepted.append(pending)
        else:
            refusals[i] = refused(pending.request, "before_enqueue refused it")
    enqueued = await get_runtime().enqueue_many([p.request for p in accepted], connection)
    for pending, result in zip(accepted, enqueued, strict=True) if built else ():
        job = pending._job
        if result and job is not None and type(job).after_enqueue is not EnqueueHooks.after_enqueue:
            await maybe_await(job.after_enqueue())
    if not refusals:
        return enqueued  # the common case: every job was accepted, in the caller's order
    results = iter(enqueued)
    return [refusals[i] if i in refusals else next(results) for i in range(len(pendings))]


def perform_all_later_sync(jobs: Iterable[PendingJob]) -> list[Enqueued]:
    items = list(jobs)
    return get_runtime().run_sync(lambda: perform_all_later(items))
