"""Rows -> Django ``TaskResult``: how goodjob's job state reads in Django's vocabulary.

=========================  ==============================================================
goodjob                    Django ``TaskResult``
=========================  ==============================================================
state queued               READY (waiting, scheduled, or waiting for a retry)
state running              RUNNING
state succeeded            SUCCESSFUL, ``return_value`` from ``good_jobs.return_value``
state discarded            FAILED (retries used up, discarded, or not retried)
``created_at``             ``enqueued_at``
first attempt's start      ``started_at``
latest attempt's start     ``last_attempted_at``
``finished_at``            ``finished_at``
one execution row each     ``worker_ids`` (the process id; "interrupted" when a dead
                           process's attempt was recovered), so ``attempts`` counts them
failed executions          ``errors`` (exception class path and traceback, oldest first)
``-priority``              ``task.priority`` (goodjob runs smaller first, Django larger first)
=========================  ==============================================================
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from goodjob.core.serialize import load_arguments
from goodjob.core.storage import store
from goodjob.core.storage.db import Executor
from goodjob.core.types import ClaimedJob
from goodjob.django.compat import (
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
    InvalidTask,
    TaskError,
    TaskResult,
    TaskResultStatus,
)
from goodjob.django.errors import GoodJobResultDoesNotExist
from goodjob.django.lookup import resolve_task

_STATUS = {
    "queued": TaskResultStatus.READY,
    "running": TaskResultStatus.RUNNING,
    "succeeded": TaskResultStatus.SUCCESSFUL,
    "discarded": TaskResultStatus.FAILED,
}
INTERRUPTED_WORKER = "interrupted"


def django_priority(goodjob_priority: int) -> int:
    """Django's priority for a row: the negation, clamped to Django's -100..100."""
    return int(max(TASK_MIN_PRIORITY, min(TASK_MAX_PRIORITY, -goodjob_priority)))


def parse_id(result_id: Any) -> UUID:
    try:
        return UUID(str(result_id))
    except ValueError:
        raise GoodJobResultDoesNotExist(
            f"result id {result_id!r} is not a goodjob job id (a UUID such as a TaskResult.id)"
        ) from None


async def fetch(backend: Any, result_id: Any, ex: Executor) -> Any:
    """The current ``TaskResult`` of ``result_id`` (raises TaskResultDoesNotExist, naming it)."""
    job_id = parse_id(result_id)
    row = await store.get_job(ex, job_id)
    if row is None:
        raise GoodJobResultDoesNotExist(
            f"no task result {result_id!r}: never enqueued, its transaction has not committed yet "
            "(enqueue_on_commit), or its row was cleaned up (preserve_job_records, "
            "cleanup_preserved_jobs_before_seconds_ago)"
        )
    executions = await store.job_executions(ex, job_id)
    value = await store.job_return_value(ex, job_id) if row["state"] == "succeeded" else None
    return build(backend, row, executions, value)


async def running_result(backend: Any, claimed: ClaimedJob) -> Any:
    """The RUNNING result a worker hands to ``takes_context`` tasks and to Django's signals: read
    from the row being run, so ``attempts`` and ``errors`` include the earlier attempts."""
    from goodjob.core.runtime import get_runtime

    db = await get_runtime().database()
    row = await store.get_job(db.pool, claimed.id)
    executions = await store.job_executions(db.pool, claimed.id) if claimed.executions_count > 1 else []
    if row is None:  # deleted from the dashboard while being claimed: describe it from the claim
        row = {"id": claimed.id, "job_class": claimed.job_class, "queue_name": claimed.queue_name,
               "priority": claimed.priority, "params": claimed.params, "state": "running",
               "created_at": claimed.created_at, "performed_at": datetime.now(UTC), "finished_at": None,
               "locked_by_id": None}
    return build(backend, row, executions, None)


def build(backend: Any, row: Any, executions: list[Any], return_value: str | None) -> Any:
    path = row["job_class"]
    try:
        task = resolve_task(path)
    except (ImportError, LookupError) as exc:
        raise GoodJobResultDoesNotExist(
            f"job {row['id']} ({path}) is not a Django task this process can import: {exc}"
        ) from None
    data = json.loads(row["params"])
    args, kwargs = jsonable(load_arguments(data))
    meta = (data.get("meta") or {}).get("django") or {}
    task = _as_enqueued(task, row, meta)
    errors, workers = [], []
    for e in executions:
        if e["outcome"] == "throttled":
            continue  # a perform limit turned it away before it ran: not an attempt
        workers.append(str(e["process_id"]) if e["process_id"] is not None else INTERRUPTED_WORKER)
        if e["outcome"] != "succeeded" and (e["error_class"] or e["error"]):
            errors.append(TaskError(exception_class_path=_class_path(e["error_class"]),
                                    traceback=e["error_backtrace"] or e["error"] or ""))
    state = row["state"]
    if state == "running":
        workers.append(str(row["locked_by_id"]) if row["locked_by_id"] is not None else INTERRUPTED_WORKER)
    starts = [e["started_at"] for e in executions]
    if state == "running":
        starts.append(row["performed_at"])
    result = TaskResult(
        task=task,
        id=str(row["id"]),
        status=_STATUS[state],
        enqueued_at=row["created_at"],
        started_at=starts[0] if starts else None,
        finished_at=row["finished_at"] if state in ("succeeded", "discarded") else None,
        last_attempted_at=starts[-1] if starts else None,
        args=list(args),
        kwargs=kwargs,
        backend=meta.get("backend") or backend.alias,
        errors=errors,
        worker_ids=workers,
    )
    if return_value is not None:
        object.__setattr__(result, "_return_value", json.loads(return_value))
    return result


def jsonable(arguments: tuple[tuple[Any, ...], dict[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
    """Arguments as Django's contract has them: JSON. Rows written by Django are JSON already; rows
    goodjob wrote itself (a batch callback gets the batch's UUID) become their JSON text form."""
    args, kwargs = json.loads(json.dumps([list(arguments[0]), arguments[1]], default=str))
    return args, kwargs


def _as_enqueued(task: Any, row: Any, meta: Any) -> Any:
    """The module's task with this row's queue, priority and run_after (what ``using()`` gave)."""
    run_after = meta.get("run_after")
    try:
        return task.using(
            queue_name=row["queue_name"],
            priority=django_priority(row["priority"]),
            run_after=datetime.fromisoformat(run_after) if run_after else None,
            backend=meta.get("backend"),
        )
    except InvalidTask:  # e.g. the queue left QUEUES since: describe it with the module's task
        return task


def _class_path(name: str | None) -> str:
    """A dotted path Django's ``TaskError.exception_class`` can import (builtins have no module)."""
    if not name:
        return "builtins.Exception"
    return name if "." in name else f"builtins.{name}"
