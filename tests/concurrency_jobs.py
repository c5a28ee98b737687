"""Jobs with concurrency controls, importable as ``concurrency_jobs`` by tests and by worker
subprocesses (tests/ is on their PYTHONPATH), so that a `goodjob start` child can resolve them."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import goodjob

_pools: dict[int, Any] = {}

SPANS = """
CREATE TABLE IF NOT EXISTS concurrency_spans (
    id bigserial PRIMARY KEY, job_id uuid NOT NULL, pid int NOT NULL,
    started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL
)"""


async def _pool() -> Any:
    import asyncpg

    pool = _pools.get(os.getpid())
    if pool is None:
        pool = await asyncpg.create_pool(_direct_url(), min_size=1, max_size=4)
        _pools[os.getpid()] = pool
    return pool


class SpanJob(goodjob.Job):
    """perform_limit=1 on one key; records its start and end (database clock) in concurrency_spans."""

    concurrency = goodjob.Concurrency(key="spans", perform_limit=1)

    async def perform(self, seconds: float) -> None:
        pool = await _pool()
        started = await pool.fetchval("SELECT clock_timestamp()")
        await asyncio.sleep(seconds)
        await pool.execute(
            "INSERT INTO concurrency_spans (job_id, pid, started_at, finished_at) "
            "VALUES ($1, $2, $3, clock_timestamp())",
            self.job_id, os.getpid(), started,
        )


def _direct_url() -> str:
    """The test database itself, for the jobs' side-effect writes (workers may reach it through PgBouncer)."""
    return os.environ.get("TEST_DIRECT_DATABASE_URL") or os.environ["GOOD_JOB_DATABASE_URL"]
