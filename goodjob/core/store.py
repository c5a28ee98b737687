"""Named queries: one function per block of ``sql/queries.sql``; the only module that names SQL.

Functions take an :data:`~goodjob.core.db.Executor` (a pool or a connection) so that callers decide
about transactions; nothing here opens or commits one by itself.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from importlib import resources
from typing import Any
from uuid import UUID

from goodjob.core.db import Executor, Record

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@functools.cache
def queries() -> dict[str, str]:
    """All named queries, parsed once from the package's ``sql/*.sql`` (``schema.sql`` aside)."""
    named: dict[str, str] = {}
    folder = resources.files("goodjob.core.sql")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql") or entry.name == "schema.sql":
            continue
        parts = _NAME.split(entry.read_text("utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in named:
                raise RuntimeError(f"query {name!r} is defined twice ({entry.name})")
            lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
            named[name] = "\n".join(lines).strip().rstrip(";")
    return named


def sql(name: str) -> str:
    return queries()[name]


# --- enqueue ------------------------------------------------------------------------------------


async def insert_job(
    ex: Executor,
    *,
    id: UUID,
    queue_name: str,
    priority: int,
    job_class: str,
    params: str,
    scheduled_at: datetime,
    concurrency_key: str | None,
    labels: list[str] | None,
    batch_id: UUID | None,
    cron_key: str | None,
    cron_at: datetime | None,
    now: datetime,
) -> bool:
    """Insert one job and NOTIFY; False if a row with that id (or cron key and time) exists."""
    row = await ex.fetchrow(
        sql("insert_job"), id, queue_name, priority, job_class, params, scheduled_at,
        concurrency_key, labels, batch_id, cron_key, cron_at, now,
    )
    return row is not None


async def insert_jobs(ex: Executor, columns: tuple[list[Any], ...], now: datetime) -> int:
    """Bulk insert from column arrays (see :func:`goodjob.core.enqueue.bulk_columns`)."""
    row = await ex.fetchrow(sql("insert_jobs"), *columns, now)
    ids = row["ids"] if row is not None else None
    return len(ids) if ids else 0


# --- claim --------------------------------------------------------------------------------------


async def claim_all(
    ex: Executor, limit: int, now: datetime, process_id: UUID, skip_queues: list[str]
) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("claim_all"), limit, now, process_id, skip_queues)
    return rows


async def claim_queues(
    ex: Executor, limit: int, now: datetime, process_id: UUID, queues: list[str], ordered: bool
) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("claim_queues"), limit, now, process_id, queues, ordered)
    return rows


async def waiting_queue_names(ex: Executor) -> list[str]:
    return [r["name"] for r in await ex.fetch(sql("waiting_queue_names"))]


async def claim_job(ex: Executor, job_id: UUID, now: datetime, process_id: UUID) -> Record | None:
    return await ex.fetchrow(sql("claim_job"), job_id, now, process_id)


async def due_job_ids(ex: Executor, now: datetime, limit: int) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("due_job_ids"), now, limit)]


async def future_scheduled(ex: Executor, now: datetime, limit: int) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("future_scheduled"), now, limit)
    return rows


# --- results ------------------------------------------------------------------------------------


async def delete_finished(ex: Executor, ids: list[UUID], process_id: UUID) -> None:
    await ex.execute(sql("delete_finished"), ids, process_id)


async def record_results(
    ex: Executor, columns: tuple[list[Any], ...], now: datetime, process_id: UUID
) -> list[UUID]:
    rows = await ex.fetch(sql("record_results"), *columns, now, process_id)
    return [r["id"] for r in rows]


async def insert_executions(ex: Executor, process_id: UUID | None, columns: tuple[list[Any], ...]) -> None:
    await ex.execute(sql("insert_executions"), process_id, *columns)


async def release_own_jobs(ex: Executor, ids: list[UUID], process_id: UUID, now: datetime) -> None:
    await ex.execute(sql("release_own_jobs"), ids, process_id, now)


# --- processes ----------------------------------------------------------------------------------


async def register_process(
    ex: Executor, *, id: UUID, hostname: str, pid: int, queues: str, max_threads: int, lock_key: int,
    execution_mode: str, now: datetime,
) -> None:
    await ex.execute(
        sql("register_process"), id, hostname, pid, queues, max_threads, lock_key, execution_mode, now
    )


async def lock_process(ex: Executor, lock_key: int) -> bool:
    return bool(await ex.fetchval(sql("lock_process"), lock_key))


async def heartbeat(ex: Executor, process_id: UUID, now: datetime) -> bool:
    return await ex.fetchval(sql("heartbeat"), process_id, now) is not None


async def deregister_process(ex: Executor, process_id: UUID) -> None:
    await ex.execute(sql("deregister_process"), process_id)


async def dead_processes(ex: Executor, own_id: UUID, stale_before: datetime) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("dead_processes"), own_id, stale_before)]


async def orphaned_running_jobs(ex: Executor, locked_before: datetime) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("orphaned_running_jobs"), locked_before)]


async def release_jobs_of(
    ex: Executor, process_ids: list[UUID], job_ids: list[UUID], now: datetime, error: str
) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("release_jobs_of"), process_ids, job_ids, now, error)
    return rows


async def delete_processes(ex: Executor, ids: list[UUID]) -> None:
    await ex.execute(sql("delete_processes"), ids)


# --- reads --------------------------------------------------------------------------------------


async def get_job(ex: Executor, job_id: UUID) -> Record | None:
    return await ex.fetchrow(sql("get_job"), job_id)


async def job_executions(ex: Executor, job_id: UUID) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("job_executions"), job_id)
    return rows


async def schema_version(ex: Executor) -> int:
    return int(await ex.fetchval(sql("schema_version")))


# --- admin --------------------------------------------------------------------------------------


async def cleanup_batch(ex: Executor, cutoff: datetime, limit: int) -> int:
    status = await ex.execute(sql("cleanup_batch"), cutoff, limit)
    return int(status.split()[-1])
