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
        conn = await asyncpg.connect(os.environ["GOOD_JOB_DATABASE_URL"])
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
