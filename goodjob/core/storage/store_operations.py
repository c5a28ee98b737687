"""Named queries of ``sql/operations.sql``: whole job rows and the job API's own actions (cancel,
reschedule), plus the heartbeat's look-up of cancelled jobs. See ``goodjob/core/operations/``."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from goodjob.core.storage.db import Executor, Record
from goodjob.core.storage.sql_files import sql
from goodjob.core.storage.store import fetch_fresh_plan


async def jobs_by_id(ex: Executor, ids: list[UUID]) -> dict[UUID, Record]:
    return {r["id"]: r for r in await ex.fetch(sql("operations_jobs"), ids)}


async def executions_of(ex: Executor, ids: list[UUID]) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("operations_executions"), ids)
    return rows


async def cancel_running(ex: Executor, ids: list[UUID], now: datetime) -> list[UUID]:
    """Mark running jobs cancelled and NOTIFY their owners; the ids marked."""
    return [r["id"] for r in await ex.fetch(sql("operations_cancel_running"), ids, now)]


async def reschedule(ex: Executor, ids: list[UUID], at: datetime, now: datetime) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("operations_reschedule"), ids, at, now)]


async def heartbeat_cancelled(ex: Executor, process_id: UUID) -> list[UUID]:
    """This process's running jobs that an operator cancelled."""
    return [r["id"] for r in await ex.fetch(sql("heartbeat_cancelled"), process_id)]


# --- goodjob.testing --------------------------------------------------------------------------------


async def testing_enqueued(ex: Executor, job_class: str | None) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("testing_enqueued"), job_class)
    return rows


async def testing_waiting(ex: Executor, queue: str | None, limit: int) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("testing_waiting_ids"), queue, limit)
    return rows


async def testing_truncate(ex: Executor) -> None:
    await ex.execute(sql("testing_truncate"))


# --- goodjob.metrics ------------------------------------------------------------------------------


async def metrics_cluster(ex: Executor, now: datetime, cap: int) -> list[Record]:
    return await fetch_fresh_plan(ex, sql("metrics_cluster"), now, cap)
