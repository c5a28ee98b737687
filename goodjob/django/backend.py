"""``goodjob.django.GoodJobBackend``: Django's Tasks framework on goodjob's queue.

``TASKS = {"default": {"BACKEND": "goodjob.django.GoodJobBackend", "QUEUES": [...], "OPTIONS": {...}}}``
(OPTIONS: see :mod:`goodjob.django.options`).

One ``enqueue`` is one goodjob row plus its NOTIFY, written through goodjob's own enqueue path (so
batches, labels and enqueue concurrency limits apply). Transactions: goodjob writes on its own
asyncpg connection, which cannot join the psycopg transaction Django's ORM has open, so inside
``transaction.atomic()`` on the backend's database alias the row is written by
``transaction.on_commit`` (``enqueue_on_commit``, the default): a rolled-back transaction leaves no
job, and a worker never sees a job before the rows it refers to are committed. Outside a
transaction (autocommit) the row is written before ``enqueue`` returns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from goodjob.core.types import Enqueued
from goodjob.django.adapter import GoodJobTask, job_class_for
from goodjob.django.compat import (
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
    BaseTaskBackend,
    InvalidTask,
    TaskResult,
    TaskResultStatus,
    normalize,
    task_enqueued,
)
from goodjob.django.errors import EnqueueRefused, InvalidGoodJobTask, UnserializableArguments
from goodjob.django.options import BackendOptions, apply, parse_options
from goodjob.job import ConfiguredJob
from goodjob.pending import PendingJob, enqueue_one

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class GoodJobBackend(BaseTaskBackend):
    """Django Tasks backend storing tasks as goodjob jobs (run them with ``goodjob start``)."""

    task_class = GoodJobTask
    supports_defer = True  # run_after -> the row's scheduled_at
    supports_async_task = True  # async def tasks run on the worker's event loop
    supports_get_result = True  # from any process, while the row is kept (preserve_job_records)
    supports_priority = True  # -priority -> goodjob's priority (smaller runs first)

    def __init__(self, alias: str, params: Mapping[str, Any]) -> None:
        super().__init__(alias, params)
        self.goodjob_options: BackendOptions = parse_options(alias, self.options)
        # Results are only readable while finished rows are kept.
        self.supports_get_result = self.goodjob_options.goodjob.get("preserve_job_records") is True
        apply(alias, self.goodjob_options)

    # --- validation: Django's rules, goodjob's messages --------------------------------------

    def validate_task(self, task: Any) -> None:
        where = f"task {task.module_path}"
        if self.queues and task.queue_name not in self.queues:
            raise InvalidGoodJobTask(
                f"queue_name={task.queue_name!r} of {where} is not in TASKS[{self.alias!r}]['QUEUES'] "
                f"({', '.join(sorted(self.queues))}); add it there or pick one of those"
            )
        run_after = task.run_after
        if run_after is not None and (not isinstance(run_after, datetime) or run_after.utcoffset() is None):
            raise InvalidGoodJobTask(
                f"run_after={run_after!r} of {where} has no time zone; pass an aware datetime "
                "(django.utils.timezone.now() + timedelta(...))"
            )
        priority = task.priority
        if isinstance(priority, bool) or not isinstance(priority, int) or not (
            TASK_MIN_PRIORITY <= priority <= TASK_MAX_PRIORITY
        ):
            raise InvalidGoodJobTask(
                f"priority={priority!r} of {where} must be a whole number from {TASK_MIN_PRIORITY} "
                f"to {TASK_MAX_PRIORITY} (larger runs sooner)"
            )
        try:
            super().validate_task(task)
        except InvalidTask as exc:
            if isinstance(exc, InvalidGoodJobTask):
                raise
            raise InvalidGoodJobTask(f"{where}: {exc}") from None

    # --- enqueue -------------------------------------------------------------------------------

    def enqueue(self, task: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        pending, result = self._prepare(task, args, kwargs)
        if self._in_transaction():
            from django.db import transaction

            transaction.on_commit(lambda: self._write_sync(pending, result), using=self.goodjob_options.database)
        else:
            self._write_sync(pending, result)
        return result

    async def aenqueue(self, task: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        pending, result = self._prepare(task, args, kwargs)
        if self._in_transaction():  # an atomic block around a sync_to_async caller
            from django.db import transaction

            transaction.on_commit(lambda: self._write_sync(pending, result), using=self.goodjob_options.database)
        else:
            self._written(await enqueue_one(pending), pending, result)
        return result

    def _in_transaction(self) -> bool:
        if not self.goodjob_options.enqueue_on_commit:
            return False
        from django.db import connections

        return bool(connections[self.goodjob_options.database].in_atomic_block)

    def _prepare(self, task: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[PendingJob, Any]:
        """Validate and encode in the caller (bad input raises here, nothing is written), and build
        the row through goodjob's ``ConfiguredJob.new`` (it picks up an enclosing Batch block)."""
        self.validate_task(task)
        args_json, kwargs_json = self._arguments(task, args, kwargs)
        options: dict[str, Any] = {"queue": task.queue_name, "priority": -task.priority}
        if task.run_after is not None:
            options["wait_until"] = task.run_after
        pending = ConfiguredJob(job_class_for(task), options).new(*args_json, **kwargs_json)
        meta: dict[str, Any] = {"backend": self.alias}
        if task.run_after is not None:
            meta["run_after"] = task.run_after.astimezone(UTC).isoformat()
        pending.request.meta = {**(pending.request.meta or {}), "django": meta}
        result = TaskResult(
            task=task,
            id=str(pending.request.id),
            status=TaskResultStatus.READY,
            enqueued_at=datetime.now(UTC),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args_json,
            kwargs=kwargs_json,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        return pending, result

    @staticmethod
    def _arguments(task: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Django's contract: arguments are JSON. Round-trip them now, so the task receives exactly
        what any Django backend would give it, and a bad one is named before anything is written."""
        named = [(f"args[{i}]", value) for i, value in enumerate(args)]
        named += [(f"kwargs[{key!r}]", value) for key, value in kwargs.items()]
        for label, value in named:
            try:
                _ENCODE(normalize(value))
            except (TypeError, ValueError) as exc:
                shown = repr(value)
                shown = shown if len(shown) <= 80 else shown[:77] + "..."
                raise UnserializableArguments(
                    f"argument {label}={shown} ({type(value).__name__}) of task {task.module_path} is "
                    f"not JSON ({exc}); pass JSON types (str, int, float, bool, None, list, dict), "
                    "e.g. an id instead of a model instance"
                ) from None
        for key in kwargs:
            if not isinstance(key, str):
                raise UnserializableArguments(f"keyword {key!r} of task {task.module_path} is not a str")
        decoded = json.loads(_ENCODE([normalize(list(args)), normalize(dict(kwargs))]))
        return decoded[0], decoded[1]

    def _write_sync(self, pending: PendingJob, result: Any) -> None:
        from goodjob.core.runtime import get_runtime

        self._written(get_runtime().run_sync(lambda: enqueue_one(pending)), pending, result)

    def _written(self, enqueued: Enqueued, pending: PendingJob, result: Any) -> None:
        if not enqueued:
            raise EnqueueRefused(
                f"goodjob refused task {pending.request.job_class} ({result.id}): {enqueued.reason}"
            )
        task_enqueued.send(type(self), task_result=result)

    # --- results -------------------------------------------------------------------------------

    def get_result(self, result_id: str) -> Any:
        from goodjob.core.runtime import get_runtime

        return get_runtime().run_sync(lambda: self.aget_result(result_id))

    async def aget_result(self, result_id: str) -> Any:
        from goodjob.core.runtime import get_runtime
        from goodjob.django import results

        db = await get_runtime().database()
        return await results.fetch(self, result_id, db.pool)


