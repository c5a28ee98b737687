"""Named queries: one function per block of ``sql/*.sql``; with ``store_dashboard`` (the dashboard's
and operators' reads and actions), the only modules that name SQL.

Functions take an :data:`~goodjob.core.storage.db.Executor` (a pool or a connection) so that callers decide
about transactions; nothing here opens or commits one by itself.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from goodjob.core.storage.channels import queue_channel
from goodjob.core.storage.db import Connection, Executor, QuickLane, Record, is_connection
from goodjob.core.storage.sql_files import sql as sql  # re-exported: store.sql(name) is the usual spelling

# --- enqueue ------------------------------------------------------------------------------------


async def insert_job(
    ex: Executor | QuickLane,
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
        concurrency_key, labels, batch_id, cron_key, cron_at, now, queue_channel(queue_name),
    )
    return row is not None


async def insert_jobs(
    ex: Executor, columns: tuple[Any, ...], now: datetime, notifications: list[tuple[str, str]]
) -> None:
    """Bulk insert from column arrays (see :func:`goodjob.core.enqueue.bulk_columns`);
    ``notifications``: (queue, payload) per queue."""
    await ex.execute(
        sql("insert_jobs"), *columns, now, [p for _, p in notifications], [queue_channel(q) for q, _ in notifications]
    )


async def insert_jobs_uniform(
    ex: Executor, ids: list[UUID], params_array: str, queue_name: str, priority: int, job_class: str,
    scheduled_at: datetime, notification: str, now: datetime,
) -> None:
    """Bulk insert of jobs that differ only in id and arguments (see ``insert_jobs_uniform``);
    ``params_array``: the jobs' serialized params as one JSON array, in the order of ``ids``."""
    await ex.execute(
        sql("insert_jobs_uniform"), ids, params_array, queue_name, priority, job_class, scheduled_at, notification, now,
        queue_channel(queue_name),
    )


# --- claim --------------------------------------------------------------------------------------


async def waiting_queue_names(ex: Executor) -> list[str]:
    return [r["name"] for r in await ex.fetch(sql("waiting_queue_names"))]


async def claim_job(ex: Executor, job_id: UUID, now: datetime, process_id: UUID) -> Record | None:
    return await ex.fetchrow(sql("claim_job"), job_id, now, process_id)


async def due_job_ids(ex: Executor, now: datetime, limit: int) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("due_job_ids"), now, limit)]


async def future_scheduled(ex: Executor, now: datetime, limit: int) -> list[Record]:
    return await fetch_fresh_plan(ex, sql("future_scheduled"), now, limit)


async def fetch_fresh_plan(ex: Executor, query: str, *args: Any) -> list[Record]:
    """A read planned for its own parameters every time and without JIT compilation, in a
    transaction of its own (or the caller's). For the reads that merge one index range per
    priority: a generic plan may cover the ranges with the wrong claim index and sort (a worker's
    cache warm-up would then read every future job), and their estimates (a hundred ranges,
    whatever the data) pass ``jit_above_cost``: Postgres spent 70-180 ms compiling reads that run in
    a few (1M rows)."""
    if is_connection(ex):
        return await _fetch_fresh_plan(cast(Connection, ex), query, args)
    async with ex.acquire() as conn:
        return await _fetch_fresh_plan(conn, query, args)


async def _fetch_fresh_plan(conn: Connection, query: str, args: tuple[Any, ...]) -> list[Record]:
    async with conn.transaction():
        await conn.fetchrow(sql("fresh_plan_session"))
        rows: list[Record] = await conn.fetch(query, *args)
        return rows


# --- results ------------------------------------------------------------------------------------


async def delete_finished(ex: Executor, ids: list[UUID], process_id: UUID) -> list[UUID]:
    """Delete these finished rows if this process still holds them; the ids deleted."""
    rows = await ex.fetch(sql("delete_finished"), ids, process_id)
    return [r["id"] for r in rows]


async def record_results(
    ex: Executor, columns: tuple[list[Any], ...], now: datetime, process_id: UUID
) -> list[UUID]:
    rows = await ex.fetch(sql("record_results"), *columns, now, process_id)
    return [r["id"] for r in rows]


async def record_outcomes(
    ex: Executor, gone: list[UUID], process_id: UUID, results: tuple[list[Any], ...], now: datetime,
    executions: tuple[list[Any], ...],
) -> set[UUID]:
    """Delete, update and record history in one statement; returns the ids of the updated rows."""
    rows = await ex.fetch(sql("record_outcomes"), gone, process_id, *results, now, *executions)
    return {r["id"] for r in rows}


async def insert_executions(ex: Executor, process_id: UUID | None, columns: tuple[list[Any], ...]) -> None:
    await ex.execute(sql("insert_executions"), process_id, *columns)


async def record_return_values(ex: Executor, ids: list[UUID], values: list[str]) -> None:
    await ex.execute(sql("record_return_values"), ids, values)


async def job_return_value(ex: Executor, job_id: UUID) -> str | None:
    value: str | None = await ex.fetchval(sql("job_return_value"), job_id)
    return value


async def release_own_jobs(ex: Executor, ids: list[UUID], process_id: UUID, now: datetime) -> None:
    await ex.execute(sql("release_own_jobs"), ids, process_id, now)


async def release_claims(ex: Executor, process_id: UUID, stamps: list[datetime], now: datetime) -> list[Record]:
    return list(await ex.fetch(sql("release_claims"), process_id, stamps, now))


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


async def heartbeat(ex: Executor, process_id: UUID) -> bool:
    return await ex.fetchval(sql("heartbeat"), process_id) is not None


async def heartbeat_sweep(
    ex: Executor, process_id: UUID, *, mode: str, leader: bool, sweeper_key: int, lease: float, grace: float,
    digest: str, inline_age: float, orphan_age: float,
) -> Record:
    """The heartbeat, the sweeper's suspects and orphans, the members and the pauses in one statement."""
    row: Record = await ex.fetchrow(
        sql("heartbeat_sweep"), process_id, mode, leader, sweeper_key, lease, grace, digest, inline_age,
        orphan_age,
    )
    return row


async def deregister_process(ex: Executor, process_id: UUID) -> None:
    await ex.execute(sql("deregister_process"), process_id)


async def dead_processes(
    ex: Executor, own_id: UUID, lease: float, grace: float, inline_age: float
) -> tuple[list[UUID], datetime | None]:
    """Suspected dead processes and when the database looked (None: no suspects)."""
    rows = await ex.fetch(sql("dead_processes"), own_id, lease, grace, inline_age)
    return [r["id"] for r in rows], (rows[0]["observed_at"] if rows else None)


async def confirm_dead_processes(
    ex: Executor, ids: list[UUID], observed_at: datetime, lease: float, inline_age: float
) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("confirm_dead_processes"), ids, observed_at, lease, inline_age)]


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


async def recent_jobs(ex: Executor, limit: int) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("recent_jobs"), limit)
    return rows


async def unfinished_due_count(ex: Executor, now: datetime) -> int:
    return int(await ex.fetchval(sql("unfinished_due_count"), now))


async def schema_version(ex: Executor) -> int:
    return int(await ex.fetchval(sql("schema_version")))


# --- admin --------------------------------------------------------------------------------------


async def cleanup_batch(ex: Executor, cutoff: datetime, limit: int) -> int:
    status = await ex.execute(sql("cleanup_batch"), cutoff, limit)
    return int(status.split()[-1])


# --- concurrency --------------------------------------------------------------------------------
# Queries of sql/concurrency.sql (see goodjob/core/concurrency.py).


async def concurrency_lock_enqueue(ex: Executor, key: str) -> None:
    await ex.execute(sql("concurrency_lock_enqueue"), key)


async def concurrency_enqueue_counts(ex: Executor, key: str, window_start: datetime | None, now: datetime) -> Record:
    row = await ex.fetchrow(sql("concurrency_enqueue_counts"), key, window_start, now)
    assert row is not None
    return row


async def concurrency_insert_job(
    ex: Executor,
    *,
    id: UUID,
    queue_name: str,
    priority: int,
    job_class: str,
    params: str,
    scheduled_at: datetime,
    concurrency_key: str,
    labels: list[str] | None,
    batch_id: UUID | None,
    cron_key: str | None,
    cron_at: datetime | None,
    now: datetime,
    perform_limit: int | None,
    perform_throttle: int | None,
    perform_period: float | None,
    enqueue_event: bool,
    enqueue_period: float | None,
) -> bool:
    """insert_job plus the perform rules; False if a row with that id (or cron key and time) exists."""
    row = await ex.fetchrow(
        sql("concurrency_insert_job"), id, queue_name, priority, job_class, params, scheduled_at,
        concurrency_key, labels, batch_id, cron_key, cron_at, now, perform_limit, perform_throttle,
        perform_period, enqueue_event, enqueue_period, queue_channel(queue_name),
    )
    return row is not None


async def claim_all(
    ex: Executor, limit: int, now: datetime, process_id: UUID, skip_queues: list[str],
    skip_classes: Sequence[str] = (), delete_ids: Sequence[UUID] = (),
) -> list[Record]:
    """Claim up to ``limit`` due jobs of any queue; also delete ``delete_ids`` (finished rows this
    process holds) in the same statement."""
    args: tuple[Any, ...] = (limit, now, process_id, skip_queues, list(skip_classes))
    if delete_ids:
        rows: list[Record] = await ex.fetch(_deleting("claim_all", len(args) + 1), *args, list(delete_ids))
    else:
        rows = await ex.fetch(sql("claim_all"), *args)
    return rows


async def claim_queues(
    ex: Executor, limit: int, now: datetime, process_id: UUID, queues: list[str], ordered: bool,
    skip_classes: Sequence[str] = (), delete_ids: Sequence[UUID] = (),
) -> list[Record]:
    """Claim up to ``limit`` due jobs of ``queues``; ``delete_ids`` as in :func:`claim_all`. One
    queue (the usual pool) takes ``claim_queue``, a statement that is cheaper to plan."""
    name = "claim_queues"
    args: tuple[Any, ...] = (limit, now, process_id, queues, ordered, list(skip_classes))
    if len(queues) == 1:
        name, args = "claim_queue", (limit, now, process_id, queues[0], list(skip_classes))
    if delete_ids:
        rows: list[Record] = await ex.fetch(_deleting(name, len(args) + 1), *args, list(delete_ids))
    else:
        rows = await ex.fetch(sql(name), *args)
    return rows


@functools.cache
def _deleting(claim: str, param: int) -> str:
    """``claim_deleting`` + the claim query: one statement (see queries.sql)."""
    body = sql(claim)
    assert body.startswith("WITH "), claim
    return sql("claim_deleting").replace("$0", f"${param}") + " " + body[len("WITH "):]


async def concurrency_lock_perform(ex: Executor, key: str) -> None:
    await ex.execute(sql("concurrency_lock_perform"), key)


async def concurrency_admit_counts(
    ex: Executor, key: str, job_id: UUID, perform_limit: int | None, throttle: int | None,
    period: float | None, now: datetime,
) -> Record | None:
    return await ex.fetchrow(sql("concurrency_admit_counts"), key, job_id, perform_limit, throttle, period, now)


async def concurrency_record_perform(ex: Executor, key: str, now: datetime, period: float, job_id: UUID) -> None:
    await ex.execute(sql("concurrency_record_perform"), key, now, period, job_id)


# --- cron, batches, pauses ----------------------------------------------------------------------
# Queries of sql/cron_batches.sql (see goodjob/core/cron.py, batches.py, pauses.py).


async def pauses_get(ex: Executor) -> dict[str, str]:
    """The raw 'paused_queues' and 'paused_job_classes' settings (JSON text), where present."""
    return {r["key"]: r["value"] for r in await ex.fetch(sql("pauses_get"))}


async def pauses_set(ex: Executor, key: str, name: str, paused: bool, now: datetime) -> str:
    """Add or remove ``name`` in the JSON array setting ``key`` and NOTIFY; the new array as text."""
    return str(await ex.fetchval(sql("pauses_set"), key, name, paused, now))


async def cron_enabled_get(ex: Executor) -> str | None:
    value = await ex.fetchval(sql("cron_enabled_get"))
    return None if value is None else str(value)


async def cron_enabled_set(ex: Executor, key: str, enabled: bool, now: datetime) -> str:
    return str(await ex.fetchval(sql("cron_enabled_set"), key, enabled, now))


async def cron_claim_occurrence(ex: Executor, key: str, at: datetime, now: datetime) -> bool:
    """True if this caller may enqueue occurrence ``at`` of ``key`` (nobody took it or a later one)."""
    return await ex.fetchval(sql("cron_claim_occurrence"), key, at, now) is not None


async def cron_record_job(ex: Executor, key: str, job_id: UUID, now: datetime) -> None:
    await ex.execute(sql("cron_record_job"), key, job_id, now)


async def cron_entries_state(ex: Executor, keys: list[str]) -> dict[str, Record]:
    return {r["key"]: r for r in await ex.fetch(sql("cron_entries_state"), keys)}


async def batch_insert(
    ex: Executor, id: UUID, description: str | None, properties: str, callbacks: str, now: datetime
) -> None:
    await ex.execute(sql("batch_insert"), id, description, properties, callbacks, now)


async def batch_mark_enqueued(ex: Executor, batch_id: UUID, now: datetime) -> bool:
    return await ex.fetchval(sql("batch_mark_enqueued"), batch_id, now) is not None


async def batch_lock(ex: Executor, ids: list[UUID]) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("batch_lock"), ids)]


async def batch_settle(ex: Executor, ids: list[UUID], now: datetime) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("batch_settle"), ids, now)
    return rows


async def batch_unsettled(ex: Executor, limit: int) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("batch_unsettled"), limit)]


async def batch_retry(ex: Executor, batch_id: UUID, now: datetime) -> int:
    return int(await ex.fetchval(sql("batch_retry"), batch_id, now))


async def batch_get(ex: Executor, batch_id: UUID) -> Record | None:
    return await ex.fetchrow(sql("batch_get"), batch_id)


async def batch_list(ex: Executor, after: UUID | None, limit: int) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("batch_list"), after, limit)
    return rows


async def batch_counts(ex: Executor, ids: list[UUID]) -> dict[UUID, dict[str, int]]:
    counts: dict[UUID, dict[str, int]] = {i: {} for i in ids}
    for r in await ex.fetch(sql("batch_counts"), ids):
        counts[r["batch_id"]][r["state"]] = int(r["n"])
    return counts


async def batch_jobs(ex: Executor, batch_id: UUID, after: UUID | None, limit: int) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("batch_jobs"), batch_id, after, limit)
    return rows


async def batch_cleanup(ex: Executor, cutoff: datetime, limit: int) -> int:
    status = await ex.execute(sql("batch_cleanup"), cutoff, limit)
    return int(status.split()[-1])


async def label_jobs(
    ex: Executor, label: str, state: str | None, after: tuple[datetime, UUID] | None, limit: int
) -> list[Record]:
    at, cursor_id = after if after is not None else (None, None)
    rows: list[Record] = await ex.fetch(sql("label_jobs"), label, state, at, cursor_id, limit)
    return rows
