"""``goodjob.jobs``: read and operate jobs from code. The dashboard and the CLI use it too.

Every function is async and has a ``_sync`` twin for scripts, WSGI apps and threads::

    job = await goodjob.jobs.get(job_id)                  # a frozen JobRecord, or None
    page = await goodjob.jobs.find(state="discarded", queue="mail", limit=100)
    more = await goodjob.jobs.find(state="discarded", queue="mail", after=page[-1])
    await goodjob.jobs.retry(job_id)                      # JobStateError if it is not discarded
    result = goodjob.jobs.retry_all_sync(state="discarded", job_class=SendEmail)

``database=`` takes an asyncpg pool or connection (a caller's transaction, the dashboard's pool);
without it the configured database is used. Actions on one job raise :class:`JobNotFoundError` or
:class:`JobStateError` (naming the job, its state and the states the action takes); actions over a
filter return an :class:`ActionResult` (the ids changed, the jobs skipped by state).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from goodjob.core import operations
from goodjob.core.admin import Cursor
from goodjob.core.errors import GoodJobError, JobNotFoundError, JobStateError
from goodjob.core.operations import actions, reads
from goodjob.core.operations.actions import ACTIONS, ActionResult
from goodjob.core.operations.records import STATES, Execution, Filter, JobRecord, parse_id
from goodjob.core.storage.db import Executor

__all__ = [
    "ACTIONS", "STATES", "ActionResult", "Execution", "Filter", "JobNotFoundError", "JobRecord", "JobStateError",
    "cancel", "cancel_all", "cancel_all_sync", "cancel_sync", "count", "count_sync", "delete", "delete_all",
    "delete_all_sync", "delete_sync", "discard", "discard_all", "discard_all_sync", "discard_sync", "find",
    "find_sync", "get", "get_sync", "reschedule", "reschedule_all", "reschedule_all_sync", "reschedule_sync",
    "retry", "retry_all", "retry_all_sync", "retry_sync",
]

P = ParamSpec("P")
T = TypeVar("T")


def _twin(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The ``_sync`` twin of an async API function (runs it on goodjob's sync bridge)."""

    @functools.wraps(fn)
    def sync(*args: P.args, **kwargs: P.kwargs) -> T:
        return operations.run_sync(lambda: fn(*args, **kwargs))

    sync.__name__ = sync.__qualname__ = f"{fn.__name__}_sync"
    return sync


def _filter(f: Filter | None, state: str | None, queue: str | None, job_class: Any, label: str | None,
            batch_id: UUID | str | None, cron_key: str | None, search: str | None) -> Filter:
    given = dict(state=state, queue=queue, job_class=job_class, label=label, batch_id=batch_id,
                 cron_key=cron_key, search=search)
    if f is None:
        return Filter(**given)
    if any(v is not None for v in given.values()):
        raise GoodJobError("give a Filter or filter keywords, not both")
    return f


# --- reads ----------------------------------------------------------------------------------------


async def get(job_id: UUID | str, *, executions: bool = False, database: Executor | None = None) -> JobRecord | None:
    """The job, or None. ``executions=True`` also reads its attempts (oldest first)."""
    return await reads.get(await operations.executor(database), job_id, executions=executions)


async def find(
    filter: Filter | None = None, *, state: str | None = None, queue: str | None = None, job_class: Any = None,
    label: str | None = None, batch_id: UUID | str | None = None, cron_key: str | None = None,
    search: str | None = None, limit: int = 50, after: JobRecord | Cursor | None = None,
    executions: bool = False, database: Executor | None = None,
) -> list[JobRecord]:
    """Up to ``limit`` jobs matching the filter, newest first (the "queued" state by due time, the
    "scheduled" state next-to-run first). ``after=`` the last record of a page reads the next one."""
    f = _filter(filter, state, queue, job_class, label, batch_id, cron_key, search)
    return await reads.find(await operations.executor(database), f, limit=limit, after=after, executions=executions)


async def count(
    filter: Filter | None = None, *, state: str | None = None, queue: str | None = None, job_class: Any = None,
    label: str | None = None, batch_id: UUID | str | None = None, cron_key: str | None = None,
    search: str | None = None, database: Executor | None = None,
) -> int:
    """How many jobs match (exact)."""
    f = _filter(filter, state, queue, job_class, label, batch_id, cron_key, search)
    return await reads.count(await operations.executor(database), f)


# --- actions on one job ---------------------------------------------------------------------------


async def _one(action: str, job_id: UUID | str, database: Executor | None, at: datetime | None = None) -> JobRecord:
    ex = await operations.executor(database)
    ident = parse_id(job_id)
    before = await reads.get(ex, ident) if action == "delete" else None
    await actions.apply_one(ex, action, ident, at=at)
    after = before if action == "delete" else await reads.get(ex, ident)
    if after is None:  # deleted meanwhile
        raise JobNotFoundError(f"job {ident} was deleted while {action} ran")
    return after


async def retry(job_id: UUID | str, *, database: Executor | None = None) -> JobRecord:
    """A discarded job runs again, now (its history stays)."""
    return await _one("retry", job_id, database)


async def discard(job_id: UUID | str, *, database: Executor | None = None) -> JobRecord:
    """A waiting job (scheduled, queued, retried) is discarded without running."""
    return await _one("discard", job_id, database)


async def cancel(job_id: UUID | str, *, database: Executor | None = None) -> JobRecord:
    """A waiting job is discarded ("cancelled by operator"); a running one is stopped by its worker
    (an ``async def`` job's task is cancelled, a ``def`` job sees ``current_job().cancelled``) and then
    discarded. The returned record of a running job has ``cancel_requested`` set; it never runs again."""
    return await _one("cancel", job_id, database)


async def reschedule(
    job_id: UUID | str, at: datetime | timedelta | None = None, *, database: Executor | None = None
) -> JobRecord:
    """A waiting job runs at ``at`` (an aware datetime, or a delay from now); None: now."""
    return await _one("reschedule", job_id, database, _when(at))


async def delete(job_id: UUID | str, *, database: Executor | None = None) -> JobRecord:
    """A finished job (succeeded, discarded) and its executions are deleted; returns it as it was."""
    return await _one("delete", job_id, database)


def _when(at: datetime | timedelta | None) -> datetime | None:
    if isinstance(at, timedelta):
        return datetime.now(UTC) + at
    if at is not None and at.tzinfo is None:
        raise GoodJobError(f"at={at!r} has no time zone; pass an aware datetime (e.g. UTC)")
    return at


# --- actions over a filter ------------------------------------------------------------------------


def _bulk(action: str) -> Callable[..., Coroutine[Any, Any, ActionResult]]:
    async def bulk(
        filter: Filter | None = None, *, state: str | None = None, queue: str | None = None,
        job_class: Any = None, label: str | None = None, batch_id: UUID | str | None = None,
        cron_key: str | None = None, search: str | None = None, created_before: datetime | None = None,
        at: datetime | timedelta | None = None, database: Executor | None = None,
    ) -> ActionResult:
        f = _filter(filter, state, queue, job_class, label, batch_id, cron_key, search)
        ex = await operations.executor(database)
        return await actions.apply_matching(ex, action, f, created_before=created_before, at=_when(at))

    bulk.__name__ = bulk.__qualname__ = f"{action}_all"
    bulk.__doc__ = (f"{action} every job matching the filter (those in the states {action} takes; the others are "
                    "counted in ``skipped``), created up to ``created_before`` (default: now).")
    return bulk


retry_all = _bulk("retry")
discard_all = _bulk("discard")
cancel_all = _bulk("cancel")
reschedule_all = _bulk("reschedule")
delete_all = _bulk("delete")

get_sync = _twin(get)
find_sync = _twin(find)
count_sync = _twin(count)
retry_sync = _twin(retry)
discard_sync = _twin(discard)
cancel_sync = _twin(cancel)
reschedule_sync = _twin(reschedule)
delete_sync = _twin(delete)
retry_all_sync = _twin(retry_all)
discard_all_sync = _twin(discard_all)
cancel_all_sync = _twin(cancel_all)
reschedule_all_sync = _twin(reschedule_all)
delete_all_sync = _twin(delete_all)
