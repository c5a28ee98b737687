"""The job of the fault-injection test and bench/chaos.py: it records each of its runs in a side table.

Importable by worker subprocesses (tests/ is on their PYTHONPATH). Each run writes a row when it
starts and stamps it when it finishes, both with the server's clock_timestamp(); the harness reads
them to find lost jobs, self-overlaps and how long a killed run took to run again. The side-table
writes retry through Postgres restarts, so a restart never turns into a job error.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import goodjob

SIDE_TABLE = """
CREATE TABLE IF NOT EXISTS chaos_runs (
    job_id      uuid        NOT NULL,
    attempt     int         NOT NULL,
    pid         int         NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    PRIMARY KEY (job_id, attempt, pid)
)"""

_pools: dict[int, Any] = {}


async def _no_reset(conn: Any) -> None:
    return None


async def _pool() -> Any:
    import asyncpg

    pool = _pools.get(os.getpid())
    if pool is None:
        # No reset on release: asyncpg's default sends a reset query (a round trip) every time a
        # connection goes back, doubling the side table's cost; these connections keep no state.
        pool = await asyncpg.create_pool(
            os.environ["GOOD_JOB_DATABASE_URL"], min_size=1, max_size=4, reset=_no_reset
        )
        _pools[os.getpid()] = pool
    return pool


async def _write(sql: str, *args: Any) -> None:
    """Run one idempotent statement, retrying through connection loss (Postgres restarts)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            pool = await _pool()
            await pool.execute(sql, *args)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


FINISH = ("UPDATE chaos_runs SET finished_at = clock_timestamp() "
          "WHERE job_id = $1 AND attempt = $2 AND pid = $3 AND finished_at IS NULL")


class ChaosJob(goodjob.Job):
    async def perform(self, n: int, ms: int) -> None:
        key = (self.job_id, self.executions, os.getpid())
        await _write(
            "INSERT INTO chaos_runs (job_id, attempt, pid, started_at) VALUES ($1, $2, $3, clock_timestamp()) "
            "ON CONFLICT DO NOTHING", *key,
        )
        await asyncio.sleep(ms / 1000.0)
        await self.finish(key)

    async def finish(self, key: tuple[Any, ...]) -> None:
        await _write(FINISH, *key)


class ChaosTxJob(ChaosJob):
    """ChaosJob whose finishing write and success commit together (current_job().complete(conn)).

    A kill after that commit cannot run it again; a failed commit is retried (through restarts)
    and, if it did commit after all, the retry's complete() raises GoodJobError instead of
    finishing twice: the job then ends as an error of a row that stays succeeded.
    """

    async def finish(self, key: tuple[Any, ...]) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                pool = await _pool()
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(FINISH, *key)
                    await goodjob.current_job().complete(conn)
                return
            except goodjob.GoodJobError:
                raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
