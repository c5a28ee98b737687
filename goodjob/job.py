"""The public job API: ``goodjob.Job`` subclasses (``@goodjob.job`` functions: functions.py).

Mirrors ActiveJob: class attributes set defaults (``queue_name``, ``priority``, ``timeout``,
``labels``, ``error_policy``), ``set(...)`` overrides them for one enqueue, and the verbs are
``perform_later`` (await it), ``perform_later_sync`` (plain code), ``perform_now`` and
``perform_all_later``. Callbacks are methods an application base class overrides once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from goodjob.batch import Batch
from goodjob.core import context, registry, scope
from goodjob.core import options as check
from goodjob.core.enqueue import JobRequest, Shape
from goodjob.core.features.concurrency_rules import Concurrency
from goodjob.core.features.concurrency_rules import resolve as resolve_concurrency
from goodjob.core.policy import Rule
from goodjob.core.runtime import get_runtime, maybe_await
from goodjob.core.types import ClaimedJob, Enqueued
from goodjob.pending import (
    EnqueueAborted,
    EnqueueHooks,
    PendingJob,
    enqueue_one,
    perform_all_later,
    perform_all_later_sync,
)

__all__ = ["ConfiguredJob", "EnqueueAborted", "Job", "PendingJob",
           "perform_all_later", "perform_all_later_sync"]

_SET_OPTIONS = ("queue", "priority", "wait", "wait_until", "timeout", "labels", "connection")
_SET_OPTION_NAMES = frozenset(_SET_OPTIONS)


def _not_shutting_down() -> bool:
    return False


class Job(EnqueueHooks):
    """Base class for jobs. Override :meth:`perform` (``def`` or ``async def``)."""

    queue_name: ClassVar[str] = "default"
    priority: ClassVar[int] = 0
    timeout: ClassVar[float | None] = None
    labels: ClassVar[Sequence[str]] = ()
    error_policy: ClassVar[Sequence[Rule]] = ()
    concurrency: ClassVar[Concurrency | None] = None  # limits and throttles by key (core/concurrency.py)
    job_name: ClassVar[str] = "goodjob.job.Job"

    # Per-instance state, set when a job is built for enqueue or for perform.
    job_id: UUID | None
    executions: int
    arguments: tuple[Any, ...]
    kwargs: dict[str, Any]
    scheduled_at: datetime | None
    batch_id: UUID | None = None  # the batch this job belongs to (goodjob/batch.py)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "job_name" not in cls.__dict__:
            cls.job_name = registry.job_name(cls)
        registry.register(cls.job_name, cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.arguments = args
        self.kwargs = dict(kwargs)
        self.job_id = None
        self.executions = 0
        self.scheduled_at = None
        self._shutting_down: Callable[[], bool] = _not_shutting_down

    def perform(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.perform() is not defined")

    # --- callbacks: override in an application base class, call super() ----------------------
    # (the enqueue callbacks come from EnqueueHooks)

    def before_perform(self) -> Awaitable[None] | None:
        return None

    def after_perform(self) -> Awaitable[None] | None:
        return None

    async def around_perform(self, call_next: Callable[[], Awaitable[Any]]) -> Any:
        return await call_next()

    @property
    def batch(self) -> Batch | None:
        """The batch this job belongs to, as a handle: ``async with self.batch:`` (or ``add``)
        puts more jobs in it; ``await self.batch.reload()`` reads its properties and counts."""
        if self.batch_id is None:
            return None
        return Batch._existing(self.batch_id)

    @property
    def shutting_down(self) -> bool:
        """True once the worker is stopping: long jobs can checkpoint and return early."""
        return self._shutting_down()

    # --- verbs --------------------------------------------------------------------------------

    @classmethod
    def set(cls, **options: Any) -> ConfiguredJob:
        """Options for one enqueue: queue, priority, wait, wait_until, timeout, labels, connection."""
        return _configured(cls, options)

    @classmethod
    async def perform_later(cls, *args: Any, **kwargs: Any) -> Enqueued:
        return await enqueue_one(_configured(cls, {}).new(*args, **kwargs))

    @classmethod
    def perform_later_sync(cls, *args: Any, **kwargs: Any) -> Enqueued:
        return _configured(cls, {}).perform_later_sync(*args, **kwargs)

    @classmethod
    def new(cls, *args: Any, **kwargs: Any) -> PendingJob:
        """An unsaved job for :func:`perform_all_later` (ActiveJob's ``MyJob.new(...)``)."""
        return _configured(cls, {}).new(*args, **kwargs)

    @classmethod
    async def perform_now(cls, *args: Any, **kwargs: Any) -> Any:
        """Perform in the caller, now, without the database; exceptions propagate."""
        job = cls(*args, **kwargs)
        job.executions = 1
        with context.entered(job._now_context()):
            return await job._goodjob_perform(_run_in_caller)

    @classmethod
    def perform_now_sync(cls, *args: Any, **kwargs: Any) -> Any:
        job = cls(*args, **kwargs)
        job.executions = 1
        if inspect.iscoroutinefunction(cls.perform) or _has_async_callbacks(cls):
            async def run() -> Any:
                with context.entered(job._now_context()):
                    return await job._goodjob_perform(_run_in_caller)

            return get_runtime().run_sync(run)
        with context.entered(job._now_context()):
            job._call_sync(job.before_perform)
            result = job.perform(*args, **kwargs)
            job._call_sync(job.after_perform)
        return result

    def _now_context(self) -> context.JobContext:
        """What goodjob.current_job() shows under perform_now: no id, attempt 1."""
        return context.JobContext(id=None, job_class=self.job_name, attempt=1, queue=self.queue_name,
                                  priority=self.priority, labels=tuple(self.labels), batch_id=None,
                                  scheduled_at=None)

    # --- used by the worker ---------------------------------------------------------------------

    @classmethod
    def _goodjob_instance(
        cls,
        claimed: ClaimedJob,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        meta: Mapping[str, Any],
        shutting_down: Callable[[], bool],
    ) -> Job:
        job = cls(*args, **kwargs)
        job.job_id = claimed.id
        job.executions = claimed.executions_count
        job.scheduled_at = claimed.scheduled_at
        job.__dict__["queue_name"] = claimed.queue_name
        job.__dict__["priority"] = claimed.priority
        job.__dict__["labels"] = claimed.labels
        job.batch_id = claimed.batch_id
        if meta.get("batch_callback"):
            job.__dict__["_goodjob_batch_callback"] = True
        if meta.get("timeout") is not None:
            job.__dict__["timeout"] = float(meta["timeout"])
        job._shutting_down = shutting_down
        return job

    async def _goodjob_perform(self, run_in_thread: Callable[[Callable[[], Any]], Awaitable[Any]]) -> Any:
        """Run callbacks and perform; a sync perform goes to ``run_in_thread``."""
        if self.__dict__.get("_goodjob_batch_callback") and self.arguments:
            # A batch callback is enqueued with the batch id; it is performed with the batch itself.
            batch = await Batch.find(self.arguments[0])
            if batch is not None:
                self.arguments = (batch, *self.arguments[1:])
        cls = type(self)
        plain = _PLAIN_CALLBACKS.get(cls)
        if plain is None:  # worked out once per class: the per-job path of a drain stays short
            plain = _PLAIN_CALLBACKS[cls] = (
                cls.before_perform is Job.before_perform and cls.after_perform is Job.after_perform
                and cls.around_perform is Job.around_perform and inspect.iscoroutinefunction(cls.perform)
            )
        if plain and "perform" not in self.__dict__:
            return await self.perform(*self.arguments, **self.kwargs)
        await maybe_await(self.before_perform())

        async def call() -> Any:
            if inspect.iscoroutinefunction(self.perform):
                return await self.perform(*self.arguments, **self.kwargs)
            return await run_in_thread(functools.partial(self.perform, *self.arguments, **self.kwargs))

        result = await self.around_perform(call)
        await maybe_await(self.after_perform())
        return result

    def _goodjob_store_result(self, value: Any) -> str | None:
        """The return value as JSON text to keep in ``good_jobs.return_value``, or None to keep
        nothing (the default: goodjob jobs have no result API; Django tasks override this)."""
        return None

    @staticmethod
    def _call_sync(fn: Callable[[], Any]) -> None:
        value = fn()
        if inspect.isawaitable(value):
            raise TypeError(f"{fn!r} is async; use `await perform_now(...)` instead of perform_now_sync")


async def _run_in_caller(fn: Callable[[], Any]) -> Any:
    return fn()


def _checked_options(cls: type[Job], options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``set(...)`` options where the caller is: nothing is written with a value the row
    cannot hold (names, types and ranges; ``options.py`` words every error)."""
    if not options.keys() <= _SET_OPTION_NAMES:
        unknown = sorted(set(options) - _SET_OPTION_NAMES)
        raise TypeError(
            f"{cls.__name__}.set() got unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(_SET_OPTIONS)}"
        )
    if "priority" in options:
        check.priority(options["priority"])
    if "queue" in options:
        check.queue_name(options["queue"])
    if "timeout" in options:
        check.timeout(options["timeout"])
    if "labels" in options:
        options = {**options, "labels": check.labels(options["labels"])}
    return options


#: What ConfiguredJob._defaults works out once: queue, priority, labels, meta, wait, wait_until, plain,
#: and the uniform insert's shape and meta.
_Defaults = tuple[
    str, int, tuple[str, ...], dict[str, Any] | None, Any, Any, bool, tuple[Shape, dict[str, Any] | None] | None
]

#: ``Job.set(...)`` with plain options (queue, priority, timeout) and ``Job``'s own verbs, per class
#: and options: ``MyJob.set(queue="mail").perform_later(...)`` written at every call site then checks
#: its options and works out the class's defaults once, not per enqueue (13 -> 5 us a call, about
#: 3% of a single enqueue's client CPU). Values keyed with their types (``priority=True`` is not ``priority=1``);
#: an entry stands while the class attributes it was worked out from are the same (``_class_state``,
#: compared at every lookup, not in ``new()``: bulk enqueue calls that per job), so a class changed
#: later is seen by the next ``set()``. Cleared when full: a program that makes a queue name per
#: call only loses the saving.
_SET_CACHE: dict[tuple[Any, ...], tuple[ConfiguredJob, tuple[Any, ...]]] = {}
_SET_CACHE_SIZE = 1024
_CACHED_OPTIONS = frozenset(("queue", "priority", "timeout"))


def _configured(cls: type[Job], options: dict[str, Any]) -> ConfiguredJob:
    """``cls.set(**options)``, from _SET_CACHE where the options allow."""
    if options.keys() <= _CACHED_OPTIONS:
        key = (cls, *[(k, type(v), v) for k, v in options.items()])
        try:
            entry = _SET_CACHE.get(key)
        except TypeError:  # an unhashable value: set() below words the error
            pass
        else:
            state = _class_state(cls)
            if entry is not None and entry[1] == state:
                return entry[0]
            configured = ConfiguredJob(cls, {}).set(**options)
            if len(_SET_CACHE) >= _SET_CACHE_SIZE:
                _SET_CACHE.clear()
            _SET_CACHE[key] = (configured, state)
            return configured
    return ConfiguredJob(cls, {}).set(**options)


def _class_state(cls: type[Job]) -> tuple[Any, ...]:
    """The class attributes ``ConfiguredJob._defaults`` reads: a cached set() stands while these are the same."""
    return (cls.queue_name, cls.priority, cls.timeout, cls.labels, cls.__init__, cls.concurrency,
            cls.before_enqueue, cls.after_enqueue, cls.around_enqueue, cls.job_name)


#: Per job class: an async perform and none of the perform callbacks overridden (the base class's
#: are no-ops), so the worker awaits perform directly.
_PLAIN_CALLBACKS: dict[type[Any], bool] = {}


def _has_async_callbacks(cls: type[Job]) -> bool:
    names = ("before_perform", "after_perform")
    return any(inspect.iscoroutinefunction(getattr(cls, n)) for n in names) or (
        cls.around_perform is not Job.around_perform
    )


@dataclass(frozen=True)
class ConfiguredJob:
    """``Job.set(...)``: a job class with options for the next enqueue."""

    cls: type[Job]
    options: Mapping[str, Any] = field(default_factory=dict)

    def set(self, **options: Any) -> ConfiguredJob:
        merged = {**self.options, **_checked_options(self.cls, options)}
        check.scheduled_at(merged.get("wait"), merged.get("wait_until"))
        return ConfiguredJob(self.cls, merged)

    def _defaults(self) -> _Defaults:
        """What every job built from this ConfiguredJob shares, checked and worked out once (bulk
        enqueue builds thousands from one): queue, priority, labels, meta, wait, wait_until, and
        whether the class is plain (see :meth:`new`), and the shape of a uniform bulk insert."""
        cached: _Defaults | None = self.__dict__.get("_cached_defaults")
        if cached is None:
            cls, o = self.cls, self.options
            name = cls.__name__
            timeout = check.timeout(o.get("timeout", None))
            if timeout is None:
                check.timeout(cls.timeout, f"{name}.timeout")
            wait, wait_until = o.get("wait"), o.get("wait_until")
            if wait is not None or wait_until is not None:
                check.scheduled_at(wait, wait_until)  # validate once, here
            plain = (
                cls.__init__ is Job.__init__ and cls.concurrency is None
                and cls.before_enqueue is EnqueueHooks.before_enqueue
                and cls.after_enqueue is EnqueueHooks.after_enqueue
                and cls.around_enqueue is EnqueueHooks.around_enqueue
            )
            queue_name = check.queue_name(o.get("queue") or cls.queue_name, f"{name}.queue_name")
            priority = check.priority(o["priority"] if "priority" in o else cls.priority, f"{name}.priority")
            labels = tuple(o["labels"] if "labels" in o else check.labels(cls.labels, f"{name}.labels"))
            meta = {"timeout": timeout} if timeout is not None else None
            uniform = (Shape(cls.job_name, queue_name, priority, wait_until), meta) if not labels else None
            cached = (queue_name, priority, labels, meta, wait, wait_until, plain, uniform)
            object.__setattr__(self, "_cached_defaults", cached)
        return cached

    def new(self, *args: Any, **kwargs: Any) -> PendingJob:
        """The job's request, and its instance unless the class is plain: no enqueue callbacks, no
        concurrency rules, ``Job``'s own ``__init__``. Nothing then needs the instance before the
        job is performed (the worker builds its own), so it is made only if asked for
        (``PendingJob.job``); outside a Batch block and without a relative ``wait``, the request too
        (``PendingJob.request``): bulk enqueue builds one per job."""
        queue_name, priority, labels, meta, wait, wait_until, plain, _ = self._defaults()
        connection = self.options.get("connection") if self.options else None
        around = scope.current()  # inside a Batch block, or a cron occurrence
        if plain and wait is None and around is None:
            return PendingJob.deferred(self, args, kwargs, connection)
        cls = self.cls
        req = JobRequest(
            cls.job_name, args, kwargs, queue_name, priority,
            wait_until if wait is None else check.scheduled_at(wait, wait_until),
            None, labels, None, None, None, dict(meta) if meta is not None else None,
        )
        if around is not None:
            req.batch_id, req.cron_key, req.cron_at = around.batch_id, around.cron_key, around.cron_at
        if plain:
            return PendingJob(None, req, connection, self)
        job = self.instance(req)
        if cls.concurrency is not None:
            req.concurrency_key, req.concurrency = resolve_concurrency(cls, job)  # once, at enqueue
        return PendingJob(job, req, connection)

    def request_for(self, args: tuple[Any, ...], kwargs: dict[str, Any], job_id: UUID) -> JobRequest:
        """The request of a deferred pending job (see :meth:`new`): no batch, cron or relative wait."""
        queue_name, priority, labels, meta, _, wait_until, _, _ = self._defaults()
        return JobRequest(
            self.cls.job_name, args, kwargs, queue_name, priority, wait_until, None, labels, None, None, None,
            dict(meta) if meta is not None else None, job_id,
        )

    def uniform(self) -> tuple[Shape, Mapping[str, Any] | None] | None:
        """What a uniform bulk insert of this ConfiguredJob's deferred jobs shares (None: labels)."""
        return self._defaults()[7]

    def instance(self, request: JobRequest) -> Job:
        """The job object ``request`` describes, as its enqueue callbacks and concurrency rules see it."""
        job = self.cls(*request.args, **request.kwargs)
        job.job_id = request.id
        job.scheduled_at = request.scheduled_at
        job.batch_id = request.batch_id
        d = job.__dict__
        d["queue_name"] = request.queue_name
        d["priority"] = request.priority
        return job

    async def perform_later(self, *args: Any, **kwargs: Any) -> Enqueued:
        """Enqueue the job; returns a falsy :class:`Enqueued` if a callback refused it."""
        pending = self.new(*args, **kwargs)
        return await enqueue_one(pending)

    def perform_later_sync(self, *args: Any, **kwargs: Any) -> Enqueued:
        """``perform_later`` for synchronous code (scripts, WSGI apps, threads)."""
        if self.options.get("connection") is not None:
            raise TypeError("perform_later_sync cannot use an asyncpg connection; await perform_later")
        pending = self.new(*args, **kwargs)  # here, so that it sees this thread's Batch block
        return get_runtime().run_sync(lambda: enqueue_one(pending))
