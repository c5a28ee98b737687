"""Jobs used by the tests. Importable as ``sample_jobs`` (tests/ is on sys.path, and on the
PYTHONPATH of worker subprocesses) so that workers in other processes can resolve them by name."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import goodjob

# In-process side effects for inline/async tests: job id -> calls.
CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []


class RecordJob(goodjob.Job):
    """Appends its arguments to CALLS."""

    def perform(self, *args: Any, **kwargs: Any) -> None:
        CALLS.append(("RecordJob", args, kwargs))


class AsyncRecordJob(goodjob.Job):
    queue_name = "async"
    priority = 3

    async def perform(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0)
        CALLS.append(("AsyncRecordJob", args, kwargs))


class BoomError(RuntimeError):
    pass


class FailingJob(goodjob.Job):
    def perform(self, message: str = "boom") -> None:
        raise BoomError(message)


@goodjob.job(queue="functions", priority=7)
async def add_numbers(a: int, b: int) -> int:
    CALLS.append(("add_numbers", (a, b), {}))
    return a + b


@goodjob.job
def sync_function(value: Any) -> None:
    CALLS.append(("sync_function", (value,), {}))


class SideEffectJob(goodjob.Job):
    """Writes one row per perform into a side-effect table (counts runs across processes)."""

    async def perform(self, marker: str, sleep: float = 0.0) -> None:
        import asyncpg

        if sleep:
            await asyncio.sleep(sleep)
        conn = await asyncpg.connect(_direct_url())
        try:
            await conn.execute(
                "INSERT INTO side_effects (job_id, marker, pid) VALUES ($1, $2, $3)",
                self.job_id, marker, os.getpid(),
            )
        finally:
            await conn.close()


class SleepJob(goodjob.Job):
    async def perform(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ThreadSleepJob(goodjob.Job):
    def perform(self, seconds: float) -> None:
        time.sleep(seconds)
        CALLS.append(("ThreadSleepJob", (seconds, threading.current_thread().name), {}))


class NoopJob(goodjob.Job):
    async def perform(self, *args: Any) -> None:
        return None


_pools: dict[int, Any] = {}


async def _side_pool() -> Any:
    """One small pool per process for side-effect writes (a connection per job would dominate)."""
    import asyncpg

    pool = _pools.get(os.getpid())
    if pool is None:
        pool = await asyncpg.create_pool(_direct_url(), min_size=1, max_size=4)
        _pools[os.getpid()] = pool
    return pool


class CountJob(goodjob.Job):
    """Records (job id, pid, attempt) per perform in side_effects: counts runs across processes."""

    async def perform(self, marker: str = "") -> None:
        pool = await _side_pool()
        await pool.execute(
            "INSERT INTO side_effects (job_id, marker, pid, attempt) VALUES ($1, $2, $3, $4)",
            self.job_id, marker, os.getpid(), self.executions,
        )


class FirstAttemptHangsJob(goodjob.Job):
    """Records its start; on the first attempt it then sleeps for a long time."""

    async def perform(self, marker: str, first_sleep: float = 120.0, later_sleep: float = 0.0) -> None:
        pool = await _side_pool()
        await pool.execute(
            "INSERT INTO side_effects (job_id, marker, pid, attempt) VALUES ($1, $2, $3, $4)",
            self.job_id, f"start:{marker}", os.getpid(), self.executions,
        )
        await asyncio.sleep(first_sleep if self.executions == 1 else later_sleep)
        await pool.execute(
            "INSERT INTO side_effects (job_id, marker, pid, attempt) VALUES ($1, $2, $3, $4)",
            self.job_id, f"end:{marker}", os.getpid(), self.executions,
        )


class CompletesInTransactionJob(goodjob.Job):
    """Writes its side effect and its own success in one transaction (current_job().complete), then,
    on the first attempt, hangs: a SIGKILL now must not run it again."""

    async def perform(self, marker: str, hang: float = 120.0) -> None:
        pool = await _side_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO side_effects (job_id, marker, pid, attempt) VALUES ($1, $2, $3, $4)",
                self.job_id, f"done:{marker}", os.getpid(), self.executions,
            )
            await goodjob.current_job().complete(conn)
        if self.executions == 1:
            await asyncio.sleep(hang)


class CancellableAsyncJob(goodjob.Job):
    """Records its start, then waits for a long time; records that its task was cancelled."""

    async def perform(self, marker: str) -> None:
        pool = await _side_pool()
        await pool.execute("INSERT INTO side_effects (job_id, marker, pid, attempt) VALUES ($1, $2, $3, $4)",
                           self.job_id, f"start:{marker}", os.getpid(), self.executions)
        try:
            await asyncio.sleep(300)
        except asyncio.CancelledError:
            await pool.execute("INSERT INTO side_effects (job_id, marker, pid) VALUES ($1, $2, $3)",
                               self.job_id, f"cancelled:{marker}", os.getpid())
            raise


class CooperativeThreadJob(goodjob.Job):
    """A ``def`` job that works in steps and stops when goodjob.current_job().cancelled turns true.
    It reports through files in ``folder`` (start, then saw-cancel), so any process can watch it."""

    def perform(self, folder: str) -> None:
        from pathlib import Path

        current = goodjob.current_job()
        Path(folder, f"start-{current.attempt}").write_text(str(current.id))
        deadline = time.monotonic() + 120
        while not current.cancelled and time.monotonic() < deadline:
            time.sleep(0.02)
        if current.cancelled:
            Path(folder, "saw-cancel").write_text(threading.current_thread().name)
def _direct_url() -> str:
    """The test database itself, for the jobs' side-effect writes (workers may reach it through PgBouncer)."""
    return os.environ.get("TEST_DIRECT_DATABASE_URL") or os.environ["GOOD_JOB_DATABASE_URL"]
