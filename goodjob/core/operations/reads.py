"""get, find and count: the job API's reads, on the dashboard's keyset list and count queries."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from goodjob.core import admin
from goodjob.core.admin import Cursor
from goodjob.core.errors import GoodJobError
from goodjob.core.operations.records import STATES, Filter, JobRecord, parse_id, record_from_row
from goodjob.core.storage import store_dashboard, store_operations
from goodjob.core.storage.db import Executor, PostgresError

MAX_LIMIT = 1000
#: count() is exact: a "cap" no table reaches.
EXACT = 2**62


async def get(ex: Executor, job_id: UUID | str, *, executions: bool = False) -> JobRecord | None:
    ident = parse_id(job_id)
    rows = await store_operations.jobs_by_id(ex, [ident])
    row = rows.get(ident)
    if row is None:
        return None
    history = await store_operations.executions_of(ex, [ident]) if executions else None
    return record_from_row(row, datetime.now(UTC), history)


async def find(
    ex: Executor, f: Filter, *, limit: int = 50, after: JobRecord | Cursor | None = None,
    executions: bool = False,
) -> list[JobRecord]:
    """One page of ``f``: newest first (by creation; the queued state by due time, and the
    scheduled state next-to-run first). Pass the last record as ``after`` for the next page."""
    if not 1 <= limit <= MAX_LIMIT:
        raise GoodJobError(f"limit={limit!r} must be between 1 and {MAX_LIMIT}")
    cursor = after.cursor(f.state) if isinstance(after, JobRecord) else after
    now = datetime.now(UTC)
    try:
        async with admin.reading(ex) as conn:
            page = await admin.list_jobs(conn, f.job_filter(), after=cursor, limit=limit, now=now)
    except PostgresError as err:
        if admin.is_timeout(err):
            raise GoodJobError(f"search={f.search!r} took longer than {admin.READ_TIMEOUT_MS} ms and was "
                               "stopped: narrow it with state, queue or job_class, or search for an id") from None
        raise
    ids = [j["id"] for j in page.jobs]
    if not ids:
        return []
    rows = await store_operations.jobs_by_id(ex, ids)
    history: dict[UUID, list[object]] = {i: [] for i in ids}
    if executions:
        for e in await store_operations.executions_of(ex, ids):
            history[e["job_id"]].append(e)
    return [record_from_row(rows[i], now, history[i] if executions else None) for i in ids if i in rows]


async def count(ex: Executor, f: Filter) -> int:
    """Exact count of ``f`` (one index scan per state; a search scans)."""
    now = datetime.now(UTC)
    params = f.job_filter().params()
    total = 0
    async with admin.reading(ex, timeout_ms=60_000) as conn:
        for tab in [f.state] if f.state else STATES:
            total += await store_dashboard.dashboard_count_jobs(conn, tab=tab, now=now, **params, cap=EXACT)
    return total
