"""Named queries of ``sql/dashboard.sql``: the reads and actions of the dashboard and the operator API.

Split from ``store.py`` (the engine's queries) because they serve people, not the claim loop: they
change with the pages, and the engine never calls them.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from goodjob.core.storage.db import Executor, Record
from goodjob.core.storage.sql_files import sql

# --- dashboard ----------------------------------------------------------------------------------
# The dashboard's reads take the tab name as a parameter; see the header of sql/dashboard.sql for why
# they must run inside dashboard_read_session (custom plans).

# Tabs of waiting jobs without an error, read per priority from the claim indexes
# (sql/dashboard_waiting.sql); the others from dashboard.sql's per-state reads.
WAITING_TABS = frozenset({"scheduled", "queued"})


async def dashboard_read_session(ex: Executor, statement_timeout_ms: int) -> None:
    await ex.fetchrow(sql("dashboard_read_session"), f"{int(statement_timeout_ms)}ms")


async def dashboard_search_plans(ex: Executor, searching: bool) -> None:
    await ex.fetchrow(sql("dashboard_search_plans"), searching)


async def dashboard_jobs(
    ex: Executor, *, tab: str, now: datetime, queue: str | None, job_class: str | None,
    search_id: UUID | None, pattern: str | None, after: tuple[datetime, UUID] | None, limit: int,
    created_before: datetime | None, ascending: bool, label: str | None = None, cron_key: str | None = None,
    batch_id: UUID | None = None, process_id: UUID | None = None, stop: tuple[datetime, UUID] | None = None,
    offset: int = 0,
) -> list[Record]:
    """One page of a tab, read from ``after`` (exclusive) in the given direction, up to ``stop``
    (inclusive; a bounded search), skipping ``offset`` rows."""
    at, cursor_id = after if after is not None else (None, None)
    stop_at, stop_id = stop if stop is not None else (None, None)
    filters = (queue, job_class, search_id, pattern, at, cursor_id, limit, created_before,
               label, cron_key, batch_id, process_id, stop_at, stop_id, offset)
    if tab == "all":
        rows: list[Record] = await ex.fetch(
            sql("dashboard_all_jobs_asc" if ascending else "dashboard_all_jobs_desc"), *filters
        )
    else:
        direction = "_asc" if ascending else "_desc"
        if tab in WAITING_TABS:
            rows = await ex.fetch(sql("dashboard_waiting_jobs" + direction), tab, now, *filters)
        else:
            rows = await ex.fetch(sql("dashboard_jobs" + direction), tab, *filters)
    return rows


async def dashboard_search_bound(
    ex: Executor, *, tab: str, now: datetime, queue: str | None, job_class: str | None,
    after: tuple[datetime, UUID] | None, created_before: datetime | None, ascending: bool, window: int,
    label: str | None = None, cron_key: str | None = None, batch_id: UUID | None = None,
    process_id: UUID | None = None,
) -> tuple[datetime, UUID] | None:
    """The (sort_at, id) of the ``window``-th row of a tab after ``after`` in the given direction
    (None: the tab has fewer rows): where a bounded search stops. Reads index entries only."""
    at, cursor_id = after if after is not None else (None, None)
    filters = (queue, job_class, at, cursor_id, created_before, label, cron_key, batch_id, process_id, window - 1)
    if tab == "all":
        row = await ex.fetchrow(
            sql("dashboard_all_search_bound_asc" if ascending else "dashboard_all_search_bound_desc"), *filters
        )
    else:
        direction = "_asc" if ascending else "_desc"
        if tab in WAITING_TABS:
            row = await ex.fetchrow(sql("dashboard_waiting_search_bound" + direction), tab, now, *filters)
        else:
            row = await ex.fetchrow(sql("dashboard_search_bound" + direction), tab, *filters)
    return (row["sort_at"], row["id"]) if row is not None else None


async def dashboard_count_jobs(
    ex: Executor, *, tab: str, now: datetime, queue: str | None, job_class: str | None,
    search_id: UUID | None, pattern: str | None, cap: int, label: str | None = None,
    cron_key: str | None = None, batch_id: UUID | None = None, process_id: UUID | None = None,
) -> int:
    filters = (queue, job_class, search_id, pattern, cap, label, cron_key, batch_id, process_id)
    if tab in WAITING_TABS and all(f is None for f in (job_class, search_id, pattern, label, cron_key, batch_id,
                                                        process_id)):
        retries_cap = min(cap * 10, 2**62)  # bigint-safe: the jobs API counts without a cap (2**62)
        n = await ex.fetchval(sql("dashboard_waiting_count_plain"), tab, now, queue, cap, retries_cap)
        if n is not None:
            return int(n)
        # A retry storm in the tab's time range: count row by row, as with a filter.
    if tab in WAITING_TABS:
        return int(await ex.fetchval(sql("dashboard_waiting_count"), tab, now, *filters))
    return int(await ex.fetchval(sql("dashboard_count_jobs"), tab, *filters))


async def dashboard_state_estimates(ex: Executor) -> dict[str, int]:
    return {r["state"]: int(r["estimate"]) for r in await ex.fetch(sql("dashboard_state_estimates"))}


async def dashboard_job(ex: Executor, job_id: UUID) -> Record | None:
    return await ex.fetchrow(sql("dashboard_job"), job_id)


async def dashboard_job_executions(ex: Executor, job_id: UUID) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("dashboard_job_executions"), job_id)
    return rows


async def dashboard_job_process(ex: Executor, process_id: UUID) -> Record | None:
    return await ex.fetchrow(sql("dashboard_job_process"), process_id)


async def dashboard_throughput(ex: Executor, since: datetime, until: datetime, slot_seconds: float) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("dashboard_throughput"), since, until, slot_seconds)
    return rows


async def dashboard_running_queue_names(ex: Executor) -> list[str]:
    return [r["queue_name"] for r in await ex.fetch(sql("dashboard_running_queue_names"))]


async def dashboard_queue_stats(ex: Executor, names: list[str], now: datetime, cap: int) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("dashboard_queue_stats"), now, cap, names)
    return rows


async def dashboard_processes(ex: Executor) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("dashboard_processes"))
    return rows


async def dashboard_get_setting(ex: Executor, key: str) -> str | None:
    value = await ex.fetchval(sql("dashboard_get_setting"), key)
    return None if value is None else str(value)


async def dashboard_set_paused_queue(ex: Executor, name: str, paused: bool, now: datetime) -> str:
    """Add or remove ``name`` in the paused_queues setting and NOTIFY; the new JSON array as text."""
    return str(await ex.fetchval(sql("dashboard_set_paused_queues"), name, paused, now))


async def dashboard_retry_jobs(ex: Executor, ids: list[UUID], now: datetime) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("dashboard_retry_jobs"), ids, now)]


async def dashboard_discard_jobs(
    ex: Executor, ids: list[UUID], now: datetime, error: str, event: str = "discarded"
) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("dashboard_discard_jobs"), ids, now, error, event)]


async def dashboard_run_jobs_now(ex: Executor, ids: list[UUID], now: datetime) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("dashboard_run_jobs_now"), ids, now)]


async def dashboard_delete_jobs(ex: Executor, ids: list[UUID]) -> list[UUID]:
    return [r["id"] for r in await ex.fetch(sql("dashboard_delete_jobs"), ids)]


async def dashboard_job_states(ex: Executor, ids: list[UUID]) -> dict[UUID, Record]:
    return {r["id"]: r for r in await ex.fetch(sql("dashboard_job_states"), ids)}
