"""``@goodjob.job``: a plain (``def`` or ``async def``) function made into a job class.

The function stays callable as it was; what the decorator returns also carries the job verbs
(``perform_later``, ``set``, ``new``, ``perform_now``) of the :class:`goodjob.Job` subclass it makes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from goodjob.core import registry
from goodjob.core.features.concurrency_rules import Concurrency
from goodjob.core.policy import Rule
from goodjob.core.types import Enqueued
from goodjob.job import ConfiguredJob, Job, PendingJob

__all__ = ["JobFunction", "job"]

P = ParamSpec("P")
R = TypeVar("R")


class JobFunction(Generic[P, R]):
    """What ``@goodjob.job`` returns: the function, still callable, plus the job verbs."""

    def __init__(self, fn: Callable[P, R], job_class: type[Job]) -> None:
        self.fn = fn
        self.job_class = job_class
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def set(self, **options: Any) -> ConfiguredJob:
        return self.job_class.set(**options)

    async def perform_later(self, *args: P.args, **kwargs: P.kwargs) -> Enqueued:
        return await self.job_class.perform_later(*args, **kwargs)

    def perform_later_sync(self, *args: P.args, **kwargs: P.kwargs) -> Enqueued:
        return self.job_class.perform_later_sync(*args, **kwargs)

    def new(self, *args: P.args, **kwargs: P.kwargs) -> PendingJob:
        return self.job_class.new(*args, **kwargs)

    async def perform_now(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return await self.job_class.perform_now(*args, **kwargs)


@overload
def job(fn: Callable[P, R], /) -> JobFunction[P, R]: ...
@overload
def job(
    *,
    queue: str = ...,
    priority: int = ...,
    timeout: float | None = ...,
    labels: Sequence[str] = ...,
    error_policy: Sequence[Rule] = ...,
    concurrency: Concurrency | None = ...,
    name: str | None = ...,
    base: type[Job] = ...,
) -> Callable[[Callable[P, R]], JobFunction[P, R]]: ...
def job(fn: Any = None, /, **options: Any) -> Any:
    """Turn a plain (``def`` or ``async def``) function into a job."""
    if fn is None:
        return lambda f: _make_function_job(f, **options)
    return _make_function_job(fn, **options)


def _make_function_job(
    fn: Callable[..., Any],
    *,
    queue: str | None = None,
    priority: int | None = None,
    timeout: float | None = None,
    labels: Sequence[str] | None = None,
    error_policy: Sequence[Rule] | None = None,
    concurrency: Concurrency | None = None,
    name: str | None = None,
    base: type[Job] = Job,
) -> JobFunction[Any, Any]:
    attrs: dict[str, Any] = {
        "job_name": name or registry.job_name(fn),
        "__module__": fn.__module__,
        "__qualname__": fn.__qualname__,
        "__doc__": fn.__doc__,
    }
    if inspect.iscoroutinefunction(fn):

        async def perform_async(self: Job, *args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **kwargs)

        attrs["perform"] = perform_async
    else:

        def perform_sync(self: Job, *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        attrs["perform"] = perform_sync
    for key, value in (
        ("queue_name", queue), ("priority", priority), ("timeout", timeout),
        ("labels", tuple(labels) if labels is not None else None),
        ("error_policy", tuple(error_policy) if error_policy is not None else None),
        ("concurrency", concurrency),
    ):
        if value is not None:
            attrs[key] = value
    cls = type(fn.__name__, (base,), attrs)
    return JobFunction(fn, cls)
