"""The job actions: retry, discard, cancel, reschedule, run_now, delete, for ids or a filter.

Each checks the job's state in the statement that changes it, so two operators acting at once
cannot, say, retry a job that was just deleted: a job in another state is counted and left alone.
Cancelling a running job only marks it and tells its process (NOTIFY; the heartbeat re-reads the
marks): the worker interrupts it and the recorder discards it (see core/worker/launcher.py).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from goodjob.core import admin
from goodjob.core.admin import Cursor
from goodjob.core.errors import JobNotFoundError, JobStateError
from goodjob.core.operations.records import Filter, JobRecord
from goodjob.core.storage import store_dashboard, store_operations
from goodjob.core.storage.db import Connection, Executor

DISCARD_ERROR = "discarded by operator"
CANCEL_ERROR = "cancelled by operator"
#: The states each action applies to (the SQL checks the same in its WHERE clause).
ACTIONS: dict[str, tuple[str, ...]] = {
    "retry": ("discarded",),
    "discard": ("scheduled", "queued", "retried"),
    "cancel": ("scheduled", "queued", "retried", "running"),
    "reschedule": ("scheduled", "queued", "retried"),
    "run_now": ("scheduled", "retried"),
    "delete": ("succeeded", "discarded"),
}
BULK_BATCH = 500


@dataclass
class ActionResult:
    """What an action did: the ids it changed, jobs left alone by state, ids not found.

    For ``cancel``, ``changed`` holds queued jobs discarded and running jobs asked to stop
    (``cancelling``: they are discarded when their worker has stopped them).
    """

    action: str
    changed_ids: list[UUID] = field(default_factory=list)
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    missing: int = 0
    more: bool = False  # a bulk action stopped at its time budget; running it again continues
    cancelling: list[UUID] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.changed_ids)


def check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")


async def apply(
    ex: Executor, action: str, ids: list[UUID], *, now: datetime | None = None, at: datetime | None = None,
) -> ActionResult:
    """Apply ``action`` to ``ids`` in one transaction; jobs in another state are counted, not touched.
    ``at`` is reschedule's new time (default: now)."""
    check_action(action)
    now = now or datetime.now(UTC)
    wanted = list(dict.fromkeys(ids))
    result = ActionResult(action)
    if not wanted:
        return result
    async with admin.connection(ex) as conn, conn.transaction():
        changed = await _apply(conn, action, wanted, now, at, result)
        rest = [i for i in wanted if i not in changed]
        states = await store_dashboard.dashboard_job_states(conn, rest) if rest else {}
    result.changed_ids = [i for i in wanted if i in changed]
    for job_id in rest:
        r = states.get(job_id)
        if r is None:
            result.missing += 1
        else:
            result.skipped[admin.job_status(r["state"], r["scheduled_at"], r["error"], now)] += 1
    return result


async def apply_one(ex: Executor, action: str, job_id: UUID, *, at: datetime | None = None) -> ActionResult:
    """:func:`apply` on one job; raises if it is missing or in a state the action does not take."""
    result = await apply(ex, action, [job_id], at=at)
    if result.missing:
        raise JobNotFoundError(f"there is no job {job_id} (deleted, or cleaned up after it finished)")
    if not result.changed:
        state = next(iter(result.skipped))
        raise wrong_state(action, job_id, state)
    return result


def wrong_state(action: str, job_id: UUID, state: str) -> JobStateError:
    accepted = ACTIONS[action]
    return JobStateError(
        f"job {job_id} is {state}: {action} applies to {', '.join(accepted[:-1])}"
        f"{' or ' if len(accepted) > 1 else ''}{accepted[-1]} jobs",
        job_id=job_id, state=state, accepted=accepted,
    )


async def apply_matching(
    ex: Executor, action: str, f: Filter, *, created_before: datetime | None = None,
    now: datetime | None = None, at: datetime | None = None, batch: int | None = None,
    budget_seconds: float = 20.0, on_progress: Callable[[int], object] | None = None,
) -> ActionResult:
    """Apply ``action`` to every job matching ``f`` created up to ``created_before`` (default: now).

    The batches walk the list with its keyset cursor (each job is visited once, whatever the action
    does to it) in short transactions. Jobs created after ``created_before`` (the moment the operator
    confirmed) are left alone, so a busy queue cannot keep the loop going forever; past
    ``budget_seconds`` it stops and reports ``more``. ``on_progress(jobs)`` gets the number of jobs
    visited so far after every batch.
    """
    check_action(action)
    total = ActionResult(action)
    created_before = created_before or datetime.now(UTC)
    deadline = time.monotonic() + budget_seconds
    cursor: Cursor | None = None
    jf = f.job_filter()
    while True:
        async with admin.reading(ex) as conn:
            page = await admin.list_jobs(conn, jf, after=cursor, limit=batch or BULK_BATCH, now=now,
                                         created_before=created_before)
        if page.jobs:
            done = await apply(ex, action, [j["id"] for j in page.jobs], now=now, at=at)
            total.changed_ids += done.changed_ids
            total.cancelling += done.cancelling
            total.missing += done.missing
            total.skipped.update(done.skipped)
            if on_progress is not None:
                on_progress(total.changed + total.missing + total.skipped.total())
        if page.next is None:
            return total
        cursor = page.next
        if time.monotonic() > deadline:
            total.more = True
            return total


async def _apply(
    conn: Connection, action: str, ids: list[UUID], now: datetime, at: datetime | None, result: ActionResult
) -> set[UUID]:
    if action == "retry":
        return set(await store_dashboard.dashboard_retry_jobs(conn, ids, now))
    if action == "discard":
        return set(await store_dashboard.dashboard_discard_jobs(conn, ids, now, DISCARD_ERROR))
    if action == "cancel":
        discarded = set(await store_dashboard.dashboard_discard_jobs(conn, ids, now, CANCEL_ERROR, "cancelled"))
        rest = [i for i in ids if i not in discarded]
        running = await store_operations.cancel_running(conn, rest, now) if rest else []
        result.cancelling = running
        return discarded | set(running)
    if action == "reschedule":
        return set(await store_operations.reschedule(conn, ids, at or now, now))
    if action == "run_now":
        return set(await store_dashboard.dashboard_run_jobs_now(conn, ids, now))
    return set(await store_dashboard.dashboard_delete_jobs(conn, ids))


__all__ = ["ACTIONS", "ActionResult", "JobRecord", "apply", "apply_matching", "apply_one"]
