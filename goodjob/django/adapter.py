"""How a Django task becomes a goodjob job, and how the worker runs it.

Each Django task (a ``@task`` function of a GoodJobBackend alias) gets one goodjob job class,
registered under the task's dotted path (``myapp.tasks.send_email``): rows store that path as their
``job_class``, so the dashboard, filters and ``cron`` entries name tasks as Django users know them,
and a worker finds the class by importing the task's module, as for any goodjob job. The class is
made when the module defines the task: :class:`GoodJobTask` is the backend's ``task_class``.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from goodjob.core import registry
from goodjob.core.features.concurrency_rules import Concurrency
from goodjob.core.policy import Rule
from goodjob.core.types import ClaimedJob
from goodjob.django.compat import Task, TaskError, TaskResultStatus, normalize, task_finished, task_started
from goodjob.django.errors import UnstorableResult
from goodjob.django.lookup import resolve_task
from goodjob.job import Job

F = TypeVar("F")
OPTIONS_ATTR = "__goodjob_options__"
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_classes: dict[str, type[DjangoTaskJob]] = {}


def goodjob_options(
    *,
    error_policy: Sequence[Rule] = (),
    concurrency: Concurrency | None = None,
    timeout: float | None = None,
    labels: Sequence[str] = (),
) -> Callable[[F], F]:
    """goodjob's job options for a Django task, above or below ``@task``.

    ``error_policy``: ``goodjob.retry_on`` / ``discard_on`` / ``rescue_from`` rules; ``concurrency``:
    a ``goodjob.Concurrency`` (its ``key`` callable receives the job: ``job.arguments`` and
    ``job.kwargs`` are the task's arguments); ``timeout`` in seconds; dashboard ``labels``. The
    options live on the function, so the same code still runs under Django's other backends.
    """
    chosen = {"error_policy": tuple(error_policy), "concurrency": concurrency, "timeout": timeout,
              "labels": tuple(labels)}

    def apply(target: F) -> F:
        func = target.func if isinstance(target, Task) else target
        setattr(func, OPTIONS_ATTR, chosen)
        if isinstance(target, Task) and target.module_path in _classes:
            job_class_for(target)  # @goodjob_options above @task: refresh the registered class
        return target

    return apply


def job_class_for(task: Any) -> type[DjangoTaskJob]:
    """The registered goodjob job class of ``task`` (made on first use, refreshed from its options)."""
    path: str = task.module_path
    cls = _classes.get(path)
    if cls is None:
        cls = type(task.func.__name__, (DjangoTaskJob,), {
            "job_name": path, "task_path": path, "__module__": task.func.__module__,
            "__qualname__": task.func.__qualname__, "__doc__": task.func.__doc__,
        })
        _classes[path] = cls
    chosen: Mapping[str, Any] = getattr(task.func, OPTIONS_ATTR, {})
    cls.error_policy = chosen.get("error_policy", ())
    cls.concurrency = chosen.get("concurrency")
    cls.timeout = chosen.get("timeout")
    cls.labels = chosen.get("labels", ())
    registry.register(path, cls)
    return cls


class GoodJobTask(Task):
    """Django's ``Task``; defining one also registers the goodjob job class that runs it."""

    def __post_init__(self) -> None:
        super().__post_init__()
        job_class_for(self)


class DjangoTaskJob(Job):
    """Runs one Django task per claimed row: context, signals, Django's connection hygiene."""

    job_name = "goodjob.django.adapter.DjangoTaskJob"
    task_path: ClassVar[str] = ""
    result_max_bytes: ClassVar[int | None] = None  # None: ask the task's backend
    _claimed: ClaimedJob
    _meta: Mapping[str, Any]

    @classmethod
    def _goodjob_instance(
        cls,
        claimed: ClaimedJob,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        meta: Mapping[str, Any],
        shutting_down: Callable[[], bool],
    ) -> Job:
        job = super()._goodjob_instance(claimed, args, kwargs, meta, shutting_down)
        job.__dict__["_claimed"] = claimed
        job.__dict__["_meta"] = meta.get("django") or {}
        return job

    def _backend(self, task: Any) -> Any:
        from goodjob.django.compat import task_backends

        return task_backends[self._meta.get("backend") or task.backend]

    async def _goodjob_perform(self, run_in_thread: Callable[[Callable[[], Any]], Awaitable[Any]]) -> Any:
        from goodjob.django import results

        task = resolve_task(self.task_path)
        backend = self._backend(task)
        result = await results.running_result(backend, self._claimed)
        args, kwargs = results.jsonable((self.arguments, self.kwargs))
        if result.task.takes_context:
            from goodjob.django.compat import TaskContext

            call_args: tuple[Any, ...] = (TaskContext(task_result=result), *args)
        else:
            call_args = tuple(args)
        if inspect.iscoroutinefunction(task.func):
            from asgiref.sync import sync_to_async
            from django.db import close_old_connections

            closer = sync_to_async(close_old_connections)
            await closer()
            task_started.send(sender=type(backend), task_result=result)
            try:
                value = await task.func(*call_args, **kwargs)
            except BaseException as exc:
                _finished(backend, result, exc)
                raise
            finally:
                await closer()
            _finished(backend, result, None, value)
            return value
        return await run_in_thread(functools.partial(_run_sync, backend, task, result, call_args, kwargs))

    def _goodjob_store_result(self, value: Any) -> str | None:
        """Django's JSON form of the return value, kept on the row (``get_result().return_value``)."""
        try:
            text = _ENCODE(normalize(value))
        except (TypeError, ValueError) as exc:
            raise UnstorableResult(
                f"{self.task_path} returned {_short(value)} ({type(value).__name__}), which is not JSON "
                f"({exc}); return JSON types (str, int, float, bool, None, list, dict)"
            ) from None
        limit = self.result_max_bytes or _limit_of(self)
        size = len(text.encode("utf-8"))
        if size > limit:
            raise UnstorableResult(
                f"{self.task_path} returned {size} bytes of JSON, over result_max_bytes={limit}; "
                "return less (store large data elsewhere and return its key), or raise the limit in "
                "TASKS OPTIONS"
            )
        return text


def _limit_of(job: DjangoTaskJob) -> int:
    try:
        backend = job._backend(resolve_task(job.task_path))
        return int(backend.goodjob_options.result_max_bytes)
    except (AttributeError, LookupError, ImportError):
        from goodjob.django.options import DEFAULT_RESULT_MAX_BYTES

        return DEFAULT_RESULT_MAX_BYTES


def _run_sync(backend: Any, task: Any, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A sync task in the pool's thread, between two ``close_old_connections`` (as Django's request
    cycle does), so a connection the database dropped or that outlived CONN_MAX_AGE is not reused."""
    from django.db import close_old_connections

    close_old_connections()
    try:
        task_started.send(sender=type(backend), task_result=result)
        try:
            value = task.func(*args, **kwargs)
        except BaseException as exc:
            _finished(backend, result, exc)
            raise
        _finished(backend, result, None, value)
        return value
    finally:
        close_old_connections()


def _finished(backend: Any, result: Any, exc: BaseException | None, value: Any = None) -> None:
    """Django's ``task_finished`` for this attempt (FAILED if it raised, even if goodjob retries it)."""
    now = datetime.now(UTC)
    object.__setattr__(result, "finished_at", now)
    if exc is None:
        object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
        try:
            object.__setattr__(result, "_return_value", normalize(value))
        except (TypeError, ValueError):
            pass  # _goodjob_store_result fails the attempt with the message
    else:
        import traceback

        kind = type(exc)
        result.errors.append(TaskError(exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
                                       traceback="".join(traceback.format_exception(exc))))
        object.__setattr__(result, "status", TaskResultStatus.FAILED)
    try:
        task_finished.send(sender=type(backend), task_result=result)
    except Exception:  # a receiver's bug must not change the task's outcome
        import logging

        logging.getLogger("goodjob").exception("goodjob: a task_finished receiver raised")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = ["DjangoTaskJob", "GoodJobTask", "goodjob_options", "job_class_for"]
